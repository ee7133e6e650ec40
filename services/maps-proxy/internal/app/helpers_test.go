package app_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"github.com/mobilitycorp/platform/pkg/redisx"
	"github.com/mobilitycorp/platform/pkg/redisx/redistest"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/adapters/cache"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/adapters/quota"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/app"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/domain"
)

// fake is a provider of every capability: it counts calls, records requests,
// fails on demand and can hold calls until released.
type fake struct {
	name string

	mu       sync.Mutex
	calls    map[string]int
	matrices []domain.MatrixRequest
	fail     func(n int) error // n is the 1-based call number across capabilities; nil error answers
	gate     chan struct{}     // when set, calls wait for it to close
}

var (
	_ app.RouteProvider  = (*fake)(nil)
	_ app.MatrixProvider = (*fake)(nil)
	_ app.Geocoder       = (*fake)(nil)
)

func newFake(name string) *fake { return &fake{name: name, calls: map[string]int{}} }

func (f *fake) Name() string { return f.name }

// failWith makes calls return err (nil: answer).
func (f *fake) failWith(err error) { f.failFunc(func(int) error { return err }) }

func (f *fake) failFunc(fn func(n int) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = fn
}

func (f *fake) hold() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gate = make(chan struct{})
}

func (f *fake) release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.gate)
	f.gate = nil
}

func (f *fake) Calls(capability string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[capability]
}

func (f *fake) MatrixRequests() []domain.MatrixRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]domain.MatrixRequest(nil), f.matrices...)
}

func (f *fake) enter(ctx context.Context, capability string) error {
	f.mu.Lock()
	f.calls[capability]++
	n := 0
	for _, c := range f.calls {
		n += c
	}
	fail, gate := f.fail, f.gate
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return &domain.ProviderError{Provider: f.name, Kind: domain.KindTimeout, Err: ctx.Err()}
		}
	}
	if fail != nil {
		return fail(n)
	}
	return nil
}

// fakeRoute is what a fake answers: twice the great-circle distance at 5 m/s, so it
// is distinguishable from the estimate.
func fakeRoute(req domain.RouteRequest) domain.Route {
	pts := req.Points()
	var d float64
	for i := 1; i < len(pts); i++ {
		d += 2 * domain.HaversineMeters(pts[i-1], pts[i])
	}
	return domain.Route{DistanceMeters: d, DurationSeconds: d / 5, Polyline: domain.EncodePolyline(pts)}
}

func fakeCell(src, dst domain.LatLng) domain.MatrixCell {
	d := 2 * domain.HaversineMeters(src, dst)
	return domain.MatrixCell{DistanceMeters: d, DurationSeconds: d / 5, Reachable: true}
}

func (f *fake) Route(ctx context.Context, req domain.RouteRequest) ([]domain.Route, error) {
	if err := f.enter(ctx, "route"); err != nil {
		return nil, err
	}
	return []domain.Route{fakeRoute(req)}, nil
}

func (f *fake) Matrix(ctx context.Context, req domain.MatrixRequest) ([][]domain.MatrixCell, error) {
	f.mu.Lock()
	f.matrices = append(f.matrices, req)
	f.mu.Unlock()
	if err := f.enter(ctx, "matrix"); err != nil {
		return nil, err
	}
	rows := make([][]domain.MatrixCell, len(req.Sources))
	for i, s := range req.Sources {
		rows[i] = make([]domain.MatrixCell, len(req.Destinations))
		for j, d := range req.Destinations {
			rows[i][j] = fakeCell(s, d)
		}
	}
	return rows, nil
}

func (f *fake) Geocode(ctx context.Context, req domain.GeocodeRequest) ([]domain.Place, error) {
	if err := f.enter(ctx, "geocode"); err != nil {
		return nil, err
	}
	return []domain.Place{{Name: f.name + ": " + req.Query, Point: domain.LatLng{Lat: 52.52, Lon: 13.405}, Country: "DE"}}, nil
}

func (f *fake) Reverse(ctx context.Context, req domain.ReverseRequest) ([]domain.Place, error) {
	if err := f.enter(ctx, "reverse"); err != nil {
		return nil, err
	}
	return []domain.Place{{Name: f.name + ": " + req.Point.Key(), Point: req.Point}}, nil
}

// Provider errors as adapters return them.
func unavailable(name string) error {
	return &domain.ProviderError{Provider: name, Kind: domain.KindUnavailable, Status: 503}
}

func providerErr(name string, kind domain.ErrorKind) error {
	return &domain.ProviderError{Provider: name, Kind: kind}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a Service on the real two-tier cache and quota over a test's own Redis prefix.
type env struct {
	svc  *app.Service
	reg  *prometheus.Registry
	rdb  *redis.Client
	keys redisx.Keys
}

func newEnv(t testing.TB, opts app.Options) *env {
	t.Helper()
	rdb, keys := redistest.New(t)
	return newEnvOn(t, rdb, keys, opts)
}

// newEnvOn builds a fresh Service (own memory tier, own metrics) on a shared Redis.
func newEnvOn(t testing.TB, rdb *redis.Client, keys redisx.Keys, opts app.Options) *env {
	t.Helper()
	reg := prometheus.NewRegistry()
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError}))
	if opts.Cache == nil {
		c, err := cache.New(rdb, keys, cache.Options{Registerer: reg, Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		opts.Cache = c
	}
	if opts.Quota == nil {
		q, err := quota.New(rdb, keys, quota.Options{Registerer: reg, Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		opts.Quota = q
	}
	opts.Registerer = reg
	opts.Logger = logger
	svc, err := app.NewService(opts)
	if err != nil {
		t.Fatal(err)
	}
	return &env{svc: svc, reg: reg, rdb: rdb, keys: keys}
}

// metric is the value of the series name{labels} (0 when absent), for counters and gauges.
func (e *env) metric(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	families, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range families {
		if fam.GetName() != name {
			continue
		}
		for _, m := range fam.GetMetric() {
			if matches(m, want) {
				switch {
				case m.GetCounter() != nil:
					return m.GetCounter().GetValue()
				case m.GetGauge() != nil:
					return m.GetGauge().GetValue()
				case m.GetHistogram() != nil:
					return float64(m.GetHistogram().GetSampleCount())
				}
			}
		}
	}
	return 0
}

func matches(m *dto.Metric, want map[string]string) bool {
	got := map[string]string{}
	for _, l := range m.GetLabel() {
		got[l.GetName()] = l.GetValue()
	}
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// cachedKeys lists the cache's Redis keys (not the quota counters).
func (e *env) cachedKeys(t testing.TB) []string {
	t.Helper()
	keys, err := e.rdb.Keys(context.Background(), e.keys.Prefix()+"v1:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// pt is the i-th of a family of points in Berlin, about 110 m apart.
func pt(i int) domain.LatLng { return domain.LatLng{Lat: 52.50 + float64(i)*0.001, Lon: 13.40} }

func pts(from, n int) []domain.LatLng {
	out := make([]domain.LatLng, n)
	for i := range out {
		out[i] = pt(from + i)
	}
	return out
}

// routeReq is the i-th of a family of distinct route requests.
func routeReq(i int) domain.RouteRequest {
	return domain.RouteRequest{From: pt(1000 + i), To: domain.LatLng{Lat: 52.52, Lon: 13.45}, Profile: domain.ProfileBike}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
