package events

import "time"

// Payment event types, on TopicPaymentsEvents.
const (
	TypePaymentAuthorisedV1 = "com.mobilitycorp.payments.payment.authorised.v1"
	TypePaymentCapturedV1   = "com.mobilitycorp.payments.payment.captured.v1"
	TypePaymentFailedV1     = "com.mobilitycorp.payments.payment.failed.v1"
	TypePaymentRefundedV1   = "com.mobilitycorp.payments.payment.refunded.v1"
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

// PaymentCapturedV1: the customer was charged.
type PaymentCapturedV1 struct {
	PaymentID   string    `json:"payment_id"`
	CustomerID  string    `json:"customer_id"`
	TripID      string    `json:"trip_id,omitempty"`
	Amount      Money     `json:"amount"`
	ProviderRef string    `json:"provider_ref"`
	CapturedAt  time.Time `json:"captured_at"`
}

// PaymentFailedV1: an authorisation or capture was declined or errored.
type PaymentFailedV1 struct {
	PaymentID     string    `json:"payment_id"`
	CustomerID    string    `json:"customer_id"`
	ReservationID string    `json:"reservation_id,omitempty"`
	TripID        string    `json:"trip_id,omitempty"`
	Amount        Money     `json:"amount"`
	Stage         string    `json:"stage"` // "authorise" or "capture"
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
