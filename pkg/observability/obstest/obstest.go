// Package obstest builds a Telemetry for tests: spans go to an in-memory recorder and
// metrics to a fresh registry, and no OpenTelemetry global is touched, so tests using
// it can run in parallel.
package obstest

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/mobilitycorp/platform/pkg/observability"
)

// NewForTest returns a Telemetry that samples every span into the returned recorder.
// The provider is shut down when the test ends.
func NewForTest(t testing.TB) (*observability.Telemetry, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(rec))
	tel := &observability.Telemetry{
		TracerProvider: tp,
		Propagator:     observability.NewPropagator(),
		Registry:       observability.NewRegistry(),
	}
	t.Cleanup(func() {
		if err := tel.Shutdown(context.Background()); err != nil {
			t.Errorf("obstest: %v", err)
		}
	})
	return tel, rec
}
