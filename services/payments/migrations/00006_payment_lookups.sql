-- +goose Up
-- Every Stripe webhook finds its payment by intent id; staff list all payments newest first.
CREATE INDEX payments_intent ON payments (intent_id) WHERE intent_id <> '';
CREATE INDEX payments_created ON payments (created_at DESC, id DESC);

-- +goose Down
DROP INDEX payments_created;
DROP INDEX payments_intent;
