// Command payments authorises, captures and refunds through the payment gateway and keeps the ledger.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mobilitycorp/platform/pkg/config"
	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/idempotency"
	"github.com/mobilitycorp/platform/pkg/kafka"
	"github.com/mobilitycorp/platform/pkg/postgres"
	"github.com/mobilitycorp/platform/pkg/service"
	pgstore "github.com/mobilitycorp/platform/services/payments/internal/adapters/postgres"
	"github.com/mobilitycorp/platform/services/payments/internal/adapters/sandbox"
	"github.com/mobilitycorp/platform/services/payments/internal/adapters/stripe"
	"github.com/mobilitycorp/platform/services/payments/internal/app"
	"github.com/mobilitycorp/platform/services/payments/internal/ports/consumer"
	httpapi "github.com/mobilitycorp/platform/services/payments/internal/ports/http"
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
	// StripeWebhookSecrets are the signing secrets (whsec_...) of the Stripe webhook
	// endpoint, comma-separated: during a rotation both the old and the new one.
	// Empty leaves POST /v1/webhooks/stripe unmounted (sandbox development only).
	StripeWebhookSecrets config.Secret `env:"STRIPE_WEBHOOK_SECRETS"`
	// RefundApprovalThreshold: refunds above it (minor units) wait for a second
	// member of staff; domain.md lists large refunds among the human-approved actions.
	RefundApprovalThreshold int64 `env:"REFUND_APPROVAL_THRESHOLD_MINOR" envDefault:"2000"`

	// Reconciliation compares our captures and refunds with the gateway's records.
	ReconcileEnabled       bool          `env:"RECONCILE_ENABLED" envDefault:"true"`
	ReconcileInterval      time.Duration `env:"RECONCILE_INTERVAL" envDefault:"1h"`
	ReconcileOverlap       time.Duration `env:"RECONCILE_OVERLAP" envDefault:"15m"`
	ReconcileSettle        time.Duration `env:"RECONCILE_SETTLE" envDefault:"10m"`
	ReconcileFirstLookback time.Duration `env:"RECONCILE_FIRST_LOOKBACK" envDefault:"24h"`
	ReconcileConcurrency   int           `env:"RECONCILE_CONCURRENCY" envDefault:"4"`
}

// webhookSecrets splits StripeWebhookSecrets; blanks around commas are ignored.
func (c *Config) webhookSecrets() []config.Secret {
	var out []config.Secret
	for _, s := range strings.Split(c.StripeWebhookSecrets.Reveal(), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, config.Secret(s))
		}
	}
	return out
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
		// Without webhooks a hold Stripe released, or a refund made in its
		// dashboard, would never reach our books.
		if len(c.webhookSecrets()) == 0 {
			return errors.New("STRIPE_WEBHOOK_SECRETS is required with GATEWAY=stripe")
		}
	default:
		return fmt.Errorf("GATEWAY must be sandbox or stripe, got %q", c.Gateway)
	}
	// A zero would silently mean "default" further down, so require positive values.
	if c.ReconcileEnabled && (c.ReconcileInterval <= 0 || c.ReconcileOverlap <= 0 || c.ReconcileSettle <= 0 ||
		c.ReconcileFirstLookback <= 0 || c.ReconcileConcurrency <= 0) {
		return errors.New("RECONCILE_INTERVAL, _OVERLAP, _SETTLE, _FIRST_LOOKBACK and _CONCURRENCY must be positive")
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

	// 3. Payment flows: gateway, ledger, payments store, the booking.trips consumer,
	// the operations worker that talks to the gateway, and the Stripe webhook
	// processor.
	c, err := wire(cfg, infra)
	if err != nil {
		infra.Close(ctx)
		return err
	}

	// 4. HTTP: platform middleware, /livez, /readyz, /metrics, then the API
	// (GET /openapi.yaml, /v1) and the Stripe webhook.
	router := infra.Router()
	if err := httpapi.Mount(router, httpapi.Options{
		Reads:        c.queries,
		Money:        c.flows,
		Operations:   c.store,
		Authenticate: infra.Verifier.Authenticate,
		Idempotency:  idempotency.Middleware(infra.DB, idempotency.Options{Required: true, Logger: infra.Logger}),
		Webhook:      c.receiver,
		Logger:       infra.Logger,
	}); err != nil {
		infra.Close(ctx)
		return fmt.Errorf("http api: %w", err)
	}

	// 5. Serve until the signal, then shut down in order.
	return infra.Run(ctx, router, c.workers...)
}

// components are what wire builds for run.
type components struct {
	flows    *app.Flows
	store    *pgstore.Payments
	queries  *pgstore.Queries
	receiver *webhook.Receiver // nil without webhook secrets
	workers  []service.Worker
}

// wire builds the payment flows, the webhook handling and their background workers.
func wire(cfg Config, infra *service.Infra) (components, error) {
	var gateway app.Gateway
	var methods app.PaymentMethodResolver
	switch cfg.Gateway {
	case "stripe":
		gw, err := stripe.New(stripe.Config{SecretKey: cfg.StripeSecretKey, BaseURL: cfg.StripeBaseURL, Logger: infra.Logger})
		if err != nil {
			return components{}, fmt.Errorf("stripe gateway: %w", err)
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
	c := components{store: pgstore.NewPayments(infra.DB, time.Minute), queries: pgstore.NewQueries(infra.DB)}
	ledger := pgstore.NewLedger(infra.DB)
	// Only retryable gateway failures open the circuit; while open, calls fail
	// fast and the operations worker claims nothing.
	breaker, err := app.NewBreaker(gateway, app.BreakerOptions{
		Name: cfg.Gateway, Logger: infra.Logger, Registerer: infra.Telemetry.Registry})
	if err != nil {
		return components{}, fmt.Errorf("gateway breaker: %w", err)
	}
	c.flows = app.NewFlows(c.store, ledger, breaker, methods, app.FlowsOptions{
		Logger: infra.Logger, RefundApprovalThreshold: cfg.RefundApprovalThreshold})
	operations, err := app.NewWorker(c.flows, c.store, app.WorkerOptions{Registerer: infra.Telemetry.Registry})
	if err != nil {
		return components{}, fmt.Errorf("operations worker: %w", err)
	}
	trips, err := kafka.NewConsumer(cfg.Kafka, kafka.ConsumerOptions{
		Group:   serviceName + "-trips",
		Topics:  []string{events.TopicBookingTrips},
		Handler: consumer.Trips(c.flows),
		DLQ:     infra.Producer,
	}, infra.Logger, infra.Telemetry.Registry)
	if err != nil {
		return components{}, fmt.Errorf("trips consumer: %w", err)
	}
	// Cancellation fees arrive with booking.reservations.
	reservations, err := kafka.NewConsumer(cfg.Kafka, kafka.ConsumerOptions{
		Group:   serviceName + "-reservations",
		Topics:  []string{events.TopicBookingReservations},
		Handler: consumer.Reservations(c.flows),
		DLQ:     infra.Producer,
	}, infra.Logger, infra.Telemetry.Registry)
	if err != nil {
		return components{}, fmt.Errorf("reservations consumer: %w", err)
	}

	// Stripe webhooks: the receiver stores verified events, the processor (in
	// every replica) applies them in order per PaymentIntent.
	webhooks, err := app.NewWebhooks(c.queries, ledger, app.WebhooksOptions{
		Logger: infra.Logger, Registerer: infra.Telemetry.Registry})
	if err != nil {
		return components{}, fmt.Errorf("webhooks: %w", err)
	}
	processor, err := webhook.NewProcessor(infra.DB, httpapi.StripeEvents(webhooks), webhook.ProcessorOptions{Logger: infra.Logger})
	if err != nil {
		return components{}, fmt.Errorf("webhook processor: %w", err)
	}
	if secrets := cfg.webhookSecrets(); len(secrets) > 0 {
		if c.receiver, err = webhook.NewReceiver(infra.DB, webhook.ReceiverOptions{Secrets: secrets, Logger: infra.Logger}); err != nil {
			return components{}, fmt.Errorf("webhook receiver: %w", err)
		}
	} else {
		infra.Logger.Warn("STRIPE_WEBHOOK_SECRETS is empty: POST " + webhook.Path + " is not mounted")
	}

	c.workers = []service.Worker{trips.Run, reservations.Run, operations.Run, processor.Run,
		purgeIdempotencyKeys(infra.DB, infra.Logger)}

	// Reconciliation reads the gateway; it only reports mismatches.
	if cfg.ReconcileEnabled {
		recon, err := app.NewReconciler(pgstore.NewReconciliation(infra.DB), gateway, app.ReconcileOptions{
			Interval: cfg.ReconcileInterval, Overlap: cfg.ReconcileOverlap, Settle: cfg.ReconcileSettle,
			FirstLookback: cfg.ReconcileFirstLookback, Concurrency: cfg.ReconcileConcurrency,
			Logger: infra.Logger, Registerer: infra.Telemetry.Registry,
		})
		if err != nil {
			return components{}, fmt.Errorf("reconciler: %w", err)
		}
		c.workers = append(c.workers, recon.Run)
	}
	return c, nil
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
