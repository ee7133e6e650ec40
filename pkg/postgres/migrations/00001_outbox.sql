-- +goose Up
-- Transactional outbox: a state change and its event commit together; the relay
-- publishes rows in id order (which is commit order per aggregate key) and marks them.
CREATE TABLE outbox (
    id            BIGSERIAL PRIMARY KEY,
    topic         TEXT        NOT NULL,
    record_key    TEXT        NOT NULL,
    event_id      TEXT        NOT NULL UNIQUE,
    headers       JSONB       NOT NULL DEFAULT '{}'::jsonb,
    payload       BYTEA       NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    published_at  TIMESTAMPTZ
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

-- Inbox: event ids a consumer has already applied, for exactly-once effects on
-- at-least-once delivery. Written in the same transaction as the effect.
CREATE TABLE inbox (
    consumer     TEXT        NOT NULL,
    event_id     TEXT        NOT NULL,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- +goose Down
DROP TABLE inbox;
DROP TABLE outbox;
