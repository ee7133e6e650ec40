package sandbox

import (
	"fmt"
	"net/http"

	"github.com/mobilitycorp/platform/services/payments/internal/app"
)

// ErrorDetail is the Err of every *app.GatewayError the sandbox returns: Stripe's
// human message and, where Stripe names one, the offending parameter.
type ErrorDetail struct {
	Message string
	Param   string
	// Unsaved reports a failure before the call executed (parameter validation,
	// outage, key in use, cancelled wait). Like Stripe, the sandbox keeps no
	// idempotent result for it: the key may be used again, even with other parameters.
	Unsaved bool
	cause   error
}

func (e *ErrorDetail) Error() string {
	msg := e.Message
	if e.Param != "" {
		msg += " (param " + e.Param + ")"
	}
	if e.cause != nil {
		msg += ": " + e.cause.Error()
	}
	return msg
}

// Unwrap exposes the cause, e.g. context.DeadlineExceeded when the caller gave up.
func (e *ErrorDetail) Unwrap() error { return e.cause }

func gatewayError(kind app.ErrorKind, status int, code, declineCode string, d *ErrorDetail) *app.GatewayError {
	return &app.GatewayError{
		Kind:        kind,
		Code:        code,
		DeclineCode: declineCode,
		Status:      status,
		RequestID:   newID("req_"),
		Err:         d,
	}
}

// invalidParam is a parameter Stripe rejects before executing: nothing is saved.
func invalidParam(code, param, format string, args ...any) *app.GatewayError {
	return gatewayError(app.KindInvalidRequest, http.StatusBadRequest, code, "",
		&ErrorDetail{Message: fmt.Sprintf(format, args...), Param: param, Unsaved: true})
}

// noSuch is Stripe's resource_missing: 404 when the id is in the URL, 400 when in the body.
func noSuch(status int, param, object, id string) *app.GatewayError {
	return gatewayError(app.KindInvalidRequest, status, "resource_missing", "",
		&ErrorDetail{Message: fmt.Sprintf("No such %s: '%s'", object, id), Param: param, Unsaved: true})
}

// invalidState is a request that executed and failed on the object's state; like
// every executed request its result is saved under the key.
func invalidState(code, param, format string, args ...any) *app.GatewayError {
	return gatewayError(app.KindInvalidRequest, http.StatusBadRequest, code, "",
		&ErrorDetail{Message: fmt.Sprintf(format, args...), Param: param})
}

func cardError(m PaymentMethod) *app.GatewayError {
	kind := app.KindCardDeclined
	switch {
	case m.Code == "authentication_required" || m.DeclineCode == "authentication_required":
		kind = app.KindAuthRequired
	case m.DeclineCode == "insufficient_funds":
		kind = app.KindInsufficientFunds
	}
	msg := m.Message
	if msg == "" {
		msg = "Your card was declined."
	}
	return gatewayError(kind, http.StatusPaymentRequired, m.Code, m.DeclineCode, &ErrorDetail{Message: msg})
}

func unavailable(cause error) *app.GatewayError {
	return gatewayError(app.KindUnavailable, http.StatusServiceUnavailable, "", "",
		&ErrorDetail{Message: "The sandbox is unavailable; retry with the same idempotency key.", Unsaved: true, cause: cause})
}

func keyInUse(key string) *app.GatewayError {
	return gatewayError(app.KindRateLimited, http.StatusConflict, "idempotency_key_in_use", "",
		&ErrorDetail{Message: fmt.Sprintf("There is currently another in-progress request using this idempotency key: %s. Try again later.", key), Unsaved: true})
}

func keyMismatch(key string) *app.GatewayError {
	return gatewayError(app.KindIdempotency, http.StatusBadRequest, "", "",
		&ErrorDetail{Message: fmt.Sprintf("Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '%s' if you meant to execute a different request.", key), Unsaved: true})
}

// copyError returns a copy, so a caller changing a returned error cannot change
// what a replay returns.
func copyError(e *app.GatewayError) *app.GatewayError {
	if e == nil {
		return nil
	}
	c := *e
	return &c
}
