package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mobilitycorp/platform/services/payments/internal/adapters/sandbox"
	"github.com/mobilitycorp/platform/services/payments/internal/adapters/sandbox/gatewaytest"
	"github.com/mobilitycorp/platform/services/payments/internal/app"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

func eur(minor int64) domain.Money { return domain.Money{AmountMinor: minor, Currency: "EUR"} }

func authorise(t *testing.T, g *sandbox.Gateway, key, pm string, amount int64) (app.Intent, error) {
	t.Helper()
	return g.Authorise(t.Context(), app.AuthoriseRequest{IdempotencyKey: key, PaymentMethod: pm, Amount: eur(amount)})
}

func mustAuthorise(t *testing.T, g *sandbox.Gateway, pm string, amount int64) app.Intent {
	t.Helper()
	in, err := authorise(t, g, "auth-"+pm, pm, amount)
	if err != nil {
		t.Fatalf("Authorise(%s): %v", pm, err)
	}
	return in
}

// TestTransitions walks every operation from every status an intent can be in
// and checks the status Stripe would leave it in, or the error it would give.
func TestTransitions(t *testing.T) {
	type start func(t *testing.T, g *sandbox.Gateway) app.Intent
	starts := map[app.IntentStatus]start{
		app.StatusRequiresCapture: func(t *testing.T, g *sandbox.Gateway) app.Intent {
			return mustAuthorise(t, g, "pm_card_visa", 1000)
		},
		app.StatusRequiresPaymentMethod: func(t *testing.T, g *sandbox.Gateway) app.Intent {
			in, err := authorise(t, g, "auth", "pm_card_chargeDeclined", 1000)
			if err == nil {
				t.Fatalf("declining card authorised")
			}
			return in
		},
		app.StatusSucceeded: func(t *testing.T, g *sandbox.Gateway) app.Intent {
			in := mustAuthorise(t, g, "pm_card_visa", 1000)
			in, err := g.Capture(t.Context(), "capture-0", in.ID, eur(1000))
			if err != nil {
				t.Fatalf("Capture: %v", err)
			}
			return in
		},
		app.StatusCanceled: func(t *testing.T, g *sandbox.Gateway) app.Intent {
			in := mustAuthorise(t, g, "pm_card_visa", 1000)
			in, err := g.Cancel(t.Context(), "cancel-0", in.ID)
			if err != nil {
				t.Fatalf("Cancel: %v", err)
			}
			return in
		},
	}
	ops := map[string]func(ctx context.Context, g *sandbox.Gateway, id string) (app.IntentStatus, error){
		"capture": func(ctx context.Context, g *sandbox.Gateway, id string) (app.IntentStatus, error) {
			in, err := g.Capture(ctx, "op", id, eur(400))
			return in.Status, err
		},
		"cancel": func(ctx context.Context, g *sandbox.Gateway, id string) (app.IntentStatus, error) {
			in, err := g.Cancel(ctx, "op", id)
			return in.Status, err
		},
		"increment": func(ctx context.Context, g *sandbox.Gateway, id string) (app.IntentStatus, error) {
			in, err := g.IncrementAuthorisation(ctx, "op", id, eur(2000))
			return in.Status, err
		},
		"refund": func(ctx context.Context, g *sandbox.Gateway, id string) (app.IntentStatus, error) {
			if _, err := g.Refund(ctx, "op", id, eur(400), ""); err != nil {
				return "", err
			}
			in, err := g.GetIntent(ctx, id)
			return in.Status, err
		},
	}
	const badState = "payment_intent_unexpected_state"
	tests := []struct {
		from     app.IntentStatus
		op       string
		want     app.IntentStatus // "" when the op must fail
		wantCode string
	}{
		{app.StatusRequiresCapture, "capture", app.StatusSucceeded, ""},
		{app.StatusRequiresCapture, "cancel", app.StatusCanceled, ""},
		{app.StatusRequiresCapture, "increment", app.StatusRequiresCapture, ""},
		{app.StatusRequiresCapture, "refund", "", badState},
		{app.StatusRequiresPaymentMethod, "capture", "", badState},
		{app.StatusRequiresPaymentMethod, "cancel", app.StatusCanceled, ""},
		{app.StatusRequiresPaymentMethod, "increment", "", badState},
		{app.StatusRequiresPaymentMethod, "refund", "", badState},
		{app.StatusSucceeded, "capture", "", badState},
		{app.StatusSucceeded, "cancel", "", badState},
		{app.StatusSucceeded, "increment", "", badState},
		{app.StatusSucceeded, "refund", app.StatusSucceeded, ""},
		{app.StatusCanceled, "capture", "", badState},
		{app.StatusCanceled, "cancel", "", badState},
		{app.StatusCanceled, "increment", "", badState},
		{app.StatusCanceled, "refund", "", badState},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s from %s", tt.op, tt.from), func(t *testing.T) {
			g := sandbox.New(sandbox.Options{})
			in := starts[tt.from](t, g)
			if in.Status != tt.from {
				t.Fatalf("setup left %s, want %s", in.Status, tt.from)
			}
			got, err := ops[tt.op](t.Context(), g, in.ID)
			if tt.want == "" {
				gatewaytest.WantErr(t, tt.op, err, gatewaytest.Err{Kind: app.KindInvalidRequest, Code: tt.wantCode, Status: 400})
				after, _ := g.Intent(in.ID)
				if after.Status != tt.from {
					t.Fatalf("refused %s moved the intent to %s", tt.op, after.Status)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s: %v", tt.op, err)
			}
			if got != tt.want {
				t.Fatalf("%s from %s left %s, want %s", tt.op, tt.from, got, tt.want)
			}
		})
	}
}

func TestAmountRules(t *testing.T) {
	usd := domain.Money{AmountMinor: 100, Currency: "USD"}
	tests := []struct {
		name      string
		call      func(ctx context.Context, g *sandbox.Gateway, id string) error
		wantCode  string
		wantParam string
	}{
		{"capture zero", func(ctx context.Context, g *sandbox.Gateway, id string) error {
			_, err := g.Capture(ctx, "k", id, eur(0))
			return err
		}, "parameter_invalid_integer", "amount_to_capture"},
		{"capture in another currency", func(ctx context.Context, g *sandbox.Gateway, id string) error {
			_, err := g.Capture(ctx, "k", id, usd)
			return err
		}, "", "amount_to_capture"},
		{"capture above capturable", func(ctx context.Context, g *sandbox.Gateway, id string) error {
			_, err := g.Capture(ctx, "k", id, eur(1001))
			return err
		}, "amount_too_large", "amount_to_capture"},
		{"increment in another currency", func(ctx context.Context, g *sandbox.Gateway, id string) error {
			_, err := g.IncrementAuthorisation(ctx, "k", id, domain.Money{AmountMinor: 5000, Currency: "USD"})
			return err
		}, "", "amount"},
		{"increment lowering the hold", func(ctx context.Context, g *sandbox.Gateway, id string) error {
			_, err := g.IncrementAuthorisation(ctx, "k", id, eur(900))
			return err
		}, "", "amount"},
		{"negative increment", func(ctx context.Context, g *sandbox.Gateway, id string) error {
			_, err := g.IncrementAuthorisation(ctx, "k", id, eur(-1))
			return err
		}, "parameter_invalid_integer", "amount"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := sandbox.New(sandbox.Options{})
			in := mustAuthorise(t, g, "pm_card_visa", 1000)
			err := tt.call(t.Context(), g, in.ID)
			gatewaytest.WantErr(t, tt.name, err, gatewaytest.Err{Kind: app.KindInvalidRequest, Code: tt.wantCode, Status: 400})
			var d *sandbox.ErrorDetail
			if !errors.As(err, &d) || d.Param != tt.wantParam || d.Message == "" {
				t.Fatalf("detail %+v, want param %q and a message", d, tt.wantParam)
			}
			if got, _ := g.Intent(in.ID); got.Amount != eur(1000) || got.AmountCapturable != 1000 || got.Status != app.StatusRequiresCapture {
				t.Fatalf("refused call changed the intent: %+v", got.Intent)
			}
		})
	}
}

func TestIncrementAttemptsAreCapped(t *testing.T) {
	g := sandbox.New(sandbox.Options{})
	in := mustAuthorise(t, g, "pm_card_visa", 1000)
	for i := 1; i <= 10; i++ {
		if _, err := g.IncrementAuthorisation(t.Context(), fmt.Sprintf("inc-%d", i), in.ID, eur(1000+int64(i)*100)); err != nil {
			t.Fatalf("increment %d: %v", i, err)
		}
	}
	_, err := g.IncrementAuthorisation(t.Context(), "inc-11", in.ID, eur(5000))
	gatewaytest.WantErr(t, "11th increment", err, gatewaytest.Err{Kind: app.KindInvalidRequest, Status: 400})
	rec, _ := g.Intent(in.ID)
	if rec.Increments != 10 || rec.Amount != eur(2000) {
		t.Fatalf("after 10 increments: %d increments, amount %v; want 10 and 20.00 EUR", rec.Increments, rec.Amount)
	}
}

func TestMetadataLimits(t *testing.T) {
	many := map[string]string{}
	for i := range 51 {
		many[fmt.Sprintf("k%d", i)] = "v"
	}
	tests := []struct {
		name string
		md   map[string]string
		ok   bool
	}{
		{"50 keys", func() map[string]string {
			m := map[string]string{}
			for i := range 50 {
				m[fmt.Sprint(i)] = "v"
			}
			return m
		}(), true},
		{"51 keys", many, false},
		{"key of 41 characters", map[string]string{strings.Repeat("k", 41): "v"}, false},
		{"key with brackets", map[string]string{"a[b]": "v"}, false},
		{"value of 501 characters", map[string]string{"k": strings.Repeat("v", 501)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := sandbox.New(sandbox.Options{})
			_, err := g.Authorise(t.Context(), app.AuthoriseRequest{IdempotencyKey: "k", PaymentMethod: "pm_card_visa", Amount: eur(1000), Metadata: tt.md})
			if tt.ok {
				if err != nil {
					t.Fatalf("Authorise: %v", err)
				}
				return
			}
			gatewaytest.WantErr(t, tt.name, err, gatewaytest.Err{Kind: app.KindInvalidRequest, Status: 400})
		})
	}
}

func TestConfiguredPaymentMethods(t *testing.T) {
	g := sandbox.New(sandbox.Options{PaymentMethods: []sandbox.PaymentMethod{
		{ID: "pm_custom_doNotHonor", Brand: "visa", Last4: "1111", Code: "card_declined", DeclineCode: "do_not_honor"},
		{ID: "pm_card_mastercard", Brand: "mastercard", Last4: "4444", IncrementalAuth: true}, // replaces the default
	}})
	_, err := authorise(t, g, "k1", "pm_custom_doNotHonor", 1000)
	gatewaytest.WantErr(t, "custom decline", err, gatewaytest.Err{Kind: app.KindCardDeclined, Code: "card_declined", DeclineCode: "do_not_honor", Status: 402})
	var d *sandbox.ErrorDetail
	if !errors.As(err, &d) || d.Message != "Your card was declined." {
		t.Fatalf("custom decline detail %+v, want Stripe's default message", d)
	}
	in, err := authorise(t, g, "k2", "pm_card_mastercard", 1000)
	if err != nil || !in.IncrementalAuth {
		t.Fatalf("overridden mastercard = %+v, %v; want IncrementalAuth", in, err)
	}
	if _, err := authorise(t, g, "k3", "pm_card_visa", 1000); err != nil {
		t.Fatalf("defaults are kept next to configured methods: %v", err)
	}
}

// TestLatencyHonoursContext: a caller that gives up during the latency gets
// KindUnavailable wrapping its context error, nothing happens, and the key is
// free for the retry.
func TestLatencyHonoursContext(t *testing.T) {
	g := sandbox.New(sandbox.Options{Latency: time.Hour})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_, err := g.Authorise(ctx, app.AuthoriseRequest{IdempotencyKey: "k", PaymentMethod: "pm_card_visa", Amount: eur(1000)})
	gatewaytest.WantErr(t, "timed out", err, gatewaytest.Err{Kind: app.KindUnavailable, Status: 503})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v does not wrap context.DeadlineExceeded", err)
	}
	if n := len(g.Intents()); n != 0 || g.InFlight() != 0 {
		t.Fatalf("after the timeout: %d intents, %d keys in flight; want none", n, g.InFlight())
	}
}

// TestKeyInFlight: while a call with a key is executing, another with the same
// key gets Stripe's 409 idempotency_key_in_use, which is retryable.
func TestKeyInFlight(t *testing.T) {
	g := sandbox.New(sandbox.Options{Latency: time.Hour})
	req := app.AuthoriseRequest{IdempotencyKey: "k", PaymentMethod: "pm_card_visa", Amount: eur(1000)}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var firstErr error
	wg.Go(func() { _, firstErr = g.Authorise(ctx, req) })
	waitFor(t, func() bool { return g.InFlight() == 1 })

	_, err := g.Authorise(t.Context(), req)
	gatewaytest.WantErr(t, "same key in flight", err, gatewaytest.Err{Kind: app.KindRateLimited, Code: "idempotency_key_in_use", Status: 409})

	cancel()
	wg.Wait()
	if !errors.Is(firstErr, context.Canceled) {
		t.Fatalf("first call = %v, want it to end with context.Canceled", firstErr)
	}
	if n := len(g.Intents()); n != 0 {
		t.Fatalf("%d intents after the cancelled call, want 0", n)
	}
}

// TestConcurrentCaptures: many captures of one intent at once, each with its
// own key, capture it exactly once; the same key at once never acts twice.
func TestConcurrentCaptures(t *testing.T) {
	tests := []struct {
		name    string
		key     func(i int) string
		wantOKs func(n int) bool
	}{
		{"distinct keys", func(i int) string { return fmt.Sprintf("capture-%d", i) }, func(n int) bool { return n == 1 }},
		{"one key", func(int) string { return "capture" }, func(n int) bool { return n >= 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := sandbox.New(sandbox.Options{})
			in := mustAuthorise(t, g, "pm_card_visa", 1000)
			const n = 32
			results := make([]app.Intent, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { results[i], errs[i] = g.Capture(t.Context(), tt.key(i), in.ID, eur(1000)) })
			}
			wg.Wait()
			oks := 0
			for i, err := range errs {
				var ge *app.GatewayError
				switch {
				case err == nil:
					oks++
					if results[i].Status != app.StatusSucceeded || results[i].AmountReceived != 1000 {
						t.Errorf("successful capture %d returned %+v", i, results[i])
					}
				case errors.As(err, &ge) && (ge.Code == "payment_intent_unexpected_state" || ge.Code == "idempotency_key_in_use"):
				default:
					t.Errorf("capture %d: unexpected error %v", i, err)
				}
			}
			if !tt.wantOKs(oks) {
				t.Errorf("%d captures succeeded", oks)
			}
			if c := g.Captures(in.ID); c != 1 {
				t.Fatalf("captured %d times, want exactly 1", c)
			}
		})
	}
}

func TestReplayIsIsolatedFromCallers(t *testing.T) {
	g := sandbox.New(sandbox.Options{})
	_, err := authorise(t, g, "k", "pm_card_chargeDeclined", 1000)
	var ge *app.GatewayError
	if !errors.As(err, &ge) {
		t.Fatalf("error %v is not a *app.GatewayError", err)
	}
	ge.Code = "tampered"
	_, err = authorise(t, g, "k", "pm_card_chargeDeclined", 1000)
	gatewaytest.WantErr(t, "replay", err, gatewaytest.Err{Kind: app.KindCardDeclined, Code: "card_declined", DeclineCode: "generic_decline", Status: 402})
	if g.Replays() != 1 {
		t.Fatalf("replays = %d, want 1", g.Replays())
	}
}

func TestSnapshotsAreCopies(t *testing.T) {
	g := sandbox.New(sandbox.Options{})
	in, err := g.Authorise(t.Context(), app.AuthoriseRequest{
		IdempotencyKey: "k", PaymentMethod: "pm_card_visa", Amount: eur(1000),
		Description: "hold", Metadata: map[string]string{"trip_id": "t1"},
	})
	if err != nil {
		t.Fatalf("Authorise: %v", err)
	}
	g.Intents()[0].Metadata["trip_id"] = "changed"
	rec, _ := g.Intent(in.ID)
	if rec.Metadata["trip_id"] != "t1" || rec.Description != "hold" || !strings.HasPrefix(rec.ChargeID, "ch_") {
		t.Fatalf("record %+v: metadata changed through a snapshot or fields missing", rec)
	}
}

func TestUpdateIntentMergesMetadata(t *testing.T) {
	g := sandbox.New(sandbox.Options{})
	in, err := g.Authorise(t.Context(), app.AuthoriseRequest{
		IdempotencyKey: "k", PaymentMethod: "pm_card_visa", Amount: eur(1000),
		Metadata: map[string]string{"trip_id": "t1", "zone": "berlin"},
	})
	if err != nil {
		t.Fatalf("Authorise: %v", err)
	}
	desc := "final fare"
	u := sandbox.IntentUpdate{Description: &desc, Metadata: map[string]string{"zone": "", "vehicle": "v9"}}
	if _, err := g.UpdateIntent(t.Context(), "u", in.ID, u); err != nil {
		t.Fatalf("UpdateIntent: %v", err)
	}
	rec, _ := g.Intent(in.ID)
	want := map[string]string{"trip_id": "t1", "vehicle": "v9"}
	if fmt.Sprint(rec.Metadata) != fmt.Sprint(want) || rec.Description != desc {
		t.Fatalf("after update: metadata %v, description %q; want %v, %q", rec.Metadata, rec.Description, want, desc)
	}
}

func TestOutageWindowBoundaries(t *testing.T) {
	clock := gatewaytest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	from := clock.Now().Add(time.Minute)
	g := sandbox.New(sandbox.Options{Now: clock.Now, Outages: []sandbox.Window{{From: from, To: from.Add(time.Minute)}}})
	tests := []struct {
		at   time.Time
		down bool
	}{
		{from.Add(-time.Nanosecond), false},
		{from, true},
		{from.Add(time.Minute - time.Nanosecond), true},
		{from.Add(time.Minute), false},
	}
	for i, tt := range tests {
		clock.Advance(tt.at.Sub(clock.Now()))
		_, err := g.CreateCustomer(t.Context(), fmt.Sprintf("c%d", i), "", "")
		if got := app.IsRetryable(err); got != tt.down {
			t.Fatalf("at %s: err %v, want down=%v", tt.at.Format(time.RFC3339Nano), err, tt.down)
		}
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
