package kafka_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/mobilitycorp/platform/pkg/kafka"
	"github.com/mobilitycorp/platform/pkg/kafka/kafkatest"
)

const topic = "booking.trips"

func fastOptions(group string, dlq *kafka.Producer, h kafka.Handler) kafka.ConsumerOptions {
	return kafka.ConsumerOptions{
		Group:          group,
		Topics:         []string{topic},
		Handler:        h,
		MaxAttempts:    3,
		InitialBackoff: time.Millisecond,
		MaxBackoff:     5 * time.Millisecond,
		DLQ:            dlq,
	}
}

func produceValues(t *testing.T, p *kafka.Producer, values ...string) {
	t.Helper()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Topic: topic, Key: []byte("trip-1"), Value: []byte(v)}
	}
	if err := p.Produce(context.Background(), recs...); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// Acceptance: a handler that always fails sends its record to the DLQ with
// the error header while later records on the same partition are processed.
func TestConsumerDeadLettersPoisonRecordAndMovesOn(t *testing.T) {
	cfg := kafkatest.New(t, kafka.TopicSpec{Name: topic, Partitions: 1})
	p := newProducer(t, cfg)
	reg := prometheus.NewRegistry()
	var handled recorder
	var poisonAttempts atomic.Int32
	c, err := kafka.NewConsumer(cfg, fastOptions("billing", p, func(_ context.Context, r *kgo.Record) error {
		if string(r.Value) == "poison" {
			poisonAttempts.Add(1)
			return fmt.Errorf("price trip: %w", errBoom)
		}
		handled.add(string(r.Value))
		return nil
	}), testLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Produce(context.Background(),
		&kgo.Record{Topic: topic, Key: []byte("trip-1"), Value: []byte("first")},
		&kgo.Record{Topic: topic, Key: []byte("trip-1"), Value: []byte("poison"),
			Headers: []kgo.RecordHeader{{Key: "ce_id", Value: []byte("evt-2")}}},
		&kgo.Record{Topic: topic, Key: []byte("trip-1"), Value: []byte("third")},
	); err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(t, c)
	eventually(t, "first and third handled", func() bool { return handled.len() == 2 })
	stop()

	if got := handled.get(); !slices.Equal(got, []string{"first", "third"}) {
		t.Errorf("handled %v, want [first third] in order", got)
	}
	if n := poisonAttempts.Load(); n != 3 {
		t.Errorf("poison handled %d times, want MaxAttempts=3", n)
	}
	dead := kafkatest.Records(t, cfg, kafka.DLQName(topic), 1)
	if len(dead) != 1 {
		t.Fatalf("DLQ has %d records, want 1", len(dead))
	}
	d := dead[0]
	if string(d.Value) != "poison" || string(d.Key) != "trip-1" {
		t.Errorf("DLQ record key/value = %q/%q, want trip-1/poison", d.Key, d.Value)
	}
	for k, want := range map[string]string{
		"ce_id":                          "evt-2", // original headers are kept
		kafka.HeaderDLQOriginalTopic:     topic,
		kafka.HeaderDLQOriginalPartition: "0",
		kafka.HeaderDLQOriginalOffset:    "1",
		kafka.HeaderDLQAttempts:          "3",
		kafka.HeaderDLQConsumerGroup:     "billing",
	} {
		if got := header(d, k); got != want {
			t.Errorf("DLQ header %s = %q, want %q", k, got, want)
		}
	}
	if got := header(d, kafka.HeaderDLQError); !strings.Contains(got, errBoom.Error()) {
		t.Errorf("dlq-error = %q, want it to contain %q", got, errBoom.Error())
	}
	if _, err := time.Parse(time.RFC3339Nano, header(d, kafka.HeaderDLQFailedAt)); err != nil {
		t.Errorf("dlq-failed-at: %v", err)
	}
	if got := committed(t, cfg, "billing", topic, 0); got != 3 {
		t.Errorf("committed offset = %d, want 3 (past the last record)", got)
	}
	for outcome, want := range map[string]float64{"ok": 2, "retry": 2, "dlq": 1} {
		labels := map[string]string{"topic": topic, "group": "billing", "outcome": outcome}
		if got := counter(t, reg, "kafka_consumed_records_total", labels); got != want {
			t.Errorf("kafka_consumed_records_total{outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
	if got := histogramCount(t, reg, "kafka_handler_duration_seconds", map[string]string{"topic": topic, "group": "billing"}); got != 5 {
		t.Errorf("handler duration observations = %d, want 5 attempts", got)
	}
}

func TestConsumerRetriesAndPermanentErrors(t *testing.T) {
	tests := []struct {
		name         string
		failures     int   // attempts that fail before one succeeds
		err          error // what a failing attempt returns
		wantAttempts int32
		wantHandled  bool
		wantDLQ      bool
		wantRetries  float64
	}{
		{name: "fails twice then succeeds", failures: 2, err: errBoom, wantAttempts: 3, wantHandled: true, wantRetries: 2},
		{name: "permanent error skips retries", failures: 100, err: kafka.Permanent(errBoom), wantAttempts: 1, wantDLQ: true},
		{name: "wrapped permanent error skips retries", failures: 100, err: fmt.Errorf("decode: %w", kafka.Permanent(errBoom)), wantAttempts: 1, wantDLQ: true},
		{name: "exhausted retries dead-letter", failures: 100, err: errBoom, wantAttempts: 3, wantDLQ: true, wantRetries: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := kafkatest.New(t, kafka.TopicSpec{Name: topic, Partitions: 1})
			p := newProducer(t, cfg)
			reg := prometheus.NewRegistry()
			var attempts atomic.Int32
			var handled recorder
			c, err := kafka.NewConsumer(cfg, fastOptions("g", p, func(_ context.Context, r *kgo.Record) error {
				if string(r.Value) == "x" && int(attempts.Add(1)) <= tt.failures {
					return tt.err
				}
				handled.add(string(r.Value))
				return nil
			}), testLogger(t), reg)
			if err != nil {
				t.Fatal(err)
			}
			// "marker" follows x on the same partition: once it is handled, x is done.
			produceValues(t, p, "x", "marker")
			stop := runConsumer(t, c)
			eventually(t, "marker handled", func() bool { return slices.Contains(handled.get(), "marker") })
			stop()

			if got := attempts.Load(); got != tt.wantAttempts {
				t.Errorf("attempts = %d, want %d", got, tt.wantAttempts)
			}
			if got := slices.Contains(handled.get(), "x"); got != tt.wantHandled {
				t.Errorf("x handled = %v, want %v", got, tt.wantHandled)
			}
			if n := slices.Index(handled.get(), "x"); tt.wantHandled && n != 0 {
				t.Errorf("handled %v: x must come before marker", handled.get())
			}
			dlqEnd := kafkatest.EndOffsets(t, cfg, kafka.DLQName(topic))[0]
			if got := dlqEnd == 1; got != tt.wantDLQ {
				t.Errorf("DLQ holds %d records, want dead-lettered=%v", dlqEnd, tt.wantDLQ)
			}
			if tt.wantDLQ {
				d := kafkatest.Records(t, cfg, kafka.DLQName(topic), 1)[0]
				if got, want := header(d, kafka.HeaderDLQAttempts), strconv.Itoa(int(tt.wantAttempts)); got != want {
					t.Errorf("dlq-attempts = %s, want %s", got, want)
				}
			}
			labels := map[string]string{"topic": topic, "group": "g", "outcome": "retry"}
			if got := counter(t, reg, "kafka_consumed_records_total", labels); got != tt.wantRetries {
				t.Errorf("retry count = %v, want %v", got, tt.wantRetries)
			}
			if got := committed(t, cfg, "g", topic, 0); got != 2 {
				t.Errorf("committed = %d, want 2", got)
			}
		})
	}
}

func TestConsumerRestartDoesNotReprocessCommittedRecords(t *testing.T) {
	cfg := kafkatest.New(t, kafka.TopicSpec{Name: topic, Partitions: 1})
	p := newProducer(t, cfg)
	newRun := func(handled *recorder) func() {
		c, err := kafka.NewConsumer(cfg, fastOptions("restart", p, func(_ context.Context, r *kgo.Record) error {
			handled.add(string(r.Value))
			return nil
		}), testLogger(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		return runConsumer(t, c)
	}

	var first recorder
	produceValues(t, p, "a", "b", "c")
	stop := newRun(&first)
	eventually(t, "first run handles a, b, c", func() bool { return first.len() == 3 })
	stop()

	var second recorder
	produceValues(t, p, "d", "e")
	stop = newRun(&second)
	eventually(t, "second run handles d, e", func() bool { return second.len() >= 2 })
	stop()

	if got := first.get(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("first run handled %v", got)
	}
	if got := second.get(); !slices.Equal(got, []string{"d", "e"}) {
		t.Errorf("second run handled %v, want only [d e]: committed records were reprocessed", got)
	}
	if got := committed(t, cfg, "restart", topic, 0); got != 5 {
		t.Errorf("committed = %d, want 5", got)
	}
}

// Partitions proceed independently (a blocked partition does not hold the
// others), and within a partition records are handled in offset order.
func TestConsumerPartitionsConcurrentAndOrdered(t *testing.T) {
	const partitions = 4
	cfg := kafkatest.New(t, kafka.TopicSpec{Name: topic, Partitions: partitions})
	p := newProducer(t, cfg)

	var mu sync.Mutex
	seen := map[int32][]int64{}
	release := make(chan struct{})
	var blockedPartition atomic.Int32
	blockedPartition.Store(-1)
	var total atomic.Int32
	opts := fastOptions("order", p, func(_ context.Context, r *kgo.Record) error {
		// The first record of the first partition to arrive blocks until the
		// test has seen every other partition's records handled.
		if blockedPartition.CompareAndSwap(-1, r.Partition) {
			<-release
		}
		mu.Lock()
		seen[r.Partition] = append(seen[r.Partition], r.Offset)
		mu.Unlock()
		total.Add(1)
		return nil
	})
	opts.MaxPollRecords = 10
	c, err := kafka.NewConsumer(cfg, opts, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	// A small backlog bound makes the blocked partition pause its fetching
	// (and resume after release), which the test also covers.
	const perKey = 25
	var recs []*kgo.Record
	for i := range perKey {
		for k := range 8 {
			recs = append(recs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "vehicle-%d", k), Value: fmt.Appendf(nil, "%d", i)})
		}
	}
	if err := p.Produce(context.Background(), recs...); err != nil {
		t.Fatal(err)
	}
	ends := kafkatest.EndOffsets(t, cfg, topic)
	nonEmpty := 0
	for _, end := range ends {
		if end > 0 {
			nonEmpty++
		}
	}
	if nonEmpty < 2 {
		t.Fatalf("keys landed in %d partitions, the test needs at least 2: %v", nonEmpty, ends)
	}
	stop := runConsumer(t, c)

	eventually(t, "a partition blocks", func() bool { return blockedPartition.Load() >= 0 })
	blocked := blockedPartition.Load()
	othersDone := func() bool {
		mu.Lock()
		defer mu.Unlock()
		for part, end := range ends {
			if part != blocked && end > 0 && int64(len(seen[part])) != end {
				return false
			}
		}
		return true
	}
	eventually(t, "other partitions handled while one is blocked", othersDone)
	// Its backlog (≥ 24 records) exceeds MaxPollRecords.
	eventually(t, "the blocked partition's fetching pauses", func() bool {
		return slices.Contains(c.PausedPartitions()[topic], blocked)
	})
	close(release)
	eventually(t, "all records handled", func() bool { return int(total.Load()) == len(recs) })
	if paused := c.PausedPartitions(); len(paused) != 0 {
		t.Errorf("partitions still paused after their backlog drained: %v", paused)
	}
	stop()

	mu.Lock()
	defer mu.Unlock()
	for part, offs := range seen {
		if !slices.IsSorted(offs) || int64(len(offs)) != ends[part] {
			t.Errorf("partition %d handled offsets %v, want 0..%d in order", part, offs, ends[part]-1)
		}
		if got := committed(t, cfg, "order", topic, part); got != ends[part] {
			t.Errorf("partition %d committed %d, want %d", part, got, ends[part])
		}
	}
}

// On shutdown the record in flight completes and is committed; later records
// are left for the next run.
func TestConsumerShutdownFinishesInFlightRecord(t *testing.T) {
	cfg := kafkatest.New(t, kafka.TopicSpec{Name: topic, Partitions: 1})
	p := newProducer(t, cfg)
	started := make(chan struct{})
	finish := make(chan struct{})
	var handled recorder
	var ctxErr atomic.Value
	c, err := kafka.NewConsumer(cfg, fastOptions("shutdown", p, func(ctx context.Context, r *kgo.Record) error {
		if string(r.Value) == "slow" {
			close(started)
			<-finish
			ctxErr.Store(fmt.Sprint(ctx.Err()))
		}
		handled.add(string(r.Value))
		return nil
	}), testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	produceValues(t, p, "a", "slow", "c")
	ctx, cancel := context.WithCancel(context.Background())
	wait := startConsumer(t, ctx, c)
	<-started
	cancel() // shutdown begins while "slow" is in flight
	close(finish)
	wait()

	if got := handled.get(); !slices.Equal(got, []string{"a", "slow"}) {
		t.Errorf("handled %v, want [a slow]: in-flight finishes, c waits", got)
	}
	if got := ctxErr.Load(); got != "<nil>" {
		t.Errorf("handler context error = %v, want nil: shutdown must not cancel an in-flight handler", got)
	}
	if got := committed(t, cfg, "shutdown", topic, 0); got != 2 {
		t.Errorf("committed = %d, want 2", got)
	}
}

func TestTraceContextPropagatesFromProducerToConsumer(t *testing.T) {
	cfg := kafkatest.New(t, kafka.TopicSpec{Name: topic, Partitions: 1})
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	prop := propagation.TraceContext{}

	p := newProducer(t, cfg, kafka.WithPropagator(prop))
	var got atomic.Value
	opts := fastOptions("trace", p, func(ctx context.Context, _ *kgo.Record) error {
		got.Store(trace.SpanContextFromContext(ctx))
		return nil
	})
	opts.TracerProvider, opts.Propagator = tp, prop
	c, err := kafka.NewConsumer(cfg, opts, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}

	ctx, root := tp.Tracer("test").Start(context.Background(), "end trip")
	if err := p.Produce(ctx, &kgo.Record{Topic: topic, Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	root.End()
	stop := runConsumer(t, c)
	eventually(t, "record handled", func() bool { return got.Load() != nil })
	stop()

	sc := got.Load().(trace.SpanContext)
	if sc.TraceID() != root.SpanContext().TraceID() {
		t.Errorf("handler trace id %s, want producer's %s", sc.TraceID(), root.SpanContext().TraceID())
	}
	var consumerSpan sdktrace.ReadOnlySpan
	for _, s := range spans.Ended() {
		if s.Name() == topic+" process" {
			consumerSpan = s
		}
	}
	if consumerSpan == nil {
		t.Fatalf("no %q span recorded", topic+" process")
	}
	if consumerSpan.SpanKind() != trace.SpanKindConsumer {
		t.Errorf("span kind = %v, want consumer", consumerSpan.SpanKind())
	}
	if consumerSpan.Parent().SpanID() != root.SpanContext().SpanID() {
		t.Errorf("consumer span parent = %s, want producer span %s", consumerSpan.Parent().SpanID(), root.SpanContext().SpanID())
	}
	if consumerSpan.SpanContext().SpanID() != sc.SpanID() {
		t.Errorf("handler runs in span %s, want the consumer span %s", sc.SpanID(), consumerSpan.SpanContext().SpanID())
	}
}

func TestNewConsumerValidatesOptions(t *testing.T) {
	cfg := kafka.Config{Brokers: []string{"127.0.0.1:1"}}
	p, err := kafka.NewProducer(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	h := func(context.Context, *kgo.Record) error { return nil }
	tests := []struct {
		name    string
		mutate  func(*kafka.ConsumerOptions)
		wantErr string
	}{
		{"valid", func(*kafka.ConsumerOptions) {}, ""},
		{"no group", func(o *kafka.ConsumerOptions) { o.Group = "" }, "group"},
		{"no topics", func(o *kafka.ConsumerOptions) { o.Topics = nil }, "topics"},
		{"no handler", func(o *kafka.ConsumerOptions) { o.Handler = nil }, "handler"},
		{"no DLQ", func(o *kafka.ConsumerOptions) { o.DLQ = nil }, "DLQ"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := fastOptions("g", p, h)
			tt.mutate(&opts)
			c, err := kafka.NewConsumer(cfg, opts, nil, nil)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				c.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}

// A member joining mid-stream takes partitions over from the committed
// offsets: every record is handled exactly once, in order per partition.
func TestConsumerRebalanceHandsOverWithoutLossOrDuplicates(t *testing.T) {
	const partitions = 4
	cfg := kafkatest.New(t, kafka.TopicSpec{Name: topic, Partitions: partitions})
	p := newProducer(t, cfg)

	type handledRec struct {
		member    string
		partition int32
		offset    int64
	}
	var mu sync.Mutex
	var handled []handledRec
	var handledByB atomic.Int32
	newMember := func(name string) *kafka.Consumer {
		opts := fastOptions("rebalance", p, func(_ context.Context, r *kgo.Record) error {
			// After a few records member a stalls (retrying, which a revoke
			// interrupts) until b has handled something: so b must get
			// partitions from a while a is mid-stream.
			if name == "a" && handledByB.Load() == 0 && len(snapshot(&mu, &handled)) >= 10 {
				return errBoom
			}
			mu.Lock()
			handled = append(handled, handledRec{name, r.Partition, r.Offset})
			mu.Unlock()
			if name == "b" {
				handledByB.Add(1)
			}
			return nil
		})
		opts.MaxAttempts = 1_000_000 // never dead-letter here
		c, err := kafka.NewConsumer(cfg, opts, testLogger(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	var recs []*kgo.Record
	for i := range 200 {
		recs = append(recs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "vehicle-%d", i%16), Value: []byte("v")})
	}
	if err := p.Produce(context.Background(), recs...); err != nil {
		t.Fatal(err)
	}
	ends := kafkatest.EndOffsets(t, cfg, topic)

	stopA := runConsumer(t, newMember("a"))
	eventually(t, "a handles its first records", func() bool { return len(snapshot(&mu, &handled)) >= 10 })
	stopB := runConsumer(t, newMember("b"))
	eventually(t, "all records handled", func() bool { return len(snapshot(&mu, &handled)) >= len(recs) })
	stopA()
	stopB()

	all := snapshot(&mu, &handled)
	if len(all) != len(recs) {
		t.Errorf("handled %d records, want %d (duplicates)", len(all), len(recs))
	}
	if handledByB.Load() == 0 {
		t.Error("member b handled nothing: no partition was handed over")
	}
	byPartition := map[int32][]int64{}
	for _, h := range all {
		byPartition[h.partition] = append(byPartition[h.partition], h.offset)
	}
	for part, end := range ends {
		offs := byPartition[part]
		want := make([]int64, end)
		for i := range want {
			want[i] = int64(i)
		}
		if !slices.Equal(offs, want) {
			t.Errorf("partition %d handled offsets %v, want each of 0..%d once, in order", part, offs, end-1)
		}
		if got := committed(t, cfg, "rebalance", topic, part); got != end {
			t.Errorf("partition %d committed %d, want %d", part, got, end)
		}
	}
}

func snapshot[T any](mu *sync.Mutex, s *[]T) []T {
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(*s)
}

// While the dead-letter write fails (here: the DLQ topic does not exist yet)
// the record is neither committed nor skipped; once the write succeeds the
// partition moves on.
func TestConsumerHoldsPartitionUntilDeadLetterIsWritten(t *testing.T) {
	const solo = "payments.events"
	cfg := kafkatest.New(t) // no topics: created below, without the .dlq
	adm := newAdmin(t, cfg)
	ctx := context.Background()
	if _, err := adm.CreateTopic(ctx, 1, -1, nil, solo); err != nil {
		t.Fatal(err)
	}
	// Fail fast on the unknown DLQ topic instead of retrying metadata.
	dlqReg := prometheus.NewRegistry()
	dlq, err := kafka.NewProducer(cfg, testLogger(t), dlqReg, kafka.WithClientOpts(kgo.UnknownTopicRetries(0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dlq.Close)
	var handled recorder
	var poisonAttempts atomic.Int32
	opts := fastOptions("payments", dlq, func(_ context.Context, r *kgo.Record) error {
		if string(r.Value) == "poison" {
			poisonAttempts.Add(1)
			return kafka.Permanent(errBoom)
		}
		handled.add(string(r.Value))
		return nil
	})
	opts.Topics = []string{solo}
	opts.InitialBackoff, opts.MaxBackoff = 10*time.Millisecond, 20*time.Millisecond
	c, err := kafka.NewConsumer(cfg, opts, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := dlq.Produce(ctx, recordOf(solo, "p-1", "poison"), recordOf(solo, "p-1", "after")); err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(t, c)
	eventually(t, "the poison record attempted", func() bool { return poisonAttempts.Load() == 1 })
	// The dead-letter writes are failing now; the partition must not advance.
	eventually(t, "dead-letter writes failing", func() bool {
		return counter(t, dlqReg, "kafka_produced_records_total", map[string]string{"topic": kafka.DLQName(solo), "outcome": "error"}) >= 2
	})
	if handled.len() != 0 || committed(t, cfg, "payments", solo, 0) != -1 {
		t.Fatalf("partition advanced past a record that is not dead-lettered: handled %v", handled.get())
	}
	if _, err := adm.CreateTopic(ctx, 1, -1, nil, kafka.DLQName(solo)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the record after the poison handled", func() bool { return handled.len() == 1 })
	stop()
	if got := poisonAttempts.Load(); got != 1 {
		t.Errorf("poison handled %d times; a failed dead-letter write must not re-run the handler", got)
	}
	if n := kafkatest.Total(t, cfg, kafka.DLQName(solo)); n != 1 {
		t.Errorf("DLQ holds %d records, want the poison record once", n)
	}
	if got := committed(t, cfg, "payments", solo, 0); got != 2 {
		t.Errorf("committed = %d, want 2", got)
	}
}
