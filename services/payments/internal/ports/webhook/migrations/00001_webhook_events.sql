-- +goose Up
-- Stripe events as received: verified, de-duplicated by event id (Stripe redelivers
-- until it gets a 2xx) and applied asynchronously by the webhook Processor, so the
-- endpoint can acknowledge within Stripe's timeout.
CREATE TABLE webhook_events (
    event_id        TEXT        PRIMARY KEY,                      -- evt_...
    type            TEXT        NOT NULL,                         -- e.g. payment_intent.succeeded
    created         TIMESTAMPTZ NOT NULL,                         -- Stripe's event.created (whole seconds)
    livemode        BOOLEAN     NOT NULL,
    api_version     TEXT,
    object_id       TEXT,                                         -- data.object.id, when the object has one
    -- Events sharing an ordering key (the PaymentIntent they concern, else the object)
    -- are applied one at a time in (created, received_at, event_id) order.
    ordering_key    TEXT        NOT NULL,
    received_at     TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    payload         JSONB       NOT NULL,                         -- the whole event envelope
    processed_at    TIMESTAMPTZ,                                  -- NULL until the handler succeeded
    attempts        INTEGER     NOT NULL DEFAULT 0,
    last_error      TEXT,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now()            -- pushed back after a failure
);

-- Serves the "oldest unprocessed event of the key" check of every claim.
CREATE INDEX webhook_events_pending_by_key
    ON webhook_events (ordering_key, created, received_at, event_id) WHERE processed_at IS NULL;
CREATE INDEX webhook_events_pending_due
    ON webhook_events (next_attempt_at) WHERE processed_at IS NULL;

-- Wakes idle processors as soon as an insert commits (NOTIFY is delivered at commit).
-- +goose StatementBegin
CREATE FUNCTION webhook_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('payments_webhook_events', NEW.event_id);
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER webhook_events_notify AFTER INSERT ON webhook_events
    FOR EACH ROW EXECUTE FUNCTION webhook_events_notify();

-- +goose Down
DROP TABLE webhook_events;
DROP FUNCTION webhook_events_notify();
