package app

import (
	"errors"

	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

// Read models shared by the HTTP API and the queries that answer it
// (adapters/postgres.Queries). Lists are pages in a fixed order with an opaque
// cursor: only the store that issued a cursor reads it.

// ErrInvalidCursor is returned for a cursor the store did not issue.
var ErrInvalidCursor = errors.New("invalid cursor")

// PaymentFilter selects payments (trips and charges), newest first; empty
// fields match everything.
type PaymentFilter struct {
	CustomerID string
	Status     domain.PaymentStatus
	Kind       domain.PaymentKind
	Cursor     string // "" for the first page
	Limit      int    // > 0
}

// CustomerBalance is a customer's position in one currency, in minor units and
// from the customer's side: Receivable > 0 is owed to us, Credit > 0 is reward
// credit the customer can spend.
type CustomerBalance struct {
	Currency          string
	ReceivablePosted  int64 // posted balance of customer:<id>:receivable
	ReceivablePending int64 // pending lines on the receivable (holds live on the hold account)
	Held              int64 // open holds on the customer's card
	Credit            int64 // available credit: granted minus applied
}

// LedgerReferences are the journal references that record payment p and its
// refunds: the hold and its capture (the payment id) and the trip's charge and
// credit (the trip id) for a trip; what is owed and its capture for a charge;
// each refund's entry. A trip remainder's price sits on its trip's charge.
func LedgerReferences(p *domain.Payment, refunds []domain.Refund) []string {
	var refs []string
	switch p.Kind {
	case domain.PaymentKindTrip, "":
		refs = append(refs, p.ID, p.TripID)
	case domain.PaymentKindFine:
		refs = append(refs, p.Reference, ChargeOpID(p.ID))
	case domain.PaymentKindCancellationFee:
		refs = append(refs, cancellationFeeReference(p.Reference), ChargeOpID(p.ID))
	default:
		refs = append(refs, ChargeOpID(p.ID))
	}
	for _, r := range refunds {
		refs = append(refs, RefundOpID(r.ID))
	}
	return refs
}

// Receipt is what a trip cost and how it was paid, for the customer to read.
type Receipt struct {
	TripID        string
	CustomerID    string
	Currency      string
	Payment       *domain.Payment // the trip's payment
	TripPrice     domain.Money    // unlock fee + ride; zero until the trip ended
	UnlockFee     domain.Money
	RideFee       domain.Money
	CreditApplied domain.Money     // reward credit spent on the trip
	FinesAndFees  domain.Money     // fines charged for the trip
	Charges       []domain.Payment // the trip's separate charges: fines, the remainder above the hold
	Captured      domain.Money     // taken from the card for the trip and its charges
	Refunded      domain.Money     // given back
	Refunds       []domain.Refund
	Outstanding   domain.Money // price + fines − credit − captured
}

// BuildReceipt assembles the receipt of trip payment p from its separate
// charges, the journal entries referenced by the trip id (its charge and the
// credit applied to it) and the refunds of p and its charges.
func BuildReceipt(p *domain.Payment, charges []domain.Payment, tripEntries []domain.JournalEntry, refunds []domain.Refund) Receipt {
	cur := p.Held.Currency
	zero := domain.Money{Currency: cur}
	rc := Receipt{TripID: p.TripID, CustomerID: p.CustomerID, Currency: cur, Payment: p, Charges: charges,
		TripPrice: zero, UnlockFee: zero, RideFee: zero, CreditApplied: zero, FinesAndFees: zero,
		Captured: zero, Refunded: zero, Outstanding: zero, Refunds: refunds}
	receivable, credit := domain.CustomerReceivable(p.CustomerID), domain.CustomerCredit(p.CustomerID)
	for _, e := range tripEntries {
		if e.Status != domain.EntryPosted {
			continue
		}
		for _, l := range e.Lines {
			if l.Amount.Currency != cur {
				continue
			}
			switch {
			case e.Kind == domain.KindTripCharge && l.Account == receivable:
				rc.TripPrice.AmountMinor += l.Amount.AmountMinor
			case e.Kind == domain.KindTripCharge && l.Account == domain.AccountRevenueUnlockFees:
				rc.UnlockFee.AmountMinor -= l.Amount.AmountMinor
			case e.Kind == domain.KindTripCharge && l.Account == domain.AccountRevenueRides:
				rc.RideFee.AmountMinor -= l.Amount.AmountMinor
			case e.Kind == domain.KindCreditApplied && l.Account == credit:
				rc.CreditApplied.AmountMinor += l.Amount.AmountMinor
			}
		}
	}
	rc.Captured.AmountMinor = p.Captured.AmountMinor
	rc.Refunded.AmountMinor = p.Refunded.AmountMinor
	for _, c := range charges {
		if c.Captured.Currency != cur {
			continue
		}
		rc.Captured.AmountMinor += c.Captured.AmountMinor
		rc.Refunded.AmountMinor += c.Refunded.AmountMinor
		if c.Kind == domain.PaymentKindFine {
			rc.FinesAndFees.AmountMinor += ChargeAmount(&c).AmountMinor
		}
	}
	rc.Outstanding.AmountMinor = rc.TripPrice.AmountMinor + rc.FinesAndFees.AmountMinor -
		rc.CreditApplied.AmountMinor - rc.Captured.AmountMinor
	return rc
}

// ChargeAmount is what a separate charge is for: held until captured, then
// captured; a declined charge keeps its amount held on our side.
func ChargeAmount(c *domain.Payment) domain.Money {
	return domain.Money{AmountMinor: c.Held.AmountMinor + c.Captured.AmountMinor, Currency: c.Held.Currency}
}
