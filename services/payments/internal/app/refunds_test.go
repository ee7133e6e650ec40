package app_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/services/payments/internal/app"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

func TestRefundBelowThresholdRunsAtOnce(t *testing.T) {
	fx := newFixture(t, nil)
	ctx := context.Background()
	p := fx.capturedTrip(t, "trip-r", "cust-r", events.VehicleEScooter, 7_35)
	r, err := fx.flows.RequestRefund(ctx, app.RefundRequest{PaymentID: p.ID, Amount: eurMoney(2_00), Reason: "bumpy ride", RequestedBy: "staff-1"})
	fx.ok(t, err)
	if r.Status != domain.RefundQueued {
		t.Fatalf("refund: %+v, want queued", r)
	}
	if n := fx.outboxCount(t, events.TypeRefundRequestedV1); n != 0 {
		t.Fatalf("RefundRequestedV1 = %d, want 0 below the threshold", n)
	}
	fx.drain(t)
	fx.drain(t) // nothing left to do: replays change nothing

	got, err := fx.store.Refund(ctx, r.ID)
	fx.ok(t, err)
	if got.Status != domain.RefundSucceeded || got.ProviderRef == "" {
		t.Fatalf("refund after the worker: %+v", got)
	}
	if p = fx.payment(t, "trip-r"); p.Refunded != eurMoney(2_00) || p.Refundable() != eurMoney(5_35) {
		t.Fatalf("payment: %+v", p)
	}
	gwRefunds := fx.gw.Refunds()
	if len(gwRefunds) != 1 || gwRefunds[0].ID != got.ProviderRef || gwRefunds[0].Amount != eurMoney(2_00) {
		t.Fatalf("gateway refunds: %+v", gwRefunds)
	}
	refunded := outboxData[events.PaymentRefundedV1](t, fx, events.TypePaymentRefundedV1)
	if len(refunded) != 1 || refunded[0].RefundID != r.ID || refunded[0].Amount.AmountMinor != 2_00 {
		t.Fatalf("PaymentRefundedV1 = %+v", refunded)
	}
	fx.assertInvariant(t)
	if posted, _ := fx.balance(t, domain.AccountRevenueRefunds); posted != 2_00 {
		t.Fatalf("revenue:refunds = %d, want 200", posted)
	}
	if posted, _ := fx.balance(t, domain.AccountGatewayClearing); posted != 5_35 {
		t.Fatalf("gateway:clearing = %d, want 535", posted)
	}
	list, err := fx.store.Refunds(ctx, p.ID)
	fx.ok(t, err)
	if len(list) != 1 || list[0].ID != r.ID {
		t.Fatalf("Refunds(%s) = %+v", p.ID, list)
	}
}

func TestRefundAboveThresholdNeedsAnotherApprover(t *testing.T) {
	tests := []struct {
		name   string
		decide func(fx fixture, id string) (*domain.Refund, error)
		want   domain.RefundStatus // after the worker
	}{
		{"approved", func(fx fixture, id string) (*domain.Refund, error) {
			return fx.flows.ApproveRefund(context.Background(), id, "staff-2")
		}, domain.RefundSucceeded},
		{"rejected", func(fx fixture, id string) (*domain.Refund, error) {
			return fx.flows.RejectRefund(context.Background(), id, "staff-2", "not justified")
		}, domain.RefundRejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, nil)
			ctx := context.Background()
			p := fx.capturedTrip(t, "trip-big", "cust-b", events.VehicleCar, 42_00)
			// Zero amount: everything refundable, 42.00, above the 20.00 default threshold.
			r, err := fx.flows.RequestRefund(ctx, app.RefundRequest{PaymentID: p.ID, Reason: "vehicle unusable", RequestedBy: "staff-1"})
			fx.ok(t, err)
			if r.Status != domain.RefundPendingApproval || r.Amount != eurMoney(42_00) {
				t.Fatalf("refund: %+v", r)
			}
			requested := outboxData[events.RefundRequestedV1](t, fx, events.TypeRefundRequestedV1)
			if len(requested) != 1 || requested[0].RefundID != r.ID || requested[0].Status != "pending_approval" {
				t.Fatalf("RefundRequestedV1 = %+v", requested)
			}
			fx.drain(t)
			if len(fx.gw.Refunds()) != 0 {
				t.Fatal("refunded before approval")
			}
			pending, err := fx.store.PendingRefunds(ctx, 10)
			fx.ok(t, err)
			if len(pending) != 1 || pending[0].ID != r.ID {
				t.Fatalf("PendingRefunds = %+v", pending)
			}
			// Nothing more can be requested while it is pending: it reserves the whole capture.
			if _, err := fx.flows.RequestRefund(ctx, app.RefundRequest{PaymentID: p.ID, Amount: eurMoney(1_00), RequestedBy: "staff-3"}); !errors.Is(err, domain.ErrRefundTooLarge) {
				t.Fatalf("second refund while pending: err = %v", err)
			}
			if _, err := fx.flows.ApproveRefund(ctx, r.ID, "staff-1"); !errors.Is(err, domain.ErrSelfApproval) {
				t.Fatalf("self approval: err = %v", err)
			}
			if _, err := fx.flows.RejectRefund(ctx, r.ID, "staff-1", "changed my mind"); !errors.Is(err, domain.ErrSelfApproval) {
				t.Fatalf("self rejection: err = %v", err)
			}
			decided, err := tt.decide(fx, r.ID)
			fx.ok(t, err)
			if decided.DecidedBy != "staff-2" {
				t.Fatalf("decided: %+v", decided)
			}
			again, err := tt.decide(fx, r.ID) // the same decision again changes nothing
			fx.ok(t, err)
			if again.Status != decided.Status {
				t.Fatalf("repeated decision: %+v", again)
			}
			fx.drain(t)

			got, err := fx.store.Refund(ctx, r.ID)
			fx.ok(t, err)
			if got.Status != tt.want {
				t.Fatalf("refund: %+v, want %s", got, tt.want)
			}
			p = fx.payment(t, "trip-big")
			if tt.want == domain.RefundSucceeded {
				if p.Refunded != eurMoney(42_00) || len(fx.gw.Refunds()) != 1 {
					t.Fatalf("payment %+v, gateway refunds %d", p, len(fx.gw.Refunds()))
				}
				if _, err := fx.flows.RequestRefund(ctx, app.RefundRequest{PaymentID: p.ID, RequestedBy: "staff-3"}); !errors.Is(err, domain.ErrNothingToRefund) {
					t.Fatalf("refund of a fully refunded payment: err = %v", err)
				}
			} else {
				if p.Refunded.AmountMinor != 0 || len(fx.gw.Refunds()) != 0 {
					t.Fatalf("rejected refund paid: %+v", p)
				}
				// Rejected: the amount is refundable again.
				small, err := fx.flows.RequestRefund(ctx, app.RefundRequest{PaymentID: p.ID, Amount: eurMoney(5_00), RequestedBy: "staff-3"})
				fx.ok(t, err)
				if small.Status != domain.RefundQueued {
					t.Fatalf("refund after a rejection: %+v", small)
				}
			}
			fx.assertInvariant(t)
		})
	}
}

func TestRefundRequestsAreChecked(t *testing.T) {
	fx := newFixture(t, map[string]string{"cust-bad": "pm_card_chargeDeclined"})
	ctx := context.Background()
	p := fx.capturedTrip(t, "trip-ok", "cust-1", events.VehicleEBike, 6_00)
	fx.ok(t, fx.flows.OnTripStarted(ctx, tripStarted(t, "trip-bad", "cust-bad", events.VehicleEBike)))
	fx.drain(t)
	tests := []struct {
		name string
		req  app.RefundRequest
		want error
	}{
		{"no requester", app.RefundRequest{PaymentID: p.ID}, app.ErrInvalidRequest},
		{"no payment", app.RefundRequest{RequestedBy: "staff-1"}, app.ErrInvalidRequest},
		{"unknown payment", app.RefundRequest{PaymentID: "pay_nope", RequestedBy: "staff-1"}, app.ErrPaymentNotFound},
		{"payment not captured", app.RefundRequest{PaymentID: app.PaymentID("trip-bad"), RequestedBy: "staff-1"}, domain.ErrInvalidTransition},
		{"more than captured", app.RefundRequest{PaymentID: p.ID, Amount: eurMoney(6_01), RequestedBy: "staff-1"}, domain.ErrRefundTooLarge},
		{"other currency", app.RefundRequest{PaymentID: p.ID, Amount: domain.Money{AmountMinor: 1_00, Currency: "SEK"}, RequestedBy: "staff-1"}, domain.ErrCurrencyMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := fx.flows.RequestRefund(ctx, tt.req); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	// A key comes back with another amount: refused, not a second refund.
	req := app.RefundRequest{PaymentID: p.ID, Amount: eurMoney(1_00), RequestedBy: "staff-1", IdempotencyKey: "k-1"}
	_, err := fx.flows.RequestRefund(ctx, req)
	fx.ok(t, err)
	req.Amount = eurMoney(2_00)
	if _, err := fx.flows.RequestRefund(ctx, req); !errors.Is(err, app.ErrIdempotencyKeyReused) {
		t.Fatalf("key reused: err = %v", err)
	}
	if n := fx.count(t, `SELECT count(*) FROM refunds`); n != 1 {
		t.Fatalf("refunds = %d, want 1", n)
	}
}

// Concurrent requests never refund more than was captured.
func TestConcurrentRefundsStayWithinTheCapture(t *testing.T) {
	fx := newFixture(t, nil)
	ctx := context.Background()
	p := fx.capturedTrip(t, "trip-c", "cust-c", events.VehicleEScooter, 7_35)
	const requests = 10
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		ok       int
		tooLarge int
	)
	for range requests {
		wg.Go(func() {
			_, err := fx.flows.RequestRefund(ctx, app.RefundRequest{PaymentID: p.ID, Amount: eurMoney(2_00), RequestedBy: "staff-1"})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, domain.ErrRefundTooLarge):
				tooLarge++
			default:
				t.Errorf("refund: %v", err)
			}
		})
	}
	wg.Wait()
	if ok != 3 || tooLarge != requests-3 {
		t.Fatalf("accepted %d, refused %d; want 3 of 2.00 within 7.35", ok, tooLarge)
	}
	fx.drain(t)
	if p = fx.payment(t, "trip-c"); p.Refunded != eurMoney(6_00) {
		t.Fatalf("payment: %+v", p)
	}
	var gw int64
	for _, r := range fx.gw.Refunds() {
		gw += r.Amount.AmountMinor
	}
	if gw != 6_00 {
		t.Fatalf("gateway refunded %d, want 600", gw)
	}
	fx.assertInvariant(t)
}

// Two concurrent requests with one idempotency key produce one refund.
func TestConcurrentRefundsWithOneKeyMakeOne(t *testing.T) {
	fx := newFixture(t, nil)
	ctx := context.Background()
	p := fx.capturedTrip(t, "trip-k", "cust-k", events.VehicleEScooter, 7_35)
	const requests = 8
	ids := make(chan string, requests)
	var wg sync.WaitGroup
	for range requests {
		wg.Go(func() {
			r, err := fx.flows.RequestRefund(ctx, app.RefundRequest{PaymentID: p.ID, Amount: eurMoney(3_00),
				RequestedBy: "staff-1", IdempotencyKey: "refund-once"})
			if err != nil {
				t.Errorf("refund: %v", err)
				return
			}
			ids <- r.ID
		})
	}
	wg.Wait()
	close(ids)
	seen := map[string]int{}
	for id := range ids {
		seen[id]++
	}
	if len(seen) != 1 {
		t.Fatalf("refund ids = %v, want one", seen)
	}
	fx.drain(t)
	if n := fx.count(t, `SELECT count(*) FROM refunds`); n != 1 {
		t.Fatalf("refunds = %d, want 1", n)
	}
	if n := len(fx.gw.Refunds()); n != 1 {
		t.Fatalf("gateway refunds = %d, want 1", n)
	}
	if n := fx.outboxCount(t, events.TypePaymentRefundedV1); n != 1 {
		t.Fatalf("PaymentRefundedV1 = %d, want 1", n)
	}
	if p = fx.payment(t, "trip-k"); p.Refunded != eurMoney(3_00) {
		t.Fatalf("payment: %+v", p)
	}
	fx.assertInvariant(t)
}

// A fine is a payment too: it can be refunded like a trip.
func TestFineRefund(t *testing.T) {
	fx := newFixtureWith(t, fxOptions{threshold: -1}) // every refund needs approval
	ctx := context.Background()
	fx.ok(t, fx.flows.OnFineIssued(ctx, fineIssued(t, "fine-r", "cust-f", "trip-f", events.FineDamage, 5_00)))
	fx.drain(t)
	id := app.ChargeID(domain.PaymentKindFine, "fine-r")
	r, err := fx.flows.RequestRefund(ctx, app.RefundRequest{PaymentID: id, RequestedBy: "staff-1", Reason: "damage was pre-existing"})
	fx.ok(t, err)
	if r.Status != domain.RefundPendingApproval || r.Amount != eurMoney(5_00) {
		t.Fatalf("refund: %+v", r)
	}
	_, err = fx.flows.ApproveRefund(ctx, r.ID, "staff-2")
	fx.ok(t, err)
	fx.drain(t)
	if p := fx.get(t, id); p.Refunded != eurMoney(5_00) {
		t.Fatalf("fine: %+v", p)
	}
	fx.assertInvariant(t)
	if posted, _ := fx.balance(t, domain.AccountGatewayClearing); posted != 0 {
		t.Fatalf("gateway:clearing = %d, want 0", posted)
	}
}

// A refund the gateway refuses fails, and its amount is refundable again.
func TestRefusedRefundFails(t *testing.T) {
	fx := newFixture(t, nil)
	ctx := context.Background()
	p := fx.capturedTrip(t, "trip-rf", "cust-rf", events.VehicleEScooter, 7_35)
	// Refunded at the gateway outside our API, so our refund is too large there.
	_, err := fx.gw.Refund(ctx, "dashboard-refund", p.IntentID, eurMoney(7_35), "requested_by_customer")
	fx.ok(t, err)
	r, err := fx.flows.RequestRefund(ctx, app.RefundRequest{PaymentID: p.ID, Amount: eurMoney(1_00), RequestedBy: "staff-1"})
	fx.ok(t, err)
	fx.drain(t)
	got, err := fx.store.Refund(ctx, r.ID)
	fx.ok(t, err)
	if got.Status != domain.RefundFailed || got.FailureCode == "" {
		t.Fatalf("refund: %+v", got)
	}
	failed := outboxData[events.PaymentFailedV1](t, fx, events.TypePaymentFailedV1)
	if len(failed) != 1 || failed[0].Stage != "refund" {
		t.Fatalf("PaymentFailedV1 = %+v", failed)
	}
	if p = fx.payment(t, "trip-rf"); p.Refunded.AmountMinor != 0 {
		t.Fatalf("payment: %+v", p)
	}
	fx.assertInvariant(t)
}
