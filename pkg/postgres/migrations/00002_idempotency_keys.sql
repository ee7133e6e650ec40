-- +goose Up
-- Idempotency-Key records (draft-ietf-httpapi-idempotency-key-header): the first
-- request with a key stores its response; replays get it back.
CREATE TABLE idempotency_keys (
    scope            TEXT        NOT NULL, -- principal (subject) or "anonymous"
    key              TEXT        NOT NULL,
    method           TEXT        NOT NULL,
    path             TEXT        NOT NULL,
    request_hash     BYTEA       NOT NULL,
    state            TEXT        NOT NULL CHECK (state IN ('in_progress', 'completed')),
    response_status  INT,
    response_headers JSONB,
    response_body    BYTEA,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    locked_until     TIMESTAMPTZ NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

-- +goose Down
DROP TABLE idempotency_keys;
