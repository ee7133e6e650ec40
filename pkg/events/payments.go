package events

import "time"

// Payment event types, on TopicPaymentsEvents.
const (
	TypePaymentAuthorisedV1 = "com.mobilitycorp.payments.payment.authorised.v1"
	TypePaymentCapturedV1   = "com.mobilitycorp.payments.payment.captured.v1"
	TypePaymentFailedV1     = "com.mobilitycorp.payments.payment.failed.v1"
	TypePaymentRefundedV1   = "com.mobilitycorp.payments.payment.refunded.v1"
	// TypePaymentAuthorisationFailedV1 carries a PaymentFailedV1 with Stage
	// "authorise": the hold of a trip was refused. TypePaymentFailedV1 is kept
	// for capture, charge and refund failures.
	TypePaymentAuthorisationFailedV1 = "com.mobilitycorp.payments.payment.authorisation-failed.v1"
	TypeFineChargedV1                = "com.mobilitycorp.payments.fine.charged.v1"
	TypeCreditGrantedV1              = "com.mobilitycorp.payments.credit.granted.v1"
	TypeCreditAppliedV1              = "com.mobilitycorp.payments.credit.applied.v1"
	TypeRefundRequestedV1            = "com.mobilitycorp.payments.refund.requested.v1"
)

// Payment kinds (PaymentCapturedV1.Kind): a trip's own payment, or a separate charge.
const (
	PaymentKindTrip            = "trip"
	PaymentKindFine            = "fine"
	PaymentKindCancellationFee = "cancellation_fee"
	PaymentKindTripRemainder   = "trip_remainder" // the part of a trip's price above its hold
)

// PaymentAuthorisedV1: funds are held (reservation deposit or trip start).
type PaymentAuthorisedV1 struct {
	PaymentID     string    `json:"payment_id"`
	CustomerID    string    `json:"customer_id"`
	ReservationID string    `json:"reservation_id,omitempty"`
	TripID        string    `json:"trip_id,omitempty"`
	Amount        Money     `json:"amount"`
	ProviderRef   string    `json:"provider_ref"`
	AuthorisedAt  time.Time `json:"authorised_at"`
}

// PaymentCapturedV1: the customer was charged. A captured fine is announced as
// FineChargedV1 instead.
type PaymentCapturedV1 struct {
	PaymentID   string    `json:"payment_id"`
	CustomerID  string    `json:"customer_id"`
	TripID      string    `json:"trip_id,omitempty"`
	Amount      Money     `json:"amount"`
	ProviderRef string    `json:"provider_ref"`
	CapturedAt  time.Time `json:"captured_at"`
	// Kind is PaymentKindTrip, PaymentKindCancellationFee or
	// PaymentKindTripRemainder; empty in events older than charges (a trip).
	Kind          string `json:"kind,omitempty"`
	ReservationID string `json:"reservation_id,omitempty"` // of a cancellation fee
}

// PaymentFailedV1: an authorisation, capture, charge or refund was declined or
// errored. Published as TypePaymentAuthorisationFailedV1 for Stage "authorise".
type PaymentFailedV1 struct {
	PaymentID     string    `json:"payment_id"`
	CustomerID    string    `json:"customer_id"`
	ReservationID string    `json:"reservation_id,omitempty"`
	TripID        string    `json:"trip_id,omitempty"`
	Amount        Money     `json:"amount"`
	Stage         string    `json:"stage"` // "authorise", "capture", "charge" or "refund"
	Code          string    `json:"code"`  // provider decline code
	Reason        string    `json:"reason,omitempty"`
	Retryable     bool      `json:"retryable"`
	FailedAt      time.Time `json:"failed_at"`
}

// PaymentRefundedV1: money went back to the customer.
type PaymentRefundedV1 struct {
	PaymentID  string    `json:"payment_id"`
	RefundID   string    `json:"refund_id"`
	CustomerID string    `json:"customer_id"`
	TripID     string    `json:"trip_id,omitempty"`
	Amount     Money     `json:"amount"`
	Reason     string    `json:"reason,omitempty"`
	RefundedAt time.Time `json:"refunded_at"`
}

// FineChargedV1: a fine (booking's FineIssuedV1) was captured from the customer's card.
type FineChargedV1 struct {
	FineID      string    `json:"fine_id"`
	PaymentID   string    `json:"payment_id"`
	CustomerID  string    `json:"customer_id"`
	TripID      string    `json:"trip_id,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	Amount      Money     `json:"amount"`
	ProviderRef string    `json:"provider_ref"`
	ChargedAt   time.Time `json:"charged_at"`
}

// CreditGrantedV1: a credit was added to the customer's balance (a reward, or
// staff goodwill); it is applied to the customer's next trips.
type CreditGrantedV1 struct {
	CreditID   string    `json:"credit_id"` // the reward id for rewards
	CustomerID string    `json:"customer_id"`
	TripID     string    `json:"trip_id,omitempty"`
	Amount     Money     `json:"amount"`
	Source     string    `json:"source"` // "reward" or "staff"
	Reason     string    `json:"reason,omitempty"`
	GrantedBy  string    `json:"granted_by,omitempty"` // staff subject
	GrantedAt  time.Time `json:"granted_at"`
}

// CreditAppliedV1: credit paid (part of) a trip; only the rest is captured.
type CreditAppliedV1 struct {
	PaymentID  string    `json:"payment_id"`
	CustomerID string    `json:"customer_id"`
	TripID     string    `json:"trip_id"`
	Amount     Money     `json:"amount"`
	AppliedAt  time.Time `json:"applied_at"`
}

// RefundRequestedV1: a refund above the approval threshold waits for a second
// member of staff (status "pending_approval").
type RefundRequestedV1 struct {
	RefundID    string    `json:"refund_id"`
	PaymentID   string    `json:"payment_id"`
	CustomerID  string    `json:"customer_id"`
	TripID      string    `json:"trip_id,omitempty"`
	Amount      Money     `json:"amount"`
	Reason      string    `json:"reason,omitempty"`
	RequestedBy string    `json:"requested_by"`
	Status      string    `json:"status"`
	RequestedAt time.Time `json:"requested_at"`
}
