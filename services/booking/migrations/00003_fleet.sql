-- +goose Up
-- The fleet registry: vehicles, parking bays and zones. Every change is also
-- published on the compacted fleet.registry topic through the outbox.

CREATE TABLE vehicles (
    id               TEXT        PRIMARY KEY, -- UUIDv7: ordered by creation, the list cursor
    type             TEXT        NOT NULL CHECK (type IN ('escooter', 'ebike', 'car', 'van')),
    model            TEXT        NOT NULL,
    plate            TEXT,
    serial           TEXT,
    range_km         INT         NOT NULL CHECK (range_km BETWEEN 1 AND 1500),
    home_city        TEXT        NOT NULL,
    status           TEXT        NOT NULL CHECK (status IN ('available', 'maintenance', 'retired')),
    maintenance_note TEXT        NOT NULL DEFAULT '',
    -- True from a status change until the availability index has been told;
    -- a sweeper retries what the immediate push after commit could not do.
    maintenance_sync_pending BOOLEAN NOT NULL DEFAULT true,
    updated_by       TEXT        NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    -- Cars and vans are known by their plate, bikes and scooters by their serial.
    CONSTRAINT vehicles_identifier CHECK (
        CASE WHEN type IN ('car', 'van') THEN plate IS NOT NULL AND serial IS NULL
             ELSE serial IS NOT NULL AND plate IS NULL END)
);
-- A plate or serial names one vehicle in service; a retired vehicle's plate
-- may be registered again (re-plated, or sold back).
CREATE UNIQUE INDEX vehicles_plate ON vehicles (plate) WHERE plate IS NOT NULL AND status <> 'retired';
CREATE UNIQUE INDEX vehicles_serial ON vehicles (serial) WHERE serial IS NOT NULL AND status <> 'retired';
CREATE INDEX vehicles_city ON vehicles (home_city, id);
CREATE INDEX vehicles_sync_pending ON vehicles (id) WHERE maintenance_sync_pending;

-- Bays and zones keep their polygon as GeoJSON rings ([lon, lat] positions)
-- and its bounding box as a native box (x = lon, y = lat) under a GiST index:
-- "which bays hold this point" is an index scan, then an exact test in Go.
CREATE TABLE bays (
    id            TEXT        PRIMARY KEY,
    name          TEXT        NOT NULL,
    city          TEXT        NOT NULL,
    polygon       JSONB       NOT NULL,
    bbox          BOX         NOT NULL,
    centroid_lat  DOUBLE PRECISION NOT NULL,
    centroid_lon  DOUBLE PRECISION NOT NULL,
    capacity      INT         NOT NULL CHECK (capacity BETWEEN 1 AND 10000),
    vehicle_types TEXT[]      NOT NULL CHECK (cardinality(vehicle_types) > 0
                                  AND vehicle_types <@ ARRAY['escooter', 'ebike', 'car', 'van']),
    chargers      INT         NOT NULL CHECK (chargers >= 0 AND chargers <= capacity),
    under_served  BOOLEAN     NOT NULL DEFAULT false,
    active        BOOLEAN     NOT NULL DEFAULT true,
    updated_by    TEXT        NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX bays_bbox ON bays USING gist (bbox) WHERE active;
CREATE INDEX bays_city ON bays (city, id);

-- revision changes on every write (from a sequence): sum(revision) is then a
-- cheap fingerprint that tells in-memory zone indexes to reload.
CREATE SEQUENCE zone_revisions;
CREATE TABLE zones (
    id            TEXT        PRIMARY KEY,
    name          TEXT        NOT NULL,
    city          TEXT        NOT NULL,
    kind          TEXT        NOT NULL CHECK (kind IN ('operating_area', 'no_parking', 'slow', 'no_ride_through')),
    max_speed_kmh INT,
    polygon       JSONB       NOT NULL,
    bbox          BOX         NOT NULL,
    active        BOOLEAN     NOT NULL DEFAULT true,
    revision      BIGINT      NOT NULL DEFAULT nextval('zone_revisions'),
    updated_by    TEXT        NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    CONSTRAINT zones_speed CHECK ((kind = 'slow') = (max_speed_kmh IS NOT NULL))
);
CREATE INDEX zones_city ON zones (city, id);
CREATE INDEX zones_bbox ON zones USING gist (bbox) WHERE active;

-- +goose Down
DROP TABLE zones;
DROP SEQUENCE zone_revisions;
DROP TABLE bays;
DROP TABLE vehicles;
