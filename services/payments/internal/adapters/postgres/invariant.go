package postgres

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

// Report is what CheckInvariant found; the zero Report means the books are sound.
// The database's triggers make every finding impossible through normal writes:
// a finding means someone disabled them, wrote around them, or a bug in a
// migration. It is evidence for an incident, not something to repair in code.
type Report struct {
	// Unbalanced lists (entry, currency) pairs whose lines do not sum to zero.
	Unbalanced []Imbalance
	// WrongLineCount lists entries with fewer than two lines or another number
	// of lines than they declared when written (lines added later).
	WrongLineCount []domain.EntryID
	// OrphanLines lists lines whose entry does not exist.
	OrphanLines []LineRef
	// PostedTotals lists currencies in which the posted lines of the whole
	// ledger do not sum to zero (the trial balance does not balance).
	PostedTotals []domain.Money
	// HoldMismatches lists references whose hold status and hold_post disagree:
	// a posted hold without its hold_post, or a hold_post whose hold is not posted.
	HoldMismatches []string
}

// Imbalance is an entry that is off by Sum in one currency.
type Imbalance struct {
	Entry domain.EntryID
	Sum   domain.Money
}

// LineRef addresses one journal line.
type LineRef struct {
	Entry  domain.EntryID
	LineNo int16
}

// OK reports whether nothing was found.
func (r Report) OK() bool {
	return len(r.Unbalanced) == 0 && len(r.WrongLineCount) == 0 && len(r.OrphanLines) == 0 &&
		len(r.PostedTotals) == 0 && len(r.HoldMismatches) == 0
}

// Offending returns the ids of the entries involved in any finding, ascending.
func (r Report) Offending() []domain.EntryID {
	var ids []domain.EntryID
	for _, u := range r.Unbalanced {
		ids = append(ids, u.Entry)
	}
	ids = append(ids, r.WrongLineCount...)
	for _, o := range r.OrphanLines {
		ids = append(ids, o.Entry)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// CheckInvariant audits the whole ledger in one read-only snapshot, so it can
// run at any time beside live traffic: every entry balances per currency and
// has the two or more lines it declared, no line is orphaned, the posted lines
// of the ledger sum to zero per currency, and holds agree with their hold_post
// entries. It scans every line: run it from a job, not on a request path.
func (l *Ledger) CheckInvariant(ctx context.Context) (Report, error) {
	var r Report
	err := pgx.BeginTxFunc(ctx, l.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		if r.Unbalanced, err = collect(ctx, tx, `
			SELECT entry_id, sum(amount_minor)::bigint, currency FROM journal_lines
			GROUP BY entry_id, currency HAVING sum(amount_minor) <> 0
			ORDER BY entry_id, currency`,
			func(row pgx.CollectableRow) (Imbalance, error) {
				var i Imbalance
				return i, row.Scan(&i.Entry, &i.Sum.AmountMinor, &i.Sum.Currency)
			}); err != nil {
			return fmt.Errorf("unbalanced entries: %w", err)
		}
		if r.WrongLineCount, err = collect(ctx, tx, `
			SELECT e.id FROM journal_entries e LEFT JOIN journal_lines l ON l.entry_id = e.id
			GROUP BY e.id HAVING count(l.entry_id) < 2 OR count(l.entry_id) <> min(e.line_count)
			ORDER BY e.id`,
			pgx.RowTo[domain.EntryID]); err != nil {
			return fmt.Errorf("entries with a wrong line count: %w", err)
		}
		if r.OrphanLines, err = collect(ctx, tx, `
			SELECT l.entry_id, l.line_no FROM journal_lines l
			WHERE NOT EXISTS (SELECT 1 FROM journal_entries e WHERE e.id = l.entry_id)
			ORDER BY l.entry_id, l.line_no`,
			pgx.RowToStructByPos[LineRef]); err != nil {
			return fmt.Errorf("orphan lines: %w", err)
		}
		if r.PostedTotals, err = collect(ctx, tx, `
			SELECT sum(l.amount_minor)::bigint, l.currency
			FROM journal_lines l JOIN journal_entries e ON e.id = l.entry_id
			WHERE e.status = 'posted'
			GROUP BY l.currency HAVING sum(l.amount_minor) <> 0
			ORDER BY l.currency`,
			pgx.RowToStructByPos[domain.Money]); err != nil {
			return fmt.Errorf("posted totals: %w", err)
		}
		if r.HoldMismatches, err = collect(ctx, tx, `
			SELECT coalesce(h.reference, p.reference)
			FROM (SELECT reference, status FROM journal_entries WHERE kind = 'hold') h
			FULL JOIN (SELECT reference FROM journal_entries WHERE kind = 'hold_post') p ON p.reference = h.reference
			WHERE (h.status = 'posted') IS DISTINCT FROM (p.reference IS NOT NULL)
			ORDER BY 1`,
			pgx.RowTo[string]); err != nil {
			return fmt.Errorf("hold mismatches: %w", err)
		}
		return nil
	})
	if err != nil {
		return Report{}, fmt.Errorf("check ledger invariant: %w", err)
	}
	return r, nil
}

func collect[T any](ctx context.Context, tx pgx.Tx, sql string, fn pgx.RowToFunc[T]) ([]T, error) {
	rows, err := tx.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	found, err := pgx.CollectRows(rows, fn)
	if len(found) == 0 {
		return nil, err // nil, not empty: a clean Report is the zero Report
	}
	return found, err
}
