package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
)

// bkOverlaps counts pairs of active holds of one vehicle that overlap: the
// database must never hold one.
func bkOverlaps(t testing.TB, e *bkEnv) int {
	t.Helper()
	var n int
	if err := e.svc.DB.QueryRow(context.Background(), `SELECT count(*) FROM reservations a JOIN reservations b
		ON a.vehicle_id = b.vehicle_id AND a.id < b.id AND a.during && b.during
		WHERE a.status IN ('held', 'in_trip') AND b.status IN ('held', 'in_trip')`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// 50 concurrent attempts to reserve the same car for overlapping times:
// exactly one 201, the rest 409, and the database never holds an overlap.
func TestConcurrentReservationsOfOneVehicle(t *testing.T) {
	e := bkStart(t, nil, true)
	e.city()
	car := e.vehicle(domain.Car, bkBayPoint, 300)
	const n = 50
	tokens := make([]string, n)
	for i := range n {
		tokens[i] = e.customer(fmt.Sprintf("driver-%02d", i), 30, true)
	}
	base := time.Now().UTC().Add(2 * time.Hour).Truncate(time.Minute)
	statuses := make([]int, n)
	bodies := make([][]byte, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			// Every window overlaps every other one (they all cover base+1h).
			statuses[i], bodies[i] = e.send("POST", "/v1/reservations", tokens[i], map[string]any{
				"vehicle_id": car, "start_at": base.Add(time.Duration(i) * time.Minute),
				"end_at": base.Add(90*time.Minute + time.Duration(i)*time.Minute), "planned_distance_km": 50})
		})
	}
	close(start)
	wg.Wait()
	created, conflicts := 0, 0
	for i, s := range statuses {
		switch s {
		case http.StatusCreated:
			created++
		case http.StatusConflict:
			conflicts++
		default:
			t.Errorf("attempt %d: %d %s", i, s, bodies[i])
		}
	}
	if created != 1 || conflicts != n-1 {
		t.Fatalf("%d created, %d conflicts; want 1 and %d", created, conflicts, n-1)
	}
	if o := bkOverlaps(t, e); o != 0 {
		t.Fatalf("%d overlapping holds in the database", o)
	}
	var active int
	if err := e.svc.DB.QueryRow(context.Background(), `SELECT count(*) FROM reservations WHERE vehicle_id = $1 AND status = 'held'`, car).Scan(&active); err != nil || active != 1 {
		t.Fatalf("%d held reservations of the car (%v), want 1", active, err)
	}
	// Refused attempts publish nothing: one ReservationCreatedV1.
	e.eventually("one reservation created event", func() bool {
		return len(e.events(events.TopicBookingReservations, events.TypeReservationCreatedV1)) == 1
	})
}

type bkReservation struct {
	ID              string        `json:"id"`
	Status          string        `json:"status"`
	StartAt         time.Time     `json:"start_at"`
	EndAt           time.Time     `json:"end_at"`
	ExpiresAt       time.Time     `json:"expires_at"`
	CancellationFee *domain.Money `json:"cancellation_fee"`
	TripID          string        `json:"trip_id"`
}

// Every booking rule, through the API: who may book (age, licence, blocked),
// how far ahead and how long, range against planned distance, maintenance,
// overlaps, extensions, cancellation fees, expiry, and listing one's own.
func TestReservationRules(t *testing.T) {
	e := bkStart(t, map[string]string{"FREE_CANCELLATION_WINDOW": "3s", "RESERVATION_GRACE_PERIOD": "1s", "SCHEDULER_INTERVAL": "100ms"}, true)
	e.city()
	car := e.vehicle(domain.Car, bkBayPoint, 100) // 100 km of range left
	car2 := e.vehicle(domain.Car, bkBayPoint, 300)
	scooter := e.vehicle(domain.EScooter, bkBayPoint, 30)
	scooter2 := e.vehicle(domain.EScooter, bkBayPoint, 30)
	driver := e.customer("driver", 30, true)
	teen := e.customer("teen", 16, false) // sign-up refuses anyone younger

	seventeen := e.customer("seventeen", 17, true)
	unlicensed := e.customer("unlicensed", 30, false)
	blocked := e.customer("blocked", 30, true)
	e.call("POST", "/v1/customers/blocked/block", e.admin, map[string]any{"reason": "fraud"}, http.StatusOK, nil)

	now := time.Now().UTC()
	carBody := func(vehicle string, start, end time.Duration, km float64) map[string]any {
		return map[string]any{"vehicle_id": vehicle, "start_at": now.Add(start), "end_at": now.Add(end), "planned_distance_km": km}
	}
	tests := []struct {
		name   string
		token  string
		body   map[string]any
		status int
	}{
		{"blocked customer", blocked, carBody(car2, time.Hour, 2*time.Hour, 10), http.StatusForbidden},
		{"16-year-old in a car", teen, carBody(car2, time.Hour, 2*time.Hour, 10), http.StatusForbidden},
		{"17-year-old in a car", seventeen, carBody(car2, time.Hour, 2*time.Hour, 10), http.StatusForbidden},
		{"car without a verified licence", unlicensed, carBody(car2, time.Hour, 2*time.Hour, 10), http.StatusForbidden},
		{"booking for another customer", driver, map[string]any{"vehicle_id": scooter, "customer_id": "teen"}, http.StatusForbidden},
		{"range short of distance plus margin", driver, carBody(car, time.Hour, 2*time.Hour, 90), http.StatusUnprocessableEntity},
		{"car more than 7 days ahead", driver, carBody(car2, 7*24*time.Hour+time.Hour, 7*24*time.Hour+2*time.Hour, 10), http.StatusUnprocessableEntity},
		{"car without an end", driver, map[string]any{"vehicle_id": car2, "planned_distance_km": 10}, http.StatusUnprocessableEntity},
		{"car without a planned distance", driver, map[string]any{"vehicle_id": car2, "end_at": now.Add(time.Hour)}, http.StatusUnprocessableEntity},
		{"scooter 31 minutes ahead", driver, map[string]any{"vehicle_id": scooter, "start_at": now.Add(31 * time.Minute)}, http.StatusUnprocessableEntity},
		{"scooter with an end", driver, map[string]any{"vehicle_id": scooter, "end_at": now.Add(time.Hour)}, http.StatusUnprocessableEntity},
		{"unknown vehicle", driver, map[string]any{"vehicle_id": "no-such-vehicle"}, http.StatusNotFound},
		{"range covers distance plus margin", driver, carBody(car, time.Hour, 2*time.Hour, 80), http.StatusCreated},
		{"overlapping the booking", driver, carBody(car, 90*time.Minute, 3*time.Hour, 10), http.StatusConflict},
		{"right after the booking", driver, carBody(car, 2*time.Hour, 3*time.Hour, 10), http.StatusCreated},
		{"scooter 30 minutes ahead", driver, map[string]any{"vehicle_id": scooter, "start_at": now.Add(30 * time.Minute)}, http.StatusCreated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := e.send("POST", "/v1/reservations", tt.token, tt.body)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, body)
			}
		})
	}

	t.Run("a range shortfall says the numbers", func(t *testing.T) {
		status, body := e.send("POST", "/v1/reservations", driver, carBody(car, 4*time.Hour, 5*time.Hour, 90))
		var p struct {
			Type       string  `json:"type"`
			Planned    float64 `json:"planned_distance_km"`
			Range      float64 `json:"estimated_range_km"`
			Required   float64 `json:"required_range_km"`
			Margin     float64 `json:"range_margin"`
			RangeKnown bool    `json:"range_known"`
		}
		_ = json.Unmarshal(body, &p)
		if status != http.StatusUnprocessableEntity || p.Planned != 90 || p.Range != 100 || p.Required != 108 || p.Margin != 0.2 || !p.RangeKnown {
			t.Fatalf("%d %s", status, body)
		}
		// A human may decide the edge case: staff override, for the customer.
		e.call("POST", "/v1/reservations", e.staff, map[string]any{"vehicle_id": car, "customer_id": "driver",
			"start_at": now.Add(4 * time.Hour), "end_at": now.Add(5 * time.Hour), "planned_distance_km": 90, "range_override": true},
			http.StatusCreated, nil)
		body2 := carBody(car, 6*time.Hour, 7*time.Hour, 90)
		body2["range_override"] = true
		e.call("POST", "/v1/reservations", driver, body2, http.StatusForbidden, nil)
	})

	t.Run("a vehicle in maintenance is not bookable", func(t *testing.T) {
		e.call("PATCH", "/v1/vehicles/"+scooter2, e.staff, map[string]any{"status": "maintenance", "maintenance_note": "flat tyre"}, http.StatusOK, nil)
		e.call("POST", "/v1/reservations", driver, map[string]any{"vehicle_id": scooter2}, http.StatusConflict, nil)
	})

	t.Run("extend while the car is free, not into the next booking", func(t *testing.T) {
		var r bkReservation
		e.call("POST", "/v1/reservations", driver, carBody(car2, 24*time.Hour, 25*time.Hour, 10), http.StatusCreated, &r)
		e.call("POST", "/v1/reservations", e.customer("next", 40, true), carBody(car2, 27*time.Hour, 28*time.Hour, 10), http.StatusCreated, nil)
		var ext bkReservation
		e.call("POST", "/v1/reservations/"+r.ID+"/extend", driver, map[string]any{"end_at": now.Add(27 * time.Hour)}, http.StatusOK, &ext)
		if !ext.EndAt.Equal(now.Add(27 * time.Hour)) {
			t.Fatalf("extended to %s", ext.EndAt)
		}
		e.call("POST", "/v1/reservations/"+r.ID+"/extend", driver, map[string]any{"end_at": now.Add(27*time.Hour + time.Minute)}, http.StatusConflict, nil)
	})

	t.Run("cancellation is free for the first window, then costs the fee", func(t *testing.T) {
		var free, paid bkReservation
		e.call("POST", "/v1/reservations", driver, carBody(car2, 30*time.Hour, 31*time.Hour, 10), http.StatusCreated, &free)
		e.call("POST", "/v1/reservations", driver, carBody(car2, 32*time.Hour, 33*time.Hour, 10), http.StatusCreated, &paid)
		var got bkReservation
		e.call("POST", "/v1/reservations/"+free.ID+"/cancel", driver, map[string]any{"reason": "changed plans"}, http.StatusOK, &got)
		if got.Status != "cancelled" || got.CancellationFee != nil {
			t.Fatalf("free cancellation %+v", got)
		}
		time.Sleep(3100 * time.Millisecond) // FREE_CANCELLATION_WINDOW=3s
		e.call("POST", "/v1/reservations/"+paid.ID+"/cancel", driver, nil, http.StatusOK, &got)
		if got.CancellationFee == nil || got.CancellationFee.AmountMinor != 300 || got.CancellationFee.Currency != "EUR" {
			t.Fatalf("late cancellation %+v, want Berlin's 3.00 EUR fee", got)
		}
		ev := bkWaitEvent(e, events.TopicBookingReservations, events.TypeReservationCancelledV1, func(c events.ReservationCancelledV1) bool {
			return c.ReservationID == paid.ID
		})
		if ev.Fee == nil || ev.Fee.AmountMinor != 300 || ev.CancelledBy != "customer" {
			t.Fatalf("ReservationCancelledV1 %+v", ev)
		}
		e.call("POST", "/v1/reservations/"+paid.ID+"/cancel", driver, nil, http.StatusConflict, nil)
	})

	t.Run("an unstarted reservation expires after the grace period", func(t *testing.T) {
		var r bkReservation
		e.call("POST", "/v1/reservations", driver, map[string]any{"vehicle_id": car2, "end_at": time.Now().Add(time.Hour),
			"planned_distance_km": 10}, http.StatusCreated, &r) // starts now
		e.eventually("reservation expired", func() bool {
			var got bkReservation
			e.call("GET", "/v1/reservations/"+r.ID, driver, nil, http.StatusOK, &got)
			return got.Status == "expired"
		})
		bkWaitEvent(e, events.TopicBookingReservations, events.TypeReservationExpiredV1, func(x events.ReservationExpiredV1) bool { return x.ReservationID == r.ID })
		e.call("POST", "/v1/trips", driver, map[string]any{"reservation_id": r.ID}, http.StatusConflict, nil)
	})

	t.Run("customers list and see only their own", func(t *testing.T) {
		var ids []string
		cursor := ""
		for range 20 {
			var page struct {
				Items      []bkReservation `json:"items"`
				NextCursor string          `json:"next_cursor"`
			}
			path := "/v1/reservations?mine&limit=2"
			if cursor != "" {
				path += "&cursor=" + cursor
			}
			e.call("GET", path, driver, nil, http.StatusOK, &page)
			for _, r := range page.Items {
				ids = append(ids, r.ID)
			}
			if cursor = page.NextCursor; cursor == "" {
				break
			}
		}
		var all struct {
			Items []bkReservation `json:"items"`
		}
		e.call("GET", "/v1/reservations?customer_id=driver&limit=100", e.staff, nil, http.StatusOK, &all)
		if len(ids) != len(all.Items) || len(ids) < 8 {
			t.Fatalf("paged %d reservations, staff see %d", len(ids), len(all.Items))
		}
		e.call("GET", "/v1/reservations/"+ids[0], teen, nil, http.StatusNotFound, nil)
		e.call("GET", "/v1/reservations?customer_id=driver", teen, nil, http.StatusForbidden, nil)
	})
	if o := bkOverlaps(t, e); o != 0 {
		t.Fatalf("%d overlapping holds", o)
	}
}

// A reserved scooter is started from its reservation; the reservation is
// then in the trip and nobody else can take the scooter.
func TestTripFromReservation(t *testing.T) {
	e := bkStart(t, nil, true)
	e.city()
	scooter := e.vehicle(domain.EScooter, bkBayPoint, 30)
	rider := e.customer("rider-1", 20, false)
	var r bkReservation
	e.call("POST", "/v1/reservations", rider, map[string]any{"vehicle_id": scooter}, http.StatusCreated, &r)
	e.call("POST", "/v1/trips", e.customer("rider-2", 20, false), map[string]any{"vehicle_id": scooter}, http.StatusConflict, nil)
	var tr bkTrip
	e.call("POST", "/v1/trips", rider, map[string]any{"reservation_id": r.ID}, http.StatusAccepted, &tr)
	if tr.ReservationID != r.ID {
		t.Fatalf("trip %+v not from reservation %s", tr, r.ID)
	}
	e.ack(e.command(tr.ID, events.CommandUnlock), events.CommandExecuted)
	e.waitTrip(tr.ID, rider, "active")
	var got bkReservation
	e.call("GET", "/v1/reservations/"+r.ID, rider, nil, http.StatusOK, &got)
	if got.Status != "in_trip" || got.TripID != tr.ID {
		t.Fatalf("reservation during the trip %+v", got)
	}
	started := bkWaitEvent(e, events.TopicBookingTrips, events.TypeTripStartedV1, func(s events.TripStartedV1) bool { return s.TripID == tr.ID })
	if started.ReservationID != r.ID {
		t.Fatalf("TripStartedV1 %+v", started)
	}
	e.call("POST", "/v1/reservations/"+r.ID+"/cancel", rider, nil, http.StatusConflict, nil)
}
