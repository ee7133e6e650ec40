package domain

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestTripLifecycle(t *testing.T) {
	rules := DefaultBookingRules()
	hold, err := rules.NewWalkUpHold("h1", "c1", "v1", EScooter, "berlin", bookingNow)
	if err != nil {
		t.Fatal(err)
	}
	trip := NewTrip("t1", hold, "cmd1", bookingNow, 10*time.Second, false, nil)
	if trip.State != TripUnlocking || !trip.UnlockExpiresAt.Equal(bookingNow.Add(10*time.Second)) {
		t.Fatalf("new trip %+v", trip)
	}
	if err := trip.End(bookingNow, EndByCustomer, nil, nil, Money{}, "lock"); !errors.Is(err, ErrConflict) {
		t.Fatalf("ending an unlocking trip = %v, want ErrConflict", err)
	}
	// A vehicle clock ahead of ours cannot start the trip in the future.
	if err := trip.Activate(bookingNow.Add(time.Hour), bookingNow.Add(2*time.Second), nil); err != nil {
		t.Fatal(err)
	}
	if !trip.StartedAt.Equal(bookingNow.Add(2 * time.Second)) {
		t.Fatalf("started at %s", trip.StartedAt)
	}
	if err := trip.Fail("late", bookingNow); !errors.Is(err, ErrConflict) {
		t.Fatalf("failing an active trip = %v", err)
	}
	if d := trip.Duration(bookingNow.Add(62 * time.Second)); d != time.Minute {
		t.Fatalf("duration %s", d)
	}
	if err := trip.End(bookingNow.Add(5*time.Minute), EndByCustomer, nil, nil, Money{AmountMinor: 250, Currency: "EUR"}, "lock1"); err != nil {
		t.Fatal(err)
	}
	if trip.State != TripEnded || trip.Price.AmountMinor != 250 || trip.LockCommandID != "lock1" {
		t.Fatalf("ended trip %+v", trip)
	}
}

func TestTripOverdue(t *testing.T) {
	trip := Trip{State: TripActive, StartedAt: bookingNow, BookedEndAt: bookingNow.Add(12 * time.Hour)}
	if trip.MarkOverdue(bookingNow.Add(12 * time.Hour)) {
		t.Fatal("overdue at the limit itself")
	}
	if !trip.MarkOverdue(bookingNow.Add(12*time.Hour + time.Second)) {
		t.Fatal("not overdue past the limit")
	}
	if trip.MarkOverdue(bookingNow.Add(13 * time.Hour)) {
		t.Fatal("flagged twice")
	}
	ended := Trip{State: TripEnded, BookedEndAt: bookingNow}
	if ended.Overdue(bookingNow.Add(time.Hour)) {
		t.Fatal("an ended trip is not overdue")
	}
}

func TestCheckReturn(t *testing.T) {
	inBay := ReturnPlace{BayID: "b1", EndingAllowed: true}
	tests := []struct {
		name          string
		vt            VehicleType
		place         ReturnPlace
		known, plug   bool
		photos        int
		wrong, reward bool
		accepted      bool
		problems      []string
	}{
		{"scooter in a bay with a photo", EScooter, inBay, true, false, 1, false, false, true, nil},
		{"scooter outside any bay", EScooter, ReturnPlace{EndingAllowed: true}, true, false, 1, true, false, false, []string{ReturnOutsideBay}},
		{"scooter in a bay inside a no-parking zone", EScooter, ReturnPlace{BayID: "b1"}, true, false, 1, true, false, false, []string{ReturnZoneForbids}},
		{"scooter in an under-served bay", EBike, ReturnPlace{BayID: "b2", UnderServed: true, EndingAllowed: true}, true, false, 2, false, true, true, nil},
		{"car in a bay, plugged in", Car, ReturnPlace{BayID: "b3"}, true, true, 1, false, false, true, nil},
		{"car in a bay, not plugged in", Van, ReturnPlace{BayID: "b3"}, true, false, 1, false, false, false, []string{ReturnNotPluggedIn}},
		{"no photo", EScooter, inBay, true, false, 0, false, false, false, []string{ReturnNoPhoto}},
		{"position unknown", EScooter, inBay, false, false, 1, true, false, false, []string{ReturnPositionMissed, ReturnOutsideBay, ReturnZoneForbids}},
		{"under-served but outside the bay earns nothing", Car, ReturnPlace{UnderServed: true}, true, true, 1, true, false, false, []string{ReturnOutsideBay}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := CheckReturn(tt.vt, tt.place, tt.known, tt.plug, tt.photos)
			if c.WrongLocation != tt.wrong || c.Reward != tt.reward || c.Accepted != tt.accepted || !slices.Equal(c.Problems, tt.problems) {
				t.Fatalf("check = %+v, want wrong=%v reward=%v accepted=%v problems=%v", c, tt.wrong, tt.reward, tt.accepted, tt.problems)
			}
			if (c.PluggedIn != nil) == tt.vt.Micromobility() {
				t.Fatalf("plugged_in recorded for %s: %v", tt.vt, c.PluggedIn)
			}
		})
	}
}
