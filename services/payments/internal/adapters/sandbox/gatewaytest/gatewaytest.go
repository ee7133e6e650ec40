// Package gatewaytest is the contract every app.Gateway implementation must meet,
// written once and run against the sandbox and against the Stripe adapter talking
// to the wire fake, so the two cannot drift. Each case builds a fresh Harness.
package gatewaytest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mobilitycorp/platform/services/payments/internal/adapters/sandbox"
	"github.com/mobilitycorp/platform/services/payments/internal/app"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

// Clock is a manual clock for sandbox.Options.Now; safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock starts a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Harness is one gateway under contract and the sandbox that holds its state
// (the gateway itself, or the one behind a wire fake), used for outages and for
// assertions such as "captured exactly once".
type Harness struct {
	Gateway app.Gateway
	Backend *sandbox.Gateway
}

// Factory builds a fresh Harness whose sandbox is built from opts.
type Factory func(t *testing.T, opts sandbox.Options) Harness

// Err is the expected shape of a *app.GatewayError. Status 0 means refused
// before any I/O; otherwise the error must also carry a request id.
type Err struct {
	Kind        app.ErrorKind
	Code        string
	DeclineCode string
	Status      int
}

// env is what a contract case gets.
type env struct {
	t     *testing.T
	h     Harness
	clock *Clock
	ctx   context.Context
}

type contractCase struct {
	name string
	opts func(o *sandbox.Options, clock *Clock) // optional
	run  func(e env)
}

// Run runs the contract against gateways built by newHarness.
func Run(t *testing.T, newHarness Factory) {
	t.Helper()
	for _, tc := range cases() {
		t.Run(tc.name, func(t *testing.T) {
			clock := NewClock(time.Date(2030, 5, 17, 8, 0, 0, 0, time.UTC))
			opts := sandbox.Options{Now: clock.Now}
			if tc.opts != nil {
				tc.opts(&opts, clock)
			}
			tc.run(env{t: t, h: newHarness(t, opts), clock: clock, ctx: t.Context()})
		})
	}
}

func eur(minor int64) domain.Money { return domain.Money{AmountMinor: minor, Currency: "EUR"} }

// customer creates a customer and attaches pm to it.
func (e env) customer(pm string) string {
	e.t.Helper()
	cus, err := e.h.Gateway.CreateCustomer(e.ctx, "cus-"+pm, "rider@example.com", "Ada Rider")
	if err != nil {
		e.t.Fatalf("CreateCustomer: %v", err)
	}
	if !strings.HasPrefix(cus, "cus_") {
		e.t.Fatalf("customer id %q, want prefix cus_", cus)
	}
	if err := e.h.Gateway.AttachPaymentMethod(e.ctx, "attach-"+pm, cus, pm); err != nil {
		e.t.Fatalf("AttachPaymentMethod(%s): %v", pm, err)
	}
	return cus
}

func (e env) request(key, cus, pm string, amount int64) app.AuthoriseRequest {
	return app.AuthoriseRequest{
		IdempotencyKey: key,
		CustomerRef:    cus,
		PaymentMethod:  pm,
		Amount:         eur(amount),
		Description:    "Trip hold",
		Metadata:       map[string]string{"trip_id": "trip-42"},
	}
}

// authorised returns an intent authorised with pm for amount.
func (e env) authorised(pm string, amount int64) app.Intent {
	e.t.Helper()
	in, err := e.h.Gateway.Authorise(e.ctx, e.request("auth", e.customer(pm), pm, amount))
	if err != nil {
		e.t.Fatalf("Authorise(%s): %v", pm, err)
	}
	return in
}

// captured returns an intent authorised for 1000 and captured for amount.
func (e env) captured(amount int64) app.Intent {
	e.t.Helper()
	in := e.authorised("pm_card_visa", 1000)
	in, err := e.h.Gateway.Capture(e.ctx, "capture", in.ID, eur(amount))
	if err != nil {
		e.t.Fatalf("Capture: %v", err)
	}
	return in
}

func (e env) wantErr(op string, err error, want Err) {
	e.t.Helper()
	WantErr(e.t, op, err, want)
}

// WantErr fails t unless err is a *app.GatewayError of the wanted shape.
func WantErr(t testing.TB, op string, err error, want Err) {
	t.Helper()
	var ge *app.GatewayError
	if !errors.As(err, &ge) {
		t.Fatalf("%s: error %v (%T), want *app.GatewayError %+v", op, err, err, want)
	}
	got := Err{Kind: ge.Kind, Code: ge.Code, DeclineCode: ge.DeclineCode, Status: ge.Status}
	if got != want {
		t.Fatalf("%s: error %+v (%v), want %+v", op, got, err, want)
	}
	if want.Status != 0 && ge.RequestID == "" {
		t.Errorf("%s: error without request id: %v", op, err)
	}
	wantRetry := want.Kind == app.KindRateLimited || want.Kind == app.KindUnavailable
	if app.IsRetryable(err) != wantRetry {
		t.Errorf("%s: IsRetryable = %v, want %v", op, !wantRetry, wantRetry)
	}
}

func (e env) wantIntents(n int) {
	e.t.Helper()
	if got := len(e.h.Backend.Intents()); got != n {
		e.t.Fatalf("backend holds %d intents, want %d", got, n)
	}
}

func (e env) wantStatus(id string, want app.IntentStatus) app.Intent {
	e.t.Helper()
	in, err := e.h.Gateway.GetIntent(e.ctx, id)
	if err != nil {
		e.t.Fatalf("GetIntent(%s): %v", id, err)
	}
	if in.Status != want {
		e.t.Fatalf("GetIntent(%s).Status = %s, want %s", id, in.Status, want)
	}
	return in
}

// Expected errors shared by several cases.
const (
	codeBadState = "payment_intent_unexpected_state"
	codeTooLarge = "amount_too_large"
)

func errBadState() Err { return Err{Kind: app.KindInvalidRequest, Code: codeBadState, Status: 400} }
func errTooLarge() Err { return Err{Kind: app.KindInvalidRequest, Code: codeTooLarge, Status: 400} }
func errInvalid() Err  { return Err{Kind: app.KindInvalidRequest, Status: 400} }
func errClient() Err   { return Err{Kind: app.KindInvalidRequest} }
func errKeyReuse() Err { return Err{Kind: app.KindIdempotency, Status: 400} }
func errDown() Err     { return Err{Kind: app.KindUnavailable, Status: 503} }

func cases() []contractCase {
	return []contractCase{
		{name: "authorise outcome per test payment method", run: authoriseOutcomes},
		{name: "authorise refuses unknown references and small amounts", run: authoriseRefusals},
		{name: "client-side validation happens before any call", run: clientValidation},
		{name: "partial capture succeeds and releases the rest", run: func(e env) {
			in := e.captured(700)
			if in.Status != app.StatusSucceeded || in.AmountReceived != 700 || in.AmountCapturable != 0 || in.Amount != eur(1000) {
				e.t.Fatalf("captured intent %+v, want succeeded, received 700, capturable 0, amount 10.00 EUR", in)
			}
			// The released 300 is not a refund (Stripe's charge counts it in amount_refunded).
			if got := e.wantStatus(in.ID, app.StatusSucceeded); got.AmountReceived != 700 || got.AmountRefunded != 0 {
				e.t.Fatalf("GetIntent after capture: received %d, refunded %d; want 700, 0", got.AmountReceived, got.AmountRefunded)
			}
			if n := e.h.Backend.Captures(in.ID); n != 1 {
				e.t.Fatalf("captures = %d, want 1", n)
			}
		}},
		{name: "capture above capturable is refused and changes nothing", run: func(e env) {
			in := e.authorised("pm_card_visa", 1000)
			_, err := e.h.Gateway.Capture(e.ctx, "capture", in.ID, eur(1001))
			e.wantErr("capture 1001 of 1000", err, errTooLarge())
			if got := e.wantStatus(in.ID, app.StatusRequiresCapture); got.AmountCapturable != 1000 {
				e.t.Fatalf("capturable after refused capture = %d, want 1000", got.AmountCapturable)
			}
			if n := e.h.Backend.Captures(in.ID); n != 0 {
				e.t.Fatalf("captures = %d, want 0", n)
			}
		}},
		{name: "second capture with a new key is refused", run: func(e env) {
			in := e.captured(500)
			_, err := e.h.Gateway.Capture(e.ctx, "capture-again", in.ID, eur(100))
			e.wantErr("second capture", err, errBadState())
			if n := e.h.Backend.Captures(in.ID); n != 1 {
				e.t.Fatalf("captures = %d, want 1", n)
			}
		}},
		{name: "capture retried with the same key replays without capturing twice", run: func(e env) {
			first := e.captured(600)
			again, err := e.h.Gateway.Capture(e.ctx, "capture", first.ID, eur(600))
			if err != nil {
				e.t.Fatalf("replayed capture: %v", err)
			}
			if again != first {
				e.t.Fatalf("replay returned %+v, want the first result %+v", again, first)
			}
			if n := e.h.Backend.Captures(first.ID); n != 1 {
				e.t.Fatalf("captures = %d, want exactly 1", n)
			}
		}},
		{name: "cancel releases the hold and ends the intent", run: func(e env) {
			in := e.authorised("pm_card_visa", 1000)
			in, err := e.h.Gateway.Cancel(e.ctx, "cancel", in.ID)
			if err != nil {
				e.t.Fatalf("Cancel: %v", err)
			}
			if in.Status != app.StatusCanceled || in.AmountCapturable != 0 || in.AmountRefunded != 0 {
				e.t.Fatalf("canceled intent %+v, want canceled with nothing capturable or refunded", in)
			}
			_, err = e.h.Gateway.Capture(e.ctx, "capture", in.ID, eur(100))
			e.wantErr("capture after cancel", err, errBadState())
			_, err = e.h.Gateway.Cancel(e.ctx, "cancel-again", in.ID)
			e.wantErr("cancel twice", err, errBadState())
		}},
		{name: "cancel after capture is refused", run: func(e env) {
			in := e.captured(1000)
			_, err := e.h.Gateway.Cancel(e.ctx, "cancel", in.ID)
			e.wantErr("cancel captured", err, errBadState())
			e.wantStatus(in.ID, app.StatusSucceeded)
		}},
		{name: "refunds are bounded by received minus refunded", run: refundBounds},
		{name: "refund before capture is refused", run: func(e env) {
			in := e.authorised("pm_card_visa", 1000)
			_, err := e.h.Gateway.Refund(e.ctx, "refund", in.ID, eur(100), "")
			e.wantErr("refund uncaptured", err, errBadState())
			if n := len(e.h.Backend.Refunds()); n != 0 {
				e.t.Fatalf("backend holds %d refunds, want 0", n)
			}
		}},
		{name: "refund retried with the same key replays", run: func(e env) {
			in := e.captured(800)
			first, err := e.h.Gateway.Refund(e.ctx, "refund", in.ID, eur(300), "requested_by_customer")
			if err != nil {
				e.t.Fatalf("Refund: %v", err)
			}
			again, err := e.h.Gateway.Refund(e.ctx, "refund", in.ID, eur(300), "requested_by_customer")
			if err != nil || again != first {
				e.t.Fatalf("replayed refund = %+v, %v; want %+v", again, err, first)
			}
			if n := len(e.h.Backend.Refunds()); n != 1 {
				e.t.Fatalf("backend holds %d refunds, want 1", n)
			}
		}},
		{name: "refund reason is kept whether or not Stripe has an enum for it", run: func(e env) {
			in := e.captured(800)
			for i, reason := range []string{"requested_by_customer", "trip_overcharged"} {
				ref, err := e.h.Gateway.Refund(e.ctx, "refund-"+reason, in.ID, eur(100), reason)
				if err != nil {
					e.t.Fatalf("Refund(%s): %v", reason, err)
				}
				rec, ok := e.h.Backend.RefundByID(ref.ID)
				if !ok || rec.Reason != reason {
					e.t.Fatalf("refund %d reason = %q (found %v), want %q", i, rec.Reason, ok, reason)
				}
			}
		}},
		{name: "increment raises the hold on a supporting card", run: func(e env) {
			in := e.authorised("pm_card_visa", 1000)
			if !in.IncrementalAuth {
				e.t.Fatalf("pm_card_visa intent has IncrementalAuth false")
			}
			in, err := e.h.Gateway.IncrementAuthorisation(e.ctx, "increment", in.ID, eur(1500))
			if err != nil {
				e.t.Fatalf("IncrementAuthorisation: %v", err)
			}
			if in.Amount != eur(1500) || in.AmountCapturable != 1500 || in.Status != app.StatusRequiresCapture {
				e.t.Fatalf("incremented intent %+v, want amount and capturable 1500", in)
			}
			if in, err = e.h.Gateway.Capture(e.ctx, "capture", in.ID, eur(1500)); err != nil || in.AmountReceived != 1500 {
				e.t.Fatalf("capture of the raised hold = %+v, %v", in, err)
			}
		}},
		{name: "increment is refused on a card without support", run: func(e env) {
			in := e.authorised("pm_card_mastercard", 1000)
			_, err := e.h.Gateway.IncrementAuthorisation(e.ctx, "increment", in.ID, eur(1500))
			e.wantErr("increment mastercard", err, errInvalid())
			if got := e.wantStatus(in.ID, app.StatusRequiresCapture); got.Amount != eur(1000) {
				e.t.Fatalf("amount after refused increment = %v, want 10.00 EUR", got.Amount)
			}
		}},
		{name: "increment must raise the amount", run: func(e env) {
			in := e.authorised("pm_card_visa", 1000)
			_, err := e.h.Gateway.IncrementAuthorisation(e.ctx, "increment", in.ID, eur(1000))
			e.wantErr("increment to the same amount", err, errInvalid())
		}},
		{name: "increment after capture is refused", run: func(e env) {
			in := e.captured(1000)
			_, err := e.h.Gateway.IncrementAuthorisation(e.ctx, "increment", in.ID, eur(2000))
			e.wantErr("increment captured", err, errBadState())
		}},
		{name: "unknown intent is resource_missing", run: func(e env) {
			_, err := e.h.Gateway.GetIntent(e.ctx, "pi_doesnotexist")
			e.wantErr("GetIntent", err, Err{Kind: app.KindInvalidRequest, Code: "resource_missing", Status: 404})
			_, err = e.h.Gateway.Capture(e.ctx, "capture", "pi_doesnotexist", eur(100))
			e.wantErr("Capture", err, Err{Kind: app.KindInvalidRequest, Code: "resource_missing", Status: 404})
		}},
		{name: "authorise retried with the same key returns the same intent", run: func(e env) {
			cus := e.customer("pm_card_visa")
			req := e.request("auth", cus, "pm_card_visa", 1000)
			first, err := e.h.Gateway.Authorise(e.ctx, req)
			if err != nil {
				e.t.Fatalf("Authorise: %v", err)
			}
			again, err := e.h.Gateway.Authorise(e.ctx, req)
			if err != nil || again != first {
				e.t.Fatalf("replayed Authorise = %+v, %v; want %+v", again, err, first)
			}
			e.wantIntents(1)
		}},
		{name: "key reused with other parameters is an idempotency error", run: func(e env) {
			cus := e.customer("pm_card_visa")
			if _, err := e.h.Gateway.Authorise(e.ctx, e.request("auth", cus, "pm_card_visa", 1000)); err != nil {
				e.t.Fatalf("Authorise: %v", err)
			}
			_, err := e.h.Gateway.Authorise(e.ctx, e.request("auth", cus, "pm_card_visa", 1200))
			e.wantErr("same key, other amount", err, errKeyReuse())
			e.wantIntents(1)
		}},
		{name: "key reused for another operation is an idempotency error", run: func(e env) {
			in := e.authorised("pm_card_visa", 1000)
			_, err := e.h.Gateway.Capture(e.ctx, "auth", in.ID, eur(1000))
			e.wantErr("authorise key used to capture", err, errKeyReuse())
			if n := e.h.Backend.Captures(in.ID); n != 0 {
				e.t.Fatalf("captures = %d, want 0", n)
			}
		}},
		{name: "declined authorisation replays the same decline", run: func(e env) {
			pm := "pm_card_chargeDeclinedInsufficientFunds"
			req := e.request("auth", e.customer(pm), pm, 1000)
			first, err1 := e.h.Gateway.Authorise(e.ctx, req)
			again, err2 := e.h.Gateway.Authorise(e.ctx, req)
			want := Err{Kind: app.KindInsufficientFunds, Code: "card_declined", DeclineCode: "insufficient_funds", Status: 402}
			e.wantErr("first", err1, want)
			e.wantErr("replay", err2, want)
			if first.ID == "" || again.ID != first.ID {
				e.t.Fatalf("replayed decline intent %q, first %q: want the same non-empty id", again.ID, first.ID)
			}
			e.wantIntents(1)
		}},
		{name: "idempotency keys expire after 24 hours", run: func(e env) {
			cus := e.customer("pm_card_visa")
			first, err := e.h.Gateway.Authorise(e.ctx, e.request("auth", cus, "pm_card_visa", 1000))
			if err != nil {
				e.t.Fatalf("Authorise: %v", err)
			}
			e.clock.Advance(sandbox.KeyTTL - time.Second)
			_, err = e.h.Gateway.Authorise(e.ctx, e.request("auth", cus, "pm_card_visa", 1200))
			e.wantErr("reuse just before expiry", err, errKeyReuse())
			e.clock.Advance(time.Second)
			second, err := e.h.Gateway.Authorise(e.ctx, e.request("auth", cus, "pm_card_visa", 1200))
			if err != nil {
				e.t.Fatalf("Authorise after expiry: %v", err)
			}
			if second.ID == first.ID || second.Amount != eur(1200) {
				e.t.Fatalf("after expiry got %+v, want a new intent for 12.00 EUR", second)
			}
			e.wantIntents(2)
		}},
		{name: "outage switch fails calls without acting; the same key works after", run: func(e env) {
			cus := e.customer("pm_card_visa")
			req := e.request("auth", cus, "pm_card_visa", 1000)
			e.h.Backend.SetDown(true)
			_, err := e.h.Gateway.Authorise(e.ctx, req)
			e.wantErr("authorise while down", err, errDown())
			_, err = e.h.Gateway.GetIntent(e.ctx, "pi_any")
			e.wantErr("get while down", err, errDown())
			e.wantIntents(0)
			e.h.Backend.SetDown(false)
			in, err := e.h.Gateway.Authorise(e.ctx, req)
			if err != nil || in.Status != app.StatusRequiresCapture {
				e.t.Fatalf("Authorise after outage = %+v, %v; want requires_capture", in, err)
			}
			e.wantIntents(1)
		}},
		{name: "outage window fails calls inside it only",
			opts: func(o *sandbox.Options, c *Clock) {
				o.Outages = []sandbox.Window{{From: c.Now().Add(time.Hour), To: c.Now().Add(2 * time.Hour)}}
			},
			run: func(e env) {
				in := e.authorised("pm_card_visa", 1000)
				e.clock.Advance(time.Hour)
				_, err := e.h.Gateway.Capture(e.ctx, "capture", in.ID, eur(1000))
				e.wantErr("capture in the window", err, errDown())
				e.clock.Advance(time.Hour)
				if _, err := e.h.Gateway.Capture(e.ctx, "capture", in.ID, eur(1000)); err != nil {
					e.t.Fatalf("capture after the window: %v", err)
				}
				if n := e.h.Backend.Captures(in.ID); n != 1 {
					e.t.Fatalf("captures = %d, want 1", n)
				}
			}},
		{name: "customers are idempotent", run: func(e env) {
			first, err := e.h.Gateway.CreateCustomer(e.ctx, "cus", "a@example.com", "A")
			if err != nil {
				e.t.Fatalf("CreateCustomer: %v", err)
			}
			again, err := e.h.Gateway.CreateCustomer(e.ctx, "cus", "a@example.com", "A")
			if err != nil || again != first {
				e.t.Fatalf("replayed CreateCustomer = %q, %v; want %q", again, err, first)
			}
			_, err = e.h.Gateway.CreateCustomer(e.ctx, "cus", "b@example.com", "A")
			e.wantErr("same key, other email", err, errKeyReuse())
			if n := len(e.h.Backend.Customers()); n != 1 {
				e.t.Fatalf("backend holds %d customers, want 1", n)
			}
		}},
		{name: "attach refuses unknown payment methods and customers", run: func(e env) {
			cus, err := e.h.Gateway.CreateCustomer(e.ctx, "cus", "a@example.com", "A")
			if err != nil {
				e.t.Fatalf("CreateCustomer: %v", err)
			}
			err = e.h.Gateway.AttachPaymentMethod(e.ctx, "attach-1", cus, "pm_unknown")
			e.wantErr("unknown payment method", err, Err{Kind: app.KindInvalidRequest, Code: "resource_missing", Status: 404})
			err = e.h.Gateway.AttachPaymentMethod(e.ctx, "attach-2", "cus_unknown", "pm_card_visa")
			e.wantErr("unknown customer", err, Err{Kind: app.KindInvalidRequest, Code: "resource_missing", Status: 400})
			if err := e.h.Gateway.AttachPaymentMethod(e.ctx, "attach-3", cus, "pm_card_visa"); err != nil {
				e.t.Fatalf("attach pm_card_visa: %v", err)
			}
			if c, _ := e.h.Backend.Customer(cus); len(c.PaymentMethods) != 1 || c.PaymentMethods[0] != "pm_card_visa" {
				e.t.Fatalf("customer payment methods = %v, want [pm_card_visa]", c.PaymentMethods)
			}
		}},
	}
}

func authoriseOutcomes(e env) {
	declined := func(kind app.ErrorKind, code, decline string) *Err {
		return &Err{Kind: kind, Code: code, DeclineCode: decline, Status: 402}
	}
	tests := []struct {
		pm          string
		wantErr     *Err
		incremental bool
	}{
		{pm: "pm_card_visa", incremental: true},
		{pm: "pm_card_mastercard"},
		{pm: "pm_card_visa_chargeDeclined", wantErr: declined(app.KindCardDeclined, "card_declined", "generic_decline")},
		{pm: "pm_card_chargeDeclined", wantErr: declined(app.KindCardDeclined, "card_declined", "generic_decline")},
		{pm: "pm_card_chargeDeclinedInsufficientFunds", wantErr: declined(app.KindInsufficientFunds, "card_declined", "insufficient_funds")},
		{pm: "pm_card_visa_chargeDeclinedInsufficientFunds", wantErr: declined(app.KindInsufficientFunds, "card_declined", "insufficient_funds")},
		{pm: "pm_card_authenticationRequired", wantErr: declined(app.KindAuthRequired, "authentication_required", "authentication_required")},
		{pm: "pm_card_chargeDeclinedExpiredCard", wantErr: declined(app.KindCardDeclined, "expired_card", "expired_card")},
	}
	for _, tt := range tests {
		key := "auth-" + tt.pm
		cus := e.customer(tt.pm)
		in, err := e.h.Gateway.Authorise(e.ctx, e.request(key, cus, tt.pm, 1000))
		if in.ID == "" || !strings.HasPrefix(in.ID, "pi_") {
			e.t.Fatalf("%s: intent id %q, want pi_...", tt.pm, in.ID)
		}
		if in.Amount != eur(1000) || in.CustomerRef != cus || in.PaymentMethod != tt.pm || in.CreatedAt.IsZero() {
			e.t.Fatalf("%s: intent %+v does not echo the request", tt.pm, in)
		}
		if tt.wantErr != nil {
			e.wantErr(tt.pm, err, *tt.wantErr)
			if in.Status != app.StatusRequiresPaymentMethod || in.AmountCapturable != 0 || in.LastErrorCode != tt.wantErr.DeclineCode {
				e.t.Fatalf("%s: declined intent %+v, want requires_payment_method, nothing capturable, last error %s", tt.pm, in, tt.wantErr.DeclineCode)
			}
			e.wantStatus(in.ID, app.StatusRequiresPaymentMethod)
			continue
		}
		if err != nil {
			e.t.Fatalf("%s: Authorise: %v", tt.pm, err)
		}
		if in.Status != app.StatusRequiresCapture || in.AmountCapturable != 1000 || in.AmountReceived != 0 || in.IncrementalAuth != tt.incremental {
			e.t.Fatalf("%s: intent %+v, want requires_capture, 1000 capturable, IncrementalAuth %v", tt.pm, in, tt.incremental)
		}
		got := e.wantStatus(in.ID, app.StatusRequiresCapture)
		if got != in {
			e.t.Fatalf("%s: GetIntent = %+v, want %+v", tt.pm, got, in)
		}
	}
	e.wantIntents(len(tests))
}

func authoriseRefusals(e env) {
	cus := e.customer("pm_card_visa")
	missing := Err{Kind: app.KindInvalidRequest, Code: "resource_missing", Status: 400}
	tests := []struct {
		name string
		req  app.AuthoriseRequest
		want Err
	}{
		{"unknown payment method", e.request("k1", cus, "pm_unknown", 1000), missing},
		{"unknown customer", e.request("k2", "cus_unknown", "pm_card_visa", 1000), missing},
		{"below Stripe's minimum", e.request("k3", cus, "pm_card_visa", 49), Err{Kind: app.KindInvalidRequest, Code: "amount_too_small", Status: 400}},
	}
	for _, tt := range tests {
		_, err := e.h.Gateway.Authorise(e.ctx, tt.req)
		e.wantErr(tt.name, err, tt.want)
	}
	e.wantIntents(0)
	// Failed validation saves nothing: the key is free for a corrected request.
	if _, err := e.h.Gateway.Authorise(e.ctx, e.request("k3", cus, "pm_card_visa", 50)); err != nil {
		e.t.Fatalf("corrected request under the same key: %v", err)
	}
}

func clientValidation(e env) {
	cus := e.customer("pm_card_visa")
	lower := e.request("k", cus, "pm_card_visa", 1000)
	lower.Amount.Currency = "eur"
	calls := []struct {
		name string
		call func() error
	}{
		{"empty key", func() error {
			_, err := e.h.Gateway.Authorise(e.ctx, e.request("", cus, "pm_card_visa", 1000))
			return err
		}},
		{"key over 255 characters", func() error {
			_, err := e.h.Gateway.Authorise(e.ctx, e.request(strings.Repeat("k", 256), cus, "pm_card_visa", 1000))
			return err
		}},
		{"lower-case currency", func() error {
			_, err := e.h.Gateway.Authorise(e.ctx, lower)
			return err
		}},
		{"empty intent id", func() error {
			_, err := e.h.Gateway.Capture(e.ctx, "k", "", eur(100))
			return err
		}},
		{"empty customer", func() error {
			return e.h.Gateway.AttachPaymentMethod(e.ctx, "k", "", "pm_card_visa")
		}},
		{"empty intent id on get", func() error {
			_, err := e.h.Gateway.GetIntent(e.ctx, "")
			return err
		}},
	}
	for _, c := range calls {
		e.wantErr(c.name, c.call(), errClient())
	}
	e.wantIntents(0)
}

func refundBounds(e env) {
	in := e.captured(800)
	steps := []struct {
		key      string
		amount   int64
		want     *Err
		refunded int64 // the intent's AmountRefunded after the step
	}{
		{key: "r1", amount: 300, refunded: 300},
		{key: "r2", amount: 501, want: ptr(errTooLarge()), refunded: 300},
		{key: "r3", amount: 500, refunded: 800},
		{key: "r4", amount: 1, want: ptr(Err{Kind: app.KindInvalidRequest, Code: "charge_already_refunded", Status: 400}), refunded: 800},
	}
	for _, s := range steps {
		ref, err := e.h.Gateway.Refund(e.ctx, s.key, in.ID, eur(s.amount), "")
		if s.want != nil {
			e.wantErr("refund "+s.key, err, *s.want)
		} else {
			if err != nil {
				e.t.Fatalf("refund %s: %v", s.key, err)
			}
			if !strings.HasPrefix(ref.ID, "re_") || ref.IntentID != in.ID || ref.Amount != eur(s.amount) || ref.Status != "succeeded" {
				e.t.Fatalf("refund %s = %+v", s.key, ref)
			}
		}
		if got := e.wantStatus(in.ID, app.StatusSucceeded); got.AmountRefunded != s.refunded || got.AmountReceived != 800 {
			e.t.Fatalf("after refund %s: received %d, refunded %d; want 800, %d", s.key, got.AmountReceived, got.AmountRefunded, s.refunded)
		}
	}
	var total int64
	for _, r := range e.h.Backend.Refunds() {
		total += r.Amount.AmountMinor
	}
	if total != 800 || len(e.h.Backend.Refunds()) != 2 {
		e.t.Fatalf("backend refunds total %d in %d refunds, want 800 in 2", total, len(e.h.Backend.Refunds()))
	}
}

func ptr[T any](v T) *T { return &v }
