// Command booking owns customers, the fleet registry, availability, reservations, trips, returns and prices.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mobilitycorp/platform/pkg/config"
	"github.com/mobilitycorp/platform/pkg/idempotency"
	"github.com/mobilitycorp/platform/pkg/postgres"
	"github.com/mobilitycorp/platform/pkg/service"
	"github.com/mobilitycorp/platform/services/booking/api"
	"github.com/mobilitycorp/platform/services/booking/internal/app"
	"github.com/mobilitycorp/platform/services/booking/migrations"
)

// build is the version, set at link time (-ldflags "-X main.build=...").
var build = "dev"

const (
	serviceName = "booking"
	envPrefix   = "BOOKING_"
	defaultAddr = "127.0.0.1:8081"
	defaultDB   = "mobility_booking"
)

// Config is the booking configuration; every variable carries the BOOKING_ prefix.
type Config struct {
	service.Base
	Fleet        FleetConfig        // area A: customers and the fleet registry
	Availability AvailabilityConfig // area B: availability index and pricing
	Trips        TripsConfig        // area C: reservations, trips and returns
}

func main() {
	if err := run(context.Background(), os.Stdout, nil); err != nil {
		fmt.Fprintln(os.Stderr, serviceName+":", err)
		os.Exit(1)
	}
}

// run wires the service by hand and blocks until SIGINT/SIGTERM or a fatal error.
// environ nil means the process environment (tests pass their own).
func run(ctx context.Context, stdout io.Writer, environ map[string]string) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	// 1. Configuration: fixed local defaults, overridden by BOOKING_* variables.
	cfg := Config{Base: service.Defaults(defaultAddr, defaultDB)}
	if err := config.LoadFrom(envPrefix, environ, &cfg); err != nil {
		return fmt.Errorf("load config: %w", err)
	}

	// 2. Infrastructure: logger, telemetry, PostgreSQL + migrations, Redis, Kafka, auth.
	infra, err := service.Start(ctx, service.Options{
		Name:       serviceName,
		Version:    build,
		EnvPrefix:  envPrefix,
		Migrations: []postgres.MigrationSet{migrations.Set()},
		Stdout:     stdout,
	}, cfg.Base, cfg)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}

	// 3. The three areas, each over the services of the ones before it:
	// availability and pricing (B); customers and the fleet registry (A), which
	// tells B about maintenance; reservations, trips and returns (C) over both.
	idem := idempotency.Middleware(infra.DB, idempotency.Options{Required: true, Logger: infra.Logger})
	avail, err := wireAvailability(cfg.Availability, infra, cfg.Kafka, idem)
	if err != nil {
		infra.Close(ctx)
		return err
	}
	fleet, err := wireFleet(ctx, cfg.Fleet, infra, avail.Availability)
	if err != nil {
		infra.Close(ctx)
		return err
	}
	trips, err := wireTrips(cfg.Trips, infra, cfg.Kafka, app.BookingDeps{
		Customers: fleet.Customers,
		Vehicles:  fleet.Fleet,
		Places:    fleet.Fleet,
		Faults:    fleet.Fleet,
		States:    avail.VehicleStates,
		Holds:     avail.Availability,
		Pricing:   avail.TripPricing,
	}, idem, cfg.HTTP.MaxBodyBytes)
	if err != nil {
		infra.Close(ctx)
		return err
	}

	// 4. HTTP: platform middleware, /livez, /readyz, /metrics, the OpenAPI
	// document, then the authenticated /v1 API.
	router := infra.Router()
	router.Get("/openapi.yaml", serveSpec)
	router.Group(func(r chi.Router) {
		r.Use(infra.Verifier.Authenticate)
		fleet.Mount(r)
		avail.Mount(r)
		trips.Mount(r)
	})

	// 5. Serve until the signal, then shut down in order.
	workers := []service.Worker{purgeIdempotencyKeys(infra.DB, infra.Logger)}
	workers = append(workers, avail.Workers...)
	workers = append(workers, fleet.Workers...)
	workers = append(workers, trips.Workers...)
	return infra.Run(ctx, router, workers...)
}

// serveSpec serves the OpenAPI document the binary was built and tested with.
func serveSpec(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(api.Spec)
}

// purgeIdempotencyKeys deletes expired Idempotency-Key records every hour; they
// are ignored once expired, so this only reclaims space.
func purgeIdempotencyKeys(pool *pgxpool.Pool, logger *slog.Logger) service.Worker {
	return func(ctx context.Context) error {
		tick := time.NewTicker(time.Hour)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
				if n, err := idempotency.Purge(ctx, pool); err != nil {
					logger.WarnContext(ctx, "purge idempotency keys", slog.Any("error", err))
				} else if n > 0 {
					logger.DebugContext(ctx, "purged idempotency keys", slog.Int64("count", n))
				}
			}
		}
	}
}
