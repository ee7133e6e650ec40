// Package service wires the infrastructure every platform service shares, in the
// same order for all five: logger and telemetry, PostgreSQL (and migrations),
// Redis, Kafka, auth, then the HTTP server, background workers and an ordered
// graceful shutdown. Services call it from their run function and add their own
// handlers and consumers; business code never sees this package.
package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/mobilitycorp/platform/pkg/auth"
	"github.com/mobilitycorp/platform/pkg/config"
	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/httpx"
	"github.com/mobilitycorp/platform/pkg/kafka"
	"github.com/mobilitycorp/platform/pkg/log"
	"github.com/mobilitycorp/platform/pkg/observability"
	"github.com/mobilitycorp/platform/pkg/outbox"
	"github.com/mobilitycorp/platform/pkg/postgres"
	"github.com/mobilitycorp/platform/pkg/redisx"
)

// DevJWTSecret signs and verifies tokens in development when no auth is configured.
// It is public on purpose: production must set AUTH_JWKS_URL (Validate enforces it).
const DevJWTSecret config.Secret = "mobility-local-development-secret-do-not-use-in-production"

// Base is the configuration every service embeds (env names get the service prefix).
type Base struct {
	Environment string `env:"ENV" envDefault:"development"` // development | production
	LogLevel    string `env:"LOG_LEVEL" envDefault:"info"`
	HTTP        httpx.Config
	Postgres    postgres.Config
	Redis       redisx.Config
	Kafka       kafka.Config
	Auth        auth.Config
	Telemetry   observability.Config
}

// Defaults returns a Base with the service's fixed local port and database; Load
// then overrides from the environment.
func Defaults(httpAddr, database string) Base {
	return Base{
		HTTP:     httpx.DefaultConfig(httpAddr),
		Postgres: postgres.Config{URL: config.Secret("postgres://postgres@127.0.0.1:5432/" + database + "?sslmode=disable")},
	}
}

// Validate implements config.Validator.
func (b *Base) Validate() error {
	switch b.Environment {
	case "development":
		if b.Auth.JWKSURL == "" && b.Auth.HS256Secret == "" {
			b.Auth.HS256Secret = DevJWTSecret
		}
	case "production":
		if b.Auth.JWKSURL == "" {
			return errors.New("AUTH_JWKS_URL is required in production")
		}
		if b.Postgres.CreateDatabase {
			return errors.New("POSTGRES_CREATE_DATABASE must be false in production (databases are provisioned by Terraform)")
		}
	default:
		return fmt.Errorf("ENV must be development or production, got %q", b.Environment)
	}
	return nil
}

// Options names a service and its own migrations.
type Options struct {
	Name       string
	Version    string
	EnvPrefix  string
	Migrations []postgres.MigrationSet // applied after the platform set
	Stdout     io.Writer
}

// Infra holds the connections a service's adapters use.
type Infra struct {
	Name      string
	Logger    *slog.Logger
	Telemetry *observability.Telemetry
	DB        *pgxpool.Pool
	Redis     *redis.Client
	Keys      redisx.Keys
	Producer  *kafka.Producer
	Verifier  *auth.Verifier
	Health    *httpx.Health

	base   Base
	closer []func(context.Context) error
}

// Start connects everything in order; on error it closes what it opened.
func Start(ctx context.Context, opts Options, base Base, cfgForLog any) (_ *Infra, err error) {
	in := &Infra{Name: opts.Name, base: base, Health: httpx.NewHealth()}
	defer func() {
		if err != nil {
			in.Close(context.WithoutCancel(ctx))
		}
	}()

	// 1. Logger first, so every later step can say what it did. Config once, secrets masked.
	in.Logger = log.New(opts.Stdout, opts.Name, base.LogLevel)
	in.Logger.Info("starting", append([]any{slog.String("version", opts.Version)}, config.Attrs(opts.EnvPrefix, cfgForLog)...)...)

	// 2. Traces and metrics.
	if in.Telemetry, err = observability.Setup(ctx, opts.Name, opts.Version, base.Telemetry); err != nil {
		return nil, fmt.Errorf("observability: %w", err)
	}
	in.closer = append(in.closer, in.Telemetry.Shutdown)

	// 3. PostgreSQL and migrations (platform set first, then the service's own).
	if in.DB, err = postgres.Open(ctx, base.Postgres); err != nil {
		return nil, err
	}
	in.closer = append(in.closer, func(context.Context) error { in.DB.Close(); return nil })
	sets := append([]postgres.MigrationSet{postgres.Platform()}, opts.Migrations...)
	if err = postgres.Migrate(ctx, in.DB, sets...); err != nil {
		return nil, err
	}
	in.Health.AddCheck("postgres", in.DB.Ping)

	// 4. Redis.
	if in.Redis, err = redisx.Open(ctx, base.Redis); err != nil {
		return nil, err
	}
	in.Keys = redisx.Keys(base.Redis.KeyPrefix)
	in.closer = append(in.closer, func(context.Context) error { return in.Redis.Close() })
	in.Health.AddCheck("redis", func(ctx context.Context) error { return in.Redis.Ping(ctx).Err() })

	// 5. Kafka: topics (development) and the idempotent producer.
	if base.Kafka.ClientID == "" {
		base.Kafka.ClientID = opts.Name
	}
	if base.Kafka.CreateTopics {
		if err = kafka.EnsureTopics(ctx, base.Kafka, events.Topics()); err != nil {
			return nil, err
		}
	}
	if in.Producer, err = kafka.NewProducer(base.Kafka, in.Logger, in.Telemetry.Registry); err != nil {
		return nil, err
	}
	in.closer = append(in.closer, func(context.Context) error { in.Producer.Close(); return nil })
	in.Health.AddCheck("kafka", in.Producer.Ping)

	// 6. Auth.
	if in.Verifier, err = auth.NewVerifier(ctx, base.Auth); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return in, nil
}

// Router returns the service's chi router with the platform middleware and
// /livez, /readyz and /metrics mounted.
func (in *Infra) Router() *chi.Mux {
	r := httpx.NewRouter(httpx.RouterOptions{
		Service:        in.Name,
		Logger:         in.Logger,
		Telemetry:      in.Telemetry,
		RequestTimeout: in.base.HTTP.RequestTimeout,
		MaxBodyBytes:   in.base.HTTP.MaxBodyBytes,
	})
	httpx.Mount(r, in.Health, in.Telemetry)
	return r
}

// Worker is a background loop (consumer, relay, scheduler) that returns when ctx ends.
type Worker func(ctx context.Context) error

// Run serves HTTP and runs the outbox relay and the given workers until ctx is
// cancelled (SIGTERM), then shuts down in order: stop accepting and finish HTTP
// requests, drain workers, flush the producer, close pools.
func (in *Infra) Run(ctx context.Context, handler http.Handler, workers ...Worker) error {
	relay, err := outbox.NewRelay(in.DB, in.Producer, in.Logger, outbox.RelayOptions{Registerer: in.Telemetry.Registry})
	if err != nil {
		in.Close(context.WithoutCancel(ctx))
		return fmt.Errorf("%s: outbox relay: %w", in.Name, err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return httpx.Serve(gctx, in.base.HTTP, handler, in.Health, in.Logger) })
	g.Go(func() error { return ignoreCanceled(relay.Run(gctx)) })
	for _, w := range workers {
		g.Go(func() error { return ignoreCanceled(w(gctx)) })
	}
	in.Logger.Info("serving", slog.String("http", in.base.HTTP.Addr))
	err = g.Wait()
	in.Logger.Info("shutting down")
	in.Close(context.WithoutCancel(ctx))
	if err != nil {
		return fmt.Errorf("%s: %w", in.Name, err)
	}
	in.Logger.Info("stopped")
	return nil
}

// Close releases everything Start opened, newest first.
func (in *Infra) Close(ctx context.Context) {
	for i := len(in.closer) - 1; i >= 0; i-- {
		if err := in.closer[i](ctx); err != nil && in.Logger != nil {
			in.Logger.Warn("close", slog.Any("error", err))
		}
	}
	in.closer = nil
}

func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
