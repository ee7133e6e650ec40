// Package postgres stores the payments service's state in PostgreSQL: the
// double-entry ledger (journal_entries, journal_lines; migrations in
// services/payments/migrations). The database enforces the ledger's core rules
// too (balance per currency at commit, sealed and append-only entries), so SQL
// that bypasses this package cannot commit an unbalanced entry or rewrite one.
package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

var (
	// ErrReferenceConflict is returned when (kind, reference) is replayed with
	// different lines: the same operation id was reused for another event, a bug.
	ErrReferenceConflict = errors.New("journal reference reused with different lines")
	// ErrHoldNotFound is returned when no hold carries the reference.
	ErrHoldNotFound = errors.New("hold not found")
)

// querier is what both a pool and a transaction offer.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Ledger is the journal repository. The *Tx methods run in the caller's
// transaction, so a use case can commit a payment state change, its ledger
// entry and its outbox event together; the others open their own.
//
// Transactions must be READ COMMITTED (PostgreSQL's default): an idempotent
// replay reads the row a concurrent poster has just committed.
type Ledger struct {
	pool *pgxpool.Pool
}

// NewLedger returns a ledger on pool.
func NewLedger(pool *pgxpool.Pool) *Ledger { return &Ledger{pool: pool} }

// Post stores e in its own transaction; see PostTx. The entry and its lines are
// one statement, so it runs as an implicit transaction: one round trip, with the
// deferred balance check at its end.
func (l *Ledger) Post(ctx context.Context, e domain.JournalEntry) (id domain.EntryID, replayed bool, err error) {
	if err := checkPostable(e); err != nil {
		return 0, false, err
	}
	return insertEntry(ctx, l.pool, e)
}

// PostTx stores e in tx. It is idempotent on (kind, reference): a replay posts
// nothing and returns the stored entry's id with replayed true, so a redelivered
// Kafka event or a retried request never double-posts. A replay whose lines differ
// fails with ErrReferenceConflict. Holds are posted with PostHoldTx, which also
// resolves the hold.
func (l *Ledger) PostTx(ctx context.Context, tx pgx.Tx, e domain.JournalEntry) (id domain.EntryID, replayed bool, err error) {
	if err := checkPostable(e); err != nil {
		return 0, false, err
	}
	return insertEntry(ctx, tx, e)
}

func checkPostable(e domain.JournalEntry) error {
	if e.Kind == domain.KindHoldPost {
		return errors.New("post hold_post with PostHoldTx: the hold must be resolved in the same transaction")
	}
	if err := e.Validate(); err != nil {
		return fmt.Errorf("post %s %s: %w", e.Kind, e.Reference, err)
	}
	return nil
}

// insertEntry writes the entry and its lines in one statement; on a (kind,
// reference) conflict it writes nothing and compares with the stored entry.
func insertEntry(ctx context.Context, q querier, e domain.JournalEntry) (domain.EntryID, bool, error) {
	accounts := make([]string, len(e.Lines))
	amounts := make([]int64, len(e.Lines))
	currencies := make([]string, len(e.Lines))
	for i, ln := range e.Lines {
		accounts[i], amounts[i], currencies[i] = string(ln.Account), ln.Amount.AmountMinor, ln.Amount.Currency
	}
	var id domain.EntryID
	err := q.QueryRow(ctx, `
		WITH entry AS (
			INSERT INTO journal_entries (kind, reference, status, line_count) VALUES ($1, $2, $3, cardinality($4::text[]))
			ON CONFLICT (reference, kind) DO NOTHING
			RETURNING id
		), lines AS (
			INSERT INTO journal_lines (entry_id, line_no, account, amount_minor, currency)
			SELECT entry.id, l.n, l.account, l.amount, l.currency
			FROM entry, unnest($4::text[], $5::bigint[], $6::text[]) WITH ORDINALITY AS l(account, amount, currency, n)
		)
		SELECT id FROM entry`,
		string(e.Kind), e.Reference, string(e.Status), accounts, amounts, currencies,
	).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return replay(ctx, q, e)
	}
	if err != nil {
		return 0, false, fmt.Errorf("insert %s %s: %w", e.Kind, e.Reference, err)
	}
	return id, false, nil
}

func replay(ctx context.Context, q querier, e domain.JournalEntry) (domain.EntryID, bool, error) {
	stored, err := loadEntry(ctx, q, e.Kind, e.Reference, false)
	if err != nil {
		return 0, false, fmt.Errorf("replay %s %s: %w", e.Kind, e.Reference, err)
	}
	if !sameLines(stored.Lines, e.Lines) {
		return 0, false, fmt.Errorf("%w: %s %s (entry %d)", ErrReferenceConflict, e.Kind, e.Reference, stored.ID)
	}
	return stored.ID, true, nil
}

// sameLines compares lines as multisets: the order of legs carries no meaning.
func sameLines(a, b []domain.Line) bool {
	if len(a) != len(b) {
		return false
	}
	order := func(x, y domain.Line) int {
		return cmp.Or(cmp.Compare(x.Account, y.Account), cmp.Compare(x.Amount.Currency, y.Amount.Currency),
			cmp.Compare(x.Amount.AmountMinor, y.Amount.AmountMinor))
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.SortFunc(a, order)
	slices.SortFunc(b, order)
	return slices.Equal(a, b)
}

// PostHold captures amount of the hold with reference in its own transaction; see PostHoldTx.
func (l *Ledger) PostHold(ctx context.Context, reference string, amount domain.Money) (id domain.EntryID, replayed bool, err error) {
	err = pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		id, replayed, err = l.PostHoldTx(ctx, tx, reference, amount)
		return err
	})
	return id, replayed, err
}

// PostHoldTx posts the pending hold with reference for amount (≤ held) in tx: it
// stores the hold_post entry and moves the hold to posted, under a row lock so a
// concurrent post or void waits and then sees the outcome. Posting the same amount
// again is a replay; another amount is ErrReferenceConflict; a voided hold is
// domain.ErrHoldResolved.
func (l *Ledger) PostHoldTx(ctx context.Context, tx pgx.Tx, reference string, amount domain.Money) (id domain.EntryID, replayed bool, err error) {
	hold, err := loadHold(ctx, tx, reference)
	if err != nil {
		return 0, false, err
	}
	resolved := hold.Status == domain.EntryPosted
	if resolved {
		hold.Status = domain.EntryPending // rebuild what the first post stored, to compare
	}
	post, err := domain.PostHoldEntry(hold, amount)
	if err != nil {
		return 0, false, fmt.Errorf("post hold %s: %w", reference, err)
	}
	if resolved {
		return replay(ctx, tx, post)
	}
	id, replayed, err = insertEntry(ctx, tx, post)
	if err != nil {
		return 0, false, err
	}
	if replayed { // only reachable if a hold_post was written without resolving its hold
		return 0, false, fmt.Errorf("post hold %s: hold is pending but entry %d already posts it", reference, id)
	}
	if err := setStatus(ctx, tx, hold.ID, domain.EntryPosted); err != nil {
		return 0, false, err
	}
	return id, false, nil
}

// VoidHold releases the hold with reference in its own transaction; see VoidHoldTx.
func (l *Ledger) VoidHold(ctx context.Context, reference string) error {
	return pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error { return l.VoidHoldTx(ctx, tx, reference) })
}

// VoidHoldTx moves the pending hold with reference to voided in tx. Voiding a
// voided hold is a no-op (a replay); voiding a posted hold is domain.ErrHoldResolved.
func (l *Ledger) VoidHoldTx(ctx context.Context, tx pgx.Tx, reference string) error {
	hold, err := loadHold(ctx, tx, reference)
	if err != nil {
		return err
	}
	if hold.Status == domain.EntryVoided {
		return nil
	}
	voided, err := domain.VoidHold(hold)
	if err != nil {
		return fmt.Errorf("void hold %s: %w", reference, err)
	}
	return setStatus(ctx, tx, voided.ID, voided.Status)
}

// loadHold reads a hold and locks its row until tx ends.
func loadHold(ctx context.Context, tx pgx.Tx, reference string) (domain.JournalEntry, error) {
	hold, err := loadEntry(ctx, tx, domain.KindHold, reference, true)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.JournalEntry{}, fmt.Errorf("%w: %s", ErrHoldNotFound, reference)
	}
	if err != nil {
		return domain.JournalEntry{}, fmt.Errorf("load hold %s: %w", reference, err)
	}
	return hold, nil
}

func setStatus(ctx context.Context, tx pgx.Tx, id domain.EntryID, status domain.EntryStatus) error {
	if _, err := tx.Exec(ctx, `UPDATE journal_entries SET status = $2 WHERE id = $1`, id, string(status)); err != nil {
		return fmt.Errorf("set entry %d %s: %w", id, status, err)
	}
	return nil
}

// loadEntry reads one entry with its lines; pgx.ErrNoRows when there is none.
func loadEntry(ctx context.Context, q querier, kind domain.EntryKind, reference string, forUpdate bool) (domain.JournalEntry, error) {
	sql := `SELECT id, kind, reference, status, created_at FROM journal_entries WHERE reference = $1 AND kind = $2`
	if forUpdate {
		sql += ` FOR UPDATE`
	}
	var e domain.JournalEntry
	if err := q.QueryRow(ctx, sql, reference, string(kind)).Scan(&e.ID, &e.Kind, &e.Reference, &e.Status, &e.CreatedAt); err != nil {
		return domain.JournalEntry{}, err
	}
	rows, err := q.Query(ctx, `SELECT account, amount_minor, currency FROM journal_lines WHERE entry_id = $1 ORDER BY line_no`, e.ID)
	if err != nil {
		return domain.JournalEntry{}, err
	}
	e.Lines, err = pgx.CollectRows(rows, scanLine)
	if err != nil {
		return domain.JournalEntry{}, err
	}
	return e, nil
}

func scanLine(row pgx.CollectableRow) (domain.Line, error) {
	var ln domain.Line
	err := row.Scan(&ln.Account, &ln.Amount.AmountMinor, &ln.Amount.Currency)
	return ln, err
}

// Entries returns every entry with reference (all kinds), oldest first.
func (l *Ledger) Entries(ctx context.Context, reference string) ([]domain.JournalEntry, error) {
	rows, err := l.pool.Query(ctx, `
		SELECT e.id, e.kind, e.reference, e.status, e.created_at, l.account, l.amount_minor, l.currency
		FROM journal_entries e JOIN journal_lines l ON l.entry_id = e.id
		WHERE e.reference = $1
		ORDER BY e.id, l.line_no`, reference)
	if err != nil {
		return nil, fmt.Errorf("entries %s: %w", reference, err)
	}
	defer rows.Close()
	var entries []domain.JournalEntry
	for rows.Next() {
		var e domain.JournalEntry
		var ln domain.Line
		if err := rows.Scan(&e.ID, &e.Kind, &e.Reference, &e.Status, &e.CreatedAt,
			&ln.Account, &ln.Amount.AmountMinor, &ln.Amount.Currency); err != nil {
			return nil, fmt.Errorf("entries %s: %w", reference, err)
		}
		if n := len(entries); n == 0 || entries[n-1].ID != e.ID {
			entries = append(entries, e)
		}
		last := &entries[len(entries)-1]
		last.Lines = append(last.Lines, ln)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("entries %s: %w", reference, err)
	}
	return entries, nil
}

// Balance sums account's lines in currency: posted over posted entries, pending
// over pending ones (open holds). Voided entries count in neither. Positive is a
// debit balance (see the sign convention in the domain package).
func (l *Ledger) Balance(ctx context.Context, account domain.AccountID, currency string) (posted, pending domain.Money, err error) {
	if _, err := domain.NewMoney(0, currency); err != nil {
		return domain.Money{}, domain.Money{}, fmt.Errorf("balance %s: %w", account, err)
	}
	posted, pending = domain.Money{Currency: currency}, domain.Money{Currency: currency}
	err = l.pool.QueryRow(ctx, `
		SELECT coalesce(sum(l.amount_minor) FILTER (WHERE e.status = 'posted'), 0)::bigint,
		       coalesce(sum(l.amount_minor) FILTER (WHERE e.status = 'pending'), 0)::bigint
		FROM journal_lines l JOIN journal_entries e ON e.id = l.entry_id
		WHERE l.account = $1 AND l.currency = $2`, string(account), currency,
	).Scan(&posted.AmountMinor, &pending.AmountMinor)
	if err != nil {
		return domain.Money{}, domain.Money{}, fmt.Errorf("balance %s %s: %w", account, currency, err)
	}
	return posted, pending, nil
}
