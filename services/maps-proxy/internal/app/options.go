package app

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mobilitycorp/platform/services/maps-proxy/internal/domain"
)

// Options configures a Service; zero values mean the defaults.
type Options struct {
	// Routers, Matrices and Geocoders are the provider chains, in fallback order.
	Routers   []RouteProvider
	Matrices  []MatrixProvider
	Geocoders []Geocoder
	// Gazetteer is the local last resort for geocoding; nil means none. It has no
	// breaker, quota or cache terms; only its policy's Timeout applies.
	Gazetteer Geocoder
	// Policies are per provider, keyed by Name(); a provider without one gets the defaults.
	// A provider serving several capabilities shares one breaker, semaphore and quota.
	Policies map[string]ProviderPolicy
	// Cache stores answers; nil disables caching.
	Cache Cache
	// Quota counts calls per provider per day; nil disables quotas (then no policy
	// may set DailyQuota).
	Quota Quota
	// Estimator answers routes and matrices when no provider can; zero means domain.NewEstimator().
	Estimator domain.Estimator
	// Registerer receives the metrics; nil means none.
	Registerer prometheus.Registerer
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Now is the clock for Retry-After cool-downs (default time.Now).
	Now func() time.Time
	// CacheTTL are the per-capability cache lifetimes.
	CacheTTL CacheTTLs
}

// CacheTTLs are how long answers are cached, per capability.
type CacheTTLs struct {
	Route   time.Duration // default 24h
	Matrix  time.Duration // default 24h, per cell
	Geocode time.Duration // default 7 days
	Reverse time.Duration // default 7 days
	// Fallback bounds answers of the estimator and the gazetteer (default 60s), so a
	// recovered provider is asked again soon.
	Fallback time.Duration
	// Negative bounds "no route" and "no places" answers (default 10m): road
	// closures and new addresses change faster than routes.
	Negative time.Duration
}

// ProviderPolicy is how one provider may be used.
type ProviderPolicy struct {
	// Timeout bounds one call (default 2s).
	Timeout time.Duration
	// MaxConcurrency bounds calls in flight (default 32); when all are taken the
	// provider is skipped rather than queued, because the next provider or the
	// estimator answers sooner than a queue drains.
	MaxConcurrency int64
	// DailyQuota is the budget of calls per UTC day; 0 means unlimited.
	DailyQuota int64
	// CacheTTL is the provider's terms on storing its answers: the effective TTL is
	// min(capability TTL, CacheTTL); 0 means no limit, negative means NoStore.
	CacheTTL time.Duration
	// NoStore means the provider's terms forbid caching its answers at all.
	NoStore bool
	// Breaker is the circuit breaker around the provider.
	Breaker BreakerPolicy
}

// BreakerPolicy configures a provider's circuit breaker.
type BreakerPolicy struct {
	ConsecutiveFailures uint32        // failures in a row that open it (default 5)
	OpenDuration        time.Duration // how long it stays open (default 30s)
	HalfOpenMaxRequests uint32        // probes allowed while half-open (default 1)
}

// Defaults used for zero values.
const (
	DefaultTimeout             = 2 * time.Second
	DefaultMaxConcurrency      = 32
	DefaultConsecutiveFailures = 5
	DefaultOpenDuration        = 30 * time.Second
	DefaultHalfOpenMaxRequests = 1
	DefaultRouteTTL            = 24 * time.Hour
	DefaultMatrixTTL           = 24 * time.Hour
	DefaultGeocodeTTL          = 7 * 24 * time.Hour
	DefaultReverseTTL          = 7 * 24 * time.Hour
	DefaultFallbackTTL         = time.Minute
	DefaultNegativeTTL         = 10 * time.Minute
	// maxRetryAfter caps a provider's Retry-After so a bogus header cannot take
	// it out of rotation for days.
	maxRetryAfter = time.Hour
)

func (p ProviderPolicy) withDefaults() ProviderPolicy {
	if p.Timeout <= 0 {
		p.Timeout = DefaultTimeout
	}
	if p.MaxConcurrency <= 0 {
		p.MaxConcurrency = DefaultMaxConcurrency
	}
	if p.Breaker.ConsecutiveFailures == 0 {
		p.Breaker.ConsecutiveFailures = DefaultConsecutiveFailures
	}
	if p.Breaker.OpenDuration <= 0 {
		p.Breaker.OpenDuration = DefaultOpenDuration
	}
	if p.Breaker.HalfOpenMaxRequests == 0 {
		p.Breaker.HalfOpenMaxRequests = DefaultHalfOpenMaxRequests
	}
	return p
}

// storeTTL is how long an answer of this provider may be cached, given the
// capability's TTL; 0 means not at all.
func (p ProviderPolicy) storeTTL(capability time.Duration) time.Duration {
	if p.NoStore || p.CacheTTL < 0 {
		return 0
	}
	if p.CacheTTL > 0 && p.CacheTTL < capability {
		return p.CacheTTL
	}
	return capability
}

func (t CacheTTLs) withDefaults() CacheTTLs {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.Route, DefaultRouteTTL)
	def(&t.Matrix, DefaultMatrixTTL)
	def(&t.Geocode, DefaultGeocodeTTL)
	def(&t.Reverse, DefaultReverseTTL)
	def(&t.Fallback, DefaultFallbackTTL)
	def(&t.Negative, DefaultNegativeTTL)
	return t
}
