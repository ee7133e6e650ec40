// Package outbox publishes events transactionally: Enqueue writes the event in
// the transaction that changes the state, and a Relay publishes committed rows
// to Kafka in id order, then marks them. The event exists if and only if the
// state change committed.
//
// Delivery is at-least-once: a relay that stops between publishing and
// marking publishes the rows again when it (or another replica) takes over.
// Consumers de-duplicate on the CloudEvents id (see pkg/inbox).
package outbox

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/mobilitycorp/platform/pkg/events"
)

// channel is the LISTEN/NOTIFY channel that wakes relays on new rows.
const channel = "mobility_outbox"

// notifyLookBack is how many preceding ids Enqueue looks at for an
// unpublished row before it skips the notification. It only needs to exceed
// the rows in flight at once: behind those, a waiting backlog is contiguous.
const notifyLookBack = 1000

// EnqueueOption customises Enqueue.
type EnqueueOption func(*enqueueOptions)

type enqueueOptions struct {
	prop propagation.TextMapPropagator
}

// WithPropagator sets the propagator that captures the trace context, instead
// of otel.GetTextMapPropagator().
func WithPropagator(p propagation.TextMapPropagator) EnqueueOption {
	return func(o *enqueueOptions) { o.prop = p }
}

// Enqueue adds e to the outbox in tx, to be published on topic with key
// (the aggregate id: events of one key keep their order). The record carries
// the CloudEvents headers and the trace context of ctx, so the trace
// continues through the relay to consumers.
func Enqueue(ctx context.Context, tx pgx.Tx, topic, key string, e events.Event, opts ...EnqueueOption) error {
	if topic == "" || e.ID == "" {
		return errors.New("enqueue event: topic and event id are required")
	}
	o := enqueueOptions{prop: otel.GetTextMapPropagator()}
	for _, opt := range opts {
		opt(&o)
	}
	headers := propagation.MapCarrier{}
	for _, h := range e.Headers() {
		headers[h.Key] = string(h.Value)
	}
	o.prop.Inject(ctx, headers)
	payload := []byte(e.Data)
	if payload == nil {
		payload = []byte{} // the column is NOT NULL; an event may have no data
	}
	// The notification is delivered at commit, and not at all on rollback. A
	// notifying commit takes a cluster-wide lock that it holds through its WAL
	// flush, serialising every such commit, so only the first row of a backlog
	// notifies: while older rows wait, the relay is busy or about to be, and it
	// keeps looking without being woken (see Relay). The look-back is bounded
	// (notifying too often is harmless) so the check stays a short index scan.
	_, err := tx.Exec(ctx, `
		WITH ins AS (
			INSERT INTO outbox (topic, record_key, event_id, headers, payload)
			VALUES ($1, $2, $3, $4, $5)
			RETURNING id
		)
		SELECT pg_notify($6, '') FROM ins
		WHERE NOT EXISTS (
			SELECT 1 FROM outbox o
			WHERE o.published_at IS NULL AND o.id < ins.id AND o.id >= ins.id - $7
		)`,
		topic, key, e.ID, map[string]string(headers), payload, channel, notifyLookBack)
	if err != nil {
		return fmt.Errorf("enqueue event %s: %w", e.ID, err)
	}
	return nil
}
