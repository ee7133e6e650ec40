-- +goose Up
-- Reconciliation: a periodic job compares our payments (captured, refunded,
-- status) with the gateway's intents and records every mismatch it finds. It
-- reports; it never changes a payment.
--
-- A run covers the payments updated in [window_from, window_to). complete: every
-- payment was compared; incomplete: some could not be (gateway errors), so the
-- next run starts again from the last complete run; failed: the run stopped
-- (database error, timeout, shutdown, or abandoned while running).
CREATE TABLE reconciliation_runs (
    id          BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    status      TEXT        NOT NULL CHECK (status IN ('running', 'complete', 'incomplete', 'failed')),
    window_from TIMESTAMPTZ NOT NULL,
    window_to   TIMESTAMPTZ NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    checked     INT         NOT NULL DEFAULT 0 CHECK (checked >= 0),   -- payments compared
    unchecked   INT         NOT NULL DEFAULT 0 CHECK (unchecked >= 0), -- payments the gateway did not answer for
    mismatches  INT         NOT NULL DEFAULT 0 CHECK (mismatches >= 0),
    error       TEXT        NOT NULL DEFAULT '',
    CONSTRAINT reconciliation_runs_window CHECK (window_from < window_to),
    CONSTRAINT reconciliation_runs_finished CHECK ((status = 'running') = (finished_at IS NULL))
);
-- One run at a time across replicas: a second start finds this taken.
CREATE UNIQUE INDEX reconciliation_runs_one_running ON reconciliation_runs ((true)) WHERE status = 'running';
-- The next window starts where the last complete one ended.
CREATE INDEX reconciliation_runs_complete ON reconciliation_runs (window_to DESC) WHERE status = 'complete';
CREATE INDEX reconciliation_runs_started ON reconciliation_runs (started_at DESC);

-- Mismatch kinds: amount_captured and amount_refunded (both sides agree the money
-- moved, not how much), status (e.g. we say captured, the gateway canceled),
-- intent_unknown (the gateway has no such intent, or we recorded none), and
-- capture_unrecorded (the gateway captured what we never recorded as captured).
-- Amounts are minor units; 0 where the kind compares no amount.
CREATE TABLE reconciliation_mismatches (
    id               BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id           BIGINT      NOT NULL REFERENCES reconciliation_runs (id),
    payment_id       TEXT        NOT NULL REFERENCES payments (id),
    intent_id        TEXT        NOT NULL DEFAULT '',
    kind             TEXT        NOT NULL CHECK (kind IN ('amount_captured', 'amount_refunded', 'status',
                                     'intent_unknown', 'capture_unrecorded')),
    our_status       TEXT        NOT NULL,
    gateway_status   TEXT        NOT NULL DEFAULT '',
    our_minor        BIGINT      NOT NULL DEFAULT 0,
    gateway_minor    BIGINT      NOT NULL DEFAULT 0,
    currency         TEXT        NOT NULL DEFAULT '',
    gateway_currency TEXT        NOT NULL DEFAULT '',
    detail           TEXT        NOT NULL DEFAULT '',
    found_at         TIMESTAMPTZ NOT NULL
);
CREATE INDEX reconciliation_mismatches_run ON reconciliation_mismatches (run_id, id);
-- A payment's mismatch history, newest first.
CREATE INDEX reconciliation_mismatches_payment ON reconciliation_mismatches (payment_id, found_at DESC);

-- A run pages through the payments updated in its window in (updated_at, id) order.
CREATE INDEX payments_updated ON payments (updated_at, id);

-- +goose Down
DROP INDEX payments_updated;
DROP TABLE reconciliation_mismatches;
DROP TABLE reconciliation_runs;
