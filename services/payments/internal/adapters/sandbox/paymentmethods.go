package sandbox

// PaymentMethod is a payment method the sandbox knows, keyed by ID. The defaults
// are Stripe's test payment method ids, so the same ids work against the sandbox,
// the wire fake and Stripe in test mode.
type PaymentMethod struct {
	ID    string // e.g. "pm_card_visa"
	Brand string // card brand on the wire, e.g. "visa"
	Last4 string
	// Code, when set, makes every authorisation fail as a Stripe card_error with
	// this code (e.g. "card_declined", "expired_card", "authentication_required").
	Code        string
	DeclineCode string // e.g. "generic_decline", "insufficient_funds"
	Message     string // the message Stripe shows for the decline
	// IncrementalAuth reports that the issuer allows raising the hold after authorisation.
	IncrementalAuth bool
}

// DefaultPaymentMethods returns Stripe's test payment methods the sandbox models.
// pm_card_visa supports incremental authorisation and pm_card_mastercard does not,
// so both sides of IncrementAuthorisation can be exercised. A fresh slice each call:
// callers may change it before passing it in Options.PaymentMethods.
func DefaultPaymentMethods() []PaymentMethod {
	const (
		declined     = "Your card was declined."
		insufficient = "Your card has insufficient funds."
	)
	return []PaymentMethod{
		{ID: "pm_card_visa", Brand: "visa", Last4: "4242", IncrementalAuth: true},
		{ID: "pm_card_mastercard", Brand: "mastercard", Last4: "4444"},
		{ID: "pm_card_visa_chargeDeclined", Brand: "visa", Last4: "0002",
			Code: "card_declined", DeclineCode: "generic_decline", Message: declined},
		{ID: "pm_card_chargeDeclined", Brand: "visa", Last4: "0002",
			Code: "card_declined", DeclineCode: "generic_decline", Message: declined},
		{ID: "pm_card_visa_chargeDeclinedInsufficientFunds", Brand: "visa", Last4: "9995",
			Code: "card_declined", DeclineCode: "insufficient_funds", Message: insufficient},
		{ID: "pm_card_chargeDeclinedInsufficientFunds", Brand: "visa", Last4: "9995",
			Code: "card_declined", DeclineCode: "insufficient_funds", Message: insufficient},
		{ID: "pm_card_chargeDeclinedExpiredCard", Brand: "visa", Last4: "0069",
			Code: "expired_card", DeclineCode: "expired_card", Message: "Your card has expired."},
		{ID: "pm_card_chargeDeclinedFraudulent", Brand: "visa", Last4: "0019",
			Code: "card_declined", DeclineCode: "fraudulent", Message: declined},
		{ID: "pm_card_chargeDeclinedIncorrectCvc", Brand: "visa", Last4: "0127",
			Code: "incorrect_cvc", DeclineCode: "incorrect_cvc", Message: "Your card's security code is incorrect."},
		// Off-session there is nobody to complete 3-D Secure, so Stripe declines with
		// authentication_required instead of leaving the intent in requires_action.
		{ID: "pm_card_authenticationRequired", Brand: "visa", Last4: "3184",
			Code: "authentication_required", DeclineCode: "authentication_required",
			Message: "Your card was declined. This transaction requires authentication."},
	}
}

// declines reports whether authorising with m fails.
func (m PaymentMethod) declines() bool { return m.Code != "" }
