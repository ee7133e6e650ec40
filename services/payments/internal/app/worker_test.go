package app_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/postgres/pgtest"
	pg "github.com/mobilitycorp/platform/services/payments/internal/adapters/postgres"
	"github.com/mobilitycorp/platform/services/payments/internal/adapters/sandbox"
	"github.com/mobilitycorp/platform/services/payments/internal/app"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
	"github.com/mobilitycorp/platform/services/payments/migrations"
)

// rig is the flows and the worker on a fresh database, the sandbox behind a
// spy and (optionally) the circuit breaker.
type rig struct {
	flows   *app.Flows
	worker  *app.Worker
	breaker *app.Breaker // nil without one
	pool    *pgxpool.Pool
	store   *pg.Payments
	ledger  *pg.Ledger
	sandbox *sandbox.Gateway
	spy     *spyGateway
	reg     *prometheus.Registry
	logs    *syncBuffer
}

type rigOptions struct {
	sandbox app.Gateway // wrapped; nil means a default sandbox
	breaker *app.BreakerOptions
	worker  app.WorkerOptions
	methods app.PaymentMethodResolver
	backoff func(int) time.Duration
}

// syncBuffer collects logs written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newRig(t *testing.T, o rigOptions) *rig {
	t.Helper()
	pool := pgtest.New(t, migrations.Set())
	r := &rig{pool: pool, store: pg.NewPayments(pool, time.Minute), ledger: pg.NewLedger(pool),
		reg: prometheus.NewRegistry(), logs: &syncBuffer{}}
	r.sandbox = sandbox.New(sandbox.Options{})
	inner := app.Gateway(r.sandbox)
	if o.sandbox != nil {
		inner = o.sandbox
		if sb, ok := o.sandbox.(*sandbox.Gateway); ok {
			r.sandbox = sb
		}
	}
	r.spy = &spyGateway{Gateway: inner}
	var gw app.Gateway = r.spy
	logger := slog.New(slog.NewTextHandler(r.logs, nil))
	if o.breaker != nil {
		bo := *o.breaker
		bo.Registerer, bo.Name, bo.Logger = r.reg, "sandbox", logger
		b, err := app.NewBreaker(r.spy, bo)
		if err != nil {
			t.Fatal(err)
		}
		r.breaker, gw = b, b
	}
	methods := o.methods
	if methods == nil {
		methods = func(context.Context, string) (app.PaymentMethodRef, error) {
			return app.PaymentMethodRef{PaymentMethod: "pm_card_visa"}, nil
		}
	}
	backoff := o.backoff
	if backoff == nil {
		backoff = func(int) time.Duration { return time.Millisecond }
	}
	r.flows = app.NewFlows(r.store, r.ledger, gw, methods, app.FlowsOptions{
		BatchSize: 64, PollEvery: 5 * time.Millisecond, Backoff: backoff, Logger: logger})
	wo := o.worker
	wo.Registerer = r.reg
	w, err := app.NewWorker(r.flows, r.store, wo)
	if err != nil {
		t.Fatal(err)
	}
	r.worker = w
	return r
}

func (r *rig) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := r.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (r *rig) pending(t *testing.T) int {
	return r.count(t, `SELECT count(*) FROM payment_operations WHERE status = 'pending'`)
}

// drain runs batches until nothing is pending; unexpected failures fail the test.
func (r *rig) drain(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for r.pending(t) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d operations still pending after 60s", r.pending(t))
		}
		n, err := r.worker.ProcessDue(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			time.Sleep(2 * time.Millisecond)
		}
	}
}

// run runs the worker in the background until the returned stop is called
// (or the test ends); stop returns Run's error.
func (r *rig) run(t *testing.T) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.worker.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func (r *rig) invariant(t *testing.T) {
	t.Helper()
	rep, err := r.ledger.CheckInvariant(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("ledger invariant broken: %+v", rep)
	}
}

func mustEvent(t *testing.T, typ, subject string, data any) events.Event {
	t.Helper()
	ev, err := events.New(typ, events.SourceBooking, subject, data)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func startTrip(t *testing.T, r *rig, trip, customer string) {
	t.Helper()
	err := r.flows.OnTripStarted(context.Background(), mustEvent(t, events.TypeTripStartedV1, trip, events.TripStartedV1{
		TripID: trip, CustomerID: customer, VehicleID: "v-" + trip, VehicleType: events.VehicleEScooter, StartedAt: time.Now().UTC()}))
	if err != nil {
		t.Fatal(err)
	}
}

func endTrip(t *testing.T, r *rig, trip, customer string, priceMinor int64) {
	t.Helper()
	err := r.flows.OnTripEnded(context.Background(), mustEvent(t, events.TypeTripEndedV1, trip, events.TripEndedV1{
		TripID: trip, CustomerID: customer, VehicleID: "v-" + trip, VehicleType: events.VehicleEScooter,
		EndedAt: time.Now().UTC(), Price: events.Money{AmountMinor: priceMinor, Currency: "EUR"}, EndedInBay: true}))
	if err != nil {
		t.Fatal(err)
	}
}

// The acceptance: the gateway is down while 200 trips end. Trip ends
// do not wait for it, the breaker opens and the worker stops calling out; when
// the gateway returns the breaker closes and every trip is captured exactly
// once, nothing goes dead and the ledger balances.
func TestGatewayOutageDuring200TripEnds(t *testing.T) {
	const trips = 200
	r := newRig(t, rigOptions{
		breaker: &app.BreakerOptions{ConsecutiveFailures: 5, OpenFor: 40 * time.Millisecond, Probes: 2},
		// Low on purpose: an outage must not count towards dead letters.
		worker:  app.WorkerOptions{Concurrency: 16, MaxAttempts: 2},
		backoff: app.ExponentialBackoff(time.Millisecond, 20*time.Millisecond),
	})
	trip := func(i int) (string, string) { return fmt.Sprintf("trip-%03d", i), fmt.Sprintf("cust-%02d", i%13) }
	price := func(i int) int64 { return int64(50 + 4*i) } // 0.50 to 8.46 EUR, within the 10 EUR hold
	for i := range trips {
		id, cust := trip(i)
		startTrip(t, r, id, cust)
	}
	r.drain(t)
	if n := r.count(t, `SELECT count(*) FROM payments WHERE status = 'authorised'`); n != trips {
		t.Fatalf("authorised before the outage: %d", n)
	}
	callsBefore := r.spy.calls.Load()

	r.sandbox.SetDown(true)
	stop := r.run(t)
	var want int64
	for i := range trips {
		id, cust := trip(i)
		endTrip(t, r, id, cust, price(i)) // never waits on the gateway
		want += price(i)
	}
	// Let the worker meet the outage for a while: several open/half-open rounds.
	deadline := time.Now().Add(10 * time.Second)
	for metric(t, r.reg, "payments_gateway_circuit_transitions_total", map[string]string{"gateway": "sandbox", "to": "half-open"}) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("the breaker did not cycle open/half-open within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	outageCalls := r.spy.calls.Load() - callsBefore
	// Attempts count only the calls that left: a call the open circuit refused
	// gave its attempt back, so backoff does not grow during the outage.
	if n := r.count(t, `SELECT coalesce(sum(attempts), 0) FROM payment_operations WHERE kind = 'capture'`); int64(n) != outageCalls {
		t.Fatalf("capture attempts = %d, but %d calls reached the gateway", n, outageCalls)
	}
	// While open nothing is claimed: only the batch that met the outage and
	// one batch per half-open round are claimed (and released).
	halfOpen := metric(t, r.reg, "payments_gateway_circuit_transitions_total", map[string]string{"gateway": "sandbox", "to": "half-open"})
	if v := metric(t, r.reg, "payments_operations_total", map[string]string{"kind": "capture", "outcome": "released"}); v == 0 || v > 64*(halfOpen+1) {
		t.Fatalf("%v captures released over %v half-open rounds: claimed while open?", v, halfOpen)
	}
	if n := r.count(t, `SELECT count(*) FROM payment_operations WHERE kind = 'capture' AND status = 'pending'`); n != trips {
		t.Fatalf("pending captures during the outage = %d, want %d", n, trips)
	}
	if n := r.count(t, `SELECT count(*) FROM outbox WHERE headers->>$1 = $2`, events.HeaderType, events.TypePaymentCapturedV1); n != 0 {
		t.Fatalf("captured events during the outage: %d", n)
	}
	// The breaker keeps the outage cheap: a few failures per round, not one per operation.
	if outageCalls >= trips {
		t.Fatalf("%d calls reached the down gateway for %d operations: the breaker did not hold them back", outageCalls, trips)
	}

	r.sandbox.SetDown(false)
	stop = r.run(t)
	deadline = time.Now().Add(60 * time.Second)
	for r.pending(t) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d operations still pending 60s after the gateway returned", r.pending(t))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	for i := range trips {
		id, _ := trip(i)
		p, err := r.store.Get(context.Background(), app.PaymentID(id))
		if err != nil {
			t.Fatal(err)
		}
		if p.Status != domain.PaymentCaptured || p.Captured.AmountMinor != price(i) {
			t.Fatalf("%s: %+v", id, p)
		}
		if n := r.sandbox.Captures(p.IntentID); n != 1 {
			t.Fatalf("%s captured %d times at the gateway", id, n)
		}
	}
	if n := r.count(t, `SELECT count(*) FROM outbox WHERE headers->>$1 = $2`, events.HeaderType, events.TypePaymentCapturedV1); n != trips {
		t.Fatalf("PaymentCapturedV1 = %d, want %d", n, trips)
	}
	if n := r.count(t, `SELECT count(*) FROM payment_operations WHERE status <> 'done'`); n != 0 {
		t.Fatalf("%d operations not done (dead or failed)", n)
	}
	if n := r.count(t, `SELECT count(*) FROM payment_operations WHERE failures > 0`); n != 0 {
		t.Fatalf("%d operations counted the outage as failures", n)
	}
	if r.breaker.Open() || metric(t, r.reg, "payments_gateway_circuit_state", map[string]string{"gateway": "sandbox"}) != 0 {
		t.Fatal("breaker not closed after the gateway returned")
	}
	for _, to := range []string{"open", "closed"} {
		if metric(t, r.reg, "payments_gateway_circuit_transitions_total", map[string]string{"gateway": "sandbox", "to": to}) < 1 {
			t.Fatalf("breaker never went %s", to)
		}
	}
	if v := metric(t, r.reg, "payments_operations_total", map[string]string{"kind": "capture", "outcome": "done"}); v != trips {
		t.Fatalf("captures done = %v, want %d", v, trips)
	}
	r.invariant(t)
	posted, pending, err := r.ledger.Balance(context.Background(), domain.AccountGatewayClearing, "EUR")
	if err != nil {
		t.Fatal(err)
	}
	if posted.AmountMinor != want || pending.AmountMinor != 0 {
		t.Fatalf("gateway:clearing = %d/%d, want %d/0", posted.AmountMinor, pending.AmountMinor, want)
	}
}

// An operation failing for an unexpected reason (here the card lookup) is
// retried up to MaxAttempts times, then goes dead: counted, logged once, no
// longer claimed. Operations waiting on it do not count failures. Requeued
// once the cause is fixed, it runs and the payment proceeds.
func TestOperationGoesDeadAfterMaxAttemptsAndCanBeRequeued(t *testing.T) {
	var broken atomic.Bool
	broken.Store(true)
	r := newRig(t, rigOptions{
		worker: app.WorkerOptions{MaxAttempts: 3},
		methods: func(_ context.Context, customer string) (app.PaymentMethodRef, error) {
			if customer == "cust-bad" && broken.Load() {
				return app.PaymentMethodRef{}, errors.New("card service: connection refused")
			}
			return app.PaymentMethodRef{PaymentMethod: "pm_card_visa"}, nil
		},
	})
	ctx := context.Background()
	startTrip(t, r, "trip-bad", "cust-bad")
	startTrip(t, r, "trip-ok", "cust-ok")
	endTrip(t, r, "trip-bad", "cust-bad", 4_00)

	var failures int
	deadline := time.Now().Add(30 * time.Second)
	for r.count(t, `SELECT count(*) FROM payment_operations WHERE status = 'dead'`) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no operation went dead within 30s")
		}
		if _, err := r.worker.ProcessDue(ctx); err != nil {
			if !strings.Contains(err.Error(), "connection refused") {
				t.Fatalf("unexpected error: %v", err)
			}
			failures++
		}
		time.Sleep(2 * time.Millisecond)
	}
	if failures != 2 {
		t.Fatalf("ProcessDue reported %d failures before the operation went dead, want 2 (the 3rd is the dead letter)", failures)
	}
	dead, err := r.store.DeadOperations(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 || dead[0].ID != app.AuthoriseOpID("trip-bad") || dead[0].Failures != 3 ||
		!strings.Contains(dead[0].LastError, "connection refused") {
		t.Fatalf("dead operations = %+v", dead)
	}
	if v := metric(t, r.reg, "payments_operations_total", map[string]string{"kind": "authorise", "outcome": "dead"}); v != 1 {
		t.Fatalf("dead metric = %v, want 1", v)
	}
	// More rounds: the dead operation is not run again, the capture waits
	// without counting failures, the healthy trip is unaffected.
	calls := r.spy.calls.Load()
	for range 5 {
		if _, err := r.worker.ProcessDue(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if n := r.count(t, `SELECT count(*) FROM payment_operations WHERE id = $1 AND status = 'pending' AND failures = 0 AND attempts > 1`,
		app.CaptureOpID("trip-bad")); n != 1 {
		t.Fatal("the capture waiting on the dead authorisation is not pending with retries and no failures")
	}
	if r.spy.calls.Load() != calls {
		t.Fatal("the gateway was called for a dead or waiting operation")
	}
	if n := strings.Count(r.logs.String(), "payment operation is dead"); n != 1 {
		t.Fatalf("dead letter logged %d times, want once", n)
	}
	if p, err := r.store.Get(ctx, app.PaymentID("trip-ok")); err != nil || p.Status != domain.PaymentAuthorised {
		t.Fatalf("healthy trip: %+v, %v", p, err)
	}

	broken.Store(false)
	if err := r.store.RequeueDead(ctx, app.AuthoriseOpID("trip-bad")); err != nil {
		t.Fatal(err)
	}
	r.drain(t)
	p, err := r.store.Get(ctx, app.PaymentID("trip-bad"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != domain.PaymentCaptured || p.Captured.AmountMinor != 4_00 {
		t.Fatalf("after requeue: %+v", p)
	}
	r.invariant(t)
}

// A batch runs concurrently, bounded by Concurrency, and completes every operation.
func TestWorkerRunsABatchConcurrently(t *testing.T) {
	const trips, limit = 48, 8
	r := newRig(t, rigOptions{
		sandbox: sandbox.New(sandbox.Options{Latency: 20 * time.Millisecond}),
		worker:  app.WorkerOptions{Concurrency: limit},
	})
	for i := range trips {
		startTrip(t, r, fmt.Sprintf("trip-%02d", i), "cust-1")
	}
	n, err := r.worker.ProcessDue(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n != trips {
		t.Fatalf("claimed %d, want %d", n, trips)
	}
	if m := r.spy.maxInFlight.Load(); m < 2 || m > limit {
		t.Fatalf("at most %d gateway calls in flight, want 2..%d", m, limit)
	}
	if n := r.count(t, `SELECT count(*) FROM payments WHERE status = 'authorised'`); n != trips {
		t.Fatalf("authorised = %d, want %d", n, trips)
	}
}

// Shutdown lets the operations in flight finish and record their outcome.
func TestWorkerFinishesInFlightOperationsOnShutdown(t *testing.T) {
	r := newRig(t, rigOptions{sandbox: sandbox.New(sandbox.Options{Latency: 100 * time.Millisecond})})
	for i := range 4 {
		startTrip(t, r, fmt.Sprintf("trip-%d", i), "cust-1")
	}
	stop := r.run(t)
	deadline := time.Now().Add(10 * time.Second)
	for r.spy.inFlight.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no call in flight within 10s")
		}
		time.Sleep(time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := r.count(t, `SELECT count(*) FROM payments WHERE status = 'authorised'`); n != 4 {
		t.Fatalf("authorised after shutdown = %d, want 4", n)
	}
	if n := r.pending(t); n != 0 {
		t.Fatalf("%d operations left pending", n)
	}
}
