package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	pg "github.com/mobilitycorp/platform/services/payments/internal/adapters/postgres"
	"github.com/mobilitycorp/platform/services/payments/internal/app"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

// Charges share the payments table with trips: one trip payment per trip, one
// charge per kind and reference, and both may name the same trip.
func TestChargesBesideTripPayments(t *testing.T) {
	r, _ := newPayments(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	createPayment(t, r, "trip-1")
	charge := func(id string, kind domain.PaymentKind, ref, trip string) *domain.Payment {
		p, err := domain.NewCharge(id, kind, ref, "cust-1", trip, "why", eur(5_00), now)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		p    *domain.Payment
		want error
	}{
		{"fine of the trip", charge("chg_fine_f1", domain.PaymentKindFine, "f1", "trip-1"), nil},
		{"remainder of the trip", charge("chg_rem_trip-1", domain.PaymentKindTripRemainder, "trip-1", "trip-1"), nil},
		{"fee without a trip", charge("chg_fee_r1", domain.PaymentKindCancellationFee, "r1", ""), nil},
		{"same fine again", charge("chg_fine_f1_again", domain.PaymentKindFine, "f1", "trip-1"), app.ErrPaymentExists},
		{"same reference, other kind", charge("chg_fee_f1", domain.PaymentKindCancellationFee, "f1", ""), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := r.Begin(ctx, func(tx pgx.Tx) error { return r.Create(ctx, tx, tt.p) })
			if !errors.Is(err, tt.want) {
				t.Fatalf("create: err = %v, want %v", err, tt.want)
			}
			if tt.want != nil {
				return
			}
			got, err := r.Get(ctx, tt.p.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Kind != tt.p.Kind || got.Reference != tt.p.Reference || got.Reason != "why" || !got.CreatedAt.Equal(now) {
				t.Fatalf("got %+v, want %+v", got, tt.p)
			}
		})
	}
	charges, err := r.Charges(ctx, "cust-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(charges) != 4 {
		t.Fatalf("Charges = %d rows, want the 4 charges without the trip payment", len(charges))
	}
	for _, c := range charges {
		if c.Kind == domain.PaymentKindTrip {
			t.Fatalf("trip payment listed as a charge: %+v", c)
		}
	}
}

// The database itself refuses a self-approved refund and a reused key.
func TestRefundConstraints(t *testing.T) {
	r, pool := newPayments(t)
	ctx := context.Background()
	p := createPayment(t, r, "trip-1")
	insert := func(id, requester, key, decidedBy string) error {
		_, err := pool.Exec(ctx, `INSERT INTO refunds (id, payment_id, customer_id, amount_minor, currency, status,
			requested_by, idempotency_key, decided_by) VALUES ($1, $2, 'cust-1', 100, 'EUR', 'queued', $3, $4, $5)`,
			id, p.ID, requester, key, decidedBy)
		return err
	}
	tests := []struct {
		name                  string
		id, by, key, approver string
		wantConstraint        string
	}{
		{"approved by another", "rf_1", "staff-1", "k1", "staff-2", ""},
		{"self approved", "rf_2", "staff-1", "k2", "staff-1", "refunds_four_eyes"},
		{"key reused by the same requester", "rf_3", "staff-1", "k1", "", "refunds_idempotency_key"},
		{"same key, another requester", "rf_4", "staff-9", "k1", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := insert(tt.id, tt.by, tt.key, tt.approver)
			var pgErr *pgconn.PgError
			switch {
			case tt.wantConstraint == "" && err != nil:
				t.Fatalf("insert: %v", err)
			case tt.wantConstraint != "" && (!errors.As(err, &pgErr) || pgErr.ConstraintName != tt.wantConstraint):
				t.Fatalf("insert: err = %v, want a violation of %s", err, tt.wantConstraint)
			}
		})
	}
	list, err := r.Refunds(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].IdempotencyKey != "k1" {
		t.Fatalf("Refunds = %+v", list)
	}
	if _, err := r.Refund(ctx, "rf_nope"); !errors.Is(err, app.ErrRefundNotFound) {
		t.Fatalf("missing refund: err = %v", err)
	}
}

func TestCreditBalanceFollowsTheLedger(t *testing.T) {
	r, pool := newPayments(t)
	l := pg.NewLedger(pool)
	ctx := context.Background()
	post(t, l, must(t)(domain.GrantCreditEntry("cust-1", "rw-1", eur(5_00))))
	post(t, l, must(t)(domain.GrantCreditEntry("cust-1", "rw-2", eur(2_00))))
	post(t, l, must(t)(domain.ApplyCreditEntry("cust-1", "trip-1", eur(3_50))))
	post(t, l, must(t)(domain.GrantCreditEntry("cust-2", "rw-3", eur(9_00))))
	for _, tt := range []struct {
		customer, currency string
		want               int64
	}{
		{"cust-1", "EUR", 3_50},
		{"cust-2", "EUR", 9_00},
		{"cust-1", "SEK", 0},
		{"cust-none", "EUR", 0},
	} {
		got, err := r.CreditBalance(ctx, tt.customer, tt.currency)
		if err != nil {
			t.Fatal(err)
		}
		if got != money(tt.want, tt.currency) {
			t.Errorf("CreditBalance(%s, %s) = %s, want %d", tt.customer, tt.currency, got, tt.want)
		}
	}
	if _, err := r.CreditBalance(ctx, "cust-1", "eur"); err == nil {
		t.Fatal("lower-case currency accepted")
	}
}
