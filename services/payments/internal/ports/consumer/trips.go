// Package consumer turns booking's trip and reservation events on Kafka into
// payment use cases.
package consumer

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/kafka"
)

// TripFlows is what the booking.trips consumer drives.
type TripFlows interface {
	OnTripStarted(ctx context.Context, ev events.Event) error
	OnTripEnded(ctx context.Context, ev events.Event) error
	OnFineIssued(ctx context.Context, ev events.Event) error
	OnRewardGranted(ctx context.Context, ev events.Event) error
}

// Trips returns the kafka.Handler for the booking.trips topic. Records that are not
// CloudEvents are dead-lettered at once; other event types are ignored; any other
// failure is retried with backoff and dead-lettered after the consumer's attempts.
// Starts and ends of one trip share its key, hence a partition and their order;
// so do the trip's fines and rewards.
func Trips(flows TripFlows) kafka.Handler {
	return func(ctx context.Context, r *kgo.Record) error {
		ev, err := events.FromRecord(r)
		if err != nil {
			return err // already kafka.Permanent
		}
		switch ev.Type {
		case events.TypeTripStartedV1:
			err = flows.OnTripStarted(ctx, ev)
		case events.TypeTripEndedV1:
			err = flows.OnTripEnded(ctx, ev)
		case events.TypeFineIssuedV1:
			err = flows.OnFineIssued(ctx, ev)
		case events.TypeRewardGrantedV1:
			err = flows.OnRewardGranted(ctx, ev)
		default:
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", ev.Type, ev.ID, err)
		}
		return nil
	}
}
