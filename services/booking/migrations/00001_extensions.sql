-- +goose Up
-- btree_gist lets one exclusion constraint combine vehicle equality with time-range
-- overlap: the database itself then refuses a double booking.
CREATE EXTENSION IF NOT EXISTS btree_gist;

-- +goose Down
DROP EXTENSION IF EXISTS btree_gist;
