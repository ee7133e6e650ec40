-- +goose Up
-- The event handler ignores an event older than the last one applied to the same
-- object (see the package doc); this index answers "newest processed event of
-- object X" without scanning every event ever received.
CREATE INDEX webhook_events_applied_by_object
    ON webhook_events (object_id, created DESC) WHERE processed_at IS NOT NULL;

-- +goose Down
DROP INDEX webhook_events_applied_by_object;
