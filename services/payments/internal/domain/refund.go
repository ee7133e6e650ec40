package domain

import (
	"errors"
	"fmt"
	"time"
)

// RefundStatus is a refund's place in its life: above the approval threshold it
// waits for a second member of staff; then (or at once, below the threshold) it
// is queued for the gateway, and ends succeeded or failed. A rejected refund
// never reaches the gateway.
type RefundStatus string

const (
	RefundPendingApproval RefundStatus = "pending_approval"
	RefundQueued          RefundStatus = "queued"
	RefundSucceeded       RefundStatus = "succeeded"
	RefundRejected        RefundStatus = "rejected"
	RefundFailed          RefundStatus = "failed"
)

// Reserves reports whether a refund in status s counts against what can still
// be refunded: everything that may yet reach, or has reached, the gateway.
func (s RefundStatus) Reserves() bool {
	return s == RefundPendingApproval || s == RefundQueued || s == RefundSucceeded
}

var (
	// ErrNothingToRefund is returned when the payment has nothing left to refund.
	ErrNothingToRefund = errors.New("nothing left to refund")
	// ErrRefundTooLarge is returned when a refund would exceed what was captured.
	ErrRefundTooLarge = errors.New("refund exceeds the refundable amount")
	// ErrSelfApproval is returned when the requester approves or rejects their own refund.
	ErrSelfApproval = errors.New("a refund must be approved by someone other than its requester")
	// ErrRefundNotPending is returned when a refund is no longer waiting for approval.
	ErrRefundNotPending = errors.New("refund is not pending approval")
)

// Refund gives (part of) a captured payment back to the customer.
type Refund struct {
	ID             string
	PaymentID      string
	CustomerID     string
	Amount         Money
	Status         RefundStatus
	Reason         string
	RequestedBy    string
	IdempotencyKey string // the client's key, if any
	DecidedBy      string // approver or rejecter; empty below the threshold
	DecisionReason string
	DecidedAt      time.Time // zero until decided
	ProviderRef    string    // gateway refund id
	FailureCode    string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// RefundAmount is what a refund request of requested (zero: everything left)
// may take from p, given reserved: the sum of the payment's refunds that are
// pending approval, queued or succeeded.
func RefundAmount(p *Payment, requested Money, reserved int64) (Money, error) {
	if p.Status != PaymentCaptured {
		return Money{}, fmt.Errorf("%w: refund of a %s payment", ErrInvalidTransition, p.Status)
	}
	left := Money{AmountMinor: p.Captured.AmountMinor - reserved, Currency: p.Captured.Currency}
	if requested.AmountMinor == 0 {
		if !left.IsPositive() {
			return Money{}, fmt.Errorf("%w: %s captured, %s reserved by refunds", ErrNothingToRefund, p.Captured,
				Money{AmountMinor: reserved, Currency: p.Captured.Currency})
		}
		return left, nil
	}
	if requested.Currency != p.Captured.Currency {
		return Money{}, fmt.Errorf("%w: refund in %s of a payment in %s", ErrCurrencyMismatch, requested.Currency, p.Captured.Currency)
	}
	if requested.AmountMinor < 0 {
		return Money{}, fmt.Errorf("refund amount must be positive, got %s", requested)
	}
	if requested.AmountMinor > left.AmountMinor {
		return Money{}, fmt.Errorf("%w: %s requested, %s left", ErrRefundTooLarge, requested, left)
	}
	return requested, nil
}

// NewRefund builds a refund of amount (see RefundAmount) of p. needsApproval
// puts it in pending_approval, else it is queued at once.
func NewRefund(id string, p *Payment, amount Money, reason, requestedBy, idempotencyKey string, needsApproval bool, now time.Time) (*Refund, error) {
	if id == "" || requestedBy == "" {
		return nil, errors.New("a refund needs an id and a requester")
	}
	if !amount.IsPositive() {
		return nil, fmt.Errorf("refund amount must be positive, got %s", amount)
	}
	status := RefundQueued
	if needsApproval {
		status = RefundPendingApproval
	}
	return &Refund{ID: id, PaymentID: p.ID, CustomerID: p.CustomerID, Amount: amount, Status: status,
		Reason: reason, RequestedBy: requestedBy, IdempotencyKey: idempotencyKey, CreatedAt: now, UpdatedAt: now}, nil
}

func (r *Refund) decide(by string) error {
	if by == "" {
		return errors.New("approver is empty")
	}
	if by == r.RequestedBy {
		return ErrSelfApproval
	}
	if r.Status != RefundPendingApproval {
		return fmt.Errorf("%w: %s is %s", ErrRefundNotPending, r.ID, r.Status)
	}
	return nil
}

// Approve lets a second member of staff release the refund to the gateway.
func (r *Refund) Approve(approver string, now time.Time) error {
	if err := r.decide(approver); err != nil {
		return err
	}
	r.Status, r.DecidedBy, r.DecidedAt, r.UpdatedAt = RefundQueued, approver, now, now
	return nil
}

// Reject closes the refund without paying it; its amount is refundable again.
func (r *Refund) Reject(approver, reason string, now time.Time) error {
	if err := r.decide(approver); err != nil {
		return err
	}
	r.Status, r.DecidedBy, r.DecisionReason, r.DecidedAt, r.UpdatedAt = RefundRejected, approver, reason, now, now
	return nil
}

// Succeeded records the gateway's refund.
func (r *Refund) Succeeded(providerRef string, now time.Time) error {
	if r.Status != RefundQueued {
		return fmt.Errorf("%w: refund %s is %s, not queued", ErrInvalidTransition, r.ID, r.Status)
	}
	r.Status, r.ProviderRef, r.UpdatedAt = RefundSucceeded, providerRef, now
	return nil
}

// Failed records a final gateway refusal; the amount is refundable again.
func (r *Refund) Failed(code string, now time.Time) error {
	if r.Status != RefundQueued {
		return fmt.Errorf("%w: refund %s is %s, not queued", ErrInvalidTransition, r.ID, r.Status)
	}
	r.Status, r.FailureCode, r.UpdatedAt = RefundFailed, code, now
	return nil
}
