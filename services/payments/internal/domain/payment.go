package domain

import (
	"errors"
	"fmt"
	"time"
)

// PaymentStatus is our side of a payment's life; the gateway's own status is kept
// beside it (see app.IntentStatus) for reconciliation.
type PaymentStatus string

const (
	PaymentPendingAuthorisation PaymentStatus = "pending_authorisation" // queued or in flight to the gateway
	PaymentAuthorised           PaymentStatus = "authorised"            // funds held
	PaymentCapturePending       PaymentStatus = "capture_pending"       // trip ended, capture queued or in flight
	PaymentCaptured             PaymentStatus = "captured"
	PaymentCanceled             PaymentStatus = "canceled" // hold released without capture
	PaymentFailed               PaymentStatus = "failed"   // declined or otherwise final
)

// ErrInvalidTransition is returned when an operation does not fit the payment's state.
var ErrInvalidTransition = errors.New("invalid payment transition")

// Payment is one customer payment: a hold placed at trip start, captured at trip
// end, possibly refunded later. Amounts are kept per stage so every cent is explained.
// A charge (a fine, a cancellation fee, a trip's remainder above its hold; see
// NewCharge) is a payment too, authorised and captured at once.
type Payment struct {
	ID          string
	Kind        PaymentKind
	CustomerID  string
	TripID      string // empty for a cancellation fee
	Reference   string // what a charge is for: fine id, reservation id, trip id; empty for a trip
	Reason      string // e.g. a fine's reason
	Status      PaymentStatus
	IntentID    string // gateway intent id once known
	Held        Money  // currently authorised
	Captured    Money
	Refunded    Money
	FailureCode string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// NewPayment starts a payment that will place a hold of amount.
func NewPayment(id, customerID, tripID string, hold Money, now time.Time) (*Payment, error) {
	if id == "" || customerID == "" {
		return nil, errors.New("payment needs an id and a customer")
	}
	if !hold.IsPositive() {
		return nil, fmt.Errorf("hold must be positive, got %s", hold)
	}
	zero := Money{Currency: hold.Currency}
	return &Payment{ID: id, Kind: PaymentKindTrip, CustomerID: customerID, TripID: tripID, Status: PaymentPendingAuthorisation,
		Held: hold, Captured: zero, Refunded: zero, CreatedAt: now, UpdatedAt: now}, nil
}

func (p *Payment) transition(to PaymentStatus, now time.Time, from ...PaymentStatus) error {
	for _, f := range from {
		if p.Status == f {
			p.Status, p.UpdatedAt = to, now
			return nil
		}
	}
	return fmt.Errorf("%w: %s → %s", ErrInvalidTransition, p.Status, to)
}

// Authorised records the gateway's hold.
func (p *Payment) Authorised(intentID string, held Money, now time.Time) error {
	if held.Currency != p.Held.Currency {
		return fmt.Errorf("%w: hold in %s, payment in %s", ErrCurrencyMismatch, held.Currency, p.Held.Currency)
	}
	if err := p.transition(PaymentAuthorised, now, PaymentPendingAuthorisation); err != nil {
		return err
	}
	p.IntentID, p.Held = intentID, held
	return nil
}

// RequestCapture marks the trip's final amount as due; the capture itself may wait
// for the gateway. A final amount above the hold is allowed: the difference is
// charged separately (or the hold incremented first).
func (p *Payment) RequestCapture(amount Money, now time.Time) error {
	if amount.Currency != p.Held.Currency {
		return fmt.Errorf("%w: capture in %s, payment in %s", ErrCurrencyMismatch, amount.Currency, p.Held.Currency)
	}
	if amount.AmountMinor < 0 {
		return fmt.Errorf("capture amount must not be negative, got %s", amount)
	}
	return p.transition(PaymentCapturePending, now, PaymentAuthorised)
}

// HoldIncremented records an incremental authorisation: the hold now covers
// amount (more than before), so the whole final price can be captured from it.
func (p *Payment) HoldIncremented(amount Money, now time.Time) error {
	if amount.Currency != p.Held.Currency {
		return fmt.Errorf("%w: hold in %s, payment in %s", ErrCurrencyMismatch, amount.Currency, p.Held.Currency)
	}
	if p.Status != PaymentAuthorised && p.Status != PaymentCapturePending {
		return fmt.Errorf("%w: increment of a %s payment", ErrInvalidTransition, p.Status)
	}
	if amount.AmountMinor <= p.Held.AmountMinor {
		return fmt.Errorf("%w: increment to %s of hold %s", ErrInvalidTransition, amount, p.Held)
	}
	p.Held, p.UpdatedAt = amount, now
	return nil
}

// CaptureSplit is how a final amount is taken: from the hold, and the rest (if the
// trip cost more than the hold) as a separate charge.
type CaptureSplit struct {
	FromHold  Money
	Remainder Money
}

// SplitCapture divides amount between the hold and a follow-up charge.
func (p *Payment) SplitCapture(amount Money) (CaptureSplit, error) {
	if amount.Currency != p.Held.Currency {
		return CaptureSplit{}, ErrCurrencyMismatch
	}
	fromHold := min(amount.AmountMinor, p.Held.AmountMinor)
	return CaptureSplit{
		FromHold:  Money{AmountMinor: fromHold, Currency: amount.Currency},
		Remainder: Money{AmountMinor: amount.AmountMinor - fromHold, Currency: amount.Currency},
	}, nil
}

// CaptureSucceeded records a successful capture of amount (≤ held).
func (p *Payment) CaptureSucceeded(amount Money, now time.Time) error {
	if amount.Currency != p.Held.Currency || amount.AmountMinor > p.Held.AmountMinor || amount.AmountMinor < 0 {
		return fmt.Errorf("%w: capture %s of hold %s", ErrInvalidTransition, amount, p.Held)
	}
	if err := p.transition(PaymentCaptured, now, PaymentCapturePending); err != nil {
		return err
	}
	p.Captured = amount
	p.Held = Money{Currency: amount.Currency}
	return nil
}

// Canceled records the release of the hold (reservation cancelled, zero-cost trip).
func (p *Payment) Canceled(now time.Time) error {
	if err := p.transition(PaymentCanceled, now, PaymentPendingAuthorisation, PaymentAuthorised, PaymentCapturePending); err != nil {
		return err
	}
	p.Held = Money{Currency: p.Held.Currency}
	return nil
}

// Failed records a final gateway refusal (decline, authentication required).
func (p *Payment) Failed(code string, now time.Time) error {
	if err := p.transition(PaymentFailed, now, PaymentPendingAuthorisation, PaymentCapturePending); err != nil {
		return err
	}
	p.FailureCode = code
	return nil
}

// Refundable is what can still be refunded.
func (p *Payment) Refundable() Money {
	return Money{AmountMinor: p.Captured.AmountMinor - p.Refunded.AmountMinor, Currency: p.Captured.Currency}
}

// RefundSucceeded records a refund of amount (≤ refundable).
func (p *Payment) RefundSucceeded(amount Money, now time.Time) error {
	if p.Status != PaymentCaptured {
		return fmt.Errorf("%w: refund of a %s payment", ErrInvalidTransition, p.Status)
	}
	if !amount.IsPositive() || amount.Currency != p.Captured.Currency || amount.AmountMinor > p.Refundable().AmountMinor {
		return fmt.Errorf("%w: refund %s, refundable %s", ErrInvalidTransition, amount, p.Refundable())
	}
	p.Refunded.AmountMinor += amount.AmountMinor
	p.UpdatedAt = now
	return nil
}
