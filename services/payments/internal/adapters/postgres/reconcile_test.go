package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mobilitycorp/platform/pkg/postgres/pgtest"
	pg "github.com/mobilitycorp/platform/services/payments/internal/adapters/postgres"
	"github.com/mobilitycorp/platform/services/payments/internal/app"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
	"github.com/mobilitycorp/platform/services/payments/migrations"
)

// TestReconciliationPagesThroughTheWindow checks PaymentsUpdated: the window
// is [from, to), pages follow (updated_at, id) without skipping or repeating
// rows that share a timestamp, and payments without an intent are listed only
// when their status says they must have one.
func TestReconciliationPagesThroughTheWindow(t *testing.T) {
	pool := pgtest.New(t, migrations.Set())
	store := pg.NewReconciliation(pool)
	ctx := context.Background()
	base := time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)
	insert := func(id string, status domain.PaymentStatus, intent string, at time.Time) {
		t.Helper()
		_, err := pool.Exec(ctx, `
			INSERT INTO payments (id, customer_id, trip_id, status, intent_id, held_minor, captured_minor, refunded_minor, currency, updated_at)
			VALUES ($1, 'c-1', $1, $2, $3, 0, 300, 100, 'EUR', $4)`, id, string(status), intent, at)
		if err != nil {
			t.Fatal(err)
		}
	}
	insert("before", domain.PaymentCaptured, "pi_b", base.Add(-time.Microsecond))
	var want []string
	for i := range 7 { // seven rows on one timestamp, three on the next
		id := fmt.Sprintf("p%d", i)
		insert(id, domain.PaymentCaptured, "pi_"+id, base)
		want = append(want, id)
	}
	for i := 7; i < 10; i++ {
		id := fmt.Sprintf("p%d", i)
		insert(id, domain.PaymentAuthorised, "pi_"+id, base.Add(time.Second))
		want = append(want, id)
	}
	insert("pending-no-intent", domain.PaymentPendingAuthorisation, "", base.Add(2*time.Second))
	insert("canceled-no-intent", domain.PaymentCanceled, "", base.Add(2*time.Second))
	insert("captured-no-intent", domain.PaymentCaptured, "", base.Add(2*time.Second))
	want = append(want, "captured-no-intent")
	insert("at-the-end", domain.PaymentCaptured, "pi_e", base.Add(time.Minute))

	from, to := base, base.Add(time.Minute)
	var got []string
	var after app.ReconcileCursor
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		recs, err := store.PaymentsUpdated(ctx, from, to, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			got = append(got, r.PaymentID)
			if r.Captured != eur(300) || r.Refunded != eur(100) || r.UpdatedAt.IsZero() {
				t.Errorf("record %+v, want captured 3.00 EUR, refunded 1.00 EUR and its update time", r)
			}
		}
		if len(recs) < 3 {
			break
		}
		last := recs[len(recs)-1]
		after = app.ReconcileCursor{UpdatedAt: last.UpdatedAt, PaymentID: last.PaymentID}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("paged %v, want %v", got, want)
	}
}

// TestReconciliationRuns checks the run records: one running run at a time,
// LastRun by start and by window end of complete runs, and mismatches stored
// in the order given.
func TestReconciliationRuns(t *testing.T) {
	pool := pgtest.New(t, migrations.Set())
	store := pg.NewReconciliation(pool)
	ctx := context.Background()
	base := time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)
	if _, ok, err := store.LastRun(ctx, false); err != nil || ok {
		t.Fatalf("LastRun on no runs = %v, %v", ok, err)
	}
	if _, err := pool.Exec(ctx, `
		INSERT INTO payments (id, customer_id, trip_id, status, intent_id, held_minor, captured_minor, currency)
		VALUES ('pay-1', 'c-1', 't-1', 'captured', 'pi_1', 0, 500, 'EUR')`); err != nil {
		t.Fatal(err)
	}

	first, err := store.StartRun(ctx, base.Add(-time.Hour), base, base, base.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.StartRun(ctx, base, base.Add(time.Hour), base.Add(time.Minute), base.Add(-time.Hour)); !errors.Is(err, app.ErrReconcileRunning) {
		t.Fatalf("second StartRun: %v, want ErrReconcileRunning", err)
	}
	ms := []app.Mismatch{
		{PaymentID: "pay-1", IntentID: "pi_1", Kind: app.MismatchCaptured, OurStatus: domain.PaymentCaptured,
			GatewayStatus: app.StatusSucceeded, Ours: eur(500), Gateway: eur(600), Detail: "d1", FoundAt: base},
		{PaymentID: "pay-1", IntentID: "pi_1", Kind: app.MismatchRefunded, OurStatus: domain.PaymentCaptured,
			GatewayStatus: app.StatusSucceeded, Ours: eur(0), Gateway: eur(100), Detail: "d2", FoundAt: base},
	}
	if err := store.AddMismatches(ctx, first, ms); err != nil {
		t.Fatal(err)
	}
	if err := store.AddMismatches(ctx, first, []app.Mismatch{{PaymentID: "pay-1", Kind: "made_up", OurStatus: "captured", FoundAt: base}}); err == nil {
		t.Error("a mismatch of an unknown kind was stored")
	}
	run := app.ReconcileRun{ID: first, Status: app.RunComplete, FinishedAt: base.Add(time.Minute), Checked: 1, Mismatches: 2}
	if err := store.FinishRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	second, err := store.StartRun(ctx, base, base.Add(time.Hour), base.Add(2*time.Hour), base)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.FinishRun(ctx, app.ReconcileRun{ID: second, Status: app.RunIncomplete, FinishedAt: base.Add(2 * time.Hour), Unchecked: 3}); err != nil {
		t.Fatal(err)
	}

	latest, ok, err := store.LastRun(ctx, false)
	if err != nil || !ok || latest.ID != second || latest.Status != app.RunIncomplete || latest.Unchecked != 3 {
		t.Fatalf("LastRun = %+v, %v, %v; want the incomplete second run", latest, ok, err)
	}
	complete, ok, err := store.LastRun(ctx, true)
	if err != nil || !ok || complete.ID != first || !complete.WindowTo.Equal(base) || complete.Checked != 1 || complete.Mismatches != 2 ||
		!complete.FinishedAt.Equal(base.Add(time.Minute)) {
		t.Fatalf("LastRun(complete) = %+v, %v, %v; want the first run", complete, ok, err)
	}
	got, err := store.Mismatches(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("stored mismatches %+v, want 2", got)
	}
	for i := range ms {
		g, w := got[i], ms[i]
		if g.Kind != w.Kind || g.Ours != w.Ours || g.Gateway != w.Gateway || g.GatewayStatus != w.GatewayStatus ||
			g.OurStatus != w.OurStatus || g.Detail != w.Detail || g.IntentID != w.IntentID || !g.FoundAt.Equal(w.FoundAt) {
			t.Errorf("mismatch %d = %+v, want %+v", i, g, w)
		}
	}
}
