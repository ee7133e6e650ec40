// Package cache is the maps-proxy's two-tier answer cache: a small in-process
// LRU in front of Redis. It implements app.Cache.
package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/mobilitycorp/platform/pkg/observability"
	"github.com/mobilitycorp/platform/pkg/redisx"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/app"
)

// Options configures a Cache; zero values mean the defaults.
type Options struct {
	// Size is the number of entries kept in memory (default 10,000).
	Size int
	// MemoryTTL caps how long an entry stays in memory (default 1 minute), so a
	// replica never serves an answer much staler than Redis has. Negative turns
	// the memory tier off (every lookup goes to Redis).
	MemoryTTL time.Duration
	// RedisTimeout bounds each Redis round trip (default 250ms): a slow Redis is a
	// miss, not a slow request.
	RedisTimeout time.Duration
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Registerer receives maps_cache_errors_total; nil means none.
	Registerer prometheus.Registerer
	// Now is the clock for memory expiry (default time.Now).
	Now func() time.Time
}

// Cache implements app.Cache. Redis failures are logged, counted and answered as
// a miss (reads) or ignored (writes): the cache never fails a request.
type Cache struct {
	rdb     redis.UniversalClient
	keys    redisx.Keys
	mem     *expirable.LRU[string, entry] // nil when the memory tier is off
	memTTL  time.Duration
	timeout time.Duration
	now     func() time.Time
	logger  *slog.Logger
	errs    *prometheus.CounterVec
}

// entry is a value in memory with its own expiry: the LRU's TTL is one for all
// entries, but answers have shorter lives too (estimates, provider terms).
type entry struct {
	value   []byte
	expires time.Time
}

var _ app.Cache = (*Cache)(nil)

// New returns a cache over rdb whose Redis keys live under keys.
//
// The expirable LRU runs a background expiry goroutine that the library cannot
// stop (golang-lru v2.0.7), so create one Cache per process, not per request.
func New(rdb redis.UniversalClient, keys redisx.Keys, opts Options) (*Cache, error) {
	if rdb == nil {
		return nil, errors.New("maps cache needs a redis client")
	}
	if opts.Size <= 0 {
		opts.Size = 10_000
	}
	if opts.MemoryTTL == 0 {
		opts.MemoryTTL = time.Minute
	}
	if opts.RedisTimeout <= 0 {
		opts.RedisTimeout = 250 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	errs, err := observability.Register(opts.Registerer, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "maps_cache_errors_total",
		Help: "Redis cache operations that failed and were treated as a miss or skipped, by operation.",
	}, []string{"op"}))
	if err != nil {
		return nil, fmt.Errorf("maps cache metrics: %w", err)
	}
	c := &Cache{rdb: rdb, keys: keys, memTTL: opts.MemoryTTL, timeout: opts.RedisTimeout, now: opts.Now, logger: opts.Logger, errs: errs}
	if opts.MemoryTTL > 0 {
		c.mem = expirable.NewLRU[string, entry](opts.Size, nil, opts.MemoryTTL)
	}
	return c, nil
}

// Get looks in memory, then in Redis; a Redis hit is promoted to memory for the
// rest of its Redis lifetime, at most MemoryTTL.
func (c *Cache) Get(ctx context.Context, key string) ([]byte, app.Layer, bool) {
	if v, ok := c.memGet(key); ok {
		return v, app.LayerMemory, true
	}
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	pipe := c.rdb.Pipeline()
	get := pipe.Get(rctx, c.keys.Key(key))
	ttl := pipe.PTTL(rctx, c.keys.Key(key))
	if _, err := pipe.Exec(rctx); err != nil && !errors.Is(err, redis.Nil) {
		c.failed(ctx, "get", err)
		return nil, "", false
	}
	v, err := get.Bytes()
	if err != nil {
		return nil, "", false // redis.Nil: a plain miss
	}
	c.promote(key, v, ttl.Val())
	return v, app.LayerRedis, true
}

// GetMany is Get for many keys with one Redis round trip for all memory misses.
// It pipelines GET+PTTL per key rather than one MGET, to learn each remaining
// lifetime for promotion and to work on Redis Cluster, where MGET must stay in one slot.
func (c *Cache) GetMany(ctx context.Context, keys []string) map[string]app.Hit {
	hits := make(map[string]app.Hit, len(keys))
	missing := make([]string, 0, len(keys))
	for _, k := range keys {
		if v, ok := c.memGet(k); ok {
			hits[k] = app.Hit{Value: v, Layer: app.LayerMemory}
		} else {
			missing = append(missing, k)
		}
	}
	if len(missing) == 0 {
		return hits
	}
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	pipe := c.rdb.Pipeline()
	gets := make([]*redis.StringCmd, len(missing))
	ttls := make([]*redis.DurationCmd, len(missing))
	for i, k := range missing {
		gets[i] = pipe.Get(rctx, c.keys.Key(k))
		ttls[i] = pipe.PTTL(rctx, c.keys.Key(k))
	}
	if _, err := pipe.Exec(rctx); err != nil && !errors.Is(err, redis.Nil) {
		c.failed(ctx, "get_many", err)
		return hits
	}
	for i, k := range missing {
		v, err := gets[i].Bytes()
		if err != nil {
			continue
		}
		c.promote(k, v, ttls[i].Val())
		hits[k] = app.Hit{Value: v, Layer: app.LayerRedis}
	}
	return hits
}

// Set stores value in memory and Redis for ttl; ttl <= 0 stores nothing.
func (c *Cache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	c.memSet(key, value, ttl)
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := c.rdb.Set(rctx, c.keys.Key(key), value, ttl).Err(); err != nil {
		c.failed(ctx, "set", err)
	}
}

// SetMany stores every entry for ttl, in Redis in one pipelined round trip.
func (c *Cache) SetMany(ctx context.Context, entries map[string][]byte, ttl time.Duration) {
	if ttl <= 0 || len(entries) == 0 {
		return
	}
	for k, v := range entries {
		c.memSet(k, v, ttl)
	}
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	pipe := c.rdb.Pipeline()
	for k, v := range entries {
		pipe.Set(rctx, c.keys.Key(k), v, ttl)
	}
	if _, err := pipe.Exec(rctx); err != nil {
		c.failed(ctx, "set_many", err)
	}
}

func (c *Cache) memGet(key string) ([]byte, bool) {
	if c.mem == nil {
		return nil, false
	}
	e, ok := c.mem.Get(key)
	if !ok {
		return nil, false
	}
	if !c.now().Before(e.expires) {
		c.mem.Remove(key)
		return nil, false
	}
	return e.value, true
}

func (c *Cache) memSet(key string, value []byte, ttl time.Duration) {
	if c.mem == nil || ttl <= 0 {
		return
	}
	c.mem.Add(key, entry{value: value, expires: c.now().Add(min(ttl, c.memTTL))})
}

// promote keeps a Redis hit in memory no longer than Redis keeps it.
func (c *Cache) promote(key string, value []byte, redisTTL time.Duration) {
	switch {
	case redisTTL > 0:
		c.memSet(key, value, redisTTL)
	case redisTTL == -1: // no expiry in Redis (written by something else)
		c.memSet(key, value, c.memTTL)
	}
}

// failed records a Redis failure; ctx is the caller's, whose own cancellation
// is not Redis's fault and is not counted.
func (c *Cache) failed(ctx context.Context, op string, err error) {
	if ctx.Err() != nil {
		return
	}
	c.errs.WithLabelValues(op).Inc()
	c.logger.WarnContext(ctx, "maps cache redis failed, degrading to a miss", slog.String("op", op), slog.Any("error", err))
}
