package postgres

import (
	"context"
	"embed"
	"fmt"
	"hash/fnv"
	"io/fs"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var platformMigrations embed.FS

// Platform holds the tables every service shares through pkg: the transactional
// outbox, the consumer inbox (de-duplication by event id) and idempotency keys.
// Apply it before a service's own set.
func Platform() MigrationSet {
	sub, err := fs.Sub(platformMigrations, "migrations")
	if err != nil {
		panic(err) // the embedded directory is fixed at compile time
	}
	return MigrationSet{Name: "platform", FS: sub}
}

// Migrate applies every set in order. Each set has its own goose version table.
// Goose takes a Postgres advisory lock, so replicas starting together migrate once.
func Migrate(ctx context.Context, pool *pgxpool.Pool, sets ...MigrationSet) error {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	for _, set := range sets {
		store, err := database.NewStore(goose.DialectPostgres, versionTable(set.Name))
		if err != nil {
			return fmt.Errorf("migration store %s: %w", set.Name, err)
		}
		p, err := goose.NewProvider("", db, set.FS,
			goose.WithStore(store),
			goose.WithSessionLocker(mustLocker(set.Name)),
		)
		if err != nil {
			return fmt.Errorf("migrations %s: %w", set.Name, err)
		}
		if _, err := p.Up(ctx); err != nil {
			return fmt.Errorf("apply migrations %s: %w", set.Name, err)
		}
	}
	return nil
}

// mustLocker returns a session-level advisory lock unique to the set, so two sets
// never wait on each other and two replicas never migrate the same set at once.
func mustLocker(name string) lock.SessionLocker {
	h := fnv.New64a()
	_, _ = h.Write([]byte("mobility-migrate-" + name))
	l, err := lock.NewPostgresSessionLocker(lock.WithLockID(int64(h.Sum64() >> 1)))
	if err != nil {
		panic(err) // only fails on invalid options, which are constant here
	}
	return l
}

// versionTable names a set's goose table; set names may contain dashes (service names).
func versionTable(set string) string {
	return "goose_" + strings.NewReplacer("-", "_", ".", "_").Replace(set)
}
