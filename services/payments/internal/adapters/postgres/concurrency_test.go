package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mobilitycorp/platform/pkg/postgres/pgtest"
	pg "github.com/mobilitycorp/platform/services/payments/internal/adapters/postgres"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
	"github.com/mobilitycorp/platform/services/payments/migrations"
)

const racers = 50

// newWideLedger gives every racer its own connection, so the 50 transactions
// really meet in PostgreSQL instead of queueing for a pool slot.
func newWideLedger(t *testing.T) (*pg.Ledger, *pgxpool.Pool) {
	t.Helper()
	_, url := pgtest.NewWithURL(t, migrations.Set())
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = racers
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pg.NewLedger(pool), pool
}

// race runs fn for 0..racers-1 at once and waits for all of them.
func race(fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range racers {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}

// A Kafka redelivery storm: 50 consumers post the same event at the same time.
func TestConcurrentPostsOfOneReferencePostOnce(t *testing.T) {
	l, pool := newWideLedger(t)
	ctx := context.Background()
	charge := must(t)(domain.TripChargeEntry("c1", "trip-1", eur(100), eur(512)))
	ids := make([]domain.EntryID, racers)
	replayed := make([]bool, racers)
	errs := make([]error, racers)
	race(func(i int) { ids[i], replayed[i], errs[i] = l.Post(ctx, charge) })

	firsts := 0
	for i := range racers {
		if errs[i] != nil {
			t.Fatalf("racer %d: %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Fatalf("racer %d got entry %d, racer 0 got %d", i, ids[i], ids[0])
		}
		if !replayed[i] {
			firsts++
		}
	}
	if firsts != 1 {
		t.Fatalf("%d racers posted, want exactly 1 (the others replay)", firsts)
	}
	if n := countRows(t, pool, `SELECT count(*) FROM journal_entries`); n != 1 {
		t.Fatalf("%d entries, want 1", n)
	}
	if n := countRows(t, pool, `SELECT count(*) FROM journal_lines`); n != 3 {
		t.Fatalf("%d lines, want 3", n)
	}
	assertBalances(t, l, "EUR", map[domain.AccountID]balance{domain.CustomerReceivable("c1"): {posted: 612}})
	assertClean(t, l)
}

// Capture and cancellation of one hold racing: exactly one outcome wins, the
// hold is resolved once, and every loser learns it.
func TestConcurrentPostAndVoidOfOneHold(t *testing.T) {
	l, pool := newWideLedger(t)
	ctx := context.Background()
	post(t, l, must(t)(domain.HoldEntry("c1", "pay-1", eur(1000))))
	posted := make([]bool, racers) // first post, not a replay
	errs := make([]error, racers)
	race(func(i int) {
		if i%2 == 0 {
			var replayed bool
			_, replayed, errs[i] = l.PostHold(ctx, "pay-1", eur(612))
			posted[i] = errs[i] == nil && !replayed
			return
		}
		errs[i] = l.VoidHold(ctx, "pay-1")
	})

	entries, err := l.Entries(ctx, "pay-1")
	if err != nil {
		t.Fatal(err)
	}
	postWon := entries[0].Status == domain.EntryPosted
	firsts := 0
	for i := range racers {
		isPost := i%2 == 0
		if posted[i] {
			firsts++
		}
		// The winning side succeeds every time (once, then replays); the other always fails.
		if wantOK := isPost == postWon; (errs[i] == nil) != wantOK || (!wantOK && !errors.Is(errs[i], domain.ErrHoldResolved)) {
			t.Fatalf("racer %d (post %v, post won %v): err = %v", i, isPost, postWon, errs[i])
		}
	}
	want := map[domain.AccountID]balance{domain.CustomerHold("c1"): {}, domain.AccountGatewayClearing: {}}
	wantEntries, wantFirsts := 1, 0
	if postWon {
		want[domain.AccountGatewayClearing] = balance{posted: 612}
		wantEntries, wantFirsts = 2, 1
	}
	if len(entries) != wantEntries || firsts != wantFirsts {
		t.Fatalf("post won %v: %d entries, %d first posts; want %d, %d", postWon, len(entries), firsts, wantEntries, wantFirsts)
	}
	if n := countRows(t, pool, `SELECT count(*) FROM journal_entries WHERE kind = 'hold_post'`); n != wantFirsts {
		t.Fatalf("%d hold_post entries, want %d", n, wantFirsts)
	}
	assertBalances(t, l, "EUR", want)
	assertClean(t, l)
}
