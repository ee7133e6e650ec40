// Package postgres opens pgx pools, creates databases in development and applies
// embedded migrations with goose (the one migration tool of the repository).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mobilitycorp/platform/pkg/config"
)

// Config is the Postgres part of a service config.
type Config struct {
	URL      config.Secret `env:"POSTGRES_URL"`
	MaxConns int32         `env:"POSTGRES_MAX_CONNS" envDefault:"20"`
	// CreateDatabase creates the database named in URL when it does not exist (development).
	CreateDatabase bool `env:"POSTGRES_CREATE_DATABASE" envDefault:"true"`
}

// Validate implements config.Validator.
func (c Config) Validate() error {
	if c.URL == "" {
		return errors.New("POSTGRES_URL is required")
	}
	if c.MaxConns < 1 {
		return errors.New("POSTGRES_MAX_CONNS must be at least 1")
	}
	return nil
}

// Open connects a pool and checks the server answers.
func Open(ctx context.Context, cfg Config) (*pgxpool.Pool, error) {
	if cfg.CreateDatabase {
		if err := EnsureDatabase(ctx, cfg.URL.Reveal()); err != nil {
			return nil, err
		}
	}
	pc, err := pgxpool.ParseConfig(cfg.URL.Reveal())
	if err != nil {
		return nil, fmt.Errorf("parse postgres url: %w", err)
	}
	pc.MaxConns = cfg.MaxConns
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("open postgres pool: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("ping postgres: %w", err)
	}
	return pool, nil
}

// EnsureDatabase creates the database named in dsn if it is missing, connecting to
// the server's "postgres" maintenance database.
func EnsureDatabase(ctx context.Context, dsn string) error {
	u, err := url.Parse(dsn)
	if err != nil {
		return fmt.Errorf("parse postgres url: %w", err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" || name == "postgres" {
		return nil
	}
	admin := *u
	admin.Path = "/postgres"
	conn, err := pgx.Connect(ctx, admin.String())
	if err != nil {
		return fmt.Errorf("connect maintenance database: %w", err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if err != nil && !(errors.As(err, &pgErr) && (pgErr.Code == "42P04" || pgErr.Code == "23505")) {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// MigrationSet is a directory of goose SQL migrations with its own version table,
// so the platform's shared tables and a service's tables evolve independently.
type MigrationSet struct {
	Name string // version table is goose_<Name> (dashes become underscores)
	FS   fs.FS  // *.sql files at the root
}

// IsUniqueViolation reports whether err is a Postgres unique_violation.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}
