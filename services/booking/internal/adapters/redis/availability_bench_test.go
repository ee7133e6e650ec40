package redis

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/mobilitycorp/platform/services/booking/internal/domain"
)

// Berlin's bounding box and centre (Mitte).
var (
	berlinSW     = domain.Point{Lat: 52.34, Lon: 13.09}
	berlinNE     = domain.Point{Lat: 52.68, Lon: 13.76}
	berlinCenter = domain.Point{Lat: 52.52, Lon: 13.405}
)

// BerlinPoint draws a point where the fleet is: 60 % within about 6 km of the
// centre, the rest anywhere in the city's box.
func berlinPoint(r *rand.Rand) domain.Point {
	if r.Float64() < 0.6 {
		return offset(berlinCenter, (r.Float64()*2-1)*6000, (r.Float64()*2-1)*6000)
	}
	return domain.Point{
		Lat: berlinSW.Lat + r.Float64()*(berlinNE.Lat-berlinSW.Lat),
		Lon: berlinSW.Lon + r.Float64()*(berlinNE.Lon-berlinSW.Lon),
	}
}

// seedBerlin registers and reports n vehicles (mostly bikes and scooters,
// like the fleet) through the real scripts, pipelined.
func seedBerlin(tb testing.TB, ix *Index, n int) {
	tb.Helper()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	types := []domain.VehicleType{domain.EScooter, domain.EBike, domain.EScooter, domain.EBike, domain.EScooter, domain.EBike, domain.Car, domain.Van}
	now := time.Now().UTC()
	if err := applyScript.Load(ctx, ix.rdb).Err(); err != nil {
		tb.Fatal(err)
	}
	area := domain.AreaMatch{Inside: true, City: "berlin", ZoneID: "berlin"}
	for start := 0; start < n; start += 1000 {
		_, err := ix.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for i := start; i < min(start+1000, n); i++ {
				id := fmt.Sprintf("veh-%06d", i)
				t := types[i%len(types)]
				at := berlinPoint(r)
				keys := ix.scriptKeys(id)
				applyScript.EvalSha(ctx, p, keys, id, "reg", string(t), domain.RegistryActive, now.UnixMilli())
				applyScript.EvalSha(ctx, p, keys, id, "tel", now.UnixMilli(), fmtFloat(at.Lon), fmtFloat(at.Lat),
					fmtFloat(float64(r.IntN(101))), fmtFloat(float64(r.IntN(60))), "1", "0", string(t), "1", area.City, area.ZoneID)
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
}

// benchQueries is a fixed mix: 70 % of searches near the centre, a quarter
// with a type filter, a fifth with a minimum battery.
func benchQueries(n int) []domain.SearchQuery {
	r := rand.New(rand.NewPCG(3, 4))
	qs := make([]domain.SearchQuery, n)
	for i := range qs {
		q := domain.SearchQuery{Center: berlinPoint(r)}
		if r.Float64() < 0.25 {
			q.VehicleType = domain.VehicleTypes()[r.IntN(4)]
		}
		if r.Float64() < 0.2 {
			q.MinBatteryPct = 30
		}
		if err := q.Normalize(); err != nil {
			panic(err)
		}
		qs[i] = q
	}
	return qs
}

func reportLatencies(b *testing.B, lat []time.Duration, elapsed time.Duration) {
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(float64(len(lat)-1)*p)].Microseconds()) }
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "searches/s")
}

// BenchmarkSearch is the production search (Index.Search: one GEOSEARCH
// returning member names, filtered and ranked in Go) over 50,000
// vehicles in Berlin, run back to back from one goroutine: the latency of the
// index alone, without HTTP. redis-µs/search is the time Redis itself spent
// per search (INFO commandstats): Redis is single-threaded and shared by every
// instance, so that is the budget that limits searches per second.
func BenchmarkSearch(b *testing.B) {
	benchSearch(b, func(ctx context.Context, ix *Index, q domain.SearchQuery) (int, error) {
		h, err := ix.Search(ctx, q, time.Time{})
		return len(h), err
	})
}

// BenchmarkSearchLua is the alternative measured against it: the same search
// as one Lua script (GEOSEARCH, parse, filter and rank inside Redis).
func BenchmarkSearchLua(b *testing.B) {
	benchSearch(b, func(ctx context.Context, ix *Index, q domain.SearchQuery) (int, error) {
		h, err := ix.searchLua(ctx, q)
		return len(h), err
	})
}

func benchSearch(b *testing.B, search func(context.Context, *Index, domain.SearchQuery) (int, error)) {
	ix := newIndex(b)
	start := time.Now()
	seedBerlin(b, ix, 50_000)
	b.Logf("seeded 50,000 vehicles in %s", time.Since(start).Round(time.Millisecond))
	ctx := context.Background()
	qs := benchQueries(4096)
	found := 0
	lat := make([]time.Duration, 0, 1<<16)
	redisBefore := redisUsec(b, ix)
	b.ResetTimer()
	start = time.Now()
	for i := 0; b.Loop(); i++ {
		t := time.Now()
		n, err := search(ctx, ix, qs[i%len(qs)])
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t))
		found += n
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if found == 0 {
		b.Fatal("no search found anything")
	}
	b.ReportMetric(float64(found)/float64(len(lat)), "hits/search")
	b.ReportMetric(float64(redisUsec(b, ix)-redisBefore)/float64(len(lat)), "redis-µs/search")
	reportLatencies(b, lat, elapsed)
}

// redisUsec is the total time Redis spent in GEOSEARCH and EVALSHA so far.
func redisUsec(tb testing.TB, ix *Index) int64 {
	info, err := ix.rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		tb.Fatal(err)
	}
	var total int64
	for _, line := range strings.Split(info, "\n") {
		if !strings.HasPrefix(line, "cmdstat_geosearch:") && !strings.HasPrefix(line, "cmdstat_evalsha:") {
			continue
		}
		for _, f := range strings.Split(strings.TrimSpace(line[strings.IndexByte(line, ':')+1:]), ",") {
			if v, ok := strings.CutPrefix(f, "usec="); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				total += n
			}
		}
	}
	return total
}

// searchLuaScript is the search done inside Redis, kept only to measure it
// against Index.Search; same filters and ranking (radius ≤ 1.5 km).
var searchLuaScript = goredis.NewScript(`
local lon, lat, radius = ARGV[1], ARGV[2], ARGV[3]
local limit, minBat, minRng, lowBat = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local hits = {}
local found = redis.call('GEOSEARCH', KEYS[1], 'FROMLONLAT', lon, lat, 'BYRADIUS', radius, 'm', 'WITHDIST')
for j = 1, #found do
  local r = found[j]
  local b, g = string.match(r[1], '^[^|]*|[^|]*|[^|]*|[^|]*|([^|]*)|([^|]*)|')
  b, g = tonumber(b), tonumber(g)
  if b and g and b >= minBat and g >= minRng then
    hits[#hits + 1] = {r[1], low = b < lowBat, d = tonumber(r[2])}
  end
end
table.sort(hits, function(a, b)
  if a.low ~= b.low then return not a.low end
  return a.d < b.d
end)
local out = {}
for j = 1, math.min(limit, #hits) do
  out[j] = hits[j][1]
end
return out
`)

func (ix *Index) searchLua(ctx context.Context, q domain.SearchQuery) ([]domain.IndexHit, error) {
	key := ix.keys.any
	if q.VehicleType != "" {
		key = ix.keys.geo[slices.Index(domain.VehicleTypes(), q.VehicleType)]
	}
	names, err := searchLuaScript.Run(ctx, ix.rdb, []string{key}, fmtFloat(q.Center.Lon), fmtFloat(q.Center.Lat), q.RadiusM, q.Limit,
		fmtFloat(q.MinBatteryPct), fmtFloat(q.MinRangeKm), domain.LowBatteryPct).StringSlice()
	if err != nil {
		return nil, err
	}
	out := make([]domain.IndexHit, 0, len(names))
	for _, n := range names {
		h, ok := parseMember(n)
		if !ok {
			return nil, fmt.Errorf("bad member %q", n)
		}
		h.DistanceM = domain.DistanceM(q.Center, h.Position)
		out = append(out, h)
	}
	return out, nil
}

// The Lua alternative answers exactly as Index.Search does, so the two
// benchmarks compare like with like.
func TestSearchLuaAlternativeMatches(t *testing.T) {
	ix := newIndex(t)
	seedBerlin(t, ix, 5000)
	ctx := context.Background()
	for i, q := range benchQueries(200) {
		q.RadiusM = 1500
		a, err := ix.Search(ctx, q, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := ix.searchLua(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(a) != len(b) {
			t.Fatalf("query %d: Search %d hits, Lua %d", i, len(a), len(b))
		}
		for j := range a {
			// Redis ranks by its geohash-decoded position, Go by the exact one:
			// neighbours less than a metre apart may swap.
			if a[j].VehicleID != b[j].VehicleID && math.Abs(a[j].DistanceM-b[j].DistanceM) > 1 {
				t.Fatalf("query %d hit %d: Search %+v, Lua %+v", i, j, a[j], b[j])
			}
		}
	}
}
