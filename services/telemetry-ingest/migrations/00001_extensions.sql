-- +goose Up
-- Telemetry lands in TimescaleDB hypertables (preloaded by scripts/bootstrap).
CREATE EXTENSION IF NOT EXISTS timescaledb;

-- +goose Down
DROP EXTENSION IF EXISTS timescaledb;
