// Command payments authorises, captures and refunds through the payment gateway and keeps the ledger.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mobilitycorp/platform/pkg/config"
	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/kafka"
	"github.com/mobilitycorp/platform/pkg/postgres"
	"github.com/mobilitycorp/platform/pkg/service"
	pgstore "github.com/mobilitycorp/platform/services/payments/internal/adapters/postgres"
	"github.com/mobilitycorp/platform/services/payments/internal/adapters/sandbox"
	"github.com/mobilitycorp/platform/services/payments/internal/adapters/stripe"
	"github.com/mobilitycorp/platform/services/payments/internal/app"
	"github.com/mobilitycorp/platform/services/payments/internal/ports/consumer"
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

	// Gateway is "sandbox" (in-process, the development default) or "stripe".
	Gateway         string        `env:"GATEWAY" envDefault:"sandbox"`
	StripeSecretKey config.Secret `env:"STRIPE_SECRET_KEY"`
	StripeBaseURL   string        `env:"STRIPE_BASE_URL" envDefault:"https://api.stripe.com"`
	// SandboxPaymentMethod is the card every customer pays with in the sandbox until
	// customers' saved payment methods arrive from booking.
	SandboxPaymentMethod string `env:"SANDBOX_PAYMENT_METHOD" envDefault:"pm_card_visa"`
}

// Validate implements config.Validator.
func (c *Config) Validate() error {
	switch c.Gateway {
	case "sandbox":
		if c.Environment == "production" {
			return errors.New("GATEWAY=sandbox is not allowed in production")
		}
	case "stripe":
		if c.StripeSecretKey == "" {
			return errors.New("STRIPE_SECRET_KEY is required with GATEWAY=stripe")
		}
	default:
		return fmt.Errorf("GATEWAY must be sandbox or stripe, got %q", c.Gateway)
	}
	return c.Base.Validate()
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

	// 3. Payment flows: gateway, ledger, payments store, the booking.trips consumer
	// and the operations worker that talks to the gateway.
	workers, err := wire(cfg, infra)
	if err != nil {
		infra.Close(ctx)
		return err
	}

	// 4. HTTP: platform middleware, /livez, /readyz, /metrics.
	router := infra.Router()

	// 5. Serve until the signal, then shut down in order.
	return infra.Run(ctx, router, workers...)
}

// wire builds the trip payment flow and returns its background workers.
func wire(cfg Config, infra *service.Infra) ([]service.Worker, error) {
	var gateway app.Gateway
	var methods app.PaymentMethodResolver
	switch cfg.Gateway {
	case "stripe":
		gw, err := stripe.New(stripe.Config{SecretKey: cfg.StripeSecretKey, BaseURL: cfg.StripeBaseURL, Logger: infra.Logger})
		if err != nil {
			return nil, fmt.Errorf("stripe gateway: %w", err)
		}
		gateway = gw
		methods = func(context.Context, string) (app.PaymentMethodRef, error) {
			return app.PaymentMethodRef{}, errors.New("no saved payment methods yet: customers' cards arrive with booking's customer API")
		}
	default:
		gateway = sandbox.New(sandbox.Options{})
		pm := cfg.SandboxPaymentMethod
		methods = func(context.Context, string) (app.PaymentMethodRef, error) {
			return app.PaymentMethodRef{PaymentMethod: pm}, nil
		}
	}
	store := pgstore.NewPayments(infra.DB, time.Minute)
	flows := app.NewFlows(store, pgstore.NewLedger(infra.DB), gateway, methods, app.FlowsOptions{Logger: infra.Logger})
	trips, err := kafka.NewConsumer(cfg.Kafka, kafka.ConsumerOptions{
		Group:   serviceName + "-trips",
		Topics:  []string{events.TopicBookingTrips},
		Handler: consumer.Trips(flows),
		DLQ:     infra.Producer,
	}, infra.Logger, infra.Telemetry.Registry)
	if err != nil {
		return nil, fmt.Errorf("trips consumer: %w", err)
	}
	return []service.Worker{trips.Run, flows.RunOperations}, nil
}
