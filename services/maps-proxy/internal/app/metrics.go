package app

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mobilitycorp/platform/pkg/observability"
)

// Capabilities, as metric labels.
const (
	capRoute   = "route"
	capMatrix  = "matrix"
	capETA     = "eta"
	capGeocode = "geocode"
	capReverse = "reverse"
)

// Request outcomes (maps_requests_total).
const (
	outcomeHit       = "hit"       // every part answered from the cache
	outcomeUpstream  = "upstream"  // a provider answered
	outcomeEstimate  = "estimate"  // the estimator answered
	outcomeGazetteer = "gazetteer" // the gazetteer answered (possibly with nothing)
	outcomeNoRoute   = "no_route"  // a provider said the points are not connected
	outcomeEmpty     = "empty"     // a provider found no places
	outcomeInvalid   = "invalid"   // the request failed validation
	outcomeCanceled  = "canceled"  // the caller went away
)

// Upstream outcomes besides "ok" and the domain.ErrorKind values: why a provider was skipped.
const (
	skipRetryAfter  = "skipped_retry_after"
	skipBreaker     = "skipped_circuit_open"
	skipConcurrency = "skipped_concurrency"
	skipQuota       = "skipped_quota"
)

type metrics struct {
	requests         *prometheus.CounterVec
	cacheHits        *prometheus.CounterVec
	cacheMisses      *prometheus.CounterVec
	upstream         *prometheus.CounterVec
	upstreamDuration *prometheus.HistogramVec
	fallbacks        *prometheus.CounterVec
	quotaUsed        *prometheus.GaugeVec
	breakerState     *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	var m metrics
	var err error
	counter := func(dst **prometheus.CounterVec, name, help string, labels ...string) {
		if err != nil {
			return
		}
		*dst, err = observability.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels))
	}
	gauge := func(dst **prometheus.GaugeVec, name, help string, labels ...string) {
		if err != nil {
			return
		}
		*dst, err = observability.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels))
	}
	counter(&m.requests, "maps_requests_total", "Requests by capability and outcome.", "capability", "outcome")
	counter(&m.cacheHits, "maps_cache_hits_total", "Cache hits by capability and layer (memory, redis); matrix counts cells.", "capability", "layer")
	counter(&m.cacheMisses, "maps_cache_misses_total", "Cache misses by capability; matrix counts cells.", "capability")
	counter(&m.upstream, "maps_upstream_requests_total", "Provider calls by outcome: ok, an error kind, or skipped_* when not called.", "provider", "capability", "outcome")
	counter(&m.fallbacks, "maps_fallbacks_total", "Fallbacks by capability and target (next, estimate, gazetteer).", "capability", "to")
	gauge(&m.quotaUsed, "maps_quota_used", "Calls counted against today's quota, by provider.", "provider")
	gauge(&m.breakerState, "maps_breaker_state", "Circuit breaker state by provider: 0 closed, 1 half-open, 2 open.", "provider")
	if err != nil {
		return nil, err
	}
	m.upstreamDuration, err = observability.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "maps_upstream_duration_seconds",
		Help:    "Provider call latency.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 12), // 5 ms … 10 s
	}, []string{"provider", "capability"}))
	if err != nil {
		return nil, err
	}
	return &m, nil
}
