package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mobilitycorp/platform/pkg/auth"
	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/httpx/openapitest"
	"github.com/mobilitycorp/platform/pkg/kafka"
	"github.com/mobilitycorp/platform/pkg/service"
	"github.com/mobilitycorp/platform/pkg/service/servicetest"
	"github.com/mobilitycorp/platform/services/payments/api"
	"github.com/mobilitycorp/platform/services/payments/internal/ports/webhook"
)

// Secrets of the webhook endpoint during a rotation: both sign valid events.
const (
	webhookOld = "whsec_component_old_0123456789"
	webhookNew = "whsec_component_new_9876543210"
)

// client drives a started service through HTTP and Kafka only; every HTTP
// exchange is validated against api/openapi.yaml.
type client struct {
	t        *testing.T
	s        *servicetest.Service
	http     *http.Client
	producer *kafka.Producer
	signer   *auth.Signer
}

func startService(t *testing.T) *client {
	t.Helper()
	s := servicetest.Start(t, envPrefix, run, map[string]string{"STRIPE_WEBHOOK_SECRETS": webhookOld + ", " + webhookNew})
	producer, err := kafka.NewProducer(kafka.Config{Brokers: strings.Split(s.Env[envPrefix+"KAFKA_BROKERS"], ",")}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(producer.Close)
	// Development verifies HS256 tokens with the public development secret.
	return &client{t: t, s: s, producer: producer,
		http:   &http.Client{Transport: openapitest.Load(t, api.Spec).Transport(t, nil)},
		signer: auth.NewHS256Signer(service.DevJWTSecret, "mobilitycorp", "mobility-api")}
}

func (c *client) token(subject string, roles ...auth.Role) string {
	c.t.Helper()
	tok, err := c.signer.Mint(subject, roles, time.Hour)
	if err != nil {
		c.t.Fatal(err)
	}
	return tok
}

// request sends one HTTP request and returns status, headers and body.
func (c *client) request(method, path string, header http.Header, body []byte) (int, http.Header, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.s.URL+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// getJSON GETs path with token, requires 200 and decodes the answer into out.
func (c *client) getJSON(path, token string, out any) {
	c.t.Helper()
	code, _, body := c.request(http.MethodGet, path, http.Header{"Authorization": {"Bearer " + token}}, nil)
	if code != http.StatusOK {
		c.t.Fatalf("GET %s: %d %s", path, code, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		c.t.Fatalf("GET %s: %v", path, err)
	}
}

// eventually polls until cond holds, or fails after 30 s.
func (c *client) eventually(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("not within 30s: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *client) produce(trip string, evs ...events.Event) {
	c.t.Helper()
	for _, e := range evs {
		if err := c.producer.Produce(context.Background(), events.ToRecord(events.TopicBookingTrips, trip, e)); err != nil {
			c.t.Fatal(err)
		}
	}
}

func (c *client) tripStarted(trip, customer string, at time.Time) events.Event {
	c.t.Helper()
	ev, err := events.New(events.TypeTripStartedV1, events.SourceBooking, trip, events.TripStartedV1{
		TripID: trip, CustomerID: customer, VehicleID: "v-1", VehicleType: events.VehicleEScooter, StartedAt: at})
	if err != nil {
		c.t.Fatal(err)
	}
	return ev
}

func (c *client) tripEnded(trip, customer string, at time.Time, price int64) events.Event {
	c.t.Helper()
	ev, err := events.New(events.TypeTripEndedV1, events.SourceBooking, trip, events.TripEndedV1{
		TripID: trip, CustomerID: customer, VehicleID: "v-1", VehicleType: events.VehicleEScooter,
		StartedAt: at, EndedAt: at.Add(17 * time.Minute), DurationSeconds: 1020,
		Price: events.Money{AmountMinor: price, Currency: "EUR"}, EndedInBay: true})
	if err != nil {
		c.t.Fatal(err)
	}
	return ev
}

type money struct {
	AmountMinor int64  `json:"amount_minor"`
	Currency    string `json:"currency"`
}

type paymentDetail struct {
	Payment struct {
		ID          string `json:"id"`
		Status      string `json:"status"`
		ProviderRef string `json:"provider_ref"`
		Held        money  `json:"held"`
		Refunded    money  `json:"refunded"`
	} `json:"payment"`
	LedgerEntries []struct {
		Kind   string `json:"kind"`
		Status string `json:"status"`
	} `json:"ledger_entries"`
	Refunds []struct {
		ID string `json:"id"`
	} `json:"refunds"`
}

func (c *client) payment(id, token string) paymentDetail {
	c.t.Helper()
	var d paymentDetail
	c.getJSON("/v1/payments/"+id, token, &d)
	return d
}

// postWebhook posts a Stripe event signed with secret at signedAt.
func (c *client) postWebhook(body []byte, secret string, signedAt time.Time) (int, []byte) {
	c.t.Helper()
	code, _, b := c.request(http.MethodPost, webhook.Path, http.Header{
		"Content-Type":          {"application/json; charset=utf-8"},
		webhook.SignatureHeader: {webhook.Sign(secret, signedAt, body)},
	}, body)
	return code, b
}

func stripeEvent(id, typ string, created time.Time, object string) []byte {
	return fmt.Appendf(nil, `{"id":%q,"object":"event","api_version":"2025-03-31.basil","created":%d,"livemode":false,`+
		`"pending_webhooks":1,"request":{"id":null,"idempotency_key":null},"type":%q,"data":{"object":%s}}`,
		id, created.Unix(), typ, object)
}

// Acceptance: a signed Stripe webhook changes the payment once; a bad
// signature, a stale timestamp or a replayed event id changes nothing.
// Driven only through Kafka (the trip) and HTTP (the webhook, the reads).
func TestStripeWebhookChangesStateOnce(t *testing.T) {
	c := startService(t)
	staff := c.token("staff-1", auth.RoleStaff)
	at := time.Now().UTC().Add(-time.Hour)
	c.produce("trip-w1", c.tripStarted("trip-w1", "c-7", at))
	var before paymentDetail
	c.eventually("trip-w1 authorised", func() bool {
		code, _, body := c.request(http.MethodGet, "/v1/payments/pay_trip-w1", http.Header{"Authorization": {"Bearer " + staff}}, nil)
		return code == http.StatusOK && json.Unmarshal(body, &before) == nil && before.Payment.Status == "authorised"
	})
	intent := before.Payment.ProviderRef
	now := time.Now()
	canceled := stripeEvent("evt_cancel_1", "payment_intent.canceled", now,
		fmt.Sprintf(`{"id":%q,"object":"payment_intent","amount":1000,"amount_capturable":0,"amount_received":0,`+
			`"currency":"eur","status":"canceled","capture_method":"manual","metadata":{"payment_id":"pay_trip-w1"}}`, intent))

	// Forgeries first: none is stored, none changes anything.
	for _, tc := range []struct {
		name     string
		secret   string
		signedAt time.Time
	}{
		{"bad signature", "whsec_not_ours", now},
		{"stale timestamp", webhookNew, now.Add(-10 * time.Minute)},
		{"future timestamp", webhookNew, now.Add(10 * time.Minute)},
	} {
		if code, body := c.postWebhook(canceled, tc.secret, tc.signedAt); code != http.StatusBadRequest {
			t.Fatalf("%s: %d %s, want 400", tc.name, code, body)
		}
	}
	if code, _, _ := c.request(http.MethodPost, webhook.Path, http.Header{"Content-Type": {"application/json"}}, canceled); code != http.StatusBadRequest {
		t.Fatalf("unsigned: %d, want 400", code)
	}
	time.Sleep(300 * time.Millisecond) // what a forged event could have done, it would have done by now
	if got := c.payment("pay_trip-w1", staff); got.Payment.Status != "authorised" {
		t.Fatalf("a rejected webhook changed the payment: %+v", got.Payment)
	}

	// The real one, signed with the old secret of the rotation.
	if code, body := c.postWebhook(canceled, webhookOld, now); code != http.StatusOK {
		t.Fatalf("signed webhook: %d %s", code, body)
	}
	var after paymentDetail
	c.eventually("payment canceled by the webhook", func() bool {
		after = c.payment("pay_trip-w1", staff)
		return after.Payment.Status == "canceled"
	})
	if after.Payment.Held.AmountMinor != 0 || len(after.LedgerEntries) != 1 || after.LedgerEntries[0].Status != "voided" {
		t.Fatalf("after cancel: held %d, entries %+v; want nothing held and the hold voided", after.Payment.Held.AmountMinor, after.LedgerEntries)
	}

	// Replays of the id: redelivered as is, and reused for another event
	// (signed with the new secret). Both are acknowledged; neither applies.
	succeeded := stripeEvent("evt_cancel_1", "payment_intent.succeeded", now.Add(time.Second),
		fmt.Sprintf(`{"id":%q,"object":"payment_intent","amount":1000,"amount_capturable":0,"amount_received":1000,`+
			`"currency":"eur","status":"succeeded","capture_method":"manual","metadata":{}}`, intent))
	for _, body := range [][]byte{canceled, succeeded} {
		if code, b := c.postWebhook(body, webhookNew, time.Now()); code != http.StatusOK {
			t.Fatalf("replayed id: %d %s, want 200", code, b)
		}
	}
	time.Sleep(300 * time.Millisecond)
	final := c.payment("pay_trip-w1", staff)
	if final.Payment.Status != "canceled" || len(final.LedgerEntries) != 1 || final.LedgerEntries[0].Status != "voided" {
		t.Fatalf("a replayed id changed the payment: %+v, entries %+v", final.Payment, final.LedgerEntries)
	}
}

type receipt struct {
	PaymentStatus string `json:"payment_status"`
	Currency      string `json:"currency"`
	TripPrice     money  `json:"trip_price"`
	Captured      money  `json:"captured"`
	Refunded      money  `json:"refunded"`
	Outstanding   money  `json:"outstanding"`
	Refunds       []any  `json:"refunds"`
}

// A trip started and ended through Kafka has a receipt its customer can read;
// two concurrent refund POSTs with one Idempotency-Key refund once.
func TestTripReceiptThroughKafkaAndHTTP(t *testing.T) {
	c := startService(t)
	cust, other, staff := c.token("c-8", auth.RoleCustomer), c.token("c-9", auth.RoleCustomer), c.token("staff-1", auth.RoleStaff)
	at := time.Now().UTC().Add(-30 * time.Minute)
	c.produce("trip-r1", c.tripStarted("trip-r1", "c-8", at), c.tripEnded("trip-r1", "c-8", at, 612))

	var rc receipt
	c.eventually("trip-r1 captured", func() bool {
		code, _, body := c.request(http.MethodGet, "/v1/trips/trip-r1/receipt", http.Header{"Authorization": {"Bearer " + cust}}, nil)
		return code == http.StatusOK && json.Unmarshal(body, &rc) == nil && rc.PaymentStatus == "captured"
	})
	if rc.TripPrice.AmountMinor != 612 || rc.Captured.AmountMinor != 612 || rc.Outstanding.AmountMinor != 0 || rc.Currency != "EUR" {
		t.Fatalf("receipt %+v; want 6.12 charged and captured, nothing owed", rc)
	}
	if code, _, _ := c.request(http.MethodGet, "/v1/trips/trip-r1/receipt", http.Header{"Authorization": {"Bearer " + other}}, nil); code != http.StatusNotFound {
		t.Fatalf("another customer's receipt: %d, want 404", code)
	}

	refund := []byte(`{"amount":{"amount_minor":200,"currency":"EUR"},"reason":"requested_by_customer"}`)
	h := http.Header{"Authorization": {"Bearer " + staff}, "Content-Type": {"application/json"}, "Idempotency-Key": {"refund-trip-r1"}}
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i := range codes {
		wg.Go(func() { codes[i], _, _ = c.request(http.MethodPost, "/v1/payments/pay_trip-r1/refunds", h, refund) })
	}
	wg.Wait()
	for _, code := range codes {
		if code != http.StatusCreated && code != http.StatusConflict {
			t.Fatalf("refund POSTs answered %v", codes)
		}
	}
	c.eventually("the refund recorded once", func() bool {
		c.getJSON("/v1/trips/trip-r1/receipt", cust, &rc)
		return rc.Refunded.AmountMinor == 200
	})
	time.Sleep(200 * time.Millisecond)
	c.getJSON("/v1/trips/trip-r1/receipt", cust, &rc)
	if rc.Refunded.AmountMinor != 200 || len(rc.Refunds) != 1 {
		t.Fatalf("after two concurrent refund POSTs with one key: refunded %d in %d refunds, want 200 in 1",
			rc.Refunded.AmountMinor, len(rc.Refunds))
	}

	code, hdr, spec := c.request(http.MethodGet, "/openapi.yaml", nil, nil)
	if code != http.StatusOK || hdr.Get("Content-Type") != "application/yaml" || !bytes.Contains(spec, []byte("/v1/trips/{trip_id}/receipt")) {
		t.Fatalf("GET /openapi.yaml: %d %s", code, hdr.Get("Content-Type"))
	}
}
