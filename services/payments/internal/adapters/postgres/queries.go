package postgres

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mobilitycorp/platform/services/payments/internal/app"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

// Queries answers the HTTP API's reads (lists with keyset cursors, balances,
// receipts) and the Stripe webhook handler's lookups and writes, which run in
// the webhook processor's transaction.
type Queries struct {
	pool     *pgxpool.Pool
	payments *Payments
}

var _ app.WebhookStore = (*Queries)(nil)

// NewQueries returns the queries on pool.
func NewQueries(pool *pgxpool.Pool) *Queries {
	return &Queries{pool: pool, payments: NewPayments(pool, 0)}
}

// cursor is a keyset position: the (time, id) of the last item of a page.
// Clients see it only encoded; the format is no promise to them.
type cursor struct {
	at time.Time
	id string
}

// encode returns the opaque form of c ("" for the zero cursor: no next page).
func (c cursor) encode() string {
	if c.id == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte("v1|" + strconv.FormatInt(c.at.UnixMicro(), 10) + "|" + c.id))
}

// decodeCursor parses an opaque cursor; "" is the start.
func decodeCursor(s string) (cursor, error) {
	if s == "" {
		return cursor{}, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, app.ErrInvalidCursor
	}
	parts := strings.SplitN(string(raw), "|", 3)
	if len(parts) != 3 || parts[0] != "v1" || parts[2] == "" {
		return cursor{}, app.ErrInvalidCursor
	}
	us, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return cursor{}, app.ErrInvalidCursor
	}
	return cursor{at: time.UnixMicro(us).UTC(), id: parts[2]}, nil
}

func collectPayments(rows pgx.Rows) ([]domain.Payment, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Payment, error) {
		p, err := scanPayment(row)
		if err != nil {
			return domain.Payment{}, err
		}
		return *p, nil
	})
}

// ListPayments returns up to f.Limit payments (trips and charges), newest
// first, and the cursor of the next page ("" when there is none). A
// customer's list reads the payments_customer index.
func (q *Queries) ListPayments(ctx context.Context, f app.PaymentFilter) ([]domain.Payment, string, error) {
	if f.Limit <= 0 {
		return nil, "", errors.New("list payments: limit must be positive")
	}
	after, err := decodeCursor(f.Cursor)
	if err != nil {
		return nil, "", err
	}
	var (
		where []string
		args  []any
	)
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	if f.CustomerID != "" {
		where = append(where, "customer_id = "+arg(f.CustomerID))
	}
	if f.Status != "" {
		where = append(where, "status = "+arg(string(f.Status)))
	}
	if f.Kind != "" {
		where = append(where, "kind = "+arg(string(f.Kind)))
	}
	if after.id != "" {
		// created_at has microseconds, which the cursor keeps exactly.
		where = append(where, "(created_at, id) < ("+arg(after.at)+", "+arg(after.id)+")")
	}
	sql := `SELECT ` + paymentColumns + ` FROM payments`
	if len(where) > 0 {
		sql += ` WHERE ` + strings.Join(where, " AND ")
	}
	sql += ` ORDER BY created_at DESC, id DESC LIMIT ` + arg(f.Limit+1)
	rows, err := q.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list payments: %w", err)
	}
	out, err := collectPayments(rows)
	if err != nil {
		return nil, "", fmt.Errorf("list payments: %w", err)
	}
	var next cursor
	if len(out) > f.Limit {
		out = out[:f.Limit]
		last := out[len(out)-1]
		next = cursor{at: last.CreatedAt, id: last.ID}
	}
	return out, next.encode(), nil
}

// TripPayment returns the payment of a trip (kind trip); app.ErrPaymentNotFound when there is none.
func (q *Queries) TripPayment(ctx context.Context, tripID string) (*domain.Payment, error) {
	p, err := scanPayment(q.pool.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payments
		WHERE trip_id = $1 AND kind = 'trip'`, tripID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: trip %s", app.ErrPaymentNotFound, tripID)
	}
	if err != nil {
		return nil, fmt.Errorf("payment of trip %s: %w", tripID, err)
	}
	return p, nil
}

// TripCharges lists the charges (fines, fees, remainders) a customer has for a
// trip, oldest first. The customer narrows the scan to the payments_customer index.
func (q *Queries) TripCharges(ctx context.Context, customerID, tripID string) ([]domain.Payment, error) {
	rows, err := q.pool.Query(ctx, `SELECT `+paymentColumns+` FROM payments
		WHERE customer_id = $1 AND trip_id = $2 AND kind <> 'trip'
		ORDER BY created_at, id`, customerID, tripID)
	if err != nil {
		return nil, fmt.Errorf("charges of trip %s: %w", tripID, err)
	}
	out, err := collectPayments(rows)
	if err != nil {
		return nil, fmt.Errorf("charges of trip %s: %w", tripID, err)
	}
	return out, nil
}

// RefundsOf lists the refunds of several payments, oldest first.
func (q *Queries) RefundsOf(ctx context.Context, paymentIDs []string) ([]domain.Refund, error) {
	return listRefunds(ctx, q.pool, `SELECT `+refundColumns+` FROM refunds WHERE payment_id = ANY($1)
		ORDER BY created_at, id`, paymentIDs)
}

// Entries returns the journal entries with any of references (all kinds),
// oldest first, with their lines.
func (q *Queries) Entries(ctx context.Context, references []string) ([]domain.JournalEntry, error) {
	rows, err := q.pool.Query(ctx, `
		SELECT e.id, e.kind, e.reference, e.status, e.created_at, l.account, l.amount_minor, l.currency
		FROM journal_entries e JOIN journal_lines l ON l.entry_id = e.id
		WHERE e.reference = ANY($1)
		ORDER BY e.id, l.line_no`, references)
	if err != nil {
		return nil, fmt.Errorf("entries: %w", err)
	}
	defer rows.Close()
	var entries []domain.JournalEntry
	for rows.Next() {
		var e domain.JournalEntry
		var ln domain.Line
		if err := rows.Scan(&e.ID, &e.Kind, &e.Reference, &e.Status, &e.CreatedAt,
			&ln.Account, &ln.Amount.AmountMinor, &ln.Amount.Currency); err != nil {
			return nil, fmt.Errorf("entries: %w", err)
		}
		if n := len(entries); n == 0 || entries[n-1].ID != e.ID {
			entries = append(entries, e)
		}
		last := &entries[len(entries)-1]
		last.Lines = append(last.Lines, ln)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("entries: %w", err)
	}
	return entries, nil
}

// CustomerBalances returns the customer's balances, one per currency the
// customer has lines in, ordered by currency.
func (q *Queries) CustomerBalances(ctx context.Context, customerID string) ([]app.CustomerBalance, error) {
	receivable, credit, hold := domain.CustomerReceivable(customerID), domain.CustomerCredit(customerID), domain.CustomerHold(customerID)
	rows, err := q.pool.Query(ctx, `
		SELECT l.currency,
			coalesce(sum(l.amount_minor) FILTER (WHERE l.account = $1 AND e.status = 'posted'), 0)::bigint,
			coalesce(sum(l.amount_minor) FILTER (WHERE l.account = $1 AND e.status = 'pending'), 0)::bigint,
			coalesce(sum(l.amount_minor) FILTER (WHERE l.account = $3 AND e.status = 'pending'), 0)::bigint,
			coalesce(-sum(l.amount_minor) FILTER (WHERE l.account = $2 AND e.status = 'posted'), 0)::bigint
		FROM journal_lines l JOIN journal_entries e ON e.id = l.entry_id
		WHERE l.account IN ($1, $2, $3)
		GROUP BY l.currency ORDER BY l.currency`, string(receivable), string(credit), string(hold))
	if err != nil {
		return nil, fmt.Errorf("balances of %s: %w", customerID, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (app.CustomerBalance, error) {
		var b app.CustomerBalance
		err := row.Scan(&b.Currency, &b.ReceivablePosted, &b.ReceivablePending, &b.Held, &b.Credit)
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("balances of %s: %w", customerID, err)
	}
	return out, nil
}

// DeadOperationsPage lists up to limit dead operations, longest dead first,
// after the cursor, and the cursor of the next page (zero when there is none).
func (q *Queries) DeadOperationsPage(ctx context.Context, cur string, limit int) ([]app.DeadOperation, string, error) {
	if limit <= 0 {
		return nil, "", errors.New("dead operations: limit must be positive")
	}
	after, err := decodeCursor(cur)
	if err != nil {
		return nil, "", err
	}
	sql := `SELECT id, payment_id, kind, amount_minor, currency, attempts, last_error, failures, created_at, dead_at
		FROM payment_operations WHERE status = 'dead'`
	args := []any{limit + 1}
	if after.id != "" {
		sql += ` AND (dead_at, id) > ($2, $3)`
		args = append(args, after.at, after.id)
	}
	rows, err := q.pool.Query(ctx, sql+` ORDER BY dead_at, id LIMIT $1`, args...)
	if err != nil {
		return nil, "", fmt.Errorf("dead operations: %w", err)
	}
	ops, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (app.DeadOperation, error) {
		var op app.DeadOperation
		err := row.Scan(&op.ID, &op.PaymentID, &op.Kind, &op.Amount.AmountMinor, &op.Amount.Currency,
			&op.Attempts, &op.LastError, &op.Failures, &op.CreatedAt, &op.DeadAt)
		return op, err
	})
	if err != nil {
		return nil, "", fmt.Errorf("dead operations: %w", err)
	}
	var next cursor
	if len(ops) > limit {
		ops = ops[:limit]
		last := ops[len(ops)-1]
		next = cursor{at: last.DeadAt, id: last.ID}
	}
	return ops, next.encode(), nil
}

// --- the webhook handler's store (app.WebhookStore), in the processor's transaction ---

// LockPaymentByIntentTx locks the payment bound to a gateway intent.
func (q *Queries) LockPaymentByIntentTx(ctx context.Context, tx pgx.Tx, intentID string) (*domain.Payment, error) {
	if intentID == "" {
		return nil, fmt.Errorf("%w: empty intent id", app.ErrPaymentNotFound)
	}
	p, err := scanPayment(tx.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payments WHERE intent_id = $1 FOR UPDATE`, intentID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: intent %s", app.ErrPaymentNotFound, intentID)
	}
	if err != nil {
		return nil, fmt.Errorf("lock payment of intent %s: %w", intentID, err)
	}
	return p, nil
}

// LockPaymentTx locks a payment by id.
func (q *Queries) LockPaymentTx(ctx context.Context, tx pgx.Tx, id string) (*domain.Payment, error) {
	p, err := scanPayment(tx.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payments WHERE id = $1 FOR UPDATE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", app.ErrPaymentNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("lock payment %s: %w", id, err)
	}
	return p, nil
}

// SavePaymentTx writes what a payment's life changes (as Payments.Update does).
func (q *Queries) SavePaymentTx(ctx context.Context, tx pgx.Tx, p *domain.Payment) error {
	tag, err := tx.Exec(ctx, `
		UPDATE payments SET status = $2, intent_id = $3, held_minor = $4, captured_minor = $5,
			refunded_minor = $6, failure_code = $7, updated_at = $8
		WHERE id = $1`,
		p.ID, string(p.Status), p.IntentID, p.Held.AmountMinor, p.Captured.AmountMinor,
		p.Refunded.AmountMinor, p.FailureCode, p.UpdatedAt)
	if err != nil {
		return fmt.Errorf("save payment %s: %w", p.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %s", app.ErrPaymentNotFound, p.ID)
	}
	return nil
}

// LastAppliedTx is the newest created among the processed Stripe events about
// objectID (webhook_events, the ports/webhook schema).
func (q *Queries) LastAppliedTx(ctx context.Context, tx pgx.Tx, objectID string) (time.Time, bool, error) {
	var last *time.Time
	err := tx.QueryRow(ctx, `SELECT max(created) FROM webhook_events
		WHERE object_id = $1 AND processed_at IS NOT NULL`, objectID).Scan(&last)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("last applied event of %s: %w", objectID, err)
	}
	if last == nil {
		return time.Time{}, false, nil
	}
	return last.UTC(), true, nil
}

// PendingOperationsTx counts the payment's pending operations of the given kinds.
func (q *Queries) PendingOperationsTx(ctx context.Context, tx pgx.Tx, paymentID string, kinds ...app.OperationKind) (int, error) {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k)
	}
	var n int
	err := tx.QueryRow(ctx, `SELECT count(*) FROM payment_operations
		WHERE payment_id = $1 AND status = 'pending' AND kind = ANY($2)`, paymentID, names).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("pending operations of %s: %w", paymentID, err)
	}
	return n, nil
}

// RefundByProviderRefTx finds the payment's refund with a gateway id.
func (q *Queries) RefundByProviderRefTx(ctx context.Context, tx pgx.Tx, paymentID, providerRef string) (*domain.Refund, bool, error) {
	rf, err := scanRefund(tx.QueryRow(ctx, `SELECT `+refundColumns+` FROM refunds
		WHERE payment_id = $1 AND provider_ref = $2`, paymentID, providerRef))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("refund %s of %s: %w", providerRef, paymentID, err)
	}
	return rf, true, nil
}

// QueuedRefundsTx counts the payment's refunds whose gateway outcome is not recorded yet.
func (q *Queries) QueuedRefundsTx(ctx context.Context, tx pgx.Tx, paymentID string) (int, error) {
	var n int
	err := tx.QueryRow(ctx, `SELECT count(*) FROM refunds WHERE payment_id = $1 AND status = 'queued'`, paymentID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("queued refunds of %s: %w", paymentID, err)
	}
	return n, nil
}

// CreateRefundTx inserts a refund (see Payments.CreateRefundTx).
func (q *Queries) CreateRefundTx(ctx context.Context, tx pgx.Tx, rf *domain.Refund) error {
	return q.payments.CreateRefundTx(ctx, tx, rf)
}

// PendingRefundsPage lists up to limit refunds waiting for approval (the
// staff queue), oldest first, after the cursor, and the next page's cursor.
func (q *Queries) PendingRefundsPage(ctx context.Context, cur string, limit int) ([]domain.Refund, string, error) {
	if limit <= 0 {
		return nil, "", errors.New("pending refunds: limit must be positive")
	}
	after, err := decodeCursor(cur)
	if err != nil {
		return nil, "", err
	}
	sql := `SELECT ` + refundColumns + ` FROM refunds WHERE status = 'pending_approval'`
	args := []any{limit + 1}
	if after.id != "" {
		sql += ` AND (created_at, id) > ($2, $3)`
		args = append(args, after.at, after.id)
	}
	out, err := listRefunds(ctx, q.pool, sql+` ORDER BY created_at, id LIMIT $1`, args...)
	if err != nil {
		return nil, "", err
	}
	var next cursor
	if len(out) > limit {
		out = out[:limit]
		last := out[len(out)-1]
		next = cursor{at: last.CreatedAt, id: last.ID}
	}
	return out, next.encode(), nil
}

// Payment reads one payment (see Payments.Get).
func (q *Queries) Payment(ctx context.Context, id string) (*domain.Payment, error) {
	return q.payments.Get(ctx, id)
}

// Refund reads one refund (see Payments.Refund).
func (q *Queries) Refund(ctx context.Context, id string) (*domain.Refund, error) {
	return q.payments.Refund(ctx, id)
}
