-- +goose Up
-- Prices per city: the city's currency, fines, reward credit and the fee for a
-- reservation cancelled after its free window (pricing_cities),
-- base tariffs per vehicle type (tariffs), the dynamic multipliers in force
-- (price_multipliers) and every request to change one (multiplier_changes).
-- Amounts are integers in the currency's minor unit; multipliers are integers
-- in hundredths (125 = 1.25x) so that what is read back equals what was set.

CREATE TABLE pricing_cities (
    city                        text PRIMARY KEY,
    currency                    char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    wrong_location_fine_minor   bigint NOT NULL CHECK (wrong_location_fine_minor >= 0),
    late_return_fine_minor      bigint NOT NULL CHECK (late_return_fine_minor >= 0),
    under_served_reward_minor   bigint NOT NULL CHECK (under_served_reward_minor >= 0),
    cancellation_fee_minor      bigint NOT NULL CHECK (cancellation_fee_minor >= 0),
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    updated_by                  text NOT NULL DEFAULT ''
);

-- A tariff's currency is its city's: amounts are stored without one.
CREATE TABLE tariffs (
    city                text NOT NULL REFERENCES pricing_cities (city),
    vehicle_type        text NOT NULL CHECK (vehicle_type IN ('escooter', 'ebike', 'car', 'van')),
    unlock_fee_minor    bigint NOT NULL CHECK (unlock_fee_minor >= 0),
    per_minute_minor    bigint NOT NULL CHECK (per_minute_minor > 0),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    updated_by          text NOT NULL DEFAULT '',
    PRIMARY KEY (city, vehicle_type)
);

CREATE TABLE multiplier_changes (
    id              uuid PRIMARY KEY,
    city            text NOT NULL REFERENCES pricing_cities (city),
    zone_id         text NOT NULL DEFAULT '', -- '' is the whole city
    value_hundredths integer NOT NULL CHECK (value_hundredths BETWEEN 10 AND 1000),
    reason          text NOT NULL CHECK (reason <> ''),
    status          text NOT NULL CHECK (status IN ('applied', 'pending_approval', 'approved', 'rejected', 'expired')),
    requested_by    text NOT NULL,
    requested_at    timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    decided_by      text,
    decided_at      timestamptz,
    -- Within 0.5x–2.5x staff apply a change themselves; outside it only a
    -- second person's decision moves it on. The database holds that line too.
    CHECK (status <> 'applied' OR value_hundredths BETWEEN 50 AND 250),
    CHECK (status NOT IN ('approved', 'rejected') OR (decided_by IS NOT NULL AND decided_by <> requested_by))
);
CREATE INDEX multiplier_changes_status_idx ON multiplier_changes (status, requested_at DESC, id DESC);
CREATE INDEX multiplier_changes_city_idx ON multiplier_changes (city, requested_at DESC, id DESC);

CREATE TABLE price_multipliers (
    city             text NOT NULL REFERENCES pricing_cities (city),
    zone_id          text NOT NULL DEFAULT '',
    value_hundredths integer NOT NULL CHECK (value_hundredths BETWEEN 10 AND 1000),
    change_id        uuid NOT NULL REFERENCES multiplier_changes (id),
    approved         boolean NOT NULL DEFAULT false,
    set_by           text NOT NULL,
    set_at           timestamptz NOT NULL,
    PRIMARY KEY (city, zone_id),
    -- No multiplier outside the bounds is in force without an approval.
    CHECK (approved OR value_hundredths BETWEEN 50 AND 250)
);

-- Berlin, EUR (domain.md: 1.00 EUR unlock + 0.25–0.50 EUR/minute by type).
INSERT INTO pricing_cities (city, currency, wrong_location_fine_minor, late_return_fine_minor, under_served_reward_minor, cancellation_fee_minor, updated_by)
VALUES ('berlin', 'EUR', 2500, 3000, 200, 300, 'seed');
INSERT INTO tariffs (city, vehicle_type, unlock_fee_minor, per_minute_minor, updated_by) VALUES
    ('berlin', 'ebike',    100, 25, 'seed'),
    ('berlin', 'escooter', 100, 30, 'seed'),
    ('berlin', 'car',      100, 45, 'seed'),
    ('berlin', 'van',      100, 50, 'seed');

-- +goose Down
DROP TABLE price_multipliers;
DROP TABLE multiplier_changes;
DROP TABLE tariffs;
DROP TABLE pricing_cities;
