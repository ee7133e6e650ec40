// Package consumer turns the Kafka topics booking reads into use cases.
package consumer

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/kafka"
)

// CommandAckHandler is what vehicle.command-acks drives (app.Trips).
type CommandAckHandler interface {
	OnCommandAck(ctx context.Context, ack events.VehicleCommandAckedV1) error
}

// CommandAcks returns the handler of vehicle.command-acks: unlock answers
// start or fail trips, lock answers are recorded. Records that are not
// CloudEvents are dead-lettered at once, other event types ignored, other
// failures retried. Effects are guarded by the trip's state, so a redelivered
// ack changes nothing.
func CommandAcks(h CommandAckHandler) kafka.Handler {
	return func(ctx context.Context, r *kgo.Record) error {
		ev, err := events.FromRecord(r)
		if err != nil {
			return err // already kafka.Permanent
		}
		if ev.Type != events.TypeVehicleCommandAckedV1 {
			return nil
		}
		ack, err := events.Decode[events.VehicleCommandAckedV1](ev)
		if err != nil {
			return err
		}
		if ack.Kind != events.CommandUnlock && ack.Kind != events.CommandLock {
			return nil // operations' commands (immobilise, alarm, ...)
		}
		if err := h.OnCommandAck(ctx, ack); err != nil {
			return fmt.Errorf("%s %s: %w", ev.Type, ev.ID, err)
		}
		return nil
	}
}
