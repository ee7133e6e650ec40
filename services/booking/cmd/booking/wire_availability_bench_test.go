package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"golang.org/x/sync/errgroup"

	"github.com/mobilitycorp/platform/pkg/auth"
	"github.com/mobilitycorp/platform/pkg/config"
	"github.com/mobilitycorp/platform/pkg/redisx"
	"github.com/mobilitycorp/platform/pkg/service/servicetest"
	bredis "github.com/mobilitycorp/platform/services/booking/internal/adapters/redis"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
)

// availBenchRate is the offered load: the target is search p99 ≤ 5 ms
// at 2,000 requests/s over 50,000 vehicles.
const availBenchRate = 2000

var (
	benchBerlinSW     = domain.Point{Lat: 52.34, Lon: 13.09}
	benchBerlinNE     = domain.Point{Lat: 52.68, Lon: 13.76}
	benchBerlinCenter = domain.Point{Lat: 52.52, Lon: 13.405}
)

// benchBerlinPoint: 60 % of the fleet (and of searches) within about 6 km of
// Mitte, the rest anywhere in the city's box.
func benchBerlinPoint(r *rand.Rand) domain.Point {
	if r.Float64() < 0.6 {
		return domain.Point{
			Lat: benchBerlinCenter.Lat + (r.Float64()*2-1)*6000/111_320,
			Lon: benchBerlinCenter.Lon + (r.Float64()*2-1)*6000/(111_320*0.6088),
		}
	}
	return domain.Point{
		Lat: benchBerlinSW.Lat + r.Float64()*(benchBerlinNE.Lat-benchBerlinSW.Lat),
		Lon: benchBerlinSW.Lon + r.Float64()*(benchBerlinNE.Lon-benchBerlinSW.Lon),
	}
}

// BenchmarkAvailabilitySearchHTTP drives the running service over HTTP (platform
// middleware, JWT auth, the handler, pricing, the Redis index) with an
// open-loop load at availBenchRate requests/s over 50,000 vehicles spread
// over Berlin: request i is due at start + i/availBenchRate, and its latency
// is measured from that due time whenever it leaves late, so a stalled server
// cannot hide queueing (no coordinated omission). Searches are the default
// 500 m radius and limit 20; a quarter filter by type, a fifth by battery.
// Run with e.g. -benchtime 10000x for 5 s of load; reports p50/p90/p99 and
// the achieved requests/s.
func BenchmarkAvailabilitySearchHTTP(b *testing.B) {
	s := servicetest.Start(b, envPrefix, run, map[string]string{"LOG_LEVEL": "error"})
	seedStart := time.Now()
	availBenchSeed(b, s.Env[envPrefix+"REDIS_URL"], s.Env[envPrefix+"REDIS_KEY_PREFIX"], 50_000)
	b.Logf("seeded 50,000 vehicles in %s", time.Since(seedStart).Round(time.Millisecond))

	tok, err := auth.NewHS256Signer("mobility-local-development-secret-do-not-use-in-production", "mobilitycorp", "mobility-api").
		Mint("bench", []auth.Role{auth.RoleCustomer}, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	paths := make([]string, 4096)
	for i := range paths {
		p := benchBerlinPoint(r)
		q := url.Values{"lat": {fmt.Sprintf("%.6f", p.Lat)}, "lon": {fmt.Sprintf("%.6f", p.Lon)}}
		if r.Float64() < 0.25 {
			q.Set("type", string(domain.VehicleTypes()[r.IntN(4)]))
		}
		if r.Float64() < 0.2 {
			q.Set("min_battery", "30")
		}
		paths[i] = s.URL + "/v1/vehicles/available?" + q.Encode()
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}
	var bytesRead int64
	call := func(i int) error {
		req, _ := http.NewRequest(http.MethodGet, paths[i%len(paths)], nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		if i == 0 {
			bytesRead = n
		}
		return nil
	}
	for i := range 200 { // warm connections and the price book
		if err := call(i); err != nil {
			b.Fatal(err)
		}
	}

	rdb, err := redisx.Open(context.Background(), redisx.Config{URL: config.Secret(s.Env[envPrefix+"REDIS_URL"])})
	if err != nil {
		b.Fatal(err)
	}
	defer rdb.Close()
	cpuBefore, redisBefore := availProcessCPU(), availRedisCPU(b, rdb)

	const workers = 64
	type job struct {
		i  int
		at time.Time
	}
	due := make(chan job, b.N)
	latencies := make([]time.Duration, b.N)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		next int
	)
	interval := time.Second / availBenchRate
	b.ResetTimer()
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for j := range due {
				at := j.at
				if d := time.Until(at); d > 0 {
					// Early: wait, and measure from when the request really leaves, so
					// timer wake-up slop of the generator is not counted against the server.
					time.Sleep(d)
					at = time.Now()
				}
				if err := call(j.i); err != nil {
					b.Error(err)
					return
				}
				lat := time.Since(at)
				mu.Lock()
				latencies[next] = lat
				next++
				mu.Unlock()
			}
		})
	}
	for i := range b.N {
		due <- job{i: i, at: start.Add(time.Duration(i) * interval)}
	}
	close(due)
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	cpu, redisCPU := availProcessCPU()-cpuBefore, availRedisCPU(b, rdb)-redisBefore
	if next == 0 {
		b.Fatal("no request completed")
	}

	slices.Sort(latencies[:next])
	pct := func(p float64) float64 { return float64(latencies[int(float64(next-1)*p)].Microseconds()) }
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.90), "p90-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(float64(next)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(bytesRead), "resp-bytes")
	// CPU per request, which other load on the machine changes far less than
	// latency: this process (service and load generator) and Redis.
	b.ReportMetric(float64(cpu.Microseconds())/float64(next), "cpu-µs/req")
	b.ReportMetric(float64(redisCPU.Microseconds())/float64(next), "redis-cpu-µs/req")
}

// availProcessCPU is the user and system CPU time this process used so far.
func availProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// availRedisCPU is the CPU time the Redis server used so far (INFO cpu).
func availRedisCPU(b *testing.B, rdb *goredis.Client) time.Duration {
	info, err := rdb.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total float64
	for _, line := range strings.Split(info, "\n") {
		for _, k := range []string{"used_cpu_sys:", "used_cpu_user:"} {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), k); ok {
				f, _ := strconv.ParseFloat(v, 64)
				total += f
			}
		}
	}
	return time.Duration(total * float64(time.Second))
}

// availBenchSeed registers and reports n vehicles (bikes and scooters three
// to one against cars and vans) inside one Berlin operating area, through
// the index's own scripts, in parallel.
func availBenchSeed(b *testing.B, redisURL, prefix string, n int) {
	b.Helper()
	ctx := context.Background()
	rdb, err := redisx.Open(ctx, redisx.Config{URL: config.Secret(redisURL)})
	if err != nil {
		b.Fatal(err)
	}
	defer rdb.Close()
	ix := bredis.NewIndex(rdb, redisx.Keys(prefix))
	types := []domain.VehicleType{domain.EScooter, domain.EBike, domain.EScooter, domain.EBike, domain.EScooter, domain.EBike, domain.Car, domain.Van}
	area := domain.AreaMatch{Inside: true, City: "berlin", ZoneID: "berlin"}
	now := time.Now().UTC()
	const parts = 16
	var g errgroup.Group
	for w := range parts {
		g.Go(func() error {
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for i := w; i < n; i += parts {
				id := fmt.Sprintf("veh-%06d", i)
				t := types[i%len(types)]
				if _, err := ix.ApplyRegistration(ctx, domain.Registration{VehicleID: id, VehicleType: t, State: domain.RegistryActive, UpdatedAt: now}); err != nil {
					return err
				}
				tel := domain.Telemetry{VehicleID: id, VehicleType: t, Position: benchBerlinPoint(r),
					BatteryPct: float64(r.IntN(101)), RangeKm: float64(r.IntN(60)), Locked: true, RecordedAt: now}
				if _, err := ix.ApplyTelemetry(ctx, tel, area); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
}
