// Package inbox makes event effects exactly-once on at-least-once delivery:
// a consumer claims the event id in the transaction that applies the effect,
// so a redelivered copy finds the claim and is skipped.
//
//	tx := pool.Begin(ctx)
//	first, err := inbox.Claim(ctx, tx, "payments.trip-ended", e.ID)
//	if first { apply the effect with tx }
//	tx.Commit(ctx)
package inbox

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Claim records that consumer processes eventID, in tx. It returns true the
// first time (apply the effect in the same tx) and false for a duplicate
// (skip it). A concurrent claim of the same id waits for the other
// transaction: false if it commits, true if it rolls back.
func Claim(ctx context.Context, tx pgx.Tx, consumer, eventID string) (bool, error) {
	tag, err := tx.Exec(ctx,
		"INSERT INTO inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
		consumer, eventID)
	if err != nil {
		return false, fmt.Errorf("claim event %s for %s: %w", eventID, consumer, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Execer is a pool, a connection or a transaction.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Prune deletes claims older than retention and returns how many. Keep
// retention well above the longest redelivery window (topic retention, DLQ
// replays), or an old duplicate would apply twice.
func Prune(ctx context.Context, db Execer, retention time.Duration) (int64, error) {
	tag, err := db.Exec(ctx, "DELETE FROM inbox WHERE processed_at < now() - make_interval(secs => $1)", retention.Seconds())
	if err != nil {
		return 0, fmt.Errorf("prune inbox: %w", err)
	}
	return tag.RowsAffected(), nil
}
