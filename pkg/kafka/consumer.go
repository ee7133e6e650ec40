package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/mobilitycorp/platform/pkg/observability"
)

// Headers added to a dead-lettered record, next to its original headers.
const (
	HeaderDLQError             = "dlq-error"
	HeaderDLQOriginalTopic     = "dlq-original-topic"
	HeaderDLQOriginalPartition = "dlq-original-partition"
	HeaderDLQOriginalOffset    = "dlq-original-offset"
	HeaderDLQAttempts          = "dlq-attempts"
	HeaderDLQConsumerGroup     = "dlq-consumer-group"
	HeaderDLQFailedAt          = "dlq-failed-at"
)

// Handler processes one record. A nil error commits it; an error retries it
// (or dead-letters it at once when wrapped with Permanent).
type Handler func(ctx context.Context, r *kgo.Record) error

// ConsumerOptions configures a Consumer.
type ConsumerOptions struct {
	Group   string
	Topics  []string
	Handler Handler
	// MaxAttempts is how many times a record is handled before it is
	// dead-lettered (default 5).
	MaxAttempts int
	// InitialBackoff and MaxBackoff bound the exponential wait between
	// attempts (defaults 100ms and 5s).
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// DLQ writes dead letters to <topic>.dlq; required.
	DLQ *Producer
	// MaxPollRecords bounds one poll and the backlog of a partition
	// before fetching it pauses (default 500).
	MaxPollRecords int
	// TracerProvider and Propagator default to the otel globals.
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator
}

func (o *ConsumerOptions) setDefaults() error {
	switch {
	case o.Group == "":
		return errors.New("consumer group is required")
	case len(o.Topics) == 0:
		return errors.New("consumer topics are required")
	case o.Handler == nil:
		return errors.New("consumer handler is required")
	case o.DLQ == nil:
		return errors.New("consumer DLQ producer is required")
	}
	if o.MaxAttempts < 1 {
		o.MaxAttempts = 5
	}
	if o.InitialBackoff <= 0 {
		o.InitialBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Second
	}
	if o.MaxBackoff < o.InitialBackoff {
		o.MaxBackoff = o.InitialBackoff
	}
	if o.MaxPollRecords < 1 {
		o.MaxPollRecords = 500
	}
	if o.TracerProvider == nil {
		o.TracerProvider = otel.GetTracerProvider()
	}
	if o.Propagator == nil {
		o.Propagator = otel.GetTextMapPropagator()
	}
	return nil
}

// Consumer runs a handler over a consumer group's records.
//
// Every owned partition has a worker goroutine that handles its records in
// offset order, so partitions proceed independently: a record being retried
// delays only its own partition. A handled (or dead-lettered) record is marked
// and marks are committed every second. When partitions are revoked by a
// rebalance, their workers finish the record in flight and the marks are
// committed before the partitions move, so the next owner resumes right after
// the last record handled here. After a crash, records handled since the last
// commit are delivered again: handlers must be idempotent (pkg/inbox).
type Consumer struct {
	client    *kgo.Client
	opts      ConsumerOptions
	logger    *slog.Logger
	tracer    trace.Tracer
	consumed  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	closeOnce sync.Once

	mu      sync.Mutex
	workers map[topicPartition]*worker // owned partitions
	wg      sync.WaitGroup             // running workers
}

type topicPartition struct {
	topic     string
	partition int32
}

func (tp topicPartition) m() map[string][]int32 { return map[string][]int32{tp.topic: {tp.partition}} }

// worker owns one partition's backlog. Its goroutine starts with the first
// records, inside Run.
type worker struct {
	tp      topicPartition
	wake    chan struct{} // capacity 1: records were added
	started bool
	cancel  context.CancelFunc
	done    chan struct{}

	mu      sync.Mutex
	backlog []*kgo.Record
	paused  bool // fetching is paused until the backlog drains
}

// NewConsumer returns a consumer; it joins the group when Run starts. reg may be nil.
func NewConsumer(cfg Config, opts ConsumerOptions, logger *slog.Logger, reg prometheus.Registerer) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	logger = orDiscard(logger).With(slog.String("consumer_group", opts.Group))
	consumed, err := observability.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kafka_consumed_records_total",
		Help: "Record handling outcomes: ok, retry (a failed attempt that is retried), dlq.",
	}, []string{"topic", "group", "outcome"}))
	if err != nil {
		return nil, err
	}
	duration, err := observability.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kafka_handler_duration_seconds",
		Help:    "Duration of one handler attempt.",
		Buckets: prometheus.DefBuckets,
	}, []string{"topic", "group"}))
	if err != nil {
		return nil, err
	}
	c := &Consumer{
		opts:     opts,
		logger:   logger,
		tracer:   opts.TracerProvider.Tracer("github.com/mobilitycorp/platform/pkg/kafka"),
		consumed: consumed,
		duration: duration,
		workers:  map[topicPartition]*worker{},
	}
	kopts := append(cfg.clientOpts(),
		kgo.WithLogger(slogLogger{logger}),
		kgo.ConsumerGroup(opts.Group),
		kgo.ConsumeTopics(opts.Topics...),
		// Only records a worker marked as done are committed.
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(time.Second),
		kgo.OnPartitionsAssigned(c.onAssigned),
		kgo.OnPartitionsRevoked(c.onRevoked),
		kgo.OnPartitionsLost(c.onLost),
		// A resumed partition joins the next fetch only after the one in
		// flight returns; Java's 500ms instead of franz-go's 5s bounds that wait.
		kgo.FetchMaxWait(500*time.Millisecond),
		// A new group reads the whole retained log: events are facts a
		// service must not miss because it was deployed after they happened.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return nil, fmt.Errorf("new kafka consumer: %w", err)
	}
	c.client = cl
	return c, nil
}

// Run consumes until ctx is cancelled, then finishes the records in flight,
// commits, leaves the group and closes the client; it returns nil then.
// A Consumer runs once.
func (c *Consumer) Run(ctx context.Context) error {
	defer c.Close()
	defer c.wg.Wait()
	err := c.poll(ctx)
	c.stopWorkers(nil)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if cerr := c.client.CommitMarkedOffsets(cctx); cerr != nil {
		c.logger.Error("commit offsets on shutdown", slog.Any("error", cerr))
	}
	return err
}

func (c *Consumer) poll(ctx context.Context) error {
	for {
		fetches := c.client.PollRecords(ctx, c.opts.MaxPollRecords)
		if ctx.Err() != nil {
			// Records polled together with the cancel are neither handled
			// nor marked: whoever owns the partition next gets them.
			return nil
		}
		if fetches.IsClientClosed() {
			return errors.New("kafka consumer closed while running")
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			c.logger.Warn("fetch error", slog.String("topic", topic), slog.Int("partition", int(partition)), slog.Any("error", err))
		})
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) > 0 {
				c.dispatch(ctx, topicPartition{p.Topic, p.Partition}, p.Records)
			}
		})
	}
}

// dispatch appends recs to their partition's backlog. A backlog that reached
// MaxPollRecords (its handler is slow or retrying) pauses fetching of that
// partition only; the worker resumes it once the backlog is drained.
func (c *Consumer) dispatch(ctx context.Context, tp topicPartition, recs []*kgo.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	w, ok := c.workers[tp]
	if !ok {
		return // revoked after this poll; the next owner reads these from the commit
	}
	if !w.started {
		wctx, cancel := context.WithCancel(ctx)
		w.started, w.cancel, w.done = true, cancel, make(chan struct{})
		c.wg.Go(func() { c.work(wctx, w) })
	}
	w.mu.Lock()
	w.backlog = append(w.backlog, recs...)
	if !w.paused && len(w.backlog) >= c.opts.MaxPollRecords {
		// Under w.mu, so that the worker cannot resume before we pause.
		w.paused = true
		c.client.PauseFetchPartitions(tp.m())
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// work handles the backlog until ctx ends (shutdown or revocation).
func (c *Consumer) work(ctx context.Context, w *worker) {
	defer close(w.done)
	for {
		r := c.next(w)
		if r == nil {
			select {
			case <-ctx.Done():
				return
			case <-w.wake:
				continue
			}
		}
		if ctx.Err() != nil || !c.process(ctx, r) {
			return
		}
		c.client.MarkCommitRecords(r)
	}
}

// next pops the oldest record of the backlog, resuming fetching when it is empty.
func (c *Consumer) next(w *worker) *kgo.Record {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.backlog) == 0 {
		w.backlog = nil
		if w.paused {
			w.paused = false
			c.client.ResumeFetchPartitions(w.tp.m())
		}
		return nil
	}
	r := w.backlog[0]
	w.backlog[0] = nil
	w.backlog = w.backlog[1:]
	return r
}

func (c *Consumer) onAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for topic, partitions := range assigned {
		for _, p := range partitions {
			tp := topicPartition{topic, p}
			if _, ok := c.workers[tp]; !ok {
				c.workers[tp] = &worker{tp: tp, wake: make(chan struct{}, 1)}
			}
		}
	}
}

// onRevoked runs before the partitions go to another member: their workers
// finish the record in flight and everything marked is committed.
func (c *Consumer) onRevoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	c.stopWorkers(revoked)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := cl.CommitMarkedOffsets(cctx); err != nil {
		c.logger.Error("commit offsets on revoke", slog.Any("error", err))
	}
}

// onLost stops the workers without committing: another member may already
// own the partitions, so a commit now could rewind theirs.
func (c *Consumer) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	c.stopWorkers(lost)
}

// stopWorkers stops the workers of tps (nil means all) after their record in
// flight and forgets the partitions.
func (c *Consumer) stopWorkers(tps map[string][]int32) {
	c.mu.Lock()
	var stopped []*worker
	for tp, w := range c.workers {
		if tps == nil || slices.Contains(tps[tp.topic], tp.partition) {
			delete(c.workers, tp)
			stopped = append(stopped, w)
		}
	}
	c.mu.Unlock()
	for _, w := range stopped {
		if w.started {
			w.cancel()
			<-w.done
		}
		// Pauses outlive assignments: a partition assigned again later must fetch.
		w.mu.Lock()
		if w.paused {
			c.client.ResumeFetchPartitions(w.tp.m())
		}
		w.mu.Unlock()
	}
}

// Close leaves the group and closes the client; Run calls it on return.
func (c *Consumer) Close() {
	c.closeOnce.Do(c.client.Close)
}

// process handles r with retries, dead-letters it when they are exhausted,
// and reports whether r is done.
func (c *Consumer) process(ctx context.Context, r *kgo.Record) bool {
	// An attempt that started finishes even if shutdown begins: handlers get
	// a context that shutdown does not cancel. Waits between attempts do end.
	detached := context.WithoutCancel(ctx)
	var err error
	attempt := 1
	for ; ; attempt++ {
		err = c.attempt(detached, r, attempt)
		if err == nil {
			c.consumed.WithLabelValues(r.Topic, c.opts.Group, "ok").Inc()
			return true
		}
		if IsPermanent(err) || attempt >= c.opts.MaxAttempts {
			break
		}
		c.consumed.WithLabelValues(r.Topic, c.opts.Group, "retry").Inc()
		c.logger.WarnContext(ctx, "handler failed, retrying", recordAttrs(r, attempt, err)...)
		if !sleep(ctx, c.backoff(attempt)) {
			return false
		}
	}
	return c.deadLetter(ctx, detached, r, attempt, err)
}

func (c *Consumer) attempt(ctx context.Context, r *kgo.Record, attempt int) (err error) {
	ctx = c.opts.Propagator.Extract(ctx, HeaderCarrier{Headers: &r.Headers})
	ctx, span := c.tracer.Start(ctx, r.Topic+" process",
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "kafka"),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.destination.name", r.Topic),
			attribute.String("messaging.consumer.group.name", c.opts.Group),
			attribute.Int("messaging.destination.partition.id", int(r.Partition)),
			attribute.Int64("messaging.kafka.offset", r.Offset),
			attribute.String("messaging.kafka.message.key", string(r.Key)),
			attribute.Int("messaging.kafka.attempt", attempt),
		))
	start := time.Now()
	defer func() {
		// A panicking handler is a failed attempt, not a crashed service.
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panic: %v", p)
		}
		c.duration.WithLabelValues(r.Topic, c.opts.Group).Observe(time.Since(start).Seconds())
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()
	return c.opts.Handler(ctx, r)
}

// deadLetter writes r to its DLQ topic, retrying until it succeeds or
// shutdown begins, because the partition must not move past r before.
func (c *Consumer) deadLetter(ctx, detached context.Context, r *kgo.Record, attempts int, cause error) bool {
	for try := 1; ; try++ {
		// A fresh record per try: franz-go keeps the context of a record's
		// first produce in it, so a reused record would fail with that one.
		pctx, cancel := context.WithTimeout(detached, 30*time.Second)
		err := c.opts.DLQ.Produce(pctx, c.dlqRecord(r, attempts, cause))
		cancel()
		if err == nil {
			c.consumed.WithLabelValues(r.Topic, c.opts.Group, "dlq").Inc()
			c.logger.ErrorContext(ctx, "record dead-lettered", recordAttrs(r, attempts, cause)...)
			return true
		}
		c.logger.ErrorContext(ctx, "dead-letter write failed", append(recordAttrs(r, attempts, cause), slog.Any("dlq_error", err))...)
		if !sleep(ctx, c.backoff(try)) {
			return false
		}
	}
}

func (c *Consumer) dlqRecord(r *kgo.Record, attempts int, cause error) *kgo.Record {
	headers := make([]kgo.RecordHeader, 0, len(r.Headers)+7)
	for _, h := range r.Headers {
		// A record replayed from a DLQ and failing again gets fresh dlq-* headers.
		if !strings.HasPrefix(h.Key, "dlq-") {
			headers = append(headers, h)
		}
	}
	add := func(k, v string) { headers = append(headers, kgo.RecordHeader{Key: k, Value: []byte(v)}) }
	add(HeaderDLQError, cause.Error())
	add(HeaderDLQOriginalTopic, r.Topic)
	add(HeaderDLQOriginalPartition, strconv.Itoa(int(r.Partition)))
	add(HeaderDLQOriginalOffset, strconv.FormatInt(r.Offset, 10))
	add(HeaderDLQAttempts, strconv.Itoa(attempts))
	add(HeaderDLQConsumerGroup, c.opts.Group)
	add(HeaderDLQFailedAt, time.Now().UTC().Format(time.RFC3339Nano))
	return &kgo.Record{Topic: DLQName(r.Topic), Key: r.Key, Value: r.Value, Headers: headers}
}

// backoff is exponential from InitialBackoff, capped at MaxBackoff, with
// jitter in its upper half so that replicas retrying together spread out.
func (c *Consumer) backoff(attempt int) time.Duration {
	d := c.opts.InitialBackoff
	for i := 1; i < attempt && d < c.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.opts.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

// sleep waits d and reports false if ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func recordAttrs(r *kgo.Record, attempt int, err error) []any {
	return []any{
		slog.String("topic", r.Topic),
		slog.Int("partition", int(r.Partition)),
		slog.Int64("offset", r.Offset),
		slog.Int("attempt", attempt),
		slog.Any("error", err),
	}
}
