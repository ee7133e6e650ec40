package stripe_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mobilitycorp/platform/pkg/config"
	"github.com/mobilitycorp/platform/services/payments/internal/adapters/sandbox/gatewaytest"
	stripegw "github.com/mobilitycorp/platform/services/payments/internal/adapters/stripe"
	"github.com/mobilitycorp/platform/services/payments/internal/adapters/stripefake"
	"github.com/mobilitycorp/platform/services/payments/internal/app"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

func eur(minor int64) domain.Money { return domain.Money{AmountMinor: minor, Currency: "EUR"} }

// fixture is a fake with one customer holding pm_card_visa.
type fixture struct {
	fake *stripefake.Server
	gw   *stripegw.Gateway
	cus  string
}

func newFixture(t *testing.T, opts stripefake.Options) fixture {
	t.Helper()
	fake := stripefake.New(t, opts)
	gw := newGateway(t, fake.URL())
	cus, err := gw.CreateCustomer(t.Context(), "cus", "rider@example.com", "Ada Rider")
	if err != nil {
		t.Fatalf("CreateCustomer: %v", err)
	}
	return fixture{fake: fake, gw: gw, cus: cus}
}

func (f fixture) authorise(t *testing.T, key, pm string, amount int64) (app.Intent, error) {
	t.Helper()
	return f.gw.Authorise(t.Context(), app.AuthoriseRequest{
		IdempotencyKey: key, CustomerRef: f.cus, PaymentMethod: pm, Amount: eur(amount),
		Description: "Trip hold", Metadata: map[string]string{"trip_id": "trip-42"},
	})
}

func (f fixture) authorised(t *testing.T) app.Intent {
	t.Helper()
	in, err := f.authorise(t, "auth", "pm_card_visa", 1000)
	if err != nil {
		t.Fatalf("Authorise: %v", err)
	}
	return in
}

// TestWireRequests checks the endpoint and form parameters of every call, and
// that each POST carries the caller's idempotency key and the GET none.
func TestWireRequests(t *testing.T) {
	tests := []struct {
		name     string
		call     func(t *testing.T, f fixture, in app.Intent) error
		endpoint string
		path     func(in app.Intent, cus string) string
		key      string
		want     map[string]string // form parameters that must be sent as given
		absent   []string          // form parameters that must not be sent
	}{
		{
			name: "authorise",
			call: func(t *testing.T, f fixture, _ app.Intent) error {
				_, err := f.authorise(t, "auth-2", "pm_card_visa", 1234)
				return err
			},
			endpoint: stripefake.EndpointCreateIntent,
			path:     func(app.Intent, string) string { return "/v1/payment_intents" },
			key:      "auth-2",
			want: map[string]string{
				"amount": "1234", "currency": "eur", "payment_method": "pm_card_visa",
				"capture_method": "manual", "confirm": "true", "off_session": "true",
				"description": "Trip hold", "metadata[trip_id]": "trip-42",
				"payment_method_options[card][request_incremental_authorization]": "if_available",
				"payment_method_types[0]": "card", "expand[0]": "latest_charge",
			},
		},
		{
			name: "capture",
			call: func(t *testing.T, f fixture, in app.Intent) error {
				_, err := f.gw.Capture(t.Context(), "cap-1", in.ID, eur(700))
				return err
			},
			endpoint: stripefake.EndpointCaptureIntent,
			path:     func(in app.Intent, _ string) string { return "/v1/payment_intents/" + in.ID + "/capture" },
			key:      "cap-1",
			want:     map[string]string{"amount_to_capture": "700", "expand[0]": "latest_charge"},
		},
		{
			name: "cancel",
			call: func(t *testing.T, f fixture, in app.Intent) error {
				_, err := f.gw.Cancel(t.Context(), "cancel-1", in.ID)
				return err
			},
			endpoint: stripefake.EndpointCancelIntent,
			path:     func(in app.Intent, _ string) string { return "/v1/payment_intents/" + in.ID + "/cancel" },
			key:      "cancel-1",
			want:     map[string]string{"expand[0]": "latest_charge"},
			absent:   []string{"amount", "cancellation_reason"},
		},
		{
			name: "increment authorisation",
			call: func(t *testing.T, f fixture, in app.Intent) error {
				_, err := f.gw.IncrementAuthorisation(t.Context(), "inc-1", in.ID, eur(1500))
				return err
			},
			endpoint: stripefake.EndpointIncrementAuthorise,
			path: func(in app.Intent, _ string) string {
				return "/v1/payment_intents/" + in.ID + "/increment_authorization"
			},
			key:  "inc-1",
			want: map[string]string{"amount": "1500"},
		},
		{
			name: "refund with a Stripe reason",
			call: func(t *testing.T, f fixture, in app.Intent) error {
				if _, err := f.gw.Capture(t.Context(), "cap", in.ID, eur(1000)); err != nil {
					return err
				}
				_, err := f.gw.Refund(t.Context(), "ref-1", in.ID, eur(250), "requested_by_customer")
				return err
			},
			endpoint: stripefake.EndpointCreateRefund,
			path:     func(app.Intent, string) string { return "/v1/refunds" },
			key:      "ref-1",
			want:     map[string]string{"amount": "250", "reason": "requested_by_customer"},
			absent:   []string{"metadata[reason]"},
		},
		{
			name: "refund with our own reason",
			call: func(t *testing.T, f fixture, in app.Intent) error {
				if _, err := f.gw.Capture(t.Context(), "cap", in.ID, eur(1000)); err != nil {
					return err
				}
				_, err := f.gw.Refund(t.Context(), "ref-2", in.ID, eur(250), "trip_overcharged")
				return err
			},
			endpoint: stripefake.EndpointCreateRefund,
			path:     func(app.Intent, string) string { return "/v1/refunds" },
			key:      "ref-2",
			want:     map[string]string{"amount": "250", "metadata[reason]": "trip_overcharged"},
			absent:   []string{"reason"},
		},
		{
			name: "create customer",
			call: func(t *testing.T, f fixture, _ app.Intent) error {
				_, err := f.gw.CreateCustomer(t.Context(), "cus-2", "b@example.com", "Bo")
				return err
			},
			endpoint: stripefake.EndpointCreateCustomer,
			path:     func(app.Intent, string) string { return "/v1/customers" },
			key:      "cus-2",
			want:     map[string]string{"email": "b@example.com", "name": "Bo"},
		},
		{
			name: "attach payment method",
			call: func(t *testing.T, f fixture, _ app.Intent) error {
				return f.gw.AttachPaymentMethod(t.Context(), "att-1", f.cus, "pm_card_mastercard")
			},
			endpoint: stripefake.EndpointAttachMethod,
			path:     func(app.Intent, string) string { return "/v1/payment_methods/pm_card_mastercard/attach" },
			key:      "att-1",
			want:     map[string]string{"customer": "{cus}"},
		},
		{
			name: "get intent",
			call: func(t *testing.T, f fixture, in app.Intent) error {
				_, err := f.gw.GetIntent(t.Context(), in.ID)
				return err
			},
			endpoint: stripefake.EndpointRetrieveIntent,
			path:     func(in app.Intent, _ string) string { return "/v1/payment_intents/" + in.ID },
			want:     map[string]string{"expand[0]": "latest_charge"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, stripefake.Options{})
			in := f.authorised(t)
			if err := tt.call(t, f, in); err != nil {
				t.Fatalf("call: %v", err)
			}
			req, ok := f.fake.LastRequest(tt.endpoint)
			if !ok {
				t.Fatalf("fake saw no %s", tt.endpoint)
			}
			if want := tt.path(in, f.cus); req.Path != want {
				t.Errorf("path %s, want %s", req.Path, want)
			}
			if req.IdempotencyKey != tt.key {
				t.Errorf("Idempotency-Key %q, want %q", req.IdempotencyKey, tt.key)
			}
			for name, want := range tt.want {
				want = strings.ReplaceAll(want, "{cus}", f.cus)
				if got := req.Form.Get(name); got != want {
					t.Errorf("%s = %q, want %q (form %v)", name, got, want, req.Form)
				}
			}
			for _, name := range tt.absent {
				if _, sent := req.Form[name]; sent {
					t.Errorf("%s sent, want absent", name)
				}
			}
			if got := req.Header.Get("Authorization"); got != "Bearer "+testKey {
				t.Errorf("Authorization header not the configured key")
			}
		})
	}
}

// TestEveryPostCarriesTheCallersKey runs a whole lifecycle and checks every
// request the fake saw: each POST with a key we chose, never one stripe-go made up.
func TestEveryPostCarriesTheCallersKey(t *testing.T) {
	f := newFixture(t, stripefake.Options{})
	ctx := t.Context()
	if err := f.gw.AttachPaymentMethod(ctx, "k-attach", f.cus, "pm_card_visa"); err != nil {
		t.Fatal(err)
	}
	in := f.authorised(t)
	steps := []func() error{
		func() error { _, err := f.gw.IncrementAuthorisation(ctx, "k-inc", in.ID, eur(1500)); return err },
		func() error { _, err := f.gw.Capture(ctx, "k-cap", in.ID, eur(1200)); return err },
		func() error { _, err := f.gw.Refund(ctx, "k-ref", in.ID, eur(200), ""); return err },
		func() error { _, err := f.gw.GetIntent(ctx, in.ID); return err },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	ours := map[string]bool{"cus": true, "k-attach": true, "auth": true, "k-inc": true, "k-cap": true, "k-ref": true}
	reqs := f.fake.Requests()
	if len(reqs) != 7 {
		t.Fatalf("fake saw %d requests, want 7", len(reqs))
	}
	for _, r := range reqs {
		switch r.Method {
		case http.MethodPost:
			if !ours[r.IdempotencyKey] {
				t.Errorf("%s %s with Idempotency-Key %q, not one of ours", r.Method, r.Path, r.IdempotencyKey)
			}
		case http.MethodGet:
			if r.IdempotencyKey != "" {
				t.Errorf("GET %s with Idempotency-Key %q", r.Path, r.IdempotencyKey)
			}
		}
	}
}

func TestIntentMapping(t *testing.T) {
	f := newFixture(t, stripefake.Options{})
	in := f.authorised(t)
	rec, ok := f.fake.Sandbox().Intent(in.ID)
	if !ok {
		t.Fatalf("fake's sandbox has no %s", in.ID)
	}
	if in != rec.Intent {
		t.Fatalf("adapter intent %+v, sandbox holds %+v", in, rec.Intent)
	}
	declined, err := f.authorise(t, "auth-declined", "pm_card_chargeDeclinedExpiredCard", 1000)
	gatewaytest.WantErr(t, "expired card", err, gatewaytest.Err{Kind: app.KindCardDeclined, Code: "expired_card", DeclineCode: "expired_card", Status: 402})
	rec, _ = f.fake.Sandbox().Intent(declined.ID)
	if declined != rec.Intent || declined.LastErrorCode != "expired_card" {
		t.Fatalf("declined intent from the error %+v, sandbox holds %+v", declined, rec.Intent)
	}
}

func TestErrorMapping(t *testing.T) {
	type want struct {
		err   gatewaytest.Err
		is    error // errors.Is target, optional
		calls int   // requests to the endpoint, 0 = not checked
	}
	tests := []struct {
		name  string
		setup func(f fixture)
		call  func(t *testing.T, f fixture) error
		want  want
	}{
		{
			name: "card_declined",
			call: func(t *testing.T, f fixture) error {
				_, err := f.authorise(t, "k", "pm_card_visa_chargeDeclined", 1000)
				return err
			},
			want: want{err: gatewaytest.Err{Kind: app.KindCardDeclined, Code: "card_declined", DeclineCode: "generic_decline", Status: 402}},
		},
		{
			name: "insufficient_funds",
			call: func(t *testing.T, f fixture) error {
				_, err := f.authorise(t, "k", "pm_card_chargeDeclinedInsufficientFunds", 1000)
				return err
			},
			want: want{err: gatewaytest.Err{Kind: app.KindInsufficientFunds, Code: "card_declined", DeclineCode: "insufficient_funds", Status: 402}},
		},
		{
			name: "authentication_required",
			call: func(t *testing.T, f fixture) error {
				_, err := f.authorise(t, "k", "pm_card_authenticationRequired", 1000)
				return err
			},
			want: want{err: gatewaytest.Err{Kind: app.KindAuthRequired, Code: "authentication_required", DeclineCode: "authentication_required", Status: 402}},
		},
		{
			name: "idempotency_error",
			call: func(t *testing.T, f fixture) error {
				if _, err := f.authorise(t, "k", "pm_card_visa", 1000); err != nil {
					return err
				}
				_, err := f.authorise(t, "k", "pm_card_visa", 2000)
				return err
			},
			want: want{err: gatewaytest.Err{Kind: app.KindIdempotency, Status: 400}},
		},
		{
			name:  "429 rate_limit, not retried by stripe-go",
			setup: func(f fixture) { f.fake.RateLimitNext(1) },
			call:  func(t *testing.T, f fixture) error { _, err := f.authorise(t, "k", "pm_card_visa", 1000); return err },
			want:  want{err: gatewaytest.Err{Kind: app.KindRateLimited, Code: "rate_limit", Status: 429}, calls: 1},
		},
		{
			name:  "500 api_error, not retried by stripe-go",
			setup: func(f fixture) { f.fake.ServerErrorNext(1) },
			call:  func(t *testing.T, f fixture) error { _, err := f.authorise(t, "k", "pm_card_visa", 1000); return err },
			want:  want{err: gatewaytest.Err{Kind: app.KindUnavailable, Status: 500}, calls: 1},
		},
		{
			name:  "proxy 502 with an HTML body",
			setup: func(f fixture) { f.fake.ProxyErrorNext(1, http.StatusBadGateway) },
			call:  func(t *testing.T, f fixture) error { _, err := f.authorise(t, "k", "pm_card_visa", 1000); return err },
			want:  want{err: gatewaytest.Err{Kind: app.KindUnavailable, Status: 502}, calls: 1},
		},
		{
			name:  "503 during a sandbox outage",
			setup: func(f fixture) { f.fake.Sandbox().SetDown(true) },
			call:  func(t *testing.T, f fixture) error { _, err := f.authorise(t, "k", "pm_card_visa", 1000); return err },
			want:  want{err: gatewaytest.Err{Kind: app.KindUnavailable, Status: 503}, calls: 1},
		},
		{
			name: "unknown intent is 404 resource_missing",
			call: func(t *testing.T, f fixture) error { _, err := f.gw.GetIntent(t.Context(), "pi_nope"); return err },
			want: want{err: gatewaytest.Err{Kind: app.KindInvalidRequest, Code: "resource_missing", Status: 404}},
		},
		{
			name: "capture above capturable",
			call: func(t *testing.T, f fixture) error {
				in := f.authorised(t)
				_, err := f.gw.Capture(t.Context(), "cap", in.ID, eur(5000))
				return err
			},
			want: want{err: gatewaytest.Err{Kind: app.KindInvalidRequest, Code: "amount_too_large", Status: 400}},
		},
		{
			name: "caller's context already cancelled",
			call: func(t *testing.T, f fixture) error {
				ctx, cancel := context.WithCancel(t.Context())
				cancel()
				_, err := f.gw.GetIntent(ctx, "pi_x")
				return err
			},
			want: want{err: gatewaytest.Err{Kind: app.KindUnavailable}, is: context.Canceled},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, stripefake.Options{})
			if tt.setup != nil {
				tt.setup(f)
			}
			err := tt.call(t, f)
			gatewaytest.WantErr(t, tt.name, err, tt.want.err)
			var ge *app.GatewayError
			errors.As(err, &ge)
			if tt.want.err.Status != 0 && !strings.HasPrefix(ge.RequestID, "req_") {
				t.Errorf("request id %q, want the fake's req_...", ge.RequestID)
			}
			if tt.want.is != nil && !errors.Is(err, tt.want.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.want.is)
			}
			if tt.want.calls != 0 {
				if n := f.fake.Calls(stripefake.EndpointCreateIntent); n != tt.want.calls {
					t.Errorf("fake saw %d create-intent calls, want %d (stripe-go must not retry)", n, tt.want.calls)
				}
			}
		})
	}
}

// TestInjectedFaultsAreRetryableWithTheSameKey: 429 and 500 happen before
// execution, so the operation queue's retry with the same key acts once.
func TestInjectedFaultsAreRetryableWithTheSameKey(t *testing.T) {
	f := newFixture(t, stripefake.Options{})
	f.fake.RateLimitNext(1)
	f.fake.ServerErrorNext(1)
	for i := range 2 {
		if _, err := f.authorise(t, "k", "pm_card_visa", 1000); !app.IsRetryable(err) {
			t.Fatalf("attempt %d: %v, want a retryable error", i, err)
		}
	}
	in, err := f.authorise(t, "k", "pm_card_visa", 1000)
	if err != nil || in.Status != app.StatusRequiresCapture {
		t.Fatalf("third attempt = %+v, %v; want an authorised intent", in, err)
	}
	if n := len(f.fake.Sandbox().Intents()); n != 1 {
		t.Fatalf("%d intents, want 1", n)
	}
}

// TestTimeoutAfterStripeActed: the capture executes but its response is lost;
// the adapter times out (retryable), and the retry with the same key gets the
// saved result: captured exactly once.
func TestTimeoutAfterStripeActed(t *testing.T) {
	fake := stripefake.New(t, stripefake.Options{})
	gw := newGateway(t, fake.URL())
	in, err := gw.Authorise(t.Context(), app.AuthoriseRequest{IdempotencyKey: "auth", PaymentMethod: "pm_card_visa", Amount: eur(1000)})
	if err != nil {
		t.Fatalf("Authorise: %v", err)
	}
	impatient, err := stripegw.New(stripegw.Config{SecretKey: config.Secret(testKey), BaseURL: fake.URL(), Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	fake.DropResponseNext(1)
	_, err = impatient.Capture(t.Context(), "cap", in.ID, eur(800))
	gatewaytest.WantErr(t, "capture with lost response", err, gatewaytest.Err{Kind: app.KindUnavailable})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v does not wrap context.DeadlineExceeded", err)
	}
	if n := fake.Sandbox().Captures(in.ID); n != 1 {
		t.Fatalf("captures after the lost response = %d, want 1 (Stripe acted)", n)
	}
	again, err := gw.Capture(t.Context(), "cap", in.ID, eur(800))
	if err != nil || again.Status != app.StatusSucceeded || again.AmountReceived != 800 {
		t.Fatalf("retry = %+v, %v; want the saved capture", again, err)
	}
	if n := fake.Sandbox().Captures(in.ID); n != 1 {
		t.Fatalf("captures after the retry = %d, want exactly 1", n)
	}
}

// TestKeyInUse: a retry while the first request still executes gets Stripe's
// 409, mapped to a retryable error; afterwards the key answers the saved result.
func TestKeyInUse(t *testing.T) {
	f := newFixture(t, stripefake.Options{})
	release := f.fake.Hold()
	var (
		wg    sync.WaitGroup
		first app.Intent
		err1  error
	)
	wg.Go(func() { first, err1 = f.authorise(t, "k", "pm_card_visa", 1000) })
	waitFor(t, func() bool { return f.fake.Held() == 1 })
	// The in-flight check comes before the hold, so this call is refused at once.
	_, err := f.authorise(t, "k", "pm_card_visa", 1000)
	gatewaytest.WantErr(t, "same key in flight", err, gatewaytest.Err{Kind: app.KindRateLimited, Code: "idempotency_key_in_use", Status: 409})
	release()
	wg.Wait()
	if err1 != nil {
		t.Fatalf("held call: %v", err1)
	}
	again, err := f.authorise(t, "k", "pm_card_visa", 1000)
	if err != nil || again.ID != first.ID {
		t.Fatalf("after release = %+v, %v; want the saved intent %s", again, err, first.ID)
	}
}

func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	gw := newGateway(t, "http://"+addr)
	_, err = gw.GetIntent(t.Context(), "pi_x")
	gatewaytest.WantErr(t, "connection refused", err, gatewaytest.Err{Kind: app.KindUnavailable})
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("error %v does not wrap ECONNREFUSED", err)
	}
}

func TestWrongKeyIsRefused(t *testing.T) {
	fake := stripefake.New(t, stripefake.Options{})
	const live = "sk_live_51MobilityCorpLIVEkeyDoNotLeak0123456789"
	gw, err := stripegw.New(stripegw.Config{SecretKey: config.Secret(live), BaseURL: fake.URL()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	_, err = gw.CreateCustomer(t.Context(), "k", "a@example.com", "A")
	gatewaytest.WantErr(t, "live key at the fake", err, gatewaytest.Err{Kind: app.KindInvalidRequest, Status: 401})
	if strings.Contains(err.Error(), live) {
		t.Fatalf("error leaks the key: %v", err)
	}
}

// TestSecretNeverLeaks: the fake quotes the Authorization header in every error
// message; no error text, error chain, or log line may contain the key.
func TestSecretNeverLeaks(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	fake := stripefake.New(t, stripefake.Options{EchoAuthorization: true})
	gw, err := stripegw.New(stripegw.Config{SecretKey: config.Secret(testKey), BaseURL: fake.URL(), Logger: logger, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx := t.Context()
	calls := []struct {
		name   string
		setup  func()
		call   func() error
		masked bool // the server echoed the key, so the message must show the mask
	}{
		{"decline", nil, func() error {
			_, err := gw.Authorise(ctx, app.AuthoriseRequest{IdempotencyKey: "a", PaymentMethod: "pm_card_chargeDeclined", Amount: eur(1000)})
			return err
		}, true},
		{"404", nil, func() error { _, err := gw.GetIntent(ctx, "pi_nope"); return err }, true},
		{"429", func() { fake.RateLimitNext(1) }, func() error { _, err := gw.GetIntent(ctx, "pi_nope"); return err }, true},
		{"500", func() { fake.ServerErrorNext(1) }, func() error { _, err := gw.GetIntent(ctx, "pi_nope"); return err }, true},
		{"502 html", func() { fake.ProxyErrorNext(1, 502) }, func() error { _, err := gw.GetIntent(ctx, "pi_nope"); return err }, false},
		{"timeout", func() { fake.DropResponseNext(1) }, func() error { _, err := gw.GetIntent(ctx, "pi_nope"); return err }, false},
	}
	for _, c := range calls {
		if c.setup != nil {
			c.setup()
		}
		err := c.call()
		if err == nil {
			t.Fatalf("%s: no error", c.name)
		}
		assertNoSecret(t, c.name, err)
		if c.masked && !strings.Contains(err.Error(), "[redacted]") {
			t.Errorf("%s: %v: the echoed key should show as [redacted]", c.name, err)
		}
	}
	if logs.Len() == 0 || !strings.Contains(logs.String(), "[redacted]") {
		t.Fatalf("expected stripe-go's masked error logs, got %q", logs.String())
	}
	if strings.Contains(logs.String(), testKey) {
		t.Fatalf("logs contain the secret key")
	}
}

func assertNoSecret(t *testing.T, name string, err error) {
	t.Helper()
	texts := []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)}
	for e := err; e != nil; e = errors.Unwrap(e) {
		texts = append(texts, e.Error(), fmt.Sprintf("%+v", e))
	}
	for _, s := range texts {
		if strings.Contains(s, testKey) {
			t.Fatalf("%s: error text contains the secret key: %s", name, s)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  stripegw.Config
		ok   bool
	}{
		{"test key", stripegw.Config{SecretKey: config.Secret(testKey)}, true},
		{"restricted key and base URL", stripegw.Config{SecretKey: "rk_live_abc", BaseURL: "https://api.stripe.com"}, true},
		{"no key", stripegw.Config{}, false},
		{"publishable key", stripegw.Config{SecretKey: "pk_live_51SECRETISH"}, false},
		{"relative base URL", stripegw.Config{SecretKey: config.Secret(testKey), BaseURL: "api.stripe.com"}, false},
		{"base URL with credentials", stripegw.Config{SecretKey: config.Secret(testKey), BaseURL: "https://u:p@api.stripe.com"}, false},
		{"negative timeout", stripegw.Config{SecretKey: config.Secret(testKey), Timeout: -time.Second}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && strings.Contains(err.Error(), tt.cfg.SecretKey.Reveal()) && tt.cfg.SecretKey != "" {
				t.Fatalf("Validate error leaks the key: %v", err)
			}
			if _, err := stripegw.New(tt.cfg); (err == nil) != tt.ok {
				t.Fatalf("New() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// TestCustomHTTPClientIsUsed: the configured client's transport carries the
// calls (so proxies and TLS settings apply).
func TestCustomHTTPClientIsUsed(t *testing.T) {
	fake := stripefake.New(t, stripefake.Options{})
	ct := &countingTransport{base: http.DefaultTransport}
	gw, err := stripegw.New(stripegw.Config{SecretKey: config.Secret(testKey), BaseURL: fake.URL(), HTTPClient: &http.Client{Transport: ct}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if _, err := gw.CreateCustomer(t.Context(), "k", "a@example.com", "A"); err != nil {
		t.Fatalf("CreateCustomer: %v", err)
	}
	if ct.n.Load() != 1 {
		t.Fatalf("custom transport saw %d requests, want 1", ct.n.Load())
	}
}

// waitFor polls cond for synchronisation (not timing): it fails only if cond
// never holds within a generous bound.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}
