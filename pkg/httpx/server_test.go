package httpx_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mobilitycorp/platform/pkg/config"
	"github.com/mobilitycorp/platform/pkg/httpx"
	"github.com/mobilitycorp/platform/pkg/httpx/problem"
)

func TestConfig(t *testing.T) {
	type svcConfig struct {
		HTTP httpx.Config
	}
	tests := []struct {
		name    string
		env     map[string]string
		check   func(t *testing.T, c httpx.Config)
		wantErr string
	}{
		{name: "service address survives defaults", env: map[string]string{}, check: func(t *testing.T, c httpx.Config) {
			if c != httpx.DefaultConfig("127.0.0.1:8081") {
				t.Fatalf("got %+v, want DefaultConfig", c)
			}
		}},
		{name: "env overrides", env: map[string]string{"SVC_HTTP_ADDR": ":9000", "SVC_HTTP_REQUEST_TIMEOUT": "2s", "SVC_HTTP_MAX_BODY_BYTES": "10"},
			check: func(t *testing.T, c httpx.Config) {
				if c.Addr != ":9000" || c.RequestTimeout != 2*time.Second || c.MaxBodyBytes != 10 || c.WriteTimeout != 30*time.Second {
					t.Fatalf("got %+v", c)
				}
			}},
		{name: "request timeout must undercut write timeout", env: map[string]string{"SVC_HTTP_REQUEST_TIMEOUT": "30s"}, wantErr: "must be shorter than HTTP_WRITE_TIMEOUT"},
		{name: "non-positive body limit", env: map[string]string{"SVC_HTTP_MAX_BODY_BYTES": "0"}, wantErr: "HTTP_MAX_BODY_BYTES"},
		{name: "negative drain delay", env: map[string]string{"SVC_HTTP_DRAIN_DELAY": "-1s"}, wantErr: "HTTP_DRAIN_DELAY"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := svcConfig{HTTP: httpx.DefaultConfig("127.0.0.1:8081")}
			err := config.LoadFrom("SVC_", tc.env, &cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, cfg.HTTP)
		})
	}
}

func TestConfigRequiresAddr(t *testing.T) {
	if err := (httpx.Config{}).Validate(); err == nil || !strings.Contains(err.Error(), "HTTP_ADDR is required") {
		t.Fatalf("err = %v", err)
	}
}

// testConfig keeps server timeouts generous; the tests below wait on events, not clocks.
func testConfig() httpx.Config { return httpx.DefaultConfig("127.0.0.1:0") }

// startServer runs ServeListener in the background and returns its address and result.
// Every test waits for the result, so the goroutine never outlives it.
func startServer(ctx context.Context, t *testing.T, f *fixture, cfg httpx.Config, health *httpx.Health) (string, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- httpx.ServeListener(ctx, ln, cfg, f.router, health, f.logger) }()
	return ln.Addr().String(), done
}

func TestServeShutsDownGracefully(t *testing.T) {
	f := newFixture(t)
	started, release := make(chan struct{}), make(chan struct{})
	f.router.Get("/v1/slow", func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		// Shutdown must not cancel in-flight work: the request context is still live.
		if err := r.Context().Err(); err != nil {
			problem.WriteError(w, r, err)
			return
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"trip": "finished"})
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, done := startServer(ctx, t, f, testConfig(), f.health)

	type response struct {
		status int
		body   string
		err    error
	}
	respc := make(chan response, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/v1/slow")
		if err != nil {
			respc <- response{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		respc <- response{resp.StatusCode, string(b), err}
	}()
	<-started
	cancel()

	// Shutdown has begun once readiness fails and the listener refuses connections.
	eventually(t, "readiness to fail", func() bool {
		rec := httptest.NewRecorder()
		f.health.ServeReady(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec.Code == http.StatusServiceUnavailable
	})
	eventually(t, "the listener to close", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-done:
		t.Fatalf("Serve returned %v while a request was in flight", err)
	default:
	}

	close(release)
	got := <-respc
	if got.err != nil || got.status != http.StatusOK || !strings.Contains(got.body, "finished") {
		t.Fatalf("in-flight request: %+v, want it completed", got)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve = %v, want nil after clean shutdown", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("port not free after Serve returned: %v", err)
	}
	ln.Close()
}

func TestServeShutdownTimeoutCutsOffStuckRequests(t *testing.T) {
	f := newFixture(t)
	started, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	f.router.Get("/v1/stuck", func(http.ResponseWriter, *http.Request) {
		close(started)
		<-release
	})
	cfg := testConfig()
	cfg.ShutdownTimeout = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	addr, done := startServer(ctx, t, f, cfg, nil)

	errc := make(chan error, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/v1/stuck")
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-started
	cancel()
	if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Serve = %v, want the shutdown deadline error", err)
	}
	if err := <-errc; err == nil {
		t.Fatal("stuck request got a response; want its connection closed")
	}
}

func TestServeListenErrorReturnsImmediately(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	f := newFixture(t)
	cfg := httpx.DefaultConfig(busy.Addr().String())

	// ctx is never cancelled: only an immediate listen error lets Serve return.
	err = httpx.Serve(context.Background(), cfg, f.router, f.health, f.logger)
	if err == nil || !strings.Contains(err.Error(), "listen on "+busy.Addr().String()) {
		t.Fatalf("err = %v, want a listen error", err)
	}
}

func TestServeOnConfiguredAddr(t *testing.T) {
	// Find a free port, then let Serve bind it by address as a service would.
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := probe.Addr().String()
	probe.Close()

	f := newFixture(t)
	cfg := httpx.DefaultConfig(addr)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- httpx.Serve(ctx, cfg, f.router, f.health, f.logger) }()

	var resp *http.Response
	eventually(t, "the server to answer /livez", func() bool {
		resp, err = http.Get("http://" + addr + "/livez")
		return err == nil
	})
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("livez %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve = %v", err)
	}
	if logs := f.logs.records(t, "http server stopped"); len(logs) != 1 {
		t.Fatal("no shutdown log line")
	}
}
