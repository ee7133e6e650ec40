// Package servicetest starts a service's run function in-process against the real
// dependencies (PostgreSQL, Redis, an embedded Kafka-protocol broker) and checks the
// behaviour every service shares: readiness, metrics, problem+json and graceful stop.
package servicetest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/kafka/kafkatest"
	"github.com/mobilitycorp/platform/pkg/postgres/pgtest"
	"github.com/mobilitycorp/platform/pkg/redisx/redistest"
)

// RunFunc is a service's run function.
type RunFunc func(ctx context.Context, stdout io.Writer, environ map[string]string) error

// Service is a service started by Start.
type Service struct {
	URL     string            // http://127.0.0.1:port
	DB      *pgxpool.Pool     // the service's database, for assertions
	Env     map[string]string // the environment it was started with
	logs    *testWriter
	cancel  context.CancelFunc
	done    chan error
	stopped bool
}

// Start runs the service with a fresh database, a Redis key prefix and an embedded
// broker; extra entries (without prefix) override the environment. It returns once
// /readyz answers 200 and stops the service when the test ends.
func Start(t testing.TB, prefix string, run RunFunc, extra map[string]string) *Service {
	t.Helper()
	pool, dbURL := pgtest.NewWithURL(t)
	kcfg := kafkatest.New(t, events.Topics()...)
	_, keys := redistest.New(t)
	addr := freeAddr(t)
	env := map[string]string{
		prefix + "HTTP_ADDR":                addr,
		prefix + "POSTGRES_URL":             dbURL,
		prefix + "POSTGRES_CREATE_DATABASE": "false",
		prefix + "REDIS_URL":                redistest.URL(),
		prefix + "REDIS_KEY_PREFIX":         keys.Prefix(),
		prefix + "KAFKA_BROKERS":            strings.Join(kcfg.Brokers, ","),
		prefix + "LOG_LEVEL":                "warn",
	}
	for k, v := range extra {
		env[prefix+k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{URL: "http://" + addr, DB: pool, Env: env, logs: &testWriter{t: t}, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- run(ctx, s.logs, env) }()
	t.Cleanup(func() {
		if !s.stopped {
			if err := s.Stop(); err != nil {
				t.Errorf("stop: %v", err)
			}
		}
	})
	if err := s.waitReady(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	return s
}

// Stop cancels the service's context (as SIGTERM does) and returns run's error.
func (s *Service) Stop() error {
	s.stopped = true
	s.cancel()
	select {
	case err := <-s.done:
		return err
	case <-time.After(45 * time.Second):
		return fmt.Errorf("service did not stop within 45s")
	}
}

func (s *Service) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		select {
		case err := <-s.done:
			s.stopped = true
			return fmt.Errorf("service exited during start-up: %v", err)
		default:
		}
		resp, err := http.Get(s.URL + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, body)
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %s: %s", timeout, last)
}

// CheckLifecycle asserts what every service must do: become ready on real
// dependencies, expose /livez and Prometheus metrics, answer unknown routes with
// problem+json, stop cleanly on cancellation and free its port.
// extensions lists PostgreSQL extensions the service's migrations must have created.
func CheckLifecycle(t *testing.T, prefix string, run RunFunc, extensions ...string) {
	s := Start(t, prefix, run, nil)
	for _, ext := range append([]string{"plpgsql"}, extensions...) {
		var ok bool
		if err := s.DB.QueryRow(context.Background(), "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = $1)", ext).Scan(&ok); err != nil || !ok {
			t.Errorf("extension %s not installed by the service's migrations (err %v)", ext, err)
		}
	}

	get := func(path string) (int, string, string) {
		t.Helper()
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	if code, _, body := get("/livez"); code != http.StatusOK {
		t.Fatalf("/livez = %d %s", code, body)
	}
	if code, ct, _ := get("/no-such-route"); code != http.StatusNotFound || !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("unknown route = %d %s, want 404 problem+json", code, ct)
	}
	code, _, metrics := get("/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{"http_requests_total", "go_goroutines", "process_resident_memory_bytes"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	if err := s.Stop(); err != nil {
		t.Fatalf("graceful stop returned %v", err)
	}
	ln, err := net.Listen("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatalf("port still held after stop: %v", err)
	}
	ln.Close()
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Logs returns everything the service has logged so far.
func (s *Service) Logs() string {
	s.logs.mu.Lock()
	defer s.logs.mu.Unlock()
	return s.logs.buf.String()
}

// testWriter sends service logs to the test log (shown on failure or -v) and keeps
// a copy for assertions.
type testWriter struct {
	t   testing.TB
	mu  sync.Mutex
	buf strings.Builder
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.buf.Write(p)
	w.mu.Unlock()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
