package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/postgres/pgtest"
	pg "github.com/mobilitycorp/platform/services/payments/internal/adapters/postgres"
	"github.com/mobilitycorp/platform/services/payments/internal/adapters/sandbox"
	"github.com/mobilitycorp/platform/services/payments/internal/app"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
	"github.com/mobilitycorp/platform/services/payments/internal/ports/webhook"
	"github.com/mobilitycorp/platform/services/payments/migrations"
)

// whFixture drives the webhook handler the way production does: events are
// stored in webhook_events and applied by the real Processor, beside the real
// flows on the sandbox gateway.
type whFixture struct {
	fixture
	processor *webhook.Processor
	mu        sync.Mutex
	anomalies []app.Anomaly
	seq       int
}

// whAdapter hands webhook events to the use case (main does the same through ports/http).
type whAdapter struct{ h *app.Webhooks }

func (a whAdapter) HandleStripeEvent(ctx context.Context, tx pgx.Tx, ev webhook.Event) error {
	return a.h.HandleStripeEvent(ctx, tx, app.StripeEvent{ID: ev.ID, Type: ev.Type, Created: ev.Created, Object: ev.Object})
}

// namedRefunds gives every refund the id Stripe's webhook will carry in the
// tests: re_ plus its idempotency key (see providerRef).
type namedRefunds struct{ app.Gateway }

func (g namedRefunds) Refund(ctx context.Context, key, intentID string, amount domain.Money, reason string) (app.Refund, error) {
	r, err := g.Gateway.Refund(ctx, key, intentID, amount, reason)
	if err == nil {
		r.ID = providerRef(key)
	}
	return r, err
}

func providerRef(key string) string { return "re_" + strings.ReplaceAll(key, ":", "_") }

func newWHFixture(t *testing.T) *whFixture {
	t.Helper()
	pool := pgtest.New(t, migrations.Set(), webhook.Migrations())
	gw := sandbox.New(sandbox.Options{})
	ledger := pg.NewLedger(pool)
	store := pg.NewPayments(pool, time.Minute)
	methods := func(context.Context, string) (app.PaymentMethodRef, error) {
		return app.PaymentMethodRef{PaymentMethod: "pm_card_visa"}, nil
	}
	flows := app.NewFlows(store, ledger, namedRefunds{gw}, methods, app.FlowsOptions{
		BatchSize: 16, PollEvery: 5 * time.Millisecond, Backoff: func(int) time.Duration { return time.Millisecond }})
	fx := &whFixture{fixture: fixture{flows: flows, pool: pool, ledger: ledger, store: store, gw: gw}}
	h, err := app.NewWebhooks(pg.NewQueries(pool), ledger, app.WebhooksOptions{
		OnAnomaly: func(_ context.Context, a app.Anomaly) {
			fx.mu.Lock()
			fx.anomalies = append(fx.anomalies, a)
			fx.mu.Unlock()
		}})
	fx.ok(t, err)
	// A long first backoff keeps a failed event out of the way of the next ProcessNext.
	fx.processor, err = webhook.NewProcessor(pool, whAdapter{h}, webhook.ProcessorOptions{RetryBackoff: time.Hour})
	fx.ok(t, err)
	return fx
}

func (fx *whFixture) anomalyKinds() []string {
	fx.mu.Lock()
	defer fx.mu.Unlock()
	kinds := make([]string, len(fx.anomalies))
	for i, a := range fx.anomalies {
		kinds[i] = a.Kind
	}
	return kinds
}

// deliver stores one Stripe event (as the Receiver does) and lets the
// processor apply everything due; it returns the event id.
func (fx *whFixture) deliver(t *testing.T, typ string, created time.Time, object map[string]any) string {
	t.Helper()
	fx.seq++
	id := fmt.Sprintf("evt_test_%d", fx.seq)
	payload, err := json.Marshal(map[string]any{"id": id, "object": "event", "type": typ, "created": created.Unix(),
		"livemode": false, "api_version": "2025-03-31.basil", "data": map[string]any{"object": object}})
	fx.ok(t, err)
	objectID, _ := object["id"].(string)
	key := objectID
	if pi, ok := object["payment_intent"].(string); ok && pi != "" {
		key = pi
	}
	_, err = fx.pool.Exec(context.Background(), `
		INSERT INTO webhook_events (event_id, type, created, livemode, object_id, ordering_key, payload)
		VALUES ($1, $2, $3, false, $4, $5, $6)`, id, typ, created.UTC(), objectID, key, payload)
	fx.ok(t, err)
	for {
		more, err := fx.processor.ProcessNext(context.Background())
		fx.ok(t, err)
		if !more {
			return id
		}
	}
}

// eventState reports whether an event was applied, and its last error.
func (fx *whFixture) eventState(t *testing.T, id string) (processed bool, lastError string) {
	t.Helper()
	var le *string
	err := fx.pool.QueryRow(context.Background(),
		`SELECT processed_at IS NOT NULL, last_error FROM webhook_events WHERE event_id = $1`, id).Scan(&processed, &le)
	fx.ok(t, err)
	if le != nil {
		lastError = *le
	}
	return processed, lastError
}

func (fx *whFixture) holdStatus(t *testing.T, paymentID string) string {
	t.Helper()
	var s string
	fx.ok(t, fx.pool.QueryRow(context.Background(),
		`SELECT status FROM journal_entries WHERE reference = $1 AND kind = 'hold'`, paymentID).Scan(&s))
	return s
}

func (fx *whFixture) balance(t *testing.T, account domain.AccountID) int64 {
	t.Helper()
	posted, _, err := fx.ledger.Balance(context.Background(), account, "EUR")
	fx.ok(t, err)
	return posted.AmountMinor
}

// startTripAuthorised starts a trip and runs its authorisation on the sandbox.
func (fx *whFixture) startTripAuthorised(t *testing.T, trip, customer string) *domain.Payment {
	t.Helper()
	fx.ok(t, fx.flows.OnTripStarted(context.Background(), tripStarted(t, trip, customer, events.VehicleEScooter)))
	fx.drain(t)
	p := fx.payment(t, trip)
	if p.Status != domain.PaymentAuthorised || p.IntentID == "" {
		t.Fatalf("trip %s not authorised: %+v", trip, p)
	}
	return p
}

func (fx *whFixture) captureTrip(t *testing.T, trip, customer string, price int64) *domain.Payment {
	t.Helper()
	fx.startTripAuthorised(t, trip, customer)
	fx.ok(t, fx.flows.OnTripEnded(context.Background(), tripEnded(t, trip, customer, price)))
	fx.drain(t)
	p := fx.payment(t, trip)
	if p.Status != domain.PaymentCaptured {
		t.Fatalf("trip %s not captured: %+v", trip, p)
	}
	return p
}

func intentObject(id, status string, amount, capturable, received int64, metadata map[string]string) map[string]any {
	return map[string]any{"id": id, "object": "payment_intent", "status": status, "amount": amount,
		"amount_capturable": capturable, "amount_received": received, "currency": "eur", "capture_method": "manual",
		"metadata": metadata, "last_payment_error": nil}
}

func refundObject(id, intentID, status string, amount int64) map[string]any {
	return map[string]any{"id": id, "object": "refund", "amount": amount, "currency": "eur", "status": status,
		"payment_intent": intentID, "charge": "ch_" + intentID, "reason": "requested_by_customer"}
}

// Stripe cancels a hold left uncaptured (after 7 days): the payment is
// canceled, its ledger hold voided, the fact flagged; redeliveries change nothing.
func TestWebhookIntentCanceledReleasesOurHold(t *testing.T) {
	fx := newWHFixture(t)
	p := fx.startTripAuthorised(t, "trip-c1", "c-1")
	now := time.Now()
	obj := intentObject(p.IntentID, "canceled", 1000, 0, 0, nil)
	ev := fx.deliver(t, app.StripeIntentCanceled, now, obj)
	if processed, le := fx.eventState(t, ev); !processed {
		t.Fatalf("event not applied: %s", le)
	}
	got := fx.payment(t, "trip-c1")
	if got.Status != domain.PaymentCanceled || got.Held.AmountMinor != 0 {
		t.Fatalf("payment after cancel: %+v", got)
	}
	if s := fx.holdStatus(t, p.ID); s != "voided" {
		t.Fatalf("hold is %s, want voided", s)
	}
	if kinds := fx.anomalyKinds(); len(kinds) != 1 || kinds[0] != app.AnomalyHoldCanceled {
		t.Fatalf("anomalies %v, want one %s", kinds, app.AnomalyHoldCanceled)
	}
	// A second delivery of the same fact under another event id changes nothing.
	fx.deliver(t, app.StripeIntentCanceled, now, obj)
	if again := fx.payment(t, "trip-c1"); again.UpdatedAt != got.UpdatedAt {
		t.Fatalf("payment changed by a repeated cancel: %+v", again)
	}
	if n := len(fx.anomalyKinds()); n != 1 {
		t.Fatalf("%d anomalies after the repeat, want 1", n)
	}
	fx.assertInvariant(t)
}

// Our own capture, confirmed by payment_intent.succeeded, changes nothing; an
// amount that disagrees is flagged; a cancel after capture never moves back.
func TestWebhookSucceededConfirmsOurCapture(t *testing.T) {
	fx := newWHFixture(t)
	p := fx.captureTrip(t, "trip-s1", "c-1", 612)
	now := time.Now()
	fx.deliver(t, app.StripeIntentSucceeded, now, intentObject(p.IntentID, "succeeded", 1000, 0, 612, nil))
	if kinds := fx.anomalyKinds(); len(kinds) != 0 {
		t.Fatalf("anomalies %v for our own capture", kinds)
	}
	fx.deliver(t, app.StripeIntentSucceeded, now.Add(time.Second), intentObject(p.IntentID, "succeeded", 1000, 0, 500, nil))
	if kinds := fx.anomalyKinds(); len(kinds) != 1 || kinds[0] != app.AnomalyCaptureMismatch {
		t.Fatalf("anomalies %v, want one %s", kinds, app.AnomalyCaptureMismatch)
	}
	fx.deliver(t, app.StripeIntentCanceled, now.Add(2*time.Second), intentObject(p.IntentID, "canceled", 1000, 0, 0, nil))
	got := fx.payment(t, "trip-s1")
	if got.Status != domain.PaymentCaptured || got.Captured.AmountMinor != 612 {
		t.Fatalf("payment moved by webhooks: %+v", got)
	}
	fx.assertInvariant(t)
}

// A capture made outside our worker (the Stripe dashboard) is recorded in the
// books (hold posted, cash in clearing, customer paid ahead) and flagged.
func TestWebhookRecordsACaptureWeDidNotMake(t *testing.T) {
	fx := newWHFixture(t)
	p := fx.startTripAuthorised(t, "trip-u1", "c-2")
	fx.deliver(t, app.StripeIntentSucceeded, time.Now(), intentObject(p.IntentID, "succeeded", 1000, 0, 700, nil))
	got := fx.payment(t, "trip-u1")
	if got.Status != domain.PaymentCaptured || got.Captured.AmountMinor != 700 {
		t.Fatalf("payment: %+v", got)
	}
	if s := fx.holdStatus(t, p.ID); s != "posted" {
		t.Fatalf("hold is %s, want posted", s)
	}
	if c, r := fx.balance(t, domain.AccountGatewayClearing), fx.balance(t, domain.CustomerReceivable("c-2")); c != 700 || r != -700 {
		t.Fatalf("clearing %d, receivable %d; want 700 and -700", c, r)
	}
	if kinds := fx.anomalyKinds(); len(kinds) != 1 || kinds[0] != app.AnomalyUnexpectedCapture {
		t.Fatalf("anomalies %v, want one %s", kinds, app.AnomalyUnexpectedCapture)
	}
	if n := fx.outboxCount(t, events.TypePaymentCapturedV1); n != 1 {
		t.Fatalf("%d captured events, want 1", n)
	}
	fx.assertInvariant(t)
}

// The gateway's answer reaches us by webhook before our worker records it: the
// authorisation is recorded once, and the worker then has nothing left to do.
func TestWebhookAuthorisationBeforeTheWorker(t *testing.T) {
	fx := newWHFixture(t)
	ctx := context.Background()
	fx.ok(t, fx.flows.OnTripStarted(ctx, tripStarted(t, "trip-a1", "c-3", events.VehicleEScooter)))
	pay := app.PaymentID("trip-a1")
	fx.deliver(t, app.StripeIntentCapturableUpdated, time.Now(),
		intentObject("pi_early_1", "requires_capture", 1000, 1000, 0, map[string]string{"payment_id": pay}))
	got := fx.payment(t, "trip-a1")
	if got.Status != domain.PaymentAuthorised || got.IntentID != "pi_early_1" || got.Held.AmountMinor != 1000 {
		t.Fatalf("payment: %+v", got)
	}
	fx.drain(t)
	if n := fx.outboxCount(t, events.TypePaymentAuthorisedV1); n != 1 {
		t.Fatalf("%d authorised events, want 1", n)
	}
	if got := fx.payment(t, "trip-a1"); got.IntentID != "pi_early_1" {
		t.Fatalf("the worker replaced the intent: %+v", got)
	}
}

// A declined authorisation reported by webhook fails the payment and voids its hold.
func TestWebhookPaymentFailed(t *testing.T) {
	fx := newWHFixture(t)
	ctx := context.Background()
	fx.ok(t, fx.flows.OnTripStarted(ctx, tripStarted(t, "trip-f1", "c-4", events.VehicleEScooter)))
	pay := app.PaymentID("trip-f1")
	obj := intentObject("pi_declined_1", "requires_payment_method", 1000, 0, 0, map[string]string{"payment_id": pay})
	obj["last_payment_error"] = map[string]any{"code": "card_declined", "decline_code": "insufficient_funds"}
	fx.deliver(t, app.StripeIntentPaymentFailed, time.Now(), obj)
	got := fx.payment(t, "trip-f1")
	if got.Status != domain.PaymentFailed || got.FailureCode != "insufficient_funds" {
		t.Fatalf("payment: %+v", got)
	}
	if s := fx.holdStatus(t, pay); s != "voided" {
		t.Fatalf("hold is %s, want voided", s)
	}
	if n := fx.outboxCount(t, events.TypePaymentAuthorisationFailedV1); n != 1 {
		t.Fatalf("%d authorisation-failed events, want 1", n)
	}
	fx.assertInvariant(t)
}

// A refund made in the Stripe dashboard is recorded once, whichever of its
// events arrive and however often; a later failure of it is flagged.
func TestWebhookDashboardRefundRecordedOnce(t *testing.T) {
	fx := newWHFixture(t)
	p := fx.captureTrip(t, "trip-r1", "c-5", 900)
	now := time.Now()
	fx.deliver(t, app.StripeRefundCreated, now, refundObject("re_dash_1", p.IntentID, "succeeded", 300))
	fx.deliver(t, app.StripeChargeRefunded, now, map[string]any{"id": "ch_1", "object": "charge",
		"amount_refunded": 300, "currency": "eur", "payment_intent": p.IntentID})
	fx.deliver(t, app.StripeRefundUpdated, now.Add(time.Second), refundObject("re_dash_1", p.IntentID, "succeeded", 300))

	got := fx.payment(t, "trip-r1")
	if got.Refunded.AmountMinor != 300 {
		t.Fatalf("refunded %d, want 300", got.Refunded.AmountMinor)
	}
	rf, err := fx.store.Refund(context.Background(), app.GatewayRefundID("re_dash_1"))
	fx.ok(t, err)
	if rf.Status != domain.RefundSucceeded || rf.ProviderRef != "re_dash_1" || rf.RequestedBy != app.GatewayRefundRequester {
		t.Fatalf("refund: %+v", rf)
	}
	if n := fx.count(t, `SELECT count(*) FROM journal_entries WHERE kind = 'refund'`); n != 1 {
		t.Fatalf("%d refund entries, want 1", n)
	}
	if c := fx.balance(t, domain.AccountRevenueRefunds); c != 300 {
		t.Fatalf("revenue:refunds %d, want 300", c)
	}
	if n := fx.outboxCount(t, events.TypePaymentRefundedV1); n != 1 {
		t.Fatalf("%d refunded events, want 1", n)
	}
	fx.deliver(t, app.StripeRefundFailed, now.Add(2*time.Second), refundObject("re_dash_1", p.IntentID, "failed", 300))
	if kinds := fx.anomalyKinds(); len(kinds) != 1 || kinds[0] != app.AnomalyRefundOutcome {
		t.Fatalf("anomalies %v, want one %s", kinds, app.AnomalyRefundOutcome)
	}
	fx.assertInvariant(t)
}

// charge.refunded of API versions that embed the refunds records them too, once.
func TestWebhookChargeRefundedWithEmbeddedRefunds(t *testing.T) {
	fx := newWHFixture(t)
	p := fx.captureTrip(t, "trip-r2", "c-6", 800)
	charge := map[string]any{"id": "ch_2", "object": "charge", "amount_refunded": 500, "currency": "eur",
		"payment_intent": p.IntentID, "refunds": map[string]any{"object": "list", "data": []any{
			refundObject("re_old_1", p.IntentID, "succeeded", 200), refundObject("re_old_2", p.IntentID, "succeeded", 300)}}}
	fx.deliver(t, app.StripeChargeRefunded, time.Now(), charge)
	fx.deliver(t, app.StripeChargeRefunded, time.Now(), charge)
	if got := fx.payment(t, "trip-r2"); got.Refunded.AmountMinor != 500 {
		t.Fatalf("refunded %d, want 500", got.Refunded.AmountMinor)
	}
	fx.assertInvariant(t)
}

// An event older than the last one applied to the same object is ignored:
// the refund failed (newer event) before its creation event arrived.
func TestWebhookStaleEventIgnored(t *testing.T) {
	fx := newWHFixture(t)
	p := fx.captureTrip(t, "trip-r3", "c-7", 800)
	now := time.Now()
	fx.deliver(t, app.StripeRefundFailed, now, refundObject("re_late_1", p.IntentID, "failed", 200))
	ev := fx.deliver(t, app.StripeRefundCreated, now.Add(-10*time.Second), refundObject("re_late_1", p.IntentID, "succeeded", 200))
	if processed, _ := fx.eventState(t, ev); !processed {
		t.Fatal("stale event not acknowledged")
	}
	if got := fx.payment(t, "trip-r3"); got.Refunded.AmountMinor != 0 {
		t.Fatalf("stale event recorded a refund: %+v", got)
	}
}

// While one of our refunds is queued, Stripe's event about it may come before
// the worker recorded the gateway's answer: the event waits (it is retried)
// and, once the refund is recorded, changes nothing.
func TestWebhookWaitsForOurRefundInFlight(t *testing.T) {
	fx := newWHFixture(t)
	ctx := context.Background()
	p := fx.captureTrip(t, "trip-r4", "c-8", 900)
	rf, err := fx.flows.RequestRefund(ctx, app.RefundRequest{PaymentID: p.ID, Amount: eurMoney(400),
		Reason: "requested_by_customer", RequestedBy: "staff-1", IdempotencyKey: "k-1"})
	fx.ok(t, err)
	if rf.Status != domain.RefundQueued {
		t.Fatalf("refund %s, want queued", rf.Status)
	}
	re := providerRef(app.RefundOpID(rf.ID))
	ev := fx.deliver(t, app.StripeRefundCreated, time.Now(), refundObject(re, p.IntentID, "succeeded", 400))
	if processed, le := fx.eventState(t, ev); processed || le == "" {
		t.Fatalf("event applied while our refund was in flight (processed %v, last error %q)", processed, le)
	}
	fx.drain(t)
	// Its retry comes due.
	_, err = fx.pool.Exec(ctx, `UPDATE webhook_events SET next_attempt_at = now() WHERE event_id = $1`, ev)
	fx.ok(t, err)
	for more := true; more; {
		more, err = fx.processor.ProcessNext(ctx)
		fx.ok(t, err)
	}
	if processed, le := fx.eventState(t, ev); !processed {
		t.Fatalf("event not applied on retry: %s", le)
	}
	got := fx.payment(t, "trip-r4")
	if got.Refunded.AmountMinor != 400 {
		t.Fatalf("refunded %d, want 400 (once)", got.Refunded.AmountMinor)
	}
	if n := fx.count(t, `SELECT count(*) FROM refunds WHERE payment_id = $1`, p.ID); n != 1 {
		t.Fatalf("%d refunds, want 1", n)
	}
	fx.assertInvariant(t)
}

// Events about intents we do not know, and event types we do not handle, are
// acknowledged and change nothing.
func TestWebhookIgnoresWhatIsNotOurs(t *testing.T) {
	fx := newWHFixture(t)
	p := fx.startTripAuthorised(t, "trip-i1", "c-9")
	for _, tc := range []struct {
		typ    string
		object map[string]any
	}{
		{app.StripeIntentCanceled, intentObject("pi_someone_else", "canceled", 1000, 0, 0, nil)},
		{"customer.created", map[string]any{"id": "cus_1", "object": "customer"}},
		{app.StripeRefundCreated, refundObject("re_x", "pi_someone_else", "succeeded", 100)},
		{app.StripeIntentCanceled, map[string]any{"id": p.IntentID, "object": "payment_intent", "currency": 7}},
	} {
		ev := fx.deliver(t, tc.typ, time.Now(), tc.object)
		if processed, le := fx.eventState(t, ev); !processed {
			t.Fatalf("%s not acknowledged: %s", tc.typ, le)
		}
	}
	if got := fx.payment(t, "trip-i1"); got.Status != domain.PaymentAuthorised {
		t.Fatalf("payment changed: %+v", got)
	}
}
