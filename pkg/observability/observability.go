// Package observability sets up the platform's traces and metrics: an OpenTelemetry
// tracer provider (OTLP/HTTP export when configured), W3C propagation, and a Prometheus
// registry per process that the HTTP server exposes on /metrics.
//
// Setup is the one place in the repository allowed to set process-wide state: it installs
// the tracer provider and propagator as OpenTelemetry globals, because instrumentation
// libraries (database, Kafka, HTTP client wrappers) read them. Our own code never reads
// the globals; it receives a *Telemetry explicitly.
package observability

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Config is the observability part of a service config.
type Config struct {
	// OTLPEndpoint is the collector's base URL (e.g. http://otel-collector:4318); traces
	// go to <endpoint>/v1/traces as the OTLP spec prescribes. Empty disables export.
	OTLPEndpoint string `env:"OTEL_EXPORTER_OTLP_ENDPOINT"`
	// SampleRatio is the share of new traces sampled; child spans follow their parent.
	SampleRatio float64 `env:"OTEL_TRACES_SAMPLE_RATIO" envDefault:"1"`
}

// Validate implements config.Validator.
func (c Config) Validate() error {
	var errs []error
	if math.IsNaN(c.SampleRatio) || c.SampleRatio < 0 || c.SampleRatio > 1 {
		errs = append(errs, fmt.Errorf("OTEL_TRACES_SAMPLE_RATIO must be in [0,1], got %v", c.SampleRatio))
	}
	if c.OTLPEndpoint != "" {
		if _, err := tracesURL(c.OTLPEndpoint); err != nil {
			errs = append(errs, fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT: %w", err))
		}
	}
	return errors.Join(errs...)
}

// tracesURL appends the signal path to the base endpoint, as OTEL_EXPORTER_OTLP_ENDPOINT requires.
func tracesURL(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", fmt.Errorf("parse %q: %w", endpoint, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%q is not an absolute http(s) URL", endpoint)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
	return u.String(), nil
}

// Telemetry bundles what a service needs to emit traces and metrics. Pass it explicitly
// to the code that instruments itself.
type Telemetry struct {
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator
	Registry       *prometheus.Registry
}

// Setup builds the service's Telemetry and installs its tracer provider and propagator
// as OpenTelemetry globals (see the package doc). Call Shutdown before exiting so
// buffered spans are exported.
func Setup(ctx context.Context, service, version string, cfg Config) (*Telemetry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("observability config: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewWithAttributes(semconv.SchemaURL,
		semconv.ServiceName(service), semconv.ServiceVersion(version)))
	if err != nil {
		return nil, fmt.Errorf("build otel resource: %w", err)
	}
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
	}
	// Without an endpoint there is no exporter, but spans still get ids so logs carry trace_id.
	if cfg.OTLPEndpoint != "" {
		endpoint, err := tracesURL(cfg.OTLPEndpoint)
		if err != nil {
			return nil, err
		}
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
		if err != nil {
			return nil, fmt.Errorf("create otlp trace exporter: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
	}
	tel := &Telemetry{
		TracerProvider: sdktrace.NewTracerProvider(opts...),
		Propagator:     NewPropagator(),
		Registry:       NewRegistry(),
	}
	otel.SetTracerProvider(tel.TracerProvider)
	otel.SetTextMapPropagator(tel.Propagator)
	return tel, nil
}

// NewPropagator returns the platform's propagator: W3C TraceContext and Baggage.
func NewPropagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// NewRegistry returns a fresh Prometheus registry with the Go runtime and process
// collectors. A registry per Telemetry (never the default one) keeps tests independent.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Tracer returns a named tracer of the Telemetry's provider; name is the instrumenting
// package's import path by convention.
func (t *Telemetry) Tracer(name string) trace.Tracer { return t.TracerProvider.Tracer(name) }

// MetricsHandler serves the registry in the Prometheus text or OpenMetrics format,
// whichever the scraper asks for.
func (t *Telemetry) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(t.Registry, promhttp.HandlerOpts{EnableOpenMetrics: true})
}

// Shutdown flushes buffered spans and stops the exporter. It is a no-op for providers
// without a Shutdown method (e.g. a noop provider).
func (t *Telemetry) Shutdown(ctx context.Context) error {
	sp, ok := t.TracerProvider.(interface{ Shutdown(context.Context) error })
	if !ok {
		return nil
	}
	if err := sp.Shutdown(ctx); err != nil {
		return fmt.Errorf("shut down tracer provider: %w", err)
	}
	return nil
}

// InjectMap returns the trace context (and baggage) of ctx as a string map. Services
// publishing over MQTT 5 copy it into the message's user properties, since MQTT has no
// headers; Kafka producers can use it the same way.
func InjectMap(ctx context.Context, prop propagation.TextMapPropagator) map[string]string {
	m := propagation.MapCarrier{}
	prop.Inject(ctx, m)
	return m
}

// ExtractMap returns ctx with the remote trace context found in m, which an MQTT 5
// consumer builds from the message's user properties. Start the consumer span from
// the returned context so it joins the producer's trace.
func ExtractMap(ctx context.Context, prop propagation.TextMapPropagator, m map[string]string) context.Context {
	return prop.Extract(ctx, propagation.MapCarrier(m))
}
