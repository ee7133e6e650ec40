package app_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mobilitycorp/platform/pkg/postgres/pgtest"
	"github.com/mobilitycorp/platform/services/booking/internal/adapters/postgres"
	"github.com/mobilitycorp/platform/services/booking/internal/app"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
	"github.com/mobilitycorp/platform/services/booking/migrations"
)

func pricingEUR(minor int64) domain.Money { return domain.Money{AmountMinor: minor, Currency: "EUR"} }

func newPricing(t *testing.T) (*app.Pricing, *pgxpool.Pool) {
	t.Helper()
	db := pgtest.New(t, migrations.Set())
	return app.NewPricing(postgres.NewPricingStore(db), app.PricingOptions{}), db
}

func TestPricingQuoteFinalPriceAndFees(t *testing.T) {
	ctx := context.Background()
	p, _ := newPricing(t)
	tests := []struct {
		typ     domain.VehicleType
		minutes int64
		total   int64
	}{
		{domain.EBike, 20, 100 + 20*25},
		{domain.EScooter, 20, 100 + 20*30},
		{domain.Car, 120, 100 + 120*45},
		{domain.Van, 60, 100 + 60*50},
	}
	for _, tt := range tests {
		q, err := p.Quote(ctx, tt.typ, "Berlin", "", tt.minutes)
		if err != nil || q.Total != pricingEUR(tt.total) || q.QuotedAt.IsZero() {
			t.Errorf("quote %s %d min = %+v, %v; want %d", tt.typ, tt.minutes, q, err, tt.total)
		}
	}
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	fp, err := p.FinalPrice(ctx, domain.EScooter, "berlin", "", start, start.Add(17*time.Minute+time.Second))
	if err != nil || fp.Minutes != 18 || fp.Total != pricingEUR(100+18*30) {
		t.Fatalf("final price = %+v, %v", fp, err)
	}
	if _, err := p.Quote(ctx, domain.EBike, "paris", "", 10); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("quote in a city without tariffs: %v", err)
	}
	fees := []struct {
		name string
		get  func(context.Context, string) (domain.Money, error)
		want int64
	}{
		{"wrong location", p.WrongLocationFine, 2500},
		{"late return", p.LateReturnFine, 3000},
		{"under-served reward", p.UnderServedReward, 200},
		{"cancellation", p.CancellationFee, 300},
	}
	for _, f := range fees {
		if m, err := f.get(ctx, "berlin"); err != nil || m != pricingEUR(f.want) {
			t.Errorf("%s = %v, %v; want %d", f.name, m, err, f.want)
		}
	}
	if _, err := p.WrongLocationFine(ctx, "paris"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("fine in a city without pricing: %v", err)
	}
}

func TestPricingTariffChangesApplyAtOnceHereAndSoonElsewhere(t *testing.T) {
	ctx := context.Background()
	p, db := newPricing(t)
	// Another instance on the same database, refreshing every 20 ms.
	other := app.NewPricing(postgres.NewPricingStore(db), app.PricingOptions{Refresh: 20 * time.Millisecond})
	if err := other.Load(ctx); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- other.Run(runCtx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	if _, err := p.Terms(ctx, domain.EBike, "berlin", ""); err != nil { // load the book
		t.Fatal(err)
	}
	tr, err := p.PutTariff(ctx, "staff-1", domain.Tariff{City: "Berlin", VehicleType: domain.EBike, UnlockFee: pricingEUR(50), PerMinute: pricingEUR(20)})
	if err != nil || tr.UpdatedBy != "staff-1" || tr.City != "berlin" {
		t.Fatalf("put tariff: %+v, %v", tr, err)
	}
	if terms, _ := p.Terms(ctx, domain.EBike, "berlin", ""); terms.PerMinute != pricingEUR(20) || terms.UnlockFee != pricingEUR(50) {
		t.Fatalf("this instance still prices at %+v", terms)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		terms, _ := other.Terms(ctx, domain.EBike, "berlin", "")
		if terms.PerMinute == pricingEUR(20) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the other instance never saw the change: %+v", terms)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Wrong currency, unknown city.
	if _, err := p.PutTariff(ctx, "staff-1", domain.Tariff{City: "berlin", VehicleType: domain.EBike, UnlockFee: domain.Money{AmountMinor: 1, Currency: "PLN"}, PerMinute: domain.Money{AmountMinor: 1, Currency: "PLN"}}); !errors.Is(err, domain.ErrInvalid) {
		t.Fatalf("tariff in another currency: %v", err)
	}
	if _, err := p.PutTariff(ctx, "staff-1", domain.Tariff{City: "paris", VehicleType: domain.EBike, UnlockFee: pricingEUR(1), PerMinute: pricingEUR(1)}); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("tariff of a city without pricing: %v", err)
	}
	// A new city, then its tariff.
	if _, err := p.PutCity(ctx, "staff-1", domain.CityPricing{City: "Paris", Currency: "EUR", WrongLocationFine: pricingEUR(3000), LateReturnFine: pricingEUR(3000), UnderServedReward: pricingEUR(100), CancellationFee: pricingEUR(200)}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.PutTariff(ctx, "staff-1", domain.Tariff{City: "paris", VehicleType: domain.EBike, UnlockFee: pricingEUR(100), PerMinute: pricingEUR(30)}); err != nil {
		t.Fatal(err)
	}
	if q, err := p.Quote(ctx, domain.EBike, "paris", "", 10); err != nil || q.Total != pricingEUR(400) {
		t.Fatalf("paris quote = %+v, %v", q, err)
	}
	c, ts, err := p.City(ctx, "paris")
	if err != nil || c.WrongLocationFine != pricingEUR(3000) || len(ts) != 1 {
		t.Fatalf("paris = %+v %+v %v", c, ts, err)
	}
}

func TestPricingMultiplierOverrideNeedsAnAdmin(t *testing.T) {
	ctx := context.Background()
	p, _ := newPricing(t)
	perMinute := func() domain.Money {
		t.Helper()
		terms, err := p.Terms(ctx, domain.EScooter, "berlin", "")
		if err != nil {
			t.Fatal(err)
		}
		return terms.PerMinute
	}
	c, err := p.RequestMultiplier(ctx, "staff-1", "berlin", "", 300, "new year's eve")
	if err != nil || c.Status != domain.ChangePending {
		t.Fatalf("3.00x request = %+v, %v; want pending", c, err)
	}
	if got := perMinute(); got != pricingEUR(30) {
		t.Fatalf("pending override already in force: %v", got)
	}
	if _, err := p.ApproveMultiplier(ctx, "staff-1", c.ID); !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("self-approval: %v", err)
	}
	approved, err := p.ApproveMultiplier(ctx, "admin-1", c.ID)
	if err != nil || approved.Status != domain.ChangeApproved || approved.DecidedBy != "admin-1" {
		t.Fatalf("approve: %+v, %v", approved, err)
	}
	if got := perMinute(); got != pricingEUR(90) {
		t.Fatalf("approved 3.00x: %v per minute, want 0.90", got)
	}
	in, err := p.RequestMultiplier(ctx, "staff-1", "berlin", "", 120, "back to normal-ish")
	if err != nil || in.Status != domain.ChangeApplied || perMinute() != pricingEUR(36) {
		t.Fatalf("1.20x within bounds: %+v, %v, %v", in, err, perMinute())
	}
	rej, _ := p.RequestMultiplier(ctx, "staff-1", "berlin", "", 40, "too cheap")
	if r, err := p.RejectMultiplier(ctx, "admin-1", rej.ID); err != nil || r.Status != domain.ChangeRejected {
		t.Fatalf("reject: %+v, %v", r, err)
	}
	if perMinute() != pricingEUR(36) {
		t.Fatal("a rejected override changed the price")
	}
	ms, err := p.Multipliers(ctx, "berlin")
	if err != nil || len(ms) != 1 || ms[0].Value != 120 {
		t.Fatalf("multipliers = %+v, %v", ms, err)
	}
	list, err := p.ListMultiplierChanges(ctx, domain.MultiplierChangeFilter{City: "Berlin", Status: domain.ChangeApproved}, nil, 10)
	if err != nil || len(list) != 1 || list[0].ID != c.ID {
		t.Fatalf("approved changes = %+v, %v", list, err)
	}
	if _, err := p.RequestMultiplier(ctx, "staff-1", "atlantis", "", 120, "x"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("multiplier for a city without pricing: %v", err)
	}
}
