package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mobilitycorp/platform/pkg/observability"
	"github.com/mobilitycorp/platform/pkg/postgres"
)

// Publisher writes records in order and returns once all are acknowledged;
// *kafka.Producer is one.
type Publisher interface {
	Produce(ctx context.Context, recs ...*kgo.Record) error
}

// RelayOptions configures a Relay; zero values mean the defaults.
type RelayOptions struct {
	// PollInterval is how often an idle relay looks for rows when no
	// notification woke it, hence the longest a committed row waits, and
	// how often a standby tries to take over (default 250ms).
	PollInterval time.Duration
	// BatchSize is how many rows one publish carries (default 100).
	BatchSize int
	// Retention is how long published rows are kept, for inspection and
	// replays (default 72h).
	Retention time.Duration
	// Registerer receives the relay metrics; nil means none.
	Registerer prometheus.Registerer
}

// lockKey names the advisory lock that makes one relay per database active.
const lockKey = "mobility-outbox-relay"

// pruneInterval is how often the active relay deletes expired published rows.
const pruneInterval = time.Minute

// While rows are flowing, producers do not notify (Enqueue notifies only the
// first row of a backlog), so after publishing rows the relay looks again every
// busyPoll until it has found nothing for busyLinger, and only then waits for
// a notification (or PollInterval). The pause also gathers rows into batches.
// Lingering covers a row whose insert saw older unpublished rows (so it did
// not notify) but which committed after the relay had published those and
// found nothing more: unless its transaction outlasted busyLinger, it is
// found within busyPoll, and it never waits longer than PollInterval.
const (
	busyPoll   = 10 * time.Millisecond
	busyLinger = 250 * time.Millisecond
)

// Relay publishes outbox rows. Run it in every replica of a service: one holds
// the lock and relays, the others stand by and take over within PollInterval
// when its session ends.
type Relay struct {
	pool      *pgxpool.Pool
	pub       Publisher
	logger    *slog.Logger
	opts      RelayOptions
	published *prometheus.CounterVec
	lag       prometheus.Gauge
}

// NewRelay returns a relay over the outbox table of pool's database.
func NewRelay(pool *pgxpool.Pool, pub Publisher, logger *slog.Logger, opts RelayOptions) (*Relay, error) {
	if pool == nil || pub == nil {
		return nil, errors.New("outbox relay needs a pool and a publisher")
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 250 * time.Millisecond
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 100
	}
	if opts.Retention <= 0 {
		opts.Retention = 72 * time.Hour
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	published, err := observability.Register(opts.Registerer, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "outbox_published_total",
		Help: "Outbox rows published, by topic.",
	}, []string{"topic"}))
	if err != nil {
		return nil, err
	}
	lag, err := observability.Register(opts.Registerer, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "outbox_lag_seconds",
		Help: "Age of the oldest unpublished outbox row when the relay last looked; 0 when none.",
	}))
	if err != nil {
		return nil, err
	}
	return &Relay{pool: pool, pub: pub, logger: logger, opts: opts, published: published, lag: lag}, nil
}

// Run relays until ctx is cancelled and returns nil then. Database and
// publish failures are logged and retried; they never stop Run.
func (r *Relay) Run(ctx context.Context) error {
	return postgres.RunSessions(ctx, r.pool, r.opts.PollInterval, r.logger, "outbox relay", r.session)
}

// session holds a dedicated connection: it carries the session advisory lock
// and the LISTEN, both released by the server when the connection closes,
// so a relay that dies (process, network) hands over without cleanup.
func (r *Relay) session(ctx context.Context, conn *pgx.Conn) error {
	if err := r.lock(ctx, conn); err != nil {
		return err
	}
	r.logger.InfoContext(ctx, "outbox relay active")
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	var pruned, lastRows time.Time
	for {
		if time.Since(pruned) >= pruneInterval {
			if err := r.prune(ctx, conn); err != nil {
				return err
			}
			pruned = time.Now()
		}
		n, err := r.relayBatch(ctx, conn)
		var perr publishError
		switch {
		case errors.As(err, &perr) && ctx.Err() == nil:
			// Kafka is down or refused the batch: keep the lock, retry the same
			// rows after PollInterval.
			r.logger.ErrorContext(ctx, "outbox publish failed", slog.Any("error", err))
			lastRows = time.Time{}
		case err != nil:
			return err
		case n == r.opts.BatchSize:
			lastRows = time.Now()
			continue // more rows are waiting
		case n > 0:
			lastRows = time.Now()
		}
		timeout := r.opts.PollInterval
		if time.Since(lastRows) < min(busyLinger, r.opts.PollInterval) {
			timeout = min(busyPoll, r.opts.PollInterval)
		}
		if err := r.wait(ctx, conn, timeout); err != nil {
			return err
		}
	}
}

// lock waits until this session holds the relay lock.
func (r *Relay) lock(ctx context.Context, conn *pgx.Conn) error {
	for {
		var ok bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock(hashtext($1))", lockKey).Scan(&ok); err != nil {
			return fmt.Errorf("try relay lock: %w", err)
		}
		if ok {
			return nil
		}
		if !sleep(ctx, r.opts.PollInterval) {
			return ctx.Err()
		}
	}
}

// wait returns on a notification or after timeout, whichever is first.
func (r *Relay) wait(ctx context.Context, conn *pgx.Conn, timeout time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, timeout)
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

type publishError struct{ err error }

func (e publishError) Error() string { return e.err.Error() }
func (e publishError) Unwrap() error { return e.err }

type row struct {
	id      int64
	topic   string
	key     string
	headers map[string]string
	payload []byte
	age     float64
}

// relayBatch publishes the oldest unpublished rows in id order and marks
// them, returning how many it published.
func (r *Relay) relayBatch(ctx context.Context, conn *pgx.Conn) (int, error) {
	rows, err := conn.Query(ctx, `
		SELECT id, topic, record_key, headers, payload, EXTRACT(EPOCH FROM now() - created_at)::float8
		FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1`, r.opts.BatchSize)
	if err != nil {
		return 0, fmt.Errorf("read outbox: %w", err)
	}
	batch, err := pgx.CollectRows(rows, func(cr pgx.CollectableRow) (row, error) {
		var o row
		err := cr.Scan(&o.id, &o.topic, &o.key, &o.headers, &o.payload, &o.age)
		return o, err
	})
	if err != nil {
		return 0, fmt.Errorf("read outbox: %w", err)
	}
	if len(batch) == 0 {
		r.lag.Set(0)
		return 0, nil
	}
	r.lag.Set(batch[0].age)
	recs := make([]*kgo.Record, len(batch))
	ids := make([]int64, len(batch))
	for i, o := range batch {
		recs[i] = o.record()
		ids[i] = o.id
	}
	// One call keeps the batch's order per partition, hence per key.
	if err := r.pub.Produce(ctx, recs...); err != nil {
		return 0, publishError{fmt.Errorf("publish %d outbox rows: %w", len(recs), err)}
	}
	// "published_at IS NULL" (true of every row here: only this relay marks)
	// steers the planner to the small partial index even without statistics,
	// instead of scanning every row ever published for a batch of ids.
	if _, err := conn.Exec(ctx, "UPDATE outbox SET published_at = now() WHERE published_at IS NULL AND id = ANY($1)", ids); err != nil {
		return 0, fmt.Errorf("mark outbox rows published: %w", err)
	}
	for _, o := range batch {
		r.published.WithLabelValues(o.topic).Inc()
	}
	return len(batch), nil
}

func (o row) record() *kgo.Record {
	keys := make([]string, 0, len(o.headers))
	for k := range o.headers {
		keys = append(keys, k)
	}
	slices.Sort(keys) // deterministic header order
	headers := make([]kgo.RecordHeader, len(keys))
	for i, k := range keys {
		headers[i] = kgo.RecordHeader{Key: k, Value: []byte(o.headers[k])}
	}
	rec := &kgo.Record{Topic: o.topic, Headers: headers, Value: o.payload}
	if o.key != "" {
		rec.Key = []byte(o.key)
	}
	return rec
}

func (r *Relay) prune(ctx context.Context, conn *pgx.Conn) error {
	_, err := conn.Exec(ctx,
		"DELETE FROM outbox WHERE published_at < now() - make_interval(secs => $1)", r.opts.Retention.Seconds())
	if err != nil {
		return fmt.Errorf("prune outbox: %w", err)
	}
	return nil
}

// sleep waits d and reports false if ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
