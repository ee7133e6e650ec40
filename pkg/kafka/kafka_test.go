package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/mobilitycorp/platform/pkg/config"
	"github.com/mobilitycorp/platform/pkg/kafka"
	"github.com/mobilitycorp/platform/pkg/kafka/kafkatest"
)

func TestConfigFromEnvironment(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    kafka.Config
		wantErr string
	}{
		{name: "defaults", env: map[string]string{},
			want: kafka.Config{Brokers: []string{"127.0.0.1:9092"}, CreateTopics: true}},
		{name: "list", env: map[string]string{"X_KAFKA_BROKERS": "a:9092,b:9092", "X_KAFKA_CLIENT_ID": "booking", "X_KAFKA_CREATE_TOPICS": "false"},
			want: kafka.Config{Brokers: []string{"a:9092", "b:9092"}, ClientID: "booking"}},
		{name: "empty entry", env: map[string]string{"X_KAFKA_BROKERS": "a:9092,"}, wantErr: "empty entry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got kafka.Config
			err := config.LoadFrom("X_", tt.env, &got)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Brokers, tt.want.Brokers) || got.ClientID != tt.want.ClientID || got.CreateTopics != tt.want.CreateTopics {
				t.Fatalf("config = %+v, want %+v", got, tt.want)
			}
		})
	}
	if err := (kafka.Config{}).Validate(); err == nil {
		t.Error("a config without brokers must not validate")
	}
}

func TestEnsureTopicsCreatesTopicsAndDeadLetterTopics(t *testing.T) {
	cfg := kafkatest.New(t)
	ctx := context.Background()
	specs := []kafka.TopicSpec{
		{Name: "fleet.registry", Partitions: 3, Compacted: true},
		{Name: "vehicle.telemetry", Partitions: 6, Retention: 48 * time.Hour},
	}
	// Twice: existing topics are not an error.
	for range 2 {
		if err := kafka.EnsureTopics(ctx, cfg, specs); err != nil {
			t.Fatalf("ensure topics: %v", err)
		}
	}
	adm := newAdmin(t, cfg)
	details, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"fleet.registry": 3, "fleet.registry.dlq": 3, "vehicle.telemetry": 6, "vehicle.telemetry.dlq": 6}
	for name, partitions := range want {
		d, ok := details[name]
		if !ok {
			t.Errorf("topic %s missing", name)
			continue
		}
		if len(d.Partitions) != partitions {
			t.Errorf("topic %s has %d partitions, want %d", name, len(d.Partitions), partitions)
		}
	}
	configs, err := adm.DescribeTopicConfigs(ctx, "fleet.registry", "fleet.registry.dlq", "vehicle.telemetry")
	if err != nil {
		t.Fatal(err)
	}
	value := func(topic, key string) string {
		rc, err := configs.On(topic, nil)
		if err != nil {
			t.Fatalf("configs of %s: %v", topic, err)
		}
		for _, c := range rc.Configs {
			if c.Key == key {
				return c.MaybeValue()
			}
		}
		return ""
	}
	if got := value("fleet.registry", "cleanup.policy"); got != "compact" {
		t.Errorf("fleet.registry cleanup.policy = %q, want compact", got)
	}
	if got := value("fleet.registry.dlq", "cleanup.policy"); got == "compact" {
		t.Error("a dead-letter topic must not be compacted")
	}
	if got := value("vehicle.telemetry", "retention.ms"); got != "172800000" {
		t.Errorf("vehicle.telemetry retention.ms = %q, want 172800000", got)
	}

	off := cfg
	off.CreateTopics = false
	if err := kafka.EnsureTopics(ctx, off, []kafka.TopicSpec{{Name: "not.created", Partitions: 1}}); err != nil {
		t.Fatal(err)
	}
	details, err = adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if details.Has("not.created") {
		t.Error("EnsureTopics created a topic with CreateTopics=false")
	}
}

func TestHeaderCarrier(t *testing.T) {
	headers := []kgo.RecordHeader{{Key: "ce_id", Value: []byte("1")}, {Key: "traceparent", Value: []byte("old")}}
	c := kafka.HeaderCarrier{Headers: &headers}
	c.Set("traceparent", "new")
	c.Set("tracestate", "k=v")
	if got := c.Get("traceparent"); got != "new" {
		t.Errorf("Get(traceparent) = %q, want the replaced value", got)
	}
	if got := c.Keys(); !slices.Equal(got, []string{"ce_id", "traceparent", "tracestate"}) {
		t.Errorf("Keys() = %v", got)
	}
	if got := c.Get("missing"); got != "" {
		t.Errorf("Get(missing) = %q", got)
	}

	// A W3C trace context survives inject → headers → extract.
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("t").Start(context.Background(), "s")
	defer span.End()
	var rec kgo.Record
	propagation.TraceContext{}.Inject(ctx, kafka.HeaderCarrier{Headers: &rec.Headers})
	got := propagation.TraceContext{}.Extract(context.Background(), kafka.HeaderCarrier{Headers: &rec.Headers})
	if sc := trace.SpanContextFromContext(got); sc.TraceID() != span.SpanContext().TraceID() || sc.SpanID() != span.SpanContext().SpanID() {
		t.Errorf("extracted %v, want %v", sc, span.SpanContext())
	}
}

func TestPermanent(t *testing.T) {
	base := errors.New("bad payload")
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", base, false},
		{"permanent", kafka.Permanent(base), true},
		{"wrapped permanent", fmt.Errorf("decode: %w", kafka.Permanent(base)), true},
		{"joined", errors.Join(errors.New("x"), kafka.Permanent(base)), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := kafka.IsPermanent(tt.err); got != tt.want {
				t.Errorf("IsPermanent = %v, want %v", got, tt.want)
			}
		})
	}
	if kafka.Permanent(nil) != nil {
		t.Error("Permanent(nil) must be nil")
	}
	if p := kafka.Permanent(base); !errors.Is(p, base) || p.Error() != base.Error() {
		t.Errorf("Permanent must wrap transparently: %v", p)
	}
}

func TestProducerPingAndMetrics(t *testing.T) {
	cfg := kafkatest.New(t, kafka.TopicSpec{Name: topic, Partitions: 1})
	reg := prometheus.NewRegistry()
	p, err := kafka.NewProducer(cfg, testLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if err := p.Produce(ctx, &kgo.Record{Topic: topic, Value: []byte("a")}, &kgo.Record{Topic: topic, Value: []byte("b")}); err != nil {
		t.Fatal(err)
	}
	if got := counter(t, reg, "kafka_produced_records_total", map[string]string{"topic": topic, "outcome": "ok"}); got != 2 {
		t.Errorf("produced ok = %v, want 2", got)
	}
	if end := kafkatest.EndOffsets(t, cfg, topic)[0]; end != 2 {
		t.Errorf("topic end offset = %d, want 2", end)
	}
	// A second producer on the same registry shares the series instead of failing.
	p2, err := kafka.NewProducer(cfg, nil, reg)
	if err != nil {
		t.Fatalf("second producer on one registry: %v", err)
	}
	p2.Close()

	// A broker that does not answer fails the ping.
	dead, err := kafka.NewProducer(kafka.Config{Brokers: []string{"127.0.0.1:1"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	pctx, pcancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer pcancel()
	if err := dead.Ping(pctx); err == nil {
		t.Error("ping of an unreachable broker succeeded")
	}
}
