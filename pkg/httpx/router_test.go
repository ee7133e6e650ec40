package httpx_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/mobilitycorp/platform/pkg/httpx"
	"github.com/mobilitycorp/platform/pkg/httpx/problem"
)

func TestRequestID(t *testing.T) {
	tests := []struct {
		name    string
		inbound string
		keep    bool
	}{
		{name: "generated when absent", inbound: "", keep: false},
		{name: "inbound kept", inbound: "gw-7f3a:42", keep: true},
		{name: "inbound with spaces replaced", inbound: "a b", keep: false},
		{name: "inbound with newline replaced", inbound: "a\nlevel=error", keep: false},
		{name: "overlong inbound replaced", inbound: strings.Repeat("x", 129), keep: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			var seen string
			f.router.Get("/v1/ping", func(w http.ResponseWriter, r *http.Request) {
				seen = httpx.RequestID(r.Context())
			})
			req := httptest.NewRequest(http.MethodGet, "/v1/ping", nil)
			if tc.inbound != "" {
				req.Header[httpx.RequestIDHeader] = []string{tc.inbound}
			}
			rec := f.do(req)

			got := rec.Header().Get(httpx.RequestIDHeader)
			if got == "" || got != seen {
				t.Fatalf("response id %q, handler saw %q", got, seen)
			}
			if tc.keep && got != tc.inbound {
				t.Fatalf("id %q, want inbound %q kept", got, tc.inbound)
			}
			if !tc.keep {
				if _, err := uuid.Parse(got); err != nil {
					t.Fatalf("generated id %q is not a UUID: %v", got, err)
				}
			}
			logs := f.logs.records(t, "http request")
			if len(logs) != 1 || logs[0]["request_id"] != got {
				t.Fatalf("access log %v lacks request_id %q", logs, got)
			}
		})
	}
}

func TestAccessLog(t *testing.T) {
	tests := []struct {
		name      string
		path      string
		status    int
		wantLevel string
		wantRoute string
	}{
		{name: "success at info", path: "/v1/vehicles/v-1", status: 200, wantLevel: "INFO", wantRoute: "/v1/vehicles/{id}"},
		{name: "client error at info", path: "/v1/vehicles/v-1?status=409", status: 409, wantLevel: "INFO", wantRoute: "/v1/vehicles/{id}"},
		{name: "server error at error", path: "/v1/vehicles/v-1?status=502", status: 502, wantLevel: "ERROR", wantRoute: "/v1/vehicles/{id}"},
		{name: "probe success at debug", path: "/livez", status: 200, wantLevel: "DEBUG", wantRoute: "/livez"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.router.Get("/v1/vehicles/{id}", func(w http.ResponseWriter, r *http.Request) {
				status := 200
				if s := r.URL.Query().Get("status"); s != "" {
					_, _ = fmt.Sscan(s, &status)
				}
				httpx.WriteJSON(w, status, map[string]string{"id": chi.URLParam(r, "id")})
			})
			req := httptest.NewRequest(http.MethodGet, tc.path, nil)
			req.RemoteAddr = "10.1.2.3:5555"
			rec := f.do(req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d", rec.Code, tc.status)
			}
			logs := f.logs.records(t, "http request")
			if len(logs) != 1 {
				t.Fatalf("want one access log line, got %v", logs)
			}
			l := logs[0]
			if l["level"] != tc.wantLevel || l["route"] != tc.wantRoute || l["status"] != float64(tc.status) ||
				l["method"] != "GET" || l["path"] != strings.Split(tc.path, "?")[0] || l["remote"] != "10.1.2.3:5555" ||
				l["bytes"] != float64(rec.Body.Len()) || l["trace_id"] == nil {
				t.Fatalf("access log %v", l)
			}
			if _, ok := l["duration_ms"].(float64); !ok {
				t.Fatalf("duration_ms missing in %v", l)
			}
		})
	}
}

func TestPanicRecovery(t *testing.T) {
	f := newFixture(t)
	f.router.Get("/boom", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		panic("nil map in pricing")
	})
	f.router.Get("/half", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `{"partial":`)
		http.NewResponseController(w).Flush()
		panic("failed mid-stream")
	})
	f.router.Get("/abort", func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })
	f.router.Get("/ok", func(w http.ResponseWriter, _ *http.Request) { httpx.WriteJSON(w, 200, "fine") })
	srv := httptest.NewServer(f.router)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/boom")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", resp.StatusCode)
	}
	if p := problemBody(t, resp.Header, body); p["type"] != problem.TypePrefix+"internal" || strings.Contains(string(body), "pricing") {
		t.Fatalf("problem %s leaks or has wrong type", body)
	}
	if resp.Header.Get("Cache-Control") != "" || resp.Header.Get(httpx.RequestIDHeader) == "" {
		t.Fatalf("error response headers %v: want the handler's dropped and the request id kept", resp.Header)
	}

	panics := f.logs.records(t, "panic serving http request")
	if len(panics) != 1 {
		t.Fatalf("want the panic logged once, got %d lines", len(panics))
	}
	stack, _ := panics[0]["stack"].(string)
	if panics[0]["panic"] != "nil map in pricing" || !strings.Contains(stack, "TestPanicRecovery") {
		t.Fatalf("panic log %v lacks value or the handler's frame in the stack", panics[0])
	}
	boomSpan := f.spans.Ended()[0]
	if panics[0]["trace_id"] != boomSpan.SpanContext().TraceID().String() {
		t.Fatalf("panic log trace_id %v, span trace id %s", panics[0]["trace_id"], boomSpan.SpanContext().TraceID())
	}
	if boomSpan.Status().Code != codes.Error || len(boomSpan.Events()) == 0 || boomSpan.Events()[0].Name != "exception" {
		t.Fatalf("span status %v events %v, want error with exception event", boomSpan.Status(), boomSpan.Events())
	}
	if logs := f.logs.records(t, "http request"); len(logs) != 1 || logs[0]["status"] != 500.0 || logs[0]["level"] != "ERROR" {
		t.Fatalf("access log %v, want one 500 at error", logs)
	}

	// Headers already sent: the connection is aborted so the truncated body is not taken as complete.
	resp, err = http.Get(srv.URL + "/half")
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Fatal("half-written response after a panic was delivered as complete")
	}

	if _, err := http.Get(srv.URL + "/abort"); err == nil {
		t.Fatal("ErrAbortHandler did not abort the connection")
	}

	resp, err = http.Get(srv.URL + "/ok")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("server did not keep serving after panics: %d", resp.StatusCode)
	}
}

func TestRoutingProblems(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		path       string
		wantStatus int
		wantType   string
		wantAllow  string
	}{
		{name: "unknown route", method: http.MethodGet, path: "/v2/nothing", wantStatus: 404, wantType: problem.TypePrefix + "not-found"},
		{name: "unknown route under a mount", method: http.MethodGet, path: "/v1/nothing", wantStatus: 404, wantType: problem.TypePrefix + "not-found"},
		{name: "wrong method", method: http.MethodDelete, path: "/v1/vehicles/v-1", wantStatus: 405, wantType: problem.TypePrefix + "method-not-allowed", wantAllow: "GET, PUT"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.router.Route("/v1", func(r chi.Router) {
				r.Get("/vehicles/{id}", func(http.ResponseWriter, *http.Request) {})
				r.Put("/vehicles/{id}", func(http.ResponseWriter, *http.Request) {})
			})
			rec := f.do(httptest.NewRequest(tc.method, tc.path, nil))
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tc.wantStatus)
			}
			p := problemBody(t, rec.Header(), rec.Body.Bytes())
			if p["type"] != tc.wantType || p["status"] != float64(tc.wantStatus) || p["instance"] != tc.path {
				t.Fatalf("problem %v", p)
			}
			if got := rec.Header().Get("Allow"); got != tc.wantAllow {
				t.Fatalf("Allow %q, want %q", got, tc.wantAllow)
			}
		})
	}
}

func TestMetricsUseRoutePattern(t *testing.T) {
	f := newFixture(t)
	f.router.Route("/v1", func(r chi.Router) {
		r.Get("/vehicles/{id}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	})
	for _, id := range []string{"v-42", "v-43"} {
		f.do(httptest.NewRequest(http.MethodGet, "/v1/vehicles/"+id, nil))
	}
	f.do(httptest.NewRequest(http.MethodGet, "/v1/scooters/s-1", nil))

	rec := f.do(httptest.NewRequest(http.MethodGet, "/metrics", nil))
	out := rec.Body.String()
	for _, want := range []string{
		`http_requests_total{code="204",method="GET",route="/v1/vehicles/{id}",service="booking"} 2`,
		`http_request_duration_seconds_count{method="GET",route="/v1/vehicles/{id}",service="booking"} 2`,
		`http_requests_total{code="404",method="GET",route="/v1/*",service="booking"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, raw := range []string{"v-42", "s-1"} {
		if strings.Contains(out, raw) {
			t.Errorf("raw path segment %q leaked into metric labels", raw)
		}
	}
}

func TestUnknownMethodIsNotALabel(t *testing.T) {
	f := newFixture(t)
	f.router.Get("/v1/ping", func(http.ResponseWriter, *http.Request) {})
	f.do(httptest.NewRequest("BREW", "/v1/ping", nil))
	out := f.do(httptest.NewRequest(http.MethodGet, "/metrics", nil)).Body.String()
	if strings.Contains(out, "BREW") || !strings.Contains(out, `method="_OTHER"`) {
		t.Fatal("client-chosen method was not folded into _OTHER")
	}
}

func TestServerSpanContinuesInboundTrace(t *testing.T) {
	f := newFixture(t)
	var handlerSC trace.SpanContext
	f.router.Route("/v1", func(r chi.Router) {
		r.Get("/vehicles/{id}", func(_ http.ResponseWriter, r *http.Request) {
			handlerSC = trace.SpanContextFromContext(r.Context())
		})
	})
	const (
		traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		spanID  = "00f067aa0ba902b7"
	)
	req := httptest.NewRequest(http.MethodGet, "/v1/vehicles/v-1", nil)
	req.Header.Set("traceparent", "00-"+traceID+"-"+spanID+"-01")
	f.do(req)

	ended := f.spans.Ended()
	if len(ended) != 1 {
		t.Fatalf("want one span, got %d", len(ended))
	}
	s := ended[0]
	if s.Name() != "GET /v1/vehicles/{id}" || s.SpanKind() != trace.SpanKindServer {
		t.Fatalf("span %q kind %v", s.Name(), s.SpanKind())
	}
	if s.SpanContext().TraceID().String() != traceID || s.Parent().SpanID().String() != spanID || !s.Parent().IsRemote() {
		t.Fatalf("span trace %s parent %s, want trace %s parent %s", s.SpanContext().TraceID(), s.Parent().SpanID(), traceID, spanID)
	}
	if handlerSC.TraceID().String() != traceID || handlerSC.SpanID() != s.SpanContext().SpanID() {
		t.Fatalf("handler context carries %v, want the server span", handlerSC)
	}
	attrs := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		attrs[kv.Key] = kv.Value
	}
	if attrs["http.route"].AsString() != "/v1/vehicles/{id}" || attrs["http.response.status_code"].AsInt64() != 200 {
		t.Fatalf("span attributes %v", s.Attributes())
	}
}

func TestRequestTimeoutSetsDeadline(t *testing.T) {
	const limit = 3 * time.Second
	f := newFixture(t, func(o *httpx.RouterOptions) { o.RequestTimeout = limit })
	var (
		deadline time.Time
		ok       bool
	)
	f.router.Get("/v1/ping", func(_ http.ResponseWriter, r *http.Request) { deadline, ok = r.Context().Deadline() })
	before := time.Now()
	f.do(httptest.NewRequest(http.MethodGet, "/v1/ping", nil))
	after := time.Now()
	if !ok {
		t.Fatal("request context has no deadline")
	}
	// The deadline is set while the request is served, so it lies in [before, after] + limit.
	if deadline.Before(before.Add(limit)) || deadline.After(after.Add(limit)) {
		t.Fatalf("deadline %v is not %v after the request was served (%v..%v)", deadline, limit, before, after)
	}
}

func TestExpiredRequestAnswers503(t *testing.T) {
	f := newFixture(t, func(o *httpx.RouterOptions) { o.RequestTimeout = 20 * time.Millisecond })
	f.router.Get("/v1/slow", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // a dependency honouring the context gives up here
		problem.WriteError(w, r, fmt.Errorf("query: %w", r.Context().Err()))
	})
	rec := f.do(httptest.NewRequest(http.MethodGet, "/v1/slow", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", rec.Code)
	}
	if p := problemBody(t, rec.Header(), rec.Body.Bytes()); p["type"] != problem.TypePrefix+"timeout" {
		t.Fatalf("problem %v", p)
	}
}

func TestNewRouterRejectsMissingOptions(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("NewRouter accepted options without Logger and Telemetry")
		}
	}()
	httpx.NewRouter(httpx.RouterOptions{Service: "booking"})
}

func TestTwoRoutersShareARegistry(t *testing.T) {
	f := newFixture(t)
	admin := httpx.NewRouter(httpx.RouterOptions{Service: "booking", Logger: f.logger, Telemetry: f.tel})
	for _, r := range []*chi.Mux{f.router, admin} {
		r.Get("/v1/ping", func(http.ResponseWriter, *http.Request) {})
		r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/v1/ping", nil))
	}
	out := f.do(httptest.NewRequest(http.MethodGet, "/metrics", nil)).Body.String()
	if !strings.Contains(out, `http_requests_total{code="200",method="GET",route="/v1/ping",service="booking"} 2`) {
		t.Fatal("second router did not reuse the registered request counter")
	}
}
