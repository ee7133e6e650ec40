package ports

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/redis/go-redis/v9"

	"github.com/mobilitycorp/platform/pkg/auth"
	"github.com/mobilitycorp/platform/pkg/httpx/problem"
	"github.com/mobilitycorp/platform/pkg/redisx"
)

// Rate limit response headers (draft-ietf-httpapi-ratelimit-headers) and Retry-After.
const (
	HeaderRateLimitLimit     = "RateLimit-Limit"
	HeaderRateLimitRemaining = "RateLimit-Remaining"
	HeaderRateLimitReset     = "RateLimit-Reset"
	HeaderRetryAfter         = "Retry-After"
)

// Rate limiter defaults.
const (
	DefaultRatePerMinute = 600
	DefaultRateTimeout   = 100 * time.Millisecond
	// failOpenLogEvery bounds the warnings while Redis is down: one per request would
	// bury everything else in the log at 600 requests per minute per client.
	failOpenLogEvery = 10 * time.Second
)

// RateStore is the Redis the limiter keeps its GCRA state in; *redis.Client,
// *redis.ClusterClient and *redis.Ring satisfy it.
type RateStore interface {
	redis.Scripter
	Del(ctx context.Context, keys ...string) *redis.IntCmd
}

// RateLimitOptions configures NewRateLimiter.
type RateLimitOptions struct {
	// PerMinute is each client's sustained budget; 0 means DefaultRatePerMinute.
	PerMinute int
	// Burst is how many requests a client may send at once from a full budget;
	// 0 means PerMinute.
	Burst int
	// Keys is the service's key prefix; the limiter's keys live under it.
	Keys redisx.Keys
	// Timeout bounds the Redis round trip; past it the request is let through.
	// 0 means DefaultRateTimeout. It applies when the client honours context
	// deadlines (redis.Options.ContextTimeoutEnabled); otherwise its own read timeout does.
	Timeout time.Duration
	// Logger receives the fail-open warnings; nil discards them.
	Logger *slog.Logger
	// LeaseSize is how many requests a replica takes from a client's shared budget in
	// one Redis round trip and then admits locally for up to LeaseTTL. 1 (the default)
	// is exact; larger leases trade a budget error of at most LeaseSize per replica
	// (always on the strict side: unused leased requests expire) for one Redis call
	// per LeaseSize requests.
	LeaseSize int
	// LeaseTTL bounds how long leased requests stay usable; 0 means DefaultLeaseTTL.
	LeaseTTL time.Duration
}

// DefaultLeaseTTL keeps leased budget from sitting idle on one replica for long.
const DefaultLeaseTTL = time.Second

// maxLeasedClients bounds the per-client lease table; the least recently seen
// clients are forgotten first (their leases simply expire early).
const maxLeasedClients = 10_000

// RateLimiter limits requests per client with GCRA in Redis (go-redis/redis_rate), so
// every replica draws from one budget per client. The client is the authenticated
// principal's subject, or the remote address for a request without one.
type RateLimiter struct {
	limiter   *redis_rate.Limiter
	limit     redis_rate.Limit
	timeout   time.Duration
	logger    *slog.Logger
	lastWarn  atomic.Int64 // unix nanoseconds of the last fail-open warning
	leaseSize int
	leaseTTL  time.Duration
	leases    *lru.Cache[string, *lease]
}

// lease is budget a replica took for one client and admits locally.
type lease struct {
	mu      sync.Mutex
	tokens  int       // requests still admissible without asking Redis
	expires time.Time // after this the remaining tokens are dropped
	last    redis_rate.Result
}

// NewRateLimiter returns a limiter storing its state in store.
func NewRateLimiter(store RateStore, opts RateLimitOptions) (*RateLimiter, error) {
	if store == nil {
		return nil, errors.New("ports: rate limiter needs a Redis store")
	}
	if opts.PerMinute < 0 || opts.Burst < 0 || opts.Timeout < 0 {
		return nil, fmt.Errorf("ports: rate limit options must not be negative: %+v", opts)
	}
	if opts.PerMinute == 0 {
		opts.PerMinute = DefaultRatePerMinute
	}
	if opts.Burst == 0 {
		opts.Burst = opts.PerMinute
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultRateTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.LeaseSize < 0 || opts.LeaseTTL < 0 {
		return nil, fmt.Errorf("ports: lease options must not be negative: %+v", opts)
	}
	opts.LeaseSize = min(max(opts.LeaseSize, 1), opts.Burst)
	if opts.LeaseTTL == 0 {
		opts.LeaseTTL = DefaultLeaseTTL
	}
	leases, err := lru.New[string, *lease](maxLeasedClients)
	if err != nil {
		return nil, fmt.Errorf("ports: lease table: %w", err)
	}
	return &RateLimiter{
		limiter:   redis_rate.NewLimiter(prefixedStore{RateStore: store, prefix: opts.Keys.Prefix()}),
		limit:     redis_rate.Limit{Rate: opts.PerMinute, Burst: opts.Burst, Period: time.Minute},
		timeout:   opts.Timeout,
		logger:    opts.Logger,
		leaseSize: opts.LeaseSize,
		leaseTTL:  opts.LeaseTTL,
		leases:    leases,
	}, nil
}

// admit takes one request from the client's budget: from this replica's lease when
// it has one, else from Redis (a whole lease when the budget allows, else one).
func (l *RateLimiter) admit(ctx context.Context, key string) (*redis_rate.Result, error) {
	if l.leaseSize == 1 {
		return l.limiter.Allow(ctx, key, l.limit)
	}
	le, ok := l.leases.Get(key)
	if !ok {
		le = &lease{}
		if prev, found, _ := l.leases.PeekOrAdd(key, le); found {
			le = prev // another request added it first
		}
	}
	le.mu.Lock()
	defer le.mu.Unlock()
	now := time.Now()
	if le.tokens > 0 && now.Before(le.expires) {
		le.tokens--
		res := le.last
		res.Allowed, res.Remaining = 1, le.last.Remaining+le.tokens
		return &res, nil
	}
	res, err := l.limiter.AllowN(ctx, key, l.limit, l.leaseSize)
	if err == nil && res.Allowed == 0 {
		// Not a whole lease left: the last few requests of the budget go one by one.
		res, err = l.limiter.Allow(ctx, key, l.limit)
	}
	if err != nil {
		return nil, err
	}
	le.tokens, le.expires, le.last = max(res.Allowed-1, 0), now.Add(l.leaseTTL), *res
	return res, nil
}

// Middleware answers 429 problem+json with Retry-After once the client's budget is
// spent, and sets the RateLimit-* headers on every answer it lets through. When Redis
// fails it lets the request through: an outage of the limiter must not become an
// outage of the service.
func (l *RateLimiter) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), l.timeout)
		res, err := l.admit(ctx, clientKey(r))
		cancel()
		if err != nil {
			l.warnFailOpen(r.Context(), err)
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		// Remaining counts down from the burst, so the burst is the limit it relates to.
		h.Set(HeaderRateLimitLimit, strconv.Itoa(l.limit.Burst))
		h.Set(HeaderRateLimitRemaining, strconv.Itoa(max(res.Remaining, 0)))
		h.Set(HeaderRateLimitReset, strconv.Itoa(ceilSeconds(res.ResetAfter)))
		if res.Allowed == 0 {
			retry := max(ceilSeconds(res.RetryAfter), 1)
			h.Set(HeaderRetryAfter, strconv.Itoa(retry))
			problem.Write(w, r, problem.TooManyRequests(fmt.Sprintf(
				"rate limit of %d requests per minute exceeded; retry in %d s", l.limit.Rate, retry)))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (l *RateLimiter) warnFailOpen(ctx context.Context, err error) {
	now := time.Now().UnixNano()
	last := l.lastWarn.Load()
	if now-last < int64(failOpenLogEvery) || !l.lastWarn.CompareAndSwap(last, now) {
		return
	}
	l.logger.WarnContext(ctx, "rate limiter unavailable, letting requests through", slog.Any("error", err))
}

// clientKey names the budget a request draws from.
func clientKey(r *http.Request) string {
	if p, ok := auth.FromContext(r.Context()); ok && p.Subject != "" {
		return "sub:" + p.Subject
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "ip:" + host
}

func ceilSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int(math.Ceil(d.Seconds()))
}

// prefixedStore puts the limiter's keys under the service's prefix: redis_rate
// hard-codes "rate:" as the start of every key, which would escape redisx.Keys (and a
// test's cleanup).
type prefixedStore struct {
	RateStore
	prefix string
}

func (s prefixedStore) keys(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = s.prefix + k
	}
	return out
}

func (s prefixedStore) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return s.RateStore.Eval(ctx, script, s.keys(keys), args...)
}

func (s prefixedStore) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return s.RateStore.EvalSha(ctx, sha1, s.keys(keys), args...)
}

func (s prefixedStore) EvalRO(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return s.RateStore.EvalRO(ctx, script, s.keys(keys), args...)
}

func (s prefixedStore) EvalShaRO(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return s.RateStore.EvalShaRO(ctx, sha1, s.keys(keys), args...)
}

func (s prefixedStore) Del(ctx context.Context, keys ...string) *redis.IntCmd {
	return s.RateStore.Del(ctx, s.keys(keys)...)
}
