package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/mobilitycorp/platform/pkg/observability"
)

// The operations worker: claims due gateway operations from the durable queue
// and runs them (see Flows.run), a bounded number at once; what cannot
// complete now goes back with backoff.
//
// Outcomes of one run:
//   - done: the flow recorded the result (done or finally failed) in its transaction;
//   - circuit open: the call never left, the operation goes back without the
//     attempt counting (Release), and while the circuit is open nothing is claimed;
//   - retryable gateway failure or waiting for another operation: due again
//     after the backoff of its attempt (capped), for ever: when the gateway
//     returns, every queued operation runs;
//   - anything else (our bug, an invalid request, a database error) is a
//     failure; the MaxAttempts-th makes the operation dead until staff
//     requeue it (Payments.RequeueDead).

const (
	defaultConcurrency = 16
	defaultMaxAttempts = 10
)

var (
	// ErrOperationNotFound is returned when no operation has the id.
	ErrOperationNotFound = errors.New("operation not found")
	// ErrOperationNotDead is returned when requeueing an operation that is not dead.
	ErrOperationNotDead = errors.New("operation is not dead")
)

// DeadOperation is an operation that failed MaxAttempts times for unexpected
// reasons and no longer runs.
type DeadOperation struct {
	Operation
	Failures  int // unexpected failures; Attempts counts every claim
	CreatedAt time.Time
	DeadAt    time.Time
}

// OperationQueue is the part of the durable queue the worker drives
// (adapters/postgres.Payments).
type OperationQueue interface {
	// ClaimDue leases up to limit due operations, at most one per payment,
	// and counts an attempt for each.
	ClaimDue(ctx context.Context, limit int) ([]Operation, error)
	// RetryLater makes the operation due again after backoff.
	RetryLater(ctx context.Context, id, reason string, backoff time.Duration) error
	// Release returns claimed operations whose call never left, uncounted.
	Release(ctx context.Context, ids []string, delay time.Duration) error
	// FailAttempt records an unexpected failure; the maxFailures-th makes the
	// operation dead, reported once by dead.
	FailAttempt(ctx context.Context, id, reason string, backoff time.Duration, maxFailures int) (dead bool, err error)
}

// circuit is a gateway that knows it is failing (Breaker). While it is open
// the worker claims nothing, so queued operations keep their attempts and backoff.
type circuit interface{ Open() bool }

// WorkerOptions tunes the Worker; zero values take defaults. Batch size, poll
// interval, backoff, clock and logger come from the FlowsOptions.
type WorkerOptions struct {
	// Concurrency bounds how many operations of a batch run at once (default 16).
	Concurrency int
	// MaxAttempts is how many unexpected failures make an operation dead
	// (default 10). Retryable gateway failures do not count.
	MaxAttempts int
	// Registerer receives the worker metrics; nil means none.
	Registerer prometheus.Registerer
}

// Worker runs queued gateway operations.
type Worker struct {
	flows   *Flows
	queue   OperationQueue
	circuit circuit // nil when the gateway has no breaker
	opts    WorkerOptions
	logger  *slog.Logger

	outcomes *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// Operation outcomes (payments_operations_total).
const (
	outcomeDone     = "done"     // the flow recorded its result
	outcomeRetry    = "retry"    // retryable gateway failure or waiting: due again after backoff
	outcomeReleased = "released" // circuit open: not sent, attempt not counted
	outcomeFailed   = "failed"   // unexpected failure, will be retried
	outcomeDead     = "dead"     // unexpected failure, the last one allowed
)

// NewWorker returns a worker for the flows' operations on queue (normally the
// flows' own store). If the flows' gateway is a Breaker, nothing is claimed
// while its circuit is open.
func NewWorker(flows *Flows, queue OperationQueue, opts WorkerOptions) (*Worker, error) {
	if flows == nil || queue == nil {
		return nil, errors.New("operations worker needs flows and a queue")
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = defaultConcurrency
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = defaultMaxAttempts
	}
	outcomes, err := observability.Register(opts.Registerer, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "payments_operations_total",
		Help: "Gateway operation runs by kind and outcome: done, retry, released (circuit open), failed, dead.",
	}, []string{"kind", "outcome"}))
	if err != nil {
		return nil, err
	}
	duration, err := observability.Register(opts.Registerer, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "payments_operation_duration_seconds",
		Help:    "Duration of one gateway operation run, gateway call and bookkeeping.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 15), // 1 ms … 16 s
	}, []string{"kind"}))
	if err != nil {
		return nil, err
	}
	w := &Worker{flows: flows, queue: queue, opts: opts, logger: flows.opts.Logger,
		outcomes: outcomes, duration: duration}
	if c, ok := flows.gateway.(circuit); ok {
		w.circuit = c
	}
	return w, nil
}

// RunOperations runs a Worker with default WorkerOptions (no metrics) on the
// flows' store; see Worker.Run.
func (f *Flows) RunOperations(ctx context.Context) error {
	w, err := f.defaultWorker()
	if err != nil {
		return err
	}
	return w.Run(ctx)
}

// ProcessDue runs one batch with a default Worker; see Worker.ProcessDue.
func (f *Flows) ProcessDue(ctx context.Context) (int, error) {
	w, err := f.defaultWorker()
	if err != nil {
		return 0, err
	}
	return w.ProcessDue(ctx)
}

func (f *Flows) defaultWorker() (*Worker, error) {
	q, ok := f.store.(OperationQueue)
	if !ok {
		return nil, fmt.Errorf("payment store %T is not an operation queue", f.store)
	}
	return NewWorker(f, q, WorkerOptions{})
}

// Run processes due operations until ctx ends, sleeping PollEvery when nothing
// was due or the circuit is open. Errors are logged; the operations stay queued.
// Operations in flight when ctx ends are finished first.
func (w *Worker) Run(ctx context.Context) error {
	for {
		n, err := w.ProcessDue(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			w.logger.ErrorContext(ctx, "payment operations", slog.Any("error", err))
		}
		if n > 0 && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(w.flows.opts.PollEvery):
		}
	}
}

// ProcessDue claims one batch of due operations, runs them (Concurrency at a
// time) and returns how many were claimed; nothing is claimed while the
// gateway's circuit is open. Unexpected failures are joined into the returned
// error; those operations stay queued until they go dead.
func (w *Worker) ProcessDue(ctx context.Context) (int, error) {
	if w.circuit != nil && w.circuit.Open() {
		return 0, nil
	}
	ops, err := w.queue.ClaimDue(ctx, w.flows.opts.BatchSize)
	if err != nil || len(ops) == 0 {
		return 0, err
	}
	// A claimed operation finishes even if shutdown begins: its gateway call
	// may already have acted, and recording the outcome now saves a replay.
	ctx = context.WithoutCancel(ctx)
	var (
		mu       sync.Mutex
		errs     []error
		released []string
	)
	var g errgroup.Group
	g.SetLimit(w.opts.Concurrency)
	for _, op := range ops {
		g.Go(func() error {
			release, err := w.handle(ctx, op)
			mu.Lock()
			defer mu.Unlock()
			if release {
				released = append(released, op.ID)
			}
			if err != nil {
				errs = append(errs, err)
			}
			return nil
		})
	}
	_ = g.Wait() // the goroutines report through errs
	// Due again at once: while the circuit stays open nothing is claimed anyway.
	if err := w.queue.Release(ctx, released, 0); err != nil {
		errs = append(errs, err)
	}
	return len(ops), errors.Join(errs...)
}

// handle runs op and records its outcome in the queue unless the flow did;
// release reports a call the circuit breaker refused.
func (w *Worker) handle(ctx context.Context, op Operation) (release bool, _ error) {
	start := time.Now()
	err := w.flows.run(ctx, op)
	w.duration.WithLabelValues(string(op.Kind)).Observe(time.Since(start).Seconds())
	backoff := w.flows.opts.Backoff(op.Attempts)
	var wait waitError
	switch {
	case err == nil:
		w.count(op, outcomeDone)
		return false, nil
	case errors.Is(err, ErrCircuitOpen):
		w.count(op, outcomeReleased)
		return true, nil
	case errors.Is(err, ErrOperationNotPending):
		// Resolved by another worker meanwhile (our lease ran out): nothing to do.
		w.count(op, outcomeDone)
		return false, nil
	case errors.As(err, &wait), IsRetryable(err):
		w.count(op, outcomeRetry)
		if rerr := w.queue.RetryLater(ctx, op.ID, err.Error(), backoff); rerr != nil && !errors.Is(rerr, ErrOperationNotPending) {
			return false, rerr
		}
		return false, nil
	}
	dead, ferr := w.queue.FailAttempt(ctx, op.ID, err.Error(), backoff, w.opts.MaxAttempts)
	switch {
	case errors.Is(ferr, ErrOperationNotPending):
		return false, nil
	case ferr != nil:
		return false, errors.Join(fmt.Errorf("operation %s: %w", op.ID, err), ferr)
	case dead:
		w.count(op, outcomeDead)
		// Logged once: only the failure that reaches the limit reports dead.
		w.logger.ErrorContext(ctx, "payment operation is dead: it failed too often and waits for staff to requeue it",
			slog.String("operation", op.ID), slog.String("payment", op.PaymentID), slog.String("kind", string(op.Kind)),
			slog.Int("attempts", op.Attempts), slog.Int("max_attempts", w.opts.MaxAttempts), slog.Any("error", err))
		return false, nil
	}
	w.count(op, outcomeFailed)
	return false, fmt.Errorf("operation %s (attempt %d): %w", op.ID, op.Attempts, err)
}

func (w *Worker) count(op Operation, outcome string) {
	w.outcomes.WithLabelValues(string(op.Kind), outcome).Inc()
}

// waitError means the operation depends on another one that has not completed.
type waitError struct{ reason string }

func (e waitError) Error() string { return e.reason }
