package kafka_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mobilitycorp/platform/pkg/kafka"
)

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func newProducer(t testing.TB, cfg kafka.Config, opts ...kafka.ProducerOption) *kafka.Producer {
	t.Helper()
	p, err := kafka.NewProducer(cfg, testLogger(t), nil, opts...)
	if err != nil {
		t.Fatalf("new producer: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// runConsumer starts c.Run in a goroutine owned by the test; the returned stop
// cancels it, waits for Run to return and fails the test on an error. Stop is
// idempotent and also runs at cleanup.
func runConsumer(t testing.TB, c *kafka.Consumer) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	wait := startConsumer(t, ctx, c)
	return func() {
		cancel()
		wait()
	}
}

// startConsumer runs c until ctx ends; wait blocks until Run returned and
// fails the test on an error. Cleanup cancels and waits too.
func startConsumer(t testing.TB, ctx context.Context, c *kafka.Consumer) (wait func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx) }()
	var once sync.Once
	wait = func() {
		once.Do(func() {
			select {
			case err := <-errc:
				if err != nil {
					t.Errorf("consumer run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("consumer did not stop within 30s")
			}
		})
	}
	t.Cleanup(func() {
		cancel()
		wait()
	})
	return wait
}

// eventually polls cond every 10ms until it holds or 15s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newAdmin(t testing.TB, cfg kafka.Config) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// committed returns the group's committed offset of topic/partition, -1 if none.
func committed(t testing.TB, cfg kafka.Config, group, topic string, partition int32) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offsets, err := newAdmin(t, cfg).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetch offsets: %v", err)
	}
	o, ok := offsets.Lookup(topic, partition)
	if !ok {
		return -1
	}
	if o.Err != nil {
		t.Fatalf("fetch offset %s/%d: %v", topic, partition, o.Err)
	}
	return o.At
}

func recordOf(topic, key, value string) *kgo.Record {
	return &kgo.Record{Topic: topic, Key: []byte(key), Value: []byte(value)}
}

func header(r *kgo.Record, key string) string {
	return kafka.HeaderCarrier{Headers: &r.Headers}.Get(key)
}

// counter returns the value of the counter name with exactly labels, 0 if absent.
func counter(t testing.TB, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labelsMatch(m, labels) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// histogramCount returns the sample count of histogram name with exactly labels.
func histogramCount(t testing.TB, g prometheus.Gatherer, name string, labels map[string]string) uint64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labelsMatch(m, labels) {
				return m.GetHistogram().GetSampleCount()
			}
		}
	}
	return 0
}

func labelsMatch(m *dto.Metric, want map[string]string) bool {
	if len(m.GetLabel()) != len(want) {
		return false
	}
	for _, l := range m.GetLabel() {
		if want[l.GetName()] != l.GetValue() {
			return false
		}
	}
	return true
}

// recorder collects handled record values in order; safe for concurrent use.
type recorder struct {
	mu     sync.Mutex
	values []string
}

func (r *recorder) add(v string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.values = append(r.values, v)
}

func (r *recorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.values...)
}

func (r *recorder) len() int { return len(r.get()) }

var errBoom = errors.New("boom: vehicle v-42 not found")
