package upstream_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mobilitycorp/platform/services/maps-proxy/internal/adapters/upstream"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/domain"
)

// secret has characters that query- and path-escape differently, so masking
// must catch every form.
const secret = "AIzaSyTest/key+4711=secret"

func providerError(t *testing.T, err error) *domain.ProviderError {
	t.Helper()
	var pe *domain.ProviderError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v (%T), want *domain.ProviderError", err, err)
	}
	return pe
}

// hangingServer answers only when the client gives up.
func hangingServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	return srv
}

// testContext is newCtx() when given, else a context that only the test cancels.
func testContext(newCtx func() (context.Context, context.CancelFunc)) (context.Context, context.CancelFunc) {
	if newCtx != nil {
		return newCtx()
	}
	return context.WithCancel(context.Background())
}

// deadURL is the address of a server that no longer listens.
func deadURL() string {
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	return dead.URL
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		in   string
		want time.Duration
	}{
		{"absent", "", 0},
		{"seconds", "120", 120 * time.Second},
		{"seconds with spaces", " 7 ", 7 * time.Second},
		{"zero", "0", 0},
		{"negative", "-5", 0},
		{"garbage", "soon", 0},
		{"http-date ahead", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"http-date past", now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"capped seconds", "99999999999", upstream.MaxRetryAfter},
		{"capped date", now.Add(48 * time.Hour).Format(http.TimeFormat), upstream.MaxRetryAfter},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := upstream.ParseRetryAfter(tc.in, now); got != tc.want {
				t.Fatalf("ParseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

// HTTP error statuses are answers for the adapter to read, not errors.
func TestGetReturnsAnswersOfAnyStatus(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept") != "application/json" || r.Header.Get("User-Agent") != "test-agent/1.0" {
			http.Error(w, "wrong headers", http.StatusTeapot)
			return
		}
		w.Header().Set("Retry-After", "3")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"error":"busy"}`)
	}))
	t.Cleanup(srv.Close)
	c := &upstream.Caller{Provider: "p", HTTP: &http.Client{}, UserAgent: "test-agent/1.0"}

	r, err := c.Get(context.Background(), "ep", srv.URL)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if r.Status != http.StatusServiceUnavailable || string(r.Body) != `{"error":"busy"}` || r.Header.Get("Retry-After") != "3" {
		t.Fatalf("got %d %q %v", r.Status, r.Body, r.Header)
	}
}

func TestGetCapsTheBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		size int
		ok   bool
	}{
		{"at the cap", upstream.MaxBodyBytes, true},
		{"one byte over", upstream.MaxBodyBytes + 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := &upstream.Caller{Provider: "p", HTTP: &http.Client{Transport: &fakeTransport{size: tc.size}}}
			r, err := c.Get(context.Background(), "ep", "http://upstream.test/x")
			if tc.ok {
				if err != nil || len(r.Body) != tc.size {
					t.Fatalf("got %d bytes, err %v; want %d bytes", len(r.Body), err, tc.size)
				}
				return
			}
			pe := providerError(t, err)
			if pe.Kind != domain.KindMalformed || pe.Provider != "p" || pe.Status != http.StatusOK {
				t.Fatalf("got %q from %q status %d (%v)", pe.Kind, pe.Provider, pe.Status, pe)
			}
			if want := fmt.Sprintf("ep: response body exceeds %d bytes", upstream.MaxBodyBytes); !strings.Contains(err.Error(), want) {
				t.Fatalf("err %v does not blame the size cap", err)
			}
		})
	}
}

// Every body is closed; what the cap left unread is drained up to DrainLimit so
// the connection can be reused, but an endless stream is not read to its end.
func TestGetDrainsAndCloses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		size    int
		wantEOF bool
	}{
		{"small answer", 10, true},
		{"oversized within the drain limit", upstream.MaxBodyBytes + upstream.DrainLimit, true},
		{"oversized beyond the drain limit", upstream.MaxBodyBytes + 1 + 2*upstream.DrainLimit, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tr := &fakeTransport{size: tc.size}
			c := &upstream.Caller{Provider: "p", HTTP: &http.Client{Transport: tr}}
			_, _ = c.Get(context.Background(), "ep", "http://upstream.test/x")
			b := tr.body
			if b == nil || !b.closed {
				t.Fatal("body not closed")
			}
			if b.eof != tc.wantEOF {
				t.Fatalf("read to EOF = %v, want %v", b.eof, tc.wantEOF)
			}
			if limit := int64(upstream.MaxBodyBytes + 1 + upstream.DrainLimit); b.read > limit {
				t.Fatalf("read %d bytes, more than cap plus drain limit %d", b.read, limit)
			}
		})
	}
}

func TestGetClassifiesTransportErrors(t *testing.T) {
	t.Parallel()
	hanging := hangingServer(t)
	tests := []struct {
		name   string
		url    string
		client *http.Client
		ctx    func() (context.Context, context.CancelFunc)
		kind   domain.ErrorKind
		is     error
	}{
		{name: "connection refused", url: deadURL(), client: &http.Client{}, kind: domain.KindUnavailable},
		{
			name: "context deadline", url: hanging.URL, client: &http.Client{},
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 50*time.Millisecond)
			},
			kind: domain.KindTimeout, is: context.DeadlineExceeded,
		},
		{name: "client timeout", url: hanging.URL, client: &http.Client{Timeout: 50 * time.Millisecond}, kind: domain.KindTimeout},
		{
			name: "caller cancels", url: hanging.URL, client: &http.Client{},
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(50*time.Millisecond, cancel)
				return ctx, cancel
			},
			kind: domain.KindTimeout, is: context.Canceled,
		},
		{
			name: "body breaks off", url: "http://upstream.test/x",
			client: &http.Client{Transport: &fakeTransport{size: 100, fail: io.ErrUnexpectedEOF}},
			kind:   domain.KindUnavailable, is: io.ErrUnexpectedEOF,
		},
		{name: "unbuildable request", url: "http://%zz/x", client: &http.Client{}, kind: domain.KindUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := testContext(tc.ctx)
			defer cancel()
			c := &upstream.Caller{Provider: "p", HTTP: tc.client}

			_, err := c.Get(ctx, "ep", tc.url)
			pe := providerError(t, err)
			if pe.Kind != tc.kind || pe.Provider != "p" || pe.Status != 0 {
				t.Fatalf("got %q from %q status %d (%v), want %q", pe.Kind, pe.Provider, pe.Status, err, tc.kind)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("%v does not wrap %v", err, tc.is)
			}
			if !strings.HasPrefix(pe.Err.Error(), "ep: ") {
				t.Fatalf("error does not name the endpoint: %v", err)
			}
			// The URL is noise here and a secret elsewhere.
			if strings.Contains(err.Error(), tc.url) {
				t.Fatalf("error repeats the URL: %v", err)
			}
			var ue *url.Error
			if errors.As(err, &ue) {
				t.Fatalf("*url.Error left in the chain: %v", err)
			}
		})
	}
}

// Without a secret the cause stays reachable for errors.As.
func TestGetKeepsTheCauseWithoutSecret(t *testing.T) {
	t.Parallel()
	c := &upstream.Caller{Provider: "p", HTTP: &http.Client{}}
	_, err := c.Get(context.Background(), "ep", deadURL())
	var oe *net.OpError
	if !errors.As(err, &oe) {
		t.Fatalf("%v: *net.OpError not reachable", err)
	}
}

// assertNoSecret checks every rendering of err and of each error in its chain.
func assertNoSecret(t *testing.T, err error) {
	t.Helper()
	forms := []string{secret, url.QueryEscape(secret), url.PathEscape(secret)}
	for e := err; e != nil; e = errors.Unwrap(e) {
		for _, s := range []string{e.Error(), fmt.Sprintf("%v", e), fmt.Sprintf("%+v", e), fmt.Sprintf("%#v", e)} {
			for _, f := range forms {
				if strings.Contains(s, f) {
					t.Fatalf("secret %q leaked in %q", f, s)
				}
			}
		}
	}
}

func TestGetMasksTheSecret(t *testing.T) {
	t.Parallel()
	hanging := hangingServer(t)
	// A redirect whose Location cannot be parsed: net/http quotes the Location,
	// secret and all, inside the error it returns.
	badRedirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "http://%zz/maps?key="+r.URL.Query().Get("key"))
		w.WriteHeader(http.StatusFound)
	}))
	t.Cleanup(badRedirect.Close)
	query := "?key=" + url.QueryEscape(secret)

	tests := []struct {
		name string
		url  string
		ctx  func() (context.Context, context.CancelFunc)
		kind domain.ErrorKind
		is   error
	}{
		{name: "connection refused", url: deadURL() + query, kind: domain.KindUnavailable},
		{name: "unparsable redirect", url: badRedirect.URL + query, kind: domain.KindUnavailable},
		{name: "unbuildable request", url: "http://%zz/" + url.PathEscape(secret) + query, kind: domain.KindUnavailable},
		{
			name: "context deadline", url: hanging.URL + query,
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 50*time.Millisecond)
			},
			kind: domain.KindTimeout, is: context.DeadlineExceeded,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := testContext(tc.ctx)
			defer cancel()
			c := &upstream.Caller{Provider: "p", HTTP: &http.Client{}, Secret: secret}

			_, err := c.Get(ctx, "ep", tc.url)
			if pe := providerError(t, err); pe.Kind != tc.kind {
				t.Fatalf("got %q (%v), want %q", pe.Kind, err, tc.kind)
			}
			// errors.Is still sees the cause although the chain stops at the mask.
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("%v does not wrap %v", err, tc.is)
			}
			assertNoSecret(t, err)
		})
	}
}

func TestMask(t *testing.T) {
	t.Parallel()
	in := fmt.Sprintf("key %s (%s) at /%s", secret, url.QueryEscape(secret), url.PathEscape(secret))
	masked := (&upstream.Caller{Secret: secret}).Mask(in)
	if want := "key [redacted] ([redacted]) at /[redacted]"; masked != want {
		t.Fatalf("Mask = %q, want %q", masked, want)
	}
	if got := (&upstream.Caller{}).Mask(in); got != in {
		t.Fatalf("Mask without secret = %q, want it unchanged", got)
	}
}

func TestStatusError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status     int
		retryAfter string
		kind       domain.ErrorKind
		wantRetry  time.Duration
	}{
		{http.StatusTooManyRequests, "30", domain.KindRateLimited, 30 * time.Second},
		{http.StatusServiceUnavailable, "7", domain.KindUnavailable, 7 * time.Second},
		{http.StatusInternalServerError, "", domain.KindUnavailable, 0},
		{http.StatusUnauthorized, "30", domain.KindDenied, 0},
		{http.StatusForbidden, "", domain.KindDenied, 0},
		{http.StatusNotFound, "", domain.KindInvalidQuery, 0},
		{http.StatusBadRequest, "", domain.KindInvalidQuery, 0},
		{http.StatusFound, "", domain.KindMalformed, 0},
		{http.StatusOK, "", domain.KindMalformed, 0},
	}
	c := &upstream.Caller{Provider: "p"}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("HTTP %d", tc.status), func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			if tc.retryAfter != "" {
				h.Set("Retry-After", tc.retryAfter)
			}
			pe := c.StatusError("ep", upstream.Response{Status: tc.status, Header: h})
			if pe.Kind != tc.kind || pe.Provider != "p" || pe.Status != tc.status || pe.Code != "" || pe.RetryAfter != tc.wantRetry {
				t.Fatalf("got %+v, want kind %q retry %v", pe, tc.kind, tc.wantRetry)
			}
			if want := fmt.Sprintf("ep: HTTP %d", tc.status); pe.Err.Error() != want {
				t.Fatalf("message %q, want %q", pe.Err, want)
			}
		})
	}
}

func TestFail(t *testing.T) {
	t.Parallel()
	cause := errors.New("boom")
	pe := (&upstream.Caller{Provider: "p"}).Fail(domain.KindNoRoute, 200, "NoRoute", cause)
	want := domain.ProviderError{Provider: "p", Kind: domain.KindNoRoute, Status: 200, Code: "NoRoute", Err: cause}
	if *pe != want {
		t.Fatalf("got %+v, want %+v", *pe, want)
	}
}

// fakeTransport answers every request with a 200 whose body has size bytes,
// then fail (or EOF when fail is nil), and remembers the body.
type fakeTransport struct {
	size int
	fail error
	body *trackedBody
}

func (ft *fakeTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ft.body = &trackedBody{left: ft.size, fail: ft.fail}
	return &http.Response{
		StatusCode: http.StatusOK,
		Header:     http.Header{},
		Body:       ft.body,
		Request:    r,
	}, nil
}

type trackedBody struct {
	left   int
	fail   error
	read   int64
	eof    bool
	closed bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	if b.left == 0 {
		if b.fail != nil {
			return 0, b.fail
		}
		b.eof = true
		return 0, io.EOF
	}
	n := min(len(p), b.left)
	for i := range n {
		p[i] = 'x'
	}
	b.left -= n
	b.read += int64(n)
	return n, nil
}

func (b *trackedBody) Close() error {
	b.closed = true
	return nil
}
