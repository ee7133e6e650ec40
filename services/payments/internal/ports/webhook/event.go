package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mobilitycorp/platform/services/payments/internal/app"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

// ErrNotPaymentIntent is returned by Event.PaymentIntent for other objects.
var ErrNotPaymentIntent = errors.New("event object is not a payment_intent")

// Event is one stored Stripe event as the Handler sees it.
type Event struct {
	ID         string    // evt_...
	Type       string    // e.g. payment_intent.succeeded, charge.refunded
	Created    time.Time // Stripe's event.created (whole seconds, UTC): compare it to what was applied
	Livemode   bool
	APIVersion string          // "" when Stripe sent null
	Object     json.RawMessage // data.object: a snapshot of the object when the event was created
	Attempt    int             // 1 for the first delivery to the handler, 2 for the first retry...
}

// objectHead is the part of data.object that identifies it.
type objectHead struct {
	ID            string `json:"id"`
	Object        string `json:"object"`
	PaymentIntent ref    `json:"payment_intent"`
}

func (e Event) head() objectHead {
	var h objectHead
	_ = json.Unmarshal(e.Object, &h) // a malformed object has no identity: the zero head
	return h
}

// ObjectType is data.object.object, e.g. "payment_intent", "charge", "refund".
func (e Event) ObjectType() string { return e.head().Object }

// ObjectID is data.object.id ("" for objects without one).
func (e Event) ObjectID() string { return e.head().ID }

// PaymentIntentID is the PaymentIntent the event concerns: the object itself for a
// payment_intent, its payment_intent field for a charge, refund or dispute, else "".
func (e Event) PaymentIntentID() string {
	h := e.head()
	if h.Object == "payment_intent" {
		return h.ID
	}
	return string(h.PaymentIntent)
}

// orderingKey groups the events that must be applied in created order; see the package doc.
func (e Event) orderingKey() string {
	if id := e.PaymentIntentID(); id != "" {
		return id
	}
	if id := e.ObjectID(); id != "" {
		return id
	}
	return e.ID
}

// PaymentIntent is the part of a Stripe PaymentIntent the payments service uses.
type PaymentIntent struct {
	ID               string
	Status           app.IntentStatus
	Amount           domain.Money // amount requested/authorised; currency upper-cased to ISO 4217
	AmountCapturable int64        // minor units
	AmountReceived   int64        // minor units
	CaptureMethod    string       // automatic | automatic_async | manual
	Customer         string       // cus_...
	PaymentMethod    string       // pm_...
	LatestCharge     string       // ch_...
	LastErrorCode    string       // last_payment_error.code
	LastDeclineCode  string       // last_payment_error.decline_code
	Metadata         map[string]string
	Created          time.Time
}

// PaymentIntent decodes data.object when it is a payment_intent, and returns
// ErrNotPaymentIntent otherwise.
func (e Event) PaymentIntent() (PaymentIntent, error) {
	var raw struct {
		ID               string            `json:"id"`
		Object           string            `json:"object"`
		Status           string            `json:"status"`
		Amount           int64             `json:"amount"`
		AmountCapturable int64             `json:"amount_capturable"`
		AmountReceived   int64             `json:"amount_received"`
		Currency         string            `json:"currency"`
		CaptureMethod    string            `json:"capture_method"`
		Customer         ref               `json:"customer"`
		PaymentMethod    ref               `json:"payment_method"`
		LatestCharge     ref               `json:"latest_charge"`
		Metadata         map[string]string `json:"metadata"`
		Created          int64             `json:"created"`
		LastPaymentError *struct {
			Code        string `json:"code"`
			DeclineCode string `json:"decline_code"`
		} `json:"last_payment_error"`
	}
	if err := json.Unmarshal(e.Object, &raw); err != nil {
		return PaymentIntent{}, fmt.Errorf("decode payment_intent of event %s: %w", e.ID, err)
	}
	if raw.Object != "payment_intent" {
		return PaymentIntent{}, fmt.Errorf("event %s (%s) carries a %q: %w", e.ID, e.Type, raw.Object, ErrNotPaymentIntent)
	}
	amount, err := domain.NewMoney(raw.Amount, strings.ToUpper(raw.Currency))
	if err != nil {
		return PaymentIntent{}, fmt.Errorf("payment_intent %s of event %s: %w", raw.ID, e.ID, err)
	}
	pi := PaymentIntent{
		ID:               raw.ID,
		Status:           app.IntentStatus(raw.Status),
		Amount:           amount,
		AmountCapturable: raw.AmountCapturable,
		AmountReceived:   raw.AmountReceived,
		CaptureMethod:    raw.CaptureMethod,
		Customer:         string(raw.Customer),
		PaymentMethod:    string(raw.PaymentMethod),
		LatestCharge:     string(raw.LatestCharge),
		Metadata:         raw.Metadata,
		Created:          time.Unix(raw.Created, 0).UTC(),
	}
	if raw.LastPaymentError != nil {
		pi.LastErrorCode = raw.LastPaymentError.Code
		pi.LastDeclineCode = raw.LastPaymentError.DeclineCode
	}
	return pi, nil
}

// ref is a Stripe reference field: an id string, an expanded object with an id, or null.
type ref string

func (r *ref) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*r = ""
		return nil
	case len(b) > 0 && b[0] == '{':
		var obj struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(b, &obj); err != nil {
			return err
		}
		*r = ref(obj.ID)
		return nil
	default:
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*r = ref(s)
		return nil
	}
}

// envelope is the Stripe event as posted.
type envelope struct {
	ID         string  `json:"id"`
	Object     string  `json:"object"`
	Type       string  `json:"type"`
	Created    int64   `json:"created"`
	Livemode   bool    `json:"livemode"`
	APIVersion *string `json:"api_version"`
	Data       struct {
		Object json.RawMessage `json:"object"`
	} `json:"data"`
}

// parseEnvelope decodes and checks the fields the table and the processor rely on.
// Unknown fields are fine: Stripe adds fields without a new API version.
func parseEnvelope(body []byte) (Event, error) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return Event{}, errors.New("body is not a JSON Stripe event")
	}
	var problems []string
	if env.ID == "" {
		problems = append(problems, "id is missing")
	}
	if env.Object != "event" {
		problems = append(problems, `object must be "event"`)
	}
	if env.Type == "" {
		problems = append(problems, "type is missing")
	}
	if env.Created <= 0 {
		problems = append(problems, "created is missing")
	}
	if obj := bytes.TrimSpace(env.Data.Object); len(obj) == 0 || obj[0] != '{' {
		problems = append(problems, "data.object must be an object")
	}
	if len(problems) > 0 {
		return Event{}, errors.New(strings.Join(problems, "; "))
	}
	ev := Event{
		ID:       env.ID,
		Type:     env.Type,
		Created:  time.Unix(env.Created, 0).UTC(),
		Livemode: env.Livemode,
		Object:   env.Data.Object,
	}
	if env.APIVersion != nil {
		ev.APIVersion = *env.APIVersion
	}
	return ev, nil
}
