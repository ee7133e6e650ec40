// Package pgtest gives each test its own freshly migrated database on the real
// PostgreSQL server. Migrations run once per migration content into a template
// database; each test clones it (CREATE DATABASE ... TEMPLATE), which takes
// milliseconds, and drops it when the test ends.
//
// The server is PGTEST_URL (default postgres://postgres@127.0.0.1:5432/postgres).
// A server that cannot be reached fails the test: it never skips.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mobilitycorp/platform/pkg/postgres"
)

// ServerURL is the admin connection string of the test server.
func ServerURL() string {
	if u := os.Getenv("PGTEST_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// New returns a pool on a new database migrated with sets (the platform set is
// always applied first). The database is dropped when the test ends.
func New(t testing.TB, sets ...postgres.MigrationSet) *pgxpool.Pool {
	t.Helper()
	pool, _ := NewWithURL(t, sets...)
	return pool
}

// NewWithURL is New and also returns the database URL, for code under test that
// opens its own connections (a service started in-process, a relay).
func NewWithURL(t testing.TB, sets ...postgres.MigrationSet) (*pgxpool.Pool, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	all := append([]postgres.MigrationSet{postgres.Platform()}, sets...)
	tmpl, err := ensureTemplate(ctx, all)
	if err != nil {
		t.Fatalf("pgtest: template: %v", err)
	}
	name := "t_" + randomHex(8)
	admin, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		t.Fatalf("pgtest: connect %s: %v", ServerURL(), err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, tmpl)); err != nil {
		t.Fatalf("pgtest: clone template: %v", err)
	}
	dbURL := withDatabase(ServerURL(), name)
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatalf("pgtest: open pool: %v", err)
	}
	t.Cleanup(func() {
		pool.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, ServerURL())
		if err != nil {
			t.Errorf("pgtest: drop %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name)); err != nil {
			t.Errorf("pgtest: drop %s: %v", name, err)
		}
	})
	return pool, dbURL
}

// ensureTemplate creates (once per migration content, across processes) a template
// database with every set applied. Connections to it are then disallowed so that
// background workers (TimescaleDB's scheduler) cannot block cloning.
func ensureTemplate(ctx context.Context, sets []postgres.MigrationSet) (string, error) {
	sum, err := digest(sets)
	if err != nil {
		return "", err
	}
	name := "tmpl_" + sum[:16]
	admin, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		return "", fmt.Errorf("connect %s: %w", ServerURL(), err)
	}
	defer admin.Close(ctx)
	// Serialise template creation between test binaries running in parallel.
	if _, err := admin.Exec(ctx, "SELECT pg_advisory_lock(hashtext('mobility-pgtest-template'))"); err != nil {
		return "", fmt.Errorf("lock: %w", err)
	}
	defer admin.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(hashtext('mobility-pgtest-template'))") //nolint:errcheck

	var ready bool
	err = admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate AND NOT datallowconn)", name).Scan(&ready)
	if err != nil {
		return "", err
	}
	if ready {
		return name, nil
	}
	// A half-built template from an interrupted run is rebuilt from scratch.
	if _, err := admin.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name)); err != nil {
		return "", fmt.Errorf("drop stale template: %w", err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("create template: %w", err)
	}
	pool, err := pgxpool.New(ctx, withDatabase(ServerURL(), name))
	if err != nil {
		return "", err
	}
	err = postgres.Migrate(ctx, pool, sets...)
	pool.Close()
	if err != nil {
		return "", err
	}
	if _, err := admin.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s WITH IS_TEMPLATE true ALLOW_CONNECTIONS false", name)); err != nil {
		return "", fmt.Errorf("seal template: %w", err)
	}
	if _, err := admin.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name); err != nil {
		return "", fmt.Errorf("disconnect template: %w", err)
	}
	return name, nil
}

// digest hashes every migration file of every set, so a changed migration gets a new template.
func digest(sets []postgres.MigrationSet) (string, error) {
	h := sha256.New()
	for _, set := range sets {
		fmt.Fprintf(h, "set:%s\n", set.Name)
		var files []string
		err := fs.WalkDir(set.FS, ".", func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				files = append(files, p)
			}
			return err
		})
		if err != nil {
			return "", fmt.Errorf("read migrations %s: %w", set.Name, err)
		}
		sort.Strings(files)
		for _, f := range files {
			b, err := fs.ReadFile(set.FS, f)
			if err != nil {
				return "", err
			}
			fmt.Fprintf(h, "%s:%d\n", f, len(b))
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func withDatabase(server, db string) string {
	u, err := url.Parse(server)
	if err != nil {
		panic(fmt.Sprintf("pgtest: bad PGTEST_URL: %v", err))
	}
	u.Path = "/" + db
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
