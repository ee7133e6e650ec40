package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/mobilitycorp/platform/pkg/observability"
)

// Producer writes records synchronously with an idempotent, acks=all client,
// so a nil error means every record is durably in the log, in order per partition.
type Producer struct {
	client   *kgo.Client
	prop     propagation.TextMapPropagator
	produced *prometheus.CounterVec
}

// ProducerOption customises a Producer.
type ProducerOption func(*producerOptions)

type producerOptions struct {
	prop propagation.TextMapPropagator
	kgo  []kgo.Opt
}

// WithPropagator sets the propagator that writes trace context into headers,
// instead of otel.GetTextMapPropagator().
func WithPropagator(p propagation.TextMapPropagator) ProducerOption {
	return func(o *producerOptions) { o.prop = p }
}

// WithClientOpts adds franz-go options (tuning, TLS, SASL) after the platform's.
func WithClientOpts(opts ...kgo.Opt) ProducerOption {
	return func(o *producerOptions) { o.kgo = append(o.kgo, opts...) }
}

// NewProducer returns a producer; it connects lazily, use Ping for readiness.
// reg may be nil.
func NewProducer(cfg Config, logger *slog.Logger, reg prometheus.Registerer, opts ...ProducerOption) (*Producer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var o producerOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.prop == nil {
		o.prop = otel.GetTextMapPropagator()
	}
	produced, err := observability.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kafka_produced_records_total",
		Help: "Records produced, by topic and outcome (ok, error).",
	}, []string{"topic", "outcome"}))
	if err != nil {
		return nil, err
	}
	kopts := append(cfg.clientOpts(),
		kgo.WithLogger(slogLogger{orDiscard(logger)}),
		// Idempotence is franz-go's default; with acks=all it gives ordered,
		// duplicate-free writes per partition across internal retries.
		kgo.RequiredAcks(kgo.AllISRAcks()),
	)
	kopts = append(kopts, o.kgo...)
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return nil, fmt.Errorf("new kafka producer: %w", err)
	}
	return &Producer{client: cl, prop: o.prop, produced: produced}, nil
}

// Produce writes recs and waits for every acknowledgement. Records without
// trace context get the one of ctx; records that already carry one (relayed
// from the outbox, copied to a DLQ) keep it, so the original trace continues.
// Retry with new records: franz-go binds a record to the context of its first
// produce.
func (p *Producer) Produce(ctx context.Context, recs ...*kgo.Record) error {
	for _, r := range recs {
		p.inject(ctx, r)
	}
	results := p.client.ProduceSync(ctx, recs...)
	for _, res := range results {
		outcome := "ok"
		if res.Err != nil {
			outcome = "error"
		}
		p.produced.WithLabelValues(res.Record.Topic, outcome).Inc()
	}
	if err := results.FirstErr(); err != nil {
		return fmt.Errorf("produce records: %w", err)
	}
	return nil
}

func (p *Producer) inject(ctx context.Context, r *kgo.Record) {
	c := HeaderCarrier{Headers: &r.Headers}
	for _, f := range p.prop.Fields() {
		if c.Get(f) != "" {
			return
		}
	}
	p.prop.Inject(ctx, c)
}

// Ping checks that a broker answers, for readiness probes.
func (p *Producer) Ping(ctx context.Context) error {
	if err := p.client.Ping(ctx); err != nil {
		return fmt.Errorf("ping kafka: %w", err)
	}
	return nil
}

// Close flushes buffered records (waiting at most 10s) and closes the client.
func (p *Producer) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = p.client.Flush(ctx) // nothing is buffered after a returned Produce; this covers a racing one
	p.client.Close()
}
