package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mobilitycorp/platform/services/booking/internal/app"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
)

// bkCustomer inserts a customer directly; licence is its status or "" for none.
func bkCustomer(t *testing.T, pool *pgxpool.Pool, licence string, blocked bool) string {
	t.Helper()
	id := "cust-" + uuid.NewString()
	_, err := pool.Exec(context.Background(), `INSERT INTO customers (id, name, email, date_of_birth, country,
			preferred_language, licence_number, licence_country, licence_expiry, licence_categories, licence_status,
			licence_submitted_at, licence_reviewed_by, payment_method, blocked_at, blocked_by, block_reason, created_at, updated_at)
		VALUES ($1, 'Ada', $1 || '@example.com', '1990-01-01', 'DE', 'en',
			CASE WHEN $2 <> '' THEN 'L1' END, CASE WHEN $2 <> '' THEN 'DE' END, CASE WHEN $2 <> '' THEN DATE '2040-01-01' END,
			CASE WHEN $2 <> '' THEN ARRAY['B'] END, NULLIF($2, ''), CASE WHEN $2 <> '' THEN now() END,
			CASE WHEN $2 = 'verified' THEN 'staff-1' END, 'pm_1',
			CASE WHEN $3 THEN now() END, CASE WHEN $3 THEN 'staff-1' END, CASE WHEN $3 THEN 'fraud' END, now(), now())`,
		id, licence, blocked)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// The eligibility check inside the reservation's (and trip's) transaction:
// whatever the application checked before, a customer blocked (or whose
// licence was rejected, or payment method removed) by the time the insert
// runs gets nothing committed.
func TestBookingRechecksEligibilityInItsTransaction(t *testing.T) {
	store, pool := bkStore(t)
	ctx := context.Background()
	tests := []struct {
		name    string
		licence string
		blocked bool
		noPM    bool
		vt      domain.VehicleType
		refused bool
		// tripRefused: a walk-up scooter trip of the customer is refused too.
		tripRefused bool
	}{
		{"eligible car driver", "verified", false, false, domain.Car, false, false},
		{"blocked after the check", "verified", true, false, domain.Car, true, true},
		{"licence rejected after the check", "rejected", false, false, domain.Car, true, false},
		{"rejected licence does not matter for a scooter", "rejected", false, false, domain.EScooter, false, false},
		{"payment method removed after the check", "verified", false, true, domain.Car, true, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cust := bkCustomer(t, pool, tt.licence, tt.blocked)
			if tt.noPM {
				if _, err := pool.Exec(ctx, `UPDATE customers SET payment_method = NULL WHERE id = $1`, cust); err != nil {
					t.Fatal(err)
				}
			}
			r := bkCar(t, "v-guard-"+string(rune('a'+i)), cust, time.Hour, 2*time.Hour)
			r.VehicleType = tt.vt
			err := store.CreateReservation(ctx, r, bkEvent(t, r.ID))
			if got := errors.Is(err, domain.ErrForbidden); got != tt.refused || (err != nil && !got) {
				t.Fatalf("CreateReservation = %v, want refused=%v", err, tt.refused)
			}
			var rows, events int
			if err := pool.QueryRow(ctx, `SELECT count(*), (SELECT count(*) FROM outbox WHERE record_key = $2)
				FROM reservations WHERE id = $1`, r.ID, r.ID).Scan(&rows, &events); err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int{true: 0, false: 1}[tt.refused]; rows != want || events != want {
				t.Fatalf("%d reservations and %d events stored, want %d", rows, events, want)
			}
			// A walk-up trip start re-checks in its transaction the same way.
			hold, err := domain.DefaultBookingRules().NewWalkUpHold(uuid.NewString(), cust, "v-walk-"+string(rune('a'+i)), domain.EScooter, "berlin", bkNow)
			if err != nil {
				t.Fatal(err)
			}
			_, err = store.StartTrip(ctx, &hold, "", func(h *domain.Reservation) (domain.Trip, []app.Outgoing, error) {
				return domain.NewTrip(uuid.NewString(), *h, uuid.NewString(), bkNow, 10*time.Second, true, nil), nil, nil
			})
			if got := errors.Is(err, domain.ErrForbidden); got != tt.tripRefused || (err != nil && !got) {
				t.Fatalf("StartTrip = %v, want refused=%v", err, tt.tripRefused)
			}
		})
	}
}

// A block in progress (row locked for update, not yet committed) makes the
// reservation wait; once the block commits, the reservation is refused.
func TestReservationWaitsForConcurrentBlock(t *testing.T) {
	store, pool := bkStore(t)
	ctx := context.Background()
	cust := bkCustomer(t, pool, "verified", false)
	blockTx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer blockTx.Rollback(ctx)
	if _, err := blockTx.Exec(ctx, `UPDATE customers SET blocked_at = now(), blocked_by = 'staff-1',
		block_reason = 'fraud' WHERE id = $1`, cust); err != nil {
		t.Fatal(err)
	}
	r := bkCar(t, "v-race", cust, time.Hour, 2*time.Hour)
	done := make(chan error, 1)
	go func() { done <- store.CreateReservation(ctx, r, bkEvent(t, r.ID)) }()
	select {
	case err := <-done:
		t.Fatalf("CreateReservation returned %v while the block was in progress; want it to wait", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := blockTx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("CreateReservation after the block committed = %v, want ErrForbidden", err)
	}
	var rows int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM reservations WHERE customer_id = $1`, cust).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 0 {
		t.Fatalf("%d reservations of the blocked customer committed, want 0", rows)
	}
}
