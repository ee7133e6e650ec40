package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/postgres/pgtest"
	"github.com/mobilitycorp/platform/services/booking/internal/adapters/photos"
	pgstore "github.com/mobilitycorp/platform/services/booking/internal/adapters/postgres"
	"github.com/mobilitycorp/platform/services/booking/internal/app"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
	"github.com/mobilitycorp/platform/services/booking/migrations"
)

// bookingWorld stands in for the other booking areas (customers, fleet,
// availability, pricing) behind the interfaces reservations and trips
// declare; the store is the real PostgreSQL one. The component tests in
// cmd/booking run the same flows with the real areas.
type bookingWorld struct {
	mu         sync.Mutex
	ineligible map[string]error
	vehicles   map[string]app.BookableVehicle
	states     map[string]app.VehicleState
	place      domain.ReturnPlace
	operating  bool
	held       map[string]bool
	faults     []string
	faultErr   error
}

func (w *bookingWorld) CheckEligible(_ context.Context, id string, _ domain.VehicleType, _ time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ineligible[id]
}

func (w *bookingWorld) BookableVehicle(_ context.Context, id string) (app.BookableVehicle, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	v, ok := w.vehicles[id]
	if !ok {
		return app.BookableVehicle{}, fmt.Errorf("vehicle %s: %w", id, domain.ErrNotFound)
	}
	return v, nil
}

func (w *bookingWorld) ReturnPlace(context.Context, domain.VehicleType, domain.Point) (domain.ReturnPlace, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.place, nil
}

func (w *bookingWorld) InOperatingArea(context.Context, domain.Point) (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.operating, nil
}

func (w *bookingWorld) ReportFault(_ context.Context, vehicleID, _, category, _ string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.faultErr != nil {
		return w.faultErr
	}
	w.faults = append(w.faults, vehicleID+":"+category)
	return nil
}

func (w *bookingWorld) VehicleState(_ context.Context, id string) (app.VehicleState, bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s, ok := w.states[id]
	return s, ok, nil
}

func (w *bookingWorld) MarkHeld(_ context.Context, id string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.held[id] = true
	return nil
}

func (w *bookingWorld) MarkFree(_ context.Context, id string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.held[id] = false
	return nil
}

func (w *bookingWorld) isHeld(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.held[id]
}

func eurMoney(minor int64) domain.Money { return domain.Money{AmountMinor: minor, Currency: "EUR"} }

// TripTerms: 1.00 unlock + 0.25 per started minute.
func (w *bookingWorld) TripTerms(_ context.Context, city string, vt domain.VehicleType, zoneID string) (domain.PriceTerms, error) {
	return domain.PriceTerms{City: city, VehicleType: vt, ZoneID: zoneID, UnlockFee: eurMoney(100),
		BasePerMinute: eurMoney(25), Multiplier: domain.Multiplier(100), PerMinute: eurMoney(25)}, nil
}

func (w *bookingWorld) Fine(_ context.Context, _ string, _ domain.VehicleType, reason string) (domain.Money, error) {
	if reason == events.FineLateReturn {
		return eurMoney(5000), nil
	}
	return eurMoney(2500), nil
}

func (w *bookingWorld) ReturnReward(context.Context, string, domain.VehicleType) (domain.Money, error) {
	return eurMoney(200), nil
}

func (w *bookingWorld) CancellationFee(context.Context, string, domain.VehicleType) (domain.Money, error) {
	return eurMoney(300), nil
}

type bookingFixture struct {
	world        *bookingWorld
	pool         *pgxpool.Pool
	reservations *app.Reservations
	trips        *app.Trips
	clock        *testClock
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var (
	customer = app.Caller{Subject: "c1"}
	staff    = app.Caller{Subject: "staff-1", Staff: true}
	berlin   = domain.Point{Lat: 52.52, Lon: 13.40}
)

func newBookingFixture(t *testing.T) *bookingFixture {
	t.Helper()
	pool := pgtest.New(t, migrations.Set())
	store := pgstore.NewBookings(pool)
	w := &bookingWorld{
		ineligible: map[string]error{}, held: map[string]bool{}, operating: true,
		place: domain.ReturnPlace{BayID: "bay-1", EndingAllowed: true},
		vehicles: map[string]app.BookableVehicle{
			"scooter-1": {ID: "scooter-1", Type: domain.EScooter, City: "berlin", InService: true},
			"scooter-2": {ID: "scooter-2", Type: domain.EScooter, City: "berlin", InService: true},
			"car-1":     {ID: "car-1", Type: domain.Car, City: "berlin", InService: true},
			"van-9":     {ID: "van-9", Type: domain.Van, City: "berlin", InService: false},
		},
		states: map[string]app.VehicleState{
			"scooter-1": {Position: berlin, BatteryPct: 80, Online: true},
			"scooter-2": {Position: berlin, BatteryPct: 80, Online: true},
			"car-1":     {Position: berlin, RangeKm: 120, Online: true, PluggedIn: true},
			"van-9":     {Position: berlin, RangeKm: 300, Online: true},
		},
	}
	clock := &testClock{t: time.Now().UTC().Truncate(time.Microsecond)}
	deps := app.BookingDeps{Customers: w, Vehicles: w, Places: w, States: w, Holds: w, Pricing: w, Faults: w}
	opts := app.BookingOptions{Now: clock.Now, UnlockTimeout: 10 * time.Second}
	res, err := app.NewReservations(store, deps, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := photos.NewLocalDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	trips, err := app.NewTrips(store, store, dir, deps, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	return &bookingFixture{world: w, pool: pool, reservations: res, trips: trips, clock: clock}
}

// outboxEvents returns the data of the outbox events of type typ, in order.
func (f *bookingFixture) outboxEvents(t *testing.T, typ string) []json.RawMessage {
	t.Helper()
	rows, err := f.pool.Query(context.Background(), `SELECT payload FROM outbox WHERE headers->>'ce_type' = $1 ORDER BY id`, typ)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []json.RawMessage
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func decodeOne[T any](t *testing.T, raws []json.RawMessage) T {
	t.Helper()
	var v T
	if len(raws) != 1 {
		t.Fatalf("%d events, want 1", len(raws))
	}
	if err := json.Unmarshal(raws[0], &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCreateReservationRules(t *testing.T) {
	f := newBookingFixture(t)
	ctx := context.Background()
	f.world.ineligible["blocked"] = fmt.Errorf("%w: customer is blocked", domain.ErrForbidden)
	f.world.states["scooter-2"] = app.VehicleState{Position: berlin, Online: false}
	now := f.clock.Now()
	carReq := func(km float64) app.CreateReservation {
		return app.CreateReservation{VehicleID: "car-1", StartAt: now.Add(time.Hour), EndAt: now.Add(3 * time.Hour), PlannedDistanceKm: km}
	}
	tests := []struct {
		name    string
		caller  app.Caller
		cmd     app.CreateReservation
		wantErr error
	}{
		{"blocked customer", app.Caller{Subject: "blocked"}, app.CreateReservation{VehicleID: "scooter-1"}, domain.ErrForbidden},
		{"booking for someone else", customer, app.CreateReservation{VehicleID: "scooter-1", CustomerID: "c2"}, domain.ErrForbidden},
		{"vehicle in maintenance", customer, app.CreateReservation{VehicleID: "van-9", EndAt: now.Add(time.Hour), PlannedDistanceKm: 5}, domain.ErrConflict},
		{"unknown vehicle", customer, app.CreateReservation{VehicleID: "nope"}, domain.ErrNotFound},
		{"offline scooter", customer, app.CreateReservation{VehicleID: "scooter-2"}, domain.ErrConflict},
		{"car short of range (100 km needs 120 km)", customer, carReq(101), domain.ErrPrecondition},
		{"range override is staff only", customer, func() app.CreateReservation { c := carReq(101); c.RangeOverride = true; return c }(), domain.ErrForbidden},
		{"staff override a range shortfall", staff, func() app.CreateReservation { c := carReq(101); c.RangeOverride = true; c.CustomerID = "c9"; return c }(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.reservations.Create(ctx, tt.caller, tt.cmd)
			if !errors.Is(err, tt.wantErr) && !(tt.wantErr == nil && err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
	// Outside an operating area a scooter is not rentable.
	f.world.operating = false
	if _, err := f.reservations.Create(ctx, customer, app.CreateReservation{VehicleID: "scooter-1"}); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("outside the operating area = %v", err)
	}
	f.world.operating = true
	res, err := f.reservations.Create(ctx, customer, app.CreateReservation{VehicleID: "scooter-1"})
	if err != nil {
		t.Fatal(err)
	}
	if !f.world.isHeld("scooter-1") {
		t.Fatal("the availability index was not told the scooter is held")
	}
	created := decodeOne[events.ReservationCreatedV1](t, f.outboxEvents(t, events.TypeReservationCreatedV1)[1:])
	if created.ReservationID != res.ID || created.VehicleType != events.VehicleEScooter {
		t.Fatalf("created event %+v", created)
	}
	// A car booked for later does not hold the vehicle in the index yet.
	if f.world.isHeld("car-1") {
		t.Fatal("a car booked an hour ahead is held in the index already")
	}
}

func TestCancellationFee(t *testing.T) {
	f := newBookingFixture(t)
	ctx := context.Background()
	now := f.clock.Now()
	free, err := f.reservations.Create(ctx, customer, app.CreateReservation{VehicleID: "car-1", StartAt: now.Add(time.Hour), EndAt: now.Add(2 * time.Hour), PlannedDistanceKm: 10})
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(9 * time.Minute)
	if got, err := f.reservations.Cancel(ctx, customer, free.ID, "changed plans"); err != nil || got.CancelFee != nil {
		t.Fatalf("cancel within 10 min: fee %v, err %v", got.CancelFee, err)
	}
	paid, err := f.reservations.Create(ctx, customer, app.CreateReservation{VehicleID: "car-1", StartAt: now.Add(time.Hour), EndAt: now.Add(2 * time.Hour), PlannedDistanceKm: 10})
	if err != nil {
		t.Fatalf("rebooking a cancelled slot: %v", err)
	}
	f.clock.Advance(11 * time.Minute)
	got, err := f.reservations.Cancel(ctx, customer, paid.ID, "")
	if err != nil || got.CancelFee == nil || got.CancelFee.AmountMinor != 300 {
		t.Fatalf("cancel after 10 min: fee %v, err %v", got.CancelFee, err)
	}
	evs := f.outboxEvents(t, events.TypeReservationCancelledV1)
	if len(evs) != 2 {
		t.Fatalf("%d cancellation events", len(evs))
	}
	var freeEv, paidEv events.ReservationCancelledV1
	_ = json.Unmarshal(evs[0], &freeEv)
	_ = json.Unmarshal(evs[1], &paidEv)
	if freeEv.Fee != nil || paidEv.Fee == nil || paidEv.Fee.AmountMinor != 300 || paidEv.CancelledBy != "customer" {
		t.Fatalf("events: free %+v, paid %+v", freeEv, paidEv)
	}
	if _, err := f.reservations.Cancel(ctx, app.Caller{Subject: "c2"}, paid.ID, ""); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("a stranger cancelling = %v, want not found", err)
	}
}

// startScooter starts a walk-up trip and returns it with its unlock command.
func (f *bookingFixture) startScooter(t *testing.T, vehicle string) (domain.Trip, events.VehicleCommandIssuedV1) {
	t.Helper()
	trip, err := f.trips.Start(context.Background(), customer, app.StartTrip{VehicleID: vehicle})
	if err != nil {
		t.Fatal(err)
	}
	cmds := f.outboxEvents(t, events.TypeVehicleCommandIssuedV1)
	var cmd events.VehicleCommandIssuedV1
	if err := json.Unmarshal(cmds[len(cmds)-1], &cmd); err != nil {
		t.Fatal(err)
	}
	if cmd.Kind != events.CommandUnlock || cmd.TripID != trip.ID || cmd.VehicleID != vehicle || !cmd.ExpiresAt.Equal(trip.UnlockExpiresAt) {
		t.Fatalf("unlock command %+v for trip %+v", cmd, trip)
	}
	return trip, cmd
}

func (f *bookingFixture) ack(t *testing.T, cmd events.VehicleCommandIssuedV1, outcome events.CommandOutcome) {
	t.Helper()
	if err := f.trips.OnCommandAck(context.Background(), events.VehicleCommandAckedV1{
		CommandID: cmd.CommandID, VehicleID: cmd.VehicleID, Kind: cmd.Kind, Outcome: outcome, AckedAt: f.clock.Now()}); err != nil {
		t.Fatal(err)
	}
}

func TestUnlockOutcomes(t *testing.T) {
	ctx := context.Background()
	t.Run("executed ack starts the trip", func(t *testing.T) {
		f := newBookingFixture(t)
		trip, cmd := f.startScooter(t, "scooter-1")
		if trip.State != domain.TripUnlocking || len(f.outboxEvents(t, events.TypeTripStartedV1)) != 0 {
			t.Fatal("trip started before the vehicle confirmed")
		}
		f.clock.Advance(2 * time.Second)
		f.ack(t, cmd, events.CommandExecuted)
		f.ack(t, cmd, events.CommandExecuted) // redelivered
		started := decodeOne[events.TripStartedV1](t, f.outboxEvents(t, events.TypeTripStartedV1))
		if started.TripID != trip.ID || started.StartLat != berlin.Lat {
			t.Fatalf("started %+v", started)
		}
		v, err := f.trips.Get(ctx, customer, trip.ID)
		if err != nil || v.Trip.State != domain.TripActive || v.Price == nil || v.PriceFinal {
			t.Fatalf("view %+v, %v", v, err)
		}
	})
	t.Run("rejected unlock fails the trip and frees the vehicle", func(t *testing.T) {
		f := newBookingFixture(t)
		trip, cmd := f.startScooter(t, "scooter-1")
		f.ack(t, cmd, events.CommandRejected)
		got, _ := f.trips.Get(ctx, customer, trip.ID)
		if got.Trip.State != domain.TripFailed || f.world.isHeld("scooter-1") || len(f.outboxEvents(t, events.TypeTripStartedV1)) != 0 {
			t.Fatalf("after rejection: state %s held %v", got.Trip.State, f.world.isHeld("scooter-1"))
		}
		// The vehicle and the customer are free for another trip.
		f.startScooter(t, "scooter-1")
	})
	t.Run("no ack before the timeout: failed, never started; a late unlock is locked again", func(t *testing.T) {
		f := newBookingFixture(t)
		trip, cmd := f.startScooter(t, "scooter-1")
		f.clock.Advance(9 * time.Second)
		if n, err := f.trips.FailUnlockTimeouts(ctx, 10); err != nil || n != 0 {
			t.Fatalf("failed %d before the timeout (%v)", n, err)
		}
		f.clock.Advance(2 * time.Second)
		if n, err := f.trips.FailUnlockTimeouts(ctx, 10); err != nil || n != 1 {
			t.Fatalf("failed %d after the timeout (%v)", n, err)
		}
		got, _ := f.trips.Get(ctx, customer, trip.ID)
		if got.Trip.State != domain.TripFailed || f.world.isHeld("scooter-1") {
			t.Fatalf("after timeout: %s, held %v", got.Trip.State, f.world.isHeld("scooter-1"))
		}
		f.ack(t, cmd, events.CommandExecuted) // too late
		if len(f.outboxEvents(t, events.TypeTripStartedV1)) != 0 {
			t.Fatal("a late ack started a timed-out trip")
		}
		cmds := f.outboxEvents(t, events.TypeVehicleCommandIssuedV1)
		var lock events.VehicleCommandIssuedV1
		_ = json.Unmarshal(cmds[len(cmds)-1], &lock)
		if lock.Kind != events.CommandLock || lock.VehicleID != "scooter-1" {
			t.Fatalf("the late-opened vehicle was not locked again: %+v", lock)
		}
	})
	t.Run("a reservation survives a failed unlock, with free cancellation", func(t *testing.T) {
		f := newBookingFixture(t)
		res, err := f.reservations.Create(ctx, customer, app.CreateReservation{VehicleID: "scooter-1"})
		if err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(5 * time.Minute)
		trip, err := f.trips.Start(ctx, customer, app.StartTrip{ReservationID: res.ID})
		if err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(11 * time.Second)
		if _, err := f.trips.FailUnlockTimeouts(ctx, 10); err != nil {
			t.Fatal(err)
		}
		back, _ := f.reservations.Get(ctx, customer, res.ID)
		if back.Status != domain.ReservationHeld || trip.ReservationID != res.ID {
			t.Fatalf("reservation after failed unlock: %s", back.Status)
		}
		f.clock.Advance(6 * time.Minute) // past the free window, but the fee is waived
		if got, err := f.reservations.Cancel(ctx, customer, res.ID, ""); err != nil || got.CancelFee != nil {
			t.Fatalf("cancel after failed unlock: fee %v err %v", got.CancelFee, err)
		}
	})
}

func (f *bookingFixture) activeScooter(t *testing.T, vehicle string) domain.Trip {
	t.Helper()
	trip, cmd := f.startScooter(t, vehicle)
	f.ack(t, cmd, events.CommandExecuted)
	return trip
}

func TestEndTripReturnChecks(t *testing.T) {
	ctx := context.Background()
	t.Run("outside a bay: ended anyway, fined", func(t *testing.T) {
		f := newBookingFixture(t)
		trip := f.activeScooter(t, "scooter-1")
		f.world.place = domain.ReturnPlace{EndingAllowed: true}
		f.clock.Advance(10*time.Minute + time.Second)
		v, err := f.trips.End(ctx, customer, trip.ID, app.EndTrip{})
		if err != nil {
			t.Fatal(err)
		}
		if v.Trip.State != domain.TripEnded || v.Price.AmountMinor != 100+25*11 || !v.Trip.Return.WrongLocation || len(v.Adjustments) != 1 {
			t.Fatalf("ended %+v price %v", v.Trip, v.Price)
		}
		fine := decodeOne[events.FineIssuedV1](t, f.outboxEvents(t, events.TypeFineIssuedV1))
		ended := decodeOne[events.TripEndedV1](t, f.outboxEvents(t, events.TypeTripEndedV1))
		if fine.Reason != events.FineWrongLocation || fine.Amount.AmountMinor != 2500 || ended.EndedInBay || ended.Price.AmountMinor != 375 {
			t.Fatalf("fine %+v ended %+v", fine, ended)
		}
		if f.world.isHeld("scooter-1") {
			t.Fatal("vehicle still held after the trip ended")
		}
		if _, err := f.trips.End(ctx, customer, trip.ID, app.EndTrip{}); !errors.Is(err, domain.ErrConflict) {
			t.Fatalf("ending twice = %v", err)
		}
	})
	t.Run("in an under-served bay with a photo: accepted, rewarded", func(t *testing.T) {
		f := newBookingFixture(t)
		trip := f.activeScooter(t, "scooter-1")
		f.world.place = domain.ReturnPlace{BayID: "bay-7", UnderServed: true, EndingAllowed: true}
		if _, added, err := f.trips.AddPhoto(ctx, customer, trip.ID, "image/jpeg", []byte("\xff\xd8\xffphoto")); err != nil || !added {
			t.Fatalf("photo: %v", err)
		}
		v, err := f.trips.End(ctx, customer, trip.ID, app.EndTrip{})
		if err != nil {
			t.Fatal(err)
		}
		if !v.Trip.Return.Accepted || !v.Trip.Return.Reward {
			t.Fatalf("return %+v", v.Trip.Return)
		}
		reward := decodeOne[events.RewardGrantedV1](t, f.outboxEvents(t, events.TypeRewardGrantedV1))
		checked := decodeOne[events.ReturnCheckedV1](t, f.outboxEvents(t, events.TypeReturnCheckedV1))
		photosEv := decodeOne[events.ReturnPhotosSubmittedV1](t, f.outboxEvents(t, events.TypeReturnPhotosSubmittedV1))
		if reward.BayID != "bay-7" || reward.Amount.AmountMinor != 200 || !checked.Accepted || len(photosEv.PhotoKeys) != 1 {
			t.Fatalf("reward %+v checked %+v photos %+v", reward, checked, photosEv)
		}
		if len(f.outboxEvents(t, events.TypeFineIssuedV1)) != 0 {
			t.Fatal("fined for a good return")
		}
	})
}

func TestOverdueTrips(t *testing.T) {
	ctx := context.Background()
	f := newBookingFixture(t)
	trip := f.activeScooter(t, "scooter-1")
	f.clock.Advance(12 * time.Hour)
	if n, _ := f.trips.FlagOverdue(ctx, 10); n != 0 {
		t.Fatal("flagged at exactly 12 h")
	}
	f.clock.Advance(time.Second)
	if n, err := f.trips.FlagOverdue(ctx, 10); err != nil || n != 1 {
		t.Fatalf("flagged %d (%v), want 1", n, err)
	}
	if n, err := f.trips.FlagOverdue(ctx, 10); err != nil || n != 0 {
		t.Fatalf("flagged again: %d (%v)", n, err)
	}
	overdue := decodeOne[events.TripOverdueV1](t, f.outboxEvents(t, events.TypeTripOverdueV1))
	fine := decodeOne[events.FineIssuedV1](t, f.outboxEvents(t, events.TypeFineIssuedV1))
	if overdue.TripID != trip.ID || fine.Reason != events.FineLateReturn || fine.Amount.AmountMinor != 5000 {
		t.Fatalf("overdue %+v fine %+v", overdue, fine)
	}
	// The hold now stays open: nobody can book the scooter that has not come back.
	var open bool
	if err := f.pool.QueryRow(ctx, `SELECT hold_until > now() + interval '1000 years' FROM reservations WHERE id = $1`, trip.ReservationID).Scan(&open); err != nil || !open {
		t.Fatalf("hold kept open = %v (%v)", open, err)
	}
}

func TestPaymentFailureEndsTripAndCancelsReservation(t *testing.T) {
	ctx := context.Background()
	f := newBookingFixture(t)
	trip := f.activeScooter(t, "scooter-1")
	f.clock.Advance(3 * time.Minute)
	for range 2 { // redelivered
		if err := f.trips.EndForPayment(ctx, trip.ID, "card_declined"); err != nil {
			t.Fatal(err)
		}
	}
	v, _ := f.trips.Get(ctx, customer, trip.ID)
	if v.Trip.State != domain.TripEnded || v.Trip.EndReason != domain.EndPaymentDeclined || len(f.outboxEvents(t, events.TypeTripEndedV1)) != 1 {
		t.Fatalf("trip after declined hold: %+v", v.Trip)
	}
	res, err := f.reservations.Create(ctx, app.Caller{Subject: "c3"}, app.CreateReservation{VehicleID: "scooter-2"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.reservations.CancelForPayment(ctx, res.ID, "card_declined"); err != nil {
		t.Fatal(err)
	}
	got, _ := f.reservations.Get(ctx, staff, res.ID)
	cancelled := decodeOne[events.ReservationCancelledV1](t, f.outboxEvents(t, events.TypeReservationCancelledV1))
	if got.Status != domain.ReservationCancelled || cancelled.Fee != nil || cancelled.CancelledBy != "operations" {
		t.Fatalf("reservation %s, event %+v", got.Status, cancelled)
	}
	if err := f.reservations.CancelForPayment(ctx, "2b4e3c9e-0000-0000-0000-000000000000", "x"); err != nil {
		t.Fatalf("unknown reservation = %v, want ignored", err)
	}
}

func TestReservationExpiry(t *testing.T) {
	ctx := context.Background()
	f := newBookingFixture(t)
	res, err := f.reservations.Create(ctx, customer, app.CreateReservation{VehicleID: "scooter-1"})
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(9 * time.Minute)
	if n, _ := f.reservations.ExpireDue(ctx, 10); n != 0 {
		t.Fatal("expired before booked time + 10 min")
	}
	f.clock.Advance(time.Minute)
	if n, err := f.reservations.ExpireDue(ctx, 10); err != nil || n != 1 {
		t.Fatalf("expired %d (%v)", n, err)
	}
	expired := decodeOne[events.ReservationExpiredV1](t, f.outboxEvents(t, events.TypeReservationExpiredV1))
	if expired.ReservationID != res.ID || f.world.isHeld("scooter-1") {
		t.Fatalf("expired %+v, held %v", expired, f.world.isHeld("scooter-1"))
	}
	if _, err := f.trips.Start(ctx, customer, app.StartTrip{ReservationID: res.ID}); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("starting an expired reservation = %v", err)
	}
}

func TestFeedbackFaultGoesToMaintenance(t *testing.T) {
	ctx := context.Background()
	f := newBookingFixture(t)
	trip := f.activeScooter(t, "scooter-1")
	f.world.faultErr = errors.New("fleet registry down")
	fb, err := f.trips.AddFeedback(ctx, customer, trip.ID, app.Feedback{Rating: 2, FaultCategory: "brakes", FaultDescription: "squeaky"})
	if err != nil || !fb.FaultReportedAt.IsZero() {
		t.Fatalf("feedback %+v, %v", fb, err)
	}
	if _, err := f.trips.AddFeedback(ctx, customer, trip.ID, app.Feedback{Rating: 5}); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("second feedback = %v", err)
	}
	f.world.faultErr = nil
	if n, err := f.trips.RetryFaultReports(ctx, 10); err != nil || n != 1 {
		t.Fatalf("retried %d (%v)", n, err)
	}
	if n, _ := f.trips.RetryFaultReports(ctx, 10); n != 0 {
		t.Fatal("fault reported twice")
	}
	if len(f.world.faults) != 1 || f.world.faults[0] != "scooter-1:brakes" {
		t.Fatalf("faults %v", f.world.faults)
	}
}
