package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"
	"golang.org/x/sync/semaphore"
	"golang.org/x/sync/singleflight"

	"github.com/mobilitycorp/platform/services/maps-proxy/internal/domain"
)

// Service answers routes, matrices, ETAs and geocoding over provider chains.
// It is safe for concurrent use.
type Service struct {
	routers   []link[RouteProvider]
	matrices  []link[MatrixProvider]
	geocoders []link[Geocoder]
	gazetteer Geocoder
	gazPolicy ProviderPolicy

	cache  Cache
	quota  Quota
	est    domain.Estimator
	ttl    CacheTTLs
	now    func() time.Time
	logger *slog.Logger
	m      *metrics

	// One group per capability: identical concurrent misses make one upstream call.
	routeFlights  singleflight.Group
	matrixFlights singleflight.Group
	geoFlights    singleflight.Group
}

// link is one provider in a chain with the state shared by every chain it is in.
type link[P any] struct {
	p  P
	st *providerState
}

// providerState is the protection around one provider (by name).
type providerState struct {
	name    string
	policy  ProviderPolicy
	sem     *semaphore.Weighted
	breaker *gobreaker.TwoStepCircuitBreaker[struct{}]

	mu        sync.Mutex
	coolUntil time.Time // from Retry-After
}

func (st *providerState) coolingUntil() time.Time {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.coolUntil
}

func (st *providerState) coolDown(until time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if until.After(st.coolUntil) {
		st.coolUntil = until
	}
}

// errSkipped reports to the breaker that an admitted request never reached the
// provider (quota or concurrency), so it counts neither way.
var errSkipped = errors.New("provider skipped")

// NewService checks opts and applies the defaults.
func NewService(opts Options) (*Service, error) {
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("maps service metrics: %w", err)
	}
	s := &Service{
		gazetteer: opts.Gazetteer,
		cache:     opts.Cache,
		quota:     opts.Quota,
		est:       opts.Estimator,
		ttl:       opts.CacheTTL.withDefaults(),
		now:       opts.Now,
		logger:    opts.Logger,
		m:         m,
	}
	if s.cache == nil {
		s.cache = noCache{}
	}
	if s.est.Params == nil {
		s.est = domain.NewEstimator()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.gazetteer != nil {
		s.gazPolicy = opts.Policies[s.gazetteer.Name()].withDefaults()
	}

	states := map[string]*providerState{}
	state := func(name string) (*providerState, error) {
		if name == "" || name == domain.SourceEstimate || name == domain.SourceGazetteer {
			return nil, fmt.Errorf("provider name %q is empty or reserved", name)
		}
		if st, ok := states[name]; ok {
			return st, nil
		}
		pol := opts.Policies[name].withDefaults()
		if pol.DailyQuota > 0 && opts.Quota == nil {
			return nil, fmt.Errorf("provider %s has a daily quota but no Quota store is configured", name)
		}
		st := &providerState{name: name, policy: pol, sem: semaphore.NewWeighted(pol.MaxConcurrency)}
		st.breaker = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
			Name:        name,
			MaxRequests: pol.Breaker.HalfOpenMaxRequests,
			Timeout:     pol.Breaker.OpenDuration,
			ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= pol.Breaker.ConsecutiveFailures },
			IsExcluded: func(err error) bool {
				return errors.Is(err, errSkipped) || errors.Is(err, context.Canceled)
			},
			OnStateChange: func(name string, from, to gobreaker.State) {
				m.breakerState.WithLabelValues(name).Set(float64(to))
				s.logger.Warn("maps provider circuit breaker changed state",
					slog.String("provider", name), slog.String("from", from.String()), slog.String("to", to.String()))
			},
		})
		m.breakerState.WithLabelValues(name).Set(float64(gobreaker.StateClosed))
		states[name] = st
		return st, nil
	}
	if s.routers, err = buildChain(opts.Routers, capRoute, state); err != nil {
		return nil, err
	}
	if s.matrices, err = buildChain(opts.Matrices, capMatrix, state); err != nil {
		return nil, err
	}
	if s.geocoders, err = buildChain(opts.Geocoders, capGeocode, state); err != nil {
		return nil, err
	}
	return s, nil
}

type namer interface{ Name() string }

func buildChain[P namer](ps []P, capability string, state func(string) (*providerState, error)) ([]link[P], error) {
	chain := make([]link[P], 0, len(ps))
	seen := map[string]bool{}
	for i, p := range ps {
		if any(p) == nil {
			return nil, fmt.Errorf("%s provider %d is nil", capability, i)
		}
		name := p.Name()
		if seen[name] {
			return nil, fmt.Errorf("%s provider %s is listed twice", capability, name)
		}
		seen[name] = true
		st, err := state(name)
		if err != nil {
			return nil, err
		}
		chain = append(chain, link[P]{p: p, st: st})
	}
	return chain, nil
}

// chainResult is what walking a provider chain produced: a value (ok), a
// non-retryable answer such as "no route" (answer), or neither (exhausted).
type chainResult[T any] struct {
	value    T
	ok       bool
	answer   *domain.ProviderError
	provider *providerState
}

// walk asks each provider in turn until one answers. Skipped and failed
// providers move on to the next; a non-retryable error ends the walk as the answer.
func walk[P any, T any](ctx context.Context, s *Service, capability string, chain []link[P], call func(context.Context, P) (T, error)) chainResult[T] {
	for i, l := range chain {
		if i > 0 {
			s.m.fallbacks.WithLabelValues(capability, "next").Inc()
		}
		var v T
		st, perr := s.attempt(ctx, l.st, capability, func(ctx context.Context) error {
			var err error
			v, err = call(ctx, l.p)
			return err
		})
		switch st {
		case attemptOK:
			return chainResult[T]{value: v, ok: true, provider: l.st}
		case attemptAnswer:
			return chainResult[T]{answer: perr, provider: l.st}
		}
	}
	return chainResult[T]{}
}

type attemptStatus int

const (
	attemptOK      attemptStatus = iota // the provider answered
	attemptAnswer                       // a non-retryable error: the answer about the request
	attemptFailed                       // a retryable error: try the next
	attemptSkipped                      // not called: cooling down, open, busy or over quota
)

// attempt calls one provider under its protections.
func (s *Service) attempt(ctx context.Context, st *providerState, capability string, call func(context.Context) error) (attemptStatus, *domain.ProviderError) {
	skip := func(reason string) (attemptStatus, *domain.ProviderError) {
		s.m.upstream.WithLabelValues(st.name, capability, reason).Inc()
		s.logger.DebugContext(ctx, "maps provider skipped", slog.String("provider", st.name), slog.String("capability", capability), slog.String("reason", reason))
		return attemptSkipped, nil
	}
	if s.now().Before(st.coolingUntil()) {
		return skip(skipRetryAfter)
	}
	done, err := st.breaker.Allow()
	if err != nil {
		return skip(skipBreaker)
	}
	if !st.sem.TryAcquire(1) {
		done(errSkipped)
		return skip(skipConcurrency)
	}
	defer st.sem.Release(1)
	if !s.takeQuota(ctx, st) {
		done(errSkipped)
		return skip(skipQuota)
	}

	callCtx, cancel := context.WithTimeout(ctx, st.policy.Timeout)
	start := time.Now()
	err = call(callCtx)
	s.m.upstreamDuration.WithLabelValues(st.name, capability).Observe(time.Since(start).Seconds())
	timedOut := errors.Is(callCtx.Err(), context.DeadlineExceeded)
	cancel()
	if err == nil {
		done(nil)
		s.m.upstream.WithLabelValues(st.name, capability, "ok").Inc()
		return attemptOK, nil
	}
	perr := asProviderError(st.name, err, timedOut)
	s.m.upstream.WithLabelValues(st.name, capability, string(perr.Kind)).Inc()
	if !perr.Retryable() {
		// The provider is healthy and answered about the request itself.
		done(nil)
		return attemptAnswer, perr
	}
	done(perr)
	if perr.RetryAfter > 0 {
		st.coolDown(s.now().Add(min(perr.RetryAfter, maxRetryAfter)))
	}
	s.logger.WarnContext(ctx, "maps provider failed", slog.String("provider", st.name),
		slog.String("capability", capability), slog.Any("error", perr))
	return attemptFailed, perr
}

// asProviderError keeps adapters' *domain.ProviderError and classifies anything
// else (a bug or a bare context error) as retryable.
func asProviderError(name string, err error, timedOut bool) *domain.ProviderError {
	if perr, ok := errors.AsType[*domain.ProviderError](err); ok {
		return perr
	}
	kind := domain.KindUnavailable
	if timedOut || errors.Is(err, context.DeadlineExceeded) {
		kind = domain.KindTimeout
	}
	return &domain.ProviderError{Provider: name, Kind: kind, Err: err}
}

// takeQuota counts the call and reports whether it is within budget. Errors fail
// open: the quota guards spend, and the providers enforce their own hard limits.
func (s *Service) takeQuota(ctx context.Context, st *providerState) bool {
	if s.quota == nil {
		return true
	}
	allowed, used, err := s.quota.Take(ctx, st.name, st.policy.DailyQuota)
	if err != nil {
		s.logger.WarnContext(ctx, "maps quota unavailable, allowing the call", slog.String("provider", st.name), slog.Any("error", err))
		return true
	}
	if lim := st.policy.DailyQuota; lim > 0 && used > lim {
		used = lim // denied takes are counted by the store but never reached the provider
	}
	s.m.quotaUsed.WithLabelValues(st.name).Set(float64(used))
	return allowed
}

// coalesce runs fn once for all concurrent callers with the same key. fn runs
// detached from the caller's cancellation (each provider call has its own
// timeout), so the first caller going away does not fail the others; a caller
// whose context ends stops waiting and gets its context's error.
func coalesce[T any](ctx context.Context, g *singleflight.Group, key string, fn func(context.Context) T) (T, error) {
	detached := context.WithoutCancel(ctx)
	ch := g.DoChan(key, func() (any, error) { return fn(detached), nil })
	select {
	case r := <-ch:
		return r.Val.(T), nil
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

type noCache struct{}

func (noCache) Get(context.Context, string) ([]byte, Layer, bool)         { return nil, "", false }
func (noCache) GetMany(context.Context, []string) map[string]Hit          { return nil }
func (noCache) Set(context.Context, string, []byte, time.Duration)        {}
func (noCache) SetMany(context.Context, map[string][]byte, time.Duration) {}
