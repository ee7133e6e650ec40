package ports_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mobilitycorp/platform/pkg/auth"
	"github.com/mobilitycorp/platform/pkg/config"
	"github.com/mobilitycorp/platform/pkg/httpx/problem"
	"github.com/mobilitycorp/platform/pkg/redisx"
	"github.com/mobilitycorp/platform/pkg/redisx/redistest"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/ports"
)

// limited wraps an OK handler in l, counting the requests that got through.
type limited struct {
	handler http.Handler
	mu      sync.Mutex
	passed  int
}

func newLimited(l *ports.RateLimiter) *limited {
	lt := &limited{}
	lt.handler = l.Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		lt.mu.Lock()
		lt.passed++
		lt.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	return lt
}

// send makes one request as subject ("" means unauthenticated, from remoteAddr).
func (lt *limited) send(subject, remoteAddr string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/v1/eta", nil)
	r.RemoteAddr = remoteAddr
	if subject != "" {
		r = r.WithContext(auth.WithPrincipal(r.Context(), auth.Principal{Subject: subject, Roles: []auth.Role{auth.RoleService}}))
	}
	rec := httptest.NewRecorder()
	lt.handler.ServeHTTP(rec, r)
	return rec
}

func newLimiter(t *testing.T, store ports.RateStore, opts ports.RateLimitOptions) *ports.RateLimiter {
	t.Helper()
	l, err := ports.NewRateLimiter(store, opts)
	if err != nil {
		t.Fatalf("NewRateLimiter: %v", err)
	}
	return l
}

// secondClient opens another connection pool to the same Redis, as a second replica has.
func secondClient(t *testing.T) *redis.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := redisx.Open(ctx, redisx.Config{URL: config.Secret(redistest.URL())})
	if err != nil {
		t.Fatalf("open redis: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestRateLimitIsSharedAcrossReplicas(t *testing.T) {
	rdb, keys := redistest.New(t)
	opts := ports.RateLimitOptions{PerMinute: 5, Keys: keys}
	replicas := []*limited{
		newLimited(newLimiter(t, rdb, opts)),
		newLimited(newLimiter(t, secondClient(t), opts)),
	}

	// Alice's five requests alternate between the replicas and draw from one budget.
	for i := range 5 {
		rec := replicas[i%2].send("alice", "10.0.0.1:5000")
		if rec.Code != http.StatusNoContent {
			t.Fatalf("request %d: status %d, want 204", i, rec.Code)
		}
		if got, want := rec.Header().Get(ports.HeaderRateLimitRemaining), strconv.Itoa(4-i); got != want {
			t.Errorf("request %d: RateLimit-Remaining %s, want %s", i, got, want)
		}
		if got := rec.Header().Get(ports.HeaderRateLimitLimit); got != "5" {
			t.Errorf("request %d: RateLimit-Limit %s, want 5", i, got)
		}
	}
	// Her sixth is refused by either replica.
	for i, r := range replicas {
		rec := r.send("alice", "10.0.0.1:5000")
		if rec.Code != http.StatusTooManyRequests {
			t.Fatalf("replica %d: status %d, want 429", i, rec.Code)
		}
		if ct := rec.Header().Get("Content-Type"); ct != problem.ContentType {
			t.Errorf("replica %d: Content-Type %q", i, ct)
		}
		// 5 per minute: one request every 12 s comes back.
		ra, err := strconv.Atoi(rec.Header().Get(ports.HeaderRetryAfter))
		if err != nil || ra < 1 || ra > 12 {
			t.Errorf("replica %d: Retry-After %q, want 1..12", i, rec.Header().Get(ports.HeaderRetryAfter))
		}
		reset, err := strconv.Atoi(rec.Header().Get(ports.HeaderRateLimitReset))
		if err != nil || reset < 48 || reset > 60 {
			t.Errorf("replica %d: RateLimit-Reset %q, want about 60", i, rec.Header().Get(ports.HeaderRateLimitReset))
		}
	}
	// Bob has a budget of his own, and so has an anonymous caller's address.
	if rec := replicas[1].send("bob", "10.0.0.1:5000"); rec.Code != http.StatusNoContent || rec.Header().Get(ports.HeaderRateLimitRemaining) != "4" {
		t.Fatalf("bob: status %d, remaining %s", rec.Code, rec.Header().Get(ports.HeaderRateLimitRemaining))
	}
	if rec := replicas[0].send("", "10.0.0.1:5000"); rec.Code != http.StatusNoContent {
		t.Fatalf("anonymous: status %d", rec.Code)
	}
	if got := replicas[0].passed + replicas[1].passed; got != 7 {
		t.Fatalf("%d requests reached the handler, want 7", got)
	}

	// The state lives under the service's prefix (redis_rate's own "rate:" is nested).
	ctx := context.Background()
	found, err := rdb.Keys(ctx, keys.Prefix()+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(found, ","), "sub:alice") {
		t.Errorf("keys under %s: %v, want alice's", keys.Prefix(), found)
	}
	if n, err := rdb.Exists(ctx, "rate:sub:alice").Result(); err != nil || n != 0 {
		t.Errorf("a key escaped the prefix: exists=%d, %v", n, err)
	}
}

func TestRateLimitBudgets(t *testing.T) {
	tests := []struct {
		name        string
		opts        ports.RateLimitOptions
		requests    int
		wantAllowed int
	}{
		{"default is 600 per minute", ports.RateLimitOptions{}, 30, 30},
		{"burst is the per-minute budget", ports.RateLimitOptions{PerMinute: 3}, 6, 3},
		{"smaller burst", ports.RateLimitOptions{PerMinute: 60, Burst: 2}, 5, 2},
		{"larger burst", ports.RateLimitOptions{PerMinute: 2, Burst: 4}, 6, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rdb, keys := redistest.New(t)
			tc.opts.Keys = keys
			lt := newLimited(newLimiter(t, rdb, tc.opts))
			allowed := 0
			for range tc.requests {
				if lt.send("carol", "10.0.0.2:1").Code == http.StatusNoContent {
					allowed++
				}
			}
			if allowed != tc.wantAllowed || lt.passed != tc.wantAllowed {
				t.Fatalf("allowed %d (handler saw %d), want %d", allowed, lt.passed, tc.wantAllowed)
			}
		})
	}
}

func TestRateLimitFailsOpen(t *testing.T) {
	// Nothing listens on port 1: every Redis call fails at once.
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = down.Close() })
	var logs bytes.Buffer
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&syncWriter{w: &logs, mu: &logMu}, nil))
	lt := newLimited(newLimiter(t, down, ports.RateLimitOptions{PerMinute: 1, Keys: "maps:", Logger: logger}))

	for i := range 3 {
		rec := lt.send("dave", "10.0.0.3:1")
		if rec.Code != http.StatusNoContent {
			t.Fatalf("request %d: status %d, want the request let through", i, rec.Code)
		}
		if rec.Header().Get(ports.HeaderRateLimitRemaining) != "" {
			t.Errorf("request %d: RateLimit headers without a limiter answer", i)
		}
	}
	logMu.Lock()
	defer logMu.Unlock()
	if n := strings.Count(logs.String(), "rate limiter unavailable"); n != 1 {
		t.Fatalf("%d fail-open warnings for 3 requests, want 1 (throttled):\n%s", n, logs.String())
	}
}

func TestNewRateLimiterRejectsBadOptions(t *testing.T) {
	rdb, keys := redistest.New(t)
	tests := []struct {
		name  string
		store ports.RateStore
		opts  ports.RateLimitOptions
	}{
		{"no store", nil, ports.RateLimitOptions{Keys: keys}},
		{"negative rate", rdb, ports.RateLimitOptions{PerMinute: -1, Keys: keys}},
		{"negative burst", rdb, ports.RateLimitOptions{Burst: -1, Keys: keys}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if l, err := ports.NewRateLimiter(tc.store, tc.opts); err == nil || l != nil {
				t.Fatalf("NewRateLimiter = %v, %v; want an error", l, err)
			}
		})
	}
}

type syncWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// countingStore counts the Redis round trips the limiter makes on a real client.
type countingStore struct {
	*redis.Client
	mu    sync.Mutex
	calls int
}

func (c *countingStore) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	c.mu.Lock()
	c.calls++
	c.mu.Unlock()
	return c.Client.EvalSha(ctx, sha1, keys, args...)
}

// With leases, replicas ask Redis once per LeaseSize requests, and two replicas
// together still never admit more than the client's budget.
func TestRateLimitLeases(t *testing.T) {
	rdb, keys := redistest.New(t)
	opts := ports.RateLimitOptions{PerMinute: 40, Burst: 40, LeaseSize: 10, Keys: keys}
	stores := []*countingStore{{Client: rdb}, {Client: secondClient(t)}}
	replicas := []*limited{newLimited(newLimiter(t, stores[0], opts)), newLimited(newLimiter(t, stores[1], opts))}

	refused := 0
	for i := range 60 {
		if rec := replicas[i%2].send("carol", "10.0.0.2:5000"); rec.Code == http.StatusTooManyRequests {
			refused++
		}
	}
	if got := replicas[0].passed + replicas[1].passed; got != 40 || refused != 20 {
		t.Fatalf("admitted %d, refused %d; want exactly the budget of 40 admitted", got, refused)
	}
	for i, s := range stores {
		// 2 leases of 10 while the budget lasts, then refusals checked against Redis.
		if s.calls >= 30 {
			t.Errorf("replica %d made %d Redis calls for 30 requests: leases unused", i, s.calls)
		}
	}
}
