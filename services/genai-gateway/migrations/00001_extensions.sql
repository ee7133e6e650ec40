-- +goose Up
-- pgvector backs the semantic cache and the retrieval knowledge base.
CREATE EXTENSION IF NOT EXISTS vector;

-- +goose Down
DROP EXTENSION IF EXISTS vector;
