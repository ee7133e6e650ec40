package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mobilitycorp/platform/pkg/postgres/pgtest"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
	"github.com/mobilitycorp/platform/services/booking/migrations"
)

func newPricingStore(t *testing.T) *PricingStore {
	t.Helper()
	return NewPricingStore(pgtest.New(t, migrations.Set()))
}

func eur(minor int64) domain.Money { return domain.Money{AmountMinor: minor, Currency: "EUR"} }

func TestSeededBerlinPrices(t *testing.T) {
	s := newPricingStore(t)
	book, err := s.PriceBook(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[domain.VehicleType]int64{domain.EBike: 25, domain.EScooter: 30, domain.Car: 45, domain.Van: 50}
	for typ, perMinute := range want {
		terms, err := book.Terms("berlin", typ, "")
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if terms.UnlockFee != eur(100) || terms.PerMinute != eur(perMinute) || terms.Multiplier != domain.NeutralMultiplier {
			t.Errorf("%s: %+v, want 1.00 EUR + %d cents/min at 1.00x", typ, terms, perMinute)
		}
	}
	c, ok := book.City("berlin")
	if !ok || c.WrongLocationFine != eur(2500) || c.LateReturnFine != eur(3000) || c.UnderServedReward != eur(200) || c.CancellationFee != eur(300) {
		t.Fatalf("berlin city pricing = %+v, %v", c, ok)
	}
}

func TestUpdateCityAndTariff(t *testing.T) {
	s := newPricingStore(t)
	ctx := context.Background()
	now := time.Now().UTC()
	pln := func(m int64) domain.Money { return domain.Money{AmountMinor: m, Currency: "PLN"} }

	if _, err := s.UpdateTariff(ctx, "warszawa", domain.EBike, func(*domain.Tariff, string, bool) error { return nil }); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("tariff of a city without pricing: %v, want ErrNotFound", err)
	}
	c, err := s.UpdateCity(ctx, "warszawa", func(c *domain.CityPricing, exists bool) error {
		if exists {
			t.Error("new city reported as existing")
		}
		*c = domain.CityPricing{City: "warszawa", Currency: "PLN", WrongLocationFine: pln(10000), LateReturnFine: pln(12000), UnderServedReward: pln(800), CancellationFee: pln(1000), UpdatedAt: now, UpdatedBy: "staff-1"}
		return nil
	})
	if err != nil || c.Currency != "PLN" {
		t.Fatalf("create city: %+v, %v", c, err)
	}
	_, err = s.UpdateCity(ctx, "warszawa", func(c *domain.CityPricing, exists bool) error {
		c.Currency = "EUR"
		return nil
	})
	if !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("currency change: %v, want ErrConflict", err)
	}
	tr, err := s.UpdateTariff(ctx, "warszawa", domain.EBike, func(tr *domain.Tariff, currency string, exists bool) error {
		if exists || currency != "PLN" {
			t.Errorf("exists=%v currency=%s", exists, currency)
		}
		tr.UnlockFee, tr.PerMinute, tr.UpdatedAt, tr.UpdatedBy = pln(300), pln(90), now, "staff-1"
		return nil
	})
	if err != nil || tr.PerMinute != pln(90) {
		t.Fatalf("create tariff: %+v, %v", tr, err)
	}
	got, err := s.Tariff(ctx, "warszawa", domain.EBike)
	if err != nil || got.UnlockFee != pln(300) || got.UpdatedBy != "staff-1" {
		t.Fatalf("read back: %+v, %v", got, err)
	}
	// A failing closure changes nothing.
	boom := errors.New("boom")
	if _, err := s.UpdateTariff(ctx, "warszawa", domain.EBike, func(tr *domain.Tariff, _ string, _ bool) error {
		tr.PerMinute = pln(1)
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("closure error: %v", err)
	}
	if got, _ := s.Tariff(ctx, "warszawa", domain.EBike); got.PerMinute != pln(90) {
		t.Fatalf("rolled-back update leaked: %+v", got)
	}
	if _, err := s.Tariff(ctx, "warszawa", domain.Van); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("missing tariff: %v", err)
	}
}

func newChange(t *testing.T, city string, value domain.Multiplier, at time.Time) domain.MultiplierChange {
	t.Helper()
	c, err := domain.NewMultiplierChange(uuid.NewString(), city, "", value, "test", "staff-1", at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestMultiplierChanges(t *testing.T) {
	s := newPricingStore(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)

	applied := newChange(t, "berlin", 150, now.Add(-3*time.Minute))
	if err := s.CreateMultiplierChange(ctx, applied); err != nil {
		t.Fatal(err)
	}
	pending := newChange(t, "berlin", 300, now.Add(-2*time.Minute))
	if err := s.CreateMultiplierChange(ctx, pending); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateMultiplierChange(ctx, newChange(t, "atlantis", 120, now)); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("change for a city without pricing: %v", err)
	}
	ms, err := s.Multipliers(ctx, "berlin")
	if err != nil || len(ms) != 1 || ms[0].Value != 150 || ms[0].ChangeID != applied.ID {
		t.Fatalf("after an applied and a pending change: %+v, %v; want only 1.50x in force", ms, err)
	}

	// The requester cannot approve; the closure's refusal leaves the row pending.
	if _, err := s.DecideMultiplierChange(ctx, pending.ID, func(c *domain.MultiplierChange) error {
		return c.Approve("staff-1", now)
	}); !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("self-approval: %v", err)
	}
	got, err := s.DecideMultiplierChange(ctx, pending.ID, func(c *domain.MultiplierChange) error {
		return c.Approve("admin-1", now)
	})
	if err != nil || got.Status != domain.ChangeApproved {
		t.Fatalf("approve: %+v, %v", got, err)
	}
	book, err := s.PriceBook(ctx)
	if err != nil || book.Multiplier("berlin", "any-zone") != 300 {
		t.Fatalf("approved 3.00x not in force: %v", err)
	}
	if _, err := s.DecideMultiplierChange(ctx, pending.ID, func(c *domain.MultiplierChange) error {
		return c.Reject("admin-2", now)
	}); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("second decision: %v", err)
	}
	if _, err := s.MultiplierChange(ctx, uuid.NewString()); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("unknown change: %v", err)
	}
	if _, err := s.MultiplierChange(ctx, "not-a-uuid"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("malformed id: %v", err)
	}

	// A pending change past its expiry reads as expired, and cannot be approved.
	stale := newChange(t, "berlin", 20, now.Add(-domain.MultiplierApprovalTTL-time.Minute))
	if err := s.CreateMultiplierChange(ctx, stale); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.MultiplierChange(ctx, stale.ID); c.Status != domain.ChangeExpired {
		t.Fatalf("stale pending change reads as %s", c.Status)
	}
	if _, err := s.DecideMultiplierChange(ctx, stale.ID, func(c *domain.MultiplierChange) error {
		return c.Approve("admin-1", now)
	}); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("approve expired: %v", err)
	}

	// Listing: newest first, paged by cursor, filtered by status.
	page1, err := s.ListMultiplierChanges(ctx, domain.MultiplierChangeFilter{City: "berlin"}, nil, 2)
	if err != nil || len(page1) != 2 || page1[0].ID != pending.ID || page1[1].ID != applied.ID {
		t.Fatalf("page 1: %+v, %v", page1, err)
	}
	last := page1[1]
	page2, err := s.ListMultiplierChanges(ctx, domain.MultiplierChangeFilter{City: "berlin"}, &domain.MultiplierChangeCursor{RequestedAt: last.RequestedAt, ID: last.ID}, 2)
	if err != nil || len(page2) != 1 || page2[0].ID != stale.ID {
		t.Fatalf("page 2: %+v, %v", page2, err)
	}
	exp, err := s.ListMultiplierChanges(ctx, domain.MultiplierChangeFilter{Status: domain.ChangeExpired}, nil, 10)
	if err != nil || len(exp) != 1 || exp[0].ID != stale.ID {
		t.Fatalf("expired filter: %+v, %v", exp, err)
	}
}

// The database itself refuses an out-of-bounds multiplier without approval,
// and a change applied by its requester outside the bounds.
func TestDatabaseGuardsMultiplierBounds(t *testing.T) {
	s := newPricingStore(t)
	ctx := context.Background()
	c := newChange(t, "berlin", 150, time.Now().UTC())
	if err := s.CreateMultiplierChange(ctx, c); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		sql  string
		args []any
	}{
		{"unapproved 3.00x in force", `UPDATE price_multipliers SET value_hundredths = 300 WHERE city = 'berlin'`, nil},
		{"self-applied 3.00x change", `INSERT INTO multiplier_changes (id, city, value_hundredths, reason, status, requested_by, requested_at, expires_at)
			VALUES ($1, 'berlin', 300, 'x', 'applied', 's', now(), now())`, []any{uuid.NewString()}},
		{"self-approved change", `INSERT INTO multiplier_changes (id, city, value_hundredths, reason, status, requested_by, requested_at, expires_at, decided_by, decided_at)
			VALUES ($1, 'berlin', 300, 'x', 'approved', 's', now(), now(), 's', now())`, []any{uuid.NewString()}},
	}
	for _, tt := range tests {
		if _, err := s.db.Exec(ctx, tt.sql, tt.args...); err == nil {
			t.Errorf("%s: accepted by the database", tt.name)
		}
	}
}
