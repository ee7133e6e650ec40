package consumer

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/kafka"
)

// ReservationFlows is what the booking.reservations consumer drives.
type ReservationFlows interface {
	OnReservationCancelled(ctx context.Context, ev events.Event) error
}

// Reservations returns the kafka.Handler for the booking.reservations topic: a
// cancellation with a fee becomes a charge. Records that are not CloudEvents
// are dead-lettered at once; other event types (created, expired) are ignored;
// any other failure is retried with backoff and dead-lettered after the
// consumer's attempts.
func Reservations(flows ReservationFlows) kafka.Handler {
	return func(ctx context.Context, r *kgo.Record) error {
		ev, err := events.FromRecord(r)
		if err != nil {
			return err // already kafka.Permanent
		}
		if ev.Type != events.TypeReservationCancelledV1 {
			return nil
		}
		if err := flows.OnReservationCancelled(ctx, ev); err != nil {
			return fmt.Errorf("%s %s: %w", ev.Type, ev.ID, err)
		}
		return nil
	}
}
