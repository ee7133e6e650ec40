package consumer_test

import (
	"context"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/kafka"
	"github.com/mobilitycorp/platform/services/payments/internal/ports/consumer"
)

// recorder is the use-case side: it records which use case each record reached.
type recorder struct {
	calls []string
	err   error
}

func (r *recorder) call(name string) error { r.calls = append(r.calls, name); return r.err }

func (r *recorder) OnTripStarted(context.Context, events.Event) error   { return r.call("started") }
func (r *recorder) OnTripEnded(context.Context, events.Event) error     { return r.call("ended") }
func (r *recorder) OnFineIssued(context.Context, events.Event) error    { return r.call("fine") }
func (r *recorder) OnRewardGranted(context.Context, events.Event) error { return r.call("reward") }
func (r *recorder) OnReservationCancelled(context.Context, events.Event) error {
	return r.call("cancelled")
}

func record(t *testing.T, topic, typ string) *kgo.Record {
	t.Helper()
	ev, err := events.New(typ, events.SourceBooking, "k", map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	return events.ToRecord(topic, "k", ev)
}

func TestHandlersRouteByType(t *testing.T) {
	tests := []struct {
		name    string
		handler func(*recorder) kafka.Handler
		topic   string
		typ     string
		want    string // "" = ignored
	}{
		{"trip started", tripsHandler, events.TopicBookingTrips, events.TypeTripStartedV1, "started"},
		{"trip ended", tripsHandler, events.TopicBookingTrips, events.TypeTripEndedV1, "ended"},
		{"fine issued", tripsHandler, events.TopicBookingTrips, events.TypeFineIssuedV1, "fine"},
		{"reward granted", tripsHandler, events.TopicBookingTrips, events.TypeRewardGrantedV1, "reward"},
		{"photos ignored", tripsHandler, events.TopicBookingTrips, events.TypeReturnPhotosSubmittedV1, ""},
		{"reservation cancelled", reservationsHandler, events.TopicBookingReservations, events.TypeReservationCancelledV1, "cancelled"},
		{"reservation created ignored", reservationsHandler, events.TopicBookingReservations, events.TypeReservationCreatedV1, ""},
		{"reservation expired ignored", reservationsHandler, events.TopicBookingReservations, events.TypeReservationExpiredV1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			if err := tt.handler(rec)(context.Background(), record(t, tt.topic, tt.typ)); err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.want == "" && len(rec.calls) != 0:
				t.Fatalf("ignored type reached %v", rec.calls)
			case tt.want != "" && (len(rec.calls) != 1 || rec.calls[0] != tt.want):
				t.Fatalf("calls = %v, want [%s]", rec.calls, tt.want)
			}
		})
	}
}

func TestHandlerErrors(t *testing.T) {
	for name, h := range map[string]func(*recorder) kafka.Handler{"trips": tripsHandler, "reservations": reservationsHandler} {
		t.Run(name, func(t *testing.T) {
			// Not a CloudEvent: permanent, dead-lettered at once.
			err := h(&recorder{})(context.Background(), &kgo.Record{Topic: "x", Value: []byte("{}")})
			if err == nil || !kafka.IsPermanent(err) {
				t.Fatalf("garbage record: err = %v, want permanent", err)
			}
			// A use case failure is retried (not permanent) and keeps its cause.
			cause := errors.New("database down")
			typ := events.TypeFineIssuedV1
			if name == "reservations" {
				typ = events.TypeReservationCancelledV1
			}
			err = h(&recorder{err: cause})(context.Background(), record(t, "x", typ))
			if !errors.Is(err, cause) || kafka.IsPermanent(err) {
				t.Fatalf("use case failure: err = %v", err)
			}
		})
	}
}

func tripsHandler(r *recorder) kafka.Handler        { return consumer.Trips(r) }
func reservationsHandler(r *recorder) kafka.Handler { return consumer.Reservations(r) }
