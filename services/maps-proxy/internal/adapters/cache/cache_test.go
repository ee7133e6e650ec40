package cache_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/mobilitycorp/platform/pkg/redisx"
	"github.com/mobilitycorp/platform/pkg/redisx/redistest"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/adapters/cache"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/app"
)

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

func newCache(t *testing.T, rdb redis.UniversalClient, keys redisx.Keys, opts cache.Options) *cache.Cache {
	t.Helper()
	c, err := cache.New(rdb, keys, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGetLayers(t *testing.T) {
	ctx := context.Background()
	rdb, keys := redistest.New(t)
	clk := newClock()
	writer := newCache(t, rdb, keys, cache.Options{Now: clk.Now})
	writer.Set(ctx, "k", []byte("v"), time.Hour)

	// A second replica (own memory, same Redis) finds it in Redis, then in memory.
	reader := newCache(t, rdb, keys, cache.Options{Now: clk.Now})
	tests := []struct {
		name      string
		c         *cache.Cache
		advance   time.Duration
		wantLayer app.Layer
	}{
		{"writer reads its memory", writer, 0, app.LayerMemory},
		{"other replica reads redis", reader, 0, app.LayerRedis},
		{"redis hit was promoted", reader, 0, app.LayerMemory},
		{"memory lasts at most a minute", reader, 61 * time.Second, app.LayerRedis},
		{"promoted again", reader, 0, app.LayerMemory},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk.Advance(tc.advance)
			v, layer, ok := tc.c.Get(ctx, "k")
			if !ok || string(v) != "v" || layer != tc.wantLayer {
				t.Fatalf("Get = %q, %q, %v; want v from %s", v, layer, ok, tc.wantLayer)
			}
		})
	}
	if ttl := rdb.PTTL(ctx, keys.Key("k")).Val(); ttl <= 59*time.Minute || ttl > time.Hour {
		t.Fatalf("redis ttl %v, want about 1h", ttl)
	}
}

func TestShortTTLs(t *testing.T) {
	ctx := context.Background()
	rdb, keys := redistest.New(t)
	clk := newClock()
	c := newCache(t, rdb, keys, cache.Options{Now: clk.Now})

	// An entry shorter-lived than the memory cap leaves memory with its own TTL.
	c.Set(ctx, "short", []byte("s"), 5*time.Second)
	clk.Advance(6 * time.Second)
	if _, layer, ok := c.Get(ctx, "short"); !ok || layer != app.LayerRedis {
		// Redis (real time) still has it; memory (injected clock) must not.
		t.Fatalf("layer %q ok %v, want a redis hit", layer, ok)
	}

	// A Redis hit is promoted no longer than Redis keeps it.
	other := newCache(t, rdb, keys, cache.Options{Now: clk.Now})
	if err := rdb.Set(ctx, keys.Key("two"), "2", 2*time.Second).Err(); err != nil {
		t.Fatal(err)
	}
	if _, layer, _ := other.Get(ctx, "two"); layer != app.LayerRedis {
		t.Fatalf("first read from %q", layer)
	}
	if _, layer, _ := other.Get(ctx, "two"); layer != app.LayerMemory {
		t.Fatalf("second read from %q", layer)
	}
	clk.Advance(3 * time.Second)
	if _, layer, _ := other.Get(ctx, "two"); layer == app.LayerMemory {
		t.Fatal("memory outlived the redis ttl")
	}
}

func TestNonPositiveTTLStoresNothing(t *testing.T) {
	ctx := context.Background()
	rdb, keys := redistest.New(t)
	c := newCache(t, rdb, keys, cache.Options{})
	for _, ttl := range []time.Duration{0, -time.Second} {
		c.Set(ctx, "a", []byte("1"), ttl)
		c.SetMany(ctx, map[string][]byte{"b": []byte("2")}, ttl)
	}
	if _, _, ok := c.Get(ctx, "a"); ok {
		t.Fatal("a cached")
	}
	if hits := c.GetMany(ctx, []string{"a", "b"}); len(hits) != 0 {
		t.Fatalf("hits %v", hits)
	}
	if n := rdb.Exists(ctx, keys.Key("a"), keys.Key("b")).Val(); n != 0 {
		t.Fatalf("%d keys in redis", n)
	}
}

func TestGetManyMixesLayers(t *testing.T) {
	ctx := context.Background()
	rdb, keys := redistest.New(t)
	writer := newCache(t, rdb, keys, cache.Options{})
	writer.SetMany(ctx, map[string][]byte{"a": []byte("A"), "b": []byte("B")}, time.Hour)
	reader := newCache(t, rdb, keys, cache.Options{})
	reader.Set(ctx, "c", []byte("C"), time.Hour)

	hits := reader.GetMany(ctx, []string{"a", "b", "c", "d"})
	want := map[string]app.Hit{
		"a": {Value: []byte("A"), Layer: app.LayerRedis},
		"b": {Value: []byte("B"), Layer: app.LayerRedis},
		"c": {Value: []byte("C"), Layer: app.LayerMemory},
	}
	if len(hits) != len(want) {
		t.Fatalf("hits %v", hits)
	}
	for k, w := range want {
		if h := hits[k]; string(h.Value) != string(w.Value) || h.Layer != w.Layer {
			t.Fatalf("%s: %q from %s, want %q from %s", k, h.Value, h.Layer, w.Value, w.Layer)
		}
	}
	if again := reader.GetMany(ctx, []string{"a"}); again["a"].Layer != app.LayerMemory {
		t.Fatalf("a not promoted: %v", again)
	}
	if ttl := rdb.PTTL(ctx, keys.Key("b")).Val(); ttl <= 59*time.Minute {
		t.Fatalf("SetMany ttl %v", ttl)
	}
}

func TestMemoryTierOff(t *testing.T) {
	ctx := context.Background()
	rdb, keys := redistest.New(t)
	c := newCache(t, rdb, keys, cache.Options{MemoryTTL: -1})
	c.Set(ctx, "k", []byte("v"), time.Hour)
	for range 2 {
		if _, layer, ok := c.Get(ctx, "k"); !ok || layer != app.LayerRedis {
			t.Fatalf("layer %q ok %v", layer, ok)
		}
	}
}

func TestRedisDownIsAMiss(t *testing.T) {
	ctx := context.Background()
	// A real client to a port nothing listens on: every command fails fast.
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	reg := prometheus.NewRegistry()
	c := newCache(t, rdb, redisx.Keys("down:"), cache.Options{Registerer: reg})

	if _, _, ok := c.Get(ctx, "nothing"); ok {
		t.Fatal("hit on a dead redis")
	}
	// Writes still fill this replica's memory.
	c.Set(ctx, "k", []byte("v"), time.Hour)
	c.SetMany(ctx, map[string][]byte{"m": []byte("M")}, time.Hour)
	if v, layer, ok := c.Get(ctx, "k"); !ok || layer != app.LayerMemory || string(v) != "v" {
		t.Fatalf("Get = %q %q %v", v, layer, ok)
	}
	if hits := c.GetMany(ctx, []string{"m", "x"}); len(hits) != 1 || hits["m"].Layer != app.LayerMemory {
		t.Fatalf("GetMany = %v", hits)
	}
	const want = `
# HELP maps_cache_errors_total Redis cache operations that failed and were treated as a miss or skipped, by operation.
# TYPE maps_cache_errors_total counter
maps_cache_errors_total{op="get"} 1
maps_cache_errors_total{op="get_many"} 1
maps_cache_errors_total{op="set"} 1
maps_cache_errors_total{op="set_many"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "maps_cache_errors_total"); err != nil {
		t.Fatal(err)
	}
}
