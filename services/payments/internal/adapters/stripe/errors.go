package stripe

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	stripeapi "github.com/stripe/stripe-go/v82"

	"github.com/mobilitycorp/platform/services/payments/internal/app"
)

// mapError turns a stripe-go failure into *app.GatewayError. Stripe's error
// object gives kind, codes, status and request id; anything else (transport
// failure, timeout, an answer that is not Stripe's JSON) is classified by the
// HTTP status the probe saw, if any. The raw Stripe error is not kept in the
// chain: its message is server text, and only a masked copy may travel.
func (g *Gateway) mapError(op string, err error, pr *probe) error {
	var se *stripeapi.Error
	if errors.As(err, &se) {
		return &app.GatewayError{
			Kind:        classify(se),
			Code:        string(se.Code),
			DeclineCode: string(se.DeclineCode),
			Status:      se.HTTPStatusCode,
			RequestID:   se.RequestID,
			Err:         errors.New(g.mask.apply(fmt.Sprintf("%s: stripe %s: %s", op, se.Type, se.Msg))),
		}
	}
	kind := app.KindUnavailable // the outcome is unknown: retrying with the same key is safe
	switch {
	case pr.status == http.StatusTooManyRequests:
		kind = app.KindRateLimited
	case pr.status >= 400 && pr.status < 500:
		kind = app.KindInvalidRequest
	}
	return &app.GatewayError{
		Kind:      kind,
		Status:    pr.status,
		RequestID: pr.requestID,
		Err:       &maskedError{msg: g.mask.apply(op + ": " + err.Error()), err: err},
	}
}

// classify maps Stripe's error object onto our kinds.
func classify(se *stripeapi.Error) app.ErrorKind {
	switch {
	case se.HTTPStatusCode == http.StatusTooManyRequests,
		se.Code == stripeapi.ErrorCodeRateLimit,
		se.Code == stripeapi.ErrorCodeLockTimeout,
		// 409: the same key is still executing; the retry gets its saved result.
		se.Code == stripeapi.ErrorCodeIdempotencyKeyInUse:
		return app.KindRateLimited
	case se.Type == stripeapi.ErrorTypeIdempotency:
		return app.KindIdempotency
	case se.Type == stripeapi.ErrorTypeCard:
		switch {
		case se.Code == stripeapi.ErrorCodeAuthenticationRequired,
			se.DeclineCode == stripeapi.DeclineCodeAuthenticationRequired:
			return app.KindAuthRequired
		case se.DeclineCode == stripeapi.DeclineCodeInsufficientFunds,
			se.Code == stripeapi.ErrorCodeInsufficientFunds:
			return app.KindInsufficientFunds
		}
		return app.KindCardDeclined
	case se.Type == stripeapi.ErrorTypeAPI, se.HTTPStatusCode >= 500:
		return app.KindUnavailable
	case se.Type == stripeapi.ErrorTypeInvalidRequest, se.HTTPStatusCode >= 400:
		return app.KindInvalidRequest
	}
	return app.KindUnavailable
}

// secretMask hides the secret key in text bound for errors and logs.
type secretMask string

const redacted = "[redacted]"

func (m secretMask) apply(s string) string {
	if m == "" {
		return s
	}
	return strings.ReplaceAll(s, string(m), redacted)
}

// maskedError carries a cause's message with the secret masked. It has no
// Unwrap, so nothing can reach the unmasked text through the chain; Is
// delegates, so errors.Is(err, context.DeadlineExceeded) still works.
type maskedError struct {
	msg string
	err error
}

func (e *maskedError) Error() string { return e.msg }

func (e *maskedError) Is(target error) bool { return errors.Is(e.err, target) }

// probe records what came back over HTTP, for failures stripe-go reports
// without a Stripe error object (e.g. a proxy's HTML 502).
type probe struct {
	status    int
	requestID string
}

type probeKey struct{}

// probingTransport fills the request's probe. RoundTrip runs on the caller's
// goroutine inside http.Client.Do, so the probe needs no lock.
type probingTransport struct {
	base http.RoundTripper
}

func (t probingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if pr, ok := r.Context().Value(probeKey{}).(*probe); ok && resp != nil {
		pr.status = resp.StatusCode
		pr.requestID = resp.Header.Get("Request-Id")
	}
	return resp, err
}

// leveledLogger routes stripe-go's logging to slog with the secret masked.
// Debugf is dropped: stripe-go logs whole response bodies there, which carry
// customers' personal data. Errorf becomes a warning: every failure is also
// returned to the caller, who decides whether it is an error.
type leveledLogger struct {
	log  *slog.Logger
	mask secretMask
}

func (l leveledLogger) Debugf(string, ...any) {}

func (l leveledLogger) Infof(format string, v ...any) {
	l.log.Debug(l.mask.apply(fmt.Sprintf(format, v...)), slog.String("component", "stripe-go"))
}

func (l leveledLogger) Warnf(format string, v ...any) {
	l.log.Warn(l.mask.apply(fmt.Sprintf(format, v...)), slog.String("component", "stripe-go"))
}

func (l leveledLogger) Errorf(format string, v ...any) {
	l.log.Warn(l.mask.apply(fmt.Sprintf(format, v...)), slog.String("component", "stripe-go"))
}
