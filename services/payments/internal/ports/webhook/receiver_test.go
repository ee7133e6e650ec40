package webhook_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/mobilitycorp/platform/pkg/httpx/problem"
	"github.com/mobilitycorp/platform/services/payments/internal/ports/webhook"
)

func TestReceiver(t *testing.T) {
	now := fixedNow()
	body := eventBody("evt_1", "payment_intent.succeeded", now.Add(-time.Second), piObject("pi_1", "succeeded"))
	ts := strconv.FormatInt(now.Unix(), 10)
	oversized := eventBody("evt_big", "payment_intent.succeeded", now,
		`{"id": "pi_big", "object": "payment_intent", "description": "`+string(bytes.Repeat([]byte("x"), webhook.DefaultMaxBodyBytes))+`"}`)

	tests := []struct {
		name       string
		secrets    []string // receiver secrets; nil means old and new (a rotation)
		header     string
		body       []byte
		wantStatus int
		wantDetail string // problem detail, for rejections
	}{
		{name: "valid", header: webhook.Sign(newSecret, now, body), wantStatus: http.StatusOK},
		{name: "rotation: old secret accepted", header: webhook.Sign(oldSecret, now, body), wantStatus: http.StatusOK},
		{name: "rotation: new secret accepted", header: webhook.Sign(newSecret, now, body), wantStatus: http.StatusOK},
		{
			name:       "after rotation: old secret rejected",
			secrets:    []string{newSecret},
			header:     webhook.Sign(oldSecret, now, body),
			wantStatus: http.StatusBadRequest, wantDetail: "invalid signature",
		},
		{
			name:       "several v1, only the second matches",
			header:     "t=" + ts + ",v1=" + hexSig("whsec_other", ts, body) + ",v1=" + hexSig(newSecret, ts, body) + ",v0=" + hexSig(newSecret, ts, body),
			wantStatus: http.StatusOK,
		},
		{name: "bad signature", header: webhook.Sign("whsec_attacker", now, body), wantStatus: http.StatusBadRequest, wantDetail: "invalid signature"},
		{name: "body altered after signing", header: webhook.Sign(newSecret, now, body), body: bytes.Replace(body, []byte("1250"), []byte("9999"), 1), wantStatus: http.StatusBadRequest, wantDetail: "invalid signature"},
		{name: "missing header", header: "", wantStatus: http.StatusBadRequest, wantDetail: "invalid signature"},
		{name: "garbled header", header: "t=" + ts + ";v1=" + hexSig(newSecret, ts, body), wantStatus: http.StatusBadRequest, wantDetail: "invalid signature"},
		{name: "header without v1", header: "t=" + ts + ",v0=" + hexSig(newSecret, ts, body), wantStatus: http.StatusBadRequest, wantDetail: "invalid signature"},
		{name: "stale timestamp", header: webhook.Sign(newSecret, now.Add(-5*time.Minute-time.Second), body), wantStatus: http.StatusBadRequest, wantDetail: "timestamp outside tolerance"},
		{name: "future timestamp", header: webhook.Sign(newSecret, now.Add(5*time.Minute+time.Second), body), wantStatus: http.StatusBadRequest, wantDetail: "timestamp outside tolerance"},
		{name: "body over the cap", header: webhook.Sign(newSecret, now, oversized), body: oversized, wantStatus: http.StatusRequestEntityTooLarge},
		{
			name:       "signed but not an event",
			header:     webhook.Sign(newSecret, now, []byte(`{"id":"evt_1","object":"charge"}`)),
			body:       []byte(`{"id":"evt_1","object":"charge"}`),
			wantStatus: http.StatusBadRequest,
		},
		{
			name:       "signed but not JSON",
			header:     webhook.Sign(newSecret, now, []byte(`id=evt_1`)),
			body:       []byte(`id=evt_1`),
			wantStatus: http.StatusBadRequest,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool := newDB(t)
			h := newRouter(t, pool, fixedNow, tt.secrets...)
			b := tt.body
			if b == nil {
				b = body
			}

			rec := post(h, tt.header, b)

			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			stored := countEvents(t, pool, "true")
			if tt.wantStatus != http.StatusOK {
				if stored != 0 {
					t.Errorf("%d events stored, want none", stored)
				}
				if ct := rec.Header().Get("Content-Type"); ct != problem.ContentType {
					t.Errorf("Content-Type = %q, want %q", ct, problem.ContentType)
				}
				var p problem.Problem
				if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != tt.wantStatus {
					t.Fatalf("problem = %+v (%v), want status %d", p, err, tt.wantStatus)
				}
				if tt.wantDetail != "" && p.Detail != tt.wantDetail {
					t.Errorf("detail = %q, want %q", p.Detail, tt.wantDetail)
				}
				return
			}
			if stored != 1 {
				t.Fatalf("%d events stored, want 1", stored)
			}
			row := readEvent(t, pool, "evt_1")
			if row.Type != "payment_intent.succeeded" || !row.Created.Equal(now.Add(-time.Second)) || row.OrderingKey != "pi_1" ||
				row.PayloadID != "evt_1" || row.Processed || row.Attempts != 0 || row.LastError != nil {
				t.Errorf("stored %+v, want the unprocessed payment_intent.succeeded of pi_1 created 1s before now", row)
			}
			if rec.Body.String() != "{\"received\":true}\n" {
				t.Errorf("body = %q", rec.Body)
			}
		})
	}
}

// A charge (or refund) is ordered with the PaymentIntent it belongs to; an object
// without a payment intent is ordered on its own id.
func TestReceiverOrderingKey(t *testing.T) {
	tests := []struct {
		name   string
		typ    string
		object string
		want   string
	}{
		{"payment intent", "payment_intent.succeeded", piObject("pi_7", "succeeded"), "pi_7"},
		{"charge of a payment intent", "charge.refunded", chargeObject("ch_7", "pi_7"), "pi_7"},
		{"refund with expanded payment intent", "refund.updated", `{"id": "re_7", "object": "refund", "payment_intent": {"id": "pi_7", "object": "payment_intent"}}`, "pi_7"},
		{"customer", "customer.updated", `{"id": "cus_7", "object": "customer"}`, "cus_7"},
		{"object without id", "balance.available", `{"object": "balance", "available": []}`, "evt_k"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool := newDB(t)
			h := newRouter(t, pool, nil)
			deliver(t, h, eventBody("evt_k", tt.typ, time.Now(), tt.object))
			if got := readEvent(t, pool, "evt_k").OrderingKey; got != tt.want {
				t.Fatalf("ordering key = %q, want %q", got, tt.want)
			}
		})
	}
}
