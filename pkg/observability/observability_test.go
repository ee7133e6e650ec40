package observability_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"github.com/mobilitycorp/platform/pkg/observability"
	"github.com/mobilitycorp/platform/pkg/observability/obstest"
)

// setup calls Setup and restores the OpenTelemetry globals it replaces, so these
// tests do not leak state into others in the same binary.
func setup(t *testing.T, cfg observability.Config) *observability.Telemetry {
	t.Helper()
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	tel, err := observability.Setup(context.Background(), "booking", "1.2.3", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		otel.SetTracerProvider(prevTP)
		otel.SetTextMapPropagator(prevProp)
		if err := tel.Shutdown(context.Background()); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return tel
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     observability.Config
		wantErr string
	}{
		{name: "defaults", cfg: observability.Config{SampleRatio: 1}},
		{name: "never sample", cfg: observability.Config{SampleRatio: 0, OTLPEndpoint: "https://collector:4318"}},
		{name: "ratio above one", cfg: observability.Config{SampleRatio: 1.5}, wantErr: "OTEL_TRACES_SAMPLE_RATIO"},
		{name: "negative ratio", cfg: observability.Config{SampleRatio: -0.1}, wantErr: "OTEL_TRACES_SAMPLE_RATIO"},
		{name: "endpoint without scheme", cfg: observability.Config{SampleRatio: 1, OTLPEndpoint: "collector:4318"}, wantErr: "OTEL_EXPORTER_OTLP_ENDPOINT"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestSetupSpansHaveTraceIDs(t *testing.T) {
	tests := []struct {
		name        string
		ratio       float64
		wantSampled bool
	}{
		{name: "sampled", ratio: 1, wantSampled: true},
		// Unsampled spans must still carry ids: the logger joins logs to traces by them.
		{name: "not sampled", ratio: 0, wantSampled: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tel := setup(t, observability.Config{SampleRatio: tc.ratio})
			_, span := tel.Tracer("test").Start(context.Background(), "op")
			defer span.End()
			sc := span.SpanContext()
			if !sc.TraceID().IsValid() || !sc.SpanID().IsValid() {
				t.Fatalf("span context %v has no valid ids", sc)
			}
			if sc.IsSampled() != tc.wantSampled {
				t.Fatalf("sampled = %v, want %v", sc.IsSampled(), tc.wantSampled)
			}
			if otel.GetTracerProvider() != tel.TracerProvider {
				t.Fatal("Setup did not install the global tracer provider")
			}
		})
	}
}

func TestInjectExtractRoundTrip(t *testing.T) {
	tel, _ := obstest.NewForTest(t)
	ctx, span := tel.Tracer("test").Start(context.Background(), "publish")
	defer span.End()

	props := observability.InjectMap(ctx, tel.Propagator)
	if props["traceparent"] == "" {
		t.Fatalf("no traceparent in %v", props)
	}

	got := trace.SpanContextFromContext(observability.ExtractMap(context.Background(), tel.Propagator, props))
	want := span.SpanContext()
	if got.TraceID() != want.TraceID() || got.SpanID() != want.SpanID() || !got.IsRemote() || !got.IsSampled() {
		t.Fatalf("extracted %v, want remote copy of %v", got, want)
	}
}

func TestExtractMapWithoutContext(t *testing.T) {
	tel, _ := obstest.NewForTest(t)
	ctx := observability.ExtractMap(context.Background(), tel.Propagator, map[string]string{"unrelated": "x"})
	if trace.SpanContextFromContext(ctx).IsValid() {
		t.Fatal("extracted a span context from properties without traceparent")
	}
}

func TestMetricsHandlerExposesRegisteredCounter(t *testing.T) {
	tel, _ := obstest.NewForTest(t)
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "rentals_started_total", Help: "Rentals started."})
	tel.Registry.MustRegister(c)
	c.Add(3)

	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, body)
	}
	for _, want := range []string{"rentals_started_total 3", "go_goroutines", "process_"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics output lacks %q", want)
		}
	}
}

func TestMetricsHandlerNegotiatesOpenMetrics(t *testing.T) {
	tel, _ := obstest.NewForTest(t)
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0")
	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, req)
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Fatalf("content type %q, want OpenMetrics", ct)
	}
	if !strings.HasSuffix(rec.Body.String(), "# EOF\n") {
		t.Fatal("OpenMetrics body lacks the # EOF terminator")
	}
}

type otlpRequest struct {
	method, path, contentType string
	bodyLen                   int
}

func TestSetupExportsOverOTLPHTTP(t *testing.T) {
	var (
		mu   sync.Mutex
		reqs []otlpRequest
	)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, otlpRequest{r.Method, r.URL.Path, r.Header.Get("Content-Type"), len(b)})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	defer collector.Close()

	tel := setup(t, observability.Config{SampleRatio: 1, OTLPEndpoint: collector.URL})
	_, span := tel.Tracer("test").Start(context.Background(), "rental.start")
	span.End()
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(reqs) == 0 {
		t.Fatal("collector received nothing after Shutdown")
	}
	got := reqs[0]
	if got.method != http.MethodPost || got.path != "/v1/traces" || got.contentType != "application/x-protobuf" || got.bodyLen == 0 {
		t.Fatalf("collector got %+v, want a non-empty protobuf POST to /v1/traces", got)
	}
}
