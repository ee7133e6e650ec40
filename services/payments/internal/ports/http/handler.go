// Package httpapi is the payments service's REST edge (directory ports/http):
// the handlers of api/openapi.yaml, their authentication and role guards, the
// Idempotency-Key requirement on every POST that moves money, and the mounting
// of the Stripe webhook receiver. Errors are RFC 9457 problems.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/mobilitycorp/platform/pkg/auth"
	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/services/payments/api"
	"github.com/mobilitycorp/platform/services/payments/internal/app"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

// Reads answers the GET operations (adapters/postgres.Queries).
type Reads interface {
	ListPayments(ctx context.Context, f app.PaymentFilter) ([]domain.Payment, string, error)
	Payment(ctx context.Context, id string) (*domain.Payment, error)
	TripPayment(ctx context.Context, tripID string) (*domain.Payment, error)
	TripCharges(ctx context.Context, customerID, tripID string) ([]domain.Payment, error)
	RefundsOf(ctx context.Context, paymentIDs []string) ([]domain.Refund, error)
	Refund(ctx context.Context, id string) (*domain.Refund, error)
	PendingRefundsPage(ctx context.Context, cursor string, limit int) ([]domain.Refund, string, error)
	Entries(ctx context.Context, references []string) ([]domain.JournalEntry, error)
	CustomerBalances(ctx context.Context, customerID string) ([]app.CustomerBalance, error)
	DeadOperationsPage(ctx context.Context, cursor string, limit int) ([]app.DeadOperation, string, error)
}

// Money runs the POST operations that move money (app.Flows).
type Money interface {
	RequestRefund(ctx context.Context, req app.RefundRequest) (*domain.Refund, error)
	ApproveRefund(ctx context.Context, refundID, approver string) (*domain.Refund, error)
	RejectRefund(ctx context.Context, refundID, approver, reason string) (*domain.Refund, error)
	GrantCredit(ctx context.Context, g app.CreditGrant) (*domain.Credit, error)
	// OnFineIssued charges a fine; the REST call hands it booking's event.
	OnFineIssued(ctx context.Context, ev events.Event) error
}

// Operations lets staff run a dead gateway operation again (adapters/postgres.Payments).
type Operations interface {
	RequeueDead(ctx context.Context, id string) error
}

// Options configures Mount. Every field but Logger is required.
type Options struct {
	Reads      Reads
	Money      Money
	Operations Operations
	// Authenticate verifies the bearer token and puts the principal in the
	// request context: (*auth.Verifier).Authenticate.
	Authenticate func(http.Handler) http.Handler
	// Idempotency enforces Idempotency-Key on the POSTs that move money; it
	// must reject requests without a key: idempotency.Middleware(pool,
	// idempotency.Options{Required: true}). It runs after authentication, so
	// keys are scoped per caller.
	Idempotency func(http.Handler) http.Handler
	// Webhook is the Stripe receiver mounted at POST /v1/webhooks/stripe
	// (webhook.Receiver); nil leaves the route unmounted.
	Webhook http.Handler
	// Logger receives unexpected errors; nil discards them.
	Logger *slog.Logger
}

// Paths of the API (see api/openapi.yaml).
const (
	pathWebhook = "/v1/webhooks/stripe"
	specType    = "application/yaml" // RFC 9512
)

// Page sizes of the lists.
const (
	defaultLimit = 50
	maxLimit     = 200
)

// Mount adds GET /openapi.yaml, the Stripe webhook and the /v1 operations to r,
// which carries the platform middleware (httpx.NewRouter).
func Mount(r chi.Router, opts Options) error {
	switch {
	case opts.Reads == nil, opts.Money == nil, opts.Operations == nil:
		return errors.New("httpapi: Reads, Money and Operations are required")
	case opts.Authenticate == nil, opts.Idempotency == nil:
		return errors.New("httpapi: Authenticate and Idempotency are required")
	}
	h := &handlers{reads: opts.Reads, money: opts.Money, ops: opts.Operations, logger: opts.Logger}
	if h.logger == nil {
		h.logger = slog.New(slog.DiscardHandler)
	}

	r.Get("/openapi.yaml", serveSpec)
	if opts.Webhook != nil {
		// Public: Stripe authenticates with its signature, not a bearer token.
		r.Method(http.MethodPost, pathWebhook, opts.Webhook)
	}
	r.Group(func(v chi.Router) {
		v.Use(opts.Authenticate, auth.RequireRole(auth.RoleCustomer, auth.RoleStaff, auth.RoleService))
		staff := auth.RequireRole(auth.RoleStaff)
		staffOrService := auth.RequireRole(auth.RoleStaff, auth.RoleService)

		v.Get("/v1/payments", h.listPayments)
		v.Get("/v1/payments/{id}", h.getPayment)
		v.Get("/v1/customers/{id}/balance", h.getBalance)
		v.Get("/v1/trips/{trip_id}/receipt", h.getReceipt)
		v.Get("/v1/refunds/{id}", h.getRefund)
		v.With(staff).Get("/v1/refunds", h.listRefunds)
		v.With(staff).Get("/v1/operations", h.listOperations)

		// Money moves: role first (a refused caller leaves no key behind), then the key.
		v.With(staffOrService, opts.Idempotency).Post("/v1/payments/{id}/refunds", h.requestRefund)
		v.With(staff, opts.Idempotency).Post("/v1/refunds/{id}/approve", h.approveRefund)
		v.With(staff, opts.Idempotency).Post("/v1/refunds/{id}/reject", h.rejectRefund)
		v.With(staffOrService, opts.Idempotency).Post("/v1/fines", h.chargeFine)
		v.With(staff, opts.Idempotency).Post("/v1/credits", h.grantCredit)
		v.With(staff, opts.Idempotency).Post("/v1/operations/{id}/requeue", h.requeueOperation)
	})
	return nil
}

type handlers struct {
	reads  Reads
	money  Money
	ops    Operations
	logger *slog.Logger
}

func serveSpec(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", specType)
	// The document changes only with a deployment; a few minutes of caching is safe.
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(api.Spec)
}

// viewer is who asks: seesAll for staff (and admin) and services, else a
// customer who sees only what carries their subject as customer id.
type viewer struct {
	subject string
	seesAll bool
}

func viewerOf(r *http.Request) viewer {
	p, _ := auth.FromContext(r.Context()) // Authenticate ran: the principal is there
	return viewer{subject: p.Subject, seesAll: p.Has(auth.RoleStaff) || p.Has(auth.RoleService)}
}

// owns reports whether the viewer may see what belongs to customerID.
func (v viewer) owns(customerID string) bool { return v.seesAll || v.subject == customerID }
