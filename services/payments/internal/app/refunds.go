package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

// Refunds of captured payments (trips and charges alike).
//
// RequestRefund locks the payment, checks that pending + queued + succeeded
// refunds plus this one stay within what was captured, and stores the refund:
// above the approval threshold as pending_approval (RefundRequestedV1) until
// another member of staff approves or rejects it, else queued with its refund
// operation ("refund:<refund id>", the gateway idempotency key) in the same
// transaction. The worker calls Gateway.Refund and then, in one transaction,
// marks the refund succeeded, adds it to the payment, posts the refund entry
// and announces PaymentRefundedV1.
//
// A client idempotency key makes the refund id deterministic (from requester
// and key): a replay, even concurrent, finds the first refund and returns it.

// OpRefund runs a queued refund at the gateway.
const OpRefund OperationKind = "refund"

// DefaultRefundApprovalThreshold is the refund amount (minor units, 20.00 in
// the payment's currency) above which a second member of staff must approve.
const DefaultRefundApprovalThreshold = 20_00

// RefundOpID is the operation id (and gateway idempotency key) of a refund.
func RefundOpID(refundID string) string { return "refund:" + refundID }

var (
	// ErrRefundNotFound is returned when no refund has the id.
	ErrRefundNotFound = errors.New("refund not found")
	// ErrRefundExists is returned by CreateRefundTx when the id is taken.
	ErrRefundExists = errors.New("refund already exists")
	// ErrIdempotencyKeyReused is returned when a client key comes back with
	// other parameters (another payment, another amount).
	ErrIdempotencyKeyReused = errors.New("idempotency key reused with different parameters")
	// ErrInvalidRequest is returned for a request that misses what it needs.
	ErrInvalidRequest = errors.New("invalid request")
)

// RefundStore keeps refunds (adapters/postgres.Payments). Every change runs
// inside PaymentStore.Update of the refund's payment, whose row lock
// serialises the refunds of one payment.
type RefundStore interface {
	// CreateRefundTx stores a new refund; ErrRefundExists when the id is taken.
	CreateRefundTx(ctx context.Context, tx pgx.Tx, r *domain.Refund) error
	// SaveRefundTx writes a refund's status, decision and gateway outcome.
	SaveRefundTx(ctx context.Context, tx pgx.Tx, r *domain.Refund) error
	// RefundTx reads a refund in tx; ErrRefundNotFound when there is none.
	RefundTx(ctx context.Context, tx pgx.Tx, id string) (*domain.Refund, error)
	// Refund reads a refund; ErrRefundNotFound when there is none.
	Refund(ctx context.Context, id string) (*domain.Refund, error)
	// ReservedRefundsTx sums the payment's pending, queued and succeeded refunds.
	ReservedRefundsTx(ctx context.Context, tx pgx.Tx, paymentID string) (int64, error)
}

// RefundRequest asks to refund (part of) a captured payment.
type RefundRequest struct {
	PaymentID string
	// Amount to refund; zero means everything still refundable.
	Amount      domain.Money
	Reason      string
	RequestedBy string // staff subject (or the service acting for the customer)
	// IdempotencyKey, when set, makes the request replayable: the same
	// requester and key return the same refund.
	IdempotencyKey string
}

// RefundID is the refund id of a request: derived from requester and key when
// the client sent one, random otherwise.
func RefundID(requestedBy, idempotencyKey string) string {
	if idempotencyKey == "" {
		return "rf_" + strings.ToLower(rand.Text())
	}
	sum := sha256.Sum256([]byte(requestedBy + "\x00" + idempotencyKey))
	return "rf_" + hex.EncodeToString(sum[:16])
}

func (f *Flows) needsApproval(amount domain.Money) bool {
	return amount.AmountMinor > f.opts.RefundApprovalThreshold
}

// RequestRefund records a refund of a captured payment: pending approval above
// the threshold, else queued for the gateway. Refunds of one payment never add
// up to more than was captured, whatever runs concurrently. A replay (same
// requester and idempotency key) returns the first refund.
func (f *Flows) RequestRefund(ctx context.Context, req RefundRequest) (*domain.Refund, error) {
	if req.PaymentID == "" || req.RequestedBy == "" {
		return nil, fmt.Errorf("%w: a refund needs a payment and a requester", ErrInvalidRequest)
	}
	id := RefundID(req.RequestedBy, req.IdempotencyKey)
	var out *domain.Refund
	errReplay := errors.New("replay")
	err := f.store.Update(ctx, req.PaymentID, func(tx pgx.Tx, p *domain.Payment) error {
		existing, err := f.store.RefundTx(ctx, tx, id)
		switch {
		case err == nil:
			if existing.PaymentID != p.ID || (req.Amount.AmountMinor != 0 && existing.Amount != req.Amount) {
				return fmt.Errorf("%w: refund %s is %s of %s", ErrIdempotencyKeyReused, existing.ID, existing.Amount, existing.PaymentID)
			}
			out = existing
			return errReplay // roll back: nothing changed
		case !errors.Is(err, ErrRefundNotFound):
			return err
		}
		reserved, err := f.store.ReservedRefundsTx(ctx, tx, p.ID)
		if err != nil {
			return err
		}
		amount, err := domain.RefundAmount(p, req.Amount, reserved)
		if err != nil {
			return fmt.Errorf("refund of %s: %w", p.ID, err)
		}
		now := f.opts.Now()
		r, err := domain.NewRefund(id, p, amount, req.Reason, req.RequestedBy, req.IdempotencyKey, f.needsApproval(amount), now)
		if err != nil {
			return err
		}
		if err := f.store.CreateRefundTx(ctx, tx, r); err != nil {
			return err
		}
		if r.Status == domain.RefundPendingApproval {
			if err := f.emit(ctx, tx, p.ID, events.TypeRefundRequestedV1, events.RefundRequestedV1{
				RefundID: r.ID, PaymentID: p.ID, CustomerID: p.CustomerID, TripID: p.TripID, Amount: eventMoney(amount),
				Reason: r.Reason, RequestedBy: r.RequestedBy, Status: string(r.Status), RequestedAt: now}); err != nil {
				return err
			}
		} else if _, err := f.store.EnqueueTx(ctx, tx, Operation{
			ID: RefundOpID(r.ID), PaymentID: p.ID, Kind: OpRefund, Amount: amount}); err != nil {
			return err
		}
		out = r
		return nil
	})
	if errors.Is(err, errReplay) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ApproveRefund releases a refund waiting for approval to the gateway. The
// approver must not be its requester. Approving again (same approver) returns
// the refund unchanged.
func (f *Flows) ApproveRefund(ctx context.Context, refundID, approver string) (*domain.Refund, error) {
	return f.decideRefund(ctx, refundID, approver, func(tx pgx.Tx, r *domain.Refund) error {
		if r.Status != domain.RefundPendingApproval && r.Status != domain.RefundRejected && r.DecidedBy == approver {
			return errUnchanged
		}
		if err := r.Approve(approver, f.opts.Now()); err != nil {
			return err
		}
		_, err := f.store.EnqueueTx(ctx, tx, Operation{ID: RefundOpID(r.ID), PaymentID: r.PaymentID, Kind: OpRefund, Amount: r.Amount})
		return err
	})
}

// RejectRefund closes a refund waiting for approval without paying it; its
// amount becomes refundable again. The approver must not be its requester.
func (f *Flows) RejectRefund(ctx context.Context, refundID, approver, reason string) (*domain.Refund, error) {
	return f.decideRefund(ctx, refundID, approver, func(_ pgx.Tx, r *domain.Refund) error {
		if r.Status == domain.RefundRejected && r.DecidedBy == approver {
			return errUnchanged
		}
		return r.Reject(approver, reason, f.opts.Now())
	})
}

var errUnchanged = errors.New("unchanged")

func (f *Flows) decideRefund(ctx context.Context, refundID, approver string, decide func(pgx.Tx, *domain.Refund) error) (*domain.Refund, error) {
	if approver == "" {
		return nil, fmt.Errorf("%w: the approver is empty", ErrInvalidRequest)
	}
	r, err := f.store.Refund(ctx, refundID)
	if err != nil {
		return nil, err
	}
	err = f.store.Update(ctx, r.PaymentID, func(tx pgx.Tx, _ *domain.Payment) error {
		locked, err := f.store.RefundTx(ctx, tx, refundID) // again, under the payment's lock
		if err != nil {
			return err
		}
		r = locked
		if err := decide(tx, r); err != nil {
			return err
		}
		return f.store.SaveRefundTx(ctx, tx, r)
	})
	if err != nil && !errors.Is(err, errUnchanged) {
		return nil, err
	}
	return r, nil
}

// runRefund makes a queued refund at the gateway and records the outcome.
func (f *Flows) runRefund(ctx context.Context, op Operation, p *domain.Payment) error {
	r, err := f.store.Refund(ctx, strings.TrimPrefix(op.ID, "refund:"))
	if err != nil {
		return err
	}
	if r.Status != domain.RefundQueued { // a replayed operation
		return f.store.Update(ctx, p.ID, func(tx pgx.Tx, _ *domain.Payment) error { return f.store.DoneTx(ctx, tx, op.ID) })
	}
	refund, gerr := f.gateway.Refund(ctx, op.ID, p.IntentID, r.Amount, r.Reason)
	if gerr != nil {
		var ge *GatewayError
		if IsRetryable(gerr) || !errors.As(gerr, &ge) {
			return gerr
		}
		return f.store.Update(ctx, p.ID, func(tx pgx.Tx, p *domain.Payment) error {
			r, err := f.store.RefundTx(ctx, tx, r.ID)
			if err != nil {
				return err
			}
			if r.Status != domain.RefundQueued {
				return f.store.DoneTx(ctx, tx, op.ID)
			}
			now, code := f.opts.Now(), failureCode(gerr)
			if err := r.Failed(code, now); err != nil {
				return err
			}
			if err := f.store.SaveRefundTx(ctx, tx, r); err != nil {
				return err
			}
			if err := f.emit(ctx, tx, p.ID, events.TypePaymentFailedV1, events.PaymentFailedV1{
				PaymentID: p.ID, CustomerID: p.CustomerID, TripID: p.TripID, Amount: eventMoney(r.Amount),
				Stage: "refund", Code: code, Reason: gerr.Error(), FailedAt: now}); err != nil {
				return err
			}
			return f.store.FailTx(ctx, tx, op.ID, gerr.Error())
		})
	}
	return f.store.Update(ctx, p.ID, func(tx pgx.Tx, p *domain.Payment) error {
		r, err := f.store.RefundTx(ctx, tx, r.ID)
		if err != nil {
			return err
		}
		if r.Status != domain.RefundQueued {
			return f.store.DoneTx(ctx, tx, op.ID)
		}
		now := f.opts.Now()
		if err := r.Succeeded(refund.ID, now); err != nil {
			return err
		}
		if err := f.store.SaveRefundTx(ctx, tx, r); err != nil {
			return err
		}
		if err := p.RefundSucceeded(r.Amount, now); err != nil {
			return err
		}
		entry, err := domain.RefundEntry(op.ID, r.Amount)
		if err != nil {
			return err
		}
		if _, _, err := f.ledger.PostTx(ctx, tx, entry); err != nil {
			return err
		}
		if err := f.emit(ctx, tx, p.ID, events.TypePaymentRefundedV1, events.PaymentRefundedV1{
			PaymentID: p.ID, RefundID: r.ID, CustomerID: p.CustomerID, TripID: p.TripID, Amount: eventMoney(r.Amount),
			Reason: r.Reason, RefundedAt: now}); err != nil {
			return err
		}
		return f.store.DoneTx(ctx, tx, op.ID)
	})
}
