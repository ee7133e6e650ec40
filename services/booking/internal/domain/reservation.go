package domain

import (
	"fmt"
	"math"
	"time"
)

// ReservationStatus is where a reservation (a hold on a vehicle for a time range) stands.
type ReservationStatus string

// Reservation statuses. Only held and in_trip holds occupy the vehicle: the
// database's exclusion constraint covers exactly those.
const (
	ReservationHeld      ReservationStatus = "held"      // waiting for the customer to start
	ReservationInTrip    ReservationStatus = "in_trip"   // a trip (unlocking or active) uses the hold
	ReservationCompleted ReservationStatus = "completed" // the trip ended
	ReservationCancelled ReservationStatus = "cancelled" // by the customer or operations
	ReservationExpired   ReservationStatus = "expired"   // not started in time
)

// Active reports whether the status occupies the vehicle.
func (s ReservationStatus) Active() bool { return s == ReservationHeld || s == ReservationInTrip }

// Who cancelled a reservation (ReservationCancelledV1.CancelledBy).
const (
	CancelledByCustomer   = "customer"
	CancelledByOperations = "operations"
)

// BookingRules are the booking numbers of domain.md; the grace period, the free
// cancellation window and the range margin are configurable.
type BookingRules struct {
	CarMaxAhead      time.Duration // cars/vans: start at most this far ahead (7 days)
	CarMinDuration   time.Duration // shortest fixed duration of a car/van booking
	CarMaxDuration   time.Duration // longest fixed duration (extensions included)
	CarGrace         time.Duration // an unstarted car/van reservation expires this long after its start
	MicroMaxAhead    time.Duration // bikes/scooters: start at most this far ahead (30 minutes)
	MicroMaxDuration time.Duration // bikes/scooters: open-ended, at most this long (12 hours)
	MicroExpiry      time.Duration // an unstarted bike/scooter reservation expires this long after its start
	FreeCancelWindow time.Duration // cancellation is free this long after booking
	RangeMargin      float64       // a car/van needs range ≥ planned distance × (1 + margin)
	// PastTolerance accepts a start slightly in the past (clock skew between the app and us).
	PastTolerance time.Duration
}

// DefaultBookingRules are the numbers of domain.md.
func DefaultBookingRules() BookingRules {
	return BookingRules{
		CarMaxAhead:      7 * 24 * time.Hour,
		CarMinDuration:   15 * time.Minute,
		CarMaxDuration:   7 * 24 * time.Hour,
		CarGrace:         15 * time.Minute,
		MicroMaxAhead:    30 * time.Minute,
		MicroMaxDuration: 12 * time.Hour,
		MicroExpiry:      10 * time.Minute,
		FreeCancelWindow: 10 * time.Minute,
		RangeMargin:      0.2,
		PastTolerance:    time.Minute,
	}
}

// Validate checks the configurable numbers make sense.
func (r BookingRules) Validate() error {
	switch {
	case r.CarGrace <= 0:
		return fmt.Errorf("%w: reservation grace period must be positive", ErrInvalid)
	case r.FreeCancelWindow < 0:
		return fmt.Errorf("%w: free cancellation window must not be negative", ErrInvalid)
	case r.RangeMargin < 0 || r.RangeMargin > 2:
		return fmt.Errorf("%w: range margin %v outside [0, 2]", ErrInvalid, r.RangeMargin)
	case r.CarMinDuration <= 0 || r.CarMaxDuration < r.CarMinDuration:
		return fmt.Errorf("%w: car booking durations [%s, %s] are not a range", ErrInvalid, r.CarMinDuration, r.CarMaxDuration)
	}
	return nil
}

// Reservation holds a vehicle for a customer over [StartAt, HoldUntil).
//
// EndAt is the booked end: the fixed end of a car/van booking, or the 12-hour
// limit of an open-ended bike/scooter rental. HoldUntil is how long the vehicle
// is kept: EndAt, except for an overdue trip whose hold is stretched open-ended
// so nobody else can book a vehicle that has not come back.
type Reservation struct {
	ID                string
	WalkUp            bool // the hidden hold of a trip started without a reservation
	CustomerID        string
	VehicleID         string
	VehicleType       VehicleType
	City              string
	Status            ReservationStatus
	StartAt           time.Time
	EndAt             time.Time
	HoldUntil         time.Time
	ExpiresAt         time.Time // an unstarted hold lapses at this instant
	PlannedDistanceKm float64   // cars/vans: what the range was checked against
	CreatedAt         time.Time
	ClosedAt          time.Time // cancelled, expired or completed at; zero while active
	CancelledBy       string
	CancelReason      string
	CancelFee         *Money
	FeeWaived         bool // e.g. the vehicle failed to unlock: cancelling is free
	TripID            string
	HeldMarkedAt      time.Time // when the availability index was told the vehicle is held
}

// ReservationRequest is what a customer asks for.
type ReservationRequest struct {
	CustomerID        string
	VehicleID         string
	VehicleType       VehicleType
	City              string
	StartAt           time.Time // zero: now
	EndAt             time.Time // cars/vans: required; bikes/scooters: must be zero (open-ended)
	PlannedDistanceKm float64   // cars/vans: required
}

// NewReservation applies the booking-ahead and duration rules to req at now.
func (r BookingRules) NewReservation(id string, req ReservationRequest, now time.Time) (Reservation, error) {
	if req.CustomerID == "" || req.VehicleID == "" {
		return Reservation{}, fmt.Errorf("%w: customer and vehicle are required", ErrInvalid)
	}
	start := req.StartAt
	switch {
	case start.IsZero():
		start = now
	case start.Before(now.Add(-r.PastTolerance)):
		return Reservation{}, fmt.Errorf("%w: start_at %s is in the past", ErrInvalid, start.UTC().Format(time.RFC3339))
	case start.Before(now):
		start = now
	}
	res := Reservation{
		ID: id, CustomerID: req.CustomerID, VehicleID: req.VehicleID, VehicleType: req.VehicleType,
		City: req.City, Status: ReservationHeld, StartAt: start, CreatedAt: now,
	}
	if req.VehicleType.Micromobility() {
		if start.After(now.Add(r.MicroMaxAhead)) {
			return Reservation{}, fmt.Errorf("%w: a %s can be booked at most %s ahead", ErrInvalid, req.VehicleType, r.MicroMaxAhead)
		}
		if !req.EndAt.IsZero() {
			return Reservation{}, fmt.Errorf("%w: a %s rental is open-ended (at most %s): end_at must not be given", ErrInvalid, req.VehicleType, r.MicroMaxDuration)
		}
		res.EndAt = start.Add(r.MicroMaxDuration)
		res.ExpiresAt = start.Add(r.MicroExpiry)
	} else {
		if start.After(now.Add(r.CarMaxAhead)) {
			return Reservation{}, fmt.Errorf("%w: a %s can be booked at most %s ahead", ErrInvalid, req.VehicleType, r.CarMaxAhead)
		}
		if req.EndAt.IsZero() {
			return Reservation{}, fmt.Errorf("%w: a %s is booked for a fixed duration: end_at is required", ErrInvalid, req.VehicleType)
		}
		if err := r.checkCarDuration(start, req.EndAt); err != nil {
			return Reservation{}, err
		}
		if math.IsNaN(req.PlannedDistanceKm) || req.PlannedDistanceKm <= 0 {
			return Reservation{}, fmt.Errorf("%w: planned_distance_km must be positive for a %s", ErrInvalid, req.VehicleType)
		}
		res.EndAt = req.EndAt
		res.PlannedDistanceKm = req.PlannedDistanceKm
		res.ExpiresAt = start.Add(r.CarGrace)
		if res.ExpiresAt.After(res.EndAt) {
			res.ExpiresAt = res.EndAt
		}
	}
	res.HoldUntil = res.EndAt
	return res, nil
}

func (r BookingRules) checkCarDuration(start, end time.Time) error {
	d := end.Sub(start)
	if d < r.CarMinDuration || d > r.CarMaxDuration {
		return fmt.Errorf("%w: a car/van booking lasts between %s and %s, not %s", ErrInvalid, r.CarMinDuration, r.CarMaxDuration, d.Round(time.Second))
	}
	return nil
}

// NewWalkUpHold is the hold of a bike/scooter trip started without a reservation.
func (r BookingRules) NewWalkUpHold(id, customerID, vehicleID string, vt VehicleType, city string, now time.Time) (Reservation, error) {
	if !vt.Micromobility() {
		return Reservation{}, fmt.Errorf("%w: a %s must be reserved before a trip (fixed duration)", ErrInvalid, vt)
	}
	end := now.Add(r.MicroMaxDuration)
	return Reservation{
		ID: id, WalkUp: true, CustomerID: customerID, VehicleID: vehicleID, VehicleType: vt, City: city,
		Status: ReservationInTrip, StartAt: now, EndAt: end, HoldUntil: end, ExpiresAt: now, CreatedAt: now,
	}, nil
}

// RangeShortfall refuses a car/van whose estimated range does not cover the
// planned distance with the margin. It carries the numbers for the customer (and
// for the human who may approve an edge case).
type RangeShortfall struct {
	PlannedKm  float64
	RangeKm    float64
	RequiredKm float64
	Margin     float64
	Known      bool // false: no telemetry has reported a range yet
}

func (e *RangeShortfall) Error() string {
	if !e.Known {
		return "the vehicle's current range is unknown (no telemetry yet), so the planned trip cannot be checked"
	}
	return fmt.Sprintf("estimated range %.1f km does not cover the planned %.1f km with a %.0f%% margin (%.1f km needed)",
		e.RangeKm, e.PlannedKm, e.Margin*100, e.RequiredKm)
}

// Unwrap makes a shortfall an ErrPrecondition (422).
func (e *RangeShortfall) Unwrap() error { return ErrPrecondition }

// CheckRange applies the charge rule: a car/van is bookable only when its
// estimated range covers the planned distance plus the margin. known is false
// when no range has been reported.
func (r BookingRules) CheckRange(plannedKm, rangeKm float64, known bool) error {
	required := plannedKm * (1 + r.RangeMargin)
	if !known || math.IsNaN(rangeKm) || rangeKm < required {
		return &RangeShortfall{PlannedKm: plannedKm, RangeKm: rangeKm, RequiredKm: required, Margin: r.RangeMargin, Known: known}
	}
	return nil
}

// FreeCancellationUntil is the end of the free cancellation window.
func (r BookingRules) FreeCancellationUntil(res Reservation) time.Time {
	return res.CreatedAt.Add(r.FreeCancelWindow)
}

// CancellationFeeDue reports whether a customer cancelling res at now pays the
// fee: after the free window, unless the fee was waived. Operations never charge.
func (r BookingRules) CancellationFeeDue(res Reservation, now time.Time, by string) bool {
	return by == CancelledByCustomer && !res.FeeWaived && now.After(r.FreeCancellationUntil(res))
}

// Cancel releases a held reservation. fee is nil when the cancellation is free.
func (res *Reservation) Cancel(now time.Time, by, reason string, fee *Money) error {
	if res.Status != ReservationHeld {
		return fmt.Errorf("%w: reservation %s is %s, only a held reservation can be cancelled", ErrConflict, res.ID, res.Status)
	}
	res.Status, res.ClosedAt, res.CancelledBy, res.CancelReason, res.CancelFee = ReservationCancelled, now, by, reason, fee
	return nil
}

// Expire lapses a held reservation whose start window passed.
func (res *Reservation) Expire(now time.Time) error {
	if res.Status != ReservationHeld {
		return fmt.Errorf("%w: reservation %s is %s", ErrConflict, res.ID, res.Status)
	}
	if now.Before(res.ExpiresAt) {
		return fmt.Errorf("%w: reservation %s expires at %s", ErrConflict, res.ID, res.ExpiresAt.UTC().Format(time.RFC3339))
	}
	res.Status, res.ClosedAt = ReservationExpired, now
	return nil
}

// Extend moves the booked end of a car/van reservation (before or during the
// rental) to newEnd. Whether the vehicle is free is the database's call.
func (r BookingRules) Extend(res *Reservation, newEnd, now time.Time) error {
	if res.VehicleType.Micromobility() {
		return fmt.Errorf("%w: a %s rental is open-ended and cannot be extended", ErrInvalid, res.VehicleType)
	}
	if !res.Status.Active() {
		return fmt.Errorf("%w: reservation %s is %s", ErrConflict, res.ID, res.Status)
	}
	if !newEnd.After(res.EndAt) {
		return fmt.Errorf("%w: new end %s is not after the current end %s", ErrInvalid,
			newEnd.UTC().Format(time.RFC3339), res.EndAt.UTC().Format(time.RFC3339))
	}
	if !newEnd.After(now) {
		return fmt.Errorf("%w: new end is in the past", ErrInvalid)
	}
	if err := r.checkCarDuration(res.StartAt, newEnd); err != nil {
		return err
	}
	res.EndAt = newEnd
	if res.HoldUntil.Before(newEnd) {
		res.HoldUntil = newEnd
	}
	return nil
}

// BeginTrip puts a held reservation in a trip at now. An early start moves the
// hold's start to now (the database refuses it if that overlaps another hold);
// an open-ended rental is limited from the trip's start.
func (r BookingRules) BeginTrip(res *Reservation, tripID string, now time.Time) error {
	if res.Status != ReservationHeld {
		return fmt.Errorf("%w: reservation %s is %s, not held", ErrConflict, res.ID, res.Status)
	}
	if !now.Before(res.ExpiresAt) {
		return fmt.Errorf("%w: reservation %s expired at %s", ErrConflict, res.ID, res.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if now.Before(res.StartAt) {
		res.StartAt = now
	}
	if res.VehicleType.Micromobility() {
		res.EndAt = now.Add(r.MicroMaxDuration)
		res.HoldUntil = res.EndAt
	}
	res.Status, res.TripID = ReservationInTrip, tripID
	return nil
}

// TripFailed gives a reservation back to its customer after its vehicle did
// not unlock: it stays held until it expires, and cancelling it is now free.
// A walk-up hold is released instead.
func (res *Reservation) TripFailed(now time.Time) {
	if res.Status != ReservationInTrip {
		return
	}
	res.TripID = ""
	if res.WalkUp {
		res.Status, res.ClosedAt, res.CancelledBy, res.CancelReason = ReservationCancelled, now, CancelledByOperations, "unlock failed"
		return
	}
	res.Status, res.FeeWaived = ReservationHeld, true
}

// Complete closes the hold of an ended trip at end, freeing the rest of a
// booked slot for others.
func (res *Reservation) Complete(end time.Time) {
	res.Status, res.ClosedAt = ReservationCompleted, end
	if end.Before(res.HoldUntil) && end.After(res.StartAt) {
		res.HoldUntil = end
	}
}

// KeepOpen stretches the hold of an overdue trip open-ended.
func (res *Reservation) KeepOpen() { res.HoldUntil = Forever }

// Forever is an open end (PostgreSQL's 'infinity').
var Forever = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
