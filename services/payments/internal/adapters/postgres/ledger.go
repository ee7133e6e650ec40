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
	id, replayed, _, err = insertEntry(ctx, l.pool, e, insertOptions{})
	return id, replayed, err
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
	id, replayed, _, err = insertEntry(ctx, tx, e, insertOptions{})
	return id, replayed, err
}

// PostTxWithBalance is PostTx that also reads, in the same statement, the
// posted balance of account in currency (as Balance's posted), e.g. the
// customer's credit when a trip's price is charged. The balance is read from
// the statement's snapshot, so it does not include e's own lines.
func (l *Ledger) PostTxWithBalance(ctx context.Context, tx pgx.Tx, e domain.JournalEntry, account domain.AccountID, currency string) (id domain.EntryID, replayed bool, posted domain.Money, err error) {
	if err := checkPostable(e); err != nil {
		return 0, false, domain.Money{}, err
	}
	if _, err := domain.NewMoney(0, currency); err != nil {
		return 0, false, domain.Money{}, fmt.Errorf("balance %s: %w", account, err)
	}
	return insertEntry(ctx, tx, e, insertOptions{balance: &balanceQuery{account, currency}})
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

// insertOptions extend insertEntry's statement; the zero value adds nothing.
type insertOptions struct {
	// resolve moves a pending entry to posted or voided, when the entry is written.
	resolve *resolution
	// balance reads the posted balance of an account, whatever happens.
	balance *balanceQuery
}

// resolution moves a pending entry to posted or voided.
type resolution struct {
	id     domain.EntryID
	status domain.EntryStatus
}

type balanceQuery struct {
	account  domain.AccountID
	currency string
}

// insertEntry writes the entry and its lines in one statement, with what
// opts add to it; on a (kind, reference) conflict it writes nothing (nor
// resolves) and compares with the stored entry. posted is the balance opts
// asked for (zero without), read in either case.
func insertEntry(ctx context.Context, q querier, e domain.JournalEntry, opts insertOptions) (id domain.EntryID, replayed bool, posted domain.Money, err error) {
	accounts := make([]string, len(e.Lines))
	amounts := make([]int64, len(e.Lines))
	currencies := make([]string, len(e.Lines))
	for i, ln := range e.Lines {
		accounts[i], amounts[i], currencies[i] = string(ln.Account), ln.Amount.AmountMinor, ln.Amount.Currency
	}
	sql := `
		WITH entry AS (
			INSERT INTO journal_entries (kind, reference, status, line_count) VALUES ($1, $2, $3, cardinality($4::text[]))
			ON CONFLICT (reference, kind) DO NOTHING
			RETURNING id
		), lines AS (
			INSERT INTO journal_lines (entry_id, line_no, account, amount_minor, currency)
			SELECT entry.id, l.n, l.account, l.amount, l.currency
			FROM entry, unnest($4::text[], $5::bigint[], $6::text[]) WITH ORDINALITY AS l(account, amount, currency, n)
		)`
	args := []any{string(e.Kind), e.Reference, string(e.Status), accounts, amounts, currencies}
	if r := opts.resolve; r != nil {
		sql += `, resolved AS (
			UPDATE journal_entries SET status = $8 WHERE id = $7 AND EXISTS (SELECT FROM entry)
		)`
		args = append(args, r.id, string(r.status))
	}
	sql += `
		SELECT (SELECT id FROM entry)`
	if b := opts.balance; b != nil {
		n := len(args)
		sql += fmt.Sprintf(`, (SELECT coalesce(sum(l.amount_minor), 0)::bigint
			FROM journal_lines l JOIN journal_entries e ON e.id = l.entry_id
			WHERE l.account = $%d AND l.currency = $%d AND e.status = 'posted')`, n+1, n+2)
		args = append(args, string(b.account), b.currency)
		posted.Currency = b.currency
	}
	var inserted *domain.EntryID
	dest := []any{&inserted}
	if opts.balance != nil {
		dest = append(dest, &posted.AmountMinor)
	}
	if err := q.QueryRow(ctx, sql, args...).Scan(dest...); err != nil {
		return 0, false, domain.Money{}, fmt.Errorf("insert %s %s: %w", e.Kind, e.Reference, err)
	}
	if inserted != nil {
		return *inserted, false, posted, nil
	}
	id, replayed, err = replay(ctx, q, e)
	return id, replayed, posted, err
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
	// The hold moves to posted in the statement that writes its post: two
	// statements in all, the locking read and this one.
	id, replayed, _, err = insertEntry(ctx, tx, post, insertOptions{resolve: &resolution{id: hold.ID, status: domain.EntryPosted}})
	if err != nil {
		return 0, false, err
	}
	if replayed { // only reachable if a hold_post was written without resolving its hold
		return 0, false, fmt.Errorf("post hold %s: hold is pending but entry %d already posts it", reference, id)
	}
	return id, false, nil
}

// PostExpectedHoldTx is PostHoldTx for a caller that knows the hold it
// expects (as domain.HoldEntry builds it from the payment): when the stored
// hold is pending with exactly hold's lines, one statement locks it, writes
// the hold_post and moves the hold to posted. Otherwise (another amount held,
// already posted or voided, no hold) it does what PostHoldTx does, whose
// answer is the ledger's.
func (l *Ledger) PostExpectedHoldTx(ctx context.Context, tx pgx.Tx, hold domain.JournalEntry, amount domain.Money) (id domain.EntryID, replayed bool, err error) {
	post, err := domain.PostHoldEntry(hold, amount)
	if err != nil || hold.Kind != domain.KindHold {
		return l.PostHoldTx(ctx, tx, hold.Reference, amount)
	}
	n := len(hold.Lines)
	expAccounts, expAmounts, expCurrencies := make([]string, n), make([]int64, n), make([]string, n)
	for i, ln := range hold.Lines {
		expAccounts[i], expAmounts[i], expCurrencies[i] = string(ln.Account), ln.Amount.AmountMinor, ln.Amount.Currency
	}
	n = len(post.Lines)
	accounts, amounts, currencies := make([]string, n), make([]int64, n), make([]string, n)
	for i, ln := range post.Lines {
		accounts[i], amounts[i], currencies[i] = string(ln.Account), ln.Amount.AmountMinor, ln.Amount.Currency
	}
	// The UPDATE locks the hold; a concurrent post or void makes it wait and
	// then re-check the row, which is no longer pending.
	var holdID, postID *domain.EntryID
	err = tx.QueryRow(ctx, `
		WITH hold AS (
			UPDATE journal_entries h SET status = 'posted'
			WHERE h.reference = $1 AND h.kind = $2 AND h.status = 'pending'
				AND (SELECT array_agg(account ORDER BY line_no) = $3::text[] AND array_agg(amount_minor ORDER BY line_no) = $4::bigint[]
					AND array_agg(currency::text ORDER BY line_no) = $5::text[]
					FROM journal_lines WHERE entry_id = h.id)
			RETURNING h.id
		), entry AS (
			INSERT INTO journal_entries (kind, reference, status, line_count)
			SELECT $6, $1, $7, cardinality($8::text[]) FROM hold
			ON CONFLICT (reference, kind) DO NOTHING
			RETURNING id
		), lines AS (
			INSERT INTO journal_lines (entry_id, line_no, account, amount_minor, currency)
			SELECT entry.id, l.n, l.account, l.amount, l.currency
			FROM entry, unnest($8::text[], $9::bigint[], $10::text[]) WITH ORDINALITY AS l(account, amount, currency, n)
		)
		SELECT (SELECT id FROM hold), (SELECT id FROM entry)`,
		hold.Reference, string(domain.KindHold), expAccounts, expAmounts, expCurrencies,
		string(post.Kind), string(post.Status), accounts, amounts, currencies,
	).Scan(&holdID, &postID)
	switch {
	case err != nil:
		return 0, false, fmt.Errorf("post hold %s: %w", hold.Reference, err)
	case holdID == nil: // not the pending hold expected: let the stored one decide
		return l.PostHoldTx(ctx, tx, hold.Reference, amount)
	case postID == nil: // only reachable if a hold_post was written without resolving its hold
		return 0, false, fmt.Errorf("post hold %s: hold is pending but an entry already posts it", hold.Reference)
	}
	return *postID, false, nil
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

// loadEntry reads one entry with its lines, in one statement; pgx.ErrNoRows
// when there is none. forUpdate locks the entry's row (lines never change).
func loadEntry(ctx context.Context, q querier, kind domain.EntryKind, reference string, forUpdate bool) (domain.JournalEntry, error) {
	sql := `
		SELECT e.id, e.kind, e.reference, e.status, e.created_at, l.accounts, l.amounts, l.currencies
		FROM journal_entries e CROSS JOIN LATERAL (
			SELECT array_agg(account ORDER BY line_no) AS accounts, array_agg(amount_minor ORDER BY line_no) AS amounts,
			       array_agg(currency::text ORDER BY line_no) AS currencies
			FROM journal_lines WHERE entry_id = e.id
		) l
		WHERE e.reference = $1 AND e.kind = $2`
	if forUpdate {
		sql += ` FOR UPDATE OF e`
	}
	var (
		e          domain.JournalEntry
		accounts   []string
		amounts    []int64
		currencies []string
	)
	err := q.QueryRow(ctx, sql, reference, string(kind)).
		Scan(&e.ID, &e.Kind, &e.Reference, &e.Status, &e.CreatedAt, &accounts, &amounts, &currencies)
	if err != nil {
		return domain.JournalEntry{}, err
	}
	if len(amounts) != len(accounts) || len(currencies) != len(accounts) {
		return domain.JournalEntry{}, fmt.Errorf("entry %d: line columns of different lengths", e.ID)
	}
	e.Lines = make([]domain.Line, len(accounts))
	for i := range accounts {
		e.Lines[i] = domain.Line{Account: domain.AccountID(accounts[i]),
			Amount: domain.Money{AmountMinor: amounts[i], Currency: currencies[i]}}
	}
	return e, nil
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
