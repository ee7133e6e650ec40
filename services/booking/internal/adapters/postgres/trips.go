package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mobilitycorp/platform/pkg/inbox"
	"github.com/mobilitycorp/platform/services/booking/internal/app"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
)

// consumerPaymentCaptured names the inbox claims of captured payments.
const consumerPaymentCaptured = "booking.payment-captured"

// tripColumns reads a trip with its hold's booked end and its photo count (t: trips, r: reservations).
const tripColumns = `t.id::text, t.reservation_id::text, t.walk_up, t.customer_id, t.vehicle_id, t.vehicle_type, t.city,
	t.state, t.concurrent_allowed, t.requested_at, t.unlock_command_id::text, t.unlock_expires_at, t.started_at, r.end_at,
	t.ended_at, t.fail_reason, t.end_reason, t.start_lat, t.start_lon, t.end_lat, t.end_lon, t.return_check,
	t.price_minor, t.price_currency, t.lock_command_id::text, t.lock_outcome, t.overdue_at, t.settled_at, t.captured_minor, t.price_terms,
	(SELECT count(*) FROM trip_photos p WHERE p.trip_id = t.id)`

const tripFrom = ` FROM trips t JOIN reservations r ON r.id = t.reservation_id`

// returnCheckJSON is the stored form of a return check.
type returnCheckJSON struct {
	InBay         bool     `json:"in_bay"`
	BayID         string   `json:"bay_id,omitempty"`
	EndingAllowed bool     `json:"ending_allowed"`
	PluggedIn     *bool    `json:"plugged_in,omitempty"`
	Photos        int      `json:"photos"`
	WrongLocation bool     `json:"wrong_location"`
	Reward        bool     `json:"reward"`
	Accepted      bool     `json:"accepted"`
	Problems      []string `json:"problems,omitempty"`
}

func scanTrip(row pgx.Row) (domain.Trip, error) {
	var (
		t                                domain.Trip
		started, ended, overdue, settled *time.Time
		failWhy, endWhy, priceCur        *string
		lockCmd, lockOutcome             *string
		sLat, sLon, eLat, eLon           *float64
		check, terms                     []byte
		priceMinor                       *int64
		photos                           int64
	)
	err := row.Scan(&t.ID, &t.ReservationID, &t.WalkUp, &t.CustomerID, &t.VehicleID, &t.VehicleType, &t.City,
		&t.State, &t.ConcurrentAllowed, &t.RequestedAt, &t.UnlockCommandID, &t.UnlockExpiresAt, &started, &t.BookedEndAt,
		&ended, &failWhy, &endWhy, &sLat, &sLon, &eLat, &eLon, &check,
		&priceMinor, &priceCur, &lockCmd, &lockOutcome, &overdue, &settled, &t.CapturedMinor, &terms, &photos)
	if err != nil {
		return domain.Trip{}, err
	}
	t.RequestedAt, t.UnlockExpiresAt, t.BookedEndAt = t.RequestedAt.UTC(), t.UnlockExpiresAt.UTC(), t.BookedEndAt.UTC()
	t.StartedAt, t.EndedAt, t.OverdueAt, t.SettledAt = utcOrZero(started), utcOrZero(ended), utcOrZero(overdue), utcOrZero(settled)
	t.FailReason, t.EndReason = stringOrEmpty(failWhy), stringOrEmpty(endWhy)
	t.LockCommandID, t.LockOutcome = stringOrEmpty(lockCmd), stringOrEmpty(lockOutcome)
	t.Photos = int(photos)
	if sLat != nil && sLon != nil {
		t.StartPosition = &domain.Point{Lat: *sLat, Lon: *sLon}
	}
	if eLat != nil && eLon != nil {
		t.EndPosition = &domain.Point{Lat: *eLat, Lon: *eLon}
	}
	if priceMinor != nil && priceCur != nil {
		t.Price = &domain.Money{AmountMinor: *priceMinor, Currency: *priceCur}
	}
	if len(terms) > 0 {
		t.Terms = new(domain.PriceTerms)
		if err := json.Unmarshal(terms, t.Terms); err != nil {
			return domain.Trip{}, fmt.Errorf("trip %s price terms: %w", t.ID, err)
		}
	}
	if len(check) > 0 {
		var c returnCheckJSON
		if err := json.Unmarshal(check, &c); err != nil {
			return domain.Trip{}, fmt.Errorf("trip %s return check: %w", t.ID, err)
		}
		t.Return = &domain.ReturnCheck{InBay: c.InBay, BayID: c.BayID, EndingAllowed: c.EndingAllowed, PluggedIn: c.PluggedIn,
			Photos: c.Photos, WrongLocation: c.WrongLocation, Reward: c.Reward, Accepted: c.Accepted, Problems: c.Problems}
	}
	return t, nil
}

func positionArgs(p *domain.Point) (*float64, *float64) {
	if p == nil {
		return nil, nil
	}
	return &p.Lat, &p.Lon
}

func tripArgs(t domain.Trip) ([]any, error) {
	var check []byte
	if c := t.Return; c != nil {
		var err error
		if check, err = json.Marshal(returnCheckJSON{InBay: c.InBay, BayID: c.BayID, EndingAllowed: c.EndingAllowed,
			PluggedIn: c.PluggedIn, Photos: c.Photos, WrongLocation: c.WrongLocation, Reward: c.Reward,
			Accepted: c.Accepted, Problems: c.Problems}); err != nil {
			return nil, err
		}
	}
	var priceMinor *int64
	var priceCur *string
	if t.Price != nil {
		priceMinor, priceCur = &t.Price.AmountMinor, &t.Price.Currency
	}
	sLat, sLon := positionArgs(t.StartPosition)
	eLat, eLon := positionArgs(t.EndPosition)
	return []any{t.ID, t.ReservationID, t.WalkUp, t.CustomerID, t.VehicleID, string(t.VehicleType), t.City,
		string(t.State), t.ConcurrentAllowed, t.RequestedAt, t.UnlockCommandID, t.UnlockExpiresAt, timeOrNull(t.StartedAt),
		timeOrNull(t.EndedAt), stringOrNull(t.FailReason), stringOrNull(t.EndReason), sLat, sLon, eLat, eLon, check,
		priceMinor, priceCur, stringOrNull(t.LockCommandID), stringOrNull(t.LockOutcome), timeOrNull(t.OverdueAt),
		timeOrNull(t.SettledAt), t.CapturedMinor}, nil
}

func insertTrip(ctx context.Context, tx pgx.Tx, t domain.Trip) error {
	args, err := tripArgs(t)
	if err != nil {
		return err
	}
	var terms []byte
	if t.Terms != nil {
		if terms, err = json.Marshal(t.Terms); err != nil {
			return err
		}
	}
	_, err = tx.Exec(ctx, `INSERT INTO trips (id, reservation_id, walk_up, customer_id, vehicle_id, vehicle_type, city,
			state, concurrent_allowed, requested_at, unlock_command_id, unlock_expires_at, started_at,
			ended_at, fail_reason, end_reason, start_lat, start_lon, end_lat, end_lon, return_check,
			price_minor, price_currency, lock_command_id, lock_outcome, overdue_at, settled_at, captured_minor, price_terms, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
			$22, $23, $24, $25, $26, $27, $28, $29, now())`, append(args, terms)...)
	return err
}

func saveTrip(ctx context.Context, tx pgx.Tx, t domain.Trip) error {
	args, err := tripArgs(t)
	if err != nil {
		return err
	}
	// Only the mutable columns: args[12:] from started_at on, and the state.
	_, err = tx.Exec(ctx, `UPDATE trips SET state = $2, started_at = $3, ended_at = $4, fail_reason = $5,
			end_reason = $6, start_lat = $7, start_lon = $8, end_lat = $9, end_lon = $10, return_check = $11,
			price_minor = $12, price_currency = $13, lock_command_id = $14, lock_outcome = $15, overdue_at = $16,
			settled_at = $17, captured_minor = $18, updated_at = now()
		WHERE id = $1`, append([]any{t.ID, string(t.State)}, args[12:]...)...)
	return err
}

func tripNotFound(id string) error { return fmt.Errorf("trip %s: %w", id, domain.ErrNotFound) }

// StartTrip implements app.TripStore.
func (b *Bookings) StartTrip(ctx context.Context, walkUp *domain.Reservation, reservationID string,
	begin func(hold *domain.Reservation) (domain.Trip, []app.Outgoing, error)) (domain.Trip, error) {
	if walkUp == nil && !validUUID(reservationID) {
		return domain.Trip{}, reservationNotFound(reservationID)
	}
	var (
		trip      domain.Trip
		vehicleID string
	)
	err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		var hold domain.Reservation
		if walkUp != nil {
			hold, vehicleID = *walkUp, walkUp.VehicleID // insertReservation takes the lock
		} else {
			if err := tx.QueryRow(ctx, `SELECT vehicle_id FROM reservations WHERE id = $1`, reservationID).Scan(&vehicleID); err != nil {
				return err
			}
			if err := lockVehicleHolds(ctx, tx, vehicleID); err != nil {
				return err
			}
			var err error
			if hold, err = scanReservation(tx.QueryRow(ctx, `SELECT `+reservationColumns+` FROM reservations WHERE id = $1 FOR UPDATE`, reservationID)); err != nil {
				return err
			}
		}
		t, out, err := begin(&hold)
		if err != nil {
			return err
		}
		// Re-check eligibility holding the customer row until commit: a block
		// committed before is seen, one committed after waits for the trip.
		if _, err := tx.Exec(ctx, lockEligibleSQL, t.CustomerID, t.VehicleType.NeedsLicence()); err != nil {
			return err
		}
		if walkUp != nil {
			err = insertReservation(ctx, tx, hold)
		} else {
			err = saveReservation(ctx, tx, hold)
		}
		if err != nil {
			return err
		}
		if err := insertTrip(ctx, tx, t); err != nil {
			return err
		}
		t.BookedEndAt = hold.EndAt
		trip = t
		return enqueueAll(ctx, tx, out)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Trip{}, reservationNotFound(reservationID)
	}
	if err != nil {
		return domain.Trip{}, fmt.Errorf("start trip: %w", bookingConflict(err, vehicleID))
	}
	return trip, nil
}

// Trip implements app.TripStore.
func (b *Bookings) Trip(ctx context.Context, id string) (domain.Trip, error) {
	if !validUUID(id) {
		return domain.Trip{}, tripNotFound(id)
	}
	t, err := scanTrip(b.pool.QueryRow(ctx, `SELECT `+tripColumns+tripFrom+` WHERE t.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Trip{}, tripNotFound(id)
	}
	if err != nil {
		return domain.Trip{}, fmt.Errorf("trip %s: %w", id, err)
	}
	return t, nil
}

// UpdateTrip implements app.TripStore. The trip row is locked before its
// hold, the order every writer of both follows.
func (b *Bookings) UpdateTrip(ctx context.Context, id string, growsHold bool,
	fn func(t *domain.Trip, hold *domain.Reservation) (app.TripChange, error)) (domain.Trip, error) {
	if !validUUID(id) {
		return domain.Trip{}, tripNotFound(id)
	}
	var t domain.Trip
	err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		if growsHold {
			var vehicleID string
			if err := tx.QueryRow(ctx, `SELECT vehicle_id FROM trips WHERE id = $1`, id).Scan(&vehicleID); err != nil {
				return err
			}
			if err := lockVehicleHolds(ctx, tx, vehicleID); err != nil {
				return err
			}
		}
		var err error
		if t, err = scanTrip(tx.QueryRow(ctx, `SELECT `+tripColumns+tripFrom+` WHERE t.id = $1 FOR UPDATE OF t`, id)); err != nil {
			return err
		}
		hold, err := scanReservation(tx.QueryRow(ctx, `SELECT `+reservationColumns+` FROM reservations WHERE id = $1 FOR UPDATE`, t.ReservationID))
		if err != nil {
			return err
		}
		ch, err := fn(&t, &hold)
		if err != nil {
			return err
		}
		if err := saveTrip(ctx, tx, t); err != nil {
			return err
		}
		if err := saveReservation(ctx, tx, hold); err != nil {
			return err
		}
		t.BookedEndAt = hold.EndAt
		for _, a := range ch.Adjustments {
			if _, err := tx.Exec(ctx, `INSERT INTO trip_adjustments (id, trip_id, kind, reason, amount_minor, currency, issued_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (trip_id, kind, reason) DO NOTHING`,
				a.ID, a.TripID, a.Kind, a.Reason, a.Amount.AmountMinor, a.Amount.Currency, a.IssuedAt); err != nil {
				return err
			}
		}
		return enqueueAll(ctx, tx, ch.Out)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Trip{}, tripNotFound(id)
	}
	if err != nil {
		return domain.Trip{}, fmt.Errorf("update trip %s: %w", id, bookingConflict(err, t.VehicleID))
	}
	return t, nil
}

// TripByCommand implements app.TripStore.
func (b *Bookings) TripByCommand(ctx context.Context, commandID string) (string, error) {
	notFound := fmt.Errorf("command %s: %w", commandID, domain.ErrNotFound)
	if !validUUID(commandID) {
		return "", notFound
	}
	var id string
	err := b.pool.QueryRow(ctx, `SELECT id::text FROM trips WHERE unlock_command_id = $1
		UNION ALL SELECT id::text FROM trips WHERE lock_command_id = $1 LIMIT 1`, commandID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", notFound
	}
	if err != nil {
		return "", fmt.Errorf("trip of command %s: %w", commandID, err)
	}
	return id, nil
}

// Adjustments implements app.TripStore.
func (b *Bookings) Adjustments(ctx context.Context, tripID string) ([]app.Adjustment, error) {
	rows, err := b.pool.Query(ctx, `SELECT id::text, trip_id::text, kind, reason, amount_minor, currency, issued_at
		FROM trip_adjustments WHERE trip_id = $1 ORDER BY issued_at, id`, tripID)
	if err != nil {
		return nil, fmt.Errorf("adjustments of trip %s: %w", tripID, err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (app.Adjustment, error) {
		var a app.Adjustment
		err := row.Scan(&a.ID, &a.TripID, &a.Kind, &a.Reason, &a.Amount.AmountMinor, &a.Amount.Currency, &a.IssuedAt)
		a.IssuedAt = a.IssuedAt.UTC()
		return a, err
	})
}

// PhotoKeys implements app.TripStore.
func (b *Bookings) PhotoKeys(ctx context.Context, tripID string) ([]string, error) {
	keys, err := b.ids(ctx, `SELECT object_key FROM trip_photos WHERE trip_id = $1 ORDER BY uploaded_at, sha256`, tripID)
	if err != nil {
		return nil, fmt.Errorf("photos of trip %s: %w", tripID, err)
	}
	return keys, nil
}

// AddPhoto implements app.TripStore.
func (b *Bookings) AddPhoto(ctx context.Context, p app.Photo, out func(t domain.Trip) ([]app.Outgoing, error)) (app.Photo, bool, error) {
	var added bool
	stored := p
	err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		t, err := scanTrip(tx.QueryRow(ctx, `SELECT `+tripColumns+tripFrom+` WHERE t.id = $1 FOR UPDATE OF t`, p.TripID))
		if err != nil {
			return err
		}
		evs, err := out(t)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO trip_photos (trip_id, sha256, object_key, content_type, size_bytes, uploaded_at)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (trip_id, sha256) DO NOTHING`,
			p.TripID, p.SHA256, p.Key, p.ContentType, p.SizeBytes, p.UploadedAt)
		if err != nil {
			return err
		}
		if added = tag.RowsAffected() == 1; !added {
			err := tx.QueryRow(ctx, `SELECT object_key, content_type, size_bytes, uploaded_at FROM trip_photos
				WHERE trip_id = $1 AND sha256 = $2`, p.TripID, p.SHA256).Scan(&stored.Key, &stored.ContentType, &stored.SizeBytes, &stored.UploadedAt)
			stored.UploadedAt = stored.UploadedAt.UTC()
			return err
		}
		return enqueueAll(ctx, tx, evs)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return app.Photo{}, false, tripNotFound(p.TripID)
	}
	if err != nil {
		return app.Photo{}, false, fmt.Errorf("add photo to trip %s: %w", p.TripID, err)
	}
	return stored, added, nil
}

// AddFeedback implements app.TripStore.
func (b *Bookings) AddFeedback(ctx context.Context, f app.Feedback) error {
	var rating *int
	if f.Rating > 0 {
		rating = &f.Rating
	}
	_, err := b.pool.Exec(ctx, `INSERT INTO trip_feedback (trip_id, customer_id, rating, comment, fault_category, fault_description, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		f.TripID, f.CustomerID, rating, f.Comment, stringOrNull(f.FaultCategory), stringOrNull(f.FaultDescription), f.CreatedAt)
	if err != nil {
		return fmt.Errorf("feedback of trip %s: %w", f.TripID, bookingConflict(err, ""))
	}
	return nil
}

// FaultReported implements app.TripStore.
func (b *Bookings) FaultReported(ctx context.Context, tripID string, at time.Time) error {
	if _, err := b.pool.Exec(ctx, `UPDATE trip_feedback SET fault_reported_at = $2 WHERE trip_id = $1`, tripID, at); err != nil {
		return fmt.Errorf("fault of trip %s reported: %w", tripID, err)
	}
	return nil
}

// PendingFaults implements app.TripStore.
func (b *Bookings) PendingFaults(ctx context.Context, limit int) ([]app.Feedback, error) {
	rows, err := b.pool.Query(ctx, `SELECT f.trip_id::text, f.customer_id, t.vehicle_id, coalesce(f.rating, 0), f.comment,
			f.fault_category, coalesce(f.fault_description, ''), f.created_at
		FROM trip_feedback f JOIN trips t ON t.id = f.trip_id
		WHERE f.fault_category IS NOT NULL AND f.fault_reported_at IS NULL ORDER BY f.created_at LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("pending faults: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (app.Feedback, error) {
		var f app.Feedback
		err := row.Scan(&f.TripID, &f.CustomerID, &f.VehicleID, &f.Rating, &f.Comment, &f.FaultCategory, &f.FaultDescription, &f.CreatedAt)
		return f, err
	})
}

// RecordCapture implements app.TripStore.
func (b *Bookings) RecordCapture(ctx context.Context, eventID, tripID string, amountMinor int64, at time.Time) error {
	if !validUUID(tripID) {
		return nil
	}
	err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		first, err := inbox.Claim(ctx, tx, consumerPaymentCaptured, eventID)
		if err != nil || !first {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE trips SET captured_minor = captured_minor + $2,
			settled_at = coalesce(settled_at, $3), updated_at = now() WHERE id = $1`, tripID, amountMinor, at)
		return err
	})
	if err != nil {
		return fmt.Errorf("capture of trip %s: %w", tripID, err)
	}
	return nil
}

// DueUnlockTimeouts implements app.TripStore.
func (b *Bookings) DueUnlockTimeouts(ctx context.Context, now time.Time, limit int) ([]string, error) {
	return b.ids(ctx, `SELECT id::text FROM trips WHERE state = 'unlocking' AND unlock_expires_at <= $1
		ORDER BY unlock_expires_at LIMIT $2`, now, limit)
}

// DueOverdue implements app.TripStore.
func (b *Bookings) DueOverdue(ctx context.Context, now time.Time, limit int) ([]string, error) {
	return b.ids(ctx, `SELECT t.id::text FROM trips t JOIN reservations r ON r.id = t.reservation_id
		WHERE t.state = 'active' AND t.overdue_at IS NULL AND r.end_at < $1 ORDER BY r.end_at LIMIT $2`, now, limit)
}
