package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mobilitycorp/platform/services/payments/internal/app"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

// Reconciliation stores reconciliation runs and their mismatches (tables
// reconciliation_runs and reconciliation_mismatches, migration 00005) and
// reads the payments a run compares.
type Reconciliation struct {
	pool *pgxpool.Pool
}

var _ app.ReconcileStore = (*Reconciliation)(nil)

// NewReconciliation returns the store on pool.
func NewReconciliation(pool *pgxpool.Pool) *Reconciliation { return &Reconciliation{pool: pool} }

// StartRun marks abandoned runs failed and inserts a running one, in one
// transaction. The partial unique index on running runs makes a concurrent
// start find ErrReconcileRunning instead of a second run.
func (r *Reconciliation) StartRun(ctx context.Context, from, to, now, staleBefore time.Time) (int64, error) {
	var id int64
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
			UPDATE reconciliation_runs SET status = 'failed', finished_at = $1,
				error = 'abandoned: still running long after its timeout (its process died?)'
			WHERE status = 'running' AND started_at < $2`, now, staleBefore); err != nil {
			return fmt.Errorf("abandon stale reconciliation runs: %w", err)
		}
		err := tx.QueryRow(ctx, `
			INSERT INTO reconciliation_runs (status, window_from, window_to, started_at)
			VALUES ('running', $1, $2, $3)
			ON CONFLICT DO NOTHING
			RETURNING id`, from, to, now).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return app.ErrReconcileRunning
		}
		if err != nil {
			return fmt.Errorf("insert reconciliation run: %w", err)
		}
		return nil
	})
	return id, err
}

const runColumns = `id, status, window_from, window_to, started_at, finished_at, checked, unchecked, mismatches, error`

func scanRun(row pgx.Row) (app.ReconcileRun, error) {
	var run app.ReconcileRun
	var finished *time.Time
	err := row.Scan(&run.ID, &run.Status, &run.WindowFrom, &run.WindowTo, &run.StartedAt, &finished,
		&run.Checked, &run.Unchecked, &run.Mismatches, &run.Error)
	if finished != nil {
		run.FinishedAt = *finished
	}
	return run, err
}

// LastRun returns the latest run by start, or the latest complete run by window end.
func (r *Reconciliation) LastRun(ctx context.Context, completeOnly bool) (app.ReconcileRun, bool, error) {
	q := `SELECT ` + runColumns + ` FROM reconciliation_runs ORDER BY started_at DESC, id DESC LIMIT 1`
	if completeOnly {
		q = `SELECT ` + runColumns + ` FROM reconciliation_runs WHERE status = 'complete' ORDER BY window_to DESC, id DESC LIMIT 1`
	}
	run, err := scanRun(r.pool.QueryRow(ctx, q))
	if errors.Is(err, pgx.ErrNoRows) {
		return app.ReconcileRun{}, false, nil
	}
	if err != nil {
		return app.ReconcileRun{}, false, fmt.Errorf("last reconciliation run: %w", err)
	}
	return run, true, nil
}

// Run reads one run; false when there is none.
func (r *Reconciliation) Run(ctx context.Context, id int64) (app.ReconcileRun, bool, error) {
	run, err := scanRun(r.pool.QueryRow(ctx, `SELECT `+runColumns+` FROM reconciliation_runs WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return app.ReconcileRun{}, false, nil
	}
	if err != nil {
		return app.ReconcileRun{}, false, fmt.Errorf("reconciliation run %d: %w", id, err)
	}
	return run, true, nil
}

// PaymentsUpdated pages through the payments updated in [from, to) by
// (updated_at, id) (index payments_updated). Payments without an intent are
// left out unless their status says they must have one.
func (r *Reconciliation) PaymentsUpdated(ctx context.Context, from, to time.Time, after app.ReconcileCursor, limit int) ([]app.ReconcileRecord, error) {
	// The zero cursor starts at from: (from, '') sorts before every row of the window.
	if after.UpdatedAt.IsZero() {
		after.UpdatedAt = from
	}
	rows, err := r.pool.Query(ctx, `
		SELECT id, intent_id, status, captured_minor, refunded_minor, currency, updated_at
		FROM payments
		WHERE updated_at >= $1 AND updated_at < $2
		  AND (updated_at, id) > ($3, $4)
		  AND (intent_id <> '' OR status IN ('authorised', 'capture_pending', 'captured'))
		ORDER BY updated_at, id
		LIMIT $5`, from, to, after.UpdatedAt, after.PaymentID, limit)
	if err != nil {
		return nil, fmt.Errorf("payments to reconcile: %w", err)
	}
	recs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (app.ReconcileRecord, error) {
		var rec app.ReconcileRecord
		var currency string
		err := row.Scan(&rec.PaymentID, &rec.IntentID, &rec.Status, &rec.Captured.AmountMinor,
			&rec.Refunded.AmountMinor, &currency, &rec.UpdatedAt)
		rec.Captured.Currency, rec.Refunded.Currency = currency, currency
		return rec, err
	})
	if err != nil {
		return nil, fmt.Errorf("payments to reconcile: %w", err)
	}
	return recs, nil
}

var mismatchColumns = []string{"run_id", "payment_id", "intent_id", "kind", "our_status", "gateway_status",
	"our_minor", "gateway_minor", "currency", "gateway_currency", "detail", "found_at"}

// AddMismatches stores mismatches of run runID in one COPY.
func (r *Reconciliation) AddMismatches(ctx context.Context, runID int64, ms []app.Mismatch) error {
	rows := make([][]any, len(ms))
	for i, m := range ms {
		rows[i] = []any{runID, m.PaymentID, m.IntentID, string(m.Kind), string(m.OurStatus), string(m.GatewayStatus),
			m.Ours.AmountMinor, m.Gateway.AmountMinor, m.Ours.Currency, m.Gateway.Currency, m.Detail, m.FoundAt}
	}
	if _, err := r.pool.CopyFrom(ctx, pgx.Identifier{"reconciliation_mismatches"}, mismatchColumns, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("store %d mismatches of run %d: %w", len(ms), runID, err)
	}
	return nil
}

// Mismatches lists the mismatches of run runID in the order found.
func (r *Reconciliation) Mismatches(ctx context.Context, runID int64) ([]app.Mismatch, error) {
	rows, err := r.pool.Query(ctx, `
		SELECT payment_id, intent_id, kind, our_status, gateway_status, our_minor, gateway_minor,
			currency, gateway_currency, detail, found_at
		FROM reconciliation_mismatches WHERE run_id = $1 ORDER BY id`, runID)
	if err != nil {
		return nil, fmt.Errorf("mismatches of run %d: %w", runID, err)
	}
	ms, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (app.Mismatch, error) {
		var m app.Mismatch
		var ourStatus, gwStatus string
		err := row.Scan(&m.PaymentID, &m.IntentID, &m.Kind, &ourStatus, &gwStatus, &m.Ours.AmountMinor,
			&m.Gateway.AmountMinor, &m.Ours.Currency, &m.Gateway.Currency, &m.Detail, &m.FoundAt)
		m.OurStatus, m.GatewayStatus = domain.PaymentStatus(ourStatus), app.IntentStatus(gwStatus)
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("mismatches of run %d: %w", runID, err)
	}
	return ms, nil
}

// FinishRun records a running run's outcome; a run no longer running (marked
// abandoned meanwhile) is an error, so a late finish does not overwrite that.
func (r *Reconciliation) FinishRun(ctx context.Context, run app.ReconcileRun) error {
	tag, err := r.pool.Exec(ctx, `
		UPDATE reconciliation_runs
		SET status = $2, finished_at = $3, checked = $4, unchecked = $5, mismatches = $6, error = $7
		WHERE id = $1 AND status = 'running'`,
		run.ID, string(run.Status), run.FinishedAt, run.Checked, run.Unchecked, run.Mismatches, run.Error)
	if err != nil {
		return fmt.Errorf("finish reconciliation run %d: %w", run.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("finish reconciliation run %d: not running any more", run.ID)
	}
	return nil
}
