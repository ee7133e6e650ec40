package inbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mobilitycorp/platform/pkg/inbox"
	"github.com/mobilitycorp/platform/pkg/postgres/pgtest"
)

func TestClaim(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	claim := func(consumer, id string, commit bool) bool {
		t.Helper()
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
		first, err := inbox.Claim(ctx, tx, consumer, id)
		if err != nil {
			t.Fatal(err)
		}
		if commit {
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
		return first
	}
	steps := []struct {
		name     string
		consumer string
		id       string
		commit   bool
		want     bool
	}{
		{"first delivery", "billing", "e1", true, true},
		{"redelivery is a duplicate", "billing", "e1", true, false},
		{"another consumer has its own claims", "notifications", "e1", true, true},
		{"another event", "billing", "e2", false, true},
		{"a rolled back claim does not count", "billing", "e2", true, true},
		{"after which it is a duplicate", "billing", "e2", true, false},
	}
	for _, s := range steps {
		if got := claim(s.consumer, s.id, s.commit); got != s.want {
			t.Errorf("%s: Claim(%s, %s) = %v, want %v", s.name, s.consumer, s.id, got, s.want)
		}
	}
}

// Two deliveries of one event handled at the same time: the second claim
// waits for the first transaction and then sees the duplicate.
func TestConcurrentClaimWaitsForTheFirst(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	for _, commitFirst := range []bool{true, false} {
		id := "evt-commit"
		if !commitFirst {
			id = "evt-rollback"
		}
		tx1, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if first, err := inbox.Claim(ctx, tx1, "billing", id); err != nil || !first {
			t.Fatalf("first claim = %v, %v", first, err)
		}
		result := make(chan bool, 1)
		errc := make(chan error, 1)
		go func() {
			err := pgx.BeginFunc(ctx, pool, func(tx2 pgx.Tx) error {
				first, err := inbox.Claim(ctx, tx2, "billing", id)
				result <- first
				return err
			})
			errc <- err
		}()
		// The second claim must block on the first transaction's row.
		waitForLockWait(t, pool)
		if commitFirst {
			err = tx1.Commit(ctx)
		} else {
			err = tx1.Rollback(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if got, want := <-result, !commitFirst; got != want {
			t.Errorf("commit first = %v: second claim = %v, want %v", commitFirst, got, want)
		}
	}
}

func waitForLockWait(t *testing.T, pool interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		err := pool.QueryRow(context.Background(),
			"SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'").Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("second claim never waited for the first transaction")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPrune(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `INSERT INTO inbox (consumer, event_id, processed_at) VALUES
		('billing', 'old', now() - interval '10 days'), ('billing', 'new', now())`); err != nil {
		t.Fatal(err)
	}
	n, err := inbox.Prune(ctx, pool, 7*24*time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v; want 1 row", n, err)
	}
	var left []string
	rows, err := pool.Query(ctx, "SELECT event_id FROM inbox")
	if err != nil {
		t.Fatal(err)
	}
	left, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(left) != 1 || left[0] != "new" {
		t.Fatalf("rows left = %v, %v; want [new]", left, err)
	}
}
