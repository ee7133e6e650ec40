package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

// Charges (fines, cancellation fees, trip remainders) are rows of payments with
// kind <> 'trip' (migration 00003); they are created, read and updated like any
// payment. This file holds what only charges need.

// createdAt is the creation time to store: payments built before CreatedAt
// existed carry only UpdatedAt.
func createdAt(p *domain.Payment) time.Time {
	switch {
	case !p.CreatedAt.IsZero():
		return p.CreatedAt
	case !p.UpdatedAt.IsZero():
		return p.UpdatedAt
	}
	return time.Now()
}

// Charges lists the charges of a customer (fines, cancellation fees and trip
// remainders, any status), newest first. Read helper for the HTTP API.
func (r *Payments) Charges(ctx context.Context, customerID string) ([]domain.Payment, error) {
	rows, err := r.pool.Query(ctx, `SELECT `+paymentColumns+` FROM payments
		WHERE customer_id = $1 AND kind <> 'trip'
		ORDER BY created_at DESC, id`, customerID)
	if err != nil {
		return nil, fmt.Errorf("charges of %s: %w", customerID, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Payment, error) {
		p, err := scanPayment(row)
		if err != nil {
			return domain.Payment{}, err
		}
		return *p, nil
	})
	if err != nil {
		return nil, fmt.Errorf("charges of %s: %w", customerID, err)
	}
	return out, nil
}
