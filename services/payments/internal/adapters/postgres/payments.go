package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mobilitycorp/platform/services/payments/internal/app"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

// DefaultLease is how long a claimed operation stays invisible to other workers
// while its gateway call runs. A worker that dies mid-call releases it by
// expiry; the retry reuses the operation id as idempotency key, so the gateway
// does not act twice.
const DefaultLease = time.Minute

// Payments stores payments and the durable queue of their gateway operations
// (tables payments and payment_operations, migration 00002).
type Payments struct {
	pool  *pgxpool.Pool
	lease time.Duration
}

var _ app.PaymentStore = (*Payments)(nil)

// NewPayments returns the repository on pool; lease ≤ 0 means DefaultLease.
func NewPayments(pool *pgxpool.Pool, lease time.Duration) *Payments {
	if lease <= 0 {
		lease = DefaultLease
	}
	return &Payments{pool: pool, lease: lease}
}

// Begin runs fn in a READ COMMITTED transaction on the pool (app.TxRunner).
func (r *Payments) Begin(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, r.pool, fn)
}

// Create inserts p in tx; app.ErrPaymentExists when its id or trip already has
// one (the transaction stays usable: ON CONFLICT, no error raised).
func (r *Payments) Create(ctx context.Context, tx pgx.Tx, p *domain.Payment) error {
	tag, err := tx.Exec(ctx, `
		INSERT INTO payments (id, customer_id, trip_id, status, intent_id, held_minor, captured_minor,
			refunded_minor, currency, failure_code, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT DO NOTHING`,
		p.ID, p.CustomerID, p.TripID, string(p.Status), p.IntentID, p.Held.AmountMinor, p.Captured.AmountMinor,
		p.Refunded.AmountMinor, p.Held.Currency, p.FailureCode, p.UpdatedAt)
	if err != nil {
		return fmt.Errorf("create payment %s: %w", p.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %s (trip %s)", app.ErrPaymentExists, p.ID, p.TripID)
	}
	return nil
}

const paymentColumns = `id, customer_id, trip_id, status, intent_id, held_minor, captured_minor, refunded_minor,
	currency, failure_code, updated_at`

func scanPayment(row pgx.Row) (*domain.Payment, error) {
	var p domain.Payment
	var currency string
	err := row.Scan(&p.ID, &p.CustomerID, &p.TripID, &p.Status, &p.IntentID, &p.Held.AmountMinor,
		&p.Captured.AmountMinor, &p.Refunded.AmountMinor, &currency, &p.FailureCode, &p.UpdatedAt)
	if err != nil {
		return nil, err
	}
	p.Held.Currency, p.Captured.Currency, p.Refunded.Currency = currency, currency, currency
	return &p, nil
}

// Get reads one payment; app.ErrPaymentNotFound when there is none.
func (r *Payments) Get(ctx context.Context, id string) (*domain.Payment, error) {
	p, err := scanPayment(r.pool.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payments WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", app.ErrPaymentNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("get payment %s: %w", id, err)
	}
	return p, nil
}

// Update locks payment id (SELECT ... FOR UPDATE), runs fn with the transaction
// and the payment, saves the payment and commits. An error from fn rolls
// everything back and is returned as is. app.ErrPaymentNotFound when there is none.
func (r *Payments) Update(ctx context.Context, id string, fn func(tx pgx.Tx, p *domain.Payment) error) error {
	return pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		p, err := scanPayment(tx.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payments WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: %s", app.ErrPaymentNotFound, id)
		}
		if err != nil {
			return fmt.Errorf("lock payment %s: %w", id, err)
		}
		if err := fn(tx, p); err != nil {
			return err
		}
		if p.ID != id {
			return fmt.Errorf("update payment %s: the id must not change", id)
		}
		_, err = tx.Exec(ctx, `
			UPDATE payments SET status = $2, intent_id = $3, held_minor = $4, captured_minor = $5,
				refunded_minor = $6, failure_code = $7, updated_at = $8
			WHERE id = $1`,
			p.ID, string(p.Status), p.IntentID, p.Held.AmountMinor, p.Captured.AmountMinor,
			p.Refunded.AmountMinor, p.FailureCode, p.UpdatedAt)
		if err != nil {
			return fmt.Errorf("save payment %s: %w", id, err)
		}
		return nil
	})
}

// EnqueueTx queues op in tx, due now. The id is deterministic, so enqueueing
// the same operation again does nothing and reports false.
func (r *Payments) EnqueueTx(ctx context.Context, tx pgx.Tx, op app.Operation) (bool, error) {
	tag, err := tx.Exec(ctx, `
		INSERT INTO payment_operations (id, payment_id, kind, amount_minor, currency)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (id) DO NOTHING`,
		op.ID, op.PaymentID, string(op.Kind), op.Amount.AmountMinor, op.Amount.Currency)
	if err != nil {
		return false, fmt.Errorf("enqueue operation %s: %w", op.ID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// ClaimDue takes up to limit pending operations whose time has come, oldest
// due first, skipping rows another worker holds (FOR UPDATE SKIP LOCKED). Each
// claim counts an attempt and hides the operation for the lease, so a concurrent
// worker does not call the gateway for it at the same time.
func (r *Payments) ClaimDue(ctx context.Context, limit int) ([]app.Operation, error) {
	rows, err := r.pool.Query(ctx, `
		WITH due AS (
			SELECT id FROM payment_operations
			WHERE status = 'pending' AND next_attempt_at <= now()
			ORDER BY next_attempt_at, id
			LIMIT $1
			FOR UPDATE SKIP LOCKED
		)
		UPDATE payment_operations o
		SET attempts = o.attempts + 1, next_attempt_at = now() + make_interval(secs => $2)
		FROM due WHERE o.id = due.id
		RETURNING o.id, o.payment_id, o.kind, o.amount_minor, o.currency, o.attempts, o.last_error`,
		limit, r.lease.Seconds())
	if err != nil {
		return nil, fmt.Errorf("claim due operations: %w", err)
	}
	ops, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (app.Operation, error) {
		var op app.Operation
		err := row.Scan(&op.ID, &op.PaymentID, &op.Kind, &op.Amount.AmountMinor, &op.Amount.Currency,
			&op.Attempts, &op.LastError)
		return op, err
	})
	if err != nil {
		return nil, fmt.Errorf("claim due operations: %w", err)
	}
	return ops, nil
}

// DoneTx marks the operation done in tx, beside the state change it caused.
func (r *Payments) DoneTx(ctx context.Context, tx pgx.Tx, id string) error {
	return setOperation(ctx, tx, id, "done", "")
}

// FailTx marks the operation finally failed in tx; it will not run again.
func (r *Payments) FailTx(ctx context.Context, tx pgx.Tx, id, reason string) error {
	return setOperation(ctx, tx, id, "failed", reason)
}

func setOperation(ctx context.Context, tx pgx.Tx, id, status, reason string) error {
	tag, err := tx.Exec(ctx, `
		UPDATE payment_operations SET status = $2, last_error = $3
		WHERE id = $1 AND status = 'pending'`, id, status, reason)
	if err != nil {
		return fmt.Errorf("mark operation %s %s: %w", id, status, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %s", app.ErrOperationNotPending, id)
	}
	return nil
}

// RetryLater keeps the operation pending and makes it due again after backoff,
// recording why this attempt did not complete.
func (r *Payments) RetryLater(ctx context.Context, id, reason string, backoff time.Duration) error {
	tag, err := r.pool.Exec(ctx, `
		UPDATE payment_operations SET last_error = $2, next_attempt_at = now() + make_interval(secs => $3)
		WHERE id = $1 AND status = 'pending'`, id, reason, backoff.Seconds())
	if err != nil {
		return fmt.Errorf("retry operation %s later: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %s", app.ErrOperationNotPending, id)
	}
	return nil
}
