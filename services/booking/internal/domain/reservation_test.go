package domain

import (
	"errors"
	"testing"
	"time"
)

var bookingNow = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func TestNewReservationRules(t *testing.T) {
	rules := DefaultBookingRules()
	car := func(start, end time.Duration, km float64) ReservationRequest {
		return ReservationRequest{CustomerID: "c1", VehicleID: "v1", VehicleType: Car, PlannedDistanceKm: km,
			StartAt: bookingNow.Add(start), EndAt: bookingNow.Add(end)}
	}
	bike := func(start time.Duration) ReservationRequest {
		return ReservationRequest{CustomerID: "c1", VehicleID: "v1", VehicleType: EBike, StartAt: bookingNow.Add(start)}
	}
	tests := []struct {
		name       string
		req        ReservationRequest
		wantErr    error
		wantEnd    time.Time
		wantExpiry time.Time
	}{
		{"car in 7 days for 2 h", car(7*24*time.Hour, 7*24*time.Hour+2*time.Hour, 40), nil,
			bookingNow.Add(7*24*time.Hour + 2*time.Hour), bookingNow.Add(7*24*time.Hour + 15*time.Minute)},
		{"car more than 7 days ahead", car(7*24*time.Hour+time.Minute, 8*24*time.Hour, 40), ErrInvalid, time.Time{}, time.Time{}},
		{"car without an end", ReservationRequest{CustomerID: "c1", VehicleID: "v1", VehicleType: Van, PlannedDistanceKm: 10}, ErrInvalid, time.Time{}, time.Time{}},
		{"car end before start", car(time.Hour, 30*time.Minute, 40), ErrInvalid, time.Time{}, time.Time{}},
		{"car shorter than the minimum", car(0, 5*time.Minute, 40), ErrInvalid, time.Time{}, time.Time{}},
		{"car without planned distance", car(0, time.Hour, 0), ErrInvalid, time.Time{}, time.Time{}},
		{"car in the past", car(-time.Hour, time.Hour, 10), ErrInvalid, time.Time{}, time.Time{}},
		{"bike now, open-ended 12 h, expires after 10 min", bike(0), nil, bookingNow.Add(12 * time.Hour), bookingNow.Add(10 * time.Minute)},
		{"bike 30 min ahead", bike(30 * time.Minute), nil, bookingNow.Add(30*time.Minute + 12*time.Hour), bookingNow.Add(40 * time.Minute)},
		{"bike 31 min ahead", bike(31 * time.Minute), ErrInvalid, time.Time{}, time.Time{}},
		{"bike with an end", ReservationRequest{CustomerID: "c1", VehicleID: "v1", VehicleType: EScooter, EndAt: bookingNow.Add(time.Hour)}, ErrInvalid, time.Time{}, time.Time{}},
		{"start a little in the past is now", bike(-30 * time.Second), nil, bookingNow.Add(12 * time.Hour), bookingNow.Add(10 * time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := rules.NewReservation("r1", tt.req, bookingNow)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !res.EndAt.Equal(tt.wantEnd) || !res.HoldUntil.Equal(tt.wantEnd) || !res.ExpiresAt.Equal(tt.wantExpiry) {
				t.Fatalf("end %s hold %s expiry %s, want end %s expiry %s", res.EndAt, res.HoldUntil, res.ExpiresAt, tt.wantEnd, tt.wantExpiry)
			}
			if res.Status != ReservationHeld || res.StartAt.Before(bookingNow) {
				t.Fatalf("status %s start %s", res.Status, res.StartAt)
			}
		})
	}
}

func TestCheckRange(t *testing.T) {
	rules := DefaultBookingRules() // 20 % margin
	tests := []struct {
		name             string
		planned, rangeKm float64
		known, ok        bool
	}{
		{"range covers distance and margin", 100, 120, true, true},
		{"range covers distance but not the margin", 100, 119.9, true, false},
		{"range below distance", 100, 80, true, false},
		{"no telemetry", 10, 0, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := rules.CheckRange(tt.planned, tt.rangeKm, tt.known)
			if (err == nil) != tt.ok {
				t.Fatalf("CheckRange = %v, want ok=%v", err, tt.ok)
			}
			if err == nil {
				return
			}
			var short *RangeShortfall
			if !errors.As(err, &short) || !errors.Is(err, ErrPrecondition) {
				t.Fatalf("error %v is not a RangeShortfall/ErrPrecondition", err)
			}
			if short.RequiredKm != tt.planned*1.2 || short.PlannedKm != tt.planned {
				t.Fatalf("numbers %+v", short)
			}
		})
	}
}

func TestCancellationFeeWindow(t *testing.T) {
	rules := DefaultBookingRules()
	res := Reservation{ID: "r1", Status: ReservationHeld, CreatedAt: bookingNow}
	tests := []struct {
		name   string
		after  time.Duration
		by     string
		waived bool
		want   bool
	}{
		{"customer within 10 minutes", 10 * time.Minute, CancelledByCustomer, false, false},
		{"customer after 10 minutes", 10*time.Minute + time.Second, CancelledByCustomer, false, true},
		{"operations after 10 minutes", time.Hour, CancelledByOperations, false, false},
		{"waived after a failed unlock", time.Hour, CancelledByCustomer, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := res
			r.FeeWaived = tt.waived
			if got := rules.CancellationFeeDue(r, bookingNow.Add(tt.after), tt.by); got != tt.want {
				t.Fatalf("fee due = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestReservationTransitions(t *testing.T) {
	rules := DefaultBookingRules()
	car, err := rules.NewReservation("r1", ReservationRequest{CustomerID: "c1", VehicleID: "v1", VehicleType: Car,
		StartAt: bookingNow.Add(time.Hour), EndAt: bookingNow.Add(3 * time.Hour), PlannedDistanceKm: 20}, bookingNow)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("extend a car", func(t *testing.T) {
		r := car
		if err := rules.Extend(&r, bookingNow.Add(5*time.Hour), bookingNow); err != nil {
			t.Fatal(err)
		}
		if !r.EndAt.Equal(bookingNow.Add(5*time.Hour)) || !r.HoldUntil.Equal(r.EndAt) {
			t.Fatalf("end %s hold %s", r.EndAt, r.HoldUntil)
		}
		if err := rules.Extend(&r, bookingNow.Add(4*time.Hour), bookingNow); !errors.Is(err, ErrInvalid) {
			t.Fatalf("shortening = %v, want ErrInvalid", err)
		}
	})
	t.Run("bikes are not extended", func(t *testing.T) {
		r := Reservation{VehicleType: EScooter, Status: ReservationHeld, EndAt: bookingNow.Add(time.Hour)}
		if err := rules.Extend(&r, bookingNow.Add(2*time.Hour), bookingNow); !errors.Is(err, ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
	})
	t.Run("expire only after the grace period", func(t *testing.T) {
		r := car
		if err := r.Expire(bookingNow.Add(time.Hour + 14*time.Minute)); !errors.Is(err, ErrConflict) {
			t.Fatalf("early expiry = %v", err)
		}
		if err := r.Expire(bookingNow.Add(time.Hour + 15*time.Minute)); err != nil || r.Status != ReservationExpired {
			t.Fatalf("expiry = %v, status %s", err, r.Status)
		}
	})
	t.Run("early start moves the hold's start", func(t *testing.T) {
		r := car
		if err := rules.BeginTrip(&r, "t1", bookingNow.Add(30*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if !r.StartAt.Equal(bookingNow.Add(30*time.Minute)) || r.Status != ReservationInTrip || r.TripID != "t1" {
			t.Fatalf("after begin: %+v", r)
		}
	})
	t.Run("no start after expiry", func(t *testing.T) {
		r := car
		if err := rules.BeginTrip(&r, "t1", r.ExpiresAt); !errors.Is(err, ErrConflict) {
			t.Fatalf("late start = %v, want ErrConflict", err)
		}
	})
	t.Run("a failed unlock gives the reservation back, fee waived", func(t *testing.T) {
		r := car
		_ = rules.BeginTrip(&r, "t1", bookingNow.Add(time.Hour))
		r.TripFailed(bookingNow.Add(time.Hour))
		if r.Status != ReservationHeld || !r.FeeWaived || r.TripID != "" {
			t.Fatalf("after failed unlock: %+v", r)
		}
	})
	t.Run("a failed walk-up releases the vehicle", func(t *testing.T) {
		h, err := rules.NewWalkUpHold("h1", "c1", "v1", EScooter, "berlin", bookingNow)
		if err != nil {
			t.Fatal(err)
		}
		h.TripFailed(bookingNow)
		if h.Status.Active() {
			t.Fatalf("walk-up hold still %s", h.Status)
		}
	})
	t.Run("cars need a reservation", func(t *testing.T) {
		if _, err := rules.NewWalkUpHold("h1", "c1", "v1", Car, "berlin", bookingNow); !errors.Is(err, ErrInvalid) {
			t.Fatalf("walk-up car = %v", err)
		}
	})
	t.Run("completion frees the rest of the slot", func(t *testing.T) {
		r := car
		_ = rules.BeginTrip(&r, "t1", bookingNow.Add(time.Hour))
		r.Complete(bookingNow.Add(90 * time.Minute))
		if r.Status.Active() || !r.HoldUntil.Equal(bookingNow.Add(90*time.Minute)) {
			t.Fatalf("after completion: %+v", r)
		}
	})
	t.Run("cancel only while held", func(t *testing.T) {
		r := car
		if err := r.Cancel(bookingNow, CancelledByCustomer, "", nil); err != nil {
			t.Fatal(err)
		}
		if err := r.Cancel(bookingNow, CancelledByCustomer, "", nil); !errors.Is(err, ErrConflict) {
			t.Fatalf("second cancel = %v", err)
		}
	})
}
