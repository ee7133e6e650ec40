package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/mobilitycorp/platform/services/payments/internal/app"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

// Credits (table credits, migration 00003). The balance is the ledger's
// customer:<id>:credit account; the table records where each grant came from.

var _ app.CreditStore = (*Payments)(nil)

// LockCustomerTx takes the customer's credit lock until tx ends (a transaction
// advisory lock, so it needs no row). Whoever applies credit holds it, so two
// trips ending at once cannot spend the same credit.
func (r *Payments) LockCustomerTx(ctx context.Context, tx pgx.Tx, customerID string) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('payments.customer-credit:' || $1, 0))`, customerID); err != nil {
		return fmt.Errorf("lock credit of %s: %w", customerID, err)
	}
	return nil
}

// CreateCreditTx inserts c in tx; false (and nothing written) when its id exists.
func (r *Payments) CreateCreditTx(ctx context.Context, tx pgx.Tx, c *domain.Credit) (bool, error) {
	tag, err := tx.Exec(ctx, `
		INSERT INTO credits (id, customer_id, amount_minor, currency, source, reason, trip_id, bay_id, granted_by, granted_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (id) DO NOTHING`,
		c.ID, c.CustomerID, c.Amount.AmountMinor, c.Amount.Currency, string(c.Source), c.Reason, c.TripID, c.BayID,
		c.GrantedBy, c.GrantedAt)
	if err != nil {
		return false, fmt.Errorf("create credit %s: %w", c.ID, err)
	}
	return tag.RowsAffected() == 1, nil
}

const creditColumns = `id, customer_id, amount_minor, currency, source, reason, trip_id, bay_id, granted_by, granted_at`

func scanCredit(row pgx.Row) (domain.Credit, error) {
	var c domain.Credit
	err := row.Scan(&c.ID, &c.CustomerID, &c.Amount.AmountMinor, &c.Amount.Currency, &c.Source, &c.Reason,
		&c.TripID, &c.BayID, &c.GrantedBy, &c.GrantedAt)
	return c, err
}

// CreditTx reads one credit grant in tx; app.ErrCreditNotFound when there is none.
func (r *Payments) CreditTx(ctx context.Context, tx pgx.Tx, id string) (*domain.Credit, error) {
	c, err := scanCredit(tx.QueryRow(ctx, `SELECT `+creditColumns+` FROM credits WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", app.ErrCreditNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("get credit %s: %w", id, err)
	}
	return &c, nil
}

// CreditBalanceTx is the customer's available credit in currency (≥ 0), read
// in tx from the posted ledger. Hold LockCustomerTx before spending it.
func (r *Payments) CreditBalanceTx(ctx context.Context, tx pgx.Tx, customerID, currency string) (domain.Money, error) {
	return creditBalance(ctx, tx, customerID, currency)
}

// CreditBalance is the customer's available credit in currency (read helper
// for the HTTP API): granted minus applied, from the posted ledger.
func (r *Payments) CreditBalance(ctx context.Context, customerID, currency string) (domain.Money, error) {
	return creditBalance(ctx, r.pool, customerID, currency)
}

func creditBalance(ctx context.Context, q querier, customerID, currency string) (domain.Money, error) {
	if _, err := domain.NewMoney(0, currency); err != nil {
		return domain.Money{}, fmt.Errorf("credit balance of %s: %w", customerID, err)
	}
	// The credit account is a liability (credit balance, negative sum): what we owe is its negation.
	available := domain.Money{Currency: currency}
	err := q.QueryRow(ctx, `
		SELECT coalesce(-sum(l.amount_minor), 0)::bigint
		FROM journal_lines l JOIN journal_entries e ON e.id = l.entry_id
		WHERE l.account = $1 AND l.currency = $2 AND e.status = 'posted'`,
		string(domain.CustomerCredit(customerID)), currency).Scan(&available.AmountMinor)
	if err != nil {
		return domain.Money{}, fmt.Errorf("credit balance of %s: %w", customerID, err)
	}
	return available, nil
}

// Credits lists the credit grants of a customer, newest first (read helper for the HTTP API).
func (r *Payments) Credits(ctx context.Context, customerID string) ([]domain.Credit, error) {
	rows, err := r.pool.Query(ctx, `SELECT `+creditColumns+` FROM credits WHERE customer_id = $1
		ORDER BY granted_at DESC, id`, customerID)
	if err != nil {
		return nil, fmt.Errorf("credits of %s: %w", customerID, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Credit, error) { return scanCredit(row) })
	if err != nil {
		return nil, fmt.Errorf("credits of %s: %w", customerID, err)
	}
	return out, nil
}
