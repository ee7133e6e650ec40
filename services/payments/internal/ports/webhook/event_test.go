package webhook_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/mobilitycorp/platform/services/payments/internal/app"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
	"github.com/mobilitycorp/platform/services/payments/internal/ports/webhook"
)

func TestEventAccessors(t *testing.T) {
	tests := []struct {
		name            string
		object          string
		wantType        string
		wantObjectID    string
		wantPaymentID   string
		wantPI          *webhook.PaymentIntent // nil: PaymentIntent must fail with ErrNotPaymentIntent
		wantDecodeError bool
	}{
		{
			name:          "payment intent",
			object:        piObject("pi_1", "requires_capture"),
			wantType:      "payment_intent",
			wantObjectID:  "pi_1",
			wantPaymentID: "pi_1",
			wantPI: &webhook.PaymentIntent{
				ID: "pi_1", Status: app.StatusRequiresCapture, Amount: domain.Money{AmountMinor: 1250, Currency: "EUR"},
				AmountReceived: 1250, CaptureMethod: "manual", Customer: "cus_1", PaymentMethod: "pm_1",
				LatestCharge: "ch_1", Metadata: map[string]string{"trip_id": "trip_1"},
				Created: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
			},
		},
		{
			name: "payment intent with decline and expanded references",
			object: `{"id": "pi_2", "object": "payment_intent", "status": "requires_payment_method", "amount": 900,
				"currency": "gbp", "customer": {"id": "cus_2", "object": "customer"}, "payment_method": null,
				"last_payment_error": {"code": "card_declined", "decline_code": "insufficient_funds"}, "created": 0}`,
			wantType:      "payment_intent",
			wantObjectID:  "pi_2",
			wantPaymentID: "pi_2",
			wantPI: &webhook.PaymentIntent{
				ID: "pi_2", Status: app.StatusRequiresPaymentMethod, Amount: domain.Money{AmountMinor: 900, Currency: "GBP"},
				Customer: "cus_2", LastErrorCode: "card_declined", LastDeclineCode: "insufficient_funds",
				Created: time.Unix(0, 0).UTC(),
			},
		},
		{
			name:          "charge",
			object:        chargeObject("ch_1", "pi_1"),
			wantType:      "charge",
			wantObjectID:  "ch_1",
			wantPaymentID: "pi_1",
		},
		{
			name:     "object without id",
			object:   `{"object": "balance"}`,
			wantType: "balance",
		},
		{
			name:            "payment intent without a currency",
			object:          `{"id": "pi_3", "object": "payment_intent", "amount": 1}`,
			wantType:        "payment_intent",
			wantObjectID:    "pi_3",
			wantPaymentID:   "pi_3",
			wantDecodeError: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := webhook.Event{ID: "evt_1", Type: "x.y", Object: json.RawMessage(tt.object)}
			if got := ev.ObjectType(); got != tt.wantType {
				t.Errorf("ObjectType = %q, want %q", got, tt.wantType)
			}
			if got := ev.ObjectID(); got != tt.wantObjectID {
				t.Errorf("ObjectID = %q, want %q", got, tt.wantObjectID)
			}
			if got := ev.PaymentIntentID(); got != tt.wantPaymentID {
				t.Errorf("PaymentIntentID = %q, want %q", got, tt.wantPaymentID)
			}
			pi, err := ev.PaymentIntent()
			switch {
			case tt.wantDecodeError:
				if err == nil || errors.Is(err, webhook.ErrNotPaymentIntent) {
					t.Fatalf("PaymentIntent error = %v, want a decode error", err)
				}
			case tt.wantPI == nil:
				if !errors.Is(err, webhook.ErrNotPaymentIntent) {
					t.Fatalf("PaymentIntent error = %v, want ErrNotPaymentIntent", err)
				}
			case err != nil:
				t.Fatalf("PaymentIntent: %v", err)
			case !reflect.DeepEqual(pi, *tt.wantPI):
				t.Fatalf("PaymentIntent = %+v\nwant %+v", pi, *tt.wantPI)
			}
		})
	}
}

// The handler receives the envelope fields as stored, and data.object intact.
func TestProcessorPassesEventFields(t *testing.T) {
	pool := newDB(t)
	h := newCountingHandler()
	created := time.Date(2026, 2, 14, 9, 30, 0, 0, time.UTC)
	deliver(t, newRouter(t, pool, nil), eventBody("evt_1", "payment_intent.succeeded", created, piObject("pi_1", "succeeded")))

	drain(t, newProcessor(t, pool, h, webhook.ProcessorOptions{}))

	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.calls) != 1 {
		t.Fatalf("%d calls, want 1", len(h.calls))
	}
	ev := h.calls[0]
	if ev.ID != "evt_1" || ev.Type != "payment_intent.succeeded" || !ev.Created.Equal(created) ||
		ev.Created.Location() != time.UTC || ev.Livemode || ev.APIVersion != "2025-03-31.basil" || ev.Attempt != 1 {
		t.Fatalf("event = %+v", ev)
	}
	pi, err := ev.PaymentIntent()
	if err != nil || pi.ID != "pi_1" || pi.Status != app.StatusSucceeded || pi.AmountReceived != 1250 {
		t.Fatalf("PaymentIntent = %+v, %v", pi, err)
	}
}
