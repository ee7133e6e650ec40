package stripe_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mobilitycorp/platform/pkg/config"
	stripegw "github.com/mobilitycorp/platform/services/payments/internal/adapters/stripe"
	"github.com/mobilitycorp/platform/services/payments/internal/app"
)

// stripe-mock is Stripe's own mock server: it routes every endpoint of Stripe's
// OpenAPI spec and validates each request's path, method and parameters
// against it (a wrong endpoint is a 404, an unknown or ill-typed parameter a
// 400). It is stateless: answers are fixtures, with create parameters and path
// ids reflected into them. So these tests prove that every request the adapter
// makes is one Stripe's spec accepts, and that the adapter parses the answers;
// the state machine is covered against the sandbox and the wire fake.

const installHint = "install it with `make tools` (runs scripts/install-tools: " +
	"go install github.com/stripe/stripe-mock@<pinned version>) or point STRIPE_MOCK at the binary"

// stripeMockPath finds the stripe-mock binary: $STRIPE_MOCK (set by the
// Makefile), else where scripts/install-tools puts it, else $PATH. A missing
// binary fails the test: the acceptance criterion depends on it.
func stripeMockPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("STRIPE_MOCK"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("STRIPE_MOCK=%s: %v; %s", p, err, installHint)
		}
		return p
	}
	var candidates []string
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		candidates = append(candidates, filepath.Join(gobin, "stripe-mock"))
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gopath = strings.TrimSpace(string(out))
		}
	}
	if gopath == "" {
		if home, err := os.UserHomeDir(); err == nil {
			gopath = filepath.Join(home, "go")
		}
	}
	if gopath != "" {
		first, _, _ := strings.Cut(gopath, string(os.PathListSeparator))
		candidates = append(candidates, filepath.Join(first, "bin", "stripe-mock"))
	}
	for _, c := range candidates {
		if _, err := os.Stat(c); err == nil {
			return c
		}
	}
	if p, err := exec.LookPath("stripe-mock"); err == nil {
		return p
	}
	t.Fatalf("stripe-mock not found (STRIPE_MOCK unset; looked at %v and $PATH): %s", candidates, installHint)
	return ""
}

// listening matches stripe-mock's start-up line for HTTP.
var listening = regexp.MustCompile(`Listening for HTTP at address: (\S+)`)

// outputWatcher collects stripe-mock's output and hands over the HTTP address
// once it appears. exec.Cmd calls Write from one goroutine at a time when
// Stdout and Stderr are the same writer; the mutex guards reads from the test.
type outputWatcher struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	addr chan string // buffered, receives once
	sent bool
}

func (w *outputWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if m := listening.FindSubmatch(w.buf.Bytes()); m != nil && !w.sent {
		w.sent = true
		w.addr <- string(m[1])
	}
	return len(p), nil
}

func (w *outputWatcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// startStripeMock runs stripe-mock on a free port for the test's lifetime and
// returns its base URL. -http-port 0 lets it choose the port (and, unlike
// -http-addr, keeps it from also opening HTTPS on the fixed port 12112).
func startStripeMock(t *testing.T) string {
	t.Helper()
	bin := stripeMockPath(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-http-port", "0")
	out := &outputWatcher{addr: make(chan string, 1)}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v; %s", bin, err, installHint)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		<-exited
	})

	select {
	case addr := <-out.addr:
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatalf("stripe-mock address %q: %v", addr, err)
		}
		return "http://127.0.0.1:" + port
	case err := <-exited:
		exited <- err // for the cleanup
		t.Fatalf("stripe-mock exited before listening: %v\n%s", err, out)
	case <-time.After(30 * time.Second):
		t.Fatalf("stripe-mock did not report its HTTP address within 30s:\n%s", out)
	}
	return ""
}

// sentRequest is one request the adapter sent and the status stripe-mock answered.
type sentRequest struct {
	method, path   string
	params         url.Values // form body of a POST, query of a GET
	idempotencyKey string
	status         int
}

// requestLog is an http.RoundTripper that records what the adapter sends.
type requestLog struct {
	base http.RoundTripper
	mu   sync.Mutex
	reqs []sentRequest
}

func (l *requestLog) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := sentRequest{method: r.Method, path: r.URL.Path, params: r.URL.Query(), idempotencyKey: r.Header.Get("Idempotency-Key")}
	if r.Body != nil {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		_ = r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(body))
		if r.Method == http.MethodPost {
			if rec.params, err = url.ParseQuery(string(body)); err != nil {
				return nil, err
			}
		}
	}
	resp, err := l.base.RoundTrip(r)
	if resp != nil {
		rec.status = resp.StatusCode
	}
	l.mu.Lock()
	l.reqs = append(l.reqs, rec)
	l.mu.Unlock()
	return resp, err
}

func (l *requestLog) last(t *testing.T) sentRequest {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.reqs) == 0 {
		t.Fatal("the adapter sent no request")
	}
	return l.reqs[len(l.reqs)-1]
}

// TestStripeMock drives every Gateway method against stripe-mock: each request
// must go to the endpoint we mean with the parameters we mean (checked on the
// wire here) and be accepted by Stripe's spec (checked by stripe-mock: any 4xx
// fails the call), and each answer must parse into our types.
func TestStripeMock(t *testing.T) {
	base := startStripeMock(t)
	log := &requestLog{base: http.DefaultTransport}
	gw, err := stripegw.New(stripegw.Config{
		SecretKey:  config.Secret(testKey),
		BaseURL:    base,
		HTTPClient: &http.Client{Transport: log},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	// Ids flow from one step to the next as they would in production; stripe-mock
	// answers with fixture ids, and reflects path ids.
	var cus string
	var intent app.Intent

	steps := []struct {
		name   string
		call   func(t *testing.T) error
		method string
		path   func() string
		key    string            // wanted Idempotency-Key; "" for none
		want   map[string]string // parameters that must be sent as given
		absent []string          // parameters that must not be sent
	}{
		{
			name: "create customer",
			call: func(t *testing.T) (err error) {
				cus, err = gw.CreateCustomer(ctx, "mock-cus", "rider@example.com", "Ada Rider")
				if err == nil && !strings.HasPrefix(cus, "cus_") {
					t.Errorf("customer id %q, want cus_...", cus)
				}
				return err
			},
			method: http.MethodPost, path: func() string { return "/v1/customers" }, key: "mock-cus",
			want: map[string]string{"email": "rider@example.com", "name": "Ada Rider"},
		},
		{
			name:   "attach payment method",
			call:   func(*testing.T) error { return gw.AttachPaymentMethod(ctx, "mock-attach", cus, "pm_card_visa") },
			method: http.MethodPost, path: func() string { return "/v1/payment_methods/pm_card_visa/attach" }, key: "mock-attach",
			want: map[string]string{"customer": "{cus}"},
		},
		{
			name: "authorise with manual capture",
			call: func(t *testing.T) (err error) {
				intent, err = gw.Authorise(ctx, app.AuthoriseRequest{
					IdempotencyKey: "mock-auth", CustomerRef: cus, PaymentMethod: "pm_card_visa", Amount: eur(1234),
					Description: "Trip hold", Metadata: map[string]string{"trip_id": "trip-42"},
				})
				if err == nil && (!strings.HasPrefix(intent.ID, "pi_") || intent.Amount != eur(1234) || intent.Status == "") {
					t.Errorf("intent %+v, want pi_..., 12.34 EUR reflected and a status", intent)
				}
				return err
			},
			method: http.MethodPost, path: func() string { return "/v1/payment_intents" }, key: "mock-auth",
			want: map[string]string{
				"amount": "1234", "currency": "eur", "payment_method": "pm_card_visa", "customer": "{cus}",
				"capture_method": "manual", "confirm": "true", "off_session": "true",
				"payment_method_types[0]": "card", "description": "Trip hold", "metadata[trip_id]": "trip-42",
				"payment_method_options[card][request_incremental_authorization]": "if_available",
				"expand[0]": "latest_charge",
			},
		},
		{
			name: "increment authorisation",
			call: func(t *testing.T) error {
				in, err := gw.IncrementAuthorisation(ctx, "mock-inc", intent.ID, eur(1500))
				// stripe-mock does not reflect the path id on this endpoint.
				if err == nil && (!strings.HasPrefix(in.ID, "pi_") || in.Status == "") {
					t.Errorf("incremented intent %+v, want pi_... with a status", in)
				}
				return err
			},
			method: http.MethodPost, path: func() string { return "/v1/payment_intents/" + intent.ID + "/increment_authorization" },
			key: "mock-inc", want: map[string]string{"amount": "1500", "expand[0]": "latest_charge"},
		},
		{
			name: "capture with amount_to_capture",
			call: func(t *testing.T) error {
				in, err := gw.Capture(ctx, "mock-capture", intent.ID, eur(700))
				if err == nil && in.ID != intent.ID {
					t.Errorf("captured intent %q, want %q", in.ID, intent.ID)
				}
				return err
			},
			method: http.MethodPost, path: func() string { return "/v1/payment_intents/" + intent.ID + "/capture" },
			key: "mock-capture", want: map[string]string{"amount_to_capture": "700", "expand[0]": "latest_charge"},
			absent: []string{"amount", "currency"},
		},
		{
			name: "cancel",
			call: func(t *testing.T) error {
				in, err := gw.Cancel(ctx, "mock-cancel", intent.ID)
				if err == nil && in.ID != intent.ID {
					t.Errorf("canceled intent %q, want %q", in.ID, intent.ID)
				}
				return err
			},
			method: http.MethodPost, path: func() string { return "/v1/payment_intents/" + intent.ID + "/cancel" },
			key: "mock-cancel", want: map[string]string{"expand[0]": "latest_charge"}, absent: []string{"amount", "cancellation_reason"},
		},
		{
			name: "refund with a Stripe reason",
			call: func(t *testing.T) error {
				ref, err := gw.Refund(ctx, "mock-refund-1", intent.ID, eur(250), "requested_by_customer")
				// The amount is reflected; the currency is the fixture's (we send none).
				if err == nil && (!strings.HasPrefix(ref.ID, "re_") || ref.Amount.AmountMinor != 250) {
					t.Errorf("refund %+v, want re_... for 250 reflected", ref)
				}
				return err
			},
			method: http.MethodPost, path: func() string { return "/v1/refunds" }, key: "mock-refund-1",
			want:   map[string]string{"payment_intent": "{pi}", "amount": "250", "reason": "requested_by_customer"},
			absent: []string{"metadata[reason]"},
		},
		{
			name: "refund with our own reason",
			call: func(*testing.T) error {
				_, err := gw.Refund(ctx, "mock-refund-2", intent.ID, eur(250), "trip_overcharged")
				return err
			},
			method: http.MethodPost, path: func() string { return "/v1/refunds" }, key: "mock-refund-2",
			want:   map[string]string{"payment_intent": "{pi}", "amount": "250", "metadata[reason]": "trip_overcharged"},
			absent: []string{"reason"},
		},
		{
			name: "get intent with the latest charge expanded",
			call: func(t *testing.T) error {
				in, err := gw.GetIntent(ctx, intent.ID)
				if err == nil && (in.ID != intent.ID || in.Status == "" || in.AmountRefunded < 0) {
					t.Errorf("intent %+v, want %s with a status", in, intent.ID)
				}
				return err
			},
			method: http.MethodGet, path: func() string { return "/v1/payment_intents/" + intent.ID },
			want: map[string]string{"expand[0]": "latest_charge"},
		},
	}
	for _, s := range steps {
		// Steps depend on each other's ids: stop at the first failure.
		ok := t.Run(s.name, func(t *testing.T) {
			if err := s.call(t); err != nil {
				t.Fatalf("stripe-mock refused the call: %v", err)
			}
			req := log.last(t)
			if req.status != http.StatusOK {
				t.Errorf("status %d, want 200", req.status)
			}
			if req.method != s.method || req.path != s.path() {
				t.Errorf("request %s %s, want %s %s", req.method, req.path, s.method, s.path())
			}
			if req.idempotencyKey != s.key {
				t.Errorf("Idempotency-Key %q, want %q", req.idempotencyKey, s.key)
			}
			for name, want := range s.want {
				want = strings.NewReplacer("{cus}", cus, "{pi}", intent.ID).Replace(want)
				if got := req.params.Get(name); got != want {
					t.Errorf("%s = %q, want %q (sent %v)", name, got, want, req.params)
				}
			}
			for _, name := range s.absent {
				if _, sent := req.params[name]; sent {
					t.Errorf("%s sent, want absent", name)
				}
			}
		})
		if !ok {
			break
		}
	}
}

// TestStripeMockValidates proves the validation the test above relies on is
// active: requests one mistake away from the adapter's are refused.
func TestStripeMockValidates(t *testing.T) {
	base := startStripeMock(t)
	tests := []struct {
		name       string
		path       string
		form       url.Values
		wantStatus int
	}{
		{"misspelt endpoint", "/v1/payment_intents/pi_123/increment_authorisation", url.Values{"amount": {"1500"}}, http.StatusNotFound},
		{"unknown parameter", "/v1/payment_intents/pi_123/capture", url.Values{"capture_amount": {"700"}}, http.StatusBadRequest},
		{"ill-typed parameter", "/v1/payment_intents/pi_123/capture", url.Values{"amount_to_capture": {"7.00"}}, http.StatusBadRequest},
		{"value outside the enum", "/v1/payment_intents", url.Values{
			"amount": {"1000"}, "currency": {"eur"}, "capture_method": {"later"},
		}, http.StatusBadRequest},
		{"the same request, correct", "/v1/payment_intents", url.Values{
			"amount": {"1000"}, "currency": {"eur"}, "capture_method": {"manual"},
		}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, base+tt.path, strings.NewReader(tt.form.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+testKey)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if err != nil && !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantStatus >= 400 && !bytes.Contains(body, []byte(`"invalid_request_error"`)) {
				t.Errorf("refusal is not a Stripe error object: %s", body)
			}
		})
	}
}
