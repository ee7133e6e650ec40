package postgres

import (
	"cmp"
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
			refunded_minor, currency, failure_code, updated_at, kind, reference, reason, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
		ON CONFLICT DO NOTHING`,
		p.ID, p.CustomerID, p.TripID, string(p.Status), p.IntentID, p.Held.AmountMinor, p.Captured.AmountMinor,
		p.Refunded.AmountMinor, p.Held.Currency, p.FailureCode, p.UpdatedAt,
		string(cmp.Or(p.Kind, domain.PaymentKindTrip)), p.Reference, p.Reason, createdAt(p))
	if err != nil {
		return fmt.Errorf("create payment %s: %w", p.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %s (trip %s)", app.ErrPaymentExists, p.ID, p.TripID)
	}
	return nil
}

const paymentColumns = `id, customer_id, trip_id, status, intent_id, held_minor, captured_minor, refunded_minor,
	currency, failure_code, updated_at, kind, reference, reason, created_at`

// claimedPaymentColumns are paymentColumns of the payment p that ClaimDue joins.
const claimedPaymentColumns = `p.id, p.customer_id, p.trip_id, p.status, p.intent_id, p.held_minor, p.captured_minor,
	p.refunded_minor, p.currency, p.failure_code, p.updated_at, p.kind, p.reference, p.reason, p.created_at`

func scanPayment(row pgx.Row) (*domain.Payment, error) {
	var p domain.Payment
	var currency string
	err := row.Scan(&p.ID, &p.CustomerID, &p.TripID, &p.Status, &p.IntentID, &p.Held.AmountMinor,
		&p.Captured.AmountMinor, &p.Refunded.AmountMinor, &currency, &p.FailureCode, &p.UpdatedAt,
		&p.Kind, &p.Reference, &p.Reason, &p.CreatedAt)
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
func (r *Payments) Update(ctx context.Context, id string, fn func(tx pgx.Tx, p *domain.Payment) error) (err error) {
	// BEGIN and the locking read go in one round trip.
	b := &pgx.Batch{}
	b.BeginTx(pgx.TxOptions{})
	var p *domain.Payment
	var scanErr error
	b.Queue(`SELECT `+paymentColumns+` FROM payments WHERE id = $1 FOR UPDATE`, id).QueryRow(func(row pgx.Row) error {
		p, scanErr = scanPayment(row)
		return nil
	})
	br := r.pool.SendBatch(ctx, b)
	tx := br.Tx()
	defer func() { // as pgx.BeginFunc: roll back unless committed
		if rerr := tx.Rollback(ctx); rerr != nil && !errors.Is(rerr, pgx.ErrTxClosed) && err == nil {
			err = rerr
		}
	}()
	if err := br.Close(); err != nil {
		return fmt.Errorf("lock payment %s: %w", id, err)
	}
	if errors.Is(scanErr, pgx.ErrNoRows) {
		return fmt.Errorf("%w: %s", app.ErrPaymentNotFound, id)
	}
	if scanErr != nil {
		return fmt.Errorf("lock payment %s: %w", id, scanErr)
	}
	return save(ctx, tx, id, p, fn)
}

// save runs fn on p in tx, then writes p and commits.
func save(ctx context.Context, tx pgx.Tx, id string, p *domain.Payment, fn func(tx pgx.Tx, p *domain.Payment) error) error {
	if err := fn(tx, p); err != nil {
		return err
	}
	if p.ID != id {
		return fmt.Errorf("update payment %s: the id must not change", id)
	}
	_, err := tx.Exec(ctx, `
		UPDATE payments SET status = $2, intent_id = $3, held_minor = $4, captured_minor = $5,
			refunded_minor = $6, failure_code = $7, updated_at = $8
		WHERE id = $1`,
		p.ID, string(p.Status), p.IntentID, p.Held.AmountMinor, p.Captured.AmountMinor,
		p.Refunded.AmountMinor, p.FailureCode, p.UpdatedAt)
	if err != nil {
		return fmt.Errorf("save payment %s: %w", id, err)
	}
	return tx.Commit(ctx)
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
// worker does not call the gateway for it at the same time. At most one
// operation per payment is taken (the oldest due), so a batch run concurrently
// never has two operations of one payment racing for its row lock. Each
// operation carries its payment as the claim read it (unlocked, like Get).
func (r *Payments) ClaimDue(ctx context.Context, limit int) ([]app.Operation, error) {
	// Ordering by next_attempt_at alone follows the partial index; ties are rare
	// and their order carries no meaning.
	rows, err := r.pool.Query(ctx, `
		WITH candidates AS MATERIALIZED (
			SELECT id, payment_id, next_attempt_at FROM payment_operations
			WHERE status = 'pending' AND next_attempt_at <= now()
			ORDER BY next_attempt_at
			LIMIT $1
			FOR UPDATE SKIP LOCKED
		), due AS (
			SELECT DISTINCT ON (payment_id) id FROM candidates ORDER BY payment_id, next_attempt_at, id
		)
		UPDATE payment_operations o
		SET attempts = o.attempts + 1, next_attempt_at = now() + make_interval(secs => $2)
		FROM due, payments p WHERE o.id = due.id AND p.id = o.payment_id
		RETURNING o.id, o.payment_id, o.kind, o.amount_minor, o.currency, o.attempts, o.last_error, `+claimedPaymentColumns,
		limit, r.lease.Seconds())
	if err != nil {
		return nil, fmt.Errorf("claim due operations: %w", err)
	}
	ops, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (app.Operation, error) {
		var op app.Operation
		var p domain.Payment
		var currency string
		err := row.Scan(&op.ID, &op.PaymentID, &op.Kind, &op.Amount.AmountMinor, &op.Amount.Currency,
			&op.Attempts, &op.LastError,
			&p.ID, &p.CustomerID, &p.TripID, &p.Status, &p.IntentID, &p.Held.AmountMinor,
			&p.Captured.AmountMinor, &p.Refunded.AmountMinor, &currency, &p.FailureCode, &p.UpdatedAt,
			&p.Kind, &p.Reference, &p.Reason, &p.CreatedAt)
		p.Held.Currency, p.Captured.Currency, p.Refunded.Currency = currency, currency, currency
		op.Payment = &p
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

var _ app.OperationQueue = (*Payments)(nil)

// Release hands claimed operations back without counting the attempt: their
// call never left (the circuit breaker was open). They are due again after
// delay; last_error keeps the last real failure.
func (r *Payments) Release(ctx context.Context, ids []string, delay time.Duration) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := r.pool.Exec(ctx, `
		UPDATE payment_operations
		SET attempts = greatest(attempts - 1, 0), next_attempt_at = now() + make_interval(secs => $2)
		WHERE id = ANY($1) AND status = 'pending'`, ids, delay.Seconds())
	if err != nil {
		return fmt.Errorf("release %d operations: %w", len(ids), err)
	}
	return nil
}

// FailAttempt records an unexpected failure of the operation. Below
// maxFailures it stays pending and is due again after backoff; the failure
// that reaches maxFailures makes it dead (reported by dead, exactly once), and
// it runs no more until RequeueDead.
func (r *Payments) FailAttempt(ctx context.Context, id, reason string, backoff time.Duration, maxFailures int) (dead bool, err error) {
	err = r.pool.QueryRow(ctx, `
		UPDATE payment_operations
		SET failures = failures + 1, last_error = $2,
			next_attempt_at = now() + make_interval(secs => $3),
			status = CASE WHEN failures + 1 >= $4 THEN 'dead' ELSE status END,
			dead_at = CASE WHEN failures + 1 >= $4 THEN now() END
		WHERE id = $1 AND status = 'pending'
		RETURNING status = 'dead'`, id, reason, backoff.Seconds(), maxFailures).Scan(&dead)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, fmt.Errorf("%w: %s", app.ErrOperationNotPending, id)
	}
	if err != nil {
		return false, fmt.Errorf("record failure of operation %s: %w", id, err)
	}
	return dead, nil
}

// DeadOperations lists up to limit dead operations, longest dead first.
func (r *Payments) DeadOperations(ctx context.Context, limit int) ([]app.DeadOperation, error) {
	rows, err := r.pool.Query(ctx, `
		SELECT id, payment_id, kind, amount_minor, currency, attempts, last_error, failures, created_at, dead_at
		FROM payment_operations WHERE status = 'dead'
		ORDER BY dead_at, id
		LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list dead operations: %w", err)
	}
	ops, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (app.DeadOperation, error) {
		var op app.DeadOperation
		err := row.Scan(&op.ID, &op.PaymentID, &op.Kind, &op.Amount.AmountMinor, &op.Amount.Currency,
			&op.Attempts, &op.LastError, &op.Failures, &op.CreatedAt, &op.DeadAt)
		return op, err
	})
	if err != nil {
		return nil, fmt.Errorf("list dead operations: %w", err)
	}
	return ops, nil
}

// RequeueDead makes a dead operation pending and due now, with its failure
// count reset (last_error is kept until the next attempt). app.ErrOperationNotFound
// when there is no such operation, app.ErrOperationNotDead when it is not dead.
func (r *Payments) RequeueDead(ctx context.Context, id string) error {
	tag, err := r.pool.Exec(ctx, `
		UPDATE payment_operations
		SET status = 'pending', failures = 0, dead_at = NULL, next_attempt_at = now()
		WHERE id = $1 AND status = 'dead'`, id)
	if err != nil {
		return fmt.Errorf("requeue operation %s: %w", id, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var status string
	err = r.pool.QueryRow(ctx, `SELECT status FROM payment_operations WHERE id = $1`, id).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: %s", app.ErrOperationNotFound, id)
	}
	if err != nil {
		return fmt.Errorf("requeue operation %s: %w", id, err)
	}
	return fmt.Errorf("%w: %s is %s", app.ErrOperationNotDead, id, status)
}
