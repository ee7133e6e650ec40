package app_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/mobilitycorp/platform/pkg/redisx/redistest"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/adapters/cache"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/app"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/domain"
)

// benchLayers are the two tiers of the real cache: memory (this replica served
// the answer within the last minute) and Redis (another replica did).
var benchLayers = []struct {
	name      string
	memoryTTL time.Duration
}{
	{"memory", 0}, // the default 1-minute memory tier
	{"redis", -1}, // memory tier off: every hit is a Redis round trip
}

func benchService(b *testing.B, memoryTTL time.Duration, p *fake) *app.Service {
	b.Helper()
	rdb, keys := redistest.New(b)
	c, err := cache.New(rdb, keys, cache.Options{MemoryTTL: memoryTTL})
	if err != nil {
		b.Fatal(err)
	}
	return newEnvOn(b, rdb, keys, app.Options{
		Cache:    c,
		Routers:  []app.RouteProvider{p},
		Matrices: []app.MatrixProvider{p},
	}).svc
}

// reportLatency runs op in the benchmark loop and reports its p50 and p99.
func reportLatency(b *testing.B, op func() error) {
	b.Helper()
	lat := make([]time.Duration, 0, 1<<16)
	for b.Loop() {
		start := time.Now()
		if err := op(); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2]), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100]), "p99-ns")
}

func BenchmarkRouteCached(b *testing.B) {
	for _, layer := range benchLayers {
		b.Run(layer.name, func(b *testing.B) {
			ctx := context.Background()
			p := newFake("osrm")
			svc := benchService(b, layer.memoryTTL, p)
			req := domain.RouteRequest{From: berlin.From, To: berlin.To, Waypoints: pts(0, 3), Profile: domain.ProfileScooter}
			if _, err := svc.Route(ctx, req); err != nil {
				b.Fatal(err)
			}
			reportLatency(b, func() error {
				_, err := svc.Route(ctx, req)
				return err
			})
			if n := p.Calls("route"); n != 1 {
				b.Fatalf("provider called %d times: not a cached benchmark", n)
			}
		})
	}
}

func BenchmarkETACached(b *testing.B) {
	for _, layer := range benchLayers {
		b.Run(layer.name, func(b *testing.B) {
			ctx := context.Background()
			p := newFake("osrm")
			svc := benchService(b, layer.memoryTTL, p)
			origin, vehicles := pt(0), pts(100, 10) // a customer and the ten nearest scooters
			if _, err := svc.ETA(ctx, origin, vehicles, domain.ProfileFoot); err != nil {
				b.Fatal(err)
			}
			reportLatency(b, func() error {
				_, err := svc.ETA(ctx, origin, vehicles, domain.ProfileFoot)
				return err
			})
			if n := p.Calls("matrix"); n != 1 {
				b.Fatalf("provider called %d times: not a cached benchmark", n)
			}
		})
	}
}
