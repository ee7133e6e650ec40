package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mobilitycorp/platform/pkg/postgres"
)

// Handler applies one Stripe event. tx is the transaction that marks the event
// processed, so the handler's writes and the mark commit together. A returned
// error rolls back the handler's writes and schedules a retry; an event the
// handler does not care about (or finds stale, see the package doc) returns nil.
type Handler interface {
	HandleStripeEvent(ctx context.Context, tx pgx.Tx, ev Event) error
}

// notifyChannel is raised by the webhook_events insert trigger.
const notifyChannel = "payments_webhook_events"

// ProcessorOptions configures a Processor; zero values mean the defaults.
type ProcessorOptions struct {
	// PollInterval is how often an idle processor looks for due events when no
	// notification woke it; it also bounds how late a retry runs (default 1s).
	PollInterval time.Duration
	// RetryBackoff is the delay after the first failure of an event; it doubles
	// with every further failure (default 2s).
	RetryBackoff time.Duration
	// MaxRetryBackoff caps the delay between attempts (default 10m). Events are
	// retried until they succeed: a payment event is never dropped silently.
	MaxRetryBackoff time.Duration
	// HandlerTimeout bounds one handler call, which holds the event's row lock (default 30s).
	HandlerTimeout time.Duration
	// Logger receives handler failures and connection problems; nil discards them.
	Logger *slog.Logger
}

// Processor hands stored events to a Handler. Run it in every replica: claims use
// FOR UPDATE SKIP LOCKED, so replicas share the work and never handle an event twice
// at the same time.
type Processor struct {
	pool    *pgxpool.Pool
	handler Handler
	opts    ProcessorOptions
	logger  *slog.Logger
}

// NewProcessor returns a processor over the webhook_events table of pool's database.
func NewProcessor(pool *pgxpool.Pool, h Handler, opts ProcessorOptions) (*Processor, error) {
	if pool == nil || h == nil {
		return nil, errors.New("webhook: processor needs a pool and a handler")
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.RetryBackoff <= 0 {
		opts.RetryBackoff = 2 * time.Second
	}
	if opts.MaxRetryBackoff <= 0 {
		opts.MaxRetryBackoff = 10 * time.Minute
	}
	if opts.MaxRetryBackoff < opts.RetryBackoff {
		opts.MaxRetryBackoff = opts.RetryBackoff
	}
	if opts.HandlerTimeout <= 0 {
		opts.HandlerTimeout = 30 * time.Second
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Processor{pool: pool, handler: h, opts: opts, logger: logger}, nil
}

// Run processes events until ctx is cancelled and returns nil then. Database
// failures are logged and retried; they never stop Run.
func (p *Processor) Run(ctx context.Context) error {
	return postgres.RunSessions(ctx, p.pool, p.opts.PollInterval, p.logger, "stripe event processor", p.session)
}

// session LISTENs on a dedicated connection (a pooled one would carry the LISTEN
// back into the pool) and drains due events whenever notified or polled.
func (p *Processor) session(ctx context.Context, conn *pgx.Conn) error {
	// LISTEN before the first drain, so an insert committed in between still wakes us.
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	for {
		for {
			ok, err := p.ProcessNext(ctx)
			if err != nil {
				return err
			}
			if !ok {
				break
			}
		}
		if err := p.wait(ctx, conn); err != nil {
			return err
		}
	}
}

// wait returns on a notification or after PollInterval, whichever is first.
func (p *Processor) wait(ctx context.Context, conn *pgx.Conn) error {
	wctx, cancel := context.WithTimeout(ctx, p.opts.PollInterval)
	defer cancel()
	_, err := conn.WaitForNotification(wctx)
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case err != nil && wctx.Err() != nil:
		return nil // poll interval elapsed
	case err != nil:
		return fmt.Errorf("wait for notification: %w", err)
	}
	return nil
}

// claimSQL locks the oldest due event whose ordering key has no older unprocessed
// event. An older event that is locked by another processor, or backing off, keeps
// the newer ones of its key waiting; SKIP LOCKED lets processors pass each other by.
// Under READ COMMITTED a row another processor marked processed since our snapshot
// is re-checked against processed_at IS NULL when we lock it, so it is skipped.
const claimSQL = `
	SELECT e.event_id, e.type, e.created, e.livemode, COALESCE(e.api_version, ''),
	       e.payload -> 'data' -> 'object', e.attempts
	FROM webhook_events e
	WHERE e.processed_at IS NULL
	  AND e.next_attempt_at <= now()
	  AND NOT EXISTS (
	      SELECT 1 FROM webhook_events o
	      WHERE o.ordering_key = e.ordering_key
	        AND o.processed_at IS NULL
	        AND (o.created, o.received_at, o.event_id) < (e.created, e.received_at, e.event_id))
	ORDER BY e.created, e.received_at, e.event_id
	LIMIT 1
	FOR UPDATE OF e SKIP LOCKED`

// ProcessNext claims one due event, hands it to the handler and records the outcome,
// reporting whether there was an event. A handler failure is recorded on the event
// (attempts, last_error, next attempt) and is not an error here; errors are the
// database's. Run calls it in a loop; tests may call it directly.
func (p *Processor) ProcessNext(ctx context.Context) (bool, error) {
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after Commit

	var (
		ev       Event
		attempts int
	)
	err = tx.QueryRow(ctx, claimSQL).Scan(&ev.ID, &ev.Type, &ev.Created, &ev.Livemode, &ev.APIVersion, &ev.Object, &attempts)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim stripe event: %w", err)
	}
	ev.Created = ev.Created.UTC()
	ev.Attempt = attempts + 1

	herr := p.handle(ctx, tx, ev)
	if ctx.Err() != nil {
		// Shutting down: not the event's fault, so no attempt is counted; the
		// rollback releases it to another replica.
		return true, ctx.Err()
	}
	if herr == nil {
		if _, err := tx.Exec(ctx,
			"UPDATE webhook_events SET processed_at = now(), attempts = attempts + 1 WHERE event_id = $1", ev.ID); err != nil {
			return true, fmt.Errorf("mark stripe event %s processed: %w", ev.ID, err)
		}
		if err := tx.Commit(ctx); err != nil {
			return true, fmt.Errorf("commit stripe event %s: %w", ev.ID, err)
		}
		return true, nil
	}

	delay := p.backoff(ev.Attempt)
	p.logger.WarnContext(ctx, "stripe event handler failed, will retry",
		slog.String("event_id", ev.ID), slog.String("type", ev.Type), slog.Int("attempt", ev.Attempt),
		slog.Duration("retry_in", delay), slog.Any("error", herr))
	const failSQL = `
		UPDATE webhook_events
		SET attempts = attempts + 1, last_error = $2, next_attempt_at = now() + make_interval(secs => $3)
		WHERE event_id = $1 AND processed_at IS NULL`
	msg := errorText(herr)
	_, err = tx.Exec(ctx, failSQL, ev.ID, msg, delay.Seconds())
	if err == nil {
		err = tx.Commit(ctx)
	}
	if err != nil {
		// The transaction died with the handler (e.g. its timeout closed the
		// connection): record the failure on its own so the attempt still counts.
		_ = tx.Rollback(ctx)
		if _, err := p.pool.Exec(ctx, failSQL, ev.ID, msg, delay.Seconds()); err != nil {
			return true, fmt.Errorf("record failure of stripe event %s: %w", ev.ID, err)
		}
	}
	return true, nil
}

// handle runs the handler inside a savepoint, so a failure undoes its writes while
// the row lock on the event (taken by the outer transaction) is kept for recording it.
func (p *Processor) handle(ctx context.Context, tx pgx.Tx, ev Event) error {
	hctx, cancel := context.WithTimeout(ctx, p.opts.HandlerTimeout)
	defer cancel()
	sp, err := tx.Begin(hctx)
	if err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	if err := p.handler.HandleStripeEvent(hctx, sp, ev); err != nil {
		_ = sp.Rollback(ctx)
		return err
	}
	if err := sp.Commit(hctx); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return nil
}

// maxErrorText bounds last_error; the full error is in the log.
const maxErrorText = 2000

// errorText makes err storable in a text column, which rejects NUL bytes and invalid
// UTF-8; a failure that cannot be recorded would be retried without backoff.
func errorText(err error) string {
	s := strings.ReplaceAll(strings.ToValidUTF8(err.Error(), "\uFFFD"), "\x00", "\uFFFD")
	if len(s) > maxErrorText {
		s = strings.ToValidUTF8(s[:maxErrorText], "")
	}
	return s
}

// backoff is RetryBackoff·2^(attempt−1), capped, with up to 20% jitter so events
// failing together (a dependency outage) do not retry in lockstep.
func (p *Processor) backoff(attempt int) time.Duration {
	d := p.opts.RetryBackoff
	for i := 1; i < attempt && d < p.opts.MaxRetryBackoff; i++ {
		d *= 2
	}
	d = min(d, p.opts.MaxRetryBackoff)
	return d + rand.N(d/5+1)
}
