package quota_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/mobilitycorp/platform/pkg/redisx"
	"github.com/mobilitycorp/platform/pkg/redisx/redistest"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/adapters/quota"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func newCounter(t *testing.T, rdb redis.UniversalClient, keys redisx.Keys, opts quota.Options) *quota.Counter {
	t.Helper()
	q, err := quota.New(rdb, keys, opts)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestTake(t *testing.T) {
	ctx := context.Background()
	rdb, keys := redistest.New(t)
	clk := &clock{t: time.Date(2026, 3, 1, 23, 59, 0, 0, time.UTC)}
	q := newCounter(t, rdb, keys, quota.Options{Now: clk.Now})

	steps := []struct {
		name        string
		at          time.Time // zero keeps the clock
		provider    string
		limit       int64
		wantAllowed bool
		wantUsed    int64
	}{
		{"first", time.Time{}, "google", 2, true, 1},
		{"second", time.Time{}, "google", 2, true, 2},
		{"over budget", time.Time{}, "google", 2, false, 3},
		{"other provider has its own budget", time.Time{}, "osrm", 2, true, 1},
		{"unlimited is counted but allowed", time.Time{}, "google", 0, true, 4},
		// 00:30 in Berlin on 2 March is still 1 March in UTC.
		{"same UTC day in another zone", time.Date(2026, 3, 2, 0, 30, 0, 0, time.FixedZone("CET", 3600)), "google", 2, false, 5},
		{"new UTC day", time.Date(2026, 3, 2, 0, 1, 0, 0, time.UTC), "google", 2, true, 1},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if !st.at.IsZero() {
				clk.Set(st.at)
			}
			allowed, used, err := q.Take(ctx, st.provider, st.limit)
			if err != nil || allowed != st.wantAllowed || used != st.wantUsed {
				t.Fatalf("Take = %v, %d, %v; want %v, %d", allowed, used, err, st.wantAllowed, st.wantUsed)
			}
		})
	}

	key := q.Key("google", clk.Now())
	if key != keys.Key("quota", "google", "2026-03-02") {
		t.Fatalf("key %q", key)
	}
	if ttl := rdb.PTTL(ctx, key).Val(); ttl <= 47*time.Hour || ttl > 48*time.Hour {
		t.Fatalf("counter ttl %v, want about 48h", ttl)
	}
}

func TestTakeIsAtomicAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	rdb, keys := redistest.New(t)
	replicas := []*quota.Counter{
		newCounter(t, rdb, keys, quota.Options{}),
		newCounter(t, rdb, keys, quota.Options{}),
	}
	const limit, callers = 10, 100
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			ok, _, err := replicas[i%2].Take(ctx, "google", limit)
			if err != nil {
				t.Error(err)
			}
			if ok {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != limit {
		t.Fatalf("%d calls allowed, want exactly %d", n, limit)
	}
}

func TestTakeFailsOpen(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	reg := prometheus.NewRegistry()
	q := newCounter(t, rdb, redisx.Keys("down:"), quota.Options{Registerer: reg})
	allowed, used, err := q.Take(context.Background(), "google", 1)
	if !allowed || used != 0 || err == nil {
		t.Fatalf("Take = %v, %d, %v; want allowed with an error", allowed, used, err)
	}
	if n, err := testutil.GatherAndCount(reg, "maps_quota_errors_total"); err != nil || n != 1 {
		t.Fatalf("error series %d, %v", n, err)
	}
}
