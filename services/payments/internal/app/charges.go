package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/inbox"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

// Separate charges: fines, cancellation fees and the remainder of a trip above
// its hold (when the hold could not be incremented).
//
// A charge is a payment of its own kind (domain.NewCharge) with its own
// PaymentIntent. Its creation puts what the customer owes on the receivable
// (a fine entry; a trip remainder is already there from the trip's charge) and
// queues one charge operation, "charge:<charge id>", in the same transaction.
// The worker then authorises ("charge:<id>:authorise") and captures
// ("charge:<id>:capture") back to back; the authorisation is recorded in
// between, so a retry captures instead of authorising again. The captured cash
// settles the receivable (a capture entry, reference the operation id). A
// declined charge leaves the amount on the receivable and announces
// PaymentFailedV1 with stage "charge".
//
// A cancellation fee has no revenue account of its own in the chart of
// accounts yet; it is booked as a fine (revenue:fines), reference
// "cancellation:<reservation id>".

// Consumer names for the inbox.
const (
	ConsumerFineIssued           = "payments.fine-issued"
	ConsumerReservationCancelled = "payments.reservation-cancelled"
)

// OpCharge authorises and captures a charge.
const OpCharge OperationKind = "charge"

// ChargeID is the payment id of the charge of kind for reference (one per pair).
func ChargeID(kind domain.PaymentKind, reference string) string {
	return "chg_" + string(kind) + "_" + reference
}

// ChargeOpID is the operation id of a charge; the gateway keys add ":authorise" and ":capture".
func ChargeOpID(chargeID string) string { return "charge:" + chargeID }

// cancellationFeeReference is the ledger reference of a cancellation fee's fine entry.
func cancellationFeeReference(reservationID string) string { return "cancellation:" + reservationID }

// OnFineIssued charges a fine: the fine is owed at once (fine entry), and its
// charge is queued, in one transaction. A redelivered event, or a second event
// for the same fine id, changes nothing.
func (f *Flows) OnFineIssued(ctx context.Context, ev events.Event) error {
	if ev.Type != events.TypeFineIssuedV1 {
		return fmt.Errorf("on fine issued: unexpected event type %q", ev.Type)
	}
	fine, err := events.Decode[events.FineIssuedV1](ev)
	if err != nil {
		return err
	}
	if fine.FineID == "" {
		return fmt.Errorf("fine issued event %s has no fine id", ev.ID)
	}
	amount, err := domain.NewMoney(fine.Amount.AmountMinor, fine.Amount.Currency)
	if err != nil {
		return fmt.Errorf("fine %s amount: %w", fine.FineID, err)
	}
	p, err := domain.NewCharge(ChargeID(domain.PaymentKindFine, fine.FineID), domain.PaymentKindFine, fine.FineID,
		fine.CustomerID, fine.TripID, fine.Reason, amount, f.opts.Now())
	if err != nil {
		return fmt.Errorf("fine %s: %w", fine.FineID, err)
	}
	owed, err := domain.FineEntry(fine.CustomerID, fine.FineID, amount)
	if err != nil {
		return fmt.Errorf("fine %s: %w", fine.FineID, err)
	}
	return f.store.Begin(ctx, func(tx pgx.Tx) error {
		first, err := inbox.Claim(ctx, tx, ConsumerFineIssued, ev.ID)
		if err != nil || !first {
			return err
		}
		return f.queueChargeTx(ctx, tx, p, &owed)
	})
}

// OnReservationCancelled charges the cancellation fee, if the event carries
// one; a free cancellation changes nothing.
func (f *Flows) OnReservationCancelled(ctx context.Context, ev events.Event) error {
	if ev.Type != events.TypeReservationCancelledV1 {
		return fmt.Errorf("on reservation cancelled: unexpected event type %q", ev.Type)
	}
	c, err := events.Decode[events.ReservationCancelledV1](ev)
	if err != nil {
		return err
	}
	if c.Fee == nil || c.Fee.AmountMinor == 0 {
		return nil
	}
	if c.ReservationID == "" {
		return fmt.Errorf("reservation cancelled event %s has no reservation id", ev.ID)
	}
	fee, err := domain.NewMoney(c.Fee.AmountMinor, c.Fee.Currency)
	if err != nil {
		return fmt.Errorf("reservation %s fee: %w", c.ReservationID, err)
	}
	p, err := domain.NewCharge(ChargeID(domain.PaymentKindCancellationFee, c.ReservationID), domain.PaymentKindCancellationFee,
		c.ReservationID, c.CustomerID, "", c.Reason, fee, f.opts.Now())
	if err != nil {
		return fmt.Errorf("reservation %s: %w", c.ReservationID, err)
	}
	owed, err := domain.FineEntry(c.CustomerID, cancellationFeeReference(c.ReservationID), fee)
	if err != nil {
		return fmt.Errorf("reservation %s: %w", c.ReservationID, err)
	}
	return f.store.Begin(ctx, func(tx pgx.Tx) error {
		first, err := inbox.Claim(ctx, tx, ConsumerReservationCancelled, ev.ID)
		if err != nil || !first {
			return err
		}
		return f.queueChargeTx(ctx, tx, p, &owed)
	})
}

// queueChargeTx creates charge p, posts owed (what the charge is for, if not
// on the receivable yet) and queues its operation, in tx. A charge that exists
// (same kind and reference) is left alone.
func (f *Flows) queueChargeTx(ctx context.Context, tx pgx.Tx, p *domain.Payment, owed *domain.JournalEntry) error {
	if err := f.store.Create(ctx, tx, p); errors.Is(err, ErrPaymentExists) {
		return nil
	} else if err != nil {
		return err
	}
	if owed != nil {
		if _, _, err := f.ledger.PostTx(ctx, tx, *owed); err != nil {
			return err
		}
	}
	_, err := f.store.EnqueueTx(ctx, tx, Operation{ID: ChargeOpID(p.ID), PaymentID: p.ID, Kind: OpCharge, Amount: p.Held})
	return err
}

// runCharge authorises (unless an earlier attempt did) and captures a charge.
func (f *Flows) runCharge(ctx context.Context, op Operation, p *domain.Payment) error {
	if p.Status == domain.PaymentPendingAuthorisation {
		var err error
		if p, err = f.authoriseCharge(ctx, op, p); err != nil || p == nil {
			return err
		}
	}
	switch p.Status {
	case domain.PaymentAuthorised, domain.PaymentCapturePending:
		return f.captureCharge(ctx, op, p)
	case domain.PaymentFailed:
		return f.store.Update(ctx, p.ID, func(tx pgx.Tx, p *domain.Payment) error {
			return f.store.FailTx(ctx, tx, op.ID, "charge "+p.ID+" failed ("+p.FailureCode+"): left on the receivable")
		})
	default: // captured, canceled: a replayed operation
		return f.store.Update(ctx, p.ID, func(tx pgx.Tx, _ *domain.Payment) error { return f.store.DoneTx(ctx, tx, op.ID) })
	}
}

// authoriseCharge places the charge's hold and records it (capture pending)
// before the capture is tried. It returns the payment as recorded, or nil when
// the charge failed for good.
func (f *Flows) authoriseCharge(ctx context.Context, op Operation, p *domain.Payment) (*domain.Payment, error) {
	pm, err := f.methods(ctx, p.CustomerID)
	if err != nil {
		return nil, fmt.Errorf("payment method of %s: %w", p.CustomerID, err)
	}
	md := map[string]string{"payment_id": p.ID, "kind": string(p.Kind), "reference": p.Reference}
	if p.TripID != "" {
		md["trip_id"] = p.TripID
	}
	intent, gerr := f.gateway.Authorise(ctx, AuthoriseRequest{
		IdempotencyKey: op.ID + ":authorise",
		CustomerRef:    pm.CustomerRef,
		PaymentMethod:  pm.PaymentMethod,
		Amount:         op.Amount,
		Description:    chargeDescription(p),
		Metadata:       md,
	})
	if gerr != nil {
		if IsRetryable(gerr) {
			return nil, gerr
		}
		recovered, err := f.recoverAuthorisation(ctx, intent.ID, op.Amount, gerr)
		if err != nil {
			return nil, err
		}
		if recovered == nil {
			return nil, f.failCharge(ctx, op, intent.ID, gerr)
		}
		intent = *recovered
	}
	var out *domain.Payment
	err = f.store.Update(ctx, p.ID, func(_ pgx.Tx, p *domain.Payment) error {
		if p.Status == domain.PaymentPendingAuthorisation {
			now := f.opts.Now()
			if err := p.Authorised(intent.ID, intent.Amount, now); err != nil {
				return err
			}
			if err := p.RequestCapture(op.Amount, now); err != nil {
				return err
			}
		}
		c := *p
		out = &c
		return nil
	})
	return out, err
}

func (f *Flows) captureCharge(ctx context.Context, op Operation, p *domain.Payment) error {
	intent, gerr := f.gateway.Capture(ctx, op.ID+":capture", p.IntentID, op.Amount)
	if gerr != nil {
		if IsRetryable(gerr) {
			return gerr
		}
		recovered, err := f.recoverCapture(ctx, p.IntentID, op.Amount, gerr)
		if err != nil {
			return err
		}
		if recovered == nil {
			f.release(ctx, op.ID+":cancel", p.IntentID)
			return f.failCharge(ctx, op, p.IntentID, gerr)
		}
		intent = *recovered
	}
	return f.store.Update(ctx, p.ID, func(tx pgx.Tx, p *domain.Payment) error {
		now := f.opts.Now()
		if p.Status == domain.PaymentAuthorised {
			if err := p.RequestCapture(op.Amount, now); err != nil {
				return err
			}
		}
		if p.Status != domain.PaymentCapturePending {
			return f.store.DoneTx(ctx, tx, op.ID) // resolved meanwhile
		}
		if err := p.CaptureSucceeded(op.Amount, now); err != nil {
			return err
		}
		settle, err := domain.CaptureEntry(p.CustomerID, op.ID, op.Amount)
		if err != nil {
			return err
		}
		if _, _, err := f.ledger.PostTx(ctx, tx, settle); err != nil {
			return err
		}
		if err := f.emitCharged(ctx, tx, p, op.Amount, intent.ID, now); err != nil {
			return err
		}
		return f.store.DoneTx(ctx, tx, op.ID)
	})
}

// emitCharged announces a captured charge: FineChargedV1 for a fine,
// PaymentCapturedV1 with the charge's kind otherwise.
func (f *Flows) emitCharged(ctx context.Context, tx pgx.Tx, p *domain.Payment, amount domain.Money, providerRef string, now time.Time) error {
	if p.Kind == domain.PaymentKindFine {
		return f.emit(ctx, tx, p.ID, events.TypeFineChargedV1, events.FineChargedV1{
			FineID: p.Reference, PaymentID: p.ID, CustomerID: p.CustomerID, TripID: p.TripID, Reason: p.Reason,
			Amount: eventMoney(amount), ProviderRef: providerRef, ChargedAt: now})
	}
	captured := events.PaymentCapturedV1{PaymentID: p.ID, CustomerID: p.CustomerID, TripID: p.TripID,
		Amount: eventMoney(amount), ProviderRef: providerRef, CapturedAt: now, Kind: string(p.Kind)}
	if p.Kind == domain.PaymentKindCancellationFee {
		captured.ReservationID = p.Reference
	}
	return f.emit(ctx, tx, p.ID, events.TypePaymentCapturedV1, captured)
}

// failCharge records a final refusal of a charge: the amount stays on the
// customer's receivable.
func (f *Flows) failCharge(ctx context.Context, op Operation, intentID string, gerr error) error {
	return f.store.Update(ctx, op.PaymentID, func(tx pgx.Tx, p *domain.Payment) error {
		now := f.opts.Now()
		switch p.Status {
		case domain.PaymentCaptured, domain.PaymentCanceled:
			return f.store.DoneTx(ctx, tx, op.ID)
		case domain.PaymentFailed:
			return f.store.FailTx(ctx, tx, op.ID, gerr.Error())
		case domain.PaymentAuthorised:
			if err := p.RequestCapture(op.Amount, now); err != nil {
				return err
			}
		}
		code := failureCode(gerr)
		if err := p.Failed(code, now); err != nil {
			return err
		}
		if intentID != "" {
			p.IntentID = intentID // a decline still creates an intent; keep it for support
		}
		failed := events.PaymentFailedV1{PaymentID: p.ID, CustomerID: p.CustomerID, TripID: p.TripID,
			Amount: eventMoney(op.Amount), Stage: "charge", Code: code, Reason: gerr.Error(), FailedAt: now}
		if p.Kind == domain.PaymentKindCancellationFee {
			failed.ReservationID = p.Reference
		}
		if err := f.emit(ctx, tx, p.ID, events.TypePaymentFailedV1, failed); err != nil {
			return err
		}
		return f.store.FailTx(ctx, tx, op.ID, gerr.Error())
	})
}

// release cancels the authorisation of a charge whose capture was refused, so
// the customer's funds are not blocked until the hold expires. Best effort:
// the charge's outcome does not depend on it.
func (f *Flows) release(ctx context.Context, key, intentID string) {
	if intentID == "" {
		return
	}
	if _, err := f.gateway.Cancel(ctx, key, intentID); err != nil {
		f.opts.Logger.WarnContext(ctx, "release of a refused charge's hold failed", "intent_id", intentID, "err", err)
	}
}

func chargeDescription(p *domain.Payment) string {
	switch p.Kind {
	case domain.PaymentKindFine:
		return "Fine " + p.Reference + " (" + p.Reason + ")"
	case domain.PaymentKindCancellationFee:
		return "Cancellation fee, reservation " + p.Reference
	case domain.PaymentKindTripRemainder:
		return "Trip " + p.Reference + ", remainder above the hold"
	}
	return string(p.Kind) + " " + p.Reference
}

// Lost writes: a gateway call succeeded but the transaction recording it did
// not commit, and the retry's idempotency key has expired at the gateway
// (Stripe keeps keys 24 h), so the gateway refuses the call as if it were new
// ("already captured"). Before recording a refusal, ask the gateway for the
// intent: if it already shows what we asked for, record the success instead.
// Only refusals that such a replay can cause are checked; a card decline is final.

func mayBeLostWrite(gerr error) bool {
	var ge *GatewayError
	return errors.As(gerr, &ge) && (ge.Kind == KindInvalidRequest || ge.Kind == KindIdempotency)
}

// recoverAuthorisation returns the intent if intentID (returned with the
// refusal, or recorded earlier) already holds want; nil when it does not.
func (f *Flows) recoverAuthorisation(ctx context.Context, intentID string, want domain.Money, gerr error) (*Intent, error) {
	if intentID == "" || !mayBeLostWrite(gerr) {
		return nil, nil
	}
	in, err := f.lookUp(ctx, intentID)
	if err != nil || in == nil {
		return nil, err
	}
	if in.Status != StatusRequiresCapture || in.Amount != want {
		return nil, nil
	}
	f.opts.Logger.WarnContext(ctx, "authorisation refused but already in place: recording it", "intent_id", intentID,
		"amount", want.String(), slog.Any("refusal", gerr))
	return in, nil
}

// recoverCapture returns the intent if it already captured want; nil when it did not.
func (f *Flows) recoverCapture(ctx context.Context, intentID string, want domain.Money, gerr error) (*Intent, error) {
	if intentID == "" || !mayBeLostWrite(gerr) {
		return nil, nil
	}
	in, err := f.lookUp(ctx, intentID)
	if err != nil || in == nil {
		return nil, err
	}
	if in.Status != StatusSucceeded || in.AmountReceived != want.AmountMinor || in.Amount.Currency != want.Currency {
		return nil, nil
	}
	f.opts.Logger.WarnContext(ctx, "capture refused but already made: recording it", "intent_id", intentID,
		"amount", want.String(), slog.Any("refusal", gerr))
	return in, nil
}

// lookUp reads an intent; a retryable failure is returned (try again later),
// any other leaves the refusal standing (nil intent).
func (f *Flows) lookUp(ctx context.Context, intentID string) (*Intent, error) {
	in, err := f.gateway.GetIntent(ctx, intentID)
	if err != nil {
		if IsRetryable(err) {
			return nil, err
		}
		f.opts.Logger.WarnContext(ctx, "intent lookup after a refusal failed", "intent_id", intentID, "err", err)
		return nil, nil
	}
	return &in, nil
}
