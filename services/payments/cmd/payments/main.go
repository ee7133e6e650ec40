// Command payments authorises, captures and refunds through the payment gateway and keeps the ledger.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/mobilitycorp/platform/pkg/config"
	"github.com/mobilitycorp/platform/pkg/postgres"
	"github.com/mobilitycorp/platform/pkg/service"
	"github.com/mobilitycorp/platform/services/payments/internal/ports/webhook"
	"github.com/mobilitycorp/platform/services/payments/migrations"
)

// build is the version, set at link time (-ldflags "-X main.build=...").
var build = "dev"

const (
	serviceName = "payments"
	envPrefix   = "PAYMENTS_"
	defaultAddr = "127.0.0.1:8084"
	defaultDB   = "mobility_payments"
)

// Config is the payments configuration; every variable carries the PAYMENTS_ prefix.
type Config struct {
	service.Base
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

	// 1. Configuration: fixed local defaults, overridden by PAYMENTS_* variables.
	cfg := Config{Base: service.Defaults(defaultAddr, defaultDB)}
	if err := config.LoadFrom(envPrefix, environ, &cfg); err != nil {
		return fmt.Errorf("load config: %w", err)
	}

	// 2. Infrastructure: logger, telemetry, PostgreSQL + migrations, Redis, Kafka, auth.
	infra, err := service.Start(ctx, service.Options{
		Name:      serviceName,
		Version:   build,
		EnvPrefix: envPrefix,
		// The ledger, then the webhook inbox; each set has its own version table.
		Migrations: []postgres.MigrationSet{migrations.Set(), webhook.Migrations()},
		Stdout:     stdout,
	}, cfg.Base, cfg)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}

	// 3. HTTP: platform middleware, /livez, /readyz, /metrics.
	router := infra.Router()

	// 4. Serve until the signal, then shut down in order.
	return infra.Run(ctx, router)
}
