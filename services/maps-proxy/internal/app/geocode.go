package app

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/mobilitycorp/platform/services/maps-proxy/internal/domain"
)

// geoAnswer is what one geocoding flight hands to every waiting caller.
type geoAnswer struct {
	result  domain.GeocodeResult
	outcome string
}

// geoCall asks one geocoder (forward or reverse).
type geoCall func(context.Context, Geocoder) ([]domain.Place, error)

// Geocode searches places by text: from the cache, else the first geocoder that
// can, else the gazetteer. "Nothing found" is an empty result, not an error; the
// only errors are domain.ErrInvalidInput and the caller's context being cancelled.
func (s *Service) Geocode(ctx context.Context, req domain.GeocodeRequest) (domain.GeocodeResult, error) {
	req, err := normaliseGeocode(req)
	if err != nil {
		s.m.requests.WithLabelValues(capGeocode, outcomeInvalid).Inc()
		return domain.GeocodeResult{}, err
	}
	return s.geocode(ctx, capGeocode, geocodeKey(req), s.ttl.Geocode, req.Limit,
		func(ctx context.Context, g Geocoder) ([]domain.Place, error) { return g.Geocode(ctx, req) })
}

// Reverse answers what is at a point, like Geocode.
func (s *Service) Reverse(ctx context.Context, req domain.ReverseRequest) (domain.GeocodeResult, error) {
	req, err := normaliseReverse(req)
	if err != nil {
		s.m.requests.WithLabelValues(capReverse, outcomeInvalid).Inc()
		return domain.GeocodeResult{}, err
	}
	return s.geocode(ctx, capReverse, reverseKey(req), s.ttl.Reverse, 0,
		func(ctx context.Context, g Geocoder) ([]domain.Place, error) { return g.Reverse(ctx, req) })
}

func (s *Service) geocode(ctx context.Context, capability, key string, capTTL time.Duration, limit int, call geoCall) (domain.GeocodeResult, error) {
	ans, ok := s.cachedPlaces(ctx, key, capability)
	if !ok {
		s.m.cacheMisses.WithLabelValues(capability).Inc()
		var err error
		ans, err = coalesce(ctx, &s.geoFlights, key, func(ctx context.Context) geoAnswer {
			return s.geocodeFlight(ctx, capability, key, capTTL, limit, call)
		})
		if err != nil {
			if !errors.Is(err, context.DeadlineExceeded) {
				s.m.requests.WithLabelValues(capability, outcomeCanceled).Inc()
				return domain.GeocodeResult{}, err
			}
			// The caller's deadline is nearer than the providers' answer: the
			// gazetteer is local and quick, so ask it on a context of its own.
			s.m.fallbacks.WithLabelValues(capability, "gazetteer").Inc()
			ans = geoAnswer{result: s.askGazetteer(context.WithoutCancel(ctx), capability, limit, call), outcome: outcomeGazetteer}
		}
	}
	s.m.requests.WithLabelValues(capability, ans.outcome).Inc()
	res := ans.result
	res.Places = slices.Clone(res.Places) // flights share the slice between callers
	return res, nil
}

// cachedPlaces looks key up; countHits is the capability label, or "" inside a
// flight, where the caller has already counted its miss.
func (s *Service) cachedPlaces(ctx context.Context, key, countHits string) (geoAnswer, bool) {
	raw, layer, ok := s.cache.Get(ctx, key)
	if !ok {
		return geoAnswer{}, false
	}
	var res domain.GeocodeResult
	if err := json.Unmarshal(raw, &res); err != nil {
		s.logger.WarnContext(ctx, "maps cache entry unreadable, ignoring it", slog.String("key", key), slog.Any("error", err))
		return geoAnswer{}, false
	}
	if res.Places == nil {
		res.Places = []domain.Place{}
	}
	if countHits != "" {
		s.m.cacheHits.WithLabelValues(countHits, string(layer)).Inc()
	}
	return geoAnswer{result: res, outcome: outcomeHit}, true
}

func (s *Service) geocodeFlight(ctx context.Context, capability, key string, capTTL time.Duration, limit int, call geoCall) geoAnswer {
	// A flight that finished just before this one started may have stored the answer.
	if ans, ok := s.cachedPlaces(ctx, key, ""); ok {
		return ans
	}
	r := walk(ctx, s, capability, s.geocoders, call)
	var ans geoAnswer
	ttl := s.ttl.Fallback
	switch {
	case r.ok && len(r.value) > 0:
		ans = geoAnswer{result: domain.GeocodeResult{Places: truncate(r.value, limit), Source: r.provider.name}, outcome: outcomeUpstream}
		ttl = r.provider.policy.storeTTL(capTTL)
	case r.ok || r.answer != nil:
		// Zero results (or a query the provider rejects) is the answer: asking
		// the next provider would spend its quota to find nothing too.
		ans = geoAnswer{result: domain.GeocodeResult{Places: []domain.Place{}, Source: r.provider.name}, outcome: outcomeEmpty}
		ttl = min(r.provider.policy.storeTTL(capTTL), s.ttl.Negative)
	default:
		s.m.fallbacks.WithLabelValues(capability, "gazetteer").Inc()
		s.logger.WarnContext(ctx, "no geocoder answered, asking the gazetteer", slog.String("capability", capability), slog.Int("providers", len(s.geocoders)))
		ans = geoAnswer{result: s.askGazetteer(ctx, capability, limit, call), outcome: outcomeGazetteer}
	}
	s.store(ctx, key, ans.result, ttl)
	return ans
}

// askGazetteer is the last resort; it never fails: no gazetteer, an error or
// nothing found are all an empty result from the gazetteer.
func (s *Service) askGazetteer(ctx context.Context, capability string, limit int, call geoCall) domain.GeocodeResult {
	res := domain.GeocodeResult{Places: []domain.Place{}, Source: domain.SourceGazetteer}
	if s.gazetteer == nil {
		return res
	}
	ctx, cancel := context.WithTimeout(ctx, s.gazPolicy.Timeout)
	defer cancel()
	places, err := call(ctx, s.gazetteer)
	if err != nil {
		var perr *domain.ProviderError
		if !errors.As(err, &perr) || perr.Retryable() {
			s.logger.WarnContext(ctx, "maps gazetteer failed", slog.String("capability", capability), slog.Any("error", err))
		}
		return res
	}
	if len(places) > 0 {
		res.Places = truncate(places, limit)
	}
	return res
}

// truncate keeps at most limit places (limit 0 keeps all) in a slice of its own.
func truncate(places []domain.Place, limit int) []domain.Place {
	if limit > 0 && len(places) > limit {
		places = places[:limit]
	}
	return slices.Clone(places)
}
