package idempotency_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mobilitycorp/platform/pkg/auth"
	"github.com/mobilitycorp/platform/pkg/httpx/problem"
	"github.com/mobilitycorp/platform/pkg/idempotency"
	"github.com/mobilitycorp/platform/pkg/postgres/pgtest"
)

// rentals is the handler under the middleware: it counts its runs and answers with
// the run number in the body, Location and an X- header, so a replay is
// distinguishable from a second run. X-Test-Status picks the status.
type rentals struct {
	runs    atomic.Int64
	started chan struct{} // when set, signalled on entry
	release chan struct{} // when set, awaited before answering
}

func (h *rentals) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := h.runs.Add(1)
	if h.started != nil {
		h.started <- struct{}{}
	}
	if h.release != nil {
		<-h.release
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	status := http.StatusCreated
	if s := r.Header.Get("X-Test-Status"); s != "" {
		status, _ = strconv.Atoi(s)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Location", fmt.Sprintf("/rentals/%d", n))
	w.Header().Set("X-Rental-Version", strconv.FormatInt(n, 10))
	w.Header().Set("X-Request-Id", fmt.Sprintf("req-%d", n))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, `{"run":%d,"body":%q}`, n, body)
}

type call struct {
	method    string // default POST
	path      string // default /rentals
	keys      []string
	body      string
	principal string // subject; "" is anonymous
	status    int    // status the handler answers with; default 201
}

func (c call) request(ctx context.Context) *http.Request {
	method, path := c.method, c.path
	if method == "" {
		method = http.MethodPost
	}
	if path == "" {
		path = "/rentals"
	}
	req := httptest.NewRequestWithContext(ctx, method, path, strings.NewReader(c.body))
	for _, k := range c.keys {
		req.Header.Add(idempotency.KeyHeader, k)
	}
	if c.status != 0 {
		req.Header.Set("X-Test-Status", strconv.Itoa(c.status))
	}
	if c.principal != "" {
		req = req.WithContext(auth.WithPrincipal(req.Context(), auth.Principal{Subject: c.principal, Roles: []auth.Role{auth.RoleCustomer}}))
	}
	return req
}

func serve(t *testing.T, h http.Handler, c call) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, c.request(t.Context()))
	return rec
}

func key(k string) []string { return []string{k} }

type expect struct {
	status   int
	problem  string // problem type slug, for middleware answers
	replayOf int    // 1-based index of the earlier step whose response this must equal; 0 = fresh
	runs     int64  // handler runs so far
}

type step struct {
	call   call
	before func(t *testing.T, pool *pgxpool.Pool) // e.g. age a record
	want   expect
}

func exec(t *testing.T, pool *pgxpool.Pool, sql string) {
	t.Helper()
	tag, err := pool.Exec(t.Context(), sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	if tag.RowsAffected() == 0 {
		t.Fatalf("%s: no rows", sql)
	}
}

func TestMiddleware(t *testing.T) {
	t.Parallel()
	created := http.StatusCreated
	long := strings.Repeat("k", 256)

	tests := []struct {
		name  string
		opts  idempotency.Options
		steps []step
	}{
		{name: "replay returns the first response", steps: []step{
			{call: call{keys: key("k1"), body: `{"vehicle":"v1"}`}, want: expect{status: created, runs: 1}},
			{call: call{keys: key("k1"), body: `{"vehicle":"v1"}`}, want: expect{status: created, replayOf: 1, runs: 1}},
			{call: call{keys: key("k1"), body: `{"vehicle":"v1"}`}, want: expect{status: created, replayOf: 1, runs: 1}},
		}},
		{name: "quoted and bare key are the same key", steps: []step{
			{call: call{keys: key(`"k1"`), body: "a"}, want: expect{status: created, runs: 1}},
			{call: call{keys: key("k1"), body: "a"}, want: expect{status: created, replayOf: 1, runs: 1}},
		}},
		{name: "same key different body is rejected", steps: []step{
			{call: call{keys: key("k1"), body: `{"vehicle":"v1"}`}, want: expect{status: created, runs: 1}},
			{call: call{keys: key("k1"), body: `{"vehicle":"v2"}`}, want: expect{status: 422, problem: "idempotency-key-mismatch", runs: 1}},
			{call: call{keys: key("k1"), body: `{"vehicle":"v1"}`}, want: expect{status: created, replayOf: 1, runs: 1}},
		}},
		{name: "same key different path is rejected", steps: []step{
			{call: call{keys: key("k1"), body: "a"}, want: expect{status: created, runs: 1}},
			{call: call{path: "/rentals/7/end", keys: key("k1"), body: "a"}, want: expect{status: 422, problem: "idempotency-key-mismatch", runs: 1}},
			{call: call{path: "/rentals?dry_run=true", keys: key("k1"), body: "a"}, want: expect{status: 422, problem: "idempotency-key-mismatch", runs: 1}},
			{call: call{method: http.MethodPatch, keys: key("k1"), body: "a"}, want: expect{status: 422, problem: "idempotency-key-mismatch", runs: 1}},
		}},
		{name: "server error is not stored", steps: []step{
			{call: call{keys: key("k1"), body: "a", status: 503}, want: expect{status: 503, runs: 1}},
			{call: call{keys: key("k1"), body: "a", status: 500}, want: expect{status: 500, runs: 2}},
			{call: call{keys: key("k1"), body: "a"}, want: expect{status: created, runs: 3}},
			{call: call{keys: key("k1"), body: "a"}, want: expect{status: created, replayOf: 3, runs: 3}},
		}},
		{name: "client error is final and replayed", steps: []step{
			{call: call{keys: key("k1"), body: "a", status: 409}, want: expect{status: 409, runs: 1}},
			{call: call{keys: key("k1"), body: "a"}, want: expect{status: 409, replayOf: 1, runs: 1}},
		}},
		{name: "different principals never collide", steps: []step{
			{call: call{keys: key("k1"), body: "a", principal: "alice"}, want: expect{status: created, runs: 1}},
			{call: call{keys: key("k1"), body: "a", principal: "bob"}, want: expect{status: created, runs: 2}},
			{call: call{keys: key("k1"), body: "a"}, want: expect{status: created, runs: 3}},
			{call: call{keys: key("k1"), body: "a", principal: "bob"}, want: expect{status: created, replayOf: 2, runs: 3}},
			{call: call{keys: key("k1"), body: "a", principal: "alice"}, want: expect{status: created, replayOf: 1, runs: 3}},
		}},
		{name: "expired record is treated as absent", steps: []step{
			{call: call{keys: key("k1"), body: "a"}, want: expect{status: created, runs: 1}},
			{call: call{keys: key("k1"), body: "different"}, want: expect{status: created, runs: 2},
				before: func(t *testing.T, pool *pgxpool.Pool) {
					exec(t, pool, `UPDATE idempotency_keys SET expires_at = now() - interval '1 second'`)
				}},
			{call: call{keys: key("k1"), body: "different"}, want: expect{status: created, replayOf: 2, runs: 2}},
		}},
		{name: "abandoned lock with another body is still a mismatch", steps: []step{
			{call: call{keys: key("k1"), body: "a"}, want: expect{status: 422, problem: "idempotency-key-mismatch", runs: 0},
				before: func(t *testing.T, pool *pgxpool.Pool) {
					exec(t, pool, `INSERT INTO idempotency_keys (scope, key, method, path, request_hash, state, locked_until, expires_at)
						VALUES ('anonymous', 'k1', 'POST', '/rentals', '\x00', 'in_progress', now() - interval '1 minute', now() + interval '1 hour')`)
				}},
		}},
		{name: "missing key with Required", opts: idempotency.Options{Required: true}, steps: []step{
			{call: call{body: "a"}, want: expect{status: 400, problem: "idempotency-key-missing", runs: 0}},
		}},
		{name: "missing key when optional passes through", steps: []step{
			{call: call{body: "a"}, want: expect{status: created, runs: 1}},
			{call: call{body: "a"}, want: expect{status: created, runs: 2}},
		}},
		{name: "invalid keys", steps: []step{
			{call: call{keys: key(long), body: "a"}, want: expect{status: 400, problem: "idempotency-key-invalid"}},
			{call: call{keys: key(`""`), body: "a"}, want: expect{status: 400, problem: "idempotency-key-invalid"}},
			{call: call{keys: key("schlüssel"), body: "a"}, want: expect{status: 400, problem: "idempotency-key-invalid"}},
			{call: call{keys: key("tab\tkey"), body: "a"}, want: expect{status: 400, problem: "idempotency-key-invalid"}},
			{call: call{keys: key(`"unterminated`), body: "a"}, want: expect{status: 400, problem: "idempotency-key-invalid"}},
			{call: call{keys: []string{"k1", "k2"}, body: "a"}, want: expect{status: 400, problem: "idempotency-key-invalid"}},
			{call: call{keys: key(strings.Repeat("k", 255)), body: "a"}, want: expect{status: created, runs: 1}},
		}},
		{name: "GET passes through untouched", steps: []step{
			{call: call{method: http.MethodGet, keys: key("k1")}, want: expect{status: created, runs: 1}},
			{call: call{method: http.MethodGet, keys: key("k1")}, want: expect{status: created, runs: 2}},
			{call: call{method: http.MethodGet, keys: key(long)}, want: expect{status: created, runs: 3}},
		}},
		{name: "PUT is not a default method", steps: []step{
			{call: call{method: http.MethodPut, keys: key("k1"), body: "a"}, want: expect{status: created, runs: 1}},
			{call: call{method: http.MethodPut, keys: key("k1"), body: "a"}, want: expect{status: created, runs: 2}},
		}},
		{name: "configured methods", opts: idempotency.Options{Methods: []string{"put"}}, steps: []step{
			{call: call{method: http.MethodPut, keys: key("k1"), body: "a"}, want: expect{status: created, runs: 1}},
			{call: call{method: http.MethodPut, keys: key("k1"), body: "a"}, want: expect{status: created, replayOf: 1, runs: 1}},
			{call: call{keys: key("k2"), body: "a"}, want: expect{status: created, runs: 2}},
			{call: call{keys: key("k2"), body: "a"}, want: expect{status: created, runs: 3}},
		}},
		{name: "body over the limit", opts: idempotency.Options{MaxBodyBytes: 8}, steps: []step{
			{call: call{keys: key("k1"), body: "123456789"}, want: expect{status: 413, problem: "payload-too-large"}},
			{call: call{keys: key("k1"), body: "12345678"}, want: expect{status: created, runs: 1}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pool := pgtest.New(t)
			h := &rentals{}
			mw := idempotency.Middleware(pool, tc.opts)(h)
			var got []*httptest.ResponseRecorder
			for i, s := range tc.steps {
				if s.before != nil {
					s.before(t, pool)
				}
				rec := serve(t, mw, s.call)
				got = append(got, rec)
				checkStep(t, i+1, rec, s.call, s.want, got)
				if n := h.runs.Load(); n != s.want.runs {
					t.Fatalf("step %d: handler ran %d times, want %d", i+1, n, s.want.runs)
				}
			}
		})
	}
}

func checkStep(t *testing.T, n int, rec *httptest.ResponseRecorder, c call, w expect, got []*httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code != w.status {
		t.Fatalf("step %d: status = %d, want %d (body %s)", n, rec.Code, w.status, rec.Body)
	}
	replayed := rec.Header().Get(idempotency.ReplayedHeader)
	switch {
	case w.problem != "":
		checkProblem(t, rec, w.status, w.problem)
	case w.replayOf != 0:
		if replayed != "true" {
			t.Fatalf("step %d: %s = %q, want true", n, idempotency.ReplayedHeader, replayed)
		}
		first := got[w.replayOf-1]
		if first.Code != rec.Code || first.Body.String() != rec.Body.String() {
			t.Fatalf("step %d: replay %d %s, first %d %s", n, rec.Code, rec.Body, first.Code, first.Body)
		}
		for _, hk := range []string{"Location", "Content-Type", "X-Rental-Version"} {
			if a, b := first.Header().Get(hk), rec.Header().Get(hk); a == "" || a != b {
				t.Fatalf("step %d: replayed %s = %q, first %q", n, hk, b, a)
			}
		}
		for _, hk := range []string{"X-Request-Id", "Cache-Control"} {
			if v := rec.Header().Get(hk); v != "" {
				t.Fatalf("step %d: %s = %q must not be replayed", n, hk, v)
			}
		}
	default:
		if replayed != "" {
			t.Fatalf("step %d: fresh response marked replayed", n)
		}
		// A fresh response comes from this run of the handler.
		if want := fmt.Sprintf(`"body":%q`, c.body); !strings.Contains(rec.Body.String(), want) {
			t.Fatalf("step %d: body %s does not echo %s", n, rec.Body, want)
		}
	}
}

func checkProblem(t *testing.T, rec *httptest.ResponseRecorder, status int, slug string) {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != problem.ContentType {
		t.Fatalf("Content-Type = %q, want %q", ct, problem.ContentType)
	}
	var p problem.Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("decode problem %s: %v", rec.Body, err)
	}
	if p.Status != status || p.Type != problem.TypePrefix+slug {
		t.Fatalf("problem = %+v, want %d %s", p, status, slug)
	}
}

func rows(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM idempotency_keys`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// inFlight runs c in the background and returns a wait function for its response.
func inFlight(t *testing.T, h http.Handler, c call) func() *httptest.ResponseRecorder {
	var wg sync.WaitGroup
	rec := httptest.NewRecorder()
	req := c.request(context.WithoutCancel(t.Context()))
	wg.Go(func() { h.ServeHTTP(rec, req) })
	return func() *httptest.ResponseRecorder {
		wg.Wait()
		return rec
	}
}

func TestConcurrentDuplicateConflictsThenReplays(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	h := &rentals{started: make(chan struct{}, 1), release: make(chan struct{})}
	mw := idempotency.Middleware(pool, idempotency.Options{})
	c := call{keys: key("k1"), body: `{"vehicle":"v1"}`, principal: "alice"}

	wait := inFlight(t, mw(h), c)
	unblock := sync.OnceFunc(func() { close(h.release) })
	t.Cleanup(func() { unblock(); _ = wait() }) // never leave the first request running
	<-h.started

	dup := serve(t, mw(h), c)
	if dup.Code != http.StatusConflict || dup.Header().Get("Retry-After") == "" {
		t.Fatalf("duplicate: %d Retry-After %q", dup.Code, dup.Header().Get("Retry-After"))
	}
	checkProblem(t, dup, http.StatusConflict, "idempotency-key-in-use")
	if n := h.runs.Load(); n != 1 {
		t.Fatalf("handler ran %d times during the duplicate, want 1", n)
	}

	unblock()
	first := wait()
	if first.Code != http.StatusCreated {
		t.Fatalf("first: %d %s", first.Code, first.Body)
	}
	again := serve(t, mw(h), c)
	if again.Code != first.Code || again.Body.String() != first.Body.String() ||
		again.Header().Get("Location") != first.Header().Get("Location") ||
		again.Header().Get(idempotency.ReplayedHeader) != "true" {
		t.Fatalf("retry after completion: %d %v %s; first %d %v %s",
			again.Code, again.Header(), again.Body, first.Code, first.Header(), first.Body)
	}
	if n := h.runs.Load(); n != 1 {
		t.Fatalf("handler ran %d times, want 1", n)
	}
}

// Simultaneous first uses of a key race in the database: exactly one runs.
func TestSimultaneousFirstRequestsRunOnce(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	h := &rentals{started: make(chan struct{}, 1), release: make(chan struct{})}
	mw := idempotency.Middleware(pool, idempotency.Options{})(h)
	const n = 8
	results := make(chan *httptest.ResponseRecorder, n)
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	unblock := sync.OnceFunc(func() { close(h.release) })
	t.Cleanup(unblock) // runs first: a failing test must not leave the winner blocked
	for range n {
		req := call{keys: key("k1"), body: "a"}.request(context.WithoutCancel(t.Context()))
		wg.Go(func() {
			rec := httptest.NewRecorder()
			mw.ServeHTTP(rec, req)
			results <- rec
		})
	}
	// The winner blocks in the handler, so the first n-1 answers are the losers'.
	for range n - 1 {
		if rec := <-results; rec.Code != http.StatusConflict {
			t.Fatalf("loser: %d %s, want 409", rec.Code, rec.Body)
		}
	}
	unblock()
	if rec := <-results; rec.Code != http.StatusCreated {
		t.Fatalf("winner: %d", rec.Code)
	}
	if runs := h.runs.Load(); runs != 1 {
		t.Fatalf("handler ran %d times, want 1", runs)
	}
}

// A request whose lock expired (its instance hung or died) is taken over. If the
// original still finishes, whatever its outcome, it must not touch the successor's
// record: the lock's locked_until fences it out.
func TestAbandonedLockIsTakenOver(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		originalStatus int
		log            string
	}{
		{"original succeeds late", http.StatusCreated, "lock lost"},
		{"original fails late", http.StatusInternalServerError, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pool := pgtest.New(t)
			var logs strings.Builder
			mw := idempotency.Middleware(pool, idempotency.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			c := call{keys: key("k1"), body: "a"}
			original := &rentals{started: make(chan struct{}, 1), release: make(chan struct{})}
			successor := &rentals{started: make(chan struct{}, 1), release: make(chan struct{})}
			other := &rentals{}

			oc := c
			oc.status = tc.originalStatus // not part of the fingerprint
			waitOriginal := inFlight(t, mw(original), oc)
			unblockOriginal := sync.OnceFunc(func() { close(original.release) })
			t.Cleanup(func() { unblockOriginal(); _ = waitOriginal() })
			<-original.started

			if rec := serve(t, mw(other), c); rec.Code != http.StatusConflict {
				t.Fatalf("while the lock is held: %d, want 409", rec.Code)
			}
			exec(t, pool, `UPDATE idempotency_keys SET locked_until = now() - interval '1 second'`)

			waitSuccessor := inFlight(t, mw(successor), c)
			unblockSuccessor := sync.OnceFunc(func() { close(successor.release) })
			t.Cleanup(func() { unblockSuccessor(); _ = waitSuccessor() })
			<-successor.started // took over: it runs although the record exists

			unblockOriginal()
			if rec := waitOriginal(); rec.Code != tc.originalStatus {
				t.Fatalf("original: %d, want %d", rec.Code, tc.originalStatus)
			}
			if !strings.Contains(logs.String(), tc.log) {
				t.Fatalf("log %q lacks %q", logs.String(), tc.log)
			}
			// The successor still holds the key: the original neither completed nor deleted it.
			if rec := serve(t, mw(other), c); rec.Code != http.StatusConflict {
				t.Fatalf("after the original finished: %d %s, want 409", rec.Code, rec.Body)
			}

			unblockSuccessor()
			took := waitSuccessor()
			if took.Code != http.StatusCreated || took.Header().Get(idempotency.ReplayedHeader) != "" {
				t.Fatalf("successor: %d replayed=%q", took.Code, took.Header().Get(idempotency.ReplayedHeader))
			}
			replay := serve(t, mw(other), c)
			if replay.Body.String() != took.Body.String() || replay.Header().Get(idempotency.ReplayedHeader) != "true" {
				t.Fatalf("replay %s, want the successor's %s", replay.Body, took.Body)
			}
			if other.runs.Load() != 0 {
				t.Fatalf("the conflicting requests ran the handler %d times", other.runs.Load())
			}
		})
	}
}

func TestPanicReleasesKey(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	var runs atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if runs.Add(1) == 1 {
			panic("boom")
		}
		w.WriteHeader(http.StatusCreated)
	})
	mw := idempotency.Middleware(pool, idempotency.Options{})(h)
	c := call{keys: key("k1"), body: "a"}

	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Fatalf("recovered %v, want the handler's panic", p)
			}
		}()
		serve(t, mw, c)
		t.Fatal("the panic did not propagate")
	}()
	if n := rows(t, pool); n != 0 {
		t.Fatalf("%d records left after a panic, want 0", n)
	}
	if rec := serve(t, mw, c); rec.Code != http.StatusCreated || runs.Load() != 2 {
		t.Fatalf("retry after panic: %d, runs %d", rec.Code, runs.Load())
	}
}

func TestEmptyResponseIsReplayed(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	var runs atomic.Int64
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { runs.Add(1) })
	mw := idempotency.Middleware(pool, idempotency.Options{})(h)
	c := call{keys: key("k1")}
	for i := range 2 {
		rec := serve(t, mw, c)
		if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
			t.Fatalf("call %d: %d %q", i, rec.Code, rec.Body)
		}
		if want := map[bool]string{false: "", true: "true"}[i > 0]; rec.Header().Get(idempotency.ReplayedHeader) != want {
			t.Fatalf("call %d: replayed = %q, want %q", i, rec.Header().Get(idempotency.ReplayedHeader), want)
		}
	}
	if runs.Load() != 1 {
		t.Fatalf("handler ran %d times, want 1", runs.Load())
	}
}

func TestStoreUnavailableDoesNotRunHandler(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	h := &rentals{}
	mw := idempotency.Middleware(pool, idempotency.Options{Logger: slog.New(slog.DiscardHandler)})(h)
	pool.Close()
	rec := serve(t, mw, call{keys: key("k1"), body: "a"})
	checkProblem(t, rec, http.StatusServiceUnavailable, "idempotency-unavailable")
	if h.runs.Load() != 0 {
		t.Fatal("handler ran without the duplicate check")
	}
}

func TestPurge(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	mw := idempotency.Middleware(pool, idempotency.Options{})(&rentals{})
	for _, k := range []string{"old-1", "old-2", "fresh"} {
		if rec := serve(t, mw, call{keys: key(k), body: "a"}); rec.Code != http.StatusCreated {
			t.Fatalf("%s: %d", k, rec.Code)
		}
	}
	exec(t, pool, `UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key LIKE 'old-%'`)

	n, err := idempotency.Purge(t.Context(), pool)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("purged %d, want 2", n)
	}
	var left string
	if err := pool.QueryRow(t.Context(), `SELECT string_agg(key, ',') FROM idempotency_keys`).Scan(&left); err != nil || left != "fresh" {
		t.Fatalf("left %q (err %v), want fresh", left, err)
	}
}
