// Package kafka is the platform's Kafka transport on franz-go: configuration,
// topic creation, an idempotent producer that propagates trace context, a
// consumer-group runner with retries and a dead-letter topic per topic, and an
// in-process broker (kfake) for development and tests.
//
// Delivery is at-least-once: offsets are committed only after a record was
// handled or dead-lettered, so handlers must be idempotent (see pkg/inbox).
package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Config is the Kafka part of a service config.
type Config struct {
	Brokers  []string `env:"KAFKA_BROKERS" envSeparator:"," envDefault:"127.0.0.1:9092"`
	ClientID string   `env:"KAFKA_CLIENT_ID"`
	// CreateTopics lets EnsureTopics create missing topics (development); in
	// production topics are provisioned by the platform team and this is false.
	CreateTopics bool `env:"KAFKA_CREATE_TOPICS" envDefault:"true"`
}

// Validate implements config.Validator.
func (c Config) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("KAFKA_BROKERS is required")
	}
	for _, b := range c.Brokers {
		if b == "" {
			return errors.New("KAFKA_BROKERS has an empty entry")
		}
	}
	return nil
}

func (c Config) clientOpts() []kgo.Opt {
	opts := []kgo.Opt{kgo.SeedBrokers(c.Brokers...)}
	if c.ClientID != "" {
		opts = append(opts, kgo.ClientID(c.ClientID))
	}
	return opts
}

// TopicSpec describes a topic the platform owns.
type TopicSpec struct {
	Name       string
	Partitions int32
	// Compacted keeps the latest record per key (cleanup.policy=compact), for
	// registries that new consumers rebuild state from.
	Compacted bool
	// Retention is retention.ms; zero means the broker default.
	Retention time.Duration
}

// dlqSuffix names the dead-letter topic of every topic.
const dlqSuffix = ".dlq"

// DLQName returns the dead-letter topic of topic.
func DLQName(topic string) string { return topic + dlqSuffix }

// dlqSpec is the dead-letter topic of s. It is never compacted: each dead
// letter must be kept, even several for the same key.
func dlqSpec(s TopicSpec) TopicSpec {
	return TopicSpec{Name: DLQName(s.Name), Partitions: s.Partitions}
}

func (s TopicSpec) configs() map[string]string {
	cfg := map[string]string{}
	if s.Compacted {
		cfg["cleanup.policy"] = "compact"
	}
	if s.Retention > 0 {
		cfg["retention.ms"] = strconv.FormatInt(s.Retention.Milliseconds(), 10)
	}
	return cfg
}

// EnsureTopics creates every topic of specs and its dead-letter topic, leaving
// existing topics as they are. It does nothing when cfg.CreateTopics is false.
func EnsureTopics(ctx context.Context, cfg Config, specs []TopicSpec) error {
	if !cfg.CreateTopics {
		return nil
	}
	cl, err := kgo.NewClient(cfg.clientOpts()...)
	if err != nil {
		return fmt.Errorf("new kafka client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for _, s := range specs {
		for _, t := range []TopicSpec{s, dlqSpec(s)} {
			partitions := t.Partitions
			if partitions < 1 {
				partitions = -1 // broker default
			}
			configs := map[string]*string{}
			for k, v := range t.configs() {
				configs[k] = kadm.StringPtr(v)
			}
			_, err := adm.CreateTopic(ctx, partitions, -1, configs, t.Name)
			if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
				return fmt.Errorf("create topic %s: %w", t.Name, err)
			}
		}
	}
	return nil
}

// Permanent marks err as not worth retrying (an undecodable payload, a
// violated invariant): the consumer dead-letters the record at once.
// Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or an error it wraps, was marked Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// HeaderCarrier adapts record headers to propagation.TextMapCarrier, so trace
// context travels in Kafka headers: HeaderCarrier{Headers: &rec.Headers}.
type HeaderCarrier struct {
	Headers *[]kgo.RecordHeader
}

// Get returns the value of the first header named key.
func (c HeaderCarrier) Get(key string) string {
	for _, h := range *c.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// Set replaces every header named key by one with value.
func (c HeaderCarrier) Set(key, value string) {
	hs := (*c.Headers)[:0:0]
	for _, h := range *c.Headers {
		if h.Key != key {
			hs = append(hs, h)
		}
	}
	*c.Headers = append(hs, kgo.RecordHeader{Key: key, Value: []byte(value)})
}

// Keys lists the header names.
func (c HeaderCarrier) Keys() []string {
	keys := make([]string, 0, len(*c.Headers))
	for _, h := range *c.Headers {
		keys = append(keys, h.Key)
	}
	return keys
}
