package postgres_test

import (
	"context"
	"testing"
	"testing/fstest"

	"github.com/mobilitycorp/platform/pkg/postgres"
	"github.com/mobilitycorp/platform/pkg/postgres/pgtest"
)

// The platform depends on both extensions; the bootstrap must have made them available.
func TestExtensionsAvailable(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	for _, stmt := range []string{
		"CREATE EXTENSION IF NOT EXISTS timescaledb",
		"CREATE EXTENSION IF NOT EXISTS vector",
		"CREATE TABLE readings (at TIMESTAMPTZ NOT NULL, v DOUBLE PRECISION, emb vector(3))",
		"SELECT create_hypertable('readings', by_range('at'))",
		"INSERT INTO readings VALUES (now(), 1, '[1,0,0]'), (now(), 2, '[0,1,0]')",
	} {
		if _, err := pool.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	var v float64
	if err := pool.QueryRow(ctx, "SELECT v FROM readings ORDER BY emb <-> '[0,0.9,0]' LIMIT 1").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != 2 {
		t.Fatalf("nearest vector row v = %v, want 2", v)
	}
	var chunks int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM show_chunks('readings')").Scan(&chunks); err != nil || chunks < 1 {
		t.Fatalf("hypertable chunks = %d, err %v", chunks, err)
	}
}

func TestMigrateAppliesSetsOnceAndIsolatesDatabases(t *testing.T) {
	set := postgres.MigrationSet{Name: "demo", FS: fstest.MapFS{
		"00001_things.sql": {Data: []byte("-- +goose Up\nCREATE TABLE things (id INT PRIMARY KEY);\n-- +goose Down\nDROP TABLE things;\n")},
	}}
	a := pgtest.New(t, set)
	b := pgtest.New(t, set)
	ctx := context.Background()
	if _, err := a.Exec(ctx, "INSERT INTO things VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	// Re-applying is a no-op, not an error.
	if err := postgres.Migrate(ctx, a, postgres.Platform(), set); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	var n int
	if err := b.QueryRow(ctx, "SELECT count(*) FROM things").Scan(&n); err != nil || n != 0 {
		t.Fatalf("database b sees %d rows (err %v): test databases must be isolated", n, err)
	}
	for _, table := range []string{"outbox", "inbox", "idempotency_keys"} {
		var exists bool
		if err := a.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", table).Scan(&exists); err != nil || !exists {
			t.Fatalf("platform table %s missing (err %v)", table, err)
		}
	}
}
