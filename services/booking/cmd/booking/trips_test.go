package main

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
)

// A trip start sends unlock on vehicle.commands and completes when the
// matching ack arrives on vehicle.command-acks: only then is TripStartedV1
// (which makes payments hold money) published. The whole rental follows:
// one active trip per customer, a photo, the end in a bay (lock command,
// final price, return checks, events for payments and the photo check) and
// feedback reporting a fault, which sends the vehicle to maintenance.
func TestTripStartsOnUnlockAckAndEndsInBay(t *testing.T) {
	e := bkStart(t, nil, true)
	e.city()
	scooter := e.vehicle(domain.EScooter, bkBayPoint, 30)
	other := e.vehicle(domain.EScooter, bkBayPoint, 30)
	rider := e.customer("rider-1", 25, false)

	var tr bkTrip
	e.call("POST", "/v1/trips", rider, map[string]any{"vehicle_id": scooter}, http.StatusAccepted, &tr)
	if tr.State != "unlocking" || tr.VehicleID != scooter {
		t.Fatalf("started trip %+v, want unlocking", tr)
	}
	unlock := e.command(tr.ID, events.CommandUnlock)
	if unlock.VehicleID != scooter || unlock.RequestedBy != "booking" || !unlock.ExpiresAt.After(unlock.IssuedAt) {
		t.Fatalf("unlock command %+v", unlock)
	}
	// Nothing starts without the vehicle's answer; a foreign command's ack changes nothing.
	e.ack(events.VehicleCommandIssuedV1{CommandID: "ops-cmd-1", VehicleID: scooter, Kind: events.CommandUnlock}, events.CommandExecuted)
	time.Sleep(300 * time.Millisecond)
	if got := e.trip(tr.ID, rider); got.State != "unlocking" {
		t.Fatalf("trip %s before the vehicle answered", got.State)
	}
	if n := len(e.events(events.TopicBookingTrips, events.TypeTripStartedV1)); n != 0 {
		t.Fatalf("%d TripStartedV1 before the unlock was confirmed", n)
	}
	e.ack(unlock, events.CommandExecuted)
	active := e.waitTrip(tr.ID, rider, "active")
	if active.Price == nil || active.PriceFinal {
		t.Fatalf("active trip shows no running price: %+v", active)
	}
	started := bkWaitEvent(e, events.TopicBookingTrips, events.TypeTripStartedV1, func(s events.TripStartedV1) bool { return s.TripID == tr.ID })
	if started.CustomerID != "rider-1" || started.VehicleID != scooter || started.StartLat != bkBayPoint.Lat {
		t.Fatalf("TripStartedV1 %+v", started)
	}

	// One active trip per customer, unless staff allow another.
	e.call("POST", "/v1/trips", rider, map[string]any{"vehicle_id": other}, http.StatusConflict, nil)
	e.call("POST", "/v1/trips", rider, map[string]any{"vehicle_id": other, "allow_concurrent": true}, http.StatusForbidden, nil)
	e.call("POST", "/v1/trips", e.staff, map[string]any{"vehicle_id": other, "customer_id": "rider-1", "allow_concurrent": true},
		http.StatusAccepted, nil)
	// Nobody else can take the scooter in use.
	e.call("POST", "/v1/trips", e.customer("rider-2", 30, false), map[string]any{"vehicle_id": scooter}, http.StatusConflict, nil)

	var photo struct {
		Key string `json:"key"`
	}
	e.call("POST", "/v1/trips/"+tr.ID+"/photos", rider, bkMultipartPhoto(t, bkJPEG("one")), http.StatusCreated, &photo)
	e.call("POST", "/v1/trips/"+tr.ID+"/photos", rider, &bkRaw{contentType: "image/jpeg", data: bkJPEG("one")}, http.StatusOK, nil)
	e.call("POST", "/v1/trips/"+tr.ID+"/photos", rider, &bkRaw{contentType: "image/png", data: []byte("not an image")}, http.StatusUnprocessableEntity, nil)

	var ended bkTrip
	e.call("POST", "/v1/trips/"+tr.ID+"/end", rider, nil, http.StatusOK, &ended)
	if ended.State != "ended" || !ended.PriceFinal || ended.Price == nil || ended.Price.AmountMinor != 130 || ended.Price.Currency != "EUR" {
		t.Fatalf("ended trip %+v (Berlin scooter: 1.00 unlock + 0.30 for the first minute)", ended)
	}
	if ended.Return == nil || !ended.Return.InBay || !ended.Return.Accepted || ended.Return.WrongLocation || len(ended.Fines) != 0 {
		t.Fatalf("return check %+v fines %+v", ended.Return, ended.Fines)
	}
	e.command(tr.ID, events.CommandLock)
	endedEv := bkWaitEvent(e, events.TopicBookingTrips, events.TypeTripEndedV1, func(v events.TripEndedV1) bool { return v.TripID == tr.ID })
	if !endedEv.EndedInBay || endedEv.Price.AmountMinor != 130 || endedEv.BayID == "" {
		t.Fatalf("TripEndedV1 %+v", endedEv)
	}
	photos := bkWaitEvent(e, events.TopicBookingReturns, events.TypeReturnPhotosSubmittedV1, func(v events.ReturnPhotosSubmittedV1) bool { return v.TripID == tr.ID })
	checked := bkWaitEvent(e, events.TopicBookingReturns, events.TypeReturnCheckedV1, func(v events.ReturnCheckedV1) bool { return v.TripID == tr.ID })
	if !slices.Equal(photos.PhotoKeys, []string{photo.Key}) || !checked.Accepted || !checked.InBay {
		t.Fatalf("photos %+v, check %+v", photos, checked)
	}
	e.call("POST", "/v1/trips/"+tr.ID+"/end", rider, nil, http.StatusConflict, nil)

	// The scooter is offered again; a reported fault takes it out of service.
	e.waitOffered(scooter, domain.EScooter, bkBayPoint)
	var fb struct {
		FaultReportedAt *time.Time `json:"fault_reported_at"`
	}
	e.call("POST", "/v1/trips/"+tr.ID+"/feedback", rider, map[string]any{"rating": 2,
		"fault": map[string]any{"category": "brakes", "description": "rear brake weak"}}, http.StatusCreated, &fb)
	if fb.FaultReportedAt == nil {
		t.Fatal("fault not reported to the fleet registry")
	}
	var v struct {
		Status string `json:"status"`
	}
	e.call("GET", "/v1/vehicles/"+scooter, e.staff, nil, http.StatusOK, &v)
	if v.Status != "maintenance" {
		t.Fatalf("vehicle after a fault report is %q, want maintenance", v.Status)
	}
	e.call("POST", "/v1/trips", rider, map[string]any{"vehicle_id": scooter}, http.StatusConflict, nil)
	e.call("POST", "/v1/trips/"+tr.ID+"/feedback", rider, map[string]any{"rating": 5}, http.StatusConflict, nil)
	// Strangers do not see the trip.
	e.call("GET", "/v1/trips/"+tr.ID, e.customer("rider-3", 30, false), nil, http.StatusNotFound, nil)
}

// With no ack before the unlock timeout the trip fails: TripStartedV1 never
// appears (so payments never holds money), the vehicle is free again, and an
// unlock confirmed too late is answered with a lock.
func TestTripFailsWithoutUnlockAck(t *testing.T) {
	e := bkStart(t, map[string]string{"UNLOCK_TIMEOUT": "1s", "SCHEDULER_INTERVAL": "100ms"}, true)
	e.city()
	scooter := e.vehicle(domain.EScooter, bkBayPoint, 30)
	rider := e.customer("rider-1", 25, false)

	var tr bkTrip
	e.call("POST", "/v1/trips", rider, map[string]any{"vehicle_id": scooter}, http.StatusAccepted, &tr)
	unlock := e.command(tr.ID, events.CommandUnlock)
	failed := e.waitTrip(tr.ID, rider, "failed")
	if failed.FailureReason == "" || failed.Price != nil {
		t.Fatalf("failed trip %+v", failed)
	}
	if time.Now().Before(tr.UnlockExpiresAt) {
		t.Fatal("failed before the unlock timeout")
	}

	// The late ack: the vehicle is locked again and the trip stays failed.
	e.ack(unlock, events.CommandExecuted)
	e.command(tr.ID, events.CommandLock)
	if got := e.trip(tr.ID, rider); got.State != "failed" {
		t.Fatalf("late ack turned the trip %s", got.State)
	}
	for _, ev := range e.events(events.TopicBookingTrips, "") {
		if ev.Type == events.TypeTripStartedV1 || ev.Type == events.TypeTripEndedV1 {
			t.Fatalf("%s published for a trip that never started", ev.Type)
		}
	}
	// The customer and the vehicle are free: a new attempt is accepted.
	e.waitOffered(scooter, domain.EScooter, bkBayPoint)
	var again bkTrip
	e.call("POST", "/v1/trips", rider, map[string]any{"vehicle_id": scooter}, http.StatusAccepted, &again)
	e.ack(e.command(again.ID, events.CommandUnlock), events.CommandRejected)
	e.waitTrip(again.ID, rider, "failed")
}

// A return outside a bay still ends the trip but is fined; a return to an
// under-served bay is rewarded; a refused payment hold ends a running trip;
// a captured payment settles it.
func TestReturnsFinesRewardsAndPayments(t *testing.T) {
	e := bkStart(t, nil, true)
	e.city()
	rider := e.customer("rider-1", 25, false)

	street := e.vehicle(domain.EBike, bkStreetPoint, 30)
	tr := e.startActive(rider, street)
	var ended bkTrip
	e.call("POST", "/v1/trips/"+tr.ID+"/end", rider, nil, http.StatusOK, &ended)
	if ended.State != "ended" || ended.Return == nil || !ended.Return.WrongLocation || len(ended.Fines) != 1 || ended.Fines[0].Amount.AmountMinor != 2500 {
		t.Fatalf("trip ended on the street: %+v", ended)
	}
	fine := bkWaitEvent(e, events.TopicBookingTrips, events.TypeFineIssuedV1, func(f events.FineIssuedV1) bool { return f.TripID == tr.ID })
	if fine.Reason != events.FineWrongLocation || fine.Amount.AmountMinor != 2500 || fine.CustomerID != "rider-1" {
		t.Fatalf("fine %+v", fine)
	}

	good := e.vehicle(domain.EBike, bkRewardPoint, 30)
	tr2 := e.startActive(rider, good)
	e.call("POST", "/v1/trips/"+tr2.ID+"/photos", rider, &bkRaw{contentType: "image/jpeg", data: bkJPEG("two")}, http.StatusCreated, nil)
	var rewarded bkTrip
	e.call("POST", "/v1/trips/"+tr2.ID+"/end", rider, nil, http.StatusOK, &rewarded)
	if !rewarded.Return.Reward || len(rewarded.Rewards) != 1 || rewarded.Rewards[0].Amount.AmountMinor != 200 || len(rewarded.Fines) != 0 {
		t.Fatalf("return to an under-served bay: %+v", rewarded)
	}
	bkWaitEvent(e, events.TopicBookingTrips, events.TypeRewardGrantedV1, func(r events.RewardGrantedV1) bool { return r.TripID == tr2.ID })

	// payments captured the first trip: it is settled.
	e.produce(events.TopicPaymentsEvents, "pay-1", events.TypePaymentCapturedV1, events.SourcePayments, events.PaymentCapturedV1{
		PaymentID: "pay-1", CustomerID: "rider-1", TripID: tr.ID, Amount: events.Money{AmountMinor: ended.Price.AmountMinor, Currency: "EUR"},
		CapturedAt: time.Now().UTC(), Kind: events.PaymentKindTrip})
	e.eventually("trip settled", func() bool { return e.trip(tr.ID, rider).Settled })

	// payments could not hold money for a running trip: booking ends it and locks the vehicle.
	third := e.vehicle(domain.EScooter, bkBayPoint, 30)
	tr3 := e.startActive(rider, third)
	e.produce(events.TopicPaymentsEvents, "pay-3", events.TypePaymentAuthorisationFailedV1, events.SourcePayments, events.PaymentFailedV1{
		PaymentID: "pay-3", CustomerID: "rider-1", TripID: tr3.ID, Amount: events.Money{AmountMinor: 1000, Currency: "EUR"},
		Stage: "authorise", Code: "card_declined", FailedAt: time.Now().UTC()})
	declined := e.waitTrip(tr3.ID, rider, "ended")
	if declined.EndReason != "payment_declined" || len(declined.Fines) != 0 {
		t.Fatalf("trip after a refused hold: %+v", declined)
	}
	e.command(tr3.ID, events.CommandLock)

	// A refused pre-authorisation of a reservation cancels it, free of charge.
	var r bkReservation
	e.call("POST", "/v1/reservations", rider, map[string]any{"vehicle_id": e.vehicle(domain.EScooter, bkBayPoint, 30)}, http.StatusCreated, &r)
	e.produce(events.TopicPaymentsEvents, "pay-4", events.TypePaymentAuthorisationFailedV1, events.SourcePayments, events.PaymentFailedV1{
		PaymentID: "pay-4", CustomerID: "rider-1", ReservationID: r.ID, Amount: events.Money{AmountMinor: 500, Currency: "EUR"},
		Stage: "authorise", Code: "card_declined", FailedAt: time.Now().UTC()})
	cancelled := bkWaitEvent(e, events.TopicBookingReservations, events.TypeReservationCancelledV1, func(c events.ReservationCancelledV1) bool {
		return c.ReservationID == r.ID
	})
	if cancelled.Fee != nil || cancelled.CancelledBy != "operations" {
		t.Fatalf("cancellation after a refused hold: %+v", cancelled)
	}
}
