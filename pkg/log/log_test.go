package log_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/mobilitycorp/platform/pkg/log"
)

func TestTraceIDsAreLogged(t *testing.T) {
	var buf bytes.Buffer
	logger := log.New(&buf, "booking", "info")
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(),
		trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))

	logger.InfoContext(ctx, "hello", "k", 1)
	logger.DebugContext(ctx, "hidden")

	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("want exactly one JSON line, got %q: %v", buf.String(), err)
	}
	for k, want := range map[string]any{"msg": "hello", "service": "booking", "trace_id": tid.String(), "span_id": sid.String(), "k": 1.0} {
		if rec[k] != want {
			t.Errorf("%s = %v, want %v", k, rec[k], want)
		}
	}
}
