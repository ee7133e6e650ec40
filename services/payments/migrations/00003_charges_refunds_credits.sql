-- +goose Up
-- Charges: fines, cancellation fees and the remainder of a trip above its hold
-- are payments too (their own PaymentIntent, authorised and captured at once),
-- so they share the lifecycle, the operation queue and refunds with trips.
-- kind says which; reference is the business id that makes a charge unique
-- (fine id, reservation id, trip id), so a redelivered event cannot charge twice.
ALTER TABLE payments
    ADD COLUMN kind       TEXT        NOT NULL DEFAULT 'trip'
        CHECK (kind IN ('trip', 'fine', 'cancellation_fee', 'trip_remainder')),
    ADD COLUMN reference  TEXT        NOT NULL DEFAULT '',
    ADD COLUMN reason     TEXT        NOT NULL DEFAULT '', -- e.g. a fine's "wrong_location"
    ADD COLUMN created_at TIMESTAMPTZ NOT NULL DEFAULT now();
-- One trip payment per trip; charges may name a trip (a fine, a remainder) or none (a fee).
ALTER TABLE payments DROP CONSTRAINT payments_trip_id_key;
ALTER TABLE payments DROP CONSTRAINT payments_trip_id_check;
ALTER TABLE payments ADD CONSTRAINT payments_trip_id_check CHECK (kind <> 'trip' OR trip_id <> '');
ALTER TABLE payments ADD CONSTRAINT payments_reference_check CHECK (kind = 'trip' OR reference <> '');
CREATE UNIQUE INDEX payments_trip_key ON payments (trip_id) WHERE kind = 'trip';
CREATE UNIQUE INDEX payments_charge_key ON payments (kind, reference) WHERE kind <> 'trip';
-- Payments and charges of a customer, newest first.
CREATE INDEX payments_customer ON payments (customer_id, created_at DESC);

-- New gateway operations: charge (authorise then capture a charge, keys
-- "<op id>:authorise" and "<op id>:capture") and refund ("refund:<refund id>").
ALTER TABLE payment_operations DROP CONSTRAINT payment_operations_kind_check;
ALTER TABLE payment_operations ADD CONSTRAINT payment_operations_kind_check
    CHECK (kind IN ('authorise', 'capture', 'cancel', 'charge', 'refund'));

-- Refunds of a captured payment. pending_approval waits for a second member of
-- staff (above the approval threshold); queued has a refund operation in
-- payment_operations; succeeded, rejected and failed are final. Requested under
-- a row lock on the payment, so pending + queued + succeeded never exceed what
-- was captured.
CREATE TABLE refunds (
    id              TEXT        PRIMARY KEY CHECK (id <> ''),
    payment_id      TEXT        NOT NULL REFERENCES payments (id),
    customer_id     TEXT        NOT NULL CHECK (customer_id <> ''),
    amount_minor    BIGINT      NOT NULL CHECK (amount_minor > 0),
    currency        CHAR(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status          TEXT        NOT NULL CHECK (status IN ('pending_approval', 'queued', 'succeeded', 'rejected', 'failed')),
    reason          TEXT        NOT NULL DEFAULT '',
    requested_by    TEXT        NOT NULL CHECK (requested_by <> ''),
    -- The client's Idempotency-Key; the id is derived from (requested_by, key).
    idempotency_key TEXT        CHECK (idempotency_key <> ''),
    -- Who approved or rejected; '' for a refund under the threshold (no approval needed).
    decided_by      TEXT        NOT NULL DEFAULT '',
    decision_reason TEXT        NOT NULL DEFAULT '',
    decided_at      TIMESTAMPTZ,
    provider_ref    TEXT        NOT NULL DEFAULT '', -- gateway refund id, "re_..."
    failure_code    TEXT        NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Four eyes: nobody approves (or rejects) their own request.
    CONSTRAINT refunds_four_eyes CHECK (decided_by = '' OR decided_by <> requested_by)
);
CREATE UNIQUE INDEX refunds_idempotency_key ON refunds (requested_by, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX refunds_payment ON refunds (payment_id, created_at);
-- The staff approval queue.
CREATE INDEX refunds_pending_approval ON refunds (created_at) WHERE status = 'pending_approval';

-- Credits granted to customers (rewards for returning to under-served bays, staff
-- goodwill). The ledger (customer:<id>:credit) holds the balance; this table
-- says where each grant came from. The id is the reward id (or the staff
-- request's id), so a redelivered reward grants once.
CREATE TABLE credits (
    id           TEXT        PRIMARY KEY CHECK (id <> ''),
    customer_id  TEXT        NOT NULL CHECK (customer_id <> ''),
    amount_minor BIGINT      NOT NULL CHECK (amount_minor > 0),
    currency     CHAR(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    source       TEXT        NOT NULL CHECK (source IN ('reward', 'staff')),
    reason       TEXT        NOT NULL DEFAULT '',
    trip_id      TEXT        NOT NULL DEFAULT '',
    bay_id       TEXT        NOT NULL DEFAULT '',
    granted_by   TEXT        NOT NULL DEFAULT '', -- staff subject; '' for rewards
    granted_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX credits_customer ON credits (customer_id, granted_at DESC);

-- +goose Down
DROP TABLE credits;
DROP TABLE refunds;
DELETE FROM payment_operations WHERE kind IN ('charge', 'refund');
ALTER TABLE payment_operations DROP CONSTRAINT payment_operations_kind_check;
ALTER TABLE payment_operations ADD CONSTRAINT payment_operations_kind_check
    CHECK (kind IN ('authorise', 'capture', 'cancel'));
DELETE FROM payments WHERE kind <> 'trip';
DROP INDEX payments_customer;
DROP INDEX payments_charge_key;
DROP INDEX payments_trip_key;
ALTER TABLE payments DROP CONSTRAINT payments_reference_check;
ALTER TABLE payments DROP CONSTRAINT payments_trip_id_check;
ALTER TABLE payments ADD CONSTRAINT payments_trip_id_check CHECK (trip_id <> '');
ALTER TABLE payments ADD CONSTRAINT payments_trip_id_key UNIQUE (trip_id);
ALTER TABLE payments DROP COLUMN created_at, DROP COLUMN reason, DROP COLUMN reference, DROP COLUMN kind;
