package postgres_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	pg "github.com/mobilitycorp/platform/services/payments/internal/adapters/postgres"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

// Each step posts one business event; want holds the posted EUR balances of the
// accounts after it (cumulative), written by hand from the chart of accounts.
func TestPostBusinessEventsBuildsBalances(t *testing.T) {
	l, _ := newLedger(t)
	const c = "cust-1"
	recv, credit := domain.CustomerReceivable(c), domain.CustomerCredit(c)
	fine, err := domain.FineEntry(c, "fine-2", eur(1000))
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name  string
		entry func() (domain.JournalEntry, error)
		want  map[domain.AccountID]int64
	}{
		{
			name:  "trip of 6.12 EUR: 1.00 unlock + 5.12 ride",
			entry: func() (domain.JournalEntry, error) { return domain.TripChargeEntry(c, "trip-1", eur(100), eur(512)) },
			want:  map[domain.AccountID]int64{recv: 612, domain.AccountRevenueUnlockFees: -100, domain.AccountRevenueRides: -512, domain.AccountGatewayClearing: 0},
		},
		{
			name:  "capture moves it to gateway clearing",
			entry: func() (domain.JournalEntry, error) { return domain.CaptureEntry(c, "cap-trip-1", eur(612)) },
			want:  map[domain.AccountID]int64{recv: 0, domain.AccountGatewayClearing: 612, domain.AccountRevenueRides: -512},
		},
		{
			name:  "late-return fine",
			entry: func() (domain.JournalEntry, error) { return domain.FineEntry(c, "fine-1", eur(2500)) },
			want:  map[domain.AccountID]int64{recv: 2500, domain.AccountRevenueFines: -2500},
		},
		{
			name:  "fine captured",
			entry: func() (domain.JournalEntry, error) { return domain.CaptureEntry(c, "cap-fine-1", eur(2500)) },
			want:  map[domain.AccountID]int64{recv: 0, domain.AccountGatewayClearing: 3112},
		},
		{
			name:  "reward credit for an under-served bay",
			entry: func() (domain.JournalEntry, error) { return domain.GrantCreditEntry(c, "reward-1", eur(200)) },
			want:  map[domain.AccountID]int64{credit: -200, domain.AccountExpenseRewards: 200},
		},
		{
			name:  "next trip of 4.00 EUR",
			entry: func() (domain.JournalEntry, error) { return domain.TripChargeEntry(c, "trip-2", eur(100), eur(300)) },
			want:  map[domain.AccountID]int64{recv: 400, domain.AccountRevenueUnlockFees: -200, domain.AccountRevenueRides: -812},
		},
		{
			name:  "credit applied to the next trip",
			entry: func() (domain.JournalEntry, error) { return domain.ApplyCreditEntry(c, "trip-2", eur(200)) },
			want:  map[domain.AccountID]int64{recv: 200, credit: 0, domain.AccountExpenseRewards: 200},
		},
		{
			name:  "only the rest is captured",
			entry: func() (domain.JournalEntry, error) { return domain.CaptureEntry(c, "cap-trip-2", eur(200)) },
			want:  map[domain.AccountID]int64{recv: 0, domain.AccountGatewayClearing: 3312},
		},
		{
			name:  "fine refunded",
			entry: func() (domain.JournalEntry, error) { return domain.RefundEntry("refund-fine-1", eur(2500)) },
			want:  map[domain.AccountID]int64{domain.AccountGatewayClearing: 812, domain.AccountRevenueRefunds: 2500, domain.AccountRevenueFines: -2500},
		},
		{
			name:  "a wrong fine",
			entry: func() (domain.JournalEntry, error) { return fine, nil },
			want:  map[domain.AccountID]int64{recv: 1000, domain.AccountRevenueFines: -3500},
		},
		{
			name:  "is corrected by a reversal entry",
			entry: func() (domain.JournalEntry, error) { return domain.ReversalEntry(fine) },
			want:  map[domain.AccountID]int64{recv: 0, domain.AccountRevenueFines: -2500},
		},
	}
	for _, s := range steps {
		if !t.Run(s.name, func(t *testing.T) {
			post(t, l, must(t)(s.entry()))
			want := make(map[domain.AccountID]balance, len(s.want))
			for a, v := range s.want {
				want[a] = balance{posted: v}
			}
			assertBalances(t, l, "EUR", want)
		}) {
			t.FailNow() // later steps build on this one
		}
	}
	// Cash kept: 6.12 + 25.00 + 2.00 captured − 25.00 refunded = 8.12, which is
	// the 10.12 of ride and unlock revenue minus the 2.00 reward credit we paid.
	if got := balanceOf(t, l, domain.AccountGatewayClearing, "EUR"); got.posted != 812 {
		t.Fatalf("clearing = %d, want 812", got.posted)
	}
	entries, err := l.Entries(context.Background(), "trip-2")
	if err != nil {
		t.Fatal(err)
	}
	kinds := make([]domain.EntryKind, len(entries))
	for i, e := range entries {
		kinds[i] = e.Kind
		if e.ID == 0 || e.CreatedAt.IsZero() || e.Status != domain.EntryPosted || e.Validate() != nil {
			t.Errorf("entry %+v: want a stored, posted, valid entry", e)
		}
	}
	if want := []domain.EntryKind{domain.KindTripCharge, domain.KindCreditApplied}; !slices.Equal(kinds, want) {
		t.Fatalf("Entries(trip-2) kinds = %v, want %v", kinds, want)
	}
	if !slices.Equal(entries[1].Lines, must(t)(domain.ApplyCreditEntry(c, "trip-2", eur(200))).Lines) {
		t.Fatalf("stored lines %v differ from the posted ones", entries[1].Lines)
	}
	assertClean(t, l)
}

func TestPostReplayPostsOnce(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	fine := must(t)(domain.FineEntry("c1", "fine-1", eur(2500)))
	first := post(t, l, fine)

	tests := []struct {
		name         string
		entry        domain.JournalEntry
		wantErr      error
		wantReplayed bool
		wantSameID   bool
	}{
		{name: "same entry", entry: fine, wantReplayed: true, wantSameID: true},
		{name: "same lines in another order", entry: domain.JournalEntry{Kind: fine.Kind, Reference: fine.Reference,
			Status: fine.Status, Lines: []domain.Line{fine.Lines[1], fine.Lines[0]}}, wantReplayed: true, wantSameID: true},
		{name: "same reference, other amount", entry: must(t)(domain.FineEntry("c1", "fine-1", eur(2600))), wantErr: pg.ErrReferenceConflict},
		{name: "same reference, other customer", entry: must(t)(domain.FineEntry("c2", "fine-1", eur(2500))), wantErr: pg.ErrReferenceConflict},
		{name: "same reference, other kind is another entry", entry: must(t)(domain.CaptureEntry("c1", "fine-1", eur(2500)))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, replayed, err := l.Post(ctx, tt.entry)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if replayed != tt.wantReplayed || (id == first) != tt.wantSameID {
				t.Fatalf("id %d replayed %v, want same id (%d) %v replayed %v", id, replayed, first, tt.wantSameID, tt.wantReplayed)
			}
		})
	}
	if n := countRows(t, pool, `SELECT count(*) FROM journal_entries WHERE reference = 'fine-1' AND kind = 'fine'`); n != 1 {
		t.Fatalf("%d fine entries, want 1", n)
	}
	// Counted once: the fine (+2500) then its capture (−2500).
	assertBalances(t, l, "EUR", map[domain.AccountID]balance{
		domain.CustomerReceivable("c1"): {}, domain.AccountRevenueFines: {posted: -2500}, domain.CustomerReceivable("c2"): {},
	})
	assertClean(t, l)
}

func TestPostTxRunsInCallerTransaction(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	charge := must(t)(domain.TripChargeEntry("c1", "trip-1", eur(100), eur(512)))

	// The use case fails after posting (e.g. the outbox write): nothing remains.
	errLater := errors.New("outbox write failed")
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, _, err := l.PostTx(ctx, tx, charge); err != nil {
			return err
		}
		return errLater
	})
	if !errors.Is(err, errLater) {
		t.Fatalf("err = %v", err)
	}
	if es, err := l.Entries(ctx, "trip-1"); err != nil || len(es) != 0 {
		t.Fatalf("after rollback: %d entries (err %v), want 0", len(es), err)
	}

	// Two entries and a hold resolution in one transaction commit together.
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, _, err := l.PostTx(ctx, tx, must(t)(domain.HoldEntry("c1", "pay-1", eur(1000)))); err != nil {
			return err
		}
		if _, _, err := l.PostTx(ctx, tx, charge); err != nil {
			return err
		}
		_, _, err := l.PostHoldTx(ctx, tx, "pay-1", eur(612))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	assertBalances(t, l, "EUR", map[domain.AccountID]balance{
		domain.CustomerReceivable("c1"): {}, domain.AccountGatewayClearing: {posted: 612}, domain.CustomerHold("c1"): {},
	})

	// hold_post only goes through PostHoldTx, which resolves the hold with it.
	hold := must(t)(domain.HoldEntry("c1", "pay-2", eur(500)))
	if _, _, err := l.Post(ctx, must(t)(domain.PostHoldEntry(hold, eur(100)))); err == nil {
		t.Fatal("Post accepted a hold_post")
	}
	assertClean(t, l)
}
