package domain_test

import (
	"errors"
	"testing"
	"time"

	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

func captured(t *testing.T, minor int64) *domain.Payment {
	t.Helper()
	now := time.Now()
	p, err := domain.NewPayment("pay_t", "c1", "t", eur(50_00), now)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []error{p.Authorised("pi_1", eur(50_00), now), p.RequestCapture(eur(minor), now), p.CaptureSucceeded(eur(minor), now)} {
		if step != nil {
			t.Fatal(step)
		}
	}
	return p
}

func TestNewCharge(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name    string
		kind    domain.PaymentKind
		ref     string
		amount  domain.Money
		wantErr bool
	}{
		{"fine", domain.PaymentKindFine, "f1", eur(25_00), false},
		{"cancellation fee without trip", domain.PaymentKindCancellationFee, "r1", eur(3_00), false},
		{"trip is not a charge", domain.PaymentKindTrip, "t1", eur(1_00), true},
		{"no reference", domain.PaymentKindFine, "", eur(1_00), true},
		{"zero amount", domain.PaymentKindFine, "f1", eur(0), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := domain.NewCharge("chg", tt.kind, tt.ref, "c1", "", "reason", tt.amount, now)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && (p.Kind != tt.kind || p.Reference != tt.ref || p.Status != domain.PaymentPendingAuthorisation || p.Held != tt.amount) {
				t.Fatalf("charge: %+v", p)
			}
		})
	}
}

func TestHoldIncremented(t *testing.T) {
	now := time.Now()
	p, _ := domain.NewPayment("pay_t", "c1", "t", eur(10_00), now)
	if err := p.HoldIncremented(eur(15_00), now); !errors.Is(err, domain.ErrInvalidTransition) {
		t.Fatalf("increment before authorisation: err = %v", err)
	}
	_ = p.Authorised("pi_1", eur(10_00), now)
	for _, tt := range []struct {
		to   domain.Money
		want error
	}{
		{eur(9_00), domain.ErrInvalidTransition},
		{eur(10_00), domain.ErrInvalidTransition},
		{domain.Money{AmountMinor: 15_00, Currency: "SEK"}, domain.ErrCurrencyMismatch},
		{eur(15_00), nil},
	} {
		if err := p.HoldIncremented(tt.to, now); !errors.Is(err, tt.want) {
			t.Errorf("increment to %s: err = %v, want %v", tt.to, err, tt.want)
		}
	}
	if p.Held != eur(15_00) {
		t.Fatalf("held = %s", p.Held)
	}
	if err := p.RequestCapture(eur(15_00), now); err != nil {
		t.Fatal(err)
	}
	if err := p.CaptureSucceeded(eur(15_00), now); err != nil {
		t.Fatalf("capture of the incremented hold: %v", err)
	}
}

func TestRefundAmount(t *testing.T) {
	p := captured(t, 7_35)
	tests := []struct {
		name      string
		requested domain.Money
		reserved  int64
		want      int64
		wantErr   error
	}{
		{"all", domain.Money{}, 0, 7_35, nil},
		{"all that is left", domain.Money{}, 2_00, 5_35, nil},
		{"part", eur(2_00), 0, 2_00, nil},
		{"exactly what is left", eur(5_35), 2_00, 5_35, nil},
		{"more than left", eur(5_36), 2_00, 0, domain.ErrRefundTooLarge},
		{"nothing left", domain.Money{}, 7_35, 0, domain.ErrNothingToRefund},
		{"other currency", domain.Money{AmountMinor: 1_00, Currency: "SEK"}, 0, 0, domain.ErrCurrencyMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := domain.RefundAmount(p, tt.requested, tt.reserved)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && got != eur(tt.want) {
				t.Fatalf("amount = %s, want %d", got, tt.want)
			}
		})
	}
	pending, _ := domain.NewPayment("pay_p", "c1", "p", eur(10_00), time.Now())
	if _, err := domain.RefundAmount(pending, domain.Money{}, 0); !errors.Is(err, domain.ErrInvalidTransition) {
		t.Fatalf("refund of an uncaptured payment: err = %v", err)
	}
}

func TestRefundLifecycle(t *testing.T) {
	now := time.Now()
	p := captured(t, 42_00)
	newRefund := func(approval bool) *domain.Refund {
		r, err := domain.NewRefund("rf_1", p, eur(30_00), "reason", "staff-1", "", approval, now)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	tests := []struct {
		name     string
		approval bool
		steps    func(r *domain.Refund) error
		want     domain.RefundStatus
		wantErr  error
	}{
		{"small: queued at once", false, func(*domain.Refund) error { return nil }, domain.RefundQueued, nil},
		{"approved", true, func(r *domain.Refund) error { return r.Approve("staff-2", now) }, domain.RefundQueued, nil},
		{"self approval", true, func(r *domain.Refund) error { return r.Approve("staff-1", now) }, domain.RefundPendingApproval, domain.ErrSelfApproval},
		{"self rejection", true, func(r *domain.Refund) error { return r.Reject("staff-1", "", now) }, domain.RefundPendingApproval, domain.ErrSelfApproval},
		{"rejected", true, func(r *domain.Refund) error { return r.Reject("staff-2", "no", now) }, domain.RefundRejected, nil},
		{"approve a queued refund", false, func(r *domain.Refund) error { return r.Approve("staff-2", now) }, domain.RefundQueued, domain.ErrRefundNotPending},
		{"approve a rejected refund", true, func(r *domain.Refund) error {
			_ = r.Reject("staff-2", "no", now)
			return r.Approve("staff-3", now)
		}, domain.RefundRejected, domain.ErrRefundNotPending},
		{"succeeded", false, func(r *domain.Refund) error { return r.Succeeded("re_1", now) }, domain.RefundSucceeded, nil},
		{"succeeded before approval", true, func(r *domain.Refund) error { return r.Succeeded("re_1", now) }, domain.RefundPendingApproval, domain.ErrInvalidTransition},
		{"failed", false, func(r *domain.Refund) error { return r.Failed("charge_already_refunded", now) }, domain.RefundFailed, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRefund(tt.approval)
			if err := tt.steps(r); !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if r.Status != tt.want {
				t.Fatalf("status = %s, want %s", r.Status, tt.want)
			}
		})
	}
	for s, reserves := range map[domain.RefundStatus]bool{
		domain.RefundPendingApproval: true, domain.RefundQueued: true, domain.RefundSucceeded: true,
		domain.RefundRejected: false, domain.RefundFailed: false,
	} {
		if s.Reserves() != reserves {
			t.Errorf("%s.Reserves() = %v", s, !reserves)
		}
	}
}

func TestCredit(t *testing.T) {
	ok := domain.Credit{ID: "rw1", CustomerID: "c1", Amount: eur(2_00), Source: domain.CreditReward}
	tests := []struct {
		name    string
		edit    func(c *domain.Credit)
		wantErr bool
	}{
		{"reward", func(*domain.Credit) {}, false},
		{"staff with granter", func(c *domain.Credit) { c.Source, c.GrantedBy = domain.CreditStaff, "s1" }, false},
		{"staff without granter", func(c *domain.Credit) { c.Source = domain.CreditStaff }, true},
		{"unknown source", func(c *domain.Credit) { c.Source = "lottery" }, true},
		{"no id", func(c *domain.Credit) { c.ID = "" }, true},
		{"zero", func(c *domain.Credit) { c.Amount = eur(0) }, true},
		{"bad currency", func(c *domain.Credit) { c.Amount.Currency = "eur" }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			if err := c.Validate(); (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
	for _, tt := range []struct {
		available, price domain.Money
		want             int64
	}{
		{eur(3_00), eur(7_35), 3_00},
		{eur(10_00), eur(6_00), 6_00},
		{eur(0), eur(6_00), 0},
		{eur(-1_00), eur(6_00), 0},
		{domain.Money{AmountMinor: 5_00, Currency: "SEK"}, eur(6_00), 0},
	} {
		if got := domain.CreditToApply(tt.available, tt.price); got != eur(tt.want) {
			t.Errorf("CreditToApply(%s, %s) = %s, want %d", tt.available, tt.price, got, tt.want)
		}
	}
}
