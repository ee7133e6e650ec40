package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/mobilitycorp/platform/services/maps-proxy/internal/domain"
)

// routeEntry is a cached route answer; NoRoute caches "not connected" too,
// with the provider's error kind.
type routeEntry struct {
	Result  domain.RouteResult `json:"result"`
	NoRoute bool               `json:"no_route,omitempty"`
	Kind    domain.ErrorKind   `json:"kind,omitempty"`
}

// routeAnswer is what one route flight hands to every waiting caller.
type routeAnswer struct {
	entry   routeEntry
	outcome string
	cause   *domain.ProviderError // the provider's error behind a NoRoute answer
}

// Route answers a route request: from the cache, else the first provider that
// can, else the estimator. Errors are domain.ErrInvalidInput, domain.ErrNoRoute,
// or the caller's context being cancelled.
func (s *Service) Route(ctx context.Context, req domain.RouteRequest) (domain.RouteResult, error) {
	req, err := normaliseRoute(req)
	if err != nil {
		s.m.requests.WithLabelValues(capRoute, outcomeInvalid).Inc()
		return domain.RouteResult{}, err
	}
	key := routeKey(req)

	ans, ok := s.cachedRoute(ctx, key, capRoute)
	if !ok {
		s.m.cacheMisses.WithLabelValues(capRoute).Inc()
		ans, err = coalesce(ctx, &s.routeFlights, key, func(ctx context.Context) routeAnswer {
			return s.routeFlight(ctx, key, req)
		})
		if err != nil {
			if !errors.Is(err, context.DeadlineExceeded) {
				s.m.requests.WithLabelValues(capRoute, outcomeCanceled).Inc()
				return domain.RouteResult{}, err
			}
			// The caller's deadline is nearer than the providers' answer: estimate now.
			s.m.fallbacks.WithLabelValues(capRoute, "estimate").Inc()
			ans = routeAnswer{entry: routeEntry{Result: s.estimateRoute(req)}, outcome: outcomeEstimate}
		}
	}
	s.m.requests.WithLabelValues(capRoute, ans.outcome).Inc()
	if ans.entry.NoRoute {
		return domain.RouteResult{}, fmt.Errorf("%w: %w", domain.ErrNoRoute, ans.cause)
	}
	res := ans.entry.Result
	res.Routes = slices.Clone(res.Routes) // flights share the slice between callers
	return res, nil
}

// cachedRoute looks key up; countHits is the capability label, or "" inside a
// flight, where the caller has already counted its miss.
func (s *Service) cachedRoute(ctx context.Context, key, countHits string) (routeAnswer, bool) {
	raw, layer, ok := s.cache.Get(ctx, key)
	if !ok {
		return routeAnswer{}, false
	}
	var e routeEntry
	if err := json.Unmarshal(raw, &e); err != nil {
		s.logger.WarnContext(ctx, "maps cache entry unreadable, ignoring it", slog.String("key", key), slog.Any("error", err))
		return routeAnswer{}, false
	}
	if countHits != "" {
		s.m.cacheHits.WithLabelValues(countHits, string(layer)).Inc()
	}
	if e.NoRoute {
		return routeAnswer{entry: e, outcome: outcomeNoRoute, cause: &domain.ProviderError{Provider: e.Result.Source, Kind: e.Kind}}, true
	}
	return routeAnswer{entry: e, outcome: outcomeHit}, true
}

func (s *Service) routeFlight(ctx context.Context, key string, req domain.RouteRequest) routeAnswer {
	// A flight that finished just before this one started may have stored the answer.
	if ans, ok := s.cachedRoute(ctx, key, ""); ok {
		return ans
	}
	r := walk(ctx, s, capRoute, s.routers, func(ctx context.Context, p RouteProvider) ([]domain.Route, error) {
		routes, err := p.Route(ctx, req)
		if err == nil && len(routes) == 0 {
			err = &domain.ProviderError{Provider: p.Name(), Kind: domain.KindMalformed, Err: errors.New("success without routes")}
		}
		return routes, err
	})
	var ans routeAnswer
	ttl := s.ttl.Fallback
	switch {
	case r.ok:
		ans = routeAnswer{entry: routeEntry{Result: domain.RouteResult{Routes: r.value, Source: r.provider.name}}, outcome: outcomeUpstream}
		ttl = r.provider.policy.storeTTL(s.ttl.Route)
	case r.answer != nil:
		ans = routeAnswer{entry: routeEntry{Result: domain.RouteResult{Routes: []domain.Route{}, Source: r.provider.name}, NoRoute: true, Kind: r.answer.Kind}, outcome: outcomeNoRoute, cause: r.answer}
		ttl = min(r.provider.policy.storeTTL(s.ttl.Route), s.ttl.Negative)
	default:
		s.m.fallbacks.WithLabelValues(capRoute, "estimate").Inc()
		s.logger.WarnContext(ctx, "no route provider answered, estimating", slog.Int("providers", len(s.routers)))
		ans = routeAnswer{entry: routeEntry{Result: s.estimateRoute(req)}, outcome: outcomeEstimate}
	}
	s.store(ctx, key, ans.entry, ttl)
	return ans
}

func (s *Service) estimateRoute(req domain.RouteRequest) domain.RouteResult {
	return domain.RouteResult{Routes: []domain.Route{s.est.Route(req)}, Source: domain.SourceEstimate}
}

// store encodes v and caches it for ttl (nothing when ttl <= 0).
func (s *Service) store(ctx context.Context, key string, v any, ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	raw, err := json.Marshal(v)
	if err != nil {
		s.logger.ErrorContext(ctx, "maps cache entry not encodable", slog.String("key", key), slog.Any("error", err))
		return
	}
	s.cache.Set(ctx, key, raw, ttl)
}
