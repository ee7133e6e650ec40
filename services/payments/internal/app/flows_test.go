package app_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/postgres/pgtest"
	pg "github.com/mobilitycorp/platform/services/payments/internal/adapters/postgres"
	"github.com/mobilitycorp/platform/services/payments/internal/adapters/sandbox"
	"github.com/mobilitycorp/platform/services/payments/internal/app"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
	"github.com/mobilitycorp/platform/services/payments/migrations"
)

type fixture struct {
	flows  *app.Flows
	pool   *pgxpool.Pool
	ledger *pg.Ledger
	store  *pg.Payments
	gw     *sandbox.Gateway
}

// newFixture wires the flow on a fresh database and the sandbox; cards maps
// customers to payment methods (default pm_card_visa).
func newFixture(t *testing.T, cards map[string]string) fixture {
	t.Helper()
	pool := pgtest.New(t, migrations.Set())
	gw := sandbox.New(sandbox.Options{})
	ledger := pg.NewLedger(pool)
	store := pg.NewPayments(pool, time.Minute)
	methods := func(_ context.Context, customerID string) (app.PaymentMethodRef, error) {
		pm, ok := cards[customerID]
		if !ok {
			pm = "pm_card_visa"
		}
		return app.PaymentMethodRef{PaymentMethod: pm}, nil
	}
	flows := app.NewFlows(store, ledger, gw, methods, app.FlowsOptions{
		BatchSize: 16,
		PollEvery: 5 * time.Millisecond,
		Backoff:   func(int) time.Duration { return time.Millisecond },
	})
	return fixture{flows: flows, pool: pool, ledger: ledger, store: store, gw: gw}
}

func event(t *testing.T, typ, subject string, data any) events.Event {
	t.Helper()
	ev, err := events.New(typ, events.SourceBooking, subject, data)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func tripStarted(t *testing.T, trip, customer string, vt events.VehicleType) events.Event {
	return event(t, events.TypeTripStartedV1, trip, events.TripStartedV1{
		TripID: trip, CustomerID: customer, VehicleID: "v-" + trip, VehicleType: vt, StartedAt: time.Now().UTC()})
}

func tripEnded(t *testing.T, trip, customer string, priceMinor int64) events.Event {
	return event(t, events.TypeTripEndedV1, trip, events.TripEndedV1{
		TripID: trip, CustomerID: customer, VehicleID: "v-" + trip, VehicleType: events.VehicleEScooter,
		EndedAt: time.Now().UTC(), Price: events.Money{AmountMinor: priceMinor, Currency: "EUR"}, EndedInBay: true})
}

func (fx fixture) ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (fx fixture) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := fx.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (fx fixture) outboxCount(t *testing.T, eventType string) int {
	t.Helper()
	return fx.count(t, `SELECT count(*) FROM outbox WHERE topic = $1 AND headers->>$2 = $3`,
		events.TopicPaymentsEvents, events.HeaderType, eventType)
}

// drain runs the worker until no operation is pending.
func (fx fixture) drain(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for fx.count(t, `SELECT count(*) FROM payment_operations WHERE status = 'pending'`) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("operations still pending after 30s")
		}
		n, err := fx.flows.ProcessDue(ctx)
		fx.ok(t, err)
		if n == 0 {
			time.Sleep(2 * time.Millisecond)
		}
	}
}

func (fx fixture) payment(t *testing.T, trip string) *domain.Payment {
	t.Helper()
	p, err := fx.store.Get(context.Background(), app.PaymentID(trip))
	fx.ok(t, err)
	return p
}

func (fx fixture) assertInvariant(t *testing.T) {
	t.Helper()
	rep, err := fx.ledger.CheckInvariant(context.Background())
	fx.ok(t, err)
	if !rep.OK() {
		t.Fatalf("ledger invariant broken: %+v", rep)
	}
}

func (fx fixture) balance(t *testing.T, account domain.AccountID) (posted, pending int64) {
	t.Helper()
	p, q, err := fx.ledger.Balance(context.Background(), account, "EUR")
	fx.ok(t, err)
	return p.AmountMinor, q.AmountMinor
}

func TestTripEndedRedeliveredCapturesOnce(t *testing.T) {
	fx := newFixture(t, nil)
	ctx := context.Background()
	start := tripStarted(t, "trip-1", "cust-1", events.VehicleEBike)
	for range 2 {
		fx.ok(t, fx.flows.OnTripStarted(ctx, start))
	}
	fx.drain(t)
	p := fx.payment(t, "trip-1")
	if p.Status != domain.PaymentAuthorised || p.Held.AmountMinor != app.HoldMicromobility {
		t.Fatalf("after start: %+v", p)
	}

	end := tripEnded(t, "trip-1", "cust-1", 7_35)
	for range 3 {
		fx.ok(t, fx.flows.OnTripEnded(ctx, end))
		fx.drain(t)
	}
	p = fx.payment(t, "trip-1")
	if p.Status != domain.PaymentCaptured || p.Captured.AmountMinor != 7_35 || p.Held.AmountMinor != 0 {
		t.Fatalf("after end: %+v", p)
	}
	if n := fx.gw.Captures(p.IntentID); n != 1 {
		t.Fatalf("gateway captures = %d, want 1", n)
	}
	if n := fx.outboxCount(t, events.TypePaymentCapturedV1); n != 1 {
		t.Fatalf("PaymentCapturedV1 in outbox = %d, want 1", n)
	}
	if n := fx.outboxCount(t, events.TypePaymentAuthorisedV1); n != 1 {
		t.Fatalf("PaymentAuthorisedV1 in outbox = %d, want 1", n)
	}
	if n := fx.count(t, `SELECT count(*) FROM payment_operations WHERE status = 'done'`); n != 2 {
		t.Fatalf("done operations = %d, want 2", n)
	}
	fx.assertInvariant(t)
	if posted, pending := fx.balance(t, domain.AccountGatewayClearing); posted != 7_35 || pending != 0 {
		t.Fatalf("gateway:clearing = %d/%d", posted, pending)
	}
	if posted, pending := fx.balance(t, domain.CustomerReceivable("cust-1")); posted != 0 || pending != 0 {
		t.Fatalf("receivable = %d/%d, want settled", posted, pending)
	}
	if _, pending := fx.balance(t, domain.CustomerHold("cust-1")); pending != 0 {
		t.Fatalf("hold still pending: %d", pending)
	}
}

func TestGatewayOutageLosesNoOperation(t *testing.T) {
	fx := newFixture(t, nil)
	ctx := context.Background()
	const trips = 50
	price := func(i int) int64 { return int64(100 + 13*i) } // 1.00 to 7.37 EUR, within every hold
	vehicle := func(i int) events.VehicleType {
		if i%5 == 0 {
			return events.VehicleCar
		}
		return events.VehicleEScooter
	}
	// The first half is authorised before the outage; the second half starts during it.
	for i := range trips {
		if i == trips/2 {
			fx.drain(t)
			fx.gw.SetDown(true)
		}
		trip, cust := fmt.Sprintf("trip-%02d", i), fmt.Sprintf("cust-%02d", i%7)
		fx.ok(t, fx.flows.OnTripStarted(ctx, tripStarted(t, trip, cust, vehicle(i))))
	}
	var want int64
	for i := range trips {
		trip, cust := fmt.Sprintf("trip-%02d", i), fmt.Sprintf("cust-%02d", i%7)
		fx.ok(t, fx.flows.OnTripEnded(ctx, tripEnded(t, trip, cust, price(i))))
		want += price(i)
	}
	// Several rounds while down: every operation is retried, none completes or is lost.
	for range 5 {
		n, err := fx.flows.ProcessDue(ctx)
		fx.ok(t, err)
		_ = n
		time.Sleep(3 * time.Millisecond)
	}
	for _, rec := range fx.gw.Intents() {
		if rec.Captures != 0 {
			t.Fatalf("captured while down: %s", rec.ID)
		}
	}
	if n := fx.count(t, `SELECT count(*) FROM payment_operations WHERE status = 'pending'`); n != trips+trips/2 {
		t.Fatalf("pending operations = %d, want %d", n, trips+trips/2)
	}
	if n := fx.count(t, `SELECT count(*) FROM payment_operations WHERE attempts > 1 AND last_error <> ''`); n == 0 {
		t.Fatal("no operation was retried")
	}
	if n := fx.outboxCount(t, events.TypePaymentCapturedV1); n != 0 {
		t.Fatalf("captured events while down: %d", n)
	}

	fx.gw.SetDown(false)
	fx.drain(t)
	for i := range trips {
		p := fx.payment(t, fmt.Sprintf("trip-%02d", i))
		if p.Status != domain.PaymentCaptured || p.Captured.AmountMinor != price(i) {
			t.Fatalf("trip %d: %+v", i, p)
		}
		if n := fx.gw.Captures(p.IntentID); n != 1 {
			t.Fatalf("trip %d captured %d times", i, n)
		}
	}
	if n := fx.outboxCount(t, events.TypePaymentCapturedV1); n != trips {
		t.Fatalf("PaymentCapturedV1 = %d, want %d", n, trips)
	}
	if n := len(fx.gw.Intents()); n != trips {
		t.Fatalf("intents = %d, want one per trip", n)
	}
	fx.assertInvariant(t)
	if posted, _ := fx.balance(t, domain.AccountGatewayClearing); posted != want {
		t.Fatalf("gateway:clearing = %d, want %d", posted, want)
	}
	if posted, pending := fx.balance(t, domain.AccountGatewayHolds); posted != 0 || pending != 0 {
		t.Fatalf("gateway:holds = %d/%d, want 0/0", posted, pending)
	}
}

func TestDeclinedCardFailsWithoutCapture(t *testing.T) {
	fx := newFixture(t, map[string]string{"cust-bad": "pm_card_chargeDeclined"})
	ctx := context.Background()
	fx.ok(t, fx.flows.OnTripStarted(ctx, tripStarted(t, "trip-d", "cust-bad", events.VehicleVan)))
	fx.ok(t, fx.flows.OnTripEnded(ctx, tripEnded(t, "trip-d", "cust-bad", 12_00)))
	fx.drain(t)

	p := fx.payment(t, "trip-d")
	if p.Status != domain.PaymentFailed || p.FailureCode != "generic_decline" {
		t.Fatalf("payment: %+v", p)
	}
	if n := fx.outboxCount(t, events.TypePaymentAuthorisationFailedV1); n != 1 {
		t.Fatalf("PaymentAuthorisationFailedV1 = %d, want 1", n)
	}
	if n := fx.outboxCount(t, events.TypePaymentFailedV1); n != 0 {
		t.Fatalf("PaymentFailedV1 = %d, want 0 (an authorisation failure has its own type)", n)
	}
	if n := fx.outboxCount(t, events.TypePaymentCapturedV1) + fx.outboxCount(t, events.TypePaymentAuthorisedV1); n != 0 {
		t.Fatalf("unexpected authorised/captured events: %d", n)
	}
	for _, rec := range fx.gw.Intents() {
		if rec.Captures != 0 {
			t.Fatalf("declined intent captured: %+v", rec)
		}
	}
	if n := fx.count(t, `SELECT count(*) FROM payment_operations WHERE status = 'failed'`); n != 2 {
		t.Fatalf("failed operations = %d, want 2 (authorise, capture)", n)
	}
	fx.assertInvariant(t)
	if posted, _ := fx.balance(t, domain.AccountGatewayClearing); posted != 0 {
		t.Fatalf("gateway:clearing = %d, want 0", posted)
	}
	// The trip is still owed: it stays on the customer's receivable.
	if posted, _ := fx.balance(t, domain.CustomerReceivable("cust-bad")); posted != 12_00 {
		t.Fatalf("receivable = %d, want 1200", posted)
	}
	if _, pending := fx.balance(t, domain.CustomerHold("cust-bad")); pending != 0 {
		t.Fatalf("hold still pending: %d", pending)
	}
}

func TestTripEndedBeforeStartIsRetriable(t *testing.T) {
	fx := newFixture(t, nil)
	err := fx.flows.OnTripEnded(context.Background(), tripEnded(t, "trip-early", "cust-1", 5_00))
	if !errors.Is(err, app.ErrPaymentNotFound) {
		t.Fatalf("err = %v, want ErrPaymentNotFound", err)
	}
	// The event was not claimed, so a redelivery after the start is applied.
	fx.ok(t, fx.flows.OnTripStarted(context.Background(), tripStarted(t, "trip-early", "cust-1", events.VehicleEBike)))
}

func TestExponentialBackoff(t *testing.T) {
	b := app.ExponentialBackoff(time.Second, 10*time.Second)
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 50: 10 * time.Second} {
		if got := b(attempt); got != want {
			t.Errorf("backoff(%d) = %v, want %v", attempt, got, want)
		}
	}
}

func TestZeroPriceTripReleasesTheHold(t *testing.T) {
	fx := newFixture(t, nil)
	ctx := context.Background()
	fx.ok(t, fx.flows.OnTripStarted(ctx, tripStarted(t, "trip-0", "cust-0", events.VehicleEBike)))
	fx.ok(t, fx.flows.OnTripEnded(ctx, tripEnded(t, "trip-0", "cust-0", 0)))
	fx.drain(t)
	p := fx.payment(t, "trip-0")
	if p.Status != domain.PaymentCanceled {
		t.Fatalf("payment: %+v", p)
	}
	if rec, _ := fx.gw.Intent(p.IntentID); rec.Status != app.StatusCanceled || rec.Captures != 0 {
		t.Fatalf("intent: %+v", rec)
	}
	fx.assertInvariant(t)
	if _, pending := fx.balance(t, domain.CustomerHold("cust-0")); pending != 0 {
		t.Fatalf("hold still pending: %d", pending)
	}
}

func TestRunOperationsWorker(t *testing.T) {
	fx := newFixture(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fx.flows.RunOperations(ctx) }()
	fx.ok(t, fx.flows.OnTripStarted(ctx, tripStarted(t, "trip-w", "cust-w", events.VehicleCar)))
	fx.ok(t, fx.flows.OnTripEnded(ctx, tripEnded(t, "trip-w", "cust-w", 42_00)))
	deadline := time.Now().Add(20 * time.Second)
	for fx.payment(t, "trip-w").Status != domain.PaymentCaptured {
		if time.Now().After(deadline) {
			t.Fatalf("not captured by the worker: %+v", fx.payment(t, "trip-w"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("RunOperations: %v", err)
	}
	if p := fx.payment(t, "trip-w"); p.Captured.AmountMinor != 42_00 {
		t.Fatalf("captured %+v, want the car's 50.00 hold to cover 42.00", p)
	}
}
