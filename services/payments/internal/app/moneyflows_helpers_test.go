package app_test

import (
	"context"
	"errors"
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
	"github.com/mobilitycorp/platform/services/payments/migrations"
)

// fxOptions extends newFixture for the money-flow tests.
type fxOptions struct {
	cards     map[string]string                   // customer → payment method (default pm_card_visa); read at call time
	clock     *clock                              // the sandbox's clock (key expiry); nil: wall clock
	wrapStore func(*pg.Payments) app.PaymentStore // keep the operation queue: embed *pg.Payments
	wrapGW    func(app.Gateway) app.Gateway
	threshold int64 // RefundApprovalThreshold
}

func newFixtureWith(t *testing.T, o fxOptions) fixture {
	t.Helper()
	pool := pgtest.New(t, migrations.Set())
	sbOpts := sandbox.Options{}
	if o.clock != nil {
		sbOpts.Now = o.clock.Now
	}
	gw := sandbox.New(sbOpts)
	ledger := pg.NewLedger(pool)
	store := pg.NewPayments(pool, time.Minute)
	var (
		flowStore app.PaymentStore = store
		flowGW    app.Gateway      = gw
	)
	if o.wrapStore != nil {
		flowStore = o.wrapStore(store)
	}
	if o.wrapGW != nil {
		flowGW = o.wrapGW(gw)
	}
	var mu sync.Mutex
	methods := func(_ context.Context, customerID string) (app.PaymentMethodRef, error) {
		mu.Lock()
		defer mu.Unlock()
		pm, ok := o.cards[customerID]
		if !ok {
			pm = "pm_card_visa"
		}
		return app.PaymentMethodRef{PaymentMethod: pm}, nil
	}
	flows := app.NewFlows(flowStore, ledger, flowGW, methods, app.FlowsOptions{
		BatchSize:               16,
		PollEvery:               5 * time.Millisecond,
		Backoff:                 func(int) time.Duration { return time.Millisecond },
		RefundApprovalThreshold: o.threshold,
	})
	return fixture{flows: flows, pool: pool, ledger: ledger, store: store, gw: gw}
}

// clock is a settable clock for the sandbox.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var errLostWrite = errors.New("injected: the database write after the gateway call was lost")

// lossyStore loses (rolls back) chosen Update calls after their closure ran:
// the gateway has acted, our record of it never commits.
type lossyStore struct {
	*pg.Payments
	mu   sync.Mutex
	lose map[string][]int // payment id → 1-based Update call numbers to lose
	seen map[string]int
	lost int
}

func newLossyStore(s *pg.Payments, lose map[string][]int) *lossyStore {
	return &lossyStore{Payments: s, lose: lose, seen: map[string]int{}}
}

func (s *lossyStore) Update(ctx context.Context, id string, fn func(tx pgx.Tx, p *domain.Payment) error) error {
	s.mu.Lock()
	s.seen[id]++
	n, lose := s.seen[id], false
	for _, k := range s.lose[id] {
		lose = lose || k == n
	}
	if lose {
		s.lost++
	}
	s.mu.Unlock()
	if !lose {
		return s.Payments.Update(ctx, id, fn)
	}
	return s.Payments.Update(ctx, id, func(tx pgx.Tx, p *domain.Payment) error {
		if err := fn(tx, p); err != nil {
			return err
		}
		return errLostWrite
	})
}

// drainTolerating runs the worker until nothing is pending, accepting errors
// that wrap allowed (an injected failure); any other error fails the test.
func (fx fixture) drainTolerating(t *testing.T, allowed error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for fx.count(t, `SELECT count(*) FROM payment_operations WHERE status = 'pending'`) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("operations still pending after 30s")
		}
		n, err := fx.flows.ProcessDue(context.Background())
		if err != nil && !errors.Is(err, allowed) {
			t.Fatal(err)
		}
		if n == 0 {
			time.Sleep(2 * time.Millisecond)
		}
	}
}

func (fx fixture) get(t *testing.T, paymentID string) *domain.Payment {
	t.Helper()
	p, err := fx.store.Get(context.Background(), paymentID)
	fx.ok(t, err)
	return p
}

// capturedTrip runs a trip of price on vt through start, authorisation and
// capture, and returns its payment.
func (fx fixture) capturedTrip(t *testing.T, trip, customer string, vt events.VehicleType, price int64) *domain.Payment {
	t.Helper()
	ctx := context.Background()
	fx.ok(t, fx.flows.OnTripStarted(ctx, tripStarted(t, trip, customer, vt)))
	fx.drain(t)
	fx.ok(t, fx.flows.OnTripEnded(ctx, tripEnded(t, trip, customer, price)))
	fx.drain(t)
	p := fx.payment(t, trip)
	if p.Status != domain.PaymentCaptured {
		t.Fatalf("trip %s not captured: %+v", trip, p)
	}
	return p
}

// outboxData decodes the payloads of eventType in the outbox, oldest first.
func outboxData[T any](t *testing.T, fx fixture, eventType string) []T {
	t.Helper()
	rows, err := fx.pool.Query(context.Background(), `SELECT payload FROM outbox WHERE topic = $1 AND headers->>$2 = $3 ORDER BY id`,
		events.TopicPaymentsEvents, events.HeaderType, eventType)
	fx.ok(t, err)
	raws, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	fx.ok(t, err)
	out := make([]T, 0, len(raws))
	for _, raw := range raws {
		v, err := events.Decode[T](events.Event{Type: eventType, Data: raw})
		fx.ok(t, err)
		out = append(out, v)
	}
	return out
}

func eurMoney(minor int64) domain.Money { return domain.Money{AmountMinor: minor, Currency: "EUR"} }

func fineIssued(t *testing.T, fineID, customer, trip, reason string, minor int64) events.Event {
	return event(t, events.TypeFineIssuedV1, trip, events.FineIssuedV1{FineID: fineID, CustomerID: customer, TripID: trip,
		Reason: reason, Amount: events.Money{AmountMinor: minor, Currency: "EUR"}, IssuedAt: time.Now().UTC()})
}

func rewardGranted(t *testing.T, rewardID, customer, trip string, minor int64) events.Event {
	return event(t, events.TypeRewardGrantedV1, trip, events.RewardGrantedV1{RewardID: rewardID, CustomerID: customer,
		TripID: trip, BayID: "bay-1", Amount: events.Money{AmountMinor: minor, Currency: "EUR"}, Reason: "under-served bay",
		GrantedAt: time.Now().UTC()})
}
