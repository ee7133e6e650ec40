// Package stripefake is a wire-level fake of the Stripe API for tests: an
// httptest.Server that speaks Stripe's form-encoded requests and answers with
// Stripe's JSON objects and error objects. Behind the wire format sits the
// sandbox (package sandbox), so intents move through the same state machine as
// in development; this package owns only what is Stripe's wire protocol:
// authentication, form parsing and unknown-parameter checks, HTTP-level
// idempotency (the saved status and body are replayed verbatim with
// Idempotent-Replayed: true), object rendering, and fault injection.
//
// Endpoints: POST /v1/customers, POST /v1/payment_methods/{id}/attach,
// POST /v1/payment_intents, GET and POST /v1/payment_intents/{id},
// POST /v1/payment_intents/{id}/capture, .../cancel, .../increment_authorization,
// POST /v1/refunds. It models what our adapter uses: card payment intents with
// capture_method=manual, confirm=true, off_session=true and
// request_incremental_authorization=if_available; other flows are refused with
// a 400 that says so, rather than answered wrongly.
package stripefake

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mobilitycorp/platform/services/payments/internal/adapters/sandbox"
)

// Endpoints, as counted by Calls and recorded in Request.Endpoint.
const (
	EndpointCreateCustomer     = "POST /v1/customers"
	EndpointAttachMethod       = "POST /v1/payment_methods/{id}/attach"
	EndpointCreateIntent       = "POST /v1/payment_intents"
	EndpointRetrieveIntent     = "GET /v1/payment_intents/{id}"
	EndpointUpdateIntent       = "POST /v1/payment_intents/{id}"
	EndpointCaptureIntent      = "POST /v1/payment_intents/{id}/capture"
	EndpointCancelIntent       = "POST /v1/payment_intents/{id}/cancel"
	EndpointIncrementAuthorise = "POST /v1/payment_intents/{id}/increment_authorization"
	EndpointCreateRefund       = "POST /v1/refunds"
	// EndpointUnknown counts requests no endpoint matched.
	EndpointUnknown = "/"
)

// Options configures the fake.
type Options struct {
	// Sandbox configures the state machine behind the wire (latency, outages,
	// clock, payment methods). Its clock also expires idempotency keys.
	Sandbox sandbox.Options
	// EchoAuthorization makes every error message quote the request's
	// Authorization header, as a misbehaving proxy might, so tests can prove
	// that adapters mask the secret key.
	EchoAuthorization bool
}

// Request is what the fake recorded about one request.
type Request struct {
	Endpoint       string // one of the Endpoint constants
	Method         string
	Path           string
	Form           url.Values // body and query parameters
	Header         http.Header
	IdempotencyKey string
}

type faultKind int

const (
	faultNone faultKind = iota
	faultRateLimit
	faultServerError
	faultProxyError
	faultDropResponse
)

type fault struct {
	kind   faultKind
	status int
}

// Server is the fake Stripe API.
type Server struct {
	srv       *httptest.Server
	mux       *http.ServeMux
	sb        *sandbox.Gateway
	now       func() time.Time
	echoAuth  bool
	done      chan struct{} // closed by Close so held and dropped requests return
	closeOnce sync.Once

	// execMu serialises execution and rendering, so a response shows the state
	// its own call left, not a concurrent call's.
	execMu        sync.Mutex
	cancelReasons map[string]string // by intent id; guarded by execMu

	mu       sync.Mutex
	calls    map[string]int
	requests []Request
	faults   []fault
	keys     *keyStore
	held     chan struct{} // non-nil while Hold is on
	waiting  int
}

// New starts a fake and closes it when the test ends.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	now := opts.Sandbox.Now
	if now == nil {
		now = time.Now
	}
	s := &Server{
		mux:           http.NewServeMux(),
		sb:            sandbox.New(opts.Sandbox),
		now:           now,
		echoAuth:      opts.EchoAuthorization,
		done:          make(chan struct{}),
		cancelReasons: map[string]string{},
		calls:         map[string]int{},
		keys:          newKeyStore(),
	}
	s.routes()
	s.srv = httptest.NewServer(s)
	t.Cleanup(s.Close)
	return s
}

// URL is the fake's base URL; use it as the adapter's base URL.
func (s *Server) URL() string { return s.srv.URL }

// Sandbox is the state machine behind the wire, for assertions and outages
// (SetDown answers every call with a 503 api_error).
func (s *Server) Sandbox() *sandbox.Gateway { return s.sb }

// Close releases held requests and shuts the server down. It is registered
// with t.Cleanup; calling it earlier is fine.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.srv.Close()
	})
}

// RateLimitNext answers the next n authenticated calls with Stripe's 429
// rate_limit error, before they execute.
func (s *Server) RateLimitNext(n int) { s.queue(fault{kind: faultRateLimit}, n) }

// ServerErrorNext answers the next n authenticated calls with a 500 api_error,
// before they execute. (A real Stripe 500 raised during execution is saved
// under the idempotency key and replayed; these model failures in front of it.)
func (s *Server) ServerErrorNext(n int) { s.queue(fault{kind: faultServerError}, n) }

// ProxyErrorNext answers the next n authenticated calls with status and an
// HTML body, as a load balancer in front of Stripe would.
func (s *Server) ProxyErrorNext(n, status int) {
	s.queue(fault{kind: faultProxyError, status: status}, n)
}

// DropResponseNext lets the next n authenticated calls execute (and save their
// idempotent result) but never answers them: the handler waits until the
// client gives up. It models a response lost after Stripe acted.
func (s *Server) DropResponseNext(n int) { s.queue(fault{kind: faultDropResponse}, n) }

func (s *Server) queue(f fault, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, f)
	}
}

// Hold makes every following call wait just before it executes (its
// idempotency key already in flight) until release is called; Held tells how
// many are waiting. For tests of concurrent requests with one key.
func (s *Server) Hold() (release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := make(chan struct{})
	s.held = ch
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.held == ch {
				s.held = nil
			}
			close(ch)
		})
	}
}

// Held is how many calls are waiting because of Hold.
func (s *Server) Held() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waiting
}

// Calls is how many requests reached endpoint (every request counts, including
// refused and faulted ones).
func (s *Server) Calls(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[endpoint]
}

// TotalCalls is how many requests reached the fake.
func (s *Server) TotalCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		n += c
	}
	return n
}

// Requests returns every recorded request, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		out[i] = r.clone()
	}
	return out
}

// LastRequest is the most recent request to endpoint; false if none.
func (s *Server) LastRequest(endpoint string) (Request, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.requests) - 1; i >= 0; i-- {
		if s.requests[i].Endpoint == endpoint {
			return s.requests[i].clone(), true
		}
	}
	return Request{}, false
}

func (r Request) clone() Request {
	r.Form = url.Values(maps.Clone(map[string][]string(r.Form)))
	r.Header = r.Header.Clone()
	return r
}

func (s *Server) routes() {
	s.mux.HandleFunc(EndpointCreateCustomer, s.idempotent(s.createCustomer))
	s.mux.HandleFunc(EndpointAttachMethod, s.idempotent(s.attachPaymentMethod))
	s.mux.HandleFunc(EndpointCreateIntent, s.idempotent(s.createIntent))
	s.mux.HandleFunc(EndpointRetrieveIntent, s.plain(s.retrieveIntent))
	s.mux.HandleFunc(EndpointUpdateIntent, s.idempotent(s.updateIntent))
	s.mux.HandleFunc(EndpointCaptureIntent, s.idempotent(s.captureIntent))
	s.mux.HandleFunc(EndpointCancelIntent, s.idempotent(s.cancelIntent))
	s.mux.HandleFunc(EndpointIncrementAuthorise, s.idempotent(s.incrementAuthorization))
	s.mux.HandleFunc(EndpointCreateRefund, s.idempotent(s.createRefund))
	s.mux.HandleFunc(EndpointUnknown, func(w http.ResponseWriter, r *http.Request) {
		s.write(w, r, apiError(http.StatusNotFound, "invalid_request_error", "", "",
			fmt.Sprintf("Unrecognized request URL (%s: %s). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.", r.Method, r.URL.Path)))
	})
}

type ctxKey int

const (
	requestIDKey ctxKey = iota
	dropKey
)

// ServeHTTP counts and records the request, then authenticates it, applies a
// queued fault, and routes it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, endpoint := s.mux.Handler(r)
	reqID := newID("req_")
	w.Header().Set("Request-Id", reqID)
	if v := r.Header.Get("Stripe-Version"); v != "" {
		w.Header().Set("Stripe-Version", v)
	}
	ctx := context.WithValue(r.Context(), requestIDKey, reqID)
	r = r.WithContext(ctx)
	parseErr := r.ParseForm()
	s.record(r, endpoint)
	if parseErr != nil {
		s.write(w, r, invalid("", "", "Invalid request body: "+parseErr.Error()))
		return
	}
	if rep, ok := s.authenticate(r); !ok {
		s.write(w, r, rep)
		return
	}
	switch f := s.nextFault(); f.kind {
	case faultRateLimit:
		s.write(w, r, apiError(http.StatusTooManyRequests, "invalid_request_error", "rate_limit", "",
			"Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits."))
		return
	case faultServerError:
		s.write(w, r, apiError(http.StatusInternalServerError, "api_error", "", "",
			"An unknown error occurred. Please try again later."))
		return
	case faultProxyError:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(f.status)
		_, _ = fmt.Fprintf(w, "<html><body><h1>%d %s</h1></body></html>\n", f.status, http.StatusText(f.status))
		return
	case faultDropResponse:
		r = r.WithContext(context.WithValue(r.Context(), dropKey, true))
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) record(r *http.Request, endpoint string) {
	rec := Request{
		Endpoint:       endpoint,
		Method:         r.Method,
		Path:           r.URL.Path,
		Form:           url.Values(maps.Clone(map[string][]string(r.Form))),
		Header:         r.Header.Clone(),
		IdempotencyKey: r.Header.Get("Idempotency-Key"),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[endpoint]++
	s.requests = append(s.requests, rec)
}

func (s *Server) nextFault() fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.faults) == 0 {
		return fault{}
	}
	f := s.faults[0]
	s.faults = s.faults[1:]
	return f
}

// authenticate accepts "Authorization: Bearer sk_test_..." only.
func (s *Server) authenticate(r *http.Request) (reply, bool) {
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	switch {
	case !ok || key == "":
		return apiError(http.StatusUnauthorized, "invalid_request_error", "", "",
			"You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."), false
	case !strings.HasPrefix(key, "sk_test_"):
		return apiError(http.StatusUnauthorized, "invalid_request_error", "", "",
			"Invalid API Key provided: "+maskKey(key)+" (the fake accepts test-mode secret keys only)"), false
	}
	return reply{}, true
}

// maskKey shows a key the way Stripe does: its prefix and last four characters.
func maskKey(key string) string {
	if len(key) <= 12 {
		return strings.Repeat("*", len(key))
	}
	return key[:8] + strings.Repeat("*", len(key)-12) + key[len(key)-4:]
}

// call is one request as the endpoint handlers see it.
type call struct {
	r     *http.Request
	key   string // idempotency key passed to the sandbox
	reqID string
}

func (c *call) ctx() context.Context { return c.r.Context() }

// plain serves a GET: no idempotency.
func (s *Server) plain(h func(c *call) reply) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.write(w, r, s.execute(r.Context(), h, s.newCall(r, "")))
	}
}

// idempotent serves a POST with Stripe's idempotency: the first request with a
// key executes and its status and body are saved (unless it failed before
// executing); a retry with the same key and parameters gets them back with
// Idempotent-Replayed: true; other parameters get an idempotency_error; a retry
// while the first still executes gets 409 idempotency_key_in_use.
func (s *Server) idempotent(h func(c *call) reply) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimSpace(r.Header.Get("Idempotency-Key"))
		if len(key) > 255 {
			s.write(w, r, invalid("", "", "Idempotency-Key must be at most 255 characters long."))
			return
		}
		if key == "" {
			// Stripe executes keyless requests without saving anything; the
			// sandbox still wants a key, so make up one that is never reused.
			s.write(w, r, s.execute(r.Context(), h, s.newCall(r, newID("stripefake_"))))
			return
		}
		w.Header().Set("Idempotency-Key", key)
		scope := r.Header.Get("Authorization") + "\x00" + key
		fp := r.Method + " " + r.URL.Path + "\x00" + r.Form.Encode()

		s.mu.Lock()
		if e, ok := s.keys.get(scope, s.now()); ok {
			s.mu.Unlock()
			switch {
			case e.inFlight:
				s.write(w, r, apiError(http.StatusConflict, "invalid_request_error", "idempotency_key_in_use", "",
					fmt.Sprintf("There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through): %s. Please try again later.", key)))
			case e.fingerprint != fp:
				s.write(w, r, apiError(http.StatusBadRequest, "idempotency_error", "", "",
					fmt.Sprintf("Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '%s' if you meant to execute a different request.", key)))
			default:
				w.Header().Set("Idempotent-Replayed", "true")
				w.Header().Set("Original-Request", e.requestID)
				writeRaw(w, e.status, e.body)
			}
			return
		}
		s.keys.begin(scope, fp)
		s.mu.Unlock()

		c := s.newCall(r, key)
		rep := s.execute(r.Context(), h, c)
		body := encode(s.echo(r, rep.body))
		s.mu.Lock()
		if rep.unsaved {
			s.keys.abort(scope)
		} else {
			s.keys.save(scope, rep.status, body, c.reqID, s.now())
		}
		s.mu.Unlock()
		s.finishRaw(w, r, rep.status, body)
	}
}

func (s *Server) newCall(r *http.Request, key string) *call {
	reqID, _ := r.Context().Value(requestIDKey).(string)
	return &call{r: r, key: key, reqID: reqID}
}

// execute runs a handler after any Hold, one at a time.
func (s *Server) execute(ctx context.Context, h func(c *call) reply, c *call) reply {
	if !s.waitHold(ctx) {
		return apiError(http.StatusServiceUnavailable, "api_error", "", "", "The request was abandoned while held.")
	}
	s.execMu.Lock()
	defer s.execMu.Unlock()
	return h(c)
}

func (s *Server) waitHold(ctx context.Context) bool {
	s.mu.Lock()
	held := s.held
	if held != nil {
		s.waiting++
	}
	s.mu.Unlock()
	if held == nil {
		return true
	}
	defer func() {
		s.mu.Lock()
		s.waiting--
		s.mu.Unlock()
	}()
	select {
	case <-held:
		return true
	case <-ctx.Done():
		return false
	case <-s.done:
		return false
	}
}

func (s *Server) write(w http.ResponseWriter, r *http.Request, rep reply) {
	s.finishRaw(w, r, rep.status, encode(s.echo(r, rep.body)))
}

// finishRaw writes the response, or, for a dropped response, waits until the
// client gives up (or the fake closes) and writes nothing.
func (s *Server) finishRaw(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	if drop, _ := r.Context().Value(dropKey).(bool); drop {
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
		return
	}
	writeRaw(w, status, body)
}

// echo appends the Authorization header to error messages when EchoAuthorization is on.
func (s *Server) echo(r *http.Request, body any) any {
	eb, ok := body.(errorBody)
	if !ok || !s.echoAuth {
		return body
	}
	eb.Error.Message += " (Authorization: " + r.Header.Get("Authorization") + ")"
	return eb
}

func writeRaw(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// encode renders a body the way Stripe does: indented JSON.
func encode(body any) []byte {
	b, err := json.MarshalIndent(body, "", "  ")
	if err != nil {
		// Only the fake's own plain structs are encoded; a failure is a bug here.
		b, _ = json.Marshal(errorBody{Error: errorJSON{Type: "api_error", Message: "stripefake: encode: " + err.Error()}})
	}
	return append(b, '\n')
}

// keyStore holds the fake's HTTP-level idempotency keys; Server.mu guards it.
type keyStore struct {
	entries map[string]*keyEntry
}

type keyEntry struct {
	fingerprint string
	inFlight    bool
	savedAt     time.Time
	status      int
	body        []byte
	requestID   string
}

func newKeyStore() *keyStore { return &keyStore{entries: map[string]*keyEntry{}} }

func (k *keyStore) get(scope string, now time.Time) (*keyEntry, bool) {
	e, ok := k.entries[scope]
	if ok && !e.inFlight && now.Sub(e.savedAt) >= sandbox.KeyTTL {
		delete(k.entries, scope)
		return nil, false
	}
	return e, ok
}

func (k *keyStore) begin(scope, fp string) {
	k.entries[scope] = &keyEntry{fingerprint: fp, inFlight: true}
}

func (k *keyStore) abort(scope string) { delete(k.entries, scope) }

func (k *keyStore) save(scope string, status int, body []byte, reqID string, now time.Time) {
	if e, ok := k.entries[scope]; ok {
		e.inFlight, e.status, e.body, e.requestID, e.savedAt = false, status, slices.Clone(body), reqID, now
	}
}

func newID(prefix string) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 14)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return prefix + string(b)
}
