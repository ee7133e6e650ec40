package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"

	"github.com/mobilitycorp/platform/pkg/observability"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

// ErrCircuitOpen is wrapped in the *GatewayError (KindUnavailable, code
// "circuit_open") that a Breaker returns instead of calling a failing gateway.
var ErrCircuitOpen = errors.New("gateway circuit breaker is open")

// CodeCircuitOpen is the GatewayError.Code of a call the breaker refused.
const CodeCircuitOpen = "circuit_open"

// BreakerOptions configures a Breaker; zero values take the defaults.
type BreakerOptions struct {
	// Name labels the metrics and logs (default "gateway").
	Name string
	// ConsecutiveFailures opens the circuit after that many retryable failures
	// in a row (default 5).
	ConsecutiveFailures uint32
	// FailureRatio and MinRequests also open it when, within Window, at least
	// MinRequests calls were made and that share of them failed (defaults 0.5,
	// 20 and 30s): a gateway failing every other call is down too.
	FailureRatio float64
	MinRequests  uint32
	Window       time.Duration
	// OpenFor is how long the circuit stays open before it lets probes
	// through (half-open); default 10s.
	OpenFor time.Duration
	// Probes is how many calls a half-open circuit lets through; that many
	// successes in a row close it, one failure opens it again (default 3).
	Probes uint32
	Logger *slog.Logger
	// Registerer receives the breaker metrics; nil means none.
	Registerer prometheus.Registerer
}

func (o *BreakerOptions) setDefaults() {
	if o.Name == "" {
		o.Name = "gateway"
	}
	if o.ConsecutiveFailures == 0 {
		o.ConsecutiveFailures = 5
	}
	if o.FailureRatio <= 0 || o.FailureRatio > 1 {
		o.FailureRatio = 0.5
	}
	if o.MinRequests == 0 {
		o.MinRequests = 20
	}
	if o.Window <= 0 {
		o.Window = 30 * time.Second
	}
	if o.OpenFor <= 0 {
		o.OpenFor = 10 * time.Second
	}
	if o.Probes == 0 {
		o.Probes = 3
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Breaker is a circuit breaker around a Gateway. Only retryable failures
// (unavailable, rate limited) count against the gateway: a decline or an
// invalid request is a healthy gateway answering. While the circuit is open,
// calls fail at once with a retryable *GatewayError wrapping ErrCircuitOpen
// and nothing is sent, so an outage costs neither timeouts nor rate limit.
// It is safe for concurrent use.
type Breaker struct {
	next        Gateway
	name        string
	cb          *gobreaker.TwoStepCircuitBreaker[struct{}]
	rejected    prometheus.Counter
	transitions *prometheus.CounterVec
}

var _ Gateway = (*Breaker)(nil)

// errCallerGone marks a call that failed because its caller gave up: it says
// nothing about the gateway.
var errCallerGone = errors.New("caller gave up")

// NewBreaker wraps next.
func NewBreaker(next Gateway, opts BreakerOptions) (*Breaker, error) {
	if next == nil {
		return nil, errors.New("breaker: gateway is nil")
	}
	opts.setDefaults()
	state, err := observability.Register(opts.Registerer, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "payments_gateway_circuit_state",
		Help: "Gateway circuit breaker state: 0 closed, 1 half-open, 2 open.",
	}, []string{"gateway"}))
	if err != nil {
		return nil, err
	}
	rejected, err := observability.Register(opts.Registerer, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "payments_gateway_circuit_rejected_total",
		Help: "Gateway calls refused without being sent because the circuit was open.",
	}, []string{"gateway"}))
	if err != nil {
		return nil, err
	}
	transitions, err := observability.Register(opts.Registerer, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "payments_gateway_circuit_transitions_total",
		Help: "Gateway circuit breaker state changes, by new state.",
	}, []string{"gateway", "to"}))
	if err != nil {
		return nil, err
	}
	b := &Breaker{
		next:        next,
		name:        opts.Name,
		rejected:    rejected.WithLabelValues(opts.Name),
		transitions: transitions,
	}
	stateGauge := state.WithLabelValues(opts.Name)
	stateGauge.Set(float64(gobreaker.StateClosed))
	logger := opts.Logger.With(slog.String("gateway", opts.Name))
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        opts.Name,
		MaxRequests: opts.Probes,
		Interval:    opts.Window,
		// Six buckets: the window rolls instead of being cleared at once.
		BucketPeriod: opts.Window / 6,
		Timeout:      opts.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= opts.ConsecutiveFailures ||
				(c.Requests >= opts.MinRequests && float64(c.TotalFailures) >= opts.FailureRatio*float64(c.Requests))
		},
		IsSuccessful: func(err error) bool { return err == nil || !IsRetryable(err) },
		IsExcluded:   func(err error) bool { return errors.Is(err, errCallerGone) },
		// Runs under the breaker's lock: no calls back into it.
		OnStateChange: func(_ string, from, to gobreaker.State) {
			stateGauge.Set(float64(to))
			b.transitions.WithLabelValues(opts.Name, to.String()).Inc()
			level := slog.LevelInfo
			if to == gobreaker.StateOpen {
				level = slog.LevelWarn
			}
			logger.Log(context.Background(), level, "gateway circuit breaker changed state",
				slog.String("from", from.String()), slog.String("to", to.String()))
		},
	})
	return b, nil
}

// Open reports whether the circuit is open: calls would be refused now. Once
// OpenFor has passed it is half-open and Open is false again.
func (b *Breaker) Open() bool { return b.cb.State() == gobreaker.StateOpen }

// guard runs call if the circuit lets it through and reports its outcome.
func guard[T any](ctx context.Context, b *Breaker, call func(context.Context) (T, error)) (T, error) {
	done, err := b.cb.Allow()
	if err != nil { // open, or half-open with every probe taken
		b.rejected.Inc()
		var zero T
		return zero, &GatewayError{Kind: KindUnavailable, Code: CodeCircuitOpen,
			Err: fmt.Errorf("%w (%s: %v)", ErrCircuitOpen, b.name, err)}
	}
	v, err := call(ctx)
	if err != nil && ctx.Err() != nil {
		done(errCallerGone)
	} else {
		done(err)
	}
	return v, err
}

// CreateCustomer implements Gateway.
func (b *Breaker) CreateCustomer(ctx context.Context, idempotencyKey, email, name string) (string, error) {
	return guard(ctx, b, func(ctx context.Context) (string, error) {
		return b.next.CreateCustomer(ctx, idempotencyKey, email, name)
	})
}

// AttachPaymentMethod implements Gateway.
func (b *Breaker) AttachPaymentMethod(ctx context.Context, idempotencyKey, customerRef, paymentMethod string) error {
	_, err := guard(ctx, b, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, b.next.AttachPaymentMethod(ctx, idempotencyKey, customerRef, paymentMethod)
	})
	return err
}

// Authorise implements Gateway. A decline returns the intent with the error,
// as the wrapped gateway does.
func (b *Breaker) Authorise(ctx context.Context, req AuthoriseRequest) (Intent, error) {
	return guard(ctx, b, func(ctx context.Context) (Intent, error) { return b.next.Authorise(ctx, req) })
}

// IncrementAuthorisation implements Gateway.
func (b *Breaker) IncrementAuthorisation(ctx context.Context, idempotencyKey, intentID string, amount domain.Money) (Intent, error) {
	return guard(ctx, b, func(ctx context.Context) (Intent, error) {
		return b.next.IncrementAuthorisation(ctx, idempotencyKey, intentID, amount)
	})
}

// Capture implements Gateway.
func (b *Breaker) Capture(ctx context.Context, idempotencyKey, intentID string, amount domain.Money) (Intent, error) {
	return guard(ctx, b, func(ctx context.Context) (Intent, error) {
		return b.next.Capture(ctx, idempotencyKey, intentID, amount)
	})
}

// Cancel implements Gateway.
func (b *Breaker) Cancel(ctx context.Context, idempotencyKey, intentID string) (Intent, error) {
	return guard(ctx, b, func(ctx context.Context) (Intent, error) { return b.next.Cancel(ctx, idempotencyKey, intentID) })
}

// Refund implements Gateway.
func (b *Breaker) Refund(ctx context.Context, idempotencyKey, intentID string, amount domain.Money, reason string) (Refund, error) {
	return guard(ctx, b, func(ctx context.Context) (Refund, error) {
		return b.next.Refund(ctx, idempotencyKey, intentID, amount, reason)
	})
}

// GetIntent implements Gateway.
func (b *Breaker) GetIntent(ctx context.Context, intentID string) (Intent, error) {
	return guard(ctx, b, func(ctx context.Context) (Intent, error) { return b.next.GetIntent(ctx, intentID) })
}
