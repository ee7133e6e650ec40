package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mobilitycorp/platform/pkg/outbox"
	"github.com/mobilitycorp/platform/services/booking/internal/app"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
)

// Bookings stores reservations (vehicle holds) and trips (migration 00005).
// No two active holds of a vehicle overlap: the exclusion constraint
// reservations_no_overlap refuses it, whatever the application does. Writers
// that grow a hold first take a per-vehicle advisory lock, so concurrent
// conflicting inserts queue up instead of deadlocking in the constraint check
// (two inserts that see each other's uncommitted rows would wait on each other).
type Bookings struct {
	pool *pgxpool.Pool
}

var (
	_ app.ReservationStore = (*Bookings)(nil)
	_ app.TripStore        = (*Bookings)(nil)
)

// NewBookings returns the store over pool.
func NewBookings(pool *pgxpool.Pool) *Bookings { return &Bookings{pool: pool} }

// PostgreSQL error codes booking maps.
const (
	pgExclusionViolation = "23P01"
	pgUniqueViolation    = "23505"
	// Raised by booking_lock_eligible (migration 00006).
	pgCustomerIneligible = "BK403"
)

// bookingConflict turns the database's refusals into domain conflicts.
func bookingConflict(err error, vehicleID string) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err
	}
	switch {
	case pgErr.Code == pgCustomerIneligible:
		return fmt.Errorf("%w: %s", domain.ErrForbidden, pgErr.Message)
	case pgErr.Code == pgExclusionViolation:
		return fmt.Errorf("%w: vehicle %s is already booked for an overlapping time", domain.ErrConflict, vehicleID)
	case pgErr.Code == pgUniqueViolation && pgErr.ConstraintName == "trips_one_active_per_customer":
		return fmt.Errorf("%w: the customer already has an active trip", domain.ErrConflict)
	case pgErr.Code == pgUniqueViolation && pgErr.ConstraintName == "trip_feedback_pkey":
		return fmt.Errorf("%w: this trip already has feedback", domain.ErrConflict)
	}
	return err
}

// lockEligibleSQL holds the customer row until the transaction ends and
// re-checks what a concurrent block (or licence/payment change) revokes; a
// refusal is SQLSTATE BK403 (migration 00006). The application has checked
// every rule, with its reason, before.
const lockEligibleSQL = `SELECT booking_lock_eligible($1, $2)`

// lockVehicleHolds serialises the writers of one vehicle's holds until the
// transaction ends (insertReservation takes the same lock itself).
func lockVehicleHolds(ctx context.Context, tx pgx.Tx, vehicleID string) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('booking.vehicle:' || $1, 0))`, vehicleID); err != nil {
		return fmt.Errorf("lock vehicle %s: %w", vehicleID, err)
	}
	return nil
}

func enqueueAll(ctx context.Context, tx pgx.Tx, out []app.Outgoing) error {
	for _, o := range out {
		if err := outbox.Enqueue(ctx, tx, o.Topic, o.Key, o.Event); err != nil {
			return err
		}
	}
	return nil
}

// validUUID keeps ids that cannot be ours (and would make PostgreSQL fail the
// uuid cast) out of queries: they are simply not found.
func validUUID(id string) bool {
	_, err := uuid.Parse(id)
	return err == nil
}

const reservationColumns = `id::text, walk_up, customer_id, vehicle_id, vehicle_type, city, status,
	start_at, end_at, hold_until, expires_at, planned_distance_km, created_at, closed_at,
	cancelled_by, cancel_reason, cancel_fee_minor, cancel_fee_currency, fee_waived, trip_id::text, held_marked_at`

func scanReservation(row pgx.Row) (domain.Reservation, error) {
	var (
		r                       domain.Reservation
		planned                 *float64
		closed, marked          *time.Time
		by, why, feeCur, tripID *string
		feeMinor                *int64
	)
	err := row.Scan(&r.ID, &r.WalkUp, &r.CustomerID, &r.VehicleID, &r.VehicleType, &r.City, &r.Status,
		&r.StartAt, &r.EndAt, &r.HoldUntil, &r.ExpiresAt, &planned, &r.CreatedAt, &closed,
		&by, &why, &feeMinor, &feeCur, &r.FeeWaived, &tripID, &marked)
	if err != nil {
		return domain.Reservation{}, err
	}
	r.StartAt, r.EndAt, r.HoldUntil, r.ExpiresAt, r.CreatedAt = r.StartAt.UTC(), r.EndAt.UTC(), r.HoldUntil.UTC(), r.ExpiresAt.UTC(), r.CreatedAt.UTC()
	if planned != nil {
		r.PlannedDistanceKm = *planned
	}
	r.ClosedAt, r.HeldMarkedAt = utcOrZero(closed), utcOrZero(marked)
	r.CancelledBy, r.CancelReason, r.TripID = stringOrEmpty(by), stringOrEmpty(why), stringOrEmpty(tripID)
	if feeMinor != nil && feeCur != nil {
		r.CancelFee = &domain.Money{AmountMinor: *feeMinor, Currency: *feeCur}
	}
	return r, nil
}

func utcOrZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func stringOrEmpty(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func timeOrNull(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func stringOrNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func reservationFee(r domain.Reservation) (*int64, *string) {
	if r.CancelFee == nil {
		return nil, nil
	}
	return &r.CancelFee.AmountMinor, &r.CancelFee.Currency
}

func plannedOrNull(r domain.Reservation) *float64 {
	if r.PlannedDistanceKm == 0 {
		return nil
	}
	return &r.PlannedDistanceKm
}

// insertReservation inserts r, first taking the vehicle's hold lock (in the
// same statement: one round trip less on the busiest path).
func insertReservation(ctx context.Context, tx pgx.Tx, r domain.Reservation) error {
	feeMinor, feeCur := reservationFee(r)
	_, err := tx.Exec(ctx, `WITH locked AS (SELECT pg_advisory_xact_lock(hashtextextended('booking.vehicle:' || $4, 0)))
		INSERT INTO reservations (id, walk_up, customer_id, vehicle_id, vehicle_type, city, status,
			start_at, end_at, hold_until, expires_at, planned_distance_km, created_at, updated_at, closed_at,
			cancelled_by, cancel_reason, cancel_fee_minor, cancel_fee_currency, fee_waived, trip_id, held_marked_at)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14, $15, $16, $17, $18, $19, $20, $21 FROM locked`,
		r.ID, r.WalkUp, r.CustomerID, r.VehicleID, string(r.VehicleType), r.City, string(r.Status),
		r.StartAt, r.EndAt, r.HoldUntil, r.ExpiresAt, plannedOrNull(r), r.CreatedAt, timeOrNull(r.ClosedAt),
		stringOrNull(r.CancelledBy), stringOrNull(r.CancelReason), feeMinor, feeCur, r.FeeWaived,
		stringOrNull(r.TripID), timeOrNull(r.HeldMarkedAt))
	return err
}

func saveReservation(ctx context.Context, tx pgx.Tx, r domain.Reservation) error {
	feeMinor, feeCur := reservationFee(r)
	_, err := tx.Exec(ctx, `UPDATE reservations SET status = $2, start_at = $3, end_at = $4, hold_until = $5,
			expires_at = $6, closed_at = $7, cancelled_by = $8, cancel_reason = $9, cancel_fee_minor = $10,
			cancel_fee_currency = $11, fee_waived = $12, trip_id = $13, held_marked_at = $14, updated_at = now()
		WHERE id = $1`,
		r.ID, string(r.Status), r.StartAt, r.EndAt, r.HoldUntil, r.ExpiresAt, timeOrNull(r.ClosedAt),
		stringOrNull(r.CancelledBy), stringOrNull(r.CancelReason), feeMinor, feeCur, r.FeeWaived,
		stringOrNull(r.TripID), timeOrNull(r.HeldMarkedAt))
	return err
}

func reservationNotFound(id string) error {
	return fmt.Errorf("reservation %s: %w", id, domain.ErrNotFound)
}

// CreateReservation implements app.ReservationStore. It is the hot path of
// booking, so the lock, the insert and the outbox rows go to the server as
// one batch: one round trip instead of five (BEGIN, lock, insert, outbox,
// COMMIT). A batch sent outside a transaction runs in one implicit
// transaction, so the events are stored if and only if the reservation is.
func (b *Bookings) CreateReservation(ctx context.Context, r domain.Reservation, out []app.Outgoing) error {
	batch := &pgx.Batch{}
	q := batchQueue{batch: batch}
	// First in the batch: hold the customer row and re-check what a concurrent
	// block (or licence/payment change) revokes, so no reservation commits
	// after a block did (migration 00006).
	batch.Queue(lockEligibleSQL, r.CustomerID, r.VehicleType.NeedsLicence())
	if err := insertReservation(ctx, q, r); err != nil {
		return err
	}
	if err := enqueueAll(ctx, q, out); err != nil {
		return err
	}
	if err := b.pool.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("create reservation: %w", bookingConflict(err, r.VehicleID))
	}
	return nil
}

// batchQueue queues statements on a batch instead of running them. It lets
// outbox.Enqueue (which only calls Exec on the transaction it is given) add
// its insert to a batch; any other pgx.Tx method would panic on the nil
// embedded Tx, which the reservation tests would catch at once.
// pkg/outbox could offer a Queue(*pgx.Batch, ...) to retire this.
type batchQueue struct {
	pgx.Tx
	batch *pgx.Batch
}

// Exec queues sql; the batch reports its outcome when it is sent.
func (q batchQueue) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	q.batch.Queue(sql, args...)
	return pgconn.CommandTag{}, nil
}

// Reservation implements app.ReservationStore.
func (b *Bookings) Reservation(ctx context.Context, id string) (domain.Reservation, error) {
	if !validUUID(id) {
		return domain.Reservation{}, reservationNotFound(id)
	}
	r, err := scanReservation(b.pool.QueryRow(ctx, `SELECT `+reservationColumns+` FROM reservations WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Reservation{}, reservationNotFound(id)
	}
	if err != nil {
		return domain.Reservation{}, fmt.Errorf("reservation %s: %w", id, err)
	}
	return r, nil
}

// CustomerReservations implements app.ReservationStore: newest first, walk-up holds hidden.
func (b *Bookings) CustomerReservations(ctx context.Context, customerID string, after *app.ReservationPageKey, limit int) ([]domain.Reservation, error) {
	q := `SELECT ` + reservationColumns + ` FROM reservations WHERE customer_id = $1 AND NOT walk_up`
	args := []any{customerID, limit}
	if after != nil {
		q += ` AND (created_at, id) < ($3, $4::uuid)`
		if !validUUID(after.ID) {
			return nil, fmt.Errorf("%w: malformed cursor", domain.ErrInvalid)
		}
		args = append(args, after.CreatedAt, after.ID)
	}
	rows, err := b.pool.Query(ctx, q+` ORDER BY created_at DESC, id DESC LIMIT $2`, args...)
	if err != nil {
		return nil, fmt.Errorf("list reservations: %w", err)
	}
	defer rows.Close()
	var out []domain.Reservation
	for rows.Next() {
		r, err := scanReservation(rows)
		if err != nil {
			return nil, fmt.Errorf("list reservations: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// UpdateReservation implements app.ReservationStore.
func (b *Bookings) UpdateReservation(ctx context.Context, id string, growsHold bool,
	fn func(*domain.Reservation) ([]app.Outgoing, error)) (domain.Reservation, error) {
	if !validUUID(id) {
		return domain.Reservation{}, reservationNotFound(id)
	}
	var r domain.Reservation
	err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		if growsHold {
			var vehicleID string
			if err := tx.QueryRow(ctx, `SELECT vehicle_id FROM reservations WHERE id = $1`, id).Scan(&vehicleID); err != nil {
				return err
			}
			if err := lockVehicleHolds(ctx, tx, vehicleID); err != nil {
				return err
			}
		}
		var err error
		if r, err = scanReservation(tx.QueryRow(ctx, `SELECT `+reservationColumns+` FROM reservations WHERE id = $1 FOR UPDATE`, id)); err != nil {
			return err
		}
		out, err := fn(&r)
		if err != nil {
			return err
		}
		if err := saveReservation(ctx, tx, r); err != nil {
			return err
		}
		return enqueueAll(ctx, tx, out)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Reservation{}, reservationNotFound(id)
	}
	if err != nil {
		return domain.Reservation{}, fmt.Errorf("update reservation %s: %w", id, bookingConflict(err, r.VehicleID))
	}
	return r, nil
}

// HeldBefore implements app.ReservationStore.
func (b *Bookings) HeldBefore(ctx context.Context, vehicleID string, until time.Time) (bool, error) {
	var held bool
	err := b.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM reservations
		WHERE vehicle_id = $1 AND status IN ('held', 'in_trip') AND start_at < $2 AND hold_until > now())`,
		vehicleID, until).Scan(&held)
	if err != nil {
		return false, fmt.Errorf("holds of vehicle %s: %w", vehicleID, err)
	}
	return held, nil
}

// VehiclesHeld implements app.HeldInStore: the vehicles HeldBefore(until) is true of.
func (b *Bookings) VehiclesHeld(ctx context.Context, until time.Time) ([]string, error) {
	ids, err := b.ids(ctx, `SELECT DISTINCT vehicle_id FROM reservations
		WHERE status IN ('held', 'in_trip') AND start_at < $1 AND hold_until > now()`, until)
	if err != nil {
		return nil, fmt.Errorf("held vehicles: %w", err)
	}
	return ids, nil
}

// DueToExpire implements app.ReservationStore.
func (b *Bookings) DueToExpire(ctx context.Context, now time.Time, limit int) ([]string, error) {
	return b.ids(ctx, `SELECT id::text FROM reservations WHERE status = 'held' AND expires_at <= $1
		ORDER BY expires_at LIMIT $2`, now, limit)
}

// DueToMark implements app.ReservationStore.
func (b *Bookings) DueToMark(ctx context.Context, until time.Time, limit int) ([]domain.Reservation, error) {
	rows, err := b.pool.Query(ctx, `SELECT `+reservationColumns+` FROM reservations
		WHERE status = 'held' AND held_marked_at IS NULL AND start_at <= $1 ORDER BY start_at LIMIT $2`, until, limit)
	if err != nil {
		return nil, fmt.Errorf("reservations to mark: %w", err)
	}
	defer rows.Close()
	var out []domain.Reservation
	for rows.Next() {
		r, err := scanReservation(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// MarkedHeld implements app.ReservationStore.
func (b *Bookings) MarkedHeld(ctx context.Context, id string, at time.Time) error {
	if _, err := b.pool.Exec(ctx, `UPDATE reservations SET held_marked_at = $2 WHERE id = $1`, id, at); err != nil {
		return fmt.Errorf("mark reservation %s: %w", id, err)
	}
	return nil
}

func (b *Bookings) ids(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := b.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	return ids, nil
}
