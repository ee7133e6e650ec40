package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/postgres/pgtest"
	"github.com/mobilitycorp/platform/services/booking/internal/app"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
	"github.com/mobilitycorp/platform/services/booking/migrations"
)

var bkNow = time.Now().UTC().Truncate(time.Microsecond)

func bkStore(t *testing.T) (*Bookings, *pgxpool.Pool) {
	t.Helper()
	pool := pgtest.New(t, migrations.Set())
	return NewBookings(pool), pool
}

func bkCar(t *testing.T, vehicleID, customerID string, start, end time.Duration) domain.Reservation {
	t.Helper()
	r, err := domain.DefaultBookingRules().NewReservation(uuid.NewString(), domain.ReservationRequest{
		CustomerID: customerID, VehicleID: vehicleID, VehicleType: domain.Car, City: "berlin",
		StartAt: bkNow.Add(start), EndAt: bkNow.Add(end), PlannedDistanceKm: 30,
	}, bkNow)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func bkEvent(t *testing.T, id string) []app.Outgoing {
	t.Helper()
	e, err := events.New(events.TypeReservationCreatedV1, events.SourceBooking, id, events.ReservationCreatedV1{ReservationID: id})
	if err != nil {
		t.Fatal(err)
	}
	return []app.Outgoing{{Topic: events.TopicBookingReservations, Key: id, Event: e}}
}

// The database itself refuses overlapping active holds of one vehicle, even
// when the application is bypassed; inactive holds may overlap.
func TestExclusionConstraintRefusesOverlapInSQL(t *testing.T) {
	_, pool := bkStore(t)
	ctx := context.Background()
	insert := func(vehicle, status string, from, to time.Duration) error {
		_, err := pool.Exec(ctx, `INSERT INTO reservations (id, customer_id, vehicle_id, vehicle_type, status,
			start_at, end_at, hold_until, expires_at, created_at, updated_at)
			VALUES ($1, 'c', $2, 'car', $3, $4, $5, $5, $4, now(), now())`,
			uuid.NewString(), vehicle, status, bkNow.Add(from), bkNow.Add(to))
		return err
	}
	if err := insert("v1", "held", 0, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		vehicle  string
		status   string
		from, to time.Duration
		refused  bool
	}{
		{"overlapping held", "v1", "held", time.Hour, 3 * time.Hour, true},
		{"overlapping in trip", "v1", "in_trip", -time.Hour, time.Minute, true},
		{"adjacent (half-open ranges)", "v1", "held", 2 * time.Hour, 3 * time.Hour, false},
		{"another vehicle", "v2", "held", 0, 2 * time.Hour, false},
		{"overlapping but cancelled", "v1", "cancelled", 0, 2 * time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := insert(tt.vehicle, tt.status, tt.from, tt.to)
			var pgErr *pgconn.PgError
			refused := errors.As(err, &pgErr) && pgErr.Code == pgExclusionViolation
			if refused != tt.refused || (err != nil && !refused) {
				t.Fatalf("insert = %v, want refused=%v", err, tt.refused)
			}
		})
	}
	// Reactivating a cancelled overlapping hold is refused as well.
	_, err := pool.Exec(ctx, `UPDATE reservations SET status = 'held' WHERE status = 'cancelled'`)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != pgExclusionViolation {
		t.Fatalf("reactivation = %v, want exclusion violation", err)
	}
}

// 50 concurrent overlapping reservations of one vehicle: exactly one is
// stored, the others are conflicts (never deadlocks or other errors).
func TestConcurrentOverlappingReservations(t *testing.T) {
	store, pool := bkStore(t)
	ctx := context.Background()
	const n = 50
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			r := bkCar(t, "v-contended", fmt.Sprintf("c%d", i), time.Duration(i)*time.Minute, 2*time.Hour+time.Duration(i)*time.Minute)
			errs[i] = store.CreateReservation(ctx, r, bkEvent(t, r.ID))
		})
	}
	wg.Wait()
	created, conflicts := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			created++
		case errors.Is(err, domain.ErrConflict):
			conflicts++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if created != 1 || conflicts != n-1 {
		t.Fatalf("created %d, conflicts %d; want 1 and %d", created, conflicts, n-1)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s: conflicts should not wait for deadlock detection", d)
	}
	var rows, events int
	if err := pool.QueryRow(ctx, `SELECT count(*), (SELECT count(*) FROM outbox) FROM reservations`).Scan(&rows, &events); err != nil {
		t.Fatal(err)
	}
	if rows != 1 || events != 1 {
		t.Fatalf("%d reservations and %d outbox rows, want 1 and 1 (refused bookings publish nothing)", rows, events)
	}
}

func TestReservationRoundTripAndListing(t *testing.T) {
	store, _ := bkStore(t)
	ctx := context.Background()
	var made []domain.Reservation
	for i := range 3 {
		r := bkCar(t, fmt.Sprintf("v%d", i), "c1", time.Hour, 3*time.Hour)
		r.CreatedAt = bkNow.Add(time.Duration(i) * time.Second)
		if err := store.CreateReservation(ctx, r, nil); err != nil {
			t.Fatal(err)
		}
		made = append(made, r)
	}
	got, err := store.Reservation(ctx, made[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.VehicleID != "v0" || !got.EndAt.Equal(made[0].EndAt) || got.PlannedDistanceKm != 30 || got.Status != domain.ReservationHeld {
		t.Fatalf("round trip: %+v", got)
	}
	if _, err := store.Reservation(ctx, "not-a-uuid"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("malformed id = %v, want not found", err)
	}
	page, err := store.CustomerReservations(ctx, "c1", nil, 2)
	if err != nil || len(page) != 2 || page[0].ID != made[2].ID {
		t.Fatalf("first page = %v, %v", page, err)
	}
	last := page[1]
	rest, err := store.CustomerReservations(ctx, "c1", &app.ReservationPageKey{CreatedAt: last.CreatedAt, ID: last.ID}, 2)
	if err != nil || len(rest) != 1 || rest[0].ID != made[0].ID {
		t.Fatalf("second page = %v, %v", rest, err)
	}
}

// Extending into another booking is refused by the constraint; cancelling
// frees the range for others.
func TestUpdateReservationExtendAndCancel(t *testing.T) {
	store, _ := bkStore(t)
	ctx := context.Background()
	rules := domain.DefaultBookingRules()
	first := bkCar(t, "v1", "c1", time.Hour, 2*time.Hour)
	second := bkCar(t, "v1", "c2", 3*time.Hour, 4*time.Hour)
	for _, r := range []domain.Reservation{first, second} {
		if err := store.CreateReservation(ctx, r, nil); err != nil {
			t.Fatal(err)
		}
	}
	extend := func(to time.Duration) error {
		_, err := store.UpdateReservation(ctx, first.ID, true, func(r *domain.Reservation) ([]app.Outgoing, error) {
			return nil, rules.Extend(r, bkNow.Add(to), bkNow)
		})
		return err
	}
	if err := extend(3*time.Hour + time.Minute); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("extension into the next booking = %v, want conflict", err)
	}
	if err := extend(3 * time.Hour); err != nil {
		t.Fatalf("extension up to the next booking = %v", err)
	}
	if _, err := store.UpdateReservation(ctx, second.ID, false, func(r *domain.Reservation) ([]app.Outgoing, error) {
		return nil, r.Cancel(bkNow, domain.CancelledByCustomer, "plans changed", &domain.Money{AmountMinor: 300, Currency: "EUR"})
	}); err != nil {
		t.Fatal(err)
	}
	got, err := store.Reservation(ctx, second.ID)
	if err != nil || got.Status != domain.ReservationCancelled || got.CancelFee == nil || got.CancelFee.AmountMinor != 300 {
		t.Fatalf("cancelled = %+v, %v", got, err)
	}
	if err := extend(5 * time.Hour); err != nil {
		t.Fatalf("extension over a cancelled booking = %v", err)
	}
}

func bkStartWalkUp(t *testing.T, store *Bookings, customerID, vehicleID string, concurrent bool) (domain.Trip, error) {
	t.Helper()
	hold, err := domain.DefaultBookingRules().NewWalkUpHold(uuid.NewString(), customerID, vehicleID, domain.EScooter, "berlin", bkNow)
	if err != nil {
		t.Fatal(err)
	}
	return store.StartTrip(context.Background(), &hold, "", func(h *domain.Reservation) (domain.Trip, []app.Outgoing, error) {
		return domain.NewTrip(uuid.NewString(), *h, uuid.NewString(), bkNow, 10*time.Second, concurrent, nil), nil, nil
	})
}

// One active trip per customer (the partial unique index), unless staff
// allowed another; one trip per vehicle at a time (the exclusion constraint).
func TestOneActiveTripPerCustomer(t *testing.T) {
	store, _ := bkStore(t)
	first, err := bkStartWalkUp(t, store, "c1", "s1", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bkStartWalkUp(t, store, "c1", "s2", false); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("second trip = %v, want conflict", err)
	}
	if _, err := bkStartWalkUp(t, store, "c1", "s3", true); err != nil {
		t.Fatalf("staff-allowed second trip = %v", err)
	}
	if _, err := bkStartWalkUp(t, store, "c2", "s1", false); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("trip on a vehicle in use = %v, want conflict", err)
	}
	// Once the first trip failed, the customer and the vehicle are free again.
	if _, err := store.UpdateTrip(context.Background(), first.ID, false, func(tr *domain.Trip, h *domain.Reservation) (app.TripChange, error) {
		if err := tr.Fail("timeout", bkNow); err != nil {
			return app.TripChange{}, err
		}
		h.TripFailed(bkNow)
		return app.TripChange{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := bkStartWalkUp(t, store, "c1", "s1", false); err != nil {
		t.Fatalf("trip after the failed one = %v", err)
	}
}

func TestTripRoundTripCommandsAndCaptures(t *testing.T) {
	store, _ := bkStore(t)
	ctx := context.Background()
	trip, err := bkStartWalkUp(t, store, "c1", "s1", false)
	if err != nil {
		t.Fatal(err)
	}
	id, err := store.TripByCommand(ctx, trip.UnlockCommandID)
	if err != nil || id != trip.ID {
		t.Fatalf("trip of unlock = %q, %v", id, err)
	}
	if _, err := store.TripByCommand(ctx, "op-command-7"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("foreign command = %v, want not found", err)
	}
	check := domain.CheckReturn(domain.EScooter, domain.ReturnPlace{BayID: "b1", EndingAllowed: true}, true, false, 1)
	updated, err := store.UpdateTrip(ctx, trip.ID, false, func(tr *domain.Trip, h *domain.Reservation) (app.TripChange, error) {
		if err := tr.Activate(bkNow, bkNow, &domain.Point{Lat: 52.5, Lon: 13.4}); err != nil {
			return app.TripChange{}, err
		}
		if err := tr.End(bkNow.Add(10*time.Minute), domain.EndByCustomer, &domain.Point{Lat: 52.51, Lon: 13.41}, &check,
			domain.Money{AmountMinor: 350, Currency: "EUR"}, uuid.NewString()); err != nil {
			return app.TripChange{}, err
		}
		h.Complete(tr.EndedAt)
		return app.TripChange{Adjustments: []app.Adjustment{{ID: uuid.NewString(), TripID: tr.ID, Kind: app.AdjustmentReward,
			Reason: "under_served_bay", Amount: domain.Money{AmountMinor: 100, Currency: "EUR"}, IssuedAt: bkNow}}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := store.Trip(ctx, trip.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != domain.TripEnded || got.Price.AmountMinor != 350 || got.Return == nil || got.Return.BayID != "b1" ||
		got.StartPosition == nil || got.EndPosition.Lat != 52.51 || got.LockCommandID != updated.LockCommandID {
		t.Fatalf("stored trip %+v", got)
	}
	if id, err := store.TripByCommand(ctx, got.LockCommandID); err != nil || id != trip.ID {
		t.Fatalf("trip of lock = %q, %v", id, err)
	}
	adj, err := store.Adjustments(ctx, trip.ID)
	if err != nil || len(adj) != 1 || adj[0].Amount.AmountMinor != 100 {
		t.Fatalf("adjustments = %v, %v", adj, err)
	}
	// A redelivered capture counts once.
	for range 2 {
		if err := store.RecordCapture(ctx, "evt-1", trip.ID, 350, bkNow); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ = store.Trip(ctx, trip.ID); got.CapturedMinor != 350 || got.SettledAt.IsZero() {
		t.Fatalf("captured %d settled %s", got.CapturedMinor, got.SettledAt)
	}
}

func TestPhotosAreStoredOncePerContent(t *testing.T) {
	store, _ := bkStore(t)
	ctx := context.Background()
	trip, err := bkStartWalkUp(t, store, "c1", "s1", false)
	if err != nil {
		t.Fatal(err)
	}
	p := app.Photo{TripID: trip.ID, SHA256: "abc", Key: "trips/" + trip.ID + "/abc.jpg", ContentType: "image/jpeg", SizeBytes: 10, UploadedAt: bkNow}
	none := func(domain.Trip) ([]app.Outgoing, error) { return nil, nil }
	if _, added, err := store.AddPhoto(ctx, p, none); err != nil || !added {
		t.Fatalf("first upload added=%v err=%v", added, err)
	}
	again := p
	again.UploadedAt = bkNow.Add(time.Minute)
	stored, added, err := store.AddPhoto(ctx, again, none)
	if err != nil || added || !stored.UploadedAt.Equal(bkNow) {
		t.Fatalf("re-upload added=%v stored=%+v err=%v", added, stored, err)
	}
	keys, err := store.PhotoKeys(ctx, trip.ID)
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys = %v, %v", keys, err)
	}
	if got, _ := store.Trip(ctx, trip.ID); got.Photos != 1 {
		t.Fatalf("photo count %d", got.Photos)
	}
}
