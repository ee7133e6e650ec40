// Package providerfake holds wire-level fakes of the map providers the maps-proxy
// calls: OSRM, Nominatim and the Google Maps Platform web services. Each fake is an
// httptest.Server that answers in the provider's real JSON shape, computes its
// answers from the request (so tests can assert on values), counts requests per
// endpoint, records the last request, and can be switched into failure modes.
//
// The fakes are for tests only: adapter tests in this module and component tests
// of the use cases and HTTP ports.
package providerfake

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mobilitycorp/platform/services/maps-proxy/internal/domain"
)

type modeKind int

const (
	modeOK modeKind = iota
	modeTimeout
	modeRateLimited
	modeHTTPError
	modeMalformed
	modeNoRoute
	modeCode
)

// Mode is how a fake answers. Build one with the Mode* functions.
type Mode struct {
	kind       modeKind
	delay      time.Duration
	status     int
	retryAfter string
	code       string
	message    string
}

// ModeOK answers every request from the request itself (the default).
func ModeOK() Mode { return Mode{kind: modeOK} }

// ModeTimeout holds each request for d, then answers as ModeOK. With d <= 0 it
// holds the request until the client gives up or the fake is closed. The handler
// always returns when the client disconnects or the fake closes, so no goroutine
// outlives the test.
func ModeTimeout(d time.Duration) Mode { return Mode{kind: modeTimeout, delay: d} }

// ModeRateLimited answers as the provider does when it throttles: HTTP 429 for OSRM
// and Nominatim, a top-level OVER_QUERY_LIMIT for Google. retryAfter, when not
// empty, is sent verbatim as the Retry-After header (seconds or an HTTP-date).
func ModeRateLimited(retryAfter string) Mode {
	return Mode{kind: modeRateLimited, status: http.StatusTooManyRequests, retryAfter: retryAfter}
}

// ModeServerError answers HTTP 500 with a plain-text body.
func ModeServerError() Mode { return ModeHTTPError(http.StatusInternalServerError, "") }

// ModeHTTPError answers with the given HTTP status and a plain-text body, as a proxy
// or load balancer in front of the provider would; retryAfter as in ModeRateLimited.
func ModeHTTPError(status int, retryAfter string) Mode {
	return Mode{kind: modeHTTPError, status: status, retryAfter: retryAfter}
}

// ModeMalformed answers HTTP 200 with truncated JSON.
func ModeMalformed() Mode { return Mode{kind: modeMalformed} }

// ModeNoRoute answers "nothing found" the provider's way: OSRM HTTP 400 NoRoute;
// Google ZERO_RESULTS (directions, geocoding) or OK with every element
// ZERO_RESULTS (distance matrix); Nominatim an empty search array or
// {"error":"Unable to geocode"} for reverse.
func ModeNoRoute() Mode { return Mode{kind: modeNoRoute} }

// ModeCode answers with a provider error code: OSRM HTTP 400
// {"code":code,"message":message}; Google HTTP 200 with status code and
// error_message; Nominatim HTTP 400 {"error":{"code":400,"message":message}}
// (code is ignored: Nominatim has no symbolic codes).
func ModeCode(code, message string) Mode { return Mode{kind: modeCode, code: code, message: message} }

func (m Mode) String() string {
	switch m.kind {
	case modeOK:
		return "ok"
	case modeTimeout:
		return fmt.Sprintf("timeout(%s)", m.delay)
	case modeRateLimited:
		return fmt.Sprintf("rate-limited(%q)", m.retryAfter)
	case modeHTTPError:
		return fmt.Sprintf("http-error(%d)", m.status)
	case modeMalformed:
		return "malformed"
	case modeNoRoute:
		return "no-route"
	default:
		return fmt.Sprintf("code(%s)", m.code)
	}
}

// Request is what a fake recorded about a request.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
}

// dialect is what differs between providers; Server does the rest.
type dialect interface {
	// kind names the endpoint a request is for, e.g. "route"; "" if unknown.
	kind(r *http.Request) string
	// admit checks what the provider checks before anything else (key, User-Agent)
	// and answers itself when the request is refused.
	admit(w http.ResponseWriter, r *http.Request) bool
	ok(w http.ResponseWriter, r *http.Request, kind string)
	noRoute(w http.ResponseWriter, r *http.Request, kind string)
	code(w http.ResponseWriter, r *http.Request, kind string, m Mode)
	rateLimited(w http.ResponseWriter, r *http.Request, kind string, m Mode)
	malformed() string
}

// Server is the machinery every fake shares; OSRM, Nominatim and Google embed it.
type Server struct {
	srv       *httptest.Server
	d         dialect
	done      chan struct{} // closed by Close so held requests return
	closeOnce sync.Once
	calls     map[string]*atomic.Int64 // fixed at construction, so reads need no lock
	total     atomic.Int64
	inFlight  atomic.Int64

	mu          sync.Mutex
	mode        Mode
	queue       []Mode
	last        *Request
	unreachable map[string]bool // domain.LatLng.Key() of points no route reaches
}

// newServer builds the shared server; mk gets it before it starts listening so
// the dialect can keep a reference without a data race.
func newServer(t testing.TB, mk func(*Server) dialect, kinds ...string) *Server {
	t.Helper()
	s := &Server{
		done:        make(chan struct{}),
		calls:       make(map[string]*atomic.Int64, len(kinds)+1),
		mode:        ModeOK(),
		unreachable: map[string]bool{},
	}
	for _, k := range append(kinds, "") {
		s.calls[k] = new(atomic.Int64)
	}
	s.d = mk(s)
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	t.Cleanup(s.Close)
	return s
}

// URL is the fake's base URL, e.g. "http://127.0.0.1:41234"; use it as the adapter's BaseURL.
func (s *Server) URL() string { return s.srv.URL }

// SetMode changes how every following request is answered (after any queued modes).
func (s *Server) SetMode(m Mode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode = m
}

// QueueModes makes the next len(modes) requests use these modes, in order; later
// requests use the mode from SetMode. Handy for "fails once, then succeeds".
func (s *Server) QueueModes(modes ...Mode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, modes...)
}

// SetUnreachable marks points that no route reaches: routes touching one fail the
// provider's "no route" way and matrix cells to or from one are unreachable. Points
// match by domain.LatLng.Key (about 11 m).
func (s *Server) SetUnreachable(pts ...domain.LatLng) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range pts {
		s.unreachable[p.Key()] = true
	}
}

func (s *Server) isUnreachable(p domain.LatLng) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unreachable[p.Key()]
}

// Calls is how many requests reached the endpoint kind (every request counts, even
// refused ones). Kinds: OSRM "route", "table", "nearest"; Nominatim "search",
// "reverse"; Google "directions", "distancematrix", "geocode" (forward and reverse).
// "" counts requests to unknown paths.
func (s *Server) Calls(kind string) int {
	c, ok := s.calls[kind]
	if !ok {
		return 0
	}
	return int(c.Load())
}

// TotalCalls is how many requests reached the fake.
func (s *Server) TotalCalls() int { return int(s.total.Load()) }

// InFlight is how many requests the fake is handling right now.
func (s *Server) InFlight() int { return int(s.inFlight.Load()) }

// LastRequest is the most recent request; false if there was none.
func (s *Server) LastRequest() (Request, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		return Request{}, false
	}
	return *s.last, true
}

// LastQuery is the most recent request's query parameters (empty if none).
func (s *Server) LastQuery() url.Values {
	r, _ := s.LastRequest()
	if r.Query == nil {
		return url.Values{}
	}
	return r.Query
}

// Close releases held requests and shuts the server down, waiting for every handler
// to return. It is registered with t.Cleanup; calling it earlier is fine.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.srv.Close()
	})
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.inFlight.Add(1)
	defer s.inFlight.Add(-1)

	kind := s.d.kind(r)
	s.calls[kind].Add(1)
	s.total.Add(1)
	s.record(r)

	if !s.d.admit(w, r) {
		return
	}
	m := s.nextMode()
	switch m.kind {
	case modeTimeout:
		if !s.hold(r.Context(), m.delay) {
			// The client left (nobody reads this) or the fake is closing.
			http.Error(w, "fake closed", http.StatusServiceUnavailable)
			return
		}
		s.d.ok(w, r, kind)
	case modeRateLimited:
		s.d.rateLimited(w, r, kind, m)
	case modeHTTPError:
		writeHTTPError(w, m)
	case modeMalformed:
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(s.d.malformed()))
	case modeNoRoute:
		s.d.noRoute(w, r, kind)
	case modeCode:
		s.d.code(w, r, kind, m)
	default:
		s.d.ok(w, r, kind)
	}
}

func (s *Server) record(r *http.Request) {
	req := &Request{
		Method: r.Method,
		Path:   r.URL.Path,
		Query:  query(r),
		Header: r.Header.Clone(),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = req
}

func (s *Server) nextMode() Mode {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) > 0 {
		m := s.queue[0]
		s.queue = s.queue[1:]
		return m
	}
	return s.mode
}

// hold waits d (forever if d <= 0); false if the client left or the fake closed first.
func (s *Server) hold(ctx context.Context, d time.Duration) bool {
	var elapsed <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		elapsed = t.C
	}
	select {
	case <-elapsed:
		return true
	case <-ctx.Done():
		return false
	case <-s.done:
		return false
	}
}

// query parses the query string leniently: unlike url.ParseQuery it keeps pairs
// with a literal ';' (OSRM's documented list separator, e.g. sources=0;1).
func query(r *http.Request) url.Values {
	v := url.Values{}
	for _, pair := range strings.Split(r.URL.RawQuery, "&") {
		if pair == "" {
			continue
		}
		k, val, _ := strings.Cut(pair, "=")
		k, err1 := url.QueryUnescape(k)
		val, err2 := url.QueryUnescape(val)
		if err1 == nil && err2 == nil {
			v.Add(k, val)
		}
	}
	return v
}

func writeHTTPError(w http.ResponseWriter, m Mode) {
	if m.retryAfter != "" {
		w.Header().Set("Retry-After", m.retryAfter)
	}
	http.Error(w, http.StatusText(m.status), m.status)
}
