package httpx_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/mobilitycorp/platform/pkg/httpx"
	"github.com/mobilitycorp/platform/pkg/log"
	"github.com/mobilitycorp/platform/pkg/observability"
	"github.com/mobilitycorp/platform/pkg/observability/obstest"
)

// logBuffer collects log output written from server goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// records returns the JSON log lines whose msg is msg.
func (b *logBuffer) records(t *testing.T, msg string) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

type fixture struct {
	router *chi.Mux
	tel    *observability.Telemetry
	spans  *tracetest.SpanRecorder
	logs   *logBuffer
	logger *slog.Logger
	health *httpx.Health
}

// newFixture builds a router with /livez, /readyz and /metrics mounted; opts may
// tweak the options before the router is built.
func newFixture(t *testing.T, opts ...func(*httpx.RouterOptions)) *fixture {
	t.Helper()
	tel, spans := obstest.NewForTest(t)
	logs := &logBuffer{}
	o := httpx.RouterOptions{Service: "booking", Logger: log.New(logs, "booking", "debug"), Telemetry: tel}
	for _, f := range opts {
		f(&o)
	}
	f := &fixture{router: httpx.NewRouter(o), tel: tel, spans: spans, logs: logs, logger: o.Logger, health: httpx.NewHealth()}
	httpx.Mount(f.router, f.health, tel)
	return f
}

func (f *fixture) do(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	f.router.ServeHTTP(rec, req)
	return rec
}

// problemBody decodes a problem+json response, failing on any other media type.
func problemBody(t *testing.T, h http.Header, body []byte) map[string]any {
	t.Helper()
	if ct := h.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q, want application/problem+json (body %s)", ct, body)
	}
	var p map[string]any
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("problem body %q: %v", body, err)
	}
	return p
}

// eventually polls cond until it holds; it waits on a state change, it does not measure time.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
