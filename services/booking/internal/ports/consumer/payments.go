package consumer

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/kafka"
)

// PaymentTrips is what payments.events does to trips (app.Trips).
type PaymentTrips interface {
	EndForPayment(ctx context.Context, tripID, code string) error
	OnPaymentCaptured(ctx context.Context, eventID, tripID string, amountMinor int64, at time.Time) error
}

// PaymentReservations is what payments.events does to reservations (app.Reservations).
type PaymentReservations interface {
	CancelForPayment(ctx context.Context, reservationID, code string) error
}

// PaymentEvents returns the handler of payments.events: a refused
// pre-authorisation ends the trip (or cancels the reservation) it was for; a
// captured trip payment marks the trip settled. Ending and cancelling are
// guarded by state; captures are de-duplicated by event id.
func PaymentEvents(trips PaymentTrips, reservations PaymentReservations) kafka.Handler {
	return func(ctx context.Context, r *kgo.Record) error {
		ev, err := events.FromRecord(r)
		if err != nil {
			return err // already kafka.Permanent
		}
		switch ev.Type {
		case events.TypePaymentAuthorisationFailedV1, events.TypePaymentFailedV1:
			f, err := events.Decode[events.PaymentFailedV1](ev)
			if err != nil {
				return err
			}
			// Failed captures, charges and refunds are payments' to chase; only a
			// refused hold stops a rental.
			if f.Stage != "authorise" && ev.Type != events.TypePaymentAuthorisationFailedV1 {
				return nil
			}
			switch {
			case f.TripID != "":
				return wrap(ev, trips.EndForPayment(ctx, f.TripID, f.Code))
			case f.ReservationID != "":
				return wrap(ev, reservations.CancelForPayment(ctx, f.ReservationID, f.Code))
			}
			return nil
		case events.TypePaymentCapturedV1:
			c, err := events.Decode[events.PaymentCapturedV1](ev)
			if err != nil {
				return err
			}
			switch c.Kind {
			case "", events.PaymentKindTrip, events.PaymentKindTripRemainder:
				if c.TripID != "" {
					return wrap(ev, trips.OnPaymentCaptured(ctx, ev.ID, c.TripID, c.Amount.AmountMinor, c.CapturedAt))
				}
			}
		}
		return nil
	}
}

// wrap names the event in a handler error; nil stays nil.
func wrap(ev events.Event, err error) error {
	if err != nil {
		return fmt.Errorf("%s %s: %w", ev.Type, ev.ID, err)
	}
	return nil
}
