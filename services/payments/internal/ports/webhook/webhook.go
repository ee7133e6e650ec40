// Package webhook receives Stripe events on POST /v1/webhooks/stripe and applies
// them asynchronously.
//
// The Receiver verifies the Stripe-Signature header against the raw body (every
// configured secret, so secrets can be rotated), stores the event in the
// webhook_events table keyed by its id (a redelivery changes nothing) and answers 200
// once the insert has committed: Stripe only needs to know we have the event, and
// retries until it gets a 2xx. The Processor, a worker every replica runs, then
// hands each stored event to a Handler inside a transaction that also marks the
// event processed; a failing handler is retried with exponential backoff.
//
// # Ordering
//
// Stripe does not deliver events in order, and redelivers failed ones later. The
// Processor therefore applies the events sharing an ordering key one at a time, in
// (created, received_at, event_id) order: it claims only the oldest unprocessed event
// of a key, so a later event waits while an earlier one is being handled or is
// backing off after a failure. The ordering key is the PaymentIntent an event
// concerns (data.object.id for a payment_intent, data.object.payment_intent for a
// charge, refund or dispute), else data.object.id, else the event id; so
// charge.refunded never overtakes the payment_intent.succeeded that came before it
// when both are stored.
//
// That cannot order an event delivered after a newer one of the same key was already
// applied, and Stripe's created has whole-second resolution. Handlers must therefore
// follow one rule: remember, per object, the Created of the event last applied, and
// ignore an event whose Created is older (e.g. payment_intent.succeeded arriving after
// charge.refunded); within the same second, never move an object's state backwards
// (or re-read it from Stripe). Handlers must also be idempotent in effect, since a
// commit can fail after the handler ran.
package webhook

import (
	"embed"
	"io/fs"

	"github.com/mobilitycorp/platform/pkg/postgres"
)

// Path is the route Stripe posts events to.
const Path = "/v1/webhooks/stripe"

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the webhook_events schema, a set of its own so it evolves
// independently of the service's migrations. Apply it after the platform set.
func Migrations() postgres.MigrationSet {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // the embedded directory is fixed at compile time
	}
	return postgres.MigrationSet{Name: "payments-webhooks", FS: sub}
}
