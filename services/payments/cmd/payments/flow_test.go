package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/kafka"
	"github.com/mobilitycorp/platform/pkg/service/servicetest"
)

// Driven only through Kafka like booking drives it: a trip start places a hold, a
// trip end (delivered twice) is captured once, the capture is announced on
// payments.events and the ledger balances.
func TestTripIsCapturedOnceThroughKafka(t *testing.T) {
	s := servicetest.Start(t, envPrefix, run, nil)
	kcfg := kafka.Config{Brokers: strings.Split(s.Env[envPrefix+"KAFKA_BROKERS"], ",")}
	producer, err := kafka.NewProducer(kcfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	ctx := context.Background()
	at := time.Now().UTC().Add(-20 * time.Minute)

	started, err := events.New(events.TypeTripStartedV1, events.SourceBooking, "trip-42", events.TripStartedV1{
		TripID: "trip-42", CustomerID: "c-7", VehicleID: "v-1", VehicleType: events.VehicleEScooter, StartedAt: at})
	if err != nil {
		t.Fatal(err)
	}
	ended, err := events.New(events.TypeTripEndedV1, events.SourceBooking, "trip-42", events.TripEndedV1{
		TripID: "trip-42", CustomerID: "c-7", VehicleID: "v-1", VehicleType: events.VehicleEScooter,
		StartedAt: at, EndedAt: at.Add(17 * time.Minute), DurationSeconds: 1020,
		Price: events.Money{AmountMinor: 612, Currency: "EUR"}, EndedInBay: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []events.Event{started, ended, ended} { // the end is redelivered
		if err := producer.Produce(ctx, events.ToRecord(events.TopicBookingTrips, "trip-42", e)); err != nil {
			t.Fatal(err)
		}
	}

	deadline := time.Now().Add(30 * time.Second)
	for {
		var captured, published int
		err := s.DB.QueryRow(ctx, `SELECT count(*), count(published_at) FROM outbox WHERE headers->>'ce_type' = $1`,
			events.TypePaymentCapturedV1).Scan(&captured, &published)
		if err != nil {
			t.Fatal(err)
		}
		if captured == 1 && published == 1 {
			break
		}
		if captured > 1 {
			t.Fatalf("%d capture events for one trip", captured)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no published capture event after 30s (captured=%d published=%d)", captured, published)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var clearing, receivable int64
	if err := s.DB.QueryRow(ctx, `SELECT
		coalesce(sum(amount_minor) FILTER (WHERE account = 'gateway:clearing'), 0),
		coalesce(sum(amount_minor) FILTER (WHERE account = 'customer:c-7:receivable'), 0)
		FROM journal_lines l JOIN journal_entries e ON e.id = l.entry_id WHERE e.status = 'posted'`).Scan(&clearing, &receivable); err != nil {
		t.Fatal(err)
	}
	if clearing != 612 || receivable != 0 {
		t.Fatalf("ledger: clearing %d, receivable %d; want 612 captured and nothing owed", clearing, receivable)
	}
}
