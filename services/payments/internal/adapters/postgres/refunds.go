package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mobilitycorp/platform/services/payments/internal/app"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

// Refunds (table refunds, migration 00003). The flows change a refund only
// inside Payments.Update of its payment, so the payment's row lock serialises
// every refund of one payment: the reserved sum read under it cannot go stale.

var _ app.RefundStore = (*Payments)(nil)

const refundColumns = `id, payment_id, customer_id, amount_minor, currency, status, reason, requested_by,
	coalesce(idempotency_key, ''), decided_by, decision_reason, decided_at, provider_ref, failure_code,
	created_at, updated_at`

func scanRefund(row pgx.Row) (*domain.Refund, error) {
	var rf domain.Refund
	var decidedAt *time.Time
	err := row.Scan(&rf.ID, &rf.PaymentID, &rf.CustomerID, &rf.Amount.AmountMinor, &rf.Amount.Currency, &rf.Status,
		&rf.Reason, &rf.RequestedBy, &rf.IdempotencyKey, &rf.DecidedBy, &rf.DecisionReason, &decidedAt,
		&rf.ProviderRef, &rf.FailureCode, &rf.CreatedAt, &rf.UpdatedAt)
	if err != nil {
		return nil, err
	}
	if decidedAt != nil {
		rf.DecidedAt = *decidedAt
	}
	return &rf, nil
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// CreateRefundTx inserts rf in tx; app.ErrRefundExists when its id (or its
// requester's idempotency key) is taken. The transaction stays usable.
func (r *Payments) CreateRefundTx(ctx context.Context, tx pgx.Tx, rf *domain.Refund) error {
	tag, err := tx.Exec(ctx, `
		INSERT INTO refunds (id, payment_id, customer_id, amount_minor, currency, status, reason, requested_by,
			idempotency_key, decided_by, decision_reason, decided_at, provider_ref, failure_code, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
		ON CONFLICT DO NOTHING`,
		rf.ID, rf.PaymentID, rf.CustomerID, rf.Amount.AmountMinor, rf.Amount.Currency, string(rf.Status), rf.Reason,
		rf.RequestedBy, nullString(rf.IdempotencyKey), rf.DecidedBy, rf.DecisionReason, nullTime(rf.DecidedAt),
		rf.ProviderRef, rf.FailureCode, rf.CreatedAt, rf.UpdatedAt)
	if err != nil {
		return fmt.Errorf("create refund %s: %w", rf.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %s", app.ErrRefundExists, rf.ID)
	}
	return nil
}

// SaveRefundTx writes the mutable fields of rf (status, decision, gateway outcome) in tx.
func (r *Payments) SaveRefundTx(ctx context.Context, tx pgx.Tx, rf *domain.Refund) error {
	tag, err := tx.Exec(ctx, `
		UPDATE refunds SET status = $2, decided_by = $3, decision_reason = $4, decided_at = $5,
			provider_ref = $6, failure_code = $7, updated_at = $8
		WHERE id = $1`,
		rf.ID, string(rf.Status), rf.DecidedBy, rf.DecisionReason, nullTime(rf.DecidedAt), rf.ProviderRef,
		rf.FailureCode, rf.UpdatedAt)
	if err != nil {
		return fmt.Errorf("save refund %s: %w", rf.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %s", app.ErrRefundNotFound, rf.ID)
	}
	return nil
}

// RefundTx reads one refund in tx; app.ErrRefundNotFound when there is none.
func (r *Payments) RefundTx(ctx context.Context, tx pgx.Tx, id string) (*domain.Refund, error) {
	return getRefund(ctx, tx, id)
}

// Refund reads one refund; app.ErrRefundNotFound when there is none. Read
// helper for the HTTP API too.
func (r *Payments) Refund(ctx context.Context, id string) (*domain.Refund, error) {
	return getRefund(ctx, r.pool, id)
}

func getRefund(ctx context.Context, q querier, id string) (*domain.Refund, error) {
	rf, err := scanRefund(q.QueryRow(ctx, `SELECT `+refundColumns+` FROM refunds WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", app.ErrRefundNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("get refund %s: %w", id, err)
	}
	return rf, nil
}

// ReservedRefundsTx sums the payment's refunds that count against what can
// still be refunded (pending approval, queued, succeeded), in minor units.
func (r *Payments) ReservedRefundsTx(ctx context.Context, tx pgx.Tx, paymentID string) (int64, error) {
	var sum int64
	err := tx.QueryRow(ctx, `
		SELECT coalesce(sum(amount_minor), 0)::bigint FROM refunds
		WHERE payment_id = $1 AND status IN ('pending_approval', 'queued', 'succeeded')`, paymentID).Scan(&sum)
	if err != nil {
		return 0, fmt.Errorf("reserved refunds of %s: %w", paymentID, err)
	}
	return sum, nil
}

// Refunds lists the refunds of a payment, oldest first (read helper for the HTTP API).
func (r *Payments) Refunds(ctx context.Context, paymentID string) ([]domain.Refund, error) {
	return listRefunds(ctx, r.pool, `SELECT `+refundColumns+` FROM refunds WHERE payment_id = $1 ORDER BY created_at, id`, paymentID)
}

// PendingRefunds lists up to limit refunds waiting for approval, oldest first
// (the staff approval queue; read helper for the HTTP API).
func (r *Payments) PendingRefunds(ctx context.Context, limit int) ([]domain.Refund, error) {
	return listRefunds(ctx, r.pool, `SELECT `+refundColumns+` FROM refunds WHERE status = 'pending_approval'
		ORDER BY created_at, id LIMIT $1`, limit)
}

func listRefunds(ctx context.Context, q querier, sql string, args ...any) ([]domain.Refund, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("list refunds: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Refund, error) {
		rf, err := scanRefund(row)
		if err != nil {
			return domain.Refund{}, err
		}
		return *rf, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list refunds: %w", err)
	}
	return out, nil
}
