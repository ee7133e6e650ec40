package postgres_test

import (
	"context"
	"errors"
	"testing"

	pg "github.com/mobilitycorp/platform/services/payments/internal/adapters/postgres"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

func TestHoldPostedForLess(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	const c = "c1"
	hold, trip := domain.CustomerHold(c), domain.CustomerReceivable(c)

	// Pre-authorise 10.00 before the ride: held, but nothing posted.
	post(t, l, must(t)(domain.HoldEntry(c, "pay-1", eur(1000))))
	assertBalances(t, l, "EUR", map[domain.AccountID]balance{
		hold: {pending: 1000}, domain.AccountGatewayHolds: {pending: -1000}, domain.AccountGatewayClearing: {},
	})

	// The ride cost 6.12: charge it, then capture 6.12 of the 10.00 hold.
	post(t, l, must(t)(domain.TripChargeEntry(c, "trip-1", eur(100), eur(512))))
	id, replayed, err := l.PostHold(ctx, "pay-1", eur(612))
	if err != nil || replayed {
		t.Fatalf("PostHold = %d, %v, %v", id, replayed, err)
	}
	// The whole hold is gone (the gateway released the other 3.88), 6.12 is cash.
	want := map[domain.AccountID]balance{
		hold: {}, domain.AccountGatewayHolds: {}, trip: {}, domain.AccountGatewayClearing: {posted: 612},
	}
	assertBalances(t, l, "EUR", want)

	entries, err := l.Entries(ctx, "pay-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].Kind != domain.KindHold || entries[0].Status != domain.EntryPosted ||
		entries[1].Kind != domain.KindHoldPost || entries[1].ID != id {
		t.Fatalf("entries of pay-1 = %+v, want the posted hold and its hold_post %d", entries, id)
	}

	tests := []struct {
		name         string
		amount       domain.Money
		wantErr      error
		wantReplayed bool
	}{
		{"same post again is a replay", eur(612), nil, true},
		{"another amount is a conflict", eur(700), pg.ErrReferenceConflict, false},
		{"more than held is refused", eur(1001), domain.ErrExceedsHold, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, replayed, err := l.PostHold(ctx, "pay-1", tt.amount)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && (got != id || replayed != tt.wantReplayed) {
				t.Fatalf("PostHold = %d replayed %v, want %d replayed %v", got, replayed, id, tt.wantReplayed)
			}
		})
	}
	if err := l.VoidHold(ctx, "pay-1"); !errors.Is(err, domain.ErrHoldResolved) {
		t.Fatalf("void of a posted hold: err = %v, want ErrHoldResolved", err)
	}
	assertBalances(t, l, "EUR", want)
	assertClean(t, l)
}

func TestHoldVoided(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	post(t, l, must(t)(domain.HoldEntry("c1", "pay-1", eur(1000))))
	post(t, l, must(t)(domain.HoldEntry("c1", "pay-2", eur(500))))
	assertBalances(t, l, "EUR", map[domain.AccountID]balance{domain.CustomerHold("c1"): {pending: 1500}})

	// The reservation was cancelled: the hold is released, nothing is captured.
	if err := l.VoidHold(ctx, "pay-1"); err != nil {
		t.Fatal(err)
	}
	if err := l.VoidHold(ctx, "pay-1"); err != nil {
		t.Fatalf("replayed void: %v", err)
	}
	assertBalances(t, l, "EUR", map[domain.AccountID]balance{
		domain.CustomerHold("c1"): {pending: 500}, domain.AccountGatewayHolds: {pending: -500}, domain.AccountGatewayClearing: {},
	})
	entries, err := l.Entries(ctx, "pay-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Status != domain.EntryVoided {
		t.Fatalf("entries of pay-1 = %+v, want one voided hold", entries)
	}

	tests := []struct {
		name      string
		reference string
		wantErr   error
	}{
		{"post a voided hold", "pay-1", domain.ErrHoldResolved},
		{"post an unknown hold", "pay-404", pg.ErrHoldNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := l.PostHold(ctx, tt.reference, eur(100)); !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
	if err := l.VoidHold(ctx, "pay-404"); !errors.Is(err, pg.ErrHoldNotFound) {
		t.Fatalf("void unknown: err = %v, want ErrHoldNotFound", err)
	}
	assertClean(t, l)
}
