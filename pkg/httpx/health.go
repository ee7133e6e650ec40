package httpx

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/mobilitycorp/platform/pkg/httpx/problem"
	"github.com/mobilitycorp/platform/pkg/observability"
)

// readyTimeout bounds one readiness evaluation; probes time out not much later.
const readyTimeout = 2 * time.Second

// Health answers liveness and readiness probes. Liveness only says the process serves
// HTTP; readiness runs the registered dependency checks and fails while draining.
type Health struct {
	mu       sync.RWMutex
	checks   map[string]func(context.Context) error
	draining atomic.Bool
}

// NewHealth returns a Health with no checks: ready until SetDraining.
func NewHealth() *Health {
	return &Health{checks: map[string]func(context.Context) error{}}
}

// AddCheck registers a readiness check; a later check with the same name replaces it.
// Checks run concurrently and must return once ctx is done.
func (h *Health) AddCheck(name string, check func(ctx context.Context) error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks[name] = check
}

// SetDraining makes readiness fail from now on, so load balancers stop sending traffic
// while in-flight requests finish. Serve calls it when shutdown starts.
func (h *Health) SetDraining() { h.draining.Store(true) }

// ServeLive answers GET /livez.
func (h *Health) ServeLive(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// ServeReady answers GET /readyz: 200 with every check "ok", or a 503 problem whose
// "checks" member gives each check's result.
func (h *Health) ServeReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if h.draining.Load() {
		problem.Write(w, r, problem.New(http.StatusServiceUnavailable, "not-ready", "Service not ready",
			"shutting down").With("draining", true))
		return
	}
	results, failed := h.run(r.Context())
	if failed > 0 {
		problem.Write(w, r, problem.New(http.StatusServiceUnavailable, "not-ready", "Service not ready",
			fmt.Sprintf("%d of %d checks failed", failed, len(results))).With("checks", results))
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"status": "ready", "checks": results})
}

// run executes every check under one deadline and waits for all of them.
func (h *Health) run(ctx context.Context) (results map[string]string, failed int) {
	h.mu.RLock()
	checks := make(map[string]func(context.Context) error, len(h.checks))
	for name, c := range h.checks {
		checks[name] = c
	}
	h.mu.RUnlock()

	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	results = make(map[string]string, len(checks))
	for name, check := range checks {
		wg.Go(func() {
			err := runCheck(ctx, check)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				results[name] = err.Error()
				failed++
				return
			}
			results[name] = "ok"
		})
	}
	wg.Wait()
	return results, failed
}

// runCheck turns a panicking check into a failure instead of a crashed process.
func runCheck(ctx context.Context, check func(context.Context) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("check panicked: %v", v)
		}
	}()
	if err := check(ctx); err != nil {
		return err
	}
	// A check that ignored the deadline and succeeded late still made the probe slow.
	if ctx.Err() != nil {
		return fmt.Errorf("check exceeded %s: %w", readyTimeout, ctx.Err())
	}
	return nil
}

// Mount adds GET /livez, /readyz and /metrics to r.
func Mount(r chi.Router, h *Health, t *observability.Telemetry) {
	r.Get("/livez", h.ServeLive)
	r.Get("/readyz", h.ServeReady)
	r.Method(http.MethodGet, "/metrics", t.MetricsHandler())
}
