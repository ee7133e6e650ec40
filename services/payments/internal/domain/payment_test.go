package domain_test

import (
	"errors"
	"testing"
	"time"

	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

func eur(minor int64) domain.Money { return domain.Money{AmountMinor: minor, Currency: "EUR"} }

func TestPaymentLifecycle(t *testing.T) {
	now := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	p, err := domain.NewPayment("pay-1", "c-1", "trip-1", eur(1000), now)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		do   func() error
		want domain.PaymentStatus
	}{
		{"authorise", func() error { return p.Authorised("pi_1", eur(1000), now) }, domain.PaymentAuthorised},
		{"request capture", func() error { return p.RequestCapture(eur(612), now) }, domain.PaymentCapturePending},
		{"capture", func() error { return p.CaptureSucceeded(eur(612), now) }, domain.PaymentCaptured},
		{"partial refund", func() error { return p.RefundSucceeded(eur(200), now) }, domain.PaymentCaptured},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if p.Status != s.want {
			t.Fatalf("%s: status %s, want %s", s.name, p.Status, s.want)
		}
	}
	if p.Refundable() != eur(412) || p.Held != eur(0) {
		t.Fatalf("refundable %s, held %s", p.Refundable(), p.Held)
	}
	if err := p.RefundSucceeded(eur(413), now); !errors.Is(err, domain.ErrInvalidTransition) {
		t.Fatalf("refund above refundable: %v", err)
	}
}

func TestPaymentRejectsInvalidTransitions(t *testing.T) {
	now := time.Now()
	newAuthorised := func() *domain.Payment {
		p, _ := domain.NewPayment("p", "c", "t", eur(500), now)
		_ = p.Authorised("pi", eur(500), now)
		return p
	}
	tests := []struct {
		name string
		do   func(p *domain.Payment) error
	}{
		{"capture without request", func(p *domain.Payment) error { return p.CaptureSucceeded(eur(100), now) }},
		{"capture above hold", func(p *domain.Payment) error {
			_ = p.RequestCapture(eur(600), now)
			return p.CaptureSucceeded(eur(600), now)
		}},
		{"authorise twice", func(p *domain.Payment) error { return p.Authorised("pi2", eur(500), now) }},
		{"refund before capture", func(p *domain.Payment) error { return p.RefundSucceeded(eur(1), now) }},
		{"capture in another currency", func(p *domain.Payment) error {
			return p.RequestCapture(domain.Money{AmountMinor: 1, Currency: "PLN"}, now)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(newAuthorised()); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestSplitCapture(t *testing.T) {
	p, _ := domain.NewPayment("p", "c", "t", eur(500), time.Now())
	tests := []struct {
		amount        int64
		hold, remains int64
	}{{300, 300, 0}, {500, 500, 0}, {1730, 500, 1230}, {0, 0, 0}}
	for _, tc := range tests {
		got, err := p.SplitCapture(eur(tc.amount))
		if err != nil || got.FromHold != eur(tc.hold) || got.Remainder != eur(tc.remains) {
			t.Fatalf("split %d = %+v, %v", tc.amount, got, err)
		}
	}
}

func TestMoney(t *testing.T) {
	if _, err := domain.NewMoney(1, "eur"); err == nil {
		t.Fatal("lower-case currency accepted")
	}
	if _, err := eur(1).Add(domain.Money{AmountMinor: 1, Currency: "USD"}); !errors.Is(err, domain.ErrCurrencyMismatch) {
		t.Fatalf("mixed currencies: %v", err)
	}
	if s := eur(-1234).String(); s != "-12.34 EUR" {
		t.Fatalf("String = %q", s)
	}
}
