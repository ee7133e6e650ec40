package idempotency

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// stateInProgress marks a record whose first request is still running; the other
// state, "completed", carries a response to replay.
const stateInProgress = "in_progress"

// request identifies one use of a key.
type request struct {
	scope, key   string
	method, path string
	hash         []byte
}

// record is a stored key as found by a request that could not claim it.
type record struct {
	hash    []byte
	state   string
	status  int
	headers http.Header
	body    []byte
	expired bool
}

// store holds idempotency_keys rows. Times come from the database clock, so
// replicas with skewed clocks agree on expiry and lock ownership.
type store struct {
	pool *pgxpool.Pool
}

// claim inserts an in_progress row for req, or takes over a row that has expired or
// whose lock was abandoned by a request with the same fingerprint. It returns the
// row's locked_until, which fences later writes: a request that outlived its lock
// and was taken over cannot overwrite its successor's result.
func (s store) claim(ctx context.Context, req request, lock, ttl time.Duration) (time.Time, bool, error) {
	const q = `
INSERT INTO idempotency_keys AS k (scope, key, method, path, request_hash, state, locked_until, expires_at)
VALUES ($1, $2, $3, $4, $5, 'in_progress',
        clock_timestamp() + $6::bigint * interval '1 microsecond',
        clock_timestamp() + $7::bigint * interval '1 microsecond')
ON CONFLICT (scope, key) DO UPDATE SET
    method = EXCLUDED.method, path = EXCLUDED.path, request_hash = EXCLUDED.request_hash,
    state = 'in_progress', response_status = NULL, response_headers = NULL, response_body = NULL,
    created_at = now(), locked_until = EXCLUDED.locked_until, expires_at = EXCLUDED.expires_at
WHERE k.expires_at < clock_timestamp()
   OR (k.state = 'in_progress' AND k.locked_until < clock_timestamp() AND k.request_hash = EXCLUDED.request_hash)
RETURNING locked_until`
	var lockedUntil time.Time
	err := s.pool.QueryRow(ctx, q, req.scope, req.key, req.method, req.path, req.hash,
		lock.Microseconds(), ttl.Microseconds()).Scan(&lockedUntil)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return time.Time{}, false, nil
	case err != nil:
		return time.Time{}, false, fmt.Errorf("claim idempotency key: %w", err)
	}
	return lockedUntil, true, nil
}

// get reads the row for scope/key; found is false when there is none.
func (s store) get(ctx context.Context, scope, key string) (rec record, found bool, err error) {
	const q = `
SELECT request_hash, state, COALESCE(response_status, 0), response_headers, response_body,
       expires_at < clock_timestamp()
FROM idempotency_keys WHERE scope = $1 AND key = $2`
	err = s.pool.QueryRow(ctx, q, scope, key).Scan(&rec.hash, &rec.state, &rec.status, &rec.headers, &rec.body, &rec.expired)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return record{}, false, nil
	case err != nil:
		return record{}, false, fmt.Errorf("read idempotency key: %w", err)
	}
	return rec, true, nil
}

// complete stores the response of the request holding the lock.
func (s store) complete(ctx context.Context, req request, lockedUntil time.Time, status int, headers http.Header, body []byte) error {
	const q = `
UPDATE idempotency_keys
SET state = 'completed', response_status = $4, response_headers = $5, response_body = $6
WHERE scope = $1 AND key = $2 AND state = 'in_progress' AND locked_until = $3`
	tag, err := s.pool.Exec(ctx, q, req.scope, req.key, lockedUntil, status, headers, body)
	if err != nil {
		return fmt.Errorf("store idempotent response: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return errors.New("store idempotent response: lock lost to a later request")
	}
	return nil
}

// release deletes the row held by this request so the client can retry.
func (s store) release(ctx context.Context, req request, lockedUntil time.Time) error {
	const q = `
DELETE FROM idempotency_keys
WHERE scope = $1 AND key = $2 AND state = 'in_progress' AND locked_until = $3`
	if _, err := s.pool.Exec(ctx, q, req.scope, req.key, lockedUntil); err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}

// Purge deletes expired records; run it periodically (they are already ignored
// once expired, so this only reclaims space).
func Purge(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	tag, err := pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE expires_at < clock_timestamp()`)
	if err != nil {
		return 0, fmt.Errorf("purge idempotency keys: %w", err)
	}
	return tag.RowsAffected(), nil
}
