package kafka

import (
	"fmt"
	"net"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Embedded is a single-broker, in-memory Kafka (franz-go's kfake) on a real
// TCP port: `mobility up` runs one on 127.0.0.1:9092 and tests on 127.0.0.1:0.
// Any Kafka client (kcat, kgo) can talk to it. Data is lost on Close.
type Embedded struct {
	cluster *kfake.Cluster
}

// StartEmbedded listens on addr (port 0 picks a free one) and creates every
// topic of specs and its dead-letter topic.
func StartEmbedded(addr string, specs []TopicSpec) (*Embedded, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("embedded kafka address %q: %w", addr, err)
	}
	// The broker advertises the address it listens on, so it must be one
	// clients can dial, not a wildcard.
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		return nil, fmt.Errorf("embedded kafka address %q: need a concrete host such as 127.0.0.1", addr)
	}
	cluster, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		// kfake always binds 127.0.0.1; listen on the requested address instead.
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, addr) }),
		kfake.ClusterID("mobility-embedded"),
	)
	if err != nil {
		return nil, fmt.Errorf("start embedded kafka on %s: %w", addr, err)
	}
	e := &Embedded{cluster: cluster}
	seen := map[string]bool{}
	for _, s := range specs {
		for _, t := range []TopicSpec{s, dlqSpec(s)} {
			if seen[t.Name] {
				continue
			}
			seen[t.Name] = true
			partitions := max(t.Partitions, 1)
			if err := cluster.CreateTopic(t.Name, partitions, t.configs()); err != nil {
				cluster.Close()
				return nil, fmt.Errorf("create topic %s: %w", t.Name, err)
			}
		}
	}
	return e, nil
}

// Addrs returns the broker addresses, for Config.Brokers.
func (e *Embedded) Addrs() []string { return e.cluster.ListenAddrs() }

// Close stops the broker.
func (e *Embedded) Close() { e.cluster.Close() }
