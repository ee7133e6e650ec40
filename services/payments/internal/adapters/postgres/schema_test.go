package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

type rawLine struct {
	account  string
	amount   int64
	currency string
}

// Writes that bypass Go entirely: the database itself must refuse to commit an
// entry that does not balance, while each statement on its own succeeds (the
// check is deferred to commit, so lines can be written one at a time).
func TestDatabaseRejectsBadEntriesAtCommit(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	tests := []struct {
		name           string
		declared       int
		lines          []rawLine
		wantConstraint string // "" = commits
	}{
		{"balanced", 2, []rawLine{{"revenue:fines", -100, "EUR"}, {"customer:c1:receivable", 100, "EUR"}}, ""},
		{"two currencies, each balanced", 4, []rawLine{
			{"customer:c1:receivable", 100, "EUR"}, {"revenue:fines", -100, "EUR"},
			{"customer:c1:receivable", 900, "SEK"}, {"revenue:fines", -900, "SEK"},
		}, ""},
		{"unbalanced", 2, []rawLine{{"customer:c1:receivable", 100, "EUR"}, {"revenue:fines", -99, "EUR"}}, "journal_lines_balanced"},
		{"balanced only across currencies", 2, []rawLine{{"customer:c1:receivable", 100, "EUR"}, {"revenue:fines", -100, "SEK"}}, "journal_lines_balanced"},
		{"one of two currencies unbalanced", 4, []rawLine{
			{"customer:c1:receivable", 100, "EUR"}, {"revenue:fines", -100, "EUR"},
			{"customer:c1:receivable", 900, "SEK"}, {"revenue:fines", -800, "SEK"},
		}, "journal_lines_balanced"},
		{"single line", 2, []rawLine{{"customer:c1:receivable", 100, "EUR"}}, "journal_entries_sealed"},
		{"no lines", 2, nil, "journal_entries_sealed"},
		{"more lines than declared", 2, []rawLine{
			{"customer:c1:receivable", 100, "EUR"}, {"revenue:fines", -50, "EUR"}, {"revenue:rides", -50, "EUR"},
		}, "journal_entries_sealed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
			var id int64
			if err := tx.QueryRow(ctx, `INSERT INTO journal_entries (kind, reference, status, line_count)
				VALUES ('fine', $1, 'posted', $2) RETURNING id`, tt.name, tt.declared).Scan(&id); err != nil {
				t.Fatal(err)
			}
			for i, ln := range tt.lines {
				if _, err := tx.Exec(ctx, `INSERT INTO journal_lines (entry_id, line_no, account, amount_minor, currency)
					VALUES ($1, $2, $3, $4, $5)`, id, i+1, ln.account, ln.amount, ln.currency); err != nil {
					t.Fatalf("line %d refused before commit (the check must be deferred): %v", i, err)
				}
			}
			err = tx.Commit(ctx)
			if tt.wantConstraint == "" {
				if err != nil {
					t.Fatalf("commit: %v", err)
				}
				return
			}
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "23514" || pgErr.ConstraintName != tt.wantConstraint {
				t.Fatalf("commit err = %v, want check_violation of %s", err, tt.wantConstraint)
			}
			if n := countRows(t, pool, `SELECT count(*) FROM journal_entries WHERE reference = $1`, tt.name); n != 0 {
				t.Fatalf("%d entries stored, want 0", n)
			}
		})
	}
	assertClean(t, l)
}

// Lines never change and entries only move pending → posted|voided, whatever
// SQL is sent. Corrections are new entries.
func TestDatabaseKeepsLedgerAppendOnly(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	fineID := post(t, l, must(t)(domain.FineEntry("c1", "fine-1", eur(2500))))
	holdID := post(t, l, must(t)(domain.HoldEntry("c1", "pay-1", eur(1000))))
	before := map[domain.AccountID]balance{
		domain.CustomerReceivable("c1"): {posted: 2500}, domain.AccountRevenueFines: {posted: -2500},
		domain.CustomerHold("c1"): {pending: 1000}, domain.AccountGatewayHolds: {pending: -1000},
	}
	assertBalances(t, l, "EUR", before)

	tests := []struct {
		name     string
		sql      string
		args     []any
		wantCode string
	}{
		{"update a posted line", `UPDATE journal_lines SET amount_minor = 1 WHERE entry_id = $1`, []any{fineID}, "23001"},
		{"re-point a posted line", `UPDATE journal_lines SET account = 'revenue:rides' WHERE entry_id = $1 AND amount_minor < 0`, []any{fineID}, "23001"},
		{"update a pending line", `UPDATE journal_lines SET amount_minor = amount_minor * 2 WHERE entry_id = $1`, []any{holdID}, "23001"},
		{"delete a posted line", `DELETE FROM journal_lines WHERE entry_id = $1`, []any{fineID}, "23001"},
		{"truncate lines", `TRUNCATE journal_lines`, nil, "23001"},
		{"truncate entries", `TRUNCATE journal_entries CASCADE`, nil, "23001"},
		{"delete a posted entry", `DELETE FROM journal_entries WHERE id = $1`, []any{fineID}, "23001"},
		{"void a posted entry", `UPDATE journal_entries SET status = 'voided' WHERE id = $1`, []any{fineID}, "23001"},
		{"re-open a posted entry", `UPDATE journal_entries SET status = 'pending' WHERE id = $1`, []any{fineID}, "23001"},
		{"rename a pending entry", `UPDATE journal_entries SET reference = 'other' WHERE id = $1`, []any{holdID}, "23001"},
		{"change kind while posting", `UPDATE journal_entries SET kind = 'fine', status = 'posted' WHERE id = $1`, []any{holdID}, "23001"},
		{"backdate an entry", `UPDATE journal_entries SET created_at = created_at - interval '1 day' WHERE id = $1`, []any{fineID}, "23001"},
		{"insert a voided entry", `INSERT INTO journal_entries (kind, reference, status, line_count) VALUES ('fine', 'x', 'voided', 2)`, nil, "23514"},
		{"add a balanced pair to a committed entry", `INSERT INTO journal_lines (entry_id, line_no, account, amount_minor, currency)
			VALUES ($1, 3, 'customer:c1:receivable', 100, 'EUR'), ($1, 4, 'revenue:fines', -100, 'EUR')`, []any{fineID}, "23514"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pool.Exec(ctx, tt.sql, tt.args...)
			if got := sqlState(err); got != tt.wantCode {
				t.Fatalf("err = %v (SQLSTATE %q), want SQLSTATE %s", err, got, tt.wantCode)
			}
		})
	}
	assertBalances(t, l, "EUR", before)

	// The one allowed change: a pending entry is resolved (here voided).
	if _, err := pool.Exec(ctx, `UPDATE journal_entries SET status = 'voided' WHERE id = $1`, holdID); err != nil {
		t.Fatalf("void a pending hold: %v", err)
	}
	assertBalances(t, l, "EUR", map[domain.AccountID]balance{domain.CustomerHold("c1"): {}})
	assertClean(t, l)
}

// A pgx.Tx sanity check of the error the Go path sees when the database refuses.
func TestPostTxSurfacesDatabaseRefusal(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, _, err := l.PostTx(ctx, tx, must(t)(domain.FineEntry("c1", "fine-1", eur(100)))); err != nil {
			return err
		}
		// Someone else's buggy SQL in the same transaction.
		_, err := tx.Exec(ctx, `INSERT INTO journal_lines (entry_id, line_no, account, amount_minor, currency)
			SELECT id, 3, 'revenue:fines', -1, 'EUR' FROM journal_entries WHERE reference = 'fine-1'`)
		return err
	})
	if sqlState(err) != "23514" {
		t.Fatalf("commit err = %v, want check_violation", err)
	}
	if es, err := l.Entries(ctx, "fine-1"); err != nil || len(es) != 0 {
		t.Fatalf("%d entries (err %v) after a refused commit, want 0", len(es), err)
	}
}
