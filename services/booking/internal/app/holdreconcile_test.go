package app_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mobilitycorp/platform/pkg/postgres/pgtest"
	"github.com/mobilitycorp/platform/pkg/redisx/redistest"
	"github.com/mobilitycorp/platform/services/booking/internal/adapters/postgres"
	bredis "github.com/mobilitycorp/platform/services/booking/internal/adapters/redis"
	"github.com/mobilitycorp/platform/services/booking/internal/app"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
	"github.com/mobilitycorp/platform/services/booking/migrations"
)

// indexHolds is what app.Availability does with MarkHeld/MarkFree, straight
// on the real index (Availability itself needs areas and prices not used here).
type indexHolds struct{ ix *bredis.Index }

func (h indexHolds) MarkHeld(ctx context.Context, id string) error {
	return h.ix.SetHeld(ctx, id, true)
}
func (h indexHolds) MarkFree(ctx context.Context, id string) error {
	return h.ix.SetHeld(ctx, id, false)
}

// The index is put out of step with the database on purpose (as a crash
// between a commit and its MarkHeld/MarkFree would) and the reconciler repairs
// it, counting the fixes; what agrees, or is not due yet, is left alone.
func TestHoldReconcilerRepairsIndexDrift(t *testing.T) {
	ctx := context.Background()
	store := postgres.NewBookings(pgtest.New(t, migrations.Set()))
	rdb, keys := redistest.New(t)
	ix := bredis.NewIndex(rdb, keys)
	now := time.Now().UTC().Truncate(time.Microsecond)
	reserve := func(vehicle string, start time.Duration) {
		t.Helper()
		r, err := domain.DefaultBookingRules().NewReservation(uuid.NewString(), domain.ReservationRequest{
			CustomerID: "c-" + vehicle, VehicleID: vehicle, VehicleType: domain.Car, City: "berlin",
			StartAt: now.Add(start), EndAt: now.Add(start + 2*time.Hour), PlannedDistanceKm: 10,
		}, now)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.CreateReservation(ctx, r, nil); err != nil {
			t.Fatal(err)
		}
	}
	setHeld := func(vehicle string, held bool) {
		t.Helper()
		if err := ix.SetHeld(ctx, vehicle, held); err != nil {
			t.Fatal(err)
		}
	}
	reserve("v-lost-mark", 5*time.Minute) // committed, MarkHeld lost
	reserve("v-in-step", 5*time.Minute)
	setHeld("v-in-step", true)
	setHeld("v-lost-free", true)     // released in the database, MarkFree lost
	reserve("v-later", 48*time.Hour) // booked ahead: not held yet
	setHeld("v-free", false)

	reg := prometheus.NewRegistry()
	rec, err := app.NewHoldReconciler(store, ix, indexHolds{ix}, 20*time.Millisecond, 15*time.Minute, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := rec.Reconcile(ctx)
	if err != nil || n != 2 {
		t.Fatalf("Reconcile = %d, %v; want 2 fixes", n, err)
	}
	held, err := ix.HeldVehicles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(held)
	if want := []string{"v-in-step", "v-lost-mark"}; !slices.Equal(held, want) {
		t.Fatalf("held in the index = %v, want %v", held, want)
	}
	metric := func(set string) float64 { return fixesCounted(t, reg, set) }
	if metric("held") != 1 || metric("free") != 1 {
		t.Fatalf("fixes counted held=%v free=%v, want 1 and 1", metric("held"), metric("free"))
	}
	if n, err := rec.Reconcile(ctx); err != nil || n != 0 {
		t.Fatalf("second pass = %d, %v; want nothing to fix", n, err)
	}

	// The periodic worker repairs drift introduced while it runs.
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- rec.Run(runCtx) }()
	setHeld("v-lost-mark", false)
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, _, err := ix.State(ctx, "v-lost-mark")
		if err != nil {
			t.Fatal(err)
		}
		if st.Held {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the worker did not mark v-lost-mark held again")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
}

// fixesCounted reads booking_hold_index_fixes_total{set} from reg.
func fixesCounted(t *testing.T, reg *prometheus.Registry, set string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "booking_hold_index_fixes_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "set" && l.GetValue() == set {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
