package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mobilitycorp/platform/services/booking/internal/domain"
)

// PricingStore keeps tariffs, city pricing and multipliers (migration
// 00004_pricing.sql). Writes take update closures, so the read-check-write of
// a change happens inside one transaction here.
type PricingStore struct {
	db *pgxpool.Pool
}

// NewPricingStore returns a store on db.
func NewPricingStore(db *pgxpool.Pool) *PricingStore { return &PricingStore{db: db} }

// PriceBook loads every city, tariff and multiplier in force: a few rows per
// city, read in one transaction so the snapshot is consistent.
func (s *PricingStore) PriceBook(ctx context.Context) (*domain.PriceBook, error) {
	var (
		cities      []domain.CityPricing
		tariffs     []domain.Tariff
		multipliers []domain.PriceMultiplier
	)
	err := pgx.BeginTxFunc(ctx, s.db, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		var err error
		if cities, err = queryPricingCities(ctx, tx, ""); err != nil {
			return err
		}
		if tariffs, err = queryPricingTariffs(ctx, tx, ""); err != nil {
			return err
		}
		multipliers, err = queryPriceMultipliers(ctx, tx, "")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("load price book: %w", err)
	}
	return domain.NewPriceBook(cities, tariffs, multipliers), nil
}

// City returns a city's pricing and its tariffs.
func (s *PricingStore) City(ctx context.Context, city string) (domain.CityPricing, []domain.Tariff, error) {
	cs, err := queryPricingCities(ctx, s.db, city)
	if err != nil {
		return domain.CityPricing{}, nil, err
	}
	if len(cs) == 0 {
		return domain.CityPricing{}, nil, fmt.Errorf("%w: no pricing for city %q", domain.ErrNotFound, city)
	}
	ts, err := queryPricingTariffs(ctx, s.db, city)
	if err != nil {
		return domain.CityPricing{}, nil, err
	}
	return cs[0], ts, nil
}

// Tariff returns one tariff.
func (s *PricingStore) Tariff(ctx context.Context, city string, t domain.VehicleType) (domain.Tariff, error) {
	ts, err := queryPricingTariffs(ctx, s.db, city)
	if err != nil {
		return domain.Tariff{}, err
	}
	for _, tr := range ts {
		if tr.VehicleType == t {
			return tr, nil
		}
	}
	return domain.Tariff{}, fmt.Errorf("%w: no %s tariff in %q", domain.ErrNotFound, t, city)
}

// UpdateCity creates or changes a city's pricing. update gets the current
// row (exists false and only City set for a new city).
func (s *PricingStore) UpdateCity(ctx context.Context, city string, update func(c *domain.CityPricing, exists bool) error) (domain.CityPricing, error) {
	var out domain.CityPricing
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		cs, err := queryPricingCities(ctx, tx, city, "FOR UPDATE")
		if err != nil {
			return err
		}
		cur, exists := domain.CityPricing{City: city}, len(cs) == 1
		if exists {
			cur = cs[0]
		}
		if err := update(&cur, exists); err != nil {
			return err
		}
		if exists && cur.Currency != cs[0].Currency {
			// Tariffs and multipliers are stored without a currency: changing it
			// would silently re-denominate every price of the city.
			return fmt.Errorf("%w: the currency of %q is %s and cannot change", domain.ErrConflict, city, cs[0].Currency)
		}
		err = tx.QueryRow(ctx, `
			INSERT INTO pricing_cities (city, currency, wrong_location_fine_minor, late_return_fine_minor, under_served_reward_minor, cancellation_fee_minor, updated_at, updated_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (city) DO UPDATE SET
				wrong_location_fine_minor = EXCLUDED.wrong_location_fine_minor,
				late_return_fine_minor = EXCLUDED.late_return_fine_minor,
				under_served_reward_minor = EXCLUDED.under_served_reward_minor,
				cancellation_fee_minor = EXCLUDED.cancellation_fee_minor,
				updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by
			RETURNING updated_at`,
			city, cur.Currency, cur.WrongLocationFine.AmountMinor, cur.LateReturnFine.AmountMinor,
			cur.UnderServedReward.AmountMinor, cur.CancellationFee.AmountMinor, cur.UpdatedAt, cur.UpdatedBy).Scan(&cur.UpdatedAt)
		if err != nil {
			return fmt.Errorf("upsert city pricing %s: %w", city, err)
		}
		out = cur
		return nil
	})
	return out, err
}

// UpdateTariff creates or changes a tariff of an existing city. update gets
// the current tariff (exists false: only City and VehicleType set) and the
// city's currency.
func (s *PricingStore) UpdateTariff(ctx context.Context, city string, t domain.VehicleType,
	update func(tr *domain.Tariff, currency string, exists bool) error) (domain.Tariff, error) {
	var out domain.Tariff
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		// Locking the city row serialises tariff writes with a currency check.
		cs, err := queryPricingCities(ctx, tx, city, "FOR SHARE")
		if err != nil {
			return err
		}
		if len(cs) == 0 {
			return fmt.Errorf("%w: no pricing for city %q; PUT /v1/tariffs/%s first", domain.ErrNotFound, city, city)
		}
		cur, exists := domain.Tariff{City: city, VehicleType: t}, false
		ts, err := queryPricingTariffs(ctx, tx, city)
		if err != nil {
			return err
		}
		for _, tr := range ts {
			if tr.VehicleType == t {
				cur, exists = tr, true
			}
		}
		if err := update(&cur, cs[0].Currency, exists); err != nil {
			return err
		}
		err = tx.QueryRow(ctx, `
			INSERT INTO tariffs (city, vehicle_type, unlock_fee_minor, per_minute_minor, updated_at, updated_by)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (city, vehicle_type) DO UPDATE SET
				unlock_fee_minor = EXCLUDED.unlock_fee_minor, per_minute_minor = EXCLUDED.per_minute_minor,
				updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by
			RETURNING updated_at`,
			city, string(t), cur.UnlockFee.AmountMinor, cur.PerMinute.AmountMinor, cur.UpdatedAt, cur.UpdatedBy).Scan(&cur.UpdatedAt)
		if err != nil {
			return fmt.Errorf("upsert tariff %s/%s: %w", city, t, err)
		}
		out = cur
		return nil
	})
	return out, err
}

// CreateMultiplierChange records a change request and, when it is in force
// (within bounds), sets the multiplier in the same transaction.
func (s *PricingStore) CreateMultiplierChange(ctx context.Context, c domain.MultiplierChange) error {
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO multiplier_changes (id, city, zone_id, value_hundredths, reason, status, requested_by, requested_at, expires_at, decided_by, decided_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULLIF($10, ''), $11)`,
			c.ID, c.City, c.ZoneID, int64(c.Value), c.Reason, string(c.Status), c.RequestedBy, c.RequestedAt, c.ExpiresAt, c.DecidedBy, c.DecidedAt)
		if isPricingFKViolation(err) {
			return fmt.Errorf("%w: no pricing for city %q", domain.ErrNotFound, c.City)
		}
		if err != nil {
			return fmt.Errorf("insert multiplier change: %w", err)
		}
		return applyPriceMultiplier(ctx, tx, c)
	})
}

// DecideMultiplierChange runs decide on a change under a row lock and stores
// the outcome; an approved change sets the multiplier in the same transaction.
func (s *PricingStore) DecideMultiplierChange(ctx context.Context, id string, decide func(c *domain.MultiplierChange) error) (domain.MultiplierChange, error) {
	var out domain.MultiplierChange
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		c, err := getMultiplierChange(ctx, tx, id, "FOR UPDATE")
		if err != nil {
			return err
		}
		if err := decide(&c); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE multiplier_changes SET status = $2, decided_by = NULLIF($3, ''), decided_at = $4 WHERE id = $1`,
			c.ID, string(c.Status), c.DecidedBy, c.DecidedAt)
		if err != nil {
			return fmt.Errorf("update multiplier change %s: %w", id, err)
		}
		out = c
		return applyPriceMultiplier(ctx, tx, c)
	})
	return out, err
}

func applyPriceMultiplier(ctx context.Context, tx pgx.Tx, c domain.MultiplierChange) error {
	if !c.InForce() {
		return nil
	}
	m, err := domain.PriceMultiplierFrom(c)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO price_multipliers (city, zone_id, value_hundredths, change_id, approved, set_by, set_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (city, zone_id) DO UPDATE SET
			value_hundredths = EXCLUDED.value_hundredths, change_id = EXCLUDED.change_id,
			approved = EXCLUDED.approved, set_by = EXCLUDED.set_by, set_at = EXCLUDED.set_at`,
		m.City, m.ZoneID, int64(m.Value), m.ChangeID, m.Approved, m.SetBy, m.SetAt)
	if err != nil {
		return fmt.Errorf("set multiplier %s/%s: %w", m.City, m.ZoneID, err)
	}
	return nil
}

// MultiplierChange returns one change request.
func (s *PricingStore) MultiplierChange(ctx context.Context, id string) (domain.MultiplierChange, error) {
	return getMultiplierChange(ctx, s.db, id, "")
}

// ListMultiplierChanges lists changes newest first, limit at most, after the
// cursor (nil: from the newest).
func (s *PricingStore) ListMultiplierChanges(ctx context.Context, f domain.MultiplierChangeFilter, after *domain.MultiplierChangeCursor, limit int) ([]domain.MultiplierChange, error) {
	args := []any{f.City, string(f.Status), limit}
	cond := ""
	if after != nil {
		args = append(args, after.RequestedAt, after.ID)
		cond = "AND (requested_at, id) < ($4, $5::uuid)"
	}
	rows, err := s.db.Query(ctx, multiplierChangeSelect+`
		WHERE ($1 = '' OR city = $1) AND ($2 = '' OR `+multiplierChangeStatusExpr+` = $2) `+cond+`
		ORDER BY requested_at DESC, id DESC LIMIT $3`, args...)
	if err != nil {
		return nil, fmt.Errorf("list multiplier changes: %w", err)
	}
	return pgx.CollectRows(rows, scanMultiplierChange)
}

// Multipliers lists the multipliers in force in a city.
func (s *PricingStore) Multipliers(ctx context.Context, city string) ([]domain.PriceMultiplier, error) {
	return queryPriceMultipliers(ctx, s.db, city)
}

type pricingQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func queryPricingCities(ctx context.Context, q pricingQuerier, city string, lock ...string) ([]domain.CityPricing, error) {
	sql := `SELECT city, currency, wrong_location_fine_minor, late_return_fine_minor, under_served_reward_minor, cancellation_fee_minor, updated_at, updated_by
		FROM pricing_cities WHERE $1 = '' OR city = $1 ORDER BY city`
	if len(lock) > 0 {
		sql += " " + lock[0]
	}
	rows, err := q.Query(ctx, sql, city)
	if err != nil {
		return nil, fmt.Errorf("query city pricing: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.CityPricing, error) {
		var (
			c                      domain.CityPricing
			wrong, late, rwrd, fee int64
		)
		err := r.Scan(&c.City, &c.Currency, &wrong, &late, &rwrd, &fee, &c.UpdatedAt, &c.UpdatedBy)
		c.WrongLocationFine = domain.Money{AmountMinor: wrong, Currency: c.Currency}
		c.LateReturnFine = domain.Money{AmountMinor: late, Currency: c.Currency}
		c.UnderServedReward = domain.Money{AmountMinor: rwrd, Currency: c.Currency}
		c.CancellationFee = domain.Money{AmountMinor: fee, Currency: c.Currency}
		return c, err
	})
}

func queryPricingTariffs(ctx context.Context, q pricingQuerier, city string) ([]domain.Tariff, error) {
	rows, err := q.Query(ctx, `
		SELECT t.city, t.vehicle_type, t.unlock_fee_minor, t.per_minute_minor, c.currency, t.updated_at, t.updated_by
		FROM tariffs t JOIN pricing_cities c USING (city)
		WHERE $1 = '' OR t.city = $1 ORDER BY t.city, t.vehicle_type`, city)
	if err != nil {
		return nil, fmt.Errorf("query tariffs: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Tariff, error) {
		var (
			t              domain.Tariff
			typ, currency  string
			unlock, minute int64
		)
		err := r.Scan(&t.City, &typ, &unlock, &minute, &currency, &t.UpdatedAt, &t.UpdatedBy)
		t.VehicleType = domain.VehicleType(typ)
		t.UnlockFee = domain.Money{AmountMinor: unlock, Currency: currency}
		t.PerMinute = domain.Money{AmountMinor: minute, Currency: currency}
		return t, err
	})
}

func queryPriceMultipliers(ctx context.Context, q pricingQuerier, city string) ([]domain.PriceMultiplier, error) {
	rows, err := q.Query(ctx, `
		SELECT city, zone_id, value_hundredths, change_id::text, approved, set_by, set_at
		FROM price_multipliers WHERE $1 = '' OR city = $1 ORDER BY city, zone_id`, city)
	if err != nil {
		return nil, fmt.Errorf("query multipliers: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.PriceMultiplier, error) {
		var (
			m domain.PriceMultiplier
			v int64
		)
		err := r.Scan(&m.City, &m.ZoneID, &v, &m.ChangeID, &m.Approved, &m.SetBy, &m.SetAt)
		m.Value = domain.Multiplier(v)
		return m, err
	})
}

// multiplierChangeStatusExpr reports a pending change past its expiry as expired
// without a job having to rewrite it.
const multiplierChangeStatusExpr = `CASE WHEN status = 'pending_approval' AND expires_at <= now() THEN 'expired' ELSE status END`

const multiplierChangeSelect = `SELECT id::text, city, zone_id, value_hundredths, reason, ` + multiplierChangeStatusExpr + `,
	requested_by, requested_at, expires_at, coalesce(decided_by, ''), decided_at FROM multiplier_changes `

func getMultiplierChange(ctx context.Context, q pricingQuerier, id, lock string) (domain.MultiplierChange, error) {
	rows, err := q.Query(ctx, multiplierChangeSelect+"WHERE id::text = $1 "+lock, id)
	if err != nil {
		return domain.MultiplierChange{}, fmt.Errorf("get multiplier change %s: %w", id, err)
	}
	c, err := pgx.CollectExactlyOneRow(rows, scanMultiplierChange)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.MultiplierChange{}, fmt.Errorf("%w: multiplier change %s", domain.ErrNotFound, id)
	}
	return c, err
}

func scanMultiplierChange(r pgx.CollectableRow) (domain.MultiplierChange, error) {
	var (
		c      domain.MultiplierChange
		v      int64
		status string
	)
	err := r.Scan(&c.ID, &c.City, &c.ZoneID, &v, &c.Reason, &status, &c.RequestedBy, &c.RequestedAt, &c.ExpiresAt, &c.DecidedBy, &c.DecidedAt)
	c.Value, c.Status = domain.Multiplier(v), domain.MultiplierChangeStatus(status)
	return c, err
}

func isPricingFKViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503"
}
