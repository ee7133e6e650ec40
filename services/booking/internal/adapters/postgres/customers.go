// Package postgres holds booking's PostgreSQL repositories.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mobilitycorp/platform/services/booking/internal/app"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
)

// Customers is the customer repository (migration 00002).
type Customers struct {
	pool *pgxpool.Pool
}

var _ app.CustomerRepository = (*Customers)(nil)

// NewCustomers returns the repository over pool.
func NewCustomers(pool *pgxpool.Pool) *Customers { return &Customers{pool: pool} }

const customerColumns = `id, name, email, date_of_birth, country, preferred_language,
	licence_number, licence_country, licence_expiry, licence_categories, licence_status, licence_submitted_at,
	licence_reviewed_at, licence_reviewed_by, licence_rejection_reason,
	payment_method, blocked_at, blocked_by, block_reason, created_at, updated_at`

func scanCustomer(row pgx.Row) (domain.Customer, error) {
	var (
		c                                             domain.Customer
		lNumber, lCountry, lStatus, lReviewedBy, lWhy *string
		lExpiry, lSubmitted, lReviewed, blockedAt     *time.Time
		lCategories                                   []string
		payment, blockedBy, blockReason               *string
	)
	err := row.Scan(&c.ID, &c.Name, &c.Email, &c.DateOfBirth, &c.Country, &c.PreferredLanguage,
		&lNumber, &lCountry, &lExpiry, &lCategories, &lStatus, &lSubmitted, &lReviewed, &lReviewedBy, &lWhy,
		&payment, &blockedAt, &blockedBy, &blockReason, &c.CreatedAt, &c.UpdatedAt)
	if err != nil {
		return domain.Customer{}, err
	}
	c.DateOfBirth = domain.Date(c.DateOfBirth)
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	if lStatus != nil {
		c.Licence = &domain.Licence{Number: *lNumber, Country: *lCountry, Expiry: domain.Date(*lExpiry),
			Categories: lCategories, Status: domain.LicenceStatus(*lStatus), SubmittedAt: lSubmitted.UTC(),
			ReviewedBy: deref(lReviewedBy), RejectionReason: deref(lWhy)}
		if lReviewed != nil {
			c.Licence.ReviewedAt = lReviewed.UTC()
		}
	}
	c.PaymentMethod = deref(payment)
	if blockedAt != nil {
		c.Block = &domain.Block{Reason: deref(blockReason), By: deref(blockedBy), At: blockedAt.UTC()}
	}
	return c, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// customerArgs are the column values of c in customerColumns order.
func customerArgs(c domain.Customer) []any {
	var (
		lNumber, lCountry, lStatus, lReviewedBy, lWhy *string
		lExpiry, lSubmitted, lReviewed                *time.Time
		lCategories                                   []string
		blockedAt                                     *time.Time
		blockedBy, blockReason                        *string
	)
	if l := c.Licence; l != nil {
		lNumber, lCountry, lStatus = &l.Number, &l.Country, (*string)(&l.Status)
		lExpiry, lSubmitted, lReviewed = &l.Expiry, &l.SubmittedAt, nullTime(l.ReviewedAt)
		lCategories, lReviewedBy, lWhy = l.Categories, nullString(l.ReviewedBy), nullString(l.RejectionReason)
	}
	if b := c.Block; b != nil {
		blockedAt, blockedBy, blockReason = &b.At, &b.By, &b.Reason
	}
	return []any{c.ID, c.Name, c.Email, c.DateOfBirth, c.Country, c.PreferredLanguage,
		lNumber, lCountry, lExpiry, lCategories, lStatus, lSubmitted, lReviewed, lReviewedBy, lWhy,
		nullString(c.PaymentMethod), blockedAt, blockedBy, blockReason, c.CreatedAt, c.UpdatedAt}
}

// customerConflict turns unique violations into domain conflicts.
func customerConflict(err error, c domain.Customer) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		return err
	}
	if pgErr.ConstraintName == "customers_email" {
		return fmt.Errorf("%w: email %s belongs to another customer", domain.ErrConflict, c.Email)
	}
	return fmt.Errorf("%w: customer %s exists already", domain.ErrConflict, c.ID)
}

// CreateCustomer implements app.CustomerRepository.
func (r *Customers) CreateCustomer(ctx context.Context, c domain.Customer) error {
	_, err := r.pool.Exec(ctx, `INSERT INTO customers (`+customerColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)`,
		customerArgs(c)...)
	if err != nil {
		return fmt.Errorf("create customer %s: %w", c.ID, customerConflict(err, c))
	}
	return nil
}

func customerNotFound(id string) error {
	return fmt.Errorf("%w: customer %s", domain.ErrNotFound, id)
}

// Customer implements app.CustomerRepository.
func (r *Customers) Customer(ctx context.Context, id string) (domain.Customer, error) {
	c, err := scanCustomer(r.pool.QueryRow(ctx, `SELECT `+customerColumns+` FROM customers WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Customer{}, customerNotFound(id)
	}
	if err != nil {
		return domain.Customer{}, fmt.Errorf("get customer %s: %w", id, err)
	}
	return c, nil
}

// UpdateCustomer implements app.CustomerRepository.
func (r *Customers) UpdateCustomer(ctx context.Context, id string,
	fn func(c *domain.Customer) ([]domain.AuditEntry, error)) (domain.Customer, error) {
	var out domain.Customer
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		c, err := scanCustomer(tx.QueryRow(ctx, `SELECT `+customerColumns+` FROM customers WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return customerNotFound(id)
		}
		if err != nil {
			return fmt.Errorf("lock customer %s: %w", id, err)
		}
		audit, err := fn(&c)
		if err != nil {
			return err
		}
		c.ID = id
		_, err = tx.Exec(ctx, `UPDATE customers SET (`+customerColumns+`) =
			($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)
			WHERE id = $1`, customerArgs(c)...)
		if err != nil {
			return fmt.Errorf("update customer %s: %w", id, customerConflict(err, c))
		}
		for _, a := range audit {
			if _, err := tx.Exec(ctx, `INSERT INTO customer_audit (customer_id, action, reason, actor, at)
				VALUES ($1, $2, $3, $4, $5)`, a.CustomerID, string(a.Action), a.Reason, a.Actor, a.At); err != nil {
				return fmt.Errorf("audit customer %s: %w", id, err)
			}
		}
		out = c
		return nil
	})
	return out, err
}

// Customers implements app.CustomerRepository.
func (r *Customers) Customers(ctx context.Context, f app.CustomerFilter, afterID string, limit int) ([]domain.Customer, error) {
	rows, err := r.pool.Query(ctx, `SELECT `+customerColumns+` FROM customers
		WHERE id > $1
		  AND ($2 = '' OR licence_status = $2)
		  AND ($3::boolean IS NULL OR (blocked_at IS NOT NULL) = $3)
		ORDER BY id LIMIT $4`, afterID, string(f.LicenceStatus), f.Blocked, limit)
	if err != nil {
		return nil, fmt.Errorf("list customers: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Customer, error) { return scanCustomer(row) })
	if err != nil {
		return nil, fmt.Errorf("list customers: %w", err)
	}
	return out, nil
}

// Audit returns the recorded decisions about a customer, oldest first.
func (r *Customers) Audit(ctx context.Context, id string) ([]domain.AuditEntry, error) {
	rows, err := r.pool.Query(ctx, `SELECT customer_id, action, reason, actor, at FROM customer_audit
		WHERE customer_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("audit of customer %s: %w", id, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.AuditEntry, error) {
		var a domain.AuditEntry
		err := row.Scan(&a.CustomerID, &a.Action, &a.Reason, &a.Actor, &a.At)
		a.At = a.At.UTC()
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("audit of customer %s: %w", id, err)
	}
	return out, nil
}

// LockEligibleTx checks, inside the caller's transaction, that customer id
// may rent a vehicle of type t at `at`, and holds the customer row (FOR
// SHARE) until tx ends: a block, which locks the row for update, waits for
// the booking, and a booking that started after a block sees it. Errors are
// those of app.Customers.CheckEligible.
func (r *Customers) LockEligibleTx(ctx context.Context, tx pgx.Tx, id string, t domain.VehicleType, at time.Time) error {
	c, err := scanCustomer(tx.QueryRow(ctx, `SELECT `+customerColumns+` FROM customers WHERE id = $1 FOR SHARE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return customerNotFound(id)
	}
	if err != nil {
		return fmt.Errorf("lock customer %s: %w", id, err)
	}
	return c.Eligible(t, at)
}
