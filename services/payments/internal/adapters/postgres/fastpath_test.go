package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	pg "github.com/mobilitycorp/platform/services/payments/internal/adapters/postgres"
	"github.com/mobilitycorp/platform/services/payments/internal/app"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

// countingTx counts the statements sent through it.
type countingTx struct {
	pgx.Tx
	statements int
}

func (c *countingTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	c.statements++
	return c.Tx.Exec(ctx, sql, args...)
}

func (c *countingTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	c.statements++
	return c.Tx.Query(ctx, sql, args...)
}

func (c *countingTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	c.statements++
	return c.Tx.QueryRow(ctx, sql, args...)
}

// inTx runs fn in a transaction and returns how many statements it sent.
func inTx(t *testing.T, pool *pgxpool.Pool, fn func(tx pgx.Tx) error) (int, error) {
	t.Helper()
	var n int
	err := pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
		c := &countingTx{Tx: tx}
		err := fn(c)
		n = c.statements
		return err
	})
	return n, err
}

// A capture whose hold is as the payment says posts it in one statement;
// anything else gets PostHoldTx's answer.
func TestPostExpectedHold(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	const c = "c1"
	expected := func(ref string, held int64) domain.JournalEntry {
		return must(t)(domain.HoldEntry(c, ref, eur(held)))
	}
	post(t, l, expected("pay-1", 1000))
	post(t, l, must(t)(domain.TripChargeEntry(c, "trip-1", eur(0), eur(612))))

	var id domain.EntryID
	n, err := inTx(t, pool, func(tx pgx.Tx) error {
		var replayed bool
		var err error
		id, replayed, err = l.PostExpectedHoldTx(ctx, tx, expected("pay-1", 1000), eur(612))
		if err == nil && replayed {
			t.Error("first post reported as a replay")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("the post took %d statements, want 1", n)
	}
	want := map[domain.AccountID]balance{
		domain.CustomerHold(c): {}, domain.AccountGatewayHolds: {}, domain.CustomerReceivable(c): {},
		domain.AccountGatewayClearing: {posted: 612},
	}
	assertBalances(t, l, "EUR", want)
	entries, err := l.Entries(ctx, "pay-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].Status != domain.EntryPosted || entries[1].Kind != domain.KindHoldPost || entries[1].ID != id {
		t.Fatalf("entries of pay-1 = %+v, want the posted hold and its hold_post %d", entries, id)
	}

	// A hold of another amount than the payment says (3.00 held), and resolved holds.
	post(t, l, expected("pay-2", 300))
	post(t, l, expected("pay-3", 1000))
	if err := l.VoidHold(ctx, "pay-3"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		hold         domain.JournalEntry
		amount       domain.Money
		wantErr      error
		wantID       domain.EntryID // 0: a new entry
		wantReplayed bool
	}{
		{"same post again is a replay", expected("pay-1", 1000), eur(612), nil, id, true},
		{"another amount again is a conflict", expected("pay-1", 1000), eur(700), pg.ErrReferenceConflict, 0, false},
		{"stored hold smaller than expected", expected("pay-2", 1000), eur(500), domain.ErrExceedsHold, 0, false},
		{"stored hold other than expected, amount within it", expected("pay-2", 1000), eur(300), nil, 0, false},
		{"voided hold", expected("pay-3", 1000), eur(100), domain.ErrHoldResolved, 0, false},
		{"no hold", expected("pay-404", 1000), eur(100), pg.ErrHoldNotFound, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got domain.EntryID
			var replayed bool
			_, err := inTx(t, pool, func(tx pgx.Tx) error {
				var err error
				got, replayed, err = l.PostExpectedHoldTx(ctx, tx, tt.hold, tt.amount)
				return err
			})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if replayed != tt.wantReplayed || (tt.wantID != 0 && got != tt.wantID) {
				t.Fatalf("got entry %d replayed %v, want %d replayed %v", got, replayed, tt.wantID, tt.wantReplayed)
			}
		})
	}
	// pay-2 was posted once, for 3.00 of its 3.00 hold.
	assertBalances(t, l, "EUR", map[domain.AccountID]balance{
		domain.CustomerHold(c): {}, domain.AccountGatewayHolds: {}, domain.AccountGatewayClearing: {posted: 912},
	})
	assertClean(t, l)
}

// Concurrent posts of one hold through the one-statement path: one writes,
// the others wait on the hold's row and replay.
func TestConcurrentPostExpectedHoldPostsOnce(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	hold := must(t)(domain.HoldEntry("c1", "pay-1", eur(1000)))
	post(t, l, hold)
	const n = 6
	var wg sync.WaitGroup
	replays := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				var err error
				_, replays[i], err = l.PostExpectedHoldTx(ctx, tx, hold, eur(612))
				return err
			})
		})
	}
	wg.Wait()
	var firsts int
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("post %d: %v", i, errs[i])
		}
		if !replays[i] {
			firsts++
		}
	}
	if firsts != 1 {
		t.Fatalf("%d posts wrote, want 1", firsts)
	}
	assertBalances(t, l, "EUR", map[domain.AccountID]balance{domain.AccountGatewayClearing: {posted: 612}})
	assertClean(t, l)
}

// The trip's charge and the customer's credit balance in one statement.
func TestPostTxWithBalance(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	credit := domain.CustomerCredit("c1")
	post(t, l, must(t)(domain.GrantCreditEntry("c1", "reward-1", eur(250))))
	post(t, l, must(t)(domain.GrantCreditEntry("c2", "reward-2", eur(999))))
	charge := must(t)(domain.TripChargeEntry("c1", "trip-1", eur(0), eur(612)))
	for _, wantReplayed := range []bool{false, true} {
		var posted domain.Money
		var replayed bool
		n, err := inTx(t, pool, func(tx pgx.Tx) error {
			var err error
			_, replayed, posted, err = l.PostTxWithBalance(ctx, tx, charge, credit, "EUR")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if replayed != wantReplayed || posted != eur(-250) {
			t.Errorf("replayed %v, balance %v; want %v, -2.50 EUR (a credit balance)", replayed, posted, wantReplayed)
		}
		if !wantReplayed && n != 1 {
			t.Errorf("post and balance took %d statements, want 1", n)
		}
	}
	var none domain.Money
	if _, err := inTx(t, pool, func(tx pgx.Tx) error {
		var err error
		_, _, none, err = l.PostTxWithBalance(ctx, tx, must(t)(domain.FineEntry("c3", "fine-1", eur(100))),
			domain.CustomerCredit("c3"), "EUR")
		return err
	}); err != nil || none != eur(0) {
		t.Errorf("customer without credit: balance %v, err %v; want 0 EUR", none, err)
	}
	assertBalances(t, l, "EUR", map[domain.AccountID]balance{domain.CustomerReceivable("c1"): {posted: 612}})
	assertClean(t, l)
}

// A claimed operation carries its payment as the claim read it, so the worker
// need not read it again before calling the gateway.
func TestClaimDueCarriesThePayment(t *testing.T) {
	r, _ := newPayments(t)
	ctx := context.Background()
	createPayment(t, r, "trip-1")
	createPayment(t, r, "trip-2")
	for _, trip := range []string{"trip-1", "trip-2"} {
		enqueue(t, r, app.Operation{ID: app.AuthoriseOpID(trip), PaymentID: app.PaymentID(trip), Kind: app.OpAuthorise, Amount: eur(10_00)})
	}
	ops, err := r.ClaimDue(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 2 {
		t.Fatalf("claimed %d operations, want 2", len(ops))
	}
	for _, op := range ops {
		want, err := r.Get(ctx, op.PaymentID)
		if err != nil {
			t.Fatal(err)
		}
		if op.Payment == nil || *op.Payment != *want {
			t.Errorf("operation %s carries %+v, want %+v", op.ID, op.Payment, want)
		}
	}
}
