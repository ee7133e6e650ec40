-- +goose Up
-- One payment per trip: a hold placed at trip start, captured at trip end.
-- Amounts are per stage (held, captured, refunded) in one currency.
CREATE TABLE payments (
    id                    TEXT        PRIMARY KEY,
    customer_id           TEXT        NOT NULL CHECK (customer_id <> ''),
    trip_id               TEXT        NOT NULL UNIQUE CHECK (trip_id <> ''),
    status                TEXT        NOT NULL CHECK (status IN ('pending_authorisation', 'authorised',
                              'capture_pending', 'captured', 'canceled', 'failed')),
    intent_id             TEXT        NOT NULL DEFAULT '',
    held_minor            BIGINT      NOT NULL CHECK (held_minor >= 0),
    captured_minor        BIGINT      NOT NULL DEFAULT 0 CHECK (captured_minor >= 0),
    refunded_minor        BIGINT      NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0 AND refunded_minor <= captured_minor),
    currency              CHAR(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    failure_code          TEXT        NOT NULL DEFAULT '',
    updated_at            TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The durable queue of gateway calls. The id is the deterministic operation id
-- ("authorise:<trip>", "capture:<trip>") and doubles as the gateway idempotency
-- key, so enqueueing twice is a no-op and a retried call never acts twice.
CREATE TABLE payment_operations (
    id              TEXT        PRIMARY KEY CHECK (id <> ''),
    payment_id      TEXT        NOT NULL REFERENCES payments (id),
    kind            TEXT        NOT NULL CHECK (kind IN ('authorise', 'capture', 'cancel')),
    amount_minor    BIGINT      NOT NULL CHECK (amount_minor >= 0),
    currency        CHAR(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status          TEXT        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    attempts        INT         NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_error      TEXT        NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- ClaimDue reads only pending rows in due order.
CREATE INDEX payment_operations_due ON payment_operations (next_attempt_at) WHERE status = 'pending';
CREATE INDEX payment_operations_payment ON payment_operations (payment_id);

-- +goose Down
DROP TABLE payment_operations;
DROP TABLE payments;
