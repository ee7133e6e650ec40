package stripe

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	stripeapi "github.com/stripe/stripe-go/v82"

	"github.com/mobilitycorp/platform/services/payments/internal/app"
)

// TestClassify covers Stripe error objects the fake does not produce.
func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  stripeapi.Error
		want app.ErrorKind
	}{
		{"rate limit by status", stripeapi.Error{Type: stripeapi.ErrorTypeInvalidRequest, HTTPStatusCode: 429}, app.KindRateLimited},
		{"lock timeout", stripeapi.Error{Type: stripeapi.ErrorTypeInvalidRequest, Code: stripeapi.ErrorCodeLockTimeout, HTTPStatusCode: 429}, app.KindRateLimited},
		{"key in use, even typed as idempotency", stripeapi.Error{Type: stripeapi.ErrorTypeIdempotency, Code: stripeapi.ErrorCodeIdempotencyKeyInUse, HTTPStatusCode: 409}, app.KindRateLimited},
		{"idempotency mismatch", stripeapi.Error{Type: stripeapi.ErrorTypeIdempotency, HTTPStatusCode: 400}, app.KindIdempotency},
		{"generic decline", stripeapi.Error{Type: stripeapi.ErrorTypeCard, Code: stripeapi.ErrorCodeCardDeclined, DeclineCode: stripeapi.DeclineCodeGenericDecline, HTTPStatusCode: 402}, app.KindCardDeclined},
		{"expired card", stripeapi.Error{Type: stripeapi.ErrorTypeCard, Code: stripeapi.ErrorCodeExpiredCard, HTTPStatusCode: 402}, app.KindCardDeclined},
		{"insufficient funds decline", stripeapi.Error{Type: stripeapi.ErrorTypeCard, Code: stripeapi.ErrorCodeCardDeclined, DeclineCode: stripeapi.DeclineCodeInsufficientFunds, HTTPStatusCode: 402}, app.KindInsufficientFunds},
		{"insufficient funds code", stripeapi.Error{Type: stripeapi.ErrorTypeCard, Code: stripeapi.ErrorCodeInsufficientFunds, HTTPStatusCode: 402}, app.KindInsufficientFunds},
		{"authentication required code", stripeapi.Error{Type: stripeapi.ErrorTypeCard, Code: stripeapi.ErrorCodeAuthenticationRequired, HTTPStatusCode: 402}, app.KindAuthRequired},
		{"authentication required decline code", stripeapi.Error{Type: stripeapi.ErrorTypeCard, Code: stripeapi.ErrorCodeCardDeclined, DeclineCode: stripeapi.DeclineCodeAuthenticationRequired, HTTPStatusCode: 402}, app.KindAuthRequired},
		{"api error", stripeapi.Error{Type: stripeapi.ErrorTypeAPI, HTTPStatusCode: 500}, app.KindUnavailable},
		{"unknown type, 5xx", stripeapi.Error{Type: "new_type", HTTPStatusCode: 503}, app.KindUnavailable},
		{"invalid request", stripeapi.Error{Type: stripeapi.ErrorTypeInvalidRequest, Code: stripeapi.ErrorCodeResourceMissing, HTTPStatusCode: 404}, app.KindInvalidRequest},
		{"unknown type, 4xx", stripeapi.Error{Type: "new_type", HTTPStatusCode: 403}, app.KindInvalidRequest},
		{"nothing known", stripeapi.Error{}, app.KindUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify(&tt.err); got != tt.want {
				t.Fatalf("classify = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestMapErrorWithoutStripeObject: failures without Stripe's JSON are classified
// by the probed status and keep errors.Is without exposing the raw text.
func TestMapErrorWithoutStripeObject(t *testing.T) {
	const secret = "sk_test_secretvalue123456"
	g := &Gateway{mask: secretMask(secret)}
	tests := []struct {
		name   string
		status int
		want   app.ErrorKind
	}{
		{"no answer", 0, app.KindUnavailable},
		{"undecodable 200", 200, app.KindUnavailable},
		{"html 429", 429, app.KindRateLimited},
		{"html 404", 404, app.KindInvalidRequest},
		{"html 503", 503, app.KindUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := fmt.Errorf("dial with %s: %w", secret, context.DeadlineExceeded)
			err := g.mapError("op", raw, &probe{status: tt.status, requestID: "req_1"})
			var ge *app.GatewayError
			if !errors.As(err, &ge) || ge.Kind != tt.want || ge.Status != tt.status || ge.RequestID != "req_1" {
				t.Fatalf("mapError = %#v, want kind %s status %d", err, tt.want, tt.status)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("errors.Is(DeadlineExceeded) lost")
			}
			for e := error(ge); e != nil; e = errors.Unwrap(e) {
				if strings.Contains(e.Error(), secret) {
					t.Fatalf("chain exposes the secret: %v", e)
				}
			}
		})
	}
}
