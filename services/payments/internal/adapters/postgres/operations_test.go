package postgres_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	pg "github.com/mobilitycorp/platform/services/payments/internal/adapters/postgres"
	"github.com/mobilitycorp/platform/services/payments/internal/app"
)

type opRow struct {
	status    string
	attempts  int
	failures  int
	lastError string
	dead      bool // dead_at set
	due       bool // next_attempt_at <= now()
}

func readOp(t *testing.T, pool *pgxpool.Pool, id string) opRow {
	t.Helper()
	var r opRow
	err := pool.QueryRow(context.Background(), `
		SELECT status, attempts, failures, last_error, dead_at IS NOT NULL, next_attempt_at <= now()
		FROM payment_operations WHERE id = $1`, id).Scan(&r.status, &r.attempts, &r.failures, &r.lastError, &r.dead, &r.due)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func claimIDs(t *testing.T, r *pg.Payments, limit int) []string {
	t.Helper()
	ops, err := r.ClaimDue(context.Background(), limit)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(ops))
	for i, op := range ops {
		ids[i] = op.ID
	}
	return ids
}

// The unexpected-failure path: failures below the limit keep the operation
// pending with backoff, the last one makes it dead (reported once), dead
// operations are listed and not claimed, and a requeue runs them again.
func TestFailAttemptDeadLetterAndRequeue(t *testing.T) {
	r, pool := newPayments(t)
	ctx := context.Background()
	p := createPayment(t, r, "trip-1")
	op := app.Operation{ID: "authorise:trip-1", PaymentID: p.ID, Kind: app.OpAuthorise, Amount: eur(10_00)}
	enqueue(t, r, op)

	const maxFailures = 3
	for i := 1; i <= maxFailures; i++ {
		if ids := claimIDs(t, r, 10); len(ids) != 1 {
			t.Fatalf("failure %d: claimed %v", i, ids)
		}
		dead, err := r.FailAttempt(ctx, op.ID, "boom", 0, maxFailures)
		if err != nil {
			t.Fatal(err)
		}
		if want := i == maxFailures; dead != want {
			t.Fatalf("failure %d: dead = %v, want %v", i, dead, want)
		}
		row := readOp(t, pool, op.ID)
		if row.failures != i || row.attempts != i || row.lastError != "boom" {
			t.Fatalf("failure %d: %+v", i, row)
		}
	}
	if row := readOp(t, pool, op.ID); row.status != "dead" || !row.dead {
		t.Fatalf("after %d failures: %+v", maxFailures, row)
	}
	// Dead: not claimed, no second "dead" report, not retried.
	if ids := claimIDs(t, r, 10); len(ids) != 0 {
		t.Fatalf("claimed a dead operation: %v", ids)
	}
	if _, err := r.FailAttempt(ctx, op.ID, "again", 0, maxFailures); !errors.Is(err, app.ErrOperationNotPending) {
		t.Fatalf("fail a dead operation: err = %v", err)
	}
	if err := r.RetryLater(ctx, op.ID, "x", 0); !errors.Is(err, app.ErrOperationNotPending) {
		t.Fatalf("retry a dead operation: err = %v", err)
	}

	dead, err := r.DeadOperations(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 || dead[0].ID != op.ID || dead[0].PaymentID != p.ID || dead[0].Kind != app.OpAuthorise ||
		dead[0].Amount != eur(10_00) || dead[0].Failures != maxFailures || dead[0].Attempts != maxFailures ||
		dead[0].LastError != "boom" || dead[0].DeadAt.IsZero() || dead[0].CreatedAt.IsZero() {
		t.Fatalf("dead operations = %+v", dead)
	}

	if err := r.RequeueDead(ctx, op.ID); err != nil {
		t.Fatal(err)
	}
	if row := readOp(t, pool, op.ID); row.status != "pending" || row.failures != 0 || row.dead || !row.due {
		t.Fatalf("after requeue: %+v", row)
	}
	if dead, _ := r.DeadOperations(ctx, 10); len(dead) != 0 {
		t.Fatalf("still listed dead: %+v", dead)
	}
	if err := r.RequeueDead(ctx, op.ID); !errors.Is(err, app.ErrOperationNotDead) {
		t.Fatalf("requeue a pending operation: err = %v", err)
	}
	if err := r.RequeueDead(ctx, "capture:nope"); !errors.Is(err, app.ErrOperationNotFound) {
		t.Fatalf("requeue an unknown operation: err = %v", err)
	}
	// A fresh count of failures after the requeue.
	claimIDs(t, r, 10)
	if dead, err := r.FailAttempt(ctx, op.ID, "boom", 0, maxFailures); err != nil || dead {
		t.Fatalf("first failure after requeue: dead %v, err %v", dead, err)
	}
}

// Release gives claimed operations back as if they had not been claimed: the
// attempt does not count and they are due again.
func TestReleaseDoesNotCountTheAttempt(t *testing.T) {
	r, pool := newPayments(t)
	ctx := context.Background()
	var ids []string
	for _, trip := range []string{"trip-1", "trip-2"} {
		p := createPayment(t, r, trip)
		op := app.Operation{ID: "capture:" + trip, PaymentID: p.ID, Kind: app.OpCapture, Amount: eur(5_00)}
		enqueue(t, r, op)
		ids = append(ids, op.ID)
	}
	if got := claimIDs(t, r, 10); len(got) != 2 {
		t.Fatalf("claimed %v", got)
	}
	if err := r.Release(ctx, ids, 0); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if row := readOp(t, pool, id); row.attempts != 0 || !row.due || row.status != "pending" {
			t.Fatalf("%s after release: %+v", id, row)
		}
	}
	if err := r.Release(ctx, nil, 0); err != nil {
		t.Fatalf("release nothing: %v", err)
	}
	if got := claimIDs(t, r, 10); len(got) != 2 {
		t.Fatalf("claimed after release %v", got)
	}
	if err := r.Release(ctx, ids[:1], time.Hour); err != nil {
		t.Fatal(err)
	}
	if row := readOp(t, pool, ids[0]); row.due || row.attempts != 0 {
		t.Fatalf("released with delay: %+v", row)
	}
}

// A worker that dies after claiming leaves the operation leased; it is due
// again once the lease ends, with the attempt counted.
func TestClaimedOperationComesBackAfterTheLease(t *testing.T) {
	_, pool := newPayments(t)
	r := pg.NewPayments(pool, 200*time.Millisecond)
	p := createPayment(t, r, "trip-1")
	enqueue(t, r, app.Operation{ID: "authorise:trip-1", PaymentID: p.ID, Kind: app.OpAuthorise, Amount: eur(10_00)})
	if got := claimIDs(t, r, 10); len(got) != 1 {
		t.Fatalf("claimed %v", got)
	}
	// The claimer "crashes" here.
	if got := claimIDs(t, r, 10); len(got) != 0 {
		t.Fatalf("claimed during the lease: %v", got)
	}
	time.Sleep(300 * time.Millisecond)
	ops, err := r.ClaimDue(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 1 || ops[0].Attempts != 2 {
		t.Fatalf("after the lease: %+v", ops)
	}
}

// One claim takes at most one operation per payment (the oldest due), so a
// batch run concurrently never races two operations of one payment.
func TestClaimTakesOneOperationPerPayment(t *testing.T) {
	r, _ := newPayments(t)
	p1 := createPayment(t, r, "trip-1")
	p2 := createPayment(t, r, "trip-2")
	enqueue(t, r, app.Operation{ID: "authorise:trip-1", PaymentID: p1.ID, Kind: app.OpAuthorise, Amount: eur(10_00)})
	time.Sleep(2 * time.Millisecond) // distinct next_attempt_at
	enqueue(t, r, app.Operation{ID: "capture:trip-1", PaymentID: p1.ID, Kind: app.OpCapture, Amount: eur(3_00)})
	enqueue(t, r, app.Operation{ID: "authorise:trip-2", PaymentID: p2.ID, Kind: app.OpAuthorise, Amount: eur(10_00)})

	got := claimIDs(t, r, 10)
	if len(got) != 2 || !slices.Contains(got, "authorise:trip-1") || !slices.Contains(got, "authorise:trip-2") {
		t.Fatalf("first claim = %v, want both authorisations only", got)
	}
	if got := claimIDs(t, r, 10); len(got) != 1 || got[0] != "capture:trip-1" {
		t.Fatalf("second claim = %v, want the capture", got)
	}
}
