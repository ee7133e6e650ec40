package httpx_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mobilitycorp/platform/pkg/httpx/problem"
)

func TestLivez(t *testing.T) {
	f := newFixture(t)
	f.health.AddCheck("postgres", func(context.Context) error { return errors.New("down") })
	f.health.SetDraining()
	rec := f.do(httptest.NewRequest(http.MethodGet, "/livez", nil))
	// Liveness ignores dependencies and draining: restarting would not fix either.
	if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != `{"status":"ok"}` {
		t.Fatalf("livez %d %s", rec.Code, rec.Body)
	}
}

func TestReadyz(t *testing.T) {
	ok := func(context.Context) error { return nil }
	tests := []struct {
		name       string
		checks     map[string]func(context.Context) error
		drain      bool
		wantStatus int
		wantChecks map[string]string // substring of each check's result
	}{
		{name: "no checks", wantStatus: 200, wantChecks: map[string]string{}},
		{name: "all pass", checks: map[string]func(context.Context) error{"postgres": ok, "redis": ok},
			wantStatus: 200, wantChecks: map[string]string{"postgres": "ok", "redis": "ok"}},
		{name: "one fails", checks: map[string]func(context.Context) error{
			"postgres": ok,
			"redis":    func(context.Context) error { return errors.New("dial tcp 10.0.0.5:6379: connection refused") },
		}, wantStatus: 503, wantChecks: map[string]string{"postgres": "ok", "redis": "connection refused"}},
		{name: "panicking check fails instead of crashing", checks: map[string]func(context.Context) error{
			"kafka": func(context.Context) error { panic("nil client") },
		}, wantStatus: 503, wantChecks: map[string]string{"kafka": "check panicked: nil client"}},
		{name: "draining", checks: map[string]func(context.Context) error{"postgres": ok}, drain: true, wantStatus: 503},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			for name, c := range tc.checks {
				f.health.AddCheck(name, c)
			}
			if tc.drain {
				f.health.SetDraining()
			}
			rec := f.do(httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.wantStatus, rec.Body)
			}
			var body struct {
				Status   any               `json:"status"`
				Type     string            `json:"type"`
				Checks   map[string]string `json:"checks"`
				Draining bool              `json:"draining"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.wantStatus == 200 && body.Status != "ready":
				t.Fatalf("status member %q, want ready", body.Status)
			case tc.wantStatus == 503:
				problemBody(t, rec.Header(), rec.Body.Bytes())
				if body.Type != problem.TypePrefix+"not-ready" {
					t.Fatalf("type %q", body.Type)
				}
			}
			if tc.drain {
				if !body.Draining {
					t.Fatalf("draining not reported: %s", rec.Body)
				}
				return
			}
			if len(body.Checks) != len(tc.wantChecks) {
				t.Fatalf("checks %v, want %v", body.Checks, tc.wantChecks)
			}
			for name, want := range tc.wantChecks {
				if !strings.Contains(body.Checks[name], want) {
					t.Fatalf("check %s = %q, want containing %q", name, body.Checks[name], want)
				}
			}
		})
	}
}

func TestReadyzChecksRunConcurrentlyUnderADeadline(t *testing.T) {
	f := newFixture(t)
	// Each check waits for the other to start: sequential execution would deadlock
	// until the deadline and report both as failed.
	aStarted, bStarted := make(chan struct{}), make(chan struct{})
	wait := func(mine, other chan struct{}) func(context.Context) error {
		return func(ctx context.Context) error {
			close(mine)
			if _, ok := ctx.Deadline(); !ok {
				return errors.New("no deadline on check context")
			}
			select {
			case <-other:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	f.health.AddCheck("a", wait(aStarted, bStarted))
	f.health.AddCheck("b", wait(bStarted, aStarted))
	if rec := f.do(httptest.NewRequest(http.MethodGet, "/readyz", nil)); rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
}
