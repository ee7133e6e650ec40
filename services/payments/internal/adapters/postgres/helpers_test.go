package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mobilitycorp/platform/pkg/postgres/pgtest"
	pg "github.com/mobilitycorp/platform/services/payments/internal/adapters/postgres"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
	"github.com/mobilitycorp/platform/services/payments/migrations"
)

func newLedger(t testing.TB) (*pg.Ledger, *pgxpool.Pool) {
	t.Helper()
	pool := pgtest.New(t, migrations.Set())
	return pg.NewLedger(pool), pool
}

func money(minor int64, currency string) domain.Money {
	return domain.Money{AmountMinor: minor, Currency: currency}
}

func eur(minor int64) domain.Money { return money(minor, "EUR") }

// must unwraps a builder's result: must(t)(domain.FineEntry(...)). Builders only
// fail on bad input, which here is a bug in the test.
func must(t testing.TB) func(domain.JournalEntry, error) domain.JournalEntry {
	return func(e domain.JournalEntry, err error) domain.JournalEntry {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
}

func post(t testing.TB, l *pg.Ledger, e domain.JournalEntry) domain.EntryID {
	t.Helper()
	id, replayed, err := l.Post(context.Background(), e)
	if err != nil {
		t.Fatalf("post %s %s: %v", e.Kind, e.Reference, err)
	}
	if replayed {
		t.Fatalf("post %s %s: unexpected replay", e.Kind, e.Reference)
	}
	return id
}

// balance is a (posted, pending) pair in minor units.
type balance struct{ posted, pending int64 }

func balanceOf(t testing.TB, l *pg.Ledger, account domain.AccountID, currency string) balance {
	t.Helper()
	posted, pending, err := l.Balance(context.Background(), account, currency)
	if err != nil {
		t.Fatal(err)
	}
	if posted.Currency != currency || pending.Currency != currency {
		t.Fatalf("balance currencies %s/%s, want %s", posted.Currency, pending.Currency, currency)
	}
	return balance{posted.AmountMinor, pending.AmountMinor}
}

func assertBalances(t testing.TB, l *pg.Ledger, currency string, want map[domain.AccountID]balance) {
	t.Helper()
	for account, w := range want {
		if got := balanceOf(t, l, account, currency); got != w {
			t.Errorf("%s %s = posted %d pending %d, want posted %d pending %d",
				account, currency, got.posted, got.pending, w.posted, w.pending)
		}
	}
}

func assertClean(t testing.TB, l *pg.Ledger) {
	t.Helper()
	r, err := l.CheckInvariant(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Fatalf("ledger invariant broken: %+v", r)
	}
}

func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

func countRows(t testing.TB, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
