package httpapi

import (
	"time"

	"github.com/mobilitycorp/platform/services/payments/internal/app"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

// JSON shapes of api/openapi.yaml. Optional members are omitted when empty.

type moneyJSON struct {
	AmountMinor int64  `json:"amount_minor"`
	Currency    string `json:"currency"`
}

func money(m domain.Money) moneyJSON {
	return moneyJSON{AmountMinor: m.AmountMinor, Currency: m.Currency}
}

func (m moneyJSON) domain() domain.Money {
	return domain.Money{AmountMinor: m.AmountMinor, Currency: m.Currency}
}

type paymentJSON struct {
	ID          string    `json:"id"`
	Kind        string    `json:"kind"`
	CustomerID  string    `json:"customer_id"`
	TripID      string    `json:"trip_id,omitempty"`
	Reference   string    `json:"reference,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	Status      string    `json:"status"`
	ProviderRef string    `json:"provider_ref,omitempty"`
	Held        moneyJSON `json:"held"`
	Captured    moneyJSON `json:"captured"`
	Refunded    moneyJSON `json:"refunded"`
	FailureCode string    `json:"failure_code,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func payment(p *domain.Payment) paymentJSON {
	kind := p.Kind
	if kind == "" {
		kind = domain.PaymentKindTrip
	}
	return paymentJSON{ID: p.ID, Kind: string(kind), CustomerID: p.CustomerID, TripID: p.TripID,
		Reference: p.Reference, Reason: p.Reason, Status: string(p.Status), ProviderRef: p.IntentID,
		Held: money(p.Held), Captured: money(p.Captured), Refunded: money(p.Refunded),
		FailureCode: p.FailureCode, CreatedAt: p.CreatedAt.UTC(), UpdatedAt: p.UpdatedAt.UTC()}
}

type paymentListJSON struct {
	Items      []paymentJSON `json:"items"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

type lineJSON struct {
	Account string    `json:"account"`
	Amount  moneyJSON `json:"amount"`
}

type entryJSON struct {
	ID        int64      `json:"id"`
	Kind      string     `json:"kind"`
	Reference string     `json:"reference"`
	Status    string     `json:"status"`
	CreatedAt time.Time  `json:"created_at"`
	Lines     []lineJSON `json:"lines"`
}

func entry(e domain.JournalEntry) entryJSON {
	out := entryJSON{ID: int64(e.ID), Kind: string(e.Kind), Reference: e.Reference, Status: string(e.Status),
		CreatedAt: e.CreatedAt.UTC(), Lines: make([]lineJSON, len(e.Lines))}
	for i, l := range e.Lines {
		out.Lines[i] = lineJSON{Account: string(l.Account), Amount: money(l.Amount)}
	}
	return out
}

type paymentDetailJSON struct {
	Payment       paymentJSON  `json:"payment"`
	LedgerEntries []entryJSON  `json:"ledger_entries"`
	Refunds       []refundJSON `json:"refunds"`
}

type refundJSON struct {
	ID             string     `json:"id"`
	PaymentID      string     `json:"payment_id"`
	CustomerID     string     `json:"customer_id"`
	Amount         moneyJSON  `json:"amount"`
	Status         string     `json:"status"`
	Reason         string     `json:"reason,omitempty"`
	RequestedBy    string     `json:"requested_by"`
	DecidedBy      string     `json:"decided_by,omitempty"`
	DecisionReason string     `json:"decision_reason,omitempty"`
	DecidedAt      *time.Time `json:"decided_at,omitempty"`
	ProviderRef    string     `json:"provider_ref,omitempty"`
	FailureCode    string     `json:"failure_code,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

func refund(r *domain.Refund) refundJSON {
	out := refundJSON{ID: r.ID, PaymentID: r.PaymentID, CustomerID: r.CustomerID, Amount: money(r.Amount),
		Status: string(r.Status), Reason: r.Reason, RequestedBy: r.RequestedBy, DecidedBy: r.DecidedBy,
		DecisionReason: r.DecisionReason, ProviderRef: r.ProviderRef, FailureCode: r.FailureCode,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
	if !r.DecidedAt.IsZero() {
		at := r.DecidedAt.UTC()
		out.DecidedAt = &at
	}
	return out
}

func refunds(rs []domain.Refund) []refundJSON {
	out := make([]refundJSON, len(rs))
	for i := range rs {
		out[i] = refund(&rs[i])
	}
	return out
}

type refundListJSON struct {
	Items      []refundJSON `json:"items"`
	NextCursor string       `json:"next_cursor,omitempty"`
}

type refundRequestJSON struct {
	Amount *moneyJSON `json:"amount"`
	Reason string     `json:"reason"`
}

type rejectRequestJSON struct {
	Reason string `json:"reason"`
}

type fineRequestJSON struct {
	FineID     string     `json:"fine_id"`
	CustomerID string     `json:"customer_id"`
	TripID     string     `json:"trip_id"`
	Reason     string     `json:"reason"`
	Amount     *moneyJSON `json:"amount"`
}

type creditRequestJSON struct {
	CustomerID string     `json:"customer_id"`
	Amount     *moneyJSON `json:"amount"`
	Reason     string     `json:"reason"`
	TripID     string     `json:"trip_id"`
}

type creditJSON struct {
	ID         string    `json:"id"`
	CustomerID string    `json:"customer_id"`
	Amount     moneyJSON `json:"amount"`
	Source     string    `json:"source"`
	Reason     string    `json:"reason,omitempty"`
	TripID     string    `json:"trip_id,omitempty"`
	GrantedBy  string    `json:"granted_by,omitempty"`
	GrantedAt  time.Time `json:"granted_at"`
}

func credit(c *domain.Credit) creditJSON {
	return creditJSON{ID: c.ID, CustomerID: c.CustomerID, Amount: money(c.Amount), Source: string(c.Source),
		Reason: c.Reason, TripID: c.TripID, GrantedBy: c.GrantedBy, GrantedAt: c.GrantedAt.UTC()}
}

type currencyBalanceJSON struct {
	Currency          string    `json:"currency"`
	ReceivablePosted  moneyJSON `json:"receivable_posted"`
	ReceivablePending moneyJSON `json:"receivable_pending"`
	Held              moneyJSON `json:"held"`
	Credit            moneyJSON `json:"credit"`
}

type balanceJSON struct {
	CustomerID string                `json:"customer_id"`
	Balances   []currencyBalanceJSON `json:"balances"`
}

func balance(customerID string, bs []app.CustomerBalance) balanceJSON {
	out := balanceJSON{CustomerID: customerID, Balances: make([]currencyBalanceJSON, len(bs))}
	for i, b := range bs {
		m := func(v int64) moneyJSON { return moneyJSON{AmountMinor: v, Currency: b.Currency} }
		out.Balances[i] = currencyBalanceJSON{Currency: b.Currency, ReceivablePosted: m(b.ReceivablePosted),
			ReceivablePending: m(b.ReceivablePending), Held: m(b.Held), Credit: m(b.Credit)}
	}
	return out
}

type receiptChargeJSON struct {
	PaymentID string    `json:"payment_id"`
	Kind      string    `json:"kind"`
	Reference string    `json:"reference,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Amount    moneyJSON `json:"amount"`
	Captured  moneyJSON `json:"captured"`
	Status    string    `json:"status"`
}

type receiptJSON struct {
	TripID        string              `json:"trip_id"`
	CustomerID    string              `json:"customer_id"`
	Currency      string              `json:"currency"`
	PaymentID     string              `json:"payment_id"`
	PaymentStatus string              `json:"payment_status"`
	TripPrice     moneyJSON           `json:"trip_price"`
	UnlockFee     moneyJSON           `json:"unlock_fee"`
	RideFee       moneyJSON           `json:"ride_fee"`
	CreditApplied moneyJSON           `json:"credit_applied"`
	FinesAndFees  moneyJSON           `json:"fines_and_fees"`
	Charges       []receiptChargeJSON `json:"charges"`
	Captured      moneyJSON           `json:"captured"`
	Refunded      moneyJSON           `json:"refunded"`
	Refunds       []refundJSON        `json:"refunds"`
	Outstanding   moneyJSON           `json:"outstanding"`
}

func receipt(rc app.Receipt) receiptJSON {
	out := receiptJSON{TripID: rc.TripID, CustomerID: rc.CustomerID, Currency: rc.Currency,
		PaymentID: rc.Payment.ID, PaymentStatus: string(rc.Payment.Status),
		TripPrice: money(rc.TripPrice), UnlockFee: money(rc.UnlockFee), RideFee: money(rc.RideFee),
		CreditApplied: money(rc.CreditApplied), FinesAndFees: money(rc.FinesAndFees),
		Charges: make([]receiptChargeJSON, len(rc.Charges)), Captured: money(rc.Captured),
		Refunded: money(rc.Refunded), Refunds: refunds(rc.Refunds), Outstanding: money(rc.Outstanding)}
	for i := range rc.Charges {
		c := &rc.Charges[i]
		out.Charges[i] = receiptChargeJSON{PaymentID: c.ID, Kind: string(c.Kind), Reference: c.Reference,
			Reason: c.Reason, Amount: money(app.ChargeAmount(c)), Captured: money(c.Captured), Status: string(c.Status)}
	}
	return out
}

type deadOperationJSON struct {
	ID        string    `json:"id"`
	PaymentID string    `json:"payment_id"`
	Kind      string    `json:"kind"`
	Amount    moneyJSON `json:"amount"`
	Attempts  int       `json:"attempts"`
	Failures  int       `json:"failures"`
	LastError string    `json:"last_error"`
	CreatedAt time.Time `json:"created_at"`
	DeadAt    time.Time `json:"dead_at"`
}

type operationListJSON struct {
	Items      []deadOperationJSON `json:"items"`
	NextCursor string              `json:"next_cursor,omitempty"`
}
