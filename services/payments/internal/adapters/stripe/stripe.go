// Package stripe implements app.Gateway on Stripe's API through stripe-go v82.
//
// Every state-changing call sends the caller's idempotency key as the
// Idempotency-Key header, and stripe-go's own retries are off: the operation
// queue retries with the same key, which Stripe answers from its saved result.
// Holds are PaymentIntents with capture_method=manual, confirmed off-session on
// a saved card. Failures come back as *app.GatewayError; the secret key never
// appears in an error or a log line.
package stripe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"time"

	stripeapi "github.com/stripe/stripe-go/v82"

	"github.com/mobilitycorp/platform/pkg/config"
	"github.com/mobilitycorp/platform/services/payments/internal/app"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

const (
	// DefaultBaseURL is Stripe's production API.
	DefaultBaseURL = "https://api.stripe.com"
	// DefaultTimeout bounds one call. Issuers can take seconds to authorise;
	// a call cut short is retried with the same key, which is safe.
	DefaultTimeout = 20 * time.Second
)

// Config configures the adapter.
type Config struct {
	// SecretKey is the Stripe secret (sk_...) or restricted (rk_...) key.
	SecretKey config.Secret
	// BaseURL is the API root; default DefaultBaseURL. Tests point it at stripefake.
	BaseURL string
	// Timeout bounds each call; default DefaultTimeout.
	Timeout time.Duration
	// HTTPClient sends the requests; nil means a client with default transport.
	// Its Timeout, if any, applies on top of Timeout.
	HTTPClient *http.Client
	// Logger receives stripe-go's warnings and errors (secret masked); nil discards them.
	Logger *slog.Logger
}

// Validate reports a configuration the adapter cannot work with. Its messages
// never contain the key.
func (c Config) Validate() error {
	key := c.SecretKey.Reveal()
	switch {
	case key == "":
		return errors.New("stripe: secret key is required")
	case !strings.HasPrefix(key, "sk_") && !strings.HasPrefix(key, "rk_"):
		return errors.New("stripe: secret key must be a secret (sk_) or restricted (rk_) key")
	case c.Timeout < 0:
		return fmt.Errorf("stripe: timeout %s is negative", c.Timeout)
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			return fmt.Errorf("stripe: base URL %q must be an absolute http(s) URL without credentials", c.BaseURL)
		}
	}
	return nil
}

// Gateway implements app.Gateway on Stripe. It is safe for concurrent use.
type Gateway struct {
	client  *stripeapi.Client
	timeout time.Duration
	mask    secretMask
}

var _ app.Gateway = (*Gateway)(nil)

// New builds the adapter.
func New(cfg Config) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	secret := cfg.SecretKey.Reveal()
	hc := &http.Client{}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient
		hc = &c
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	hc.Transport = probingTransport{base: base}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	backend := stripeapi.GetBackendWithConfig(stripeapi.APIBackend, &stripeapi.BackendConfig{
		HTTPClient:        hc,
		LeveledLogger:     leveledLogger{log: logger, mask: secretMask(secret)},
		MaxNetworkRetries: stripeapi.Int64(0), // our operation queue retries, with the same key
		EnableTelemetry:   stripeapi.Bool(false),
		URL:               stripeapi.String(cfg.BaseURL),
	})
	// Only the API backend is used; the others point at it so nothing ever
	// falls back to stripe-go's package-level backends.
	backends := &stripeapi.Backends{API: backend, Connect: backend, Uploads: backend, MeterEvents: backend}
	return &Gateway{
		client:  stripeapi.NewClient(secret, stripeapi.WithBackends(backends)),
		timeout: cfg.Timeout,
		mask:    secretMask(secret),
	}, nil
}

// CreateCustomer creates a Stripe customer.
func (g *Gateway) CreateCustomer(ctx context.Context, idempotencyKey, email, name string) (string, error) {
	if ge := app.CheckIdempotencyKey(idempotencyKey); ge != nil {
		return "", ge
	}
	params := &stripeapi.CustomerCreateParams{}
	if email != "" {
		params.Email = stripeapi.String(email)
	}
	if name != "" {
		params.Name = stripeapi.String(name)
	}
	params.IdempotencyKey = stripeapi.String(idempotencyKey)
	var cus *stripeapi.Customer
	err := g.call(ctx, "create customer", func(ctx context.Context) (err error) {
		cus, err = g.client.V1Customers.Create(ctx, params)
		return err
	})
	if err != nil {
		return "", err
	}
	return cus.ID, nil
}

// AttachPaymentMethod attaches a payment method to a customer.
func (g *Gateway) AttachPaymentMethod(ctx context.Context, idempotencyKey, customerRef, paymentMethod string) error {
	if ge := firstError(app.CheckIdempotencyKey(idempotencyKey), app.CheckID("payment method", paymentMethod), app.CheckID("customer", customerRef)); ge != nil {
		return ge
	}
	params := &stripeapi.PaymentMethodAttachParams{Customer: stripeapi.String(customerRef)}
	params.IdempotencyKey = stripeapi.String(idempotencyKey)
	return g.call(ctx, "attach payment method", func(ctx context.Context) error {
		_, err := g.client.V1PaymentMethods.Attach(ctx, paymentMethod, params)
		return err
	})
}

// Authorise creates and confirms a PaymentIntent with manual capture,
// off-session, asking for incremental authorisation where the card allows it.
// On a decline the declined intent is returned with the error, as Stripe embeds
// it in the card error, so its id can be recorded.
func (g *Gateway) Authorise(ctx context.Context, req app.AuthoriseRequest) (app.Intent, error) {
	if ge := firstError(app.CheckIdempotencyKey(req.IdempotencyKey), app.CheckMoney(req.Amount)); ge != nil {
		return app.Intent{}, ge
	}
	params := &stripeapi.PaymentIntentCreateParams{
		Amount:        stripeapi.Int64(req.Amount.AmountMinor),
		Currency:      stripeapi.String(strings.ToLower(req.Amount.Currency)),
		PaymentMethod: stripeapi.String(req.PaymentMethod),
		// Listing card explicitly keeps automatic payment methods, which would
		// demand a return_url for redirects, out of an off-session confirmation.
		PaymentMethodTypes: []*string{stripeapi.String("card")},
		CaptureMethod:      stripeapi.String(string(stripeapi.PaymentIntentCaptureMethodManual)),
		Confirm:            stripeapi.Bool(true),
		OffSession:         stripeapi.Bool(true),
		PaymentMethodOptions: &stripeapi.PaymentIntentCreatePaymentMethodOptionsParams{
			Card: &stripeapi.PaymentIntentCreatePaymentMethodOptionsCardParams{
				RequestIncrementalAuthorization: stripeapi.String(string(stripeapi.PaymentIntentPaymentMethodOptionsCardRequestIncrementalAuthorizationIfAvailable)),
			},
		},
		Metadata: maps.Clone(req.Metadata),
	}
	if req.CustomerRef != "" {
		params.Customer = stripeapi.String(req.CustomerRef)
	}
	if req.Description != "" {
		params.Description = stripeapi.String(req.Description)
	}
	params.AddExpand(expandCharge)
	params.IdempotencyKey = stripeapi.String(req.IdempotencyKey)
	return g.intentCall(ctx, "authorise", func(ctx context.Context) (*stripeapi.PaymentIntent, error) {
		return g.client.V1PaymentIntents.Create(ctx, params)
	})
}

// IncrementAuthorisation raises the hold to amount, the new total.
func (g *Gateway) IncrementAuthorisation(ctx context.Context, idempotencyKey, intentID string, amount domain.Money) (app.Intent, error) {
	if ge := firstError(app.CheckIdempotencyKey(idempotencyKey), app.CheckID("intent id", intentID), app.CheckMoney(amount)); ge != nil {
		return app.Intent{}, ge
	}
	params := &stripeapi.PaymentIntentIncrementAuthorizationParams{Amount: stripeapi.Int64(amount.AmountMinor)}
	params.AddExpand(expandCharge)
	params.IdempotencyKey = stripeapi.String(idempotencyKey)
	return g.intentCall(ctx, "increment authorisation", func(ctx context.Context) (*stripeapi.PaymentIntent, error) {
		return g.client.V1PaymentIntents.IncrementAuthorization(ctx, intentID, params)
	})
}

// Capture captures amount; Stripe releases the rest of the hold. The currency
// is not sent (Stripe captures in the intent's currency), so a mismatch is not
// detected here; the sandbox refuses it.
func (g *Gateway) Capture(ctx context.Context, idempotencyKey, intentID string, amount domain.Money) (app.Intent, error) {
	if ge := firstError(app.CheckIdempotencyKey(idempotencyKey), app.CheckID("intent id", intentID), app.CheckMoney(amount)); ge != nil {
		return app.Intent{}, ge
	}
	params := &stripeapi.PaymentIntentCaptureParams{AmountToCapture: stripeapi.Int64(amount.AmountMinor)}
	params.AddExpand(expandCharge)
	params.IdempotencyKey = stripeapi.String(idempotencyKey)
	return g.intentCall(ctx, "capture", func(ctx context.Context) (*stripeapi.PaymentIntent, error) {
		return g.client.V1PaymentIntents.Capture(ctx, intentID, params)
	})
}

// Cancel releases the whole hold.
func (g *Gateway) Cancel(ctx context.Context, idempotencyKey, intentID string) (app.Intent, error) {
	if ge := firstError(app.CheckIdempotencyKey(idempotencyKey), app.CheckID("intent id", intentID)); ge != nil {
		return app.Intent{}, ge
	}
	params := &stripeapi.PaymentIntentCancelParams{}
	params.AddExpand(expandCharge)
	params.IdempotencyKey = stripeapi.String(idempotencyKey)
	return g.intentCall(ctx, "cancel", func(ctx context.Context) (*stripeapi.PaymentIntent, error) {
		return g.client.V1PaymentIntents.Cancel(ctx, intentID, params)
	})
}

// Refund refunds amount of a captured intent. A reason that is one of Stripe's
// (duplicate, fraudulent, requested_by_customer) is sent as reason; any other
// goes to metadata["reason"], since Stripe refuses unknown reasons.
func (g *Gateway) Refund(ctx context.Context, idempotencyKey, intentID string, amount domain.Money, reason string) (app.Refund, error) {
	if ge := firstError(app.CheckIdempotencyKey(idempotencyKey), app.CheckID("intent id", intentID), app.CheckMoney(amount)); ge != nil {
		return app.Refund{}, ge
	}
	params := &stripeapi.RefundCreateParams{
		PaymentIntent: stripeapi.String(intentID),
		Amount:        stripeapi.Int64(amount.AmountMinor),
	}
	switch stripeapi.RefundReason(reason) {
	case "":
	case stripeapi.RefundReasonDuplicate, stripeapi.RefundReasonFraudulent, stripeapi.RefundReasonRequestedByCustomer:
		params.Reason = stripeapi.String(reason)
	default:
		params.Metadata = map[string]string{"reason": reason}
	}
	params.IdempotencyKey = stripeapi.String(idempotencyKey)
	var ref *stripeapi.Refund
	err := g.call(ctx, "refund", func(ctx context.Context) (err error) {
		ref, err = g.client.V1Refunds.Create(ctx, params)
		return err
	})
	if err != nil {
		return app.Refund{}, err
	}
	return toRefund(ref), nil
}

// GetIntent retrieves an intent (a GET: no idempotency key).
func (g *Gateway) GetIntent(ctx context.Context, intentID string) (app.Intent, error) {
	if ge := app.CheckID("intent id", intentID); ge != nil {
		return app.Intent{}, ge
	}
	params := &stripeapi.PaymentIntentRetrieveParams{}
	params.AddExpand(expandCharge)
	return g.intentCall(ctx, "get intent", func(ctx context.Context) (*stripeapi.PaymentIntent, error) {
		return g.client.V1PaymentIntents.Retrieve(ctx, intentID, params)
	})
}

// expandCharge makes Stripe embed the latest charge, whose card details say
// whether incremental authorisation is available and whose amounts say what
// was refunded.
const expandCharge = "latest_charge"

// intentCall runs a call answering a PaymentIntent. On a card error the intent
// Stripe embedded in the error is returned too.
func (g *Gateway) intentCall(ctx context.Context, op string, fn func(ctx context.Context) (*stripeapi.PaymentIntent, error)) (app.Intent, error) {
	var pi *stripeapi.PaymentIntent
	pr, raw := g.do(ctx, func(ctx context.Context) (err error) {
		pi, err = fn(ctx)
		return err
	})
	if raw != nil {
		err := g.mapError(op, raw, pr)
		var se *stripeapi.Error
		if errors.As(raw, &se) && se.PaymentIntent != nil && se.PaymentIntent.ID != "" {
			return toIntent(se.PaymentIntent), err
		}
		return app.Intent{}, err
	}
	return toIntent(pi), nil
}

// call runs fn with the per-call timeout and maps its failure.
func (g *Gateway) call(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	if pr, raw := g.do(ctx, fn); raw != nil {
		return g.mapError(op, raw, pr)
	}
	return nil
}

// do runs fn with the per-call timeout and a probe that sees the HTTP answer.
func (g *Gateway) do(ctx context.Context, fn func(ctx context.Context) error) (*probe, error) {
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	pr := &probe{}
	return pr, fn(context.WithValue(ctx, probeKey{}, pr))
}

func toIntent(pi *stripeapi.PaymentIntent) app.Intent {
	in := app.Intent{
		ID:               pi.ID,
		Status:           app.IntentStatus(pi.Status),
		Amount:           domain.Money{AmountMinor: pi.Amount, Currency: strings.ToUpper(string(pi.Currency))},
		AmountCapturable: pi.AmountCapturable,
		AmountReceived:   pi.AmountReceived,
		CreatedAt:        time.Unix(pi.Created, 0).UTC(),
	}
	if pi.Customer != nil {
		in.CustomerRef = pi.Customer.ID
	}
	if pi.PaymentMethod != nil {
		in.PaymentMethod = pi.PaymentMethod.ID
	}
	if ch := pi.LatestCharge; ch != nil && ch.PaymentMethodDetails != nil && ch.PaymentMethodDetails.Card != nil {
		ia := ch.PaymentMethodDetails.Card.IncrementalAuthorization
		in.IncrementalAuth = ia != nil && ia.Status == stripeapi.ChargePaymentMethodDetailsCardIncrementalAuthorizationStatusAvailable
	}
	in.AmountRefunded = refundedOfCaptured(pi.LatestCharge)
	if e := pi.LastPaymentError; e != nil {
		in.LastErrorCode = string(e.Code)
		if e.DeclineCode != "" {
			in.LastErrorCode = string(e.DeclineCode)
		}
	}
	return in
}

// refundedOfCaptured is what was refunded of a charge's captured amount. Stripe
// counts the uncaptured remainder of a partial capture in amount_refunded (the
// rest of the hold is released that way), which is not money given back, so it
// is taken off. An uncaptured charge has had nothing refunded. ch is nil or
// unexpanded (id only) when the answer did not embed it: nothing is known then.
func refundedOfCaptured(ch *stripeapi.Charge) int64 {
	if ch == nil || !ch.Captured {
		return 0
	}
	released := ch.Amount - ch.AmountCaptured
	return min(max(ch.AmountRefunded-released, 0), ch.AmountCaptured)
}

func toRefund(r *stripeapi.Refund) app.Refund {
	ref := app.Refund{
		ID:     r.ID,
		Amount: domain.Money{AmountMinor: r.Amount, Currency: strings.ToUpper(string(r.Currency))},
		Status: string(r.Status),
	}
	if r.PaymentIntent != nil {
		ref.IntentID = r.PaymentIntent.ID
	}
	return ref
}

// The checks below refuse, before any I/O, what the sandbox refuses the same
// way (the shared contract holds both to it): no status, no request id.

func firstError(errs ...*app.GatewayError) *app.GatewayError {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
