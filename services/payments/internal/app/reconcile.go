package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mobilitycorp/platform/pkg/observability"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

// Reconciliation: a periodic job compares our payments (status, captured,
// refunded) with the gateway's intents and records every mismatch. It reports
// and never fixes: a mismatch means either side may be wrong, which a person
// decides.
//
// A run covers the payments updated in a window [from, to). The window ends
// Settle before now, so operations in flight (gateway answered, our
// transaction not yet committed) have settled; it starts Overlap before the
// end of the last complete run, so a payment committed late with an earlier
// updated_at is still seen. A run in which the gateway did not answer for
// some payment is incomplete, and the next window starts from the last
// complete run again, so no payment is skipped.

// MismatchKind says how our record and the gateway's differ.
type MismatchKind string

const (
	// MismatchCaptured: both sides say captured, for different amounts (or currencies).
	MismatchCaptured MismatchKind = "amount_captured"
	// MismatchRefunded: the refunded amounts differ.
	MismatchRefunded MismatchKind = "amount_refunded"
	// MismatchStatus: the states disagree, e.g. we say captured and the
	// gateway canceled, or we say released and the gateway still holds funds.
	MismatchStatus MismatchKind = "status"
	// MismatchIntentUnknown: the gateway has no such intent, or we recorded
	// none for a payment that must have one.
	MismatchIntentUnknown MismatchKind = "intent_unknown"
	// MismatchCaptureUnrecorded: the gateway captured money we never recorded
	// as captured.
	MismatchCaptureUnrecorded MismatchKind = "capture_unrecorded"
)

// MismatchKinds lists every kind, for metrics.
var MismatchKinds = []MismatchKind{MismatchCaptured, MismatchRefunded, MismatchStatus, MismatchIntentUnknown, MismatchCaptureUnrecorded}

// Mismatch is one difference between a payment and its gateway intent.
type Mismatch struct {
	PaymentID     string
	IntentID      string
	Kind          MismatchKind
	OurStatus     domain.PaymentStatus
	GatewayStatus IntentStatus // empty when the gateway has no intent
	// Ours and Gateway are the amounts compared (captured or refunded); zero
	// for kinds that compare no amount.
	Ours    domain.Money
	Gateway domain.Money
	Detail  string
	FoundAt time.Time
}

// ReconcileRecord is our side of one payment, as reconciliation compares it.
type ReconcileRecord struct {
	PaymentID string
	IntentID  string
	Status    domain.PaymentStatus
	Captured  domain.Money
	Refunded  domain.Money
	UpdatedAt time.Time
}

// ReconcileCursor is the (updated_at, payment id) position after which the
// next page starts.
type ReconcileCursor struct {
	UpdatedAt time.Time
	PaymentID string
}

// RunStatus is the outcome of a reconciliation run.
type RunStatus string

const (
	RunRunning    RunStatus = "running"
	RunComplete   RunStatus = "complete"   // every payment in the window was compared
	RunIncomplete RunStatus = "incomplete" // the gateway did not answer for some
	RunFailed     RunStatus = "failed"     // stopped: database error, timeout, shutdown, abandoned
)

// ReconcileRun is one run as stored.
type ReconcileRun struct {
	ID         int64
	Status     RunStatus
	WindowFrom time.Time
	WindowTo   time.Time
	StartedAt  time.Time
	FinishedAt time.Time // zero while running
	Checked    int       // payments compared
	Unchecked  int       // payments the gateway did not answer for
	Mismatches int
	Error      string
}

// ErrReconcileRunning is returned by StartRun while another run is in progress.
var ErrReconcileRunning = errors.New("a reconciliation run is already in progress")

// ReconcileStore keeps what reconciliation reads and writes (adapters/postgres.Reconciliation).
type ReconcileStore interface {
	// StartRun records a running run over [from, to) started at now. A run
	// still running but started before staleBefore was abandoned (its process
	// died) and is marked failed first. ErrReconcileRunning if another runs.
	StartRun(ctx context.Context, from, to, now, staleBefore time.Time) (int64, error)
	// LastRun returns the latest run by start time (completeOnly: the latest
	// complete run by window end); false when there is none.
	LastRun(ctx context.Context, completeOnly bool) (ReconcileRun, bool, error)
	// PaymentsUpdated returns up to limit payments updated in [from, to) after
	// the cursor, in (updated_at, id) order: those with a gateway intent, and
	// those that must have one (authorised, capture pending, captured).
	PaymentsUpdated(ctx context.Context, from, to time.Time, after ReconcileCursor, limit int) ([]ReconcileRecord, error)
	// AddMismatches records mismatches found by run runID.
	AddMismatches(ctx context.Context, runID int64, ms []Mismatch) error
	// FinishRun records the outcome of a running run.
	FinishRun(ctx context.Context, run ReconcileRun) error
}

// IntentReader is the part of the Gateway reconciliation uses.
type IntentReader interface {
	GetIntent(ctx context.Context, intentID string) (Intent, error)
}

// ReconcileOptions tunes the Reconciler; zero values take the defaults.
type ReconcileOptions struct {
	// Interval between runs (default 1h).
	Interval time.Duration
	// Overlap re-checks the end of the previous window (default 15m).
	Overlap time.Duration
	// Settle is how long before now a window ends (default 10m); an operation
	// the worker is finishing is not a mismatch.
	Settle time.Duration
	// FirstLookback is the first run's window length (default 24h).
	FirstLookback time.Duration
	// MaxLookback bounds a window that grew while runs failed (default 7 days);
	// a longer gap is logged and left to a manual Reconcile.
	MaxLookback time.Duration
	// RunTimeout bounds one run (default 30m); a run left running for twice
	// that is taken as abandoned.
	RunTimeout time.Duration
	// PageSize is how many payments are read per page (default 200).
	PageSize int
	// Concurrency bounds parallel gateway reads (default 4); Stripe's read
	// rate limit is shared with the payment flow.
	Concurrency int
	// MaxLoggedMismatches caps the mismatches logged one by one per run
	// (default 20); all of them are stored.
	MaxLoggedMismatches int
	Now                 func() time.Time
	Logger              *slog.Logger
	// Registerer receives the reconciliation metrics; nil means none.
	Registerer prometheus.Registerer
}

func (o *ReconcileOptions) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Interval, time.Hour)
	def(&o.Overlap, 15*time.Minute)
	def(&o.Settle, 10*time.Minute)
	def(&o.FirstLookback, 24*time.Hour)
	def(&o.MaxLookback, 7*24*time.Hour)
	def(&o.RunTimeout, 30*time.Minute)
	if o.PageSize <= 0 {
		o.PageSize = 200
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.MaxLoggedMismatches <= 0 {
		o.MaxLoggedMismatches = 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Reconciler runs reconciliation. It is safe for concurrent use; the store
// lets one run at a time proceed across all replicas.
type Reconciler struct {
	store   ReconcileStore
	gateway IntentReader
	opts    ReconcileOptions

	runs          *prometheus.CounterVec
	found         *prometheus.CounterVec
	lastFound     *prometheus.GaugeVec
	checked       prometheus.Counter
	unchecked     prometheus.Counter
	lastRun       prometheus.Gauge
	lastComplete  prometheus.Gauge
	lastRunLength prometheus.Gauge
}

// NewReconciler returns a reconciler of store's payments against gateway.
func NewReconciler(store ReconcileStore, gateway IntentReader, opts ReconcileOptions) (*Reconciler, error) {
	if store == nil || gateway == nil {
		return nil, errors.New("reconciler needs a store and a gateway")
	}
	opts.setDefaults()
	r := &Reconciler{store: store, gateway: gateway, opts: opts}
	reg := opts.Registerer
	var err error
	counterVec := func(name, help string, labels ...string) *prometheus.CounterVec {
		var c *prometheus.CounterVec
		if err == nil {
			c, err = observability.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels))
		}
		return c
	}
	counter := func(name, help string) prometheus.Counter {
		var c prometheus.Counter
		if err == nil {
			c, err = observability.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help}))
		}
		return c
	}
	gauge := func(name, help string) prometheus.Gauge {
		var g prometheus.Gauge
		if err == nil {
			g, err = observability.Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help}))
		}
		return g
	}
	r.runs = counterVec("payments_reconciliation_runs_total", "Reconciliation runs by outcome: complete, incomplete, failed.", "status")
	r.found = counterVec("payments_reconciliation_mismatches_found_total",
		"Mismatches found by kind, summed over runs (overlapping windows may find one twice).", "kind")
	if err == nil {
		r.lastFound, err = observability.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "payments_reconciliation_mismatches",
			Help: "Mismatches by kind found by the last finished run.",
		}, []string{"kind"}))
	}
	r.checked = counter("payments_reconciliation_checked_total", "Payments compared with the gateway.")
	r.unchecked = counter("payments_reconciliation_unchecked_total", "Payments the gateway did not answer for (retried by the next run).")
	r.lastRun = gauge("payments_reconciliation_last_run_timestamp_seconds", "When the last reconciliation run finished, whatever its outcome.")
	r.lastComplete = gauge("payments_reconciliation_last_complete_run_timestamp_seconds",
		"When the last complete reconciliation run finished; alert when it grows old.")
	r.lastRunLength = gauge("payments_reconciliation_last_run_duration_seconds", "How long the last reconciliation run took.")
	if err != nil {
		return nil, err
	}
	return r, nil
}

// ReconcileReport is what one run found.
type ReconcileReport struct {
	Run        ReconcileRun
	Mismatches []Mismatch
}

// ByKind counts the report's mismatches per kind.
func (r ReconcileReport) ByKind() map[MismatchKind]int {
	out := map[MismatchKind]int{}
	for _, m := range r.Mismatches {
		out[m.Kind]++
	}
	return out
}

// Run reconciles every Interval until ctx ends. The schedule is kept in the
// store (the last run's start), so replicas and restarts do not multiply runs.
// Failures are logged; the next run covers what this one could not.
func (r *Reconciler) Run(ctx context.Context) error {
	// retry bounds how soon a run is tried again when none could be recorded
	// (e.g. the database was down), so failures do not spin.
	retry := min(r.opts.Interval, time.Minute)
	var lastAttempt time.Time
	for {
		due, err := r.nextDue(ctx)
		if err != nil && ctx.Err() == nil {
			r.opts.Logger.ErrorContext(ctx, "reconciliation schedule", "err", err)
		}
		if !lastAttempt.IsZero() {
			due = maxTime(due, lastAttempt.Add(retry))
		}
		if !sleepUntil(ctx, r.opts.Now, due) {
			return nil
		}
		lastAttempt = r.opts.Now()
		_, err = r.RunOnce(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, ErrReconcileRunning):
			r.opts.Logger.InfoContext(ctx, "reconciliation skipped: another run is in progress")
		case err != nil:
			r.opts.Logger.ErrorContext(ctx, "reconciliation run", "err", err)
		}
	}
}

// nextDue is when the next run is due: Interval after the last run started,
// or now when there was none.
func (r *Reconciler) nextDue(ctx context.Context) (time.Time, error) {
	now := r.opts.Now()
	last, ok, err := r.store.LastRun(ctx, false)
	if err != nil {
		return now, err
	}
	if !ok {
		return now, nil
	}
	return last.StartedAt.Add(r.opts.Interval), nil
}

// sleepUntil waits until now() reaches t; false if ctx ended first.
func sleepUntil(ctx context.Context, now func() time.Time, t time.Time) bool {
	d := t.Sub(now())
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// RunOnce reconciles the window that follows the last complete run (see the
// package comment above). ErrReconcileRunning if another run is in progress.
func (r *Reconciler) RunOnce(ctx context.Context) (ReconcileReport, error) {
	to := r.opts.Now().Add(-r.opts.Settle)
	from := to.Add(-r.opts.FirstLookback)
	last, ok, err := r.store.LastRun(ctx, true)
	if err != nil {
		return ReconcileReport{}, err
	}
	if ok {
		from = last.WindowTo.Add(-r.opts.Overlap)
	}
	if oldest := to.Add(-r.opts.MaxLookback); from.Before(oldest) {
		r.opts.Logger.WarnContext(ctx, "reconciliation window capped: payments updated before its start are not compared by this run",
			"wanted_from", from, "from", oldest, "max_lookback", r.opts.MaxLookback)
		from = oldest
	}
	if !from.Before(to) {
		// Only when the clock went back: nothing new to compare.
		return ReconcileReport{}, nil
	}
	return r.Reconcile(ctx, from, to)
}

// Reconcile compares the payments updated in [from, to) with the gateway and
// records the run and its mismatches. The error is non-nil only when the run
// failed; an incomplete run (some payments unchecked) is reported in the run.
func (r *Reconciler) Reconcile(ctx context.Context, from, to time.Time) (ReconcileReport, error) {
	if !from.Before(to) {
		return ReconcileReport{}, fmt.Errorf("reconcile: empty window [%s, %s)", from, to)
	}
	started := r.opts.Now()
	id, err := r.store.StartRun(ctx, from, to, started, started.Add(-2*r.opts.RunTimeout))
	if err != nil {
		return ReconcileReport{}, fmt.Errorf("start reconciliation: %w", err)
	}
	report := ReconcileReport{Run: ReconcileRun{ID: id, Status: RunRunning, WindowFrom: from, WindowTo: to, StartedAt: started}}

	runCtx, cancel := context.WithTimeout(ctx, r.opts.RunTimeout)
	defer cancel()
	gatewayErr, runErr := r.compareWindow(runCtx, &report)

	run := &report.Run
	run.FinishedAt = r.opts.Now()
	run.Mismatches = len(report.Mismatches)
	switch {
	case runErr != nil:
		run.Status, run.Error = RunFailed, runErr.Error()
	case run.Unchecked > 0:
		run.Status = RunIncomplete
		run.Error = fmt.Sprintf("%d payments unchecked; first gateway error: %v", run.Unchecked, gatewayErr)
	default:
		run.Status = RunComplete
	}
	// Record the outcome even when ctx ended (shutdown): the run must not stay "running".
	finishCtx, cancelFinish := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancelFinish()
	if err := r.store.FinishRun(finishCtx, *run); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("finish reconciliation run %d: %w", id, err))
	}
	r.report(ctx, report)
	if runErr != nil {
		return report, fmt.Errorf("reconciliation run %d: %w", id, runErr)
	}
	return report, nil
}

// compareWindow pages through the window, compares each page with the gateway
// and stores the page's mismatches. It returns the first gateway error (the
// payment stays unchecked) and the error that stopped the run, if any.
func (r *Reconciler) compareWindow(ctx context.Context, report *ReconcileReport) (gatewayErr, err error) {
	var after ReconcileCursor
	for {
		records, err := r.store.PaymentsUpdated(ctx, report.Run.WindowFrom, report.Run.WindowTo, after, r.opts.PageSize)
		if err != nil {
			return gatewayErr, err
		}
		if len(records) == 0 {
			return gatewayErr, nil
		}
		found, unchecked, firstErr := r.comparePage(ctx, records)
		if err := ctx.Err(); err != nil {
			// Gateway reads cut short by the timeout or shutdown are not "unchecked".
			return gatewayErr, err
		}
		if gatewayErr == nil {
			gatewayErr = firstErr
		}
		if len(found) > 0 {
			if err := r.store.AddMismatches(ctx, report.Run.ID, found); err != nil {
				return gatewayErr, err
			}
		}
		report.Mismatches = append(report.Mismatches, found...)
		report.Run.Checked += len(records) - unchecked
		report.Run.Unchecked += unchecked
		r.checked.Add(float64(len(records) - unchecked))
		r.unchecked.Add(float64(unchecked))
		last := records[len(records)-1]
		after = ReconcileCursor{UpdatedAt: last.UpdatedAt, PaymentID: last.PaymentID}
		if len(records) < r.opts.PageSize {
			return gatewayErr, nil
		}
	}
}

// comparePage reads the page's intents, Concurrency at a time, and returns the
// mismatches in page order, how many payments could not be compared and the
// first gateway error. Only that one is logged: an outage fails every read.
func (r *Reconciler) comparePage(ctx context.Context, records []ReconcileRecord) ([]Mismatch, int, error) {
	type result struct {
		mismatches []Mismatch
		err        error
	}
	results := make([]result, len(records))
	sem := make(chan struct{}, r.opts.Concurrency)
	var wg sync.WaitGroup
	for i, rec := range records {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ms, err := r.check(ctx, rec)
			results[i] = result{mismatches: ms, err: err}
		})
	}
	wg.Wait()

	var found []Mismatch
	var firstErr error
	unchecked := 0
	for i, res := range results {
		if res.err != nil {
			unchecked++
			if firstErr == nil {
				firstErr = fmt.Errorf("payment %s, intent %s: %w", records[i].PaymentID, records[i].IntentID, res.err)
			}
			continue
		}
		found = append(found, res.mismatches...)
	}
	return found, unchecked, firstErr
}

// check compares one payment with its intent. An error means it could not be
// compared (the gateway did not answer); an intent the gateway does not know
// is a mismatch, not an error.
func (r *Reconciler) check(ctx context.Context, rec ReconcileRecord) ([]Mismatch, error) {
	now := r.opts.Now()
	if rec.IntentID == "" {
		return []Mismatch{{
			PaymentID: rec.PaymentID, Kind: MismatchIntentUnknown, OurStatus: rec.Status, FoundAt: now,
			Detail: fmt.Sprintf("payment is %s but no gateway intent was recorded", rec.Status),
		}}, nil
	}
	in, err := r.gateway.GetIntent(ctx, rec.IntentID)
	if isUnknownIntent(err) {
		return []Mismatch{{
			PaymentID: rec.PaymentID, IntentID: rec.IntentID, Kind: MismatchIntentUnknown, OurStatus: rec.Status, FoundAt: now,
			Detail: "the gateway has no such intent",
		}}, nil
	}
	if err != nil {
		return nil, err
	}
	ms := Compare(rec, in)
	for i := range ms {
		ms[i].FoundAt = now
	}
	return ms, nil
}

// codeResourceMissing is Stripe's (and the sandbox's) code for an unknown object.
const codeResourceMissing = "resource_missing"

func isUnknownIntent(err error) bool {
	var ge *GatewayError
	return errors.As(err, &ge) && ge.Code == codeResourceMissing && ge.Status == http.StatusNotFound
}

// Compare returns how our record of a payment and the gateway's intent differ;
// nil when they agree. A state the payment can legitimately be in while its
// operation is queued (e.g. capture pending, intent still requires_capture) is
// not a mismatch.
func Compare(rec ReconcileRecord, in Intent) []Mismatch {
	mk := func(kind MismatchKind, ours, gateway domain.Money, format string, args ...any) Mismatch {
		return Mismatch{PaymentID: rec.PaymentID, IntentID: rec.IntentID, Kind: kind, OurStatus: rec.Status,
			GatewayStatus: in.Status, Ours: ours, Gateway: gateway, Detail: fmt.Sprintf(format, args...)}
	}
	currency := in.Amount.Currency
	gwCaptured := domain.Money{AmountMinor: in.AmountReceived, Currency: currency}
	gwRefunded := domain.Money{AmountMinor: in.AmountRefunded, Currency: currency}

	if rec.Status != domain.PaymentCaptured {
		if in.Status == StatusSucceeded || in.AmountReceived > 0 {
			return []Mismatch{mk(MismatchCaptureUnrecorded, rec.Captured, gwCaptured,
				"the gateway captured %s; we recorded the payment as %s", gwCaptured, rec.Status)}
		}
		if expectedIntentStatus(rec.Status, in.Status) {
			return nil
		}
		return []Mismatch{mk(MismatchStatus, domain.Money{}, domain.Money{},
			"we recorded %s; the gateway says %s", rec.Status, in.Status)}
	}

	// Captured on our side.
	if in.Status != StatusSucceeded {
		return []Mismatch{mk(MismatchStatus, rec.Captured, gwCaptured,
			"we recorded a capture of %s; the gateway says %s", rec.Captured, in.Status)}
	}
	var out []Mismatch
	if rec.Captured != gwCaptured {
		out = append(out, mk(MismatchCaptured, rec.Captured, gwCaptured,
			"we recorded a capture of %s; the gateway captured %s", rec.Captured, gwCaptured))
	}
	// A currency difference is already reported with the capture.
	if rec.Refunded.AmountMinor != gwRefunded.AmountMinor {
		out = append(out, mk(MismatchRefunded, rec.Refunded, gwRefunded,
			"we recorded refunds of %s; the gateway refunded %s", rec.Refunded, gwRefunded))
	}
	return out
}

// expectedIntentStatus reports whether the gateway's status fits ours for a
// payment we have not recorded as captured.
func expectedIntentStatus(ours domain.PaymentStatus, gw IntentStatus) bool {
	switch ours {
	case domain.PaymentPendingAuthorisation:
		// The authorisation is queued or in flight; its outcome is not recorded yet.
		return true
	case domain.PaymentAuthorised, domain.PaymentCapturePending:
		// Funds held; a capture may be queued.
		return gw == StatusRequiresCapture
	case domain.PaymentCanceled:
		// Released, or never authorised (a declined intent need not be canceled).
		return gw == StatusCanceled || gw == StatusRequiresPaymentMethod
	case domain.PaymentFailed:
		// Declined, authentication required, or released after a failure; a hold
		// still in place is not fine.
		return gw != StatusRequiresCapture
	}
	return false
}

// report logs the run's summary (and its first mismatches) and updates the metrics.
func (r *Reconciler) report(ctx context.Context, rep ReconcileReport) {
	run := rep.Run
	byKind := rep.ByKind()
	r.runs.WithLabelValues(string(run.Status)).Inc()
	r.lastRun.Set(float64(run.FinishedAt.Unix()))
	r.lastRunLength.Set(run.FinishedAt.Sub(run.StartedAt).Seconds())
	if run.Status == RunComplete {
		r.lastComplete.Set(float64(run.FinishedAt.Unix()))
	}
	attrs := []any{"run_id", run.ID, "status", run.Status, "window_from", run.WindowFrom, "window_to", run.WindowTo,
		"checked", run.Checked, "unchecked", run.Unchecked, "mismatches", run.Mismatches,
		"duration", run.FinishedAt.Sub(run.StartedAt)}
	for _, k := range MismatchKinds {
		r.found.WithLabelValues(string(k)).Add(float64(byKind[k]))
		r.lastFound.WithLabelValues(string(k)).Set(float64(byKind[k]))
		if byKind[k] > 0 {
			attrs = append(attrs, string(k), byKind[k])
		}
	}
	for i, m := range rep.Mismatches {
		if i == r.opts.MaxLoggedMismatches {
			r.opts.Logger.WarnContext(ctx, "reconciliation: more mismatches stored, not logged", "run_id", run.ID,
				"not_logged", len(rep.Mismatches)-i)
			break
		}
		r.opts.Logger.WarnContext(ctx, "reconciliation mismatch", "run_id", run.ID, "kind", m.Kind,
			"payment_id", m.PaymentID, "intent_id", m.IntentID, "detail", m.Detail)
	}
	switch {
	case run.Status == RunFailed:
		r.opts.Logger.ErrorContext(ctx, "reconciliation run failed", append(attrs, "err", run.Error)...)
	case run.Status == RunIncomplete:
		r.opts.Logger.WarnContext(ctx, "reconciliation run incomplete: the next run compares the unchecked payments again",
			append(attrs, "err", run.Error)...)
	case run.Mismatches > 0:
		r.opts.Logger.WarnContext(ctx, "reconciliation run", attrs...)
	default:
		r.opts.Logger.InfoContext(ctx, "reconciliation run", attrs...)
	}
}
