package app

import (
	"fmt"

	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

// MaxIdempotencyKeyLen is Stripe's limit on idempotency keys.
const MaxIdempotencyKeyLen = 255

// The checks below are what every Gateway implementation refuses before calling
// out, so a sandbox run and a Stripe run reject the same requests the same way.

// InvalidRequest is a KindInvalidRequest error raised on our side of the wire.
func InvalidRequest(format string, args ...any) *GatewayError {
	return &GatewayError{Kind: KindInvalidRequest, Err: fmt.Errorf(format, args...)}
}

// CheckIdempotencyKey refuses an empty key (a client library would silently invent
// one, defeating our retries) and one longer than Stripe accepts.
func CheckIdempotencyKey(key string) *GatewayError {
	switch {
	case key == "":
		return InvalidRequest("idempotency key is empty")
	case len(key) > MaxIdempotencyKeyLen:
		return InvalidRequest("idempotency key is longer than %d characters", MaxIdempotencyKeyLen)
	}
	return nil
}

// CheckMoney refuses amounts the domain would not have built (lower-case or missing
// currency); Stripe itself would accept "eur", we do not.
func CheckMoney(m domain.Money) *GatewayError {
	if _, err := domain.NewMoney(m.AmountMinor, m.Currency); err != nil {
		return InvalidRequest("currency %q is not an upper-case ISO 4217 code", m.Currency)
	}
	return nil
}

// CheckID refuses empty ids, which would turn /v1/payment_intents/{id} into another endpoint.
func CheckID(what, id string) *GatewayError {
	if id == "" {
		return InvalidRequest("%s is empty", what)
	}
	return nil
}
