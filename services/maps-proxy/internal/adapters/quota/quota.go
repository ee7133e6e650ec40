// Package quota counts the maps-proxy's calls per provider per UTC day in Redis,
// shared by every replica. It implements app.Quota.
package quota

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/mobilitycorp/platform/pkg/observability"
	"github.com/mobilitycorp/platform/pkg/redisx"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/app"
)

// Options configures a Counter; zero values mean the defaults.
type Options struct {
	// Expiry is how long a day's counter is kept after its last increment (default
	// 48h): past the day's end, so a late replica still finds it, then gone.
	Expiry time.Duration
	// Timeout bounds each Redis round trip (default 250ms).
	Timeout time.Duration
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Registerer receives maps_quota_errors_total; nil means none.
	Registerer prometheus.Registerer
	// Now is the clock that decides the UTC day (default time.Now).
	Now func() time.Time
}

// Counter implements app.Quota with one Redis counter per provider per UTC day.
//
// It fails open: when Redis cannot count, the call is allowed. The quota is a
// spend guard, not the providers' hard limit (they answer 429, which the
// service's breaker and Retry-After handling absorb), and a Redis outage must
// not turn every route into an estimate. The exposure is bounded by the outage:
// at most the traffic of that window goes uncounted.
type Counter struct {
	rdb     redis.UniversalClient
	keys    redisx.Keys
	expiry  time.Duration
	timeout time.Duration
	logger  *slog.Logger
	now     func() time.Time
	errs    prometheus.Counter
}

var _ app.Quota = (*Counter)(nil)

// New returns a counter over rdb whose keys live under keys.
func New(rdb redis.UniversalClient, keys redisx.Keys, opts Options) (*Counter, error) {
	if rdb == nil {
		return nil, errors.New("maps quota needs a redis client")
	}
	if opts.Expiry <= 0 {
		opts.Expiry = 48 * time.Hour
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 250 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	errs, err := observability.Register(opts.Registerer, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "maps_quota_errors_total",
		Help: "Quota checks Redis could not answer; each was allowed (fail open).",
	}))
	if err != nil {
		return nil, fmt.Errorf("maps quota metrics: %w", err)
	}
	return &Counter{rdb: rdb, keys: keys, expiry: opts.Expiry, timeout: opts.Timeout, logger: opts.Logger, now: opts.Now, errs: errs}, nil
}

// Take counts one call for provider today (UTC) and reports whether the count is
// within limit; limit <= 0 means unlimited (still counted). Denied calls are
// counted too, so used can exceed limit. On a Redis error it allows the call and
// returns the error.
func (c *Counter) Take(ctx context.Context, provider string, limit int64) (bool, int64, error) {
	key := c.Key(provider, c.now())
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var incr *redis.IntCmd
	// MULTI/EXEC: the counter never exists without its expiry.
	_, err := c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		incr = p.Incr(ctx, key)
		p.Expire(ctx, key, c.expiry)
		return nil
	})
	if err != nil {
		c.errs.Inc()
		c.logger.WarnContext(ctx, "maps quota redis failed, allowing the call", slog.String("provider", provider), slog.Any("error", err))
		return true, 0, fmt.Errorf("take quota for %s: %w", provider, err)
	}
	used := incr.Val()
	return limit <= 0 || used <= limit, used, nil
}

// Key is the Redis key counting provider's calls on the UTC day of t.
func (c *Counter) Key(provider string, t time.Time) string {
	return c.keys.Key("quota", provider, t.UTC().Format(time.DateOnly))
}
