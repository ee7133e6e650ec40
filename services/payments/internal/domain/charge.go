package domain

import (
	"errors"
	"fmt"
	"time"
)

// PaymentKind says what a payment pays for: a trip (hold at start, capture at
// end) or a separate charge, authorised and captured at once.
type PaymentKind string

const (
	PaymentKindTrip            PaymentKind = "trip"
	PaymentKindFine            PaymentKind = "fine"             // reference: the fine id
	PaymentKindCancellationFee PaymentKind = "cancellation_fee" // reference: the reservation id
	PaymentKindTripRemainder   PaymentKind = "trip_remainder"   // reference: the trip id
)

// IsCharge reports whether k is a separate charge rather than a trip payment.
func (k PaymentKind) IsCharge() bool {
	switch k {
	case PaymentKindFine, PaymentKindCancellationFee, PaymentKindTripRemainder:
		return true
	}
	return false
}

// NewCharge starts a charge of amount for customerID. reference is the business
// id the charge is unique for (one charge per kind and reference); tripID may be
// empty (a cancellation fee). The charge goes through the payment lifecycle:
// pending_authorisation → authorised → capture_pending → captured, or failed.
func NewCharge(id string, kind PaymentKind, reference, customerID, tripID, reason string, amount Money, now time.Time) (*Payment, error) {
	if !kind.IsCharge() {
		return nil, fmt.Errorf("charge kind %q is not a charge", kind)
	}
	if reference == "" {
		return nil, errors.New("a charge needs a reference")
	}
	p, err := NewPayment(id, customerID, tripID, amount, now)
	if err != nil {
		return nil, err
	}
	p.Kind, p.Reference, p.Reason = kind, reference, reason
	return p, nil
}
