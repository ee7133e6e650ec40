// Package app holds the payments use cases. The interfaces it consumes are
// declared here; adapters (the Stripe client, the sandbox, PostgreSQL) implement them.
package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

// IntentStatus mirrors Stripe's PaymentIntent statuses, which finance and support know.
type IntentStatus string

const (
	StatusRequiresPaymentMethod IntentStatus = "requires_payment_method"
	StatusRequiresConfirmation  IntentStatus = "requires_confirmation"
	StatusRequiresAction        IntentStatus = "requires_action" // e.g. 3-D Secure
	StatusProcessing            IntentStatus = "processing"
	StatusRequiresCapture       IntentStatus = "requires_capture" // authorised, funds held
	StatusSucceeded             IntentStatus = "succeeded"
	StatusCanceled              IntentStatus = "canceled"
)

// Intent is the gateway's view of one payment.
type Intent struct {
	ID               string // gateway id, e.g. "pi_..."
	Status           IntentStatus
	Amount           domain.Money // authorised (held) amount
	AmountCapturable int64        // minor units still capturable
	AmountReceived   int64        // minor units captured
	AmountRefunded   int64        // minor units refunded of those captured (a released hold is not a refund)
	CustomerRef      string       // gateway customer id, e.g. "cus_..."
	PaymentMethod    string       // gateway payment method id, e.g. "pm_..."
	IncrementalAuth  bool         // the card supports incremental authorisation
	LastErrorCode    string       // decline or error code of the last attempt
	CreatedAt        time.Time
}

// Refund is the gateway's view of one refund.
type Refund struct {
	ID       string // e.g. "re_..."
	IntentID string
	Amount   domain.Money
	Status   string // pending, succeeded, failed, canceled
}

// AuthoriseRequest places a hold (manual capture) on a saved payment method.
type AuthoriseRequest struct {
	IdempotencyKey string // derived from our operation id: a retry reuses it
	CustomerRef    string
	PaymentMethod  string
	Amount         domain.Money
	Description    string
	Metadata       map[string]string // e.g. trip_id, reservation_id
}

// Gateway is the payment service provider. Every call carries an idempotency key
// derived from our own operation id, so a retried call never acts twice.
type Gateway interface {
	CreateCustomer(ctx context.Context, idempotencyKey, email, name string) (customerRef string, err error)
	AttachPaymentMethod(ctx context.Context, idempotencyKey, customerRef, paymentMethod string) error
	Authorise(ctx context.Context, req AuthoriseRequest) (Intent, error)
	// IncrementAuthorisation raises the hold to amount (the new total) where supported.
	IncrementAuthorisation(ctx context.Context, idempotencyKey, intentID string, amount domain.Money) (Intent, error)
	// Capture captures amount (≤ capturable); the rest of the hold is released.
	Capture(ctx context.Context, idempotencyKey, intentID string, amount domain.Money) (Intent, error)
	// Cancel releases the whole hold.
	Cancel(ctx context.Context, idempotencyKey, intentID string) (Intent, error)
	// Refund returns amount (≤ captured − refunded) of a captured intent.
	Refund(ctx context.Context, idempotencyKey, intentID string, amount domain.Money, reason string) (Refund, error)
	GetIntent(ctx context.Context, intentID string) (Intent, error)
}

// ErrorKind classifies gateway failures for the use cases.
type ErrorKind string

const (
	KindCardDeclined      ErrorKind = "card_declined"      // the issuer said no: final for this card
	KindInsufficientFunds ErrorKind = "insufficient_funds" // a decline the customer can fix
	KindAuthRequired      ErrorKind = "authentication_required"
	KindInvalidRequest    ErrorKind = "invalid_request"   // our request was wrong: do not retry
	KindIdempotency       ErrorKind = "idempotency_error" // same key, different parameters: a bug on our side
	KindRateLimited       ErrorKind = "rate_limited"      // retry later
	KindUnavailable       ErrorKind = "unavailable"       // 5xx, timeouts, connection errors, outage: retry later
)

// GatewayError is what gateway adapters return for every failure.
type GatewayError struct {
	Kind        ErrorKind
	Code        string // the gateway's code, e.g. "card_declined", "expired_card"
	DeclineCode string // e.g. "insufficient_funds", "generic_decline"
	Status      int    // HTTP status, 0 when none
	RequestID   string // gateway request id, for support
	Err         error
}

func (e *GatewayError) Error() string {
	msg := fmt.Sprintf("gateway %s", e.Kind)
	if e.Code != "" {
		msg += " (" + e.Code + ")"
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *GatewayError) Unwrap() error { return e.Err }

// Retryable reports whether the same call may succeed later with the same key.
func (e *GatewayError) Retryable() bool {
	return e.Kind == KindRateLimited || e.Kind == KindUnavailable
}

// IsRetryable reports whether err is a retryable gateway failure.
func IsRetryable(err error) bool {
	var ge *GatewayError
	return errors.As(err, &ge) && ge.Retryable()
}
