package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

// The commit-time check runs once per entry, not once per line (migration 00007).
func TestDatabaseChecksEachEntryOnce(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	post(t, l, must(t)(domain.HoldEntry("c1", "pay-1", eur(1000))))
	// Each check reads the entry's lines once: count the scans of journal_lines
	// (and its indexes) in the transaction while the deferred checks run.
	const scans = `SELECT sum(pg_stat_get_xact_numscans(c.oid))::int FROM pg_class c
		WHERE c.oid = 'journal_lines'::regclass OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = 'journal_lines'::regclass)`
	var before, after int
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// A four-line entry and a two-line one, as a trip's capture and end write them.
		if _, _, err := l.PostHoldTx(ctx, tx, "pay-1", eur(612)); err != nil {
			return err
		}
		if _, _, err := l.PostTx(ctx, tx, must(t)(domain.FineEntry("c1", "fine-1", eur(100)))); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, scans).Scan(&before); err != nil {
			return err
		}
		// Run the deferred checks now, to count them in this transaction.
		if _, err := tx.Exec(ctx, "SET CONSTRAINTS ALL IMMEDIATE"); err != nil {
			return err
		}
		return tx.QueryRow(ctx, scans).Scan(&after)
	})
	if err != nil {
		t.Fatal(err)
	}
	if after-before != 2 {
		t.Errorf("the checks of 2 entries (6 lines) scanned journal_lines %d times, want 2", after-before)
	}
	assertClean(t, l)
}

// A line its entry's own check will not see is checked by itself: lines
// added after that check ran, lines of an entry of an earlier transaction, and
// a check undone by a rolled back savepoint runs again.
func TestDatabaseChecksLinesTheEntryCheckMisses(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	committed := post(t, l, must(t)(domain.FineEntry("c1", "committed", eur(100))))
	tests := []struct {
		name string
		// steps run after the entry's PostTx, before the two extra lines are inserted.
		steps []string
		// toCommitted sends the extra lines to the committed entry instead of the new one.
		toCommitted bool
	}{
		{"after the check, deferred again", []string{"SET CONSTRAINTS ALL IMMEDIATE", "SET CONSTRAINTS ALL DEFERRED"}, false},
		{"after the check, still immediate", []string{"SET CONSTRAINTS ALL IMMEDIATE"}, false},
		{"check undone by a savepoint rollback", []string{"SAVEPOINT s", "SET CONSTRAINTS ALL IMMEDIATE",
			"ROLLBACK TO SAVEPOINT s", "SET CONSTRAINTS ALL DEFERRED"}, false},
		{"to an entry of an earlier transaction", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
			id, _, err := l.PostTx(ctx, tx, must(t)(domain.FineEntry("c1", tt.name, eur(100))))
			if err != nil {
				t.Fatal(err)
			}
			for _, step := range tt.steps {
				if _, err := tx.Exec(ctx, step); err != nil {
					t.Fatalf("%s: %v (the entry itself is fine)", step, err)
				}
			}
			to := id
			if tt.toCommitted {
				to = committed
			}
			// A balanced pair, but beyond the two lines the entry declared.
			_, err = tx.Exec(ctx, `INSERT INTO journal_lines (entry_id, line_no, account, amount_minor, currency)
				VALUES ($1, 3, 'customer:c1:receivable', 5, 'EUR'), ($1, 4, 'revenue:fines', -5, 'EUR')`, to)
			if err == nil {
				err = tx.Commit(ctx)
			}
			if sqlState(err) != "23514" {
				t.Fatalf("err = %v, want check_violation (journal_entries_sealed)", err)
			}
		})
	}
	if n := countRows(t, pool, "SELECT count(*) FROM journal_entries"); n != 1 {
		t.Errorf("%d entries stored, want only the committed one", n)
	}
	assertClean(t, l)
}
