-- +goose Up
-- Dead letters: an operation that failed for unexpected reasons (our bug, an
-- invalid request, a database error) too many times stops running and waits
-- for staff as status 'dead'. Retryable gateway failures (outage, rate limit)
-- never count: they retry until the gateway is back.
ALTER TABLE payment_operations DROP CONSTRAINT payment_operations_status_check;
ALTER TABLE payment_operations ADD CONSTRAINT payment_operations_status_check
    CHECK (status IN ('pending', 'done', 'failed', 'dead'));
-- failures counts unexpected failures only; attempts counts every call made.
ALTER TABLE payment_operations
    ADD COLUMN failures INT         NOT NULL DEFAULT 0 CHECK (failures >= 0),
    ADD COLUMN dead_at  TIMESTAMPTZ,
    ADD CONSTRAINT payment_operations_dead_at CHECK ((status = 'dead') = (dead_at IS NOT NULL));
-- Staff list the dead operations, oldest first.
CREATE INDEX payment_operations_dead ON payment_operations (dead_at, id) WHERE status = 'dead';

-- +goose Down
DROP INDEX payment_operations_dead;
UPDATE payment_operations SET status = 'failed' WHERE status = 'dead';
ALTER TABLE payment_operations DROP CONSTRAINT payment_operations_dead_at;
ALTER TABLE payment_operations DROP COLUMN dead_at, DROP COLUMN failures;
ALTER TABLE payment_operations DROP CONSTRAINT payment_operations_status_check;
ALTER TABLE payment_operations ADD CONSTRAINT payment_operations_status_check
    CHECK (status IN ('pending', 'done', 'failed'));
