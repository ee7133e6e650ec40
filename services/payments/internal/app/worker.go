package app

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The operations worker: claims due gateway operations from the durable queue
// and runs them (see Flows.run); what cannot complete now goes back with backoff.

// RunOperations processes due operations until ctx ends, sleeping PollEvery
// when nothing was due. Errors are logged; the operation stays queued.
func (f *Flows) RunOperations(ctx context.Context) error {
	for {
		n, err := f.ProcessDue(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			f.opts.Logger.ErrorContext(ctx, "payment operations", "err", err)
		}
		if n > 0 && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(f.opts.PollEvery):
		}
	}
}

// ProcessDue claims one batch of due operations and runs them; it returns how
// many were claimed. An operation that cannot complete now (gateway
// unavailable, authorisation still pending, a database error) is put back with
// backoff; a final gateway refusal fails the payment. Unexpected errors are
// joined into the returned error; the operations stay queued.
func (f *Flows) ProcessDue(ctx context.Context) (int, error) {
	ops, err := f.store.ClaimDue(ctx, f.opts.BatchSize)
	if err != nil {
		return 0, err
	}
	var errs []error
	for _, op := range ops {
		err := f.run(ctx, op)
		var wait waitError
		switch {
		case err == nil:
			continue
		case errors.As(err, &wait), IsRetryable(err):
			// expected: try again later
		default:
			errs = append(errs, fmt.Errorf("operation %s: %w", op.ID, err))
		}
		if rerr := f.store.RetryLater(ctx, op.ID, err.Error(), f.opts.Backoff(op.Attempts)); rerr != nil {
			errs = append(errs, rerr)
		}
	}
	return len(ops), errors.Join(errs...)
}

// waitError means the operation depends on another one that has not completed.
type waitError struct{ reason string }

func (e waitError) Error() string { return e.reason }
