// Package kafkatest starts an in-process Kafka broker per test on a free
// 127.0.0.1 port, with the given topics (and their dead-letter topics), and
// reads topics back for assertions.
package kafkatest

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mobilitycorp/platform/pkg/kafka"
)

// New starts an embedded broker with specs created, stops it when the test
// ends, and returns a Config pointing at it.
func New(t testing.TB, specs ...kafka.TopicSpec) kafka.Config {
	t.Helper()
	e, err := kafka.StartEmbedded("127.0.0.1:0", specs)
	if err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
	t.Cleanup(e.Close)
	return kafka.Config{Brokers: e.Addrs(), ClientID: "kafkatest", CreateTopics: true}
}

// Records reads topic from the start until it has n records (failing the
// test after 15s) and returns them, in order per partition.
func Records(t testing.TB, cfg kafka.Config, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("kafkatest: read %s: got %d records, want %d: %v", topic, len(out), n, err)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

// EndOffsets returns the end offset (the number of records ever written) of
// each partition of topic.
func EndOffsets(t testing.TB, cfg kafka.Config, topic string) map[int32]int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...))
	if err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	listed, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("kafkatest: end offsets of %s: %v", topic, err)
	}
	out := map[int32]int64{}
	listed.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("kafkatest: end offset of %s/%d: %v", topic, o.Partition, o.Err)
		}
		out[o.Partition] = o.Offset
	})
	return out
}

// Total sums EndOffsets: how many records topic received.
func Total(t testing.TB, cfg kafka.Config, topic string) int64 {
	t.Helper()
	var n int64
	for _, end := range EndOffsets(t, cfg, topic) {
		n += end
	}
	return n
}
