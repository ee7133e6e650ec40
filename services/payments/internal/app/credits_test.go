package app_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/services/payments/internal/app"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

func TestRewardCreditPaysForTheNextTrip(t *testing.T) {
	tests := []struct {
		name        string
		credit      int64
		price       int64
		wantStatus  domain.PaymentStatus
		wantCapture int64
		wantLeft    int64 // credit left afterwards
	}{
		{"credit pays part", 3_00, 7_35, domain.PaymentCaptured, 4_35, 0},
		{"credit pays all, hold released", 10_00, 6_00, domain.PaymentCanceled, 0, 4_00},
		{"credit equals price", 6_00, 6_00, domain.PaymentCanceled, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, nil)
			ctx := context.Background()
			reward := rewardGranted(t, "rw-1", "cust-c", "trip-0", tt.credit)
			for range 2 { // redelivered
				fx.ok(t, fx.flows.OnRewardGranted(ctx, reward))
			}
			// Re-published under another event id: still one credit.
			fx.ok(t, fx.flows.OnRewardGranted(ctx, rewardGranted(t, "rw-1", "cust-c", "trip-0", tt.credit)))
			if n := fx.outboxCount(t, events.TypeCreditGrantedV1); n != 1 {
				t.Fatalf("CreditGrantedV1 = %d, want 1", n)
			}
			bal, err := fx.store.CreditBalance(ctx, "cust-c", "EUR")
			fx.ok(t, err)
			if bal.AmountMinor != tt.credit {
				t.Fatalf("credit balance = %s, want %d", bal, tt.credit)
			}

			fx.ok(t, fx.flows.OnTripStarted(ctx, tripStarted(t, "trip-1", "cust-c", events.VehicleEBike)))
			fx.drain(t)
			fx.ok(t, fx.flows.OnTripEnded(ctx, tripEnded(t, "trip-1", "cust-c", tt.price)))
			fx.drain(t)

			p := fx.payment(t, "trip-1")
			if p.Status != tt.wantStatus || p.Captured.AmountMinor != tt.wantCapture {
				t.Fatalf("payment: %+v, want %s with %d captured", p, tt.wantStatus, tt.wantCapture)
			}
			rec, _ := fx.gw.Intent(p.IntentID)
			if rec.AmountReceived != tt.wantCapture {
				t.Fatalf("gateway received %d, want %d", rec.AmountReceived, tt.wantCapture)
			}
			if tt.wantStatus == domain.PaymentCanceled && rec.Status != app.StatusCanceled {
				t.Fatalf("hold not released: %+v", rec)
			}
			applied := outboxData[events.CreditAppliedV1](t, fx, events.TypeCreditAppliedV1)
			if len(applied) != 1 || applied[0].Amount.AmountMinor != min(tt.credit, tt.price) || applied[0].TripID != "trip-1" {
				t.Fatalf("CreditAppliedV1 = %+v", applied)
			}
			bal, err = fx.store.CreditBalance(ctx, "cust-c", "EUR")
			fx.ok(t, err)
			if bal.AmountMinor != tt.wantLeft {
				t.Fatalf("credit left = %s, want %d", bal, tt.wantLeft)
			}
			fx.assertInvariant(t)
			for account, want := range map[domain.AccountID]int64{
				domain.CustomerReceivable("cust-c"): 0,
				domain.CustomerCredit("cust-c"):     -tt.wantLeft,
				domain.AccountExpenseRewards:        tt.credit,
				domain.AccountGatewayClearing:       tt.wantCapture,
				domain.AccountRevenueRides:          -tt.price,
			} {
				if posted, _ := fx.balance(t, account); posted != want {
					t.Errorf("%s = %d, want %d", account, posted, want)
				}
			}
			credits, err := fx.store.Credits(ctx, "cust-c")
			fx.ok(t, err)
			if len(credits) != 1 || credits[0].ID != "rw-1" || credits[0].Source != domain.CreditReward || credits[0].BayID != "bay-1" {
				t.Fatalf("Credits = %+v", credits)
			}
		})
	}
}

// Trips of one customer ending at once spend the credit exactly once.
func TestConcurrentTripEndsNeverSpendCreditTwice(t *testing.T) {
	fx := newFixture(t, nil)
	ctx := context.Background()
	const (
		trips  = 8
		credit = 5_00
		price  = 2_00
	)
	fx.ok(t, fx.flows.OnRewardGranted(ctx, rewardGranted(t, "rw-c", "cust-cc", "", credit)))
	for i := range trips {
		fx.ok(t, fx.flows.OnTripStarted(ctx, tripStarted(t, fmt.Sprintf("trip-%d", i), "cust-cc", events.VehicleEScooter)))
	}
	fx.drain(t)
	var wg sync.WaitGroup
	errs := make(chan error, trips)
	for i := range trips {
		wg.Go(func() {
			errs <- fx.flows.OnTripEnded(ctx, tripEnded(t, fmt.Sprintf("trip-%d", i), "cust-cc", price))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		fx.ok(t, err)
	}
	fx.drain(t)

	var applied int64
	for _, a := range outboxData[events.CreditAppliedV1](t, fx, events.TypeCreditAppliedV1) {
		applied += a.Amount.AmountMinor
	}
	if applied != credit {
		t.Fatalf("credit applied = %d, want exactly %d", applied, credit)
	}
	fx.assertInvariant(t)
	if posted, _ := fx.balance(t, domain.CustomerCredit("cust-cc")); posted != 0 {
		t.Fatalf("credit account = %d, want 0 (never negative)", posted)
	}
	if posted, _ := fx.balance(t, domain.AccountGatewayClearing); posted != trips*price-credit {
		t.Fatalf("gateway:clearing = %d, want %d", posted, trips*price-credit)
	}
	if posted, _ := fx.balance(t, domain.CustomerReceivable("cust-cc")); posted != 0 {
		t.Fatalf("receivable = %d, want 0", posted)
	}
}

func TestStaffCreditGrant(t *testing.T) {
	fx := newFixture(t, nil)
	ctx := context.Background()
	grant := app.CreditGrant{CustomerID: "cust-s", Amount: eurMoney(5_00), Reason: "scooter broke down",
		GrantedBy: "staff-1", IdempotencyKey: "key-1"}
	first, err := fx.flows.GrantCredit(ctx, grant)
	fx.ok(t, err)
	again, err := fx.flows.GrantCredit(ctx, grant)
	fx.ok(t, err)
	if again.ID != first.ID {
		t.Fatalf("replay granted %s, first %s", again.ID, first.ID)
	}
	other := grant
	other.Amount = eurMoney(9_00)
	if _, err := fx.flows.GrantCredit(ctx, other); !errors.Is(err, app.ErrIdempotencyKeyReused) {
		t.Fatalf("key reused with another amount: err = %v", err)
	}
	for name, bad := range map[string]app.CreditGrant{
		"no staff member": {CustomerID: "cust-s", Amount: eurMoney(1_00)},
		"zero amount":     {CustomerID: "cust-s", Amount: eurMoney(0), GrantedBy: "staff-1"},
		"no customer":     {Amount: eurMoney(1_00), GrantedBy: "staff-1"},
	} {
		if _, err := fx.flows.GrantCredit(ctx, bad); !errors.Is(err, app.ErrInvalidRequest) {
			t.Errorf("%s: err = %v, want ErrInvalidRequest", name, err)
		}
	}
	bal, err := fx.store.CreditBalance(ctx, "cust-s", "EUR")
	fx.ok(t, err)
	if bal.AmountMinor != 5_00 {
		t.Fatalf("balance = %s, want 5.00", bal)
	}
	granted := outboxData[events.CreditGrantedV1](t, fx, events.TypeCreditGrantedV1)
	if len(granted) != 1 || granted[0].Source != "staff" || granted[0].GrantedBy != "staff-1" {
		t.Fatalf("CreditGrantedV1 = %+v", granted)
	}
	fx.assertInvariant(t)
}
