package app_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mobilitycorp/platform/services/maps-proxy/internal/app"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/domain"
)

// Berlin Hauptbahnhof → Alexanderplatz by bike.
var berlin = domain.RouteRequest{
	From:     domain.LatLng{Lat: 52.5251, Lon: 13.3694},
	To:       domain.LatLng{Lat: 52.5219, Lon: 13.4132},
	Profile:  domain.ProfileBike,
	Language: "de",
}

func TestRouteIsServedFromCache(t *testing.T) {
	ctx := context.Background()
	osrm := newFake("osrm")
	e := newEnv(t, app.Options{Routers: []app.RouteProvider{osrm}})

	first, err := e.svc.Route(ctx, berlin)
	if err != nil {
		t.Fatal(err)
	}
	if first.Source != "osrm" || !reflect.DeepEqual(first.Routes, []domain.Route{fakeRoute(berlin)}) {
		t.Fatalf("first = %+v", first)
	}
	// Two metres away, language in other case and spacing: the same normalised key.
	near := berlin
	near.From.Lat += 0.00002
	near.Language = " DE "
	second, err := e.svc.Route(ctx, near)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(first, second) {
		t.Fatalf("second = %+v, want %+v", second, first)
	}
	if n := osrm.Calls("route"); n != 1 {
		t.Fatalf("provider called %d times", n)
	}
	checkMetrics(t, e, []metricWant{
		{"maps_cache_misses_total", []string{"capability", "route"}, 1},
		{"maps_cache_hits_total", []string{"capability", "route", "layer", "memory"}, 1},
		{"maps_requests_total", []string{"capability", "route", "outcome", "upstream"}, 1},
		{"maps_requests_total", []string{"capability", "route", "outcome", "hit"}, 1},
		{"maps_upstream_requests_total", []string{"provider", "osrm", "capability", "route", "outcome", "ok"}, 1},
		{"maps_upstream_duration_seconds", []string{"provider", "osrm", "capability", "route"}, 1},
	})

	// Another replica (fresh Service and memory, same Redis) reads Redis, then its memory.
	replica := newEnvOn(t, e.rdb, e.keys, app.Options{Routers: []app.RouteProvider{osrm}})
	for range 2 {
		third, err := replica.svc.Route(ctx, berlin)
		if err != nil || !reflect.DeepEqual(third, first) {
			t.Fatalf("replica = %+v, %v", third, err)
		}
	}
	if n := osrm.Calls("route"); n != 1 {
		t.Fatalf("provider called %d times", n)
	}
	checkMetrics(t, replica, []metricWant{
		{"maps_cache_hits_total", []string{"capability", "route", "layer", "redis"}, 1},
		{"maps_cache_hits_total", []string{"capability", "route", "layer", "memory"}, 1},
		{"maps_cache_misses_total", []string{"capability", "route"}, 0},
	})
}

func TestMatrixAsksOnlyForMissingCells(t *testing.T) {
	tests := []struct {
		name         string
		eta          bool
		warm, full   domain.MatrixRequest
		wantUpstream domain.MatrixRequest
	}{
		{
			name:         "half the destinations cached",
			warm:         domain.MatrixRequest{Sources: pts(0, 2), Destinations: pts(10, 2)},
			full:         domain.MatrixRequest{Sources: pts(0, 2), Destinations: pts(10, 4)},
			wantUpstream: domain.MatrixRequest{Sources: pts(0, 2), Destinations: pts(12, 2), Profile: domain.ProfileFoot},
		},
		{
			name:         "half the sources cached",
			warm:         domain.MatrixRequest{Sources: pts(0, 2), Destinations: pts(10, 3), Profile: domain.ProfileCar},
			full:         domain.MatrixRequest{Sources: pts(0, 4), Destinations: pts(10, 3), Profile: domain.ProfileCar},
			wantUpstream: domain.MatrixRequest{Sources: pts(2, 2), Destinations: pts(10, 3), Profile: domain.ProfileCar},
		},
		{
			name:         "eta shares the cells",
			eta:          true,
			warm:         domain.MatrixRequest{Sources: pts(0, 1), Destinations: pts(10, 3), Profile: domain.ProfileScooter},
			full:         domain.MatrixRequest{Sources: pts(0, 1), Destinations: pts(10, 6), Profile: domain.ProfileScooter},
			wantUpstream: domain.MatrixRequest{Sources: pts(0, 1), Destinations: pts(13, 3), Profile: domain.ProfileScooter},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			osrm := newFake("osrm")
			e := newEnv(t, app.Options{Matrices: []app.MatrixProvider{osrm}})
			capability := "matrix"
			ask := func(req domain.MatrixRequest) [][]domain.MatrixCell {
				t.Helper()
				if tc.eta {
					row, err := e.svc.ETA(ctx, req.Sources[0], req.Destinations, req.Profile)
					if err != nil {
						t.Fatal(err)
					}
					return [][]domain.MatrixCell{row}
				}
				res, err := e.svc.Matrix(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				return res.Cells
			}
			if tc.eta {
				capability = "eta"
			}

			ask(tc.warm)
			cells := ask(tc.full)
			reqs := osrm.MatrixRequests()
			if len(reqs) != 2 {
				t.Fatalf("%d upstream calls, want 2 (warm-up, then one for the missing cells)", len(reqs))
			}
			if !reflect.DeepEqual(reqs[1], tc.wantUpstream) {
				t.Fatalf("upstream asked for %+v, want %+v", reqs[1], tc.wantUpstream)
			}
			for i, src := range tc.full.Sources {
				for j, dst := range tc.full.Destinations {
					want := fakeCell(src, dst)
					want.Source = "osrm"
					if cells[i][j] != want {
						t.Fatalf("cell %d,%d = %+v, want %+v", i, j, cells[i][j], want)
					}
				}
			}
			cached := len(tc.warm.Sources) * len(tc.warm.Destinations)
			total := len(tc.full.Sources) * len(tc.full.Destinations)
			checkMetrics(t, e, []metricWant{
				{"maps_cache_hits_total", []string{"capability", capability, "layer", "memory"}, float64(cached)},
				// The warm-up missed its cells, the full request missed the rest.
				{"maps_cache_misses_total", []string{"capability", capability}, float64(total)},
			})

			// Everything is cached now.
			if again := ask(tc.full); !reflect.DeepEqual(again, cells) {
				t.Fatalf("cached answer differs")
			}
			if n := len(osrm.MatrixRequests()); n != 2 {
				t.Fatalf("%d upstream calls after a full hit", n)
			}
		})
	}
}

func TestConcurrentIdenticalMissesMakeOneCall(t *testing.T) {
	const callers = 50
	tests := []struct {
		capability string
		misses     int // cache misses one request counts
		call       func(context.Context, *app.Service) (any, error)
	}{
		{"route", 1, func(ctx context.Context, s *app.Service) (any, error) { return s.Route(ctx, berlin) }},
		{"matrix", 9, func(ctx context.Context, s *app.Service) (any, error) {
			return s.Matrix(ctx, domain.MatrixRequest{Sources: pts(0, 3), Destinations: pts(10, 3)})
		}},
		{"geocode", 1, func(ctx context.Context, s *app.Service) (any, error) {
			return s.Geocode(ctx, domain.GeocodeRequest{Query: "Alexanderplatz", Limit: 5})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.capability, func(t *testing.T) {
			p := newFake("google")
			e := newEnv(t, app.Options{
				Routers:   []app.RouteProvider{p},
				Matrices:  []app.MatrixProvider{p},
				Geocoders: []app.Geocoder{p},
			})
			p.hold()
			results := make([]any, callers)
			var wg sync.WaitGroup
			for i := range callers {
				wg.Go(func() {
					res, err := tc.call(context.Background(), e.svc)
					if err != nil {
						t.Error(err)
					}
					results[i] = res
				})
			}
			// Hold the upstream call until every caller has missed the cache and
			// is waiting on it.
			waitFor(t, "all callers to miss", func() bool {
				return e.metric(t, "maps_cache_misses_total", "capability", tc.capability) == float64(callers*tc.misses)
			})
			p.release()
			wg.Wait()
			if n := p.Calls(tc.capability); n != 1 {
				t.Fatalf("%d upstream calls for %d identical concurrent misses", n, callers)
			}
			for i := range results {
				if !reflect.DeepEqual(results[i], results[0]) {
					t.Fatalf("caller %d got %+v, caller 0 %+v", i, results[i], results[0])
				}
			}
		})
	}
}

func TestCancelledFirstCallerDoesNotFailTheOthers(t *testing.T) {
	osrm := newFake("osrm")
	e := newEnv(t, app.Options{Routers: []app.RouteProvider{osrm}})
	osrm.hold()

	firstCtx, cancelFirst := context.WithCancel(context.Background())
	firstErr := make(chan error, 1)
	go func() {
		_, err := e.svc.Route(firstCtx, berlin)
		firstErr <- err
	}()
	waitFor(t, "the upstream call", func() bool { return osrm.Calls("route") == 1 })

	type answer struct {
		res domain.RouteResult
		err error
	}
	second := make(chan answer, 1)
	go func() {
		res, err := e.svc.Route(context.Background(), berlin)
		second <- answer{res, err}
	}()
	waitFor(t, "the second caller to miss", func() bool {
		return e.metric(t, "maps_cache_misses_total", "capability", "route") == 2
	})

	cancelFirst()
	if err := <-firstErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("first caller err = %v, want context.Canceled", err)
	}
	osrm.release()
	got := <-second
	if got.err != nil || got.res.Source != "osrm" {
		t.Fatalf("second caller = %+v, %v; want the provider's answer", got.res, got.err)
	}
	if n := osrm.Calls("route"); n != 1 {
		t.Fatalf("%d upstream calls", n)
	}
	if n := e.metric(t, "maps_requests_total", "capability", "route", "outcome", "canceled"); n != 1 {
		t.Fatalf("canceled requests %v", n)
	}
}

func TestAllProvidersDownFallsBack(t *testing.T) {
	est := domain.NewEstimator()
	geoReq := domain.GeocodeRequest{Query: "Alexanderplatz", Limit: 3}
	revReq := domain.ReverseRequest{Point: pt(7)}
	tests := []struct {
		name       string
		noProvider bool
		gazetteer  func() *fake // nil: none
		check      func(t *testing.T, e *env)
		fallback   []string // capability, to
	}{
		{
			name:     "route is estimated",
			fallback: []string{"route", "estimate"},
			check: func(t *testing.T, e *env) {
				got, err := e.svc.Route(context.Background(), berlin)
				want := domain.RouteResult{Routes: []domain.Route{est.Route(berlin)}, Source: domain.SourceEstimate}
				if err != nil || !reflect.DeepEqual(got, want) {
					t.Fatalf("Route = %+v, %v; want %+v", got, err, want)
				}
				if d := got.Routes[0].DistanceMeters; d < 3000 || d > 5000 {
					t.Fatalf("implausible estimate %v m for about 3 km as the crow flies", d)
				}
			},
		},
		{
			name:       "route without any provider is estimated",
			noProvider: true,
			fallback:   []string{"route", "estimate"},
			check: func(t *testing.T, e *env) {
				got, err := e.svc.Route(context.Background(), berlin)
				if err != nil || got.Source != domain.SourceEstimate || got.Routes[0] != est.Route(berlin) {
					t.Fatalf("Route = %+v, %v", got, err)
				}
			},
		},
		{
			name:     "matrix is estimated",
			fallback: []string{"matrix", "estimate"},
			check: func(t *testing.T, e *env) {
				req := domain.MatrixRequest{Sources: pts(0, 2), Destinations: pts(10, 3), Profile: domain.ProfileCar}
				got, err := e.svc.Matrix(context.Background(), req)
				if err != nil {
					t.Fatal(err)
				}
				for i, src := range req.Sources {
					for j, dst := range req.Destinations {
						if want := est.Cell(src, dst, req.Profile); got.Cells[i][j] != want {
							t.Fatalf("cell %d,%d = %+v, want %+v", i, j, got.Cells[i][j], want)
						}
					}
				}
			},
		},
		{
			name:     "eta is estimated",
			fallback: []string{"matrix", "estimate"},
			check: func(t *testing.T, e *env) {
				dsts := pts(10, 4)
				got, err := e.svc.ETA(context.Background(), pt(0), dsts, domain.ProfileFoot)
				if err != nil || len(got) != len(dsts) {
					t.Fatalf("ETA = %+v, %v", got, err)
				}
				for j, dst := range dsts {
					if want := est.Cell(pt(0), dst, domain.ProfileFoot); got[j] != want {
						t.Fatalf("eta %d = %+v, want %+v", j, got[j], want)
					}
				}
			},
		},
		{
			name:      "geocoding falls back to the gazetteer",
			gazetteer: func() *fake { return newFake("bays") },
			fallback:  []string{"geocode", "gazetteer"},
			check: func(t *testing.T, e *env) {
				got, err := e.svc.Geocode(context.Background(), geoReq)
				if err != nil || got.Source != domain.SourceGazetteer || len(got.Places) != 1 || got.Places[0].Name != "bays: Alexanderplatz" {
					t.Fatalf("Geocode = %+v, %v", got, err)
				}
			},
		},
		{
			name:      "reverse geocoding falls back to the gazetteer",
			gazetteer: func() *fake { return newFake("bays") },
			fallback:  []string{"reverse", "gazetteer"},
			check: func(t *testing.T, e *env) {
				got, err := e.svc.Reverse(context.Background(), revReq)
				if err != nil || got.Source != domain.SourceGazetteer || len(got.Places) != 1 || got.Places[0].Point != revReq.Point {
					t.Fatalf("Reverse = %+v, %v", got, err)
				}
			},
		},
		{
			name: "a failing gazetteer is an empty answer",
			gazetteer: func() *fake {
				g := newFake("bays")
				g.failWith(errors.New("index not loaded"))
				return g
			},
			fallback: []string{"geocode", "gazetteer"},
			check: func(t *testing.T, e *env) {
				got, err := e.svc.Geocode(context.Background(), geoReq)
				if err != nil || got.Source != domain.SourceGazetteer || got.Places == nil || len(got.Places) != 0 {
					t.Fatalf("Geocode = %+v, %v", got, err)
				}
			},
		},
		{
			name:     "no gazetteer is an empty answer",
			fallback: []string{"geocode", "gazetteer"},
			check: func(t *testing.T, e *env) {
				got, err := e.svc.Geocode(context.Background(), geoReq)
				if err != nil || got.Source != domain.SourceGazetteer || got.Places == nil || len(got.Places) != 0 {
					t.Fatalf("Geocode = %+v, %v", got, err)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			osrm, google := newFake("osrm"), newFake("google")
			osrm.failWith(unavailable("osrm"))
			google.failWith(&domain.ProviderError{Provider: "google", Kind: domain.KindDenied, Status: 403, Code: "REQUEST_DENIED"})
			opts := app.Options{
				Routers:   []app.RouteProvider{osrm, google},
				Matrices:  []app.MatrixProvider{osrm, google},
				Geocoders: []app.Geocoder{osrm, google},
			}
			if tc.noProvider {
				opts = app.Options{}
			}
			if tc.gazetteer != nil {
				opts.Gazetteer = tc.gazetteer()
			}
			e := newEnv(t, opts)
			tc.check(t, e)
			if n := e.metric(t, "maps_fallbacks_total", "capability", tc.fallback[0], "to", tc.fallback[1]); n != 1 {
				t.Fatalf("fallbacks to %s = %v", tc.fallback[1], n)
			}
			// Fallback answers are cached briefly, so a recovered provider is used soon.
			keys := e.cachedKeys(t)
			if len(keys) == 0 {
				t.Fatal("fallback answer not cached at all")
			}
			for _, k := range keys {
				if ttl := e.rdb.PTTL(context.Background(), k).Val(); ttl <= 0 || ttl > app.DefaultFallbackTTL {
					t.Fatalf("%s cached for %v", k, ttl)
				}
			}
		})
	}
}

func TestCircuitBreakerOpensAndCloses(t *testing.T) {
	ctx := context.Background()
	osrm := newFake("osrm")
	osrm.failWith(unavailable("osrm"))
	e := newEnv(t, app.Options{
		Routers:  []app.RouteProvider{osrm},
		Policies: map[string]app.ProviderPolicy{"osrm": {Breaker: app.BreakerPolicy{ConsecutiveFailures: 3, OpenDuration: time.Second}}},
	})
	state := func() float64 { return e.metric(t, "maps_breaker_state", "provider", "osrm") }

	next := 0
	route := func() domain.RouteResult {
		t.Helper()
		next++ // distinct requests: estimates are cached briefly too
		res, err := e.svc.Route(ctx, routeReq(next))
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	for range 3 {
		if res := route(); res.Source != domain.SourceEstimate {
			t.Fatalf("source %s", res.Source)
		}
	}
	if state() != 2 {
		t.Fatalf("breaker state %v after 3 failures, want 2 (open)", state())
	}
	for range 5 {
		route()
	}
	if n := osrm.Calls("route"); n != 3 {
		t.Fatalf("provider called %d times, want 3: an open breaker must not call it", n)
	}
	if n := e.metric(t, "maps_upstream_requests_total", "provider", "osrm", "capability", "route", "outcome", "skipped_circuit_open"); n != 5 {
		t.Fatalf("skips %v", n)
	}

	// The provider recovers; once the open duration passes, one probe closes the breaker.
	osrm.failWith(nil)
	waitFor(t, "the breaker to let a probe through", func() bool { return route().Source == "osrm" })
	if state() != 0 {
		t.Fatalf("breaker state %v, want 0 (closed)", state())
	}
	if n := osrm.Calls("route"); n != 4 {
		t.Fatalf("provider called %d times, want 4 (one probe)", n)
	}
	if res := route(); res.Source != "osrm" {
		t.Fatalf("source %s after closing", res.Source)
	}
}

func TestFallbackOrder(t *testing.T) {
	tests := []struct {
		capability string
		source     func(t *testing.T, s *app.Service) string
	}{
		{"route", func(t *testing.T, s *app.Service) string {
			res, err := s.Route(context.Background(), berlin)
			if err != nil {
				t.Fatal(err)
			}
			return res.Source
		}},
		{"matrix", func(t *testing.T, s *app.Service) string {
			res, err := s.Matrix(context.Background(), domain.MatrixRequest{Sources: pts(0, 2), Destinations: pts(5, 2)})
			if err != nil {
				t.Fatal(err)
			}
			for _, row := range res.Cells {
				for _, c := range row {
					if c.Source != res.Cells[0][0].Source {
						t.Fatalf("mixed sources %+v", res.Cells)
					}
				}
			}
			return res.Cells[0][0].Source
		}},
		{"geocode", func(t *testing.T, s *app.Service) string {
			res, err := s.Geocode(context.Background(), domain.GeocodeRequest{Query: "Brandenburger Tor", Limit: 1})
			if err != nil {
				t.Fatal(err)
			}
			return res.Source
		}},
	}
	for _, tc := range tests {
		t.Run(tc.capability, func(t *testing.T) {
			osrm, google := newFake("osrm"), newFake("google")
			osrm.failWith(unavailable("osrm"))
			e := newEnv(t, app.Options{
				Routers:   []app.RouteProvider{osrm, google},
				Matrices:  []app.MatrixProvider{osrm, google},
				Geocoders: []app.Geocoder{osrm, google},
			})
			if src := tc.source(t, e.svc); src != "google" {
				t.Fatalf("source %s, want google", src)
			}
			if osrm.Calls(tc.capability) != 1 || google.Calls(tc.capability) != 1 {
				t.Fatalf("calls osrm %d, google %d", osrm.Calls(tc.capability), google.Calls(tc.capability))
			}
			checkMetrics(t, e, []metricWant{
				{"maps_fallbacks_total", []string{"capability", tc.capability, "to", "next"}, 1},
				{"maps_upstream_requests_total", []string{"provider", "osrm", "capability", tc.capability, "outcome", "unavailable"}, 1},
				{"maps_upstream_requests_total", []string{"provider", "google", "capability", tc.capability, "outcome", "ok"}, 1},
			})
		})
	}
}

func TestNonRetryableErrorIsTheAnswer(t *testing.T) {
	tests := []struct {
		name       string
		capability string
		kind       domain.ErrorKind
		check      func(t *testing.T, s *app.Service, i int)
	}{
		{"no route", "route", domain.KindNoRoute, func(t *testing.T, s *app.Service, i int) {
			_, err := s.Route(context.Background(), routeReq(i))
			var perr *domain.ProviderError
			if !errors.Is(err, domain.ErrNoRoute) || !errors.As(err, &perr) || perr.Provider != "osrm" {
				t.Fatalf("err = %v, want ErrNoRoute from osrm", err)
			}
		}},
		{"invalid query on a route", "route", domain.KindInvalidQuery, func(t *testing.T, s *app.Service, i int) {
			if _, err := s.Route(context.Background(), routeReq(i)); !errors.Is(err, domain.ErrNoRoute) {
				t.Fatalf("err = %v, want ErrNoRoute", err)
			}
		}},
		{"no route in a matrix", "matrix", domain.KindNoRoute, func(t *testing.T, s *app.Service, i int) {
			res, err := s.Matrix(context.Background(), domain.MatrixRequest{Sources: pts(100*i, 1), Destinations: pts(100*i+50, 2)})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range res.Cells[0] {
				if c.Reachable || c.Source != "osrm" {
					t.Fatalf("cell %+v, want unreachable from osrm", c)
				}
			}
		}},
		{"zero results", "geocode", domain.KindZeroResults, func(t *testing.T, s *app.Service, i int) {
			res, err := s.Geocode(context.Background(), domain.GeocodeRequest{Query: "Nowhere " + strings.Repeat("x", i), Limit: 5})
			if err != nil || res.Source != "osrm" || res.Places == nil || len(res.Places) != 0 {
				t.Fatalf("Geocode = %+v, %v; want no places from osrm", res, err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			osrm, google := newFake("osrm"), newFake("google")
			osrm.failWith(providerErr("osrm", tc.kind))
			e := newEnv(t, app.Options{
				Routers:   []app.RouteProvider{osrm, google},
				Matrices:  []app.MatrixProvider{osrm, google},
				Geocoders: []app.Geocoder{osrm, google},
				Policies:  map[string]app.ProviderPolicy{"osrm": {Breaker: app.BreakerPolicy{ConsecutiveFailures: 2}}},
			})
			// More answers than the breaker's threshold: none counts as a failure.
			for i := 1; i <= 4; i++ {
				tc.check(t, e.svc, i)
			}
			if n := osrm.Calls(tc.capability); n != 4 {
				t.Fatalf("osrm called %d times, want 4 (the breaker must stay closed)", n)
			}
			if n := google.Calls(tc.capability); n != 0 {
				t.Fatalf("google called %d times: a non-retryable answer must not fall back", n)
			}
			checkMetrics(t, e, []metricWant{
				{"maps_breaker_state", []string{"provider", "osrm"}, 0},
				{"maps_fallbacks_total", []string{"capability", tc.capability, "to", "next"}, 0},
				{"maps_upstream_requests_total", []string{"provider", "osrm", "capability", tc.capability, "outcome", string(tc.kind)}, 4},
			})
			// The answer is cached (briefly) like any other.
			tc.check(t, e.svc, 1)
			if n := osrm.Calls(tc.capability); n != 4 {
				t.Fatalf("repeated request called osrm again (%d)", n)
			}
		})
	}
}

func TestQuotaSpentSkipsProvider(t *testing.T) {
	ctx := context.Background()
	google, osrm := newFake("google"), newFake("osrm")
	e := newEnv(t, app.Options{
		Routers:  []app.RouteProvider{google, osrm},
		Policies: map[string]app.ProviderPolicy{"google": {DailyQuota: 2}},
	})
	var sources []string
	for i := range 4 {
		res, err := e.svc.Route(ctx, routeReq(i))
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, res.Source)
	}
	if want := []string{"google", "google", "osrm", "osrm"}; !reflect.DeepEqual(sources, want) {
		t.Fatalf("sources %v, want %v", sources, want)
	}
	if google.Calls("route") != 2 {
		t.Fatalf("google called %d times over a quota of 2", google.Calls("route"))
	}
	checkMetrics(t, e, []metricWant{
		{"maps_quota_used", []string{"provider", "google"}, 2},
		{"maps_quota_used", []string{"provider", "osrm"}, 2},
		{"maps_upstream_requests_total", []string{"provider", "google", "capability", "route", "outcome", "skipped_quota"}, 2},
		{"maps_fallbacks_total", []string{"capability", "route", "to", "next"}, 2},
	})
}

func TestProviderTermsLimitCaching(t *testing.T) {
	tests := []struct {
		name      string
		policy    app.ProviderPolicy
		wantCalls int
		maxTTL    time.Duration // 0: nothing may be stored
	}{
		{"no store", app.ProviderPolicy{NoStore: true}, 2, 0},
		{"negative cache ttl means no store", app.ProviderPolicy{CacheTTL: -1}, 2, 0},
		{"provider ttl shorter than the capability's", app.ProviderPolicy{CacheTTL: 5 * time.Minute}, 1, 5 * time.Minute},
		{"provider ttl longer than the capability's", app.ProviderPolicy{CacheTTL: 30 * 24 * time.Hour}, 1, 30 * 24 * time.Hour},
	}
	capabilityTTL := func(key string) time.Duration {
		switch {
		case strings.Contains(key, ":route:"):
			return app.DefaultRouteTTL
		case strings.Contains(key, ":cell:"):
			return app.DefaultMatrixTTL
		default:
			return app.DefaultGeocodeTTL
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			google := newFake("google")
			e := newEnv(t, app.Options{
				Routers:   []app.RouteProvider{google},
				Matrices:  []app.MatrixProvider{google},
				Geocoders: []app.Geocoder{google},
				Policies:  map[string]app.ProviderPolicy{"google": tc.policy},
			})
			for range 2 {
				if res, err := e.svc.Route(ctx, berlin); err != nil || res.Source != "google" {
					t.Fatalf("Route = %+v, %v", res, err)
				}
				if _, err := e.svc.ETA(ctx, pt(0), pts(5, 2), domain.ProfileCar); err != nil {
					t.Fatal(err)
				}
				if _, err := e.svc.Geocode(ctx, domain.GeocodeRequest{Query: "Tiergarten", Limit: 2}); err != nil {
					t.Fatal(err)
				}
			}
			for _, capability := range []string{"route", "matrix", "geocode"} {
				if n := google.Calls(capability); n != tc.wantCalls {
					t.Fatalf("%s called %d times, want %d", capability, n, tc.wantCalls)
				}
			}
			keys := e.cachedKeys(t)
			if tc.maxTTL == 0 {
				if len(keys) != 0 {
					t.Fatalf("stored %v despite the provider's terms", keys)
				}
				return
			}
			if len(keys) != 1+2+1 {
				t.Fatalf("cached keys %v", keys)
			}
			for _, k := range keys {
				limit := min(tc.maxTTL, capabilityTTL(k))
				if ttl := e.rdb.PTTL(ctx, k).Val(); ttl <= limit-time.Minute || ttl > limit {
					t.Fatalf("%s cached for %v, want about %v", k, ttl, limit)
				}
			}
		})
	}
}

func TestRetryAfterSkipsProviderForItsDuration(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	google, osrm := newFake("google"), newFake("osrm")
	google.failFunc(func(n int) error {
		if n == 1 {
			return &domain.ProviderError{Provider: "google", Kind: domain.KindRateLimited, Status: 429, RetryAfter: 30 * time.Second}
		}
		return nil
	})
	e := newEnv(t, app.Options{Routers: []app.RouteProvider{google, osrm}, Now: clk.Now})
	source := func(i int) string {
		t.Helper()
		res, err := e.svc.Route(ctx, routeReq(i))
		if err != nil {
			t.Fatal(err)
		}
		return res.Source
	}
	if src := source(1); src != "osrm" {
		t.Fatalf("rate-limited answer came from %s", src)
	}
	clk.Advance(29 * time.Second)
	if src := source(2); src != "osrm" || google.Calls("route") != 1 {
		t.Fatalf("source %s, google calls %d: google must be left alone for 30s", src, google.Calls("route"))
	}
	clk.Advance(2 * time.Second)
	if src := source(3); src != "google" {
		t.Fatalf("source %s after Retry-After passed, want google", src)
	}
	checkMetrics(t, e, []metricWant{
		{"maps_upstream_requests_total", []string{"provider", "google", "capability", "route", "outcome", "rate_limited"}, 1},
		{"maps_upstream_requests_total", []string{"provider", "google", "capability", "route", "outcome", "skipped_retry_after"}, 1},
		{"maps_upstream_requests_total", []string{"provider", "google", "capability", "route", "outcome", "ok"}, 1},
	})
}

func TestFullConcurrencySkipsProvider(t *testing.T) {
	ctx := context.Background()
	google, osrm := newFake("google"), newFake("osrm")
	e := newEnv(t, app.Options{
		Routers:  []app.RouteProvider{google, osrm},
		Policies: map[string]app.ProviderPolicy{"google": {MaxConcurrency: 1}},
	})
	google.hold()
	first := make(chan string, 1)
	go func() {
		res, err := e.svc.Route(ctx, routeReq(1))
		if err != nil {
			t.Error(err)
		}
		first <- res.Source
	}()
	waitFor(t, "the first call to hold google's only slot", func() bool { return google.Calls("route") == 1 })
	res, err := e.svc.Route(ctx, routeReq(2))
	if err != nil || res.Source != "osrm" {
		t.Fatalf("Route = %+v, %v; want osrm while google is full", res, err)
	}
	google.release()
	if src := <-first; src != "google" {
		t.Fatalf("first source %s", src)
	}
	if n := e.metric(t, "maps_upstream_requests_total", "provider", "google", "capability", "route", "outcome", "skipped_concurrency"); n != 1 {
		t.Fatalf("concurrency skips %v", n)
	}
}

func TestCallerDeadlineGetsAnEstimate(t *testing.T) {
	osrm := newFake("osrm")
	e := newEnv(t, app.Options{
		Routers:  []app.RouteProvider{osrm},
		Policies: map[string]app.ProviderPolicy{"osrm": {Timeout: time.Minute}},
	})
	osrm.hold()
	t.Cleanup(osrm.release)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	res, err := e.svc.Route(ctx, berlin)
	if err != nil || res.Source != domain.SourceEstimate {
		t.Fatalf("Route = %+v, %v; want an estimate, not an error", res, err)
	}
}

func TestInvalidInput(t *testing.T) {
	ok := pt(0)
	tests := []struct {
		name       string
		capability string
		call       func(*app.Service) error
	}{
		{"route lat", "route", func(s *app.Service) error {
			_, err := s.Route(context.Background(), domain.RouteRequest{From: domain.LatLng{Lat: 95}, To: ok})
			return err
		}},
		{"route profile", "route", func(s *app.Service) error {
			_, err := s.Route(context.Background(), domain.RouteRequest{From: ok, To: ok, Profile: "hoverboard"})
			return err
		}},
		{"route language", "route", func(s *app.Service) error {
			_, err := s.Route(context.Background(), domain.RouteRequest{From: ok, To: ok, Language: "de:evil"})
			return err
		}},
		{"empty matrix", "matrix", func(s *app.Service) error {
			_, err := s.Matrix(context.Background(), domain.MatrixRequest{Sources: []domain.LatLng{ok}})
			return err
		}},
		{"eta without destinations", "eta", func(s *app.Service) error {
			_, err := s.ETA(context.Background(), ok, nil, domain.ProfileFoot)
			return err
		}},
		{"blank query", "geocode", func(s *app.Service) error {
			_, err := s.Geocode(context.Background(), domain.GeocodeRequest{Query: "   a   ", Limit: 1})
			return err
		}},
		{"country", "geocode", func(s *app.Service) error {
			_, err := s.Geocode(context.Background(), domain.GeocodeRequest{Query: "Mitte", Limit: 1, Country: "1E"})
			return err
		}},
		{"reverse point", "reverse", func(s *app.Service) error {
			_, err := s.Reverse(context.Background(), domain.ReverseRequest{Point: domain.LatLng{Lon: 200}})
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newFake("osrm")
			e := newEnv(t, app.Options{Routers: []app.RouteProvider{p}, Matrices: []app.MatrixProvider{p}, Geocoders: []app.Geocoder{p}})
			if err := tc.call(e.svc); !errors.Is(err, domain.ErrInvalidInput) {
				t.Fatalf("err = %v, want ErrInvalidInput", err)
			}
			for _, c := range []string{"route", "matrix", "geocode", "reverse"} {
				if p.Calls(c) != 0 {
					t.Fatalf("provider called for an invalid request")
				}
			}
			if n := e.metric(t, "maps_requests_total", "capability", tc.capability, "outcome", "invalid"); n != 1 {
				t.Fatalf("invalid requests %v", n)
			}
		})
	}
}

func TestNewServiceRejectsBadOptions(t *testing.T) {
	p := newFake("osrm")
	tests := []struct {
		name string
		opts app.Options
	}{
		{"provider listed twice", app.Options{Routers: []app.RouteProvider{p, p}}},
		{"reserved name", app.Options{Routers: []app.RouteProvider{newFake(domain.SourceEstimate)}}},
		{"quota without a store", app.Options{Routers: []app.RouteProvider{p}, Policies: map[string]app.ProviderPolicy{"osrm": {DailyQuota: 10}}}},
		{"nil provider", app.Options{Geocoders: []app.Geocoder{nil}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := app.NewService(tc.opts); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestMetricsExposition(t *testing.T) {
	ctx := context.Background()
	osrm := newFake("osrm")
	e := newEnv(t, app.Options{Routers: []app.RouteProvider{osrm}})
	for range 3 {
		if _, err := e.svc.Route(ctx, berlin); err != nil {
			t.Fatal(err)
		}
	}
	const want = `
# HELP maps_cache_hits_total Cache hits by capability and layer (memory, redis); matrix counts cells.
# TYPE maps_cache_hits_total counter
maps_cache_hits_total{capability="route",layer="memory"} 2
# HELP maps_cache_misses_total Cache misses by capability; matrix counts cells.
# TYPE maps_cache_misses_total counter
maps_cache_misses_total{capability="route"} 1
# HELP maps_requests_total Requests by capability and outcome.
# TYPE maps_requests_total counter
maps_requests_total{capability="route",outcome="hit"} 2
maps_requests_total{capability="route",outcome="upstream"} 1
# HELP maps_breaker_state Circuit breaker state by provider: 0 closed, 1 half-open, 2 open.
# TYPE maps_breaker_state gauge
maps_breaker_state{provider="osrm"} 0
# HELP maps_quota_used Calls counted against today's quota, by provider.
# TYPE maps_quota_used gauge
maps_quota_used{provider="osrm"} 1
`
	if err := testutil.GatherAndCompare(e.reg, strings.NewReader(want),
		"maps_cache_hits_total", "maps_cache_misses_total", "maps_requests_total", "maps_breaker_state", "maps_quota_used"); err != nil {
		t.Fatal(err)
	}
}

type metricWant struct {
	name   string
	labels []string
	value  float64
}

func checkMetrics(t *testing.T, e *env, wants []metricWant) {
	t.Helper()
	for _, w := range wants {
		if got := e.metric(t, w.name, w.labels...); got != w.value {
			t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.value)
		}
	}
}
