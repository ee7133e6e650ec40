package httpx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/mobilitycorp/platform/pkg/httpx/problem"
	"github.com/mobilitycorp/platform/pkg/observability"
)

// RequestIDHeader carries the request id in and out.
const RequestIDHeader = "X-Request-Id"

const instrumentationName = "github.com/mobilitycorp/platform/pkg/httpx"

// RouterOptions configures NewRouter. Logger and Telemetry are required.
type RouterOptions struct {
	// Service labels the HTTP metrics (service="booking") so dashboards can aggregate
	// across services without relabelling; it is required.
	Service   string
	Logger    *slog.Logger
	Telemetry *observability.Telemetry
	// RequestTimeout is the deadline put on each request's context; 0 means 10s.
	RequestTimeout time.Duration
	// MaxBodyBytes caps every request body; 0 means 1 MiB. A route needing more must
	// live on a router of its own, since the cap is applied before routing.
	MaxBodyBytes int64
}

// NewRouter returns a chi router with the platform middleware, in this order: request
// id, panic recovery, server span, RED metrics, access log, request timeout, body limit.
// Unknown routes and methods answer with problem+json. It panics on missing options,
// which are wiring mistakes that must fail at startup.
func NewRouter(opts RouterOptions) *chi.Mux {
	if opts.Service == "" || opts.Logger == nil || opts.Telemetry == nil {
		panic("httpx: RouterOptions needs Service, Logger and Telemetry")
	}
	def := DefaultConfig("")
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = def.RequestTimeout
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = def.MaxBodyBytes
	}

	r := chi.NewRouter()
	r.Use(
		requestID,
		recoverer(opts.Logger),
		tracing(opts.Telemetry),
		red(newHTTPMetrics(opts.Telemetry.Registry, opts.Service)),
		accessLog(opts.Logger),
		timeout(opts.RequestTimeout),
		limitBody(opts.MaxBodyBytes),
	)
	r.NotFound(func(w http.ResponseWriter, req *http.Request) {
		problem.Write(w, req, problem.NotFound("no resource matches this path"))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, req *http.Request) {
		// RFC 9110 requires Allow on a 405; chi computes it only for its default handler.
		if allow := allowedMethods(r, req.URL.Path); allow != "" {
			w.Header().Set("Allow", allow)
		}
		problem.Write(w, req, problem.New(http.StatusMethodNotAllowed, "method-not-allowed", "",
			req.Method+" is not supported on this resource"))
	})
	return r
}

func allowedMethods(routes chi.Routes, path string) string {
	var allowed []string
	for _, m := range []string{
		http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace,
	} {
		if routes.Match(chi.NewRouteContext(), m, path) {
			allowed = append(allowed, m)
		}
	}
	return strings.Join(allowed, ", ")
}

// methodLabel keeps arbitrary client-chosen methods out of metric labels and span names.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	default:
		return "_OTHER"
	}
}

// routeLabel is the chi pattern that matched (e.g. /v1/vehicles/{id}); it is known only
// after routing, so middleware reads it once the handler returned. Raw paths would make
// label cardinality unbounded.
func routeLabel(r *http.Request) string {
	if p := chi.RouteContext(r.Context()).RoutePattern(); p != "" {
		return p
	}
	return "unmatched"
}

// --- request id ---

type requestIDKey struct{}

// RequestID returns the id of the request ctx belongs to, or "" outside a request.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// saneRequestID accepts an inbound id only when it cannot break log lines or headers.
func saneRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range []byte(id) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._:/+=-", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !saneRequestID(id) {
			id = uuid.NewString()
		}
		w.Header().Set(RequestIDHeader, id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// --- response tracking ---

// responseWriter records what the handler sent. The middleware share one instance, so
// recovery knows whether headers went out and the others read status and size.
type responseWriter struct {
	http.ResponseWriter
	status int // 0 until the header is sent
	bytes  int64
}

func track(w http.ResponseWriter) *responseWriter {
	if rw, ok := w.(*responseWriter); ok {
		return rw
	}
	return &responseWriter{ResponseWriter: w}
}

func (w *responseWriter) WriteHeader(code int) {
	// 1xx (other than 101) are interim responses; the final status is still to come.
	if w.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush keeps streaming handlers working through the wrapper.
func (w *responseWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finalStatus is the status the client sees: what was sent, 500 if the handler panicked
// first (recovery will send it), else the 200 net/http sends for an empty response.
func (w *responseWriter) finalStatus(panicked bool) int {
	switch {
	case w.status != 0:
		return w.status
	case panicked:
		return http.StatusInternalServerError
	default:
		return http.StatusOK
	}
}

// --- panic recovery ---

// handlerPanic travels from the tracing middleware, which knows the span, to the
// recovery middleware so the one log line has trace ids and the original stack.
type handlerPanic struct {
	value any
	stack []byte
	ctx   context.Context
}

func recoverer(logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rw := track(w)
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if v == http.ErrAbortHandler {
					panic(v) // the handler asked net/http to abort the connection silently
				}
				hp, ok := v.(*handlerPanic)
				if !ok {
					hp = &handlerPanic{value: v, stack: debug.Stack(), ctx: r.Context()}
				}
				logger.LogAttrs(hp.ctx, slog.LevelError, "panic serving http request",
					slog.Any("panic", hp.value), slog.String("stack", string(hp.stack)),
					slog.String("method", r.Method), slog.String("path", r.URL.Path),
					slog.String("request_id", RequestID(r.Context())))
				if rw.status != 0 {
					// A response is half sent; aborting the connection tells the client
					// it is incomplete instead of letting a truncated body look valid.
					panic(http.ErrAbortHandler)
				}
				// Headers the handler set for its own response (Content-Length, caching)
				// must not leak onto the error; the request id stays for correlation.
				h := rw.Header()
				id := h.Get(RequestIDHeader)
				clear(h)
				h.Set(RequestIDHeader, id)
				problem.WriteError(rw, r, fmt.Errorf("panic: %v", hp.value)) // a plain error: 500 without internals
			}()
			next.ServeHTTP(rw, r)
		})
	}
}

// --- tracing ---

func tracing(tel *observability.Telemetry) func(http.Handler) http.Handler {
	tracer := tel.Tracer(instrumentationName)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rw := track(w)
			method := methodLabel(r.Method)
			ctx := tel.Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
			ctx, span := tracer.Start(ctx, method, trace.WithSpanKind(trace.SpanKindServer),
				trace.WithAttributes(requestAttrs(r, method)...))
			defer func() {
				if route := routeLabel(r); route != "unmatched" {
					span.SetName(method + " " + route)
					span.SetAttributes(semconv.HTTPRoute(route))
				}
				v := recover()
				status := rw.finalStatus(v != nil)
				span.SetAttributes(semconv.HTTPResponseStatusCode(status))
				if status >= 500 {
					span.SetStatus(codes.Error, http.StatusText(status))
				}
				if v == nil {
					span.End()
					return
				}
				if v == http.ErrAbortHandler {
					span.SetStatus(codes.Error, "connection aborted")
					span.End()
					panic(v)
				}
				stack := debug.Stack()
				span.RecordError(fmt.Errorf("panic: %v", v), trace.WithAttributes(
					attribute.String("exception.stacktrace", string(stack))))
				span.End()
				panic(&handlerPanic{value: v, stack: stack, ctx: ctx})
			}()
			next.ServeHTTP(rw, r.WithContext(ctx))
		})
	}
}

func requestAttrs(r *http.Request, method string) []attribute.KeyValue {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	attrs := []attribute.KeyValue{
		semconv.HTTPRequestMethodKey.String(method),
		semconv.URLPath(r.URL.Path),
		semconv.URLScheme(scheme),
		attribute.String("http.request.id", RequestID(r.Context())),
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		attrs = append(attrs, semconv.ClientAddress(host))
	}
	if ua := r.UserAgent(); ua != "" {
		attrs = append(attrs, semconv.UserAgentOriginal(ua))
	}
	return attrs
}

// --- RED metrics ---

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer, service string) httpMetrics {
	labels := prometheus.Labels{"service": service}
	return httpMetrics{
		requests: registerOnce(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total", Help: "HTTP requests served, by method, route pattern and status code.",
			ConstLabels: labels,
		}, []string{"method", "route", "code"})),
		duration: registerOnce(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "http_request_duration_seconds", Help: "HTTP request latency, by method and route pattern.",
			ConstLabels: labels, Buckets: prometheus.DefBuckets,
		}, []string{"method", "route"})),
	}
}

// registerOnce reuses a collector registered by an earlier router on the same registry
// (a service with two routers, or a test building several).
func registerOnce[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic(fmt.Sprintf("httpx: register metric: %v", err))
}

func red(m httpMetrics) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rw := track(w)
			start := time.Now()
			panicked := true // cleared below; a panic skips the assignment without being recovered here
			defer func() {
				method, route := methodLabel(r.Method), routeLabel(r)
				m.requests.WithLabelValues(method, route, strconv.Itoa(rw.finalStatus(panicked))).Inc()
				m.duration.WithLabelValues(method, route).Observe(time.Since(start).Seconds())
			}()
			next.ServeHTTP(rw, r)
			panicked = false
		})
	}
}

// --- access log ---

// quietRoute reports probe and scrape routes: hit every few seconds, their successes are debug noise.
func quietRoute(route string) bool {
	return route == "/livez" || route == "/readyz" || route == "/metrics"
}

func accessLog(logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rw := track(w)
			start := time.Now()
			panicked := true
			defer func() {
				status, route := rw.finalStatus(panicked), routeLabel(r)
				level := slog.LevelInfo
				switch {
				case status >= 500:
					level = slog.LevelError
				case quietRoute(route):
					level = slog.LevelDebug
				}
				logger.LogAttrs(r.Context(), level, "http request",
					slog.String("method", r.Method),
					slog.String("route", route),
					slog.String("path", r.URL.Path),
					slog.Int("status", status),
					slog.Int64("bytes", rw.bytes),
					slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
					slog.String("request_id", RequestID(r.Context())),
					slog.String("remote", r.RemoteAddr),
				)
			}()
			next.ServeHTTP(rw, r)
			panicked = false
		})
	}
}

// --- limits ---

// timeout bounds the work a request may cause; handlers and clients they call must
// honour the context. problem.WriteError turns the resulting deadline error into a 503.
func timeout(d time.Duration) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), d)
			defer cancel()
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

func limitBody(n int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Body != nil && r.Body != http.NoBody {
				r.Body = http.MaxBytesReader(w, r.Body, n)
			}
			next.ServeHTTP(w, r)
		})
	}
}
