package app_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mobilitycorp/platform/pkg/postgres/pgtest"
	pg "github.com/mobilitycorp/platform/services/payments/internal/adapters/postgres"
	"github.com/mobilitycorp/platform/services/payments/internal/adapters/sandbox"
	"github.com/mobilitycorp/platform/services/payments/internal/app"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
	"github.com/mobilitycorp/platform/services/payments/migrations"
)

func rcEUR(minor int64) domain.Money { return domain.Money{AmountMinor: minor, Currency: "EUR"} }

// rcClock is a settable clock, safe for concurrent use.
type rcClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *rcClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *rcClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// rcLog is a goroutine-safe log buffer.
type rcLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *rcLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *rcLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// rcRig is a reconciler on a fresh database and the sandbox, with a fixed clock.
type rcRig struct {
	t     *testing.T
	ctx   context.Context
	pool  *pgxpool.Pool
	store *pg.Reconciliation
	gw    *sandbox.Gateway
	clock *rcClock
	reg   *prometheus.Registry
	log   *rcLog
	rec   *app.Reconciler
	cus   string
	n     int
}

var rcStart = time.Date(2030, 5, 17, 12, 0, 0, 0, time.UTC)

func newRCRig(t *testing.T, opts app.ReconcileOptions) *rcRig {
	t.Helper()
	r := &rcRig{t: t, ctx: t.Context(), pool: pgtest.New(t, migrations.Set()), gw: sandbox.New(sandbox.Options{}),
		clock: &rcClock{now: rcStart}, reg: prometheus.NewRegistry(), log: &rcLog{}}
	r.store = pg.NewReconciliation(r.pool)
	if opts.Now == nil {
		opts.Now = r.clock.Now
	}
	opts.Registerer = r.reg
	opts.Logger = slog.New(slog.NewTextHandler(r.log, nil))
	rec, err := app.NewReconciler(r.store, r.gw, opts)
	if err != nil {
		t.Fatal(err)
	}
	r.rec = rec
	if r.cus, err = r.gw.CreateCustomer(r.ctx, "cus", "rider@example.com", "Ada Rider"); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rcRig) ok(err error) {
	r.t.Helper()
	if err != nil {
		r.t.Fatal(err)
	}
}

// key is a fresh idempotency key.
func (r *rcRig) key(op string) string {
	r.n++
	return fmt.Sprintf("%s-%d", op, r.n)
}

// authorise places a hold on the sandbox as the flow would.
func (r *rcRig) authorise(pm string, amount int64) app.Intent {
	r.t.Helper()
	in, err := r.gw.Authorise(r.ctx, app.AuthoriseRequest{IdempotencyKey: r.key("auth"), CustomerRef: r.cus,
		PaymentMethod: pm, Amount: rcEUR(amount)})
	if err != nil && in.ID == "" {
		r.t.Fatalf("authorise %s: %v", pm, err)
	}
	return in
}

func (r *rcRig) capture(id string, amount int64) {
	r.t.Helper()
	_, err := r.gw.Capture(r.ctx, r.key("capture"), id, rcEUR(amount))
	r.ok(err)
}

func (r *rcRig) refund(id string, amount int64) {
	r.t.Helper()
	_, err := r.gw.Refund(r.ctx, r.key("refund"), id, rcEUR(amount), "")
	r.ok(err)
}

func (r *rcRig) cancel(id string) {
	r.t.Helper()
	_, err := r.gw.Cancel(r.ctx, r.key("cancel"), id)
	r.ok(err)
}

// rcPayment is a payments row as our books hold it.
type rcPayment struct {
	id             string
	status         domain.PaymentStatus
	intent         string
	held, captured int64
	refunded       int64
	updatedAgo     time.Duration // before rcStart; default 1h
}

func (r *rcRig) insert(p rcPayment) {
	r.t.Helper()
	if p.updatedAgo == 0 {
		p.updatedAgo = time.Hour
	}
	_, err := r.pool.Exec(r.ctx, `
		INSERT INTO payments (id, customer_id, trip_id, status, intent_id, held_minor, captured_minor,
			refunded_minor, currency, updated_at)
		VALUES ($1, 'c-1', $1, $2, $3, $4, $5, $6, 'EUR', $7)`,
		p.id, string(p.status), p.intent, p.held, p.captured, p.refunded, rcStart.Add(-p.updatedAgo))
	r.ok(err)
}

func (r *rcRig) exec(sql string, args ...any) {
	r.t.Helper()
	_, err := r.pool.Exec(r.ctx, sql, args...)
	r.ok(err)
}

// metric reads a gauge or counter by name and kind or status label ("" for none).
func (r *rcRig) metric(name, kind string) float64 {
	r.t.Helper()
	families, err := r.reg.Gather()
	r.ok(err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			match := kind == ""
			for _, l := range m.GetLabel() {
				if (l.GetName() == "kind" || l.GetName() == "status") && l.GetValue() == kind {
					match = true
				}
			}
			if !match {
				continue
			}
			switch {
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			}
		}
	}
	r.t.Fatalf("metric %s{%s} not found", name, kind)
	return 0
}

// TestReconcileFindsEveryMismatchKind builds consistent payments and one
// payment per mismatch kind (by acting on the sandbox behind our back, or
// editing our row), and checks that a run reports exactly the mismatches, stores
// them, counts them in the metrics and logs them.
func TestReconcileFindsEveryMismatchKind(t *testing.T) {
	r := newRCRig(t, app.ReconcileOptions{PageSize: 3}) // several pages
	type want struct {
		kind             app.MismatchKind
		ours, gateway    int64
		gwStatus         app.IntentStatus
		detailMentioning string
	}
	expect := map[string][]want{}

	// Consistent payments: nothing to report.
	in := r.authorise("pm_card_visa", 1000)
	r.capture(in.ID, 700) // partial: the released 300 is not a refund
	r.insert(rcPayment{id: "ok-captured", status: domain.PaymentCaptured, intent: in.ID, captured: 700})

	in = r.authorise("pm_card_visa", 1000)
	r.capture(in.ID, 800)
	r.refund(in.ID, 300)
	r.insert(rcPayment{id: "ok-refunded", status: domain.PaymentCaptured, intent: in.ID, captured: 800, refunded: 300})

	in = r.authorise("pm_card_visa", 1000)
	r.insert(rcPayment{id: "ok-authorised", status: domain.PaymentAuthorised, intent: in.ID, held: 1000})

	in = r.authorise("pm_card_visa", 1000)
	r.insert(rcPayment{id: "ok-capture-pending", status: domain.PaymentCapturePending, intent: in.ID, held: 1000})

	in = r.authorise("pm_card_visa", 1000)
	r.cancel(in.ID)
	r.insert(rcPayment{id: "ok-canceled", status: domain.PaymentCanceled, intent: in.ID})

	in = r.authorise("pm_card_chargeDeclined", 1000)
	r.insert(rcPayment{id: "ok-declined", status: domain.PaymentFailed, intent: in.ID, held: 1000})

	// Not compared: no intent, and none is due yet.
	r.insert(rcPayment{id: "ok-pending-no-intent", status: domain.PaymentPendingAuthorisation, held: 1000})
	// Outside the window: updated after its end (now − settle).
	in = r.authorise("pm_card_visa", 1000)
	r.insert(rcPayment{id: "late-captured-bogus", status: domain.PaymentCaptured, intent: in.ID, captured: 999, updatedAgo: time.Minute})

	// amount_captured: our row says 650, the gateway captured 700.
	in = r.authorise("pm_card_visa", 1000)
	r.capture(in.ID, 700)
	r.insert(rcPayment{id: "bad-captured", status: domain.PaymentCaptured, intent: in.ID, captured: 700})
	r.exec(`UPDATE payments SET captured_minor = 650 WHERE id = 'bad-captured'`)
	expect["bad-captured"] = []want{{kind: app.MismatchCaptured, ours: 650, gateway: 700, gwStatus: app.StatusSucceeded}}

	// amount_refunded: refunded at the gateway behind our back.
	in = r.authorise("pm_card_visa", 1000)
	r.capture(in.ID, 1000)
	r.insert(rcPayment{id: "bad-refunded", status: domain.PaymentCaptured, intent: in.ID, captured: 1000})
	r.refund(in.ID, 200)
	expect["bad-refunded"] = []want{{kind: app.MismatchRefunded, ours: 0, gateway: 200, gwStatus: app.StatusSucceeded}}

	// status: we hold funds, the gateway released them behind our back.
	in = r.authorise("pm_card_visa", 1000)
	r.insert(rcPayment{id: "bad-status-released", status: domain.PaymentAuthorised, intent: in.ID, held: 1000})
	r.cancel(in.ID)
	expect["bad-status-released"] = []want{{kind: app.MismatchStatus, gwStatus: app.StatusCanceled, detailMentioning: "canceled"}}

	// status: our row says captured, the gateway only holds the funds.
	in = r.authorise("pm_card_visa", 1000)
	r.insert(rcPayment{id: "bad-status-captured", status: domain.PaymentCaptured, intent: in.ID, captured: 1000})
	expect["bad-status-captured"] = []want{{kind: app.MismatchStatus, ours: 1000, gateway: 0, gwStatus: app.StatusRequiresCapture}}

	// status: we released the hold, the gateway still holds the funds.
	in = r.authorise("pm_card_visa", 1000)
	r.insert(rcPayment{id: "bad-status-still-held", status: domain.PaymentCanceled, intent: in.ID})
	expect["bad-status-still-held"] = []want{{kind: app.MismatchStatus, gwStatus: app.StatusRequiresCapture}}

	// intent_unknown: our row names an intent the gateway never issued.
	in = r.authorise("pm_card_visa", 1000)
	r.capture(in.ID, 500)
	r.insert(rcPayment{id: "bad-unknown", status: domain.PaymentCaptured, intent: in.ID, captured: 500})
	r.exec(`UPDATE payments SET intent_id = 'pi_nobodyknows' WHERE id = 'bad-unknown'`)
	expect["bad-unknown"] = []want{{kind: app.MismatchIntentUnknown, detailMentioning: "no such intent"}}

	// intent_unknown: captured without any intent recorded.
	r.insert(rcPayment{id: "bad-no-intent", status: domain.PaymentCaptured, captured: 500})
	expect["bad-no-intent"] = []want{{kind: app.MismatchIntentUnknown, detailMentioning: "no gateway intent"}}

	// capture_unrecorded: captured at the gateway behind our back.
	in = r.authorise("pm_card_visa", 1000)
	r.insert(rcPayment{id: "bad-unrecorded", status: domain.PaymentAuthorised, intent: in.ID, held: 1000})
	r.capture(in.ID, 900)
	expect["bad-unrecorded"] = []want{{kind: app.MismatchCaptureUnrecorded, ours: 0, gateway: 900, gwStatus: app.StatusSucceeded}}

	// Both amounts wrong on one payment: two mismatches.
	in = r.authorise("pm_card_visa", 1000)
	r.capture(in.ID, 1000)
	r.refund(in.ID, 400)
	r.insert(rcPayment{id: "bad-both", status: domain.PaymentCaptured, intent: in.ID, captured: 900, refunded: 100})
	expect["bad-both"] = []want{
		{kind: app.MismatchCaptured, ours: 900, gateway: 1000, gwStatus: app.StatusSucceeded},
		{kind: app.MismatchRefunded, ours: 100, gateway: 400, gwStatus: app.StatusSucceeded},
	}

	rep, err := r.rec.RunOnce(r.ctx)
	r.ok(err)

	run := rep.Run
	if run.Status != app.RunComplete || run.Unchecked != 0 {
		t.Fatalf("run %+v, want complete with nothing unchecked", run)
	}
	// Every payment inserted above is compared, except the pending one without
	// an intent and the one updated after the window.
	if want := 6 + 9; run.Checked != want {
		t.Errorf("checked %d payments, want %d", run.Checked, want)
	}
	if want := rcStart.Add(-10 * time.Minute); !run.WindowTo.Equal(want) || !run.WindowFrom.Equal(want.Add(-24*time.Hour)) {
		t.Errorf("window [%s, %s), want the 24h before %s", run.WindowFrom, run.WindowTo, want)
	}

	got := map[string][]app.Mismatch{}
	for _, m := range rep.Mismatches {
		got[m.PaymentID] = append(got[m.PaymentID], m)
	}
	for id, ms := range got {
		if _, ok := expect[id]; !ok {
			t.Errorf("unexpected mismatch for %s: %+v", id, ms)
		}
	}
	for id, wants := range expect {
		ms := got[id]
		if len(ms) != len(wants) {
			t.Errorf("%s: %d mismatches %+v, want %d", id, len(ms), ms, len(wants))
			continue
		}
		for i, w := range wants {
			m := ms[i]
			if m.Kind != w.kind || m.Ours.AmountMinor != w.ours || m.Gateway.AmountMinor != w.gateway || m.GatewayStatus != w.gwStatus {
				t.Errorf("%s: mismatch %+v, want kind %s ours %d gateway %d gateway status %q", id, m, w.kind, w.ours, w.gateway, w.gwStatus)
			}
			if !strings.Contains(m.Detail, w.detailMentioning) || m.FoundAt != rcStart {
				t.Errorf("%s: detail %q (found at %s), want it to mention %q, found at %s", id, m.Detail, m.FoundAt, w.detailMentioning, rcStart)
			}
		}
	}

	// Stored: the run and its mismatches as reported.
	stored, ok, err := r.store.Run(r.ctx, run.ID)
	r.ok(err)
	if !ok || stored.Status != app.RunComplete || stored.Checked != run.Checked || stored.Mismatches != len(rep.Mismatches) ||
		!stored.FinishedAt.Equal(rcStart) || !stored.WindowTo.Equal(run.WindowTo) {
		t.Errorf("stored run %+v, want %+v", stored, run)
	}
	storedMs, err := r.store.Mismatches(r.ctx, run.ID)
	r.ok(err)
	if len(storedMs) != len(rep.Mismatches) {
		t.Fatalf("stored %d mismatches, reported %d", len(storedMs), len(rep.Mismatches))
	}
	for i, m := range storedMs {
		w := rep.Mismatches[i]
		if m.PaymentID != w.PaymentID || m.Kind != w.Kind || m.Ours != w.Ours || m.Gateway != w.Gateway ||
			m.OurStatus != w.OurStatus || m.GatewayStatus != w.GatewayStatus || m.Detail != w.Detail || !m.FoundAt.Equal(w.FoundAt) {
			t.Errorf("stored mismatch %d = %+v, reported %+v", i, m, w)
		}
	}
	// Reported, not fixed: our rows are unchanged.
	var captured int64
	r.ok(r.pool.QueryRow(r.ctx, `SELECT captured_minor FROM payments WHERE id = 'bad-captured'`).Scan(&captured))
	if captured != 650 {
		t.Errorf("bad-captured now has captured %d: reconciliation must not change payments", captured)
	}

	// Metrics and log.
	byKind := rep.ByKind()
	wantByKind := map[app.MismatchKind]int{app.MismatchCaptured: 2, app.MismatchRefunded: 2, app.MismatchStatus: 3,
		app.MismatchIntentUnknown: 2, app.MismatchCaptureUnrecorded: 1}
	for _, k := range app.MismatchKinds {
		if byKind[k] != wantByKind[k] {
			t.Errorf("%s: %d mismatches, want %d", k, byKind[k], wantByKind[k])
		}
		if got := r.metric("payments_reconciliation_mismatches", string(k)); got != float64(wantByKind[k]) {
			t.Errorf("payments_reconciliation_mismatches{kind=%s} = %v, want %d", k, got, wantByKind[k])
		}
	}
	if got := r.metric("payments_reconciliation_last_complete_run_timestamp_seconds", ""); got != float64(rcStart.Unix()) {
		t.Errorf("last complete run metric %v, want %d", got, rcStart.Unix())
	}
	if got := r.metric("payments_reconciliation_runs_total", "complete"); got != 1 {
		t.Errorf("runs_total{complete} = %v, want 1", got)
	}
	logs := r.log.String()
	if !strings.Contains(logs, "reconciliation run") || !strings.Contains(logs, "mismatches=10") ||
		!strings.Contains(logs, "payment_id=bad-unrecorded") {
		t.Errorf("log lacks the summary or a mismatch:\n%s", logs)
	}
}

// TestReconcileWindows checks the windowing: the next run starts Overlap
// before the last complete run's end, so a row committed late is still seen
// and an old row is not compared again; an incomplete run (gateway down) does
// not move the start.
func TestReconcileWindows(t *testing.T) {
	r := newRCRig(t, app.ReconcileOptions{})
	first, err := r.rec.RunOnce(r.ctx)
	r.ok(err)
	if first.Run.Status != app.RunComplete || first.Run.Checked != 0 {
		t.Fatalf("first run on no payments: %+v", first.Run)
	}

	// An hour later. One payment was updated long before the first window's
	// end (as if compared by it), one just before that end but committed after
	// the first run (inside the overlap), one since.
	r.clock.Set(rcStart.Add(time.Hour))
	in := r.authorise("pm_card_visa", 1000)
	r.insert(rcPayment{id: "old", status: domain.PaymentAuthorised, intent: in.ID, held: 1000, updatedAgo: 2 * time.Hour})
	r.cancel(in.ID) // a mismatch, but outside the next window
	in = r.authorise("pm_card_visa", 1000)
	r.insert(rcPayment{id: "late-commit", status: domain.PaymentAuthorised, intent: in.ID, held: 1000, updatedAgo: 15 * time.Minute})
	r.capture(in.ID, 1000)
	in = r.authorise("pm_card_visa", 1000)
	r.insert(rcPayment{id: "recent", status: domain.PaymentAuthorised, intent: in.ID, held: 1000, updatedAgo: -30 * time.Minute})

	r.gw.SetDown(true)
	down, err := r.rec.RunOnce(r.ctx)
	r.ok(err)
	wantFrom := first.Run.WindowTo.Add(-15 * time.Minute)
	if down.Run.Status != app.RunIncomplete || down.Run.Unchecked != 2 || down.Run.Checked != 0 || len(down.Mismatches) != 0 {
		t.Fatalf("run with the gateway down: %+v, %d mismatches; want incomplete, 2 unchecked", down.Run, len(down.Mismatches))
	}
	if !down.Run.WindowFrom.Equal(wantFrom) || !down.Run.WindowTo.Equal(rcStart.Add(50*time.Minute)) {
		t.Errorf("window [%s, %s), want [%s, %s)", down.Run.WindowFrom, down.Run.WindowTo, wantFrom, rcStart.Add(50*time.Minute))
	}
	stored, _, err := r.store.Run(r.ctx, down.Run.ID)
	r.ok(err)
	if stored.Status != app.RunIncomplete || stored.Unchecked != 2 || !strings.Contains(stored.Error, "2 payments unchecked") ||
		!strings.Contains(stored.Error, "unavailable") {
		t.Errorf("stored incomplete run %+v, want 2 unchecked and the gateway's error", stored)
	}
	if got := r.metric("payments_reconciliation_runs_total", "incomplete"); got != 1 {
		t.Errorf("runs_total{incomplete} = %v, want 1", got)
	}

	r.gw.SetDown(false)
	r.clock.Set(rcStart.Add(2 * time.Hour))
	again, err := r.rec.RunOnce(r.ctx)
	r.ok(err)
	if !again.Run.WindowFrom.Equal(wantFrom) {
		t.Errorf("after an incomplete run the window starts at %s, want %s (the last complete run's end − overlap)", again.Run.WindowFrom, wantFrom)
	}
	if again.Run.Status != app.RunComplete || again.Run.Checked != 2 {
		t.Fatalf("run after the outage: %+v, want complete with 2 checked", again.Run)
	}
	if len(again.Mismatches) != 1 || again.Mismatches[0].PaymentID != "late-commit" || again.Mismatches[0].Kind != app.MismatchCaptureUnrecorded {
		t.Fatalf("mismatches %+v, want only late-commit's unrecorded capture", again.Mismatches)
	}
}

// TestReconcileOneRunAtATime checks the store's guard: a second start while one
// runs is refused, and a run abandoned long ago does not block forever.
func TestReconcileOneRunAtATime(t *testing.T) {
	r := newRCRig(t, app.ReconcileOptions{RunTimeout: time.Minute})
	from, to := rcStart.Add(-time.Hour), rcStart
	id, err := r.store.StartRun(r.ctx, from, to, rcStart, rcStart.Add(-2*time.Minute))
	r.ok(err)

	if _, err := r.rec.RunOnce(r.ctx); !errors.Is(err, app.ErrReconcileRunning) {
		t.Fatalf("RunOnce while a run is in progress: %v, want ErrReconcileRunning", err)
	}
	// Two minutes later (twice the run timeout) the first is taken as abandoned.
	r.clock.Set(rcStart.Add(2*time.Minute + time.Second))
	rep, err := r.rec.RunOnce(r.ctx)
	r.ok(err)
	if rep.Run.Status != app.RunComplete {
		t.Fatalf("run after the abandoned one: %+v", rep.Run)
	}
	old, _, err := r.store.Run(r.ctx, id)
	r.ok(err)
	if old.Status != app.RunFailed || !strings.Contains(old.Error, "abandoned") {
		t.Errorf("abandoned run %+v, want failed as abandoned", old)
	}
	// A late finish of the abandoned run does not overwrite that.
	old.Status, old.FinishedAt = app.RunComplete, r.clock.Now()
	if err := r.store.FinishRun(r.ctx, old); err == nil {
		t.Error("FinishRun of a run no longer running succeeded")
	}
}

// TestReconcileRunLoop runs the periodic worker: it runs at once when no run
// is recorded, again after the interval, and returns nil when ctx ends.
func TestReconcileRunLoop(t *testing.T) {
	// The loop sleeps on the wall clock, so it reads that clock too.
	r := newRCRig(t, app.ReconcileOptions{Interval: 20 * time.Millisecond, Now: time.Now})
	ctx, cancel := context.WithCancel(r.ctx)
	done := make(chan error, 1)
	go func() { done <- r.rec.Run(ctx) }()

	deadline := time.Now().Add(20 * time.Second)
	var runs int
	for runs < 3 {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("%d runs after 20s, want 3\n%s", runs, r.log.String())
		}
		r.ok(r.pool.QueryRow(r.ctx, `SELECT count(*) FROM reconciliation_runs WHERE status = 'complete'`).Scan(&runs))
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v, want nil on shutdown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after ctx ended")
	}
	var running int
	r.ok(r.pool.QueryRow(r.ctx, `SELECT count(*) FROM reconciliation_runs WHERE status = 'running'`).Scan(&running))
	if running != 0 {
		t.Errorf("%d runs left running after shutdown", running)
	}
}

// TestCompare is the decision table behind the mismatch kinds.
func TestCompare(t *testing.T) {
	intent := func(status app.IntentStatus, received, refunded int64) app.Intent {
		return app.Intent{ID: "pi_1", Status: status, Amount: rcEUR(1000), AmountReceived: received, AmountRefunded: refunded}
	}
	rec := func(status domain.PaymentStatus, captured, refunded int64) app.ReconcileRecord {
		return app.ReconcileRecord{PaymentID: "pay_1", IntentID: "pi_1", Status: status, Captured: rcEUR(captured), Refunded: rcEUR(refunded)}
	}
	tests := []struct {
		name string
		rec  app.ReconcileRecord
		in   app.Intent
		want []app.MismatchKind
	}{
		{"captured agrees", rec(domain.PaymentCaptured, 700, 0), intent(app.StatusSucceeded, 700, 0), nil},
		{"captured and refunded agree", rec(domain.PaymentCaptured, 700, 200), intent(app.StatusSucceeded, 700, 200), nil},
		{"captured amount differs", rec(domain.PaymentCaptured, 700, 0), intent(app.StatusSucceeded, 701, 0), []app.MismatchKind{app.MismatchCaptured}},
		{"captured currency differs", app.ReconcileRecord{PaymentID: "pay_1", IntentID: "pi_1", Status: domain.PaymentCaptured,
			Captured: domain.Money{AmountMinor: 700, Currency: "GBP"}, Refunded: domain.Money{Currency: "GBP"}},
			intent(app.StatusSucceeded, 700, 0), []app.MismatchKind{app.MismatchCaptured}},
		{"refunded differs", rec(domain.PaymentCaptured, 700, 100), intent(app.StatusSucceeded, 700, 0), []app.MismatchKind{app.MismatchRefunded}},
		{"both differ", rec(domain.PaymentCaptured, 700, 100), intent(app.StatusSucceeded, 600, 0), []app.MismatchKind{app.MismatchCaptured, app.MismatchRefunded}},
		{"we captured, gateway canceled", rec(domain.PaymentCaptured, 700, 0), intent(app.StatusCanceled, 0, 0), []app.MismatchKind{app.MismatchStatus}},
		{"we captured, gateway holds", rec(domain.PaymentCaptured, 700, 0), intent(app.StatusRequiresCapture, 0, 0), []app.MismatchKind{app.MismatchStatus}},
		{"authorised agrees", rec(domain.PaymentAuthorised, 0, 0), intent(app.StatusRequiresCapture, 0, 0), nil},
		{"capture pending, not yet captured", rec(domain.PaymentCapturePending, 0, 0), intent(app.StatusRequiresCapture, 0, 0), nil},
		{"capture pending, captured at the gateway", rec(domain.PaymentCapturePending, 0, 0), intent(app.StatusSucceeded, 700, 0), []app.MismatchKind{app.MismatchCaptureUnrecorded}},
		{"authorised, gateway canceled", rec(domain.PaymentAuthorised, 0, 0), intent(app.StatusCanceled, 0, 0), []app.MismatchKind{app.MismatchStatus}},
		{"authorised, gateway needs action", rec(domain.PaymentAuthorised, 0, 0), intent(app.StatusRequiresAction, 0, 0), []app.MismatchKind{app.MismatchStatus}},
		{"pending authorisation, gateway holds", rec(domain.PaymentPendingAuthorisation, 0, 0), intent(app.StatusRequiresCapture, 0, 0), nil},
		{"pending authorisation, gateway captured", rec(domain.PaymentPendingAuthorisation, 0, 0), intent(app.StatusSucceeded, 1000, 0), []app.MismatchKind{app.MismatchCaptureUnrecorded}},
		{"canceled agrees", rec(domain.PaymentCanceled, 0, 0), intent(app.StatusCanceled, 0, 0), nil},
		{"canceled, never authorised", rec(domain.PaymentCanceled, 0, 0), intent(app.StatusRequiresPaymentMethod, 0, 0), nil},
		{"canceled, gateway still holds", rec(domain.PaymentCanceled, 0, 0), intent(app.StatusRequiresCapture, 0, 0), []app.MismatchKind{app.MismatchStatus}},
		{"canceled, gateway captured", rec(domain.PaymentCanceled, 0, 0), intent(app.StatusSucceeded, 1000, 0), []app.MismatchKind{app.MismatchCaptureUnrecorded}},
		{"failed, declined", rec(domain.PaymentFailed, 0, 0), intent(app.StatusRequiresPaymentMethod, 0, 0), nil},
		{"failed, authentication required", rec(domain.PaymentFailed, 0, 0), intent(app.StatusRequiresAction, 0, 0), nil},
		{"failed, gateway holds", rec(domain.PaymentFailed, 0, 0), intent(app.StatusRequiresCapture, 0, 0), []app.MismatchKind{app.MismatchStatus}},
		{"failed, gateway captured", rec(domain.PaymentFailed, 0, 0), intent(app.StatusSucceeded, 1000, 0), []app.MismatchKind{app.MismatchCaptureUnrecorded}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := app.Compare(tt.rec, tt.in)
			var kinds []app.MismatchKind
			for _, m := range ms {
				kinds = append(kinds, m.Kind)
				if m.PaymentID != "pay_1" || m.IntentID != "pi_1" || m.OurStatus != tt.rec.Status || m.GatewayStatus != tt.in.Status || m.Detail == "" {
					t.Errorf("mismatch %+v does not identify the payment, both statuses and why", m)
				}
			}
			if !slices.Equal(kinds, tt.want) {
				t.Errorf("kinds %v, want %v", kinds, tt.want)
			}
		})
	}
}
