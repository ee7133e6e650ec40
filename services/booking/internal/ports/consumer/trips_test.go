package consumer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/kafka"
)

// tripCalls records what the consumers asked of trips and reservations.
type tripCalls struct {
	calls []string
	fail  error // returned by every call when set
}

func (c *tripCalls) OnCommandAck(_ context.Context, a events.VehicleCommandAckedV1) error {
	c.calls = append(c.calls, fmt.Sprintf("ack %s %s %s", a.CommandID, a.Kind, a.Outcome))
	return nil
}

func (c *tripCalls) EndForPayment(_ context.Context, tripID, code string) error {
	c.calls = append(c.calls, "end "+tripID+" "+code)
	return c.fail
}

func (c *tripCalls) OnPaymentCaptured(_ context.Context, _ string, tripID string, amount int64, _ time.Time) error {
	c.calls = append(c.calls, fmt.Sprintf("captured %s %d", tripID, amount))
	return c.fail
}

func (c *tripCalls) CancelForPayment(_ context.Context, reservationID, code string) error {
	c.calls = append(c.calls, "cancel "+reservationID+" "+code)
	return c.fail
}

func tripRecord(t *testing.T, topic, typ string, data any) *kgo.Record {
	t.Helper()
	ev, err := events.New(typ, "/test", "k", data)
	if err != nil {
		t.Fatal(err)
	}
	return events.ToRecord(topic, "k", ev)
}

func TestCommandAcksPassOnlyUnlockAndLockAnswers(t *testing.T) {
	var c tripCalls
	h := CommandAcks(&c)
	ack := func(kind events.CommandKind) *kgo.Record {
		return tripRecord(t, events.TopicVehicleCommandAcks, events.TypeVehicleCommandAckedV1,
			events.VehicleCommandAckedV1{CommandID: "c-" + string(kind), Kind: kind, Outcome: events.CommandExecuted})
	}
	for _, r := range []*kgo.Record{
		ack(events.CommandUnlock), ack(events.CommandLock), ack(events.CommandImmobilise),
		tripRecord(t, events.TopicVehicleCommandAcks, events.TypeVehicleTelemetryV1, events.VehicleTelemetryV1{VehicleID: "v"}),
	} {
		if err := h(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"ack c-unlock unlock executed", "ack c-lock lock executed"}
	if !slices.Equal(c.calls, want) {
		t.Fatalf("calls %q, want %q", c.calls, want)
	}
	if err := h(context.Background(), &kgo.Record{Topic: events.TopicVehicleCommandAcks, Value: []byte("garbage")}); !kafka.IsPermanent(err) {
		t.Fatalf("a record that is no CloudEvent = %v, want a permanent error (dead letter)", err)
	}
}

func TestPaymentEventsStopRentalsOnlyForRefusedHolds(t *testing.T) {
	var c tripCalls
	h := PaymentEvents(&c, &c)
	failed := func(typ, stage, trip, reservation string) *kgo.Record {
		return tripRecord(t, events.TopicPaymentsEvents, typ, events.PaymentFailedV1{
			PaymentID: "p", TripID: trip, ReservationID: reservation, Stage: stage, Code: "declined"})
	}
	captured := func(kind string) *kgo.Record {
		return tripRecord(t, events.TopicPaymentsEvents, events.TypePaymentCapturedV1, events.PaymentCapturedV1{
			PaymentID: "p", TripID: "t-" + kind, Kind: kind, Amount: events.Money{AmountMinor: 500, Currency: "EUR"}})
	}
	for _, r := range []*kgo.Record{
		failed(events.TypePaymentAuthorisationFailedV1, "authorise", "t1", ""),
		failed(events.TypePaymentAuthorisationFailedV1, "authorise", "", "r1"),
		failed(events.TypePaymentFailedV1, "authorise", "t2", ""), // the older spelling
		failed(events.TypePaymentFailedV1, "capture", "t3", ""),   // payments' to chase
		captured(events.PaymentKindTrip), captured(events.PaymentKindTripRemainder), captured(events.PaymentKindFine),
		tripRecord(t, events.TopicPaymentsEvents, events.TypePaymentRefundedV1, events.PaymentRefundedV1{PaymentID: "p", TripID: "t9"}),
	} {
		if err := h(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"end t1 declined", "cancel r1 declined", "end t2 declined", "captured t-trip 500", "captured t-trip_remainder 500"}
	if !slices.Equal(c.calls, want) {
		t.Fatalf("calls %q, want %q", c.calls, want)
	}
}

// A failure to act on a payment event must reach the consumer, which retries
// the record (and dead-letters it in the end) instead of committing past it.
func TestPaymentEventFailuresAreReturned(t *testing.T) {
	boom := errors.New("database down")
	c := tripCalls{fail: boom}
	h := PaymentEvents(&c, &c)
	for name, r := range map[string]*kgo.Record{
		"refused hold of a trip": tripRecord(t, events.TopicPaymentsEvents, events.TypePaymentAuthorisationFailedV1,
			events.PaymentFailedV1{PaymentID: "p", TripID: "t1", Stage: "authorise"}),
		"refused hold of a reservation": tripRecord(t, events.TopicPaymentsEvents, events.TypePaymentAuthorisationFailedV1,
			events.PaymentFailedV1{PaymentID: "p", ReservationID: "r1", Stage: "authorise"}),
		"capture": tripRecord(t, events.TopicPaymentsEvents, events.TypePaymentCapturedV1,
			events.PaymentCapturedV1{PaymentID: "p", TripID: "t2", Kind: events.PaymentKindTrip}),
	} {
		if err := h(context.Background(), r); !errors.Is(err, boom) {
			t.Errorf("%s: handler returned %v, want the failure", name, err)
		}
	}
}
