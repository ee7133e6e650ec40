package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mobilitycorp/platform/pkg/postgres/pgtest"
	pg "github.com/mobilitycorp/platform/services/payments/internal/adapters/postgres"
	"github.com/mobilitycorp/platform/services/payments/internal/app"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
	"github.com/mobilitycorp/platform/services/payments/migrations"
)

func newPayments(t *testing.T) (*pg.Payments, *pgxpool.Pool) {
	t.Helper()
	pool := pgtest.New(t, migrations.Set())
	return pg.NewPayments(pool, time.Minute), pool
}

func createPayment(t *testing.T, r *pg.Payments, trip string) *domain.Payment {
	t.Helper()
	p, err := domain.NewPayment("pay_"+trip, "cust-1", trip, eur(10_00), time.Now().UTC().Truncate(time.Microsecond))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Begin(context.Background(), func(tx pgx.Tx) error { return r.Create(context.Background(), tx, p) }); err != nil {
		t.Fatal(err)
	}
	return p
}

func enqueue(t *testing.T, r *pg.Payments, op app.Operation) bool {
	t.Helper()
	var created bool
	err := r.Begin(context.Background(), func(tx pgx.Tx) (err error) {
		created, err = r.EnqueueTx(context.Background(), tx, op)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return created
}

func TestPaymentsCreateGetUpdate(t *testing.T) {
	r, _ := newPayments(t)
	ctx := context.Background()
	p := createPayment(t, r, "trip-1")

	got, err := r.Get(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != domain.PaymentPendingAuthorisation || got.Held != eur(10_00) || got.Captured != eur(0) || !got.UpdatedAt.Equal(p.UpdatedAt) {
		t.Fatalf("got %+v, want %+v", got, p)
	}
	// Same trip again: refused without aborting the transaction.
	dup, _ := domain.NewPayment("pay_other", "cust-1", "trip-1", eur(10_00), time.Now())
	err = r.Begin(ctx, func(tx pgx.Tx) error {
		if err := r.Create(ctx, tx, dup); !errors.Is(err, app.ErrPaymentExists) {
			t.Errorf("duplicate trip: err = %v", err)
		}
		_, err := tx.Exec(ctx, `SELECT 1`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Get(ctx, "nope"); !errors.Is(err, app.ErrPaymentNotFound) {
		t.Fatalf("missing: err = %v", err)
	}

	// A failing closure saves nothing.
	boom := errors.New("boom")
	err = r.Update(ctx, p.ID, func(_ pgx.Tx, p *domain.Payment) error {
		_ = p.Authorised("pi_1", eur(10_00), time.Now())
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if got, _ := r.Get(ctx, p.ID); got.Status != domain.PaymentPendingAuthorisation {
		t.Fatalf("rolled back update saved: %+v", got)
	}
	err = r.Update(ctx, p.ID, func(_ pgx.Tx, p *domain.Payment) error {
		if err := p.Authorised("pi_1", eur(10_00), time.Now()); err != nil {
			return err
		}
		if err := p.RequestCapture(eur(7_00), time.Now()); err != nil {
			return err
		}
		return p.CaptureSucceeded(eur(7_00), time.Now())
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ = r.Get(ctx, p.ID)
	if got.Status != domain.PaymentCaptured || got.IntentID != "pi_1" || got.Captured != eur(7_00) || got.Held != eur(0) {
		t.Fatalf("after update: %+v", got)
	}
	if err := r.Update(ctx, "nope", func(pgx.Tx, *domain.Payment) error { return nil }); !errors.Is(err, app.ErrPaymentNotFound) {
		t.Fatalf("update missing: err = %v", err)
	}
}

func TestOperationQueue(t *testing.T) {
	r, pool := newPayments(t)
	ctx := context.Background()
	p := createPayment(t, r, "trip-1")
	op := app.Operation{ID: "authorise:trip-1", PaymentID: p.ID, Kind: app.OpAuthorise, Amount: eur(10_00)}
	if !enqueue(t, r, op) {
		t.Fatal("first enqueue not created")
	}
	if enqueue(t, r, op) {
		t.Fatal("second enqueue created a row")
	}

	ops, err := r.ClaimDue(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 1 || ops[0].ID != op.ID || ops[0].Attempts != 1 || ops[0].Amount != eur(10_00) || ops[0].Kind != app.OpAuthorise {
		t.Fatalf("claimed %+v", ops)
	}
	// Leased: not due again until the lease ends or RetryLater.
	if ops, _ := r.ClaimDue(ctx, 10); len(ops) != 0 {
		t.Fatalf("claimed a leased operation: %+v", ops)
	}
	if err := r.RetryLater(ctx, op.ID, "gateway unavailable", 0); err != nil {
		t.Fatal(err)
	}
	ops, _ = r.ClaimDue(ctx, 10)
	if len(ops) != 1 || ops[0].Attempts != 2 || ops[0].LastError != "gateway unavailable" {
		t.Fatalf("re-claimed %+v", ops)
	}
	if err := r.RetryLater(ctx, op.ID, "later", time.Hour); err != nil {
		t.Fatal(err)
	}
	if ops, _ := r.ClaimDue(ctx, 10); len(ops) != 0 {
		t.Fatalf("claimed before its backoff: %+v", ops)
	}

	if err := r.Begin(ctx, func(tx pgx.Tx) error { return r.DoneTx(ctx, tx, op.ID) }); err != nil {
		t.Fatal(err)
	}
	if err := r.Begin(ctx, func(tx pgx.Tx) error { return r.FailTx(ctx, tx, op.ID, "x") }); !errors.Is(err, app.ErrOperationNotPending) {
		t.Fatalf("fail after done: err = %v", err)
	}
	if err := r.RetryLater(ctx, op.ID, "x", 0); !errors.Is(err, app.ErrOperationNotPending) {
		t.Fatalf("retry after done: err = %v", err)
	}
	var status string
	if err := pool.QueryRow(ctx, `SELECT status FROM payment_operations WHERE id = $1`, op.ID).Scan(&status); err != nil || status != "done" {
		t.Fatalf("status %q, %v", status, err)
	}
}

func TestConcurrentClaimsTakeEachOperationOnce(t *testing.T) {
	r, _ := newPayments(t)
	ctx := context.Background()
	const n = 40
	for i := range n {
		p := createPayment(t, r, fmt.Sprintf("trip-%d", i))
		enqueue(t, r, app.Operation{ID: "capture:" + p.TripID, PaymentID: p.ID, Kind: app.OpCapture, Amount: eur(1_00)})
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				ops, err := r.ClaimDue(ctx, 3)
				if err != nil {
					t.Error(err)
					return
				}
				if len(ops) == 0 {
					return
				}
				mu.Lock()
				for _, op := range ops {
					seen[op.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("claimed %d distinct operations, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Fatalf("%s claimed %d times", id, c)
		}
	}
}
