package stripefake

import (
	"net/http"
	"strings"
	"time"

	"github.com/mobilitycorp/platform/services/payments/internal/adapters/sandbox"
	"github.com/mobilitycorp/platform/services/payments/internal/app"
)

// The types below are the subset of Stripe's API objects the fake renders, with
// Stripe's field names; nullable fields are pointers or any so they encode as null.

type errorBody struct {
	Error errorJSON `json:"error"`
}

type errorJSON struct {
	Type          string         `json:"type"`
	Code          string         `json:"code,omitempty"`
	DeclineCode   string         `json:"decline_code,omitempty"`
	Message       string         `json:"message"`
	Param         string         `json:"param,omitempty"`
	DocURL        string         `json:"doc_url,omitempty"`
	RequestLogURL string         `json:"request_log_url,omitempty"`
	Charge        string         `json:"charge,omitempty"`
	PaymentIntent *intentJSON    `json:"payment_intent,omitempty"`
	PaymentMethod *paymentMethod `json:"payment_method,omitempty"`
}

type intentJSON struct {
	ID                   string            `json:"id"`
	Object               string            `json:"object"`
	Amount               int64             `json:"amount"`
	AmountCapturable     int64             `json:"amount_capturable"`
	AmountReceived       int64             `json:"amount_received"`
	CanceledAt           *int64            `json:"canceled_at"`
	CancellationReason   *string           `json:"cancellation_reason"`
	CaptureMethod        string            `json:"capture_method"`
	ClientSecret         string            `json:"client_secret"`
	ConfirmationMethod   string            `json:"confirmation_method"`
	Created              int64             `json:"created"`
	Currency             string            `json:"currency"`
	Customer             *string           `json:"customer"`
	Description          *string           `json:"description"`
	LastPaymentError     *errorJSON        `json:"last_payment_error"`
	LatestCharge         any               `json:"latest_charge"` // id, expanded *chargeJSON, or null
	Livemode             bool              `json:"livemode"`
	Metadata             map[string]string `json:"metadata"`
	NextAction           any               `json:"next_action"`
	PaymentMethod        *string           `json:"payment_method"`
	PaymentMethodOptions map[string]any    `json:"payment_method_options"`
	PaymentMethodTypes   []string          `json:"payment_method_types"`
	Status               string            `json:"status"`
}

type chargeJSON struct {
	ID                   string            `json:"id"`
	Object               string            `json:"object"`
	Amount               int64             `json:"amount"`
	AmountCaptured       int64             `json:"amount_captured"`
	AmountRefunded       int64             `json:"amount_refunded"`
	Captured             bool              `json:"captured"`
	Created              int64             `json:"created"`
	Currency             string            `json:"currency"`
	Customer             *string           `json:"customer"`
	FailureCode          *string           `json:"failure_code"`
	FailureMessage       *string           `json:"failure_message"`
	Livemode             bool              `json:"livemode"`
	Metadata             map[string]string `json:"metadata"`
	Paid                 bool              `json:"paid"`
	PaymentIntent        string            `json:"payment_intent"`
	PaymentMethod        string            `json:"payment_method"`
	PaymentMethodDetails chargeDetails     `json:"payment_method_details"`
	Refunded             bool              `json:"refunded"`
	Status               string            `json:"status"`
}

type chargeDetails struct {
	Type string     `json:"type"`
	Card chargeCard `json:"card"`
}

type chargeCard struct {
	Brand                    string            `json:"brand"`
	Last4                    string            `json:"last4"`
	ExpMonth                 int               `json:"exp_month"`
	ExpYear                  int               `json:"exp_year"`
	Funding                  string            `json:"funding"`
	IncrementalAuthorization incrementalStatus `json:"incremental_authorization"`
}

type incrementalStatus struct {
	Status string `json:"status"` // available | unavailable
}

type refundJSON struct {
	ID            string            `json:"id"`
	Object        string            `json:"object"`
	Amount        int64             `json:"amount"`
	Charge        string            `json:"charge"`
	Created       int64             `json:"created"`
	Currency      string            `json:"currency"`
	Metadata      map[string]string `json:"metadata"`
	PaymentIntent string            `json:"payment_intent"`
	Reason        *string           `json:"reason"`
	Status        string            `json:"status"`
}

type customerJSON struct {
	ID       string            `json:"id"`
	Object   string            `json:"object"`
	Created  int64             `json:"created"`
	Email    *string           `json:"email"`
	Livemode bool              `json:"livemode"`
	Metadata map[string]string `json:"metadata"`
	Name     *string           `json:"name"`
}

type paymentMethod struct {
	ID       string            `json:"id"`
	Object   string            `json:"object"`
	Card     pmCard            `json:"card"`
	Created  int64             `json:"created"`
	Customer *string           `json:"customer"`
	Livemode bool              `json:"livemode"`
	Metadata map[string]string `json:"metadata"`
	Type     string            `json:"type"`
}

type pmCard struct {
	Brand    string `json:"brand"`
	Last4    string `json:"last4"`
	ExpMonth int    `json:"exp_month"`
	ExpYear  int    `json:"exp_year"`
	Funding  string `json:"funding"`
}

// Test cards expire in December, comfortably in the future.
const expMonth = 12

func expYear(now time.Time) int { return now.Year() + 3 }

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func unix(t time.Time) int64 { return t.Unix() }

// errorType is the Stripe error type for a kind.
func errorType(k app.ErrorKind) string {
	switch k {
	case app.KindCardDeclined, app.KindInsufficientFunds, app.KindAuthRequired:
		return "card_error"
	case app.KindIdempotency:
		return "idempotency_error"
	case app.KindUnavailable:
		return "api_error"
	default:
		return "invalid_request_error"
	}
}

// docURL is where Stripe documents an error code.
func docURL(code string) string {
	if code == "" {
		return ""
	}
	return "https://stripe.com/docs/error-codes/" + strings.ReplaceAll(code, "_", "-")
}

func (s *Server) renderPaymentMethod(m sandbox.PaymentMethod, customer string) *paymentMethod {
	now := s.now()
	return &paymentMethod{
		ID:       m.ID,
		Object:   "payment_method",
		Card:     pmCard{Brand: m.Brand, Last4: m.Last4, ExpMonth: expMonth, ExpYear: expYear(now), Funding: "credit"},
		Created:  unix(now),
		Customer: nullable(customer),
		Metadata: map[string]string{},
		Type:     "card",
	}
}

// renderIntent renders a PaymentIntent, its latest_charge expanded or as an id.
func (s *Server) renderIntent(rec sandbox.IntentRecord, expandCharge bool) *intentJSON {
	pi := &intentJSON{
		ID:                 rec.ID,
		Object:             "payment_intent",
		Amount:             rec.Amount.AmountMinor,
		AmountCapturable:   rec.AmountCapturable,
		AmountReceived:     rec.AmountReceived,
		CaptureMethod:      "manual",
		ClientSecret:       rec.ID + "_secret_" + strings.ToLower(rec.ChargeID[3:]),
		ConfirmationMethod: "automatic",
		Created:            unix(rec.CreatedAt),
		Currency:           strings.ToLower(rec.Amount.Currency),
		Customer:           nullable(rec.CustomerRef),
		Description:        nullable(rec.Description),
		LatestCharge:       rec.ChargeID,
		Metadata:           rec.Metadata,
		PaymentMethod:      nullable(rec.PaymentMethod),
		PaymentMethodOptions: map[string]any{"card": map[string]any{
			"capture_method":                    nil,
			"request_incremental_authorization": "if_available",
			"request_three_d_secure":            "automatic",
		}},
		PaymentMethodTypes: []string{"card"},
		Status:             string(rec.Status),
	}
	if pi.Metadata == nil {
		pi.Metadata = map[string]string{}
	}
	if !rec.CanceledAt.IsZero() {
		at := unix(rec.CanceledAt)
		pi.CanceledAt = &at
		pi.CancellationReason = nullable(s.cancelReason(rec.ID))
	}
	pm, _ := s.sb.PaymentMethod(rec.PaymentMethod)
	if rec.LastErrorCode != "" {
		pi.LastPaymentError = &errorJSON{
			Type: "card_error", Code: pm.Code, DeclineCode: pm.DeclineCode, Message: pm.Message,
			DocURL: docURL(pm.Code), Charge: rec.ChargeID, PaymentMethod: s.renderPaymentMethod(pm, rec.CustomerRef),
		}
	}
	if expandCharge {
		pi.LatestCharge = s.renderCharge(rec, pm)
	}
	return pi
}

func (s *Server) renderCharge(rec sandbox.IntentRecord, pm sandbox.PaymentMethod) *chargeJSON {
	ch := &chargeJSON{
		ID:            rec.ChargeID,
		Object:        "charge",
		Amount:        rec.Amount.AmountMinor,
		Created:       unix(rec.CreatedAt),
		Currency:      strings.ToLower(rec.Amount.Currency),
		Customer:      nullable(rec.CustomerRef),
		Metadata:      map[string]string{},
		PaymentIntent: rec.ID,
		PaymentMethod: rec.PaymentMethod,
		PaymentMethodDetails: chargeDetails{Type: "card", Card: chargeCard{
			Brand: pm.Brand, Last4: pm.Last4, ExpMonth: expMonth, ExpYear: expYear(rec.CreatedAt), Funding: "credit",
			IncrementalAuthorization: incrementalStatus{Status: "unavailable"},
		}},
		Status: "succeeded",
		Paid:   true,
	}
	if rec.IncrementalAuth {
		ch.PaymentMethodDetails.Card.IncrementalAuthorization.Status = "available"
	}
	switch rec.Status {
	case app.StatusRequiresPaymentMethod:
		ch.Status, ch.Paid = "failed", false
		ch.FailureCode, ch.FailureMessage = nullable(pm.Code), nullable(pm.Message)
	case app.StatusSucceeded:
		// Stripe refunds the uncaptured remainder of a partial capture.
		ch.Captured = true
		ch.AmountCaptured = rec.AmountReceived
		ch.AmountRefunded = rec.Amount.AmountMinor - rec.AmountReceived + rec.AmountRefunded
	case app.StatusCanceled:
		ch.AmountRefunded = rec.Amount.AmountMinor
	}
	ch.Refunded = ch.Status == "succeeded" && ch.AmountRefunded == ch.Amount
	return ch
}

func (s *Server) renderRefund(rec sandbox.RefundRecord, reason string, md map[string]string) *refundJSON {
	if md == nil {
		md = map[string]string{}
	}
	return &refundJSON{
		ID:            rec.ID,
		Object:        "refund",
		Amount:        rec.Amount.AmountMinor,
		Charge:        rec.ChargeID,
		Created:       unix(rec.CreatedAt),
		Currency:      strings.ToLower(rec.Amount.Currency),
		Metadata:      md,
		PaymentIntent: rec.IntentID,
		Reason:        nullable(reason),
		Status:        rec.Status,
	}
}

func renderCustomer(rec sandbox.CustomerRecord) *customerJSON {
	return &customerJSON{
		ID:       rec.ID,
		Object:   "customer",
		Created:  unix(rec.CreatedAt),
		Email:    nullable(rec.Email),
		Metadata: map[string]string{},
		Name:     nullable(rec.Name),
	}
}

// reply is a rendered answer. unsaved marks failures before execution, which
// Stripe keeps no idempotent result for.
type reply struct {
	status  int
	body    any
	unsaved bool
}

func ok(body any) reply { return reply{status: http.StatusOK, body: body} }

// apiError is an error the fake itself produces (parsing, authentication,
// injected faults); none of them is saved under an idempotency key.
func apiError(status int, typ, code, param, message string) reply {
	return reply{status: status, unsaved: true, body: errorBody{Error: errorJSON{
		Type: typ, Code: code, Param: param, Message: message, DocURL: docURL(code),
	}}}
}

func invalid(code, param, message string) reply {
	return apiError(http.StatusBadRequest, "invalid_request_error", code, param, message)
}
