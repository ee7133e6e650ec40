package domain

import (
	"fmt"
	"time"
)

// TripState is where a trip stands.
type TripState string

// Trip states: unlocking → active → ended, or unlocking → failed when the
// vehicle did not confirm the unlock in time.
const (
	TripUnlocking TripState = "unlocking"
	TripActive    TripState = "active"
	TripEnded     TripState = "ended"
	TripFailed    TripState = "failed"
)

// Why a trip ended.
const (
	EndByCustomer      = "customer"
	EndPaymentDeclined = "payment_declined" // the hold was refused: ended by us
)

// Trip is a rental in progress or done. Its vehicle is held by a reservation
// (a hidden walk-up hold when the customer did not reserve).
type Trip struct {
	ID                string
	ReservationID     string
	WalkUp            bool
	CustomerID        string
	VehicleID         string
	VehicleType       VehicleType
	City              string
	State             TripState
	ConcurrentAllowed bool // staff allowed this customer another active trip
	RequestedAt       time.Time
	UnlockCommandID   string
	UnlockExpiresAt   time.Time
	StartedAt         time.Time
	BookedEndAt       time.Time // the reservation's end: fixed for cars/vans, the 12-hour limit for bikes/scooters
	EndedAt           time.Time
	FailReason        string
	EndReason         string
	StartPosition     *Point
	EndPosition       *Point
	Return            *ReturnCheck
	Terms             *PriceTerms // the price terms locked at the start
	Price             *Money      // final price, once ended
	LockCommandID     string
	LockOutcome       string
	OverdueAt         time.Time
	SettledAt         time.Time
	CapturedMinor     int64
	Photos            int
}

// NewTrip starts unlocking hold's vehicle for its customer at now; the vehicle
// must confirm before now+unlockTimeout. terms are the prices the trip keeps.
func NewTrip(id string, hold Reservation, commandID string, now time.Time, unlockTimeout time.Duration, concurrent bool, terms *PriceTerms) Trip {
	return Trip{
		ID: id, ReservationID: hold.ID, WalkUp: hold.WalkUp, CustomerID: hold.CustomerID,
		VehicleID: hold.VehicleID, VehicleType: hold.VehicleType, City: hold.City,
		State: TripUnlocking, ConcurrentAllowed: concurrent, RequestedAt: now,
		UnlockCommandID: commandID, UnlockExpiresAt: now.Add(unlockTimeout), BookedEndAt: hold.EndAt, Terms: terms,
	}
}

// PriceAt is the price of the trip's time up to end, at the terms locked at
// its start (every started minute, the first one included).
func (t Trip) PriceAt(end time.Time) (Money, error) {
	if t.Terms == nil {
		return Money{}, fmt.Errorf("trip %s has no price terms", t.ID)
	}
	p, err := t.Terms.FinalPrice(t.StartedAt, end)
	if err != nil {
		return Money{}, err
	}
	return p.Total, nil
}

// Activate records the vehicle's unlock confirmation: the trip starts at at,
// bounded to [requested, now] so a vehicle clock cannot bill time that did not pass.
func (t *Trip) Activate(at, now time.Time, pos *Point) error {
	if t.State != TripUnlocking {
		return fmt.Errorf("%w: trip %s is %s, not unlocking", ErrConflict, t.ID, t.State)
	}
	if at.Before(t.RequestedAt) || at.IsZero() {
		at = t.RequestedAt
	}
	if at.After(now) {
		at = now
	}
	t.State, t.StartedAt, t.StartPosition = TripActive, at, pos
	return nil
}

// Fail records that the vehicle did not unlock.
func (t *Trip) Fail(reason string, now time.Time) error {
	if t.State != TripUnlocking {
		return fmt.Errorf("%w: trip %s is %s, not unlocking", ErrConflict, t.ID, t.State)
	}
	t.State, t.FailReason, t.EndedAt = TripFailed, reason, now
	return nil
}

// End closes an active trip at end: it always ends, whatever the return
// checks say (a customer is never trapped in a trip).
func (t *Trip) End(end time.Time, reason string, pos *Point, check *ReturnCheck, price Money, lockCommandID string) error {
	if t.State != TripActive {
		return fmt.Errorf("%w: trip %s is %s, only an active trip can end", ErrConflict, t.ID, t.State)
	}
	if end.Before(t.StartedAt) {
		end = t.StartedAt
	}
	t.State, t.EndedAt, t.EndReason, t.EndPosition, t.Return = TripEnded, end, reason, pos, check
	t.Price, t.LockCommandID = &price, lockCommandID
	return nil
}

// Duration is how long the trip has run at now (or ran, once ended).
func (t Trip) Duration(now time.Time) time.Duration {
	switch {
	case t.StartedAt.IsZero():
		return 0
	case !t.EndedAt.IsZero():
		return t.EndedAt.Sub(t.StartedAt)
	case now.Before(t.StartedAt):
		return 0
	}
	return now.Sub(t.StartedAt)
}

// Overdue reports whether an active trip has passed its booked end (a car's
// booked end, a bike's 12-hour limit) at now.
func (t Trip) Overdue(now time.Time) bool {
	return t.State == TripActive && !t.BookedEndAt.IsZero() && now.After(t.BookedEndAt)
}

// MarkOverdue flags the trip once; it reports whether it was newly flagged.
func (t *Trip) MarkOverdue(now time.Time) bool {
	if !t.Overdue(now) || !t.OverdueAt.IsZero() {
		return false
	}
	t.OverdueAt = now
	return true
}
