-- +goose Up
-- Customers. The id is the subject of the customer's bearer token. Licence,
-- payment method and block live on the row: eligibility is one row read, and
-- a reservation can hold the row (FOR SHARE) against a concurrent block.
CREATE TABLE customers (
    id                       TEXT        PRIMARY KEY,
    name                     TEXT        NOT NULL,
    email                    TEXT        NOT NULL,
    date_of_birth            DATE        NOT NULL,
    country                  TEXT        NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    preferred_language       TEXT        NOT NULL,
    licence_number           TEXT,
    licence_country          TEXT,
    licence_expiry           DATE,
    licence_categories       TEXT[],
    licence_status           TEXT CHECK (licence_status IN ('submitted', 'verified', 'rejected')),
    licence_submitted_at     TIMESTAMPTZ,
    licence_reviewed_at      TIMESTAMPTZ,
    licence_reviewed_by      TEXT,
    licence_rejection_reason TEXT,
    payment_method           TEXT,
    blocked_at               TIMESTAMPTZ,
    blocked_by               TEXT,
    block_reason             TEXT,
    created_at               TIMESTAMPTZ NOT NULL,
    updated_at               TIMESTAMPTZ NOT NULL,
    -- A licence is all there or not at all; so is a block, with its author.
    CONSTRAINT customers_licence_complete CHECK (
        (licence_status IS NULL) = (licence_number IS NULL)
        AND (licence_status IS NULL) = (licence_country IS NULL)
        AND (licence_status IS NULL) = (licence_expiry IS NULL)
        AND (licence_status IS NULL) = (licence_submitted_at IS NULL)),
    CONSTRAINT customers_licence_reviewed CHECK (
        licence_status IS DISTINCT FROM 'verified' OR licence_reviewed_by IS NOT NULL),
    CONSTRAINT customers_block_complete CHECK (
        (blocked_at IS NULL) = (blocked_by IS NULL) AND (blocked_at IS NULL) = (block_reason IS NULL))
);
-- One account per mailbox (emails are stored lower-cased; lower() guards direct writes).
CREATE UNIQUE INDEX customers_email ON customers (lower(email));
-- Staff's queue of licences waiting for review.
CREATE INDEX customers_licence_pending ON customers (id) WHERE licence_status = 'submitted';

-- Human decisions about customers (blocks, unblocks, licence reviews) with
-- who took them: the always-human-approved actions stay attributable.
CREATE TABLE customer_audit (
    id          BIGSERIAL   PRIMARY KEY,
    customer_id TEXT        NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    action      TEXT        NOT NULL CHECK (action IN ('blocked', 'unblocked', 'licence_verified', 'licence_rejected')),
    reason      TEXT        NOT NULL DEFAULT '',
    actor       TEXT        NOT NULL,
    at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX customer_audit_customer ON customer_audit (customer_id, id);

-- +goose Down
DROP TABLE customer_audit;
DROP TABLE customers;
