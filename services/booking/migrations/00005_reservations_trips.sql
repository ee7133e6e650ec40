-- +goose Up

-- A reservation holds a vehicle over [start_at, hold_until). Trips started
-- without a reservation get a hidden walk-up hold here too, so one constraint
-- covers reservations and trips alike: the database itself refuses to hold a
-- vehicle twice at the same time, whatever the application does.
CREATE TABLE reservations (
    id                  uuid PRIMARY KEY,
    walk_up             boolean NOT NULL DEFAULT false,
    customer_id         text NOT NULL,
    vehicle_id          text NOT NULL,
    vehicle_type        text NOT NULL CHECK (vehicle_type IN ('escooter', 'ebike', 'car', 'van')),
    city                text NOT NULL DEFAULT '',
    status              text NOT NULL CHECK (status IN ('held', 'in_trip', 'completed', 'cancelled', 'expired')),
    start_at            timestamptz NOT NULL,
    end_at              timestamptz NOT NULL, -- booked end (cars/vans) or the 12 h limit (bikes/scooters)
    hold_until          timestamptz NOT NULL, -- end_at, or open-ended for an overdue trip
    expires_at          timestamptz NOT NULL, -- an unstarted hold lapses then
    planned_distance_km double precision,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    closed_at           timestamptz,
    cancelled_by        text,
    cancel_reason       text,
    cancel_fee_minor    bigint,
    cancel_fee_currency text,
    fee_waived          boolean NOT NULL DEFAULT false,
    trip_id             uuid,
    held_marked_at      timestamptz, -- the availability index was told the vehicle is held
    during              tstzrange GENERATED ALWAYS AS (tstzrange(start_at, hold_until, '[)')) STORED,
    CONSTRAINT reservations_range_forward CHECK (hold_until > start_at AND end_at > start_at),
    CONSTRAINT reservations_no_overlap
        EXCLUDE USING gist (vehicle_id WITH =, during WITH &&) WHERE (status IN ('held', 'in_trip'))
);

-- GET /v1/reservations?mine: newest first, keyset-paginated.
CREATE INDEX reservations_by_customer ON reservations (customer_id, created_at DESC, id DESC) WHERE NOT walk_up;
-- Scheduler: unstarted holds to expire, upcoming holds to announce to the availability index.
CREATE INDEX reservations_to_expire ON reservations (expires_at) WHERE status = 'held';
CREATE INDEX reservations_to_mark ON reservations (start_at) WHERE status = 'held' AND held_marked_at IS NULL;

CREATE TABLE trips (
    id                 uuid PRIMARY KEY,
    reservation_id     uuid NOT NULL REFERENCES reservations (id),
    walk_up            boolean NOT NULL,
    customer_id        text NOT NULL,
    vehicle_id         text NOT NULL,
    vehicle_type       text NOT NULL,
    city               text NOT NULL DEFAULT '',
    state              text NOT NULL CHECK (state IN ('unlocking', 'active', 'ended', 'failed')),
    concurrent_allowed boolean NOT NULL DEFAULT false,
    requested_at       timestamptz NOT NULL,
    unlock_command_id  uuid NOT NULL UNIQUE,
    unlock_expires_at  timestamptz NOT NULL,
    started_at         timestamptz,
    ended_at           timestamptz,
    fail_reason        text,
    end_reason         text,
    start_lat          double precision,
    start_lon          double precision,
    end_lat            double precision,
    end_lon            double precision,
    return_check       jsonb,
    price_terms        jsonb,  -- the prices locked at the start (domain.PriceTerms)
    price_minor        bigint,
    price_currency     text,
    lock_command_id    uuid UNIQUE,
    lock_outcome       text,
    overdue_at         timestamptz,
    settled_at         timestamptz,
    captured_minor     bigint NOT NULL DEFAULT 0,
    updated_at         timestamptz NOT NULL
);

-- One active (or unlocking) trip per customer, unless staff allowed more.
CREATE UNIQUE INDEX trips_one_active_per_customer ON trips (customer_id)
    WHERE state IN ('unlocking', 'active') AND NOT concurrent_allowed;
CREATE INDEX trips_unlocking ON trips (unlock_expires_at) WHERE state = 'unlocking';
CREATE INDEX trips_active ON trips (reservation_id) WHERE state = 'active' AND overdue_at IS NULL;
CREATE INDEX trips_by_reservation ON trips (reservation_id);

-- Proof-of-return photos; the content hash makes a re-upload a no-op.
CREATE TABLE trip_photos (
    trip_id      uuid NOT NULL REFERENCES trips (id),
    sha256       text NOT NULL,
    object_key   text NOT NULL,
    content_type text NOT NULL,
    size_bytes   bigint NOT NULL,
    uploaded_at  timestamptz NOT NULL,
    PRIMARY KEY (trip_id, sha256)
);

-- Fines and rewards booking issued for a trip (payments charges / credits them).
CREATE TABLE trip_adjustments (
    id        uuid PRIMARY KEY,
    trip_id   uuid NOT NULL REFERENCES trips (id),
    kind      text NOT NULL CHECK (kind IN ('fine', 'reward')),
    reason    text NOT NULL,
    amount_minor bigint NOT NULL,
    currency  text NOT NULL,
    issued_at timestamptz NOT NULL,
    UNIQUE (trip_id, kind, reason)
);

-- One feedback per trip; a reported fault is handed to the fleet registry
-- (maintenance review) until fault_reported_at is set.
CREATE TABLE trip_feedback (
    trip_id           uuid PRIMARY KEY REFERENCES trips (id),
    customer_id       text NOT NULL,
    rating            int CHECK (rating BETWEEN 1 AND 5),
    comment           text NOT NULL DEFAULT '',
    fault_category    text,
    fault_description text,
    fault_reported_at timestamptz,
    created_at        timestamptz NOT NULL
);
CREATE INDEX trip_feedback_faults_pending ON trip_feedback (created_at)
    WHERE fault_category IS NOT NULL AND fault_reported_at IS NULL;

-- +goose Down
DROP TABLE trip_feedback;
DROP TABLE trip_adjustments;
DROP TABLE trip_photos;
DROP TABLE trips;
DROP TABLE reservations;
