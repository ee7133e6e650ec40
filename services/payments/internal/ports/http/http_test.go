package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mobilitycorp/platform/pkg/auth"
	"github.com/mobilitycorp/platform/pkg/config"
	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/httpx/openapitest"
	"github.com/mobilitycorp/platform/pkg/idempotency"
	"github.com/mobilitycorp/platform/pkg/postgres/pgtest"
	"github.com/mobilitycorp/platform/services/payments/api"
	pg "github.com/mobilitycorp/platform/services/payments/internal/adapters/postgres"
	"github.com/mobilitycorp/platform/services/payments/internal/adapters/sandbox"
	"github.com/mobilitycorp/platform/services/payments/internal/app"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
	httpapi "github.com/mobilitycorp/platform/services/payments/internal/ports/http"
	"github.com/mobilitycorp/platform/services/payments/internal/ports/webhook"
	"github.com/mobilitycorp/platform/services/payments/migrations"
)

const (
	testIssuer    = "mobilitycorp"
	testAudience  = "mobility-api"
	webhookSecret = "whsec_test_0123456789abcdef"
)

var testSecret = config.Secret(strings.Repeat("s3cr3t-", 6))

// apiFixture is the handler wired as in production (real verifier, role
// guards, Idempotency-Key middleware, webhook receiver) on a fresh database,
// the real flows and queries, and the sandbox gateway, served over HTTP to a
// client whose every exchange is validated against api/openapi.yaml.
type apiFixture struct {
	pool      *pgxpool.Pool
	flows     *app.Flows
	store     *pg.Payments
	url       string
	spec      *openapitest.Spec
	transport *openapitest.Transport
	client    *http.Client
	signer    *auth.Signer
}

// response is what a call got back.
type response struct {
	Code   int
	Header http.Header
	Body   []byte
}

func newAPI(t *testing.T) *apiFixture {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.New(t, migrations.Set(), webhook.Migrations())
	store := pg.NewPayments(pool, time.Minute)
	ledger := pg.NewLedger(pool)
	methods := func(context.Context, string) (app.PaymentMethodRef, error) {
		return app.PaymentMethodRef{PaymentMethod: "pm_card_visa"}, nil
	}
	flows := app.NewFlows(store, ledger, sandbox.New(sandbox.Options{}), methods, app.FlowsOptions{
		BatchSize: 16, PollEvery: 5 * time.Millisecond, Backoff: func(int) time.Duration { return time.Millisecond }})
	verifier, err := auth.NewVerifier(ctx, auth.Config{HS256Secret: testSecret, Issuer: testIssuer, Audience: testAudience, Leeway: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	receiver, err := webhook.NewReceiver(pool, webhook.ReceiverOptions{Secrets: []config.Secret{webhookSecret}})
	if err != nil {
		t.Fatal(err)
	}
	r := chi.NewRouter()
	err = httpapi.Mount(r, httpapi.Options{
		Reads: pg.NewQueries(pool), Money: flows, Operations: store,
		Authenticate: verifier.Authenticate,
		Idempotency:  idempotency.Middleware(pool, idempotency.Options{Required: true}),
		Webhook:      receiver,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	spec := openapitest.Load(t, api.Spec)
	tr := spec.Transport(t, nil)
	return &apiFixture{pool: pool, flows: flows, store: store, url: srv.URL, spec: spec, transport: tr,
		client: &http.Client{Transport: tr}, signer: auth.NewHS256Signer(testSecret, testIssuer, testAudience)}
}

func (f *apiFixture) token(t *testing.T, subject string, roles ...auth.Role) string {
	t.Helper()
	tok, err := f.signer.Mint(subject, roles, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// call is one request: token "" sends none, key "" sends no Idempotency-Key,
// body nil sends none (a string is sent as is, anything else as JSON).
type call struct {
	method, path, token, key string
	body                     any
}

// do sends c and returns the answer and the document's verdict on the request
// (meaningful only when no other request runs at the same time).
func (f *apiFixture) do(t *testing.T, c call) (response, error) {
	t.Helper()
	return f.send(t, c, http.Header{})
}

func (f *apiFixture) send(t *testing.T, c call, h http.Header) (response, error) {
	t.Helper()
	var body []byte
	switch b := c.body.(type) {
	case nil:
	case string:
		body = []byte(b)
		h.Set("Content-Type", "application/json")
	default:
		var err error
		if body, err = json.Marshal(b); err != nil {
			t.Fatal(err)
		}
		h.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		h.Set("Authorization", "Bearer "+c.token)
	}
	if c.key != "" {
		h.Set(idempotency.KeyHeader, c.key)
	}
	req, err := http.NewRequest(c.method, f.url+c.path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{Code: resp.StatusCode, Header: resp.Header, Body: b}, f.transport.LastRequestError()
}

// must sends c and requires status want; it decodes a JSON answer into out (if not nil).
func (f *apiFixture) must(t *testing.T, c call, want int, out any) response {
	t.Helper()
	rec, _ := f.do(t, c)
	if rec.Code != want {
		t.Fatalf("%s %s: status %d, want %d; body %s", c.method, c.path, rec.Code, want, rec.Body)
	}
	if out != nil {
		if err := json.Unmarshal(rec.Body, out); err != nil {
			t.Fatalf("%s %s: decode: %v", c.method, c.path, err)
		}
	}
	return rec
}

// drain runs the operations worker until nothing is pending.
func (f *apiFixture) drain(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM payment_operations WHERE status = 'pending'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("operations still pending after 30s")
		}
		if _, err := f.flows.ProcessDue(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func tripEvent(t *testing.T, typ, trip string, data any) events.Event {
	t.Helper()
	ev, err := events.New(typ, events.SourceBooking, trip, data)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// startTrip starts a trip and authorises its hold.
func (f *apiFixture) startTrip(t *testing.T, trip, customer string) {
	t.Helper()
	err := f.flows.OnTripStarted(context.Background(), tripEvent(t, events.TypeTripStartedV1, trip, events.TripStartedV1{
		TripID: trip, CustomerID: customer, VehicleID: "v-" + trip, VehicleType: events.VehicleEScooter, StartedAt: time.Now().UTC()}))
	if err != nil {
		t.Fatal(err)
	}
	f.drain(t)
}

// endTrip ends a started trip at price and runs its capture.
func (f *apiFixture) endTrip(t *testing.T, trip, customer string, price int64) {
	t.Helper()
	err := f.flows.OnTripEnded(context.Background(), tripEvent(t, events.TypeTripEndedV1, trip, events.TripEndedV1{
		TripID: trip, CustomerID: customer, VehicleID: "v-" + trip, VehicleType: events.VehicleEScooter,
		EndedAt: time.Now().UTC(), Price: events.Money{AmountMinor: price, Currency: "EUR"}, EndedInBay: true}))
	if err != nil {
		t.Fatal(err)
	}
	f.drain(t)
}

func eur(minor int64) map[string]any { return map[string]any{"amount_minor": minor, "currency": "EUR"} }

type moneyOut struct {
	AmountMinor int64  `json:"amount_minor"`
	Currency    string `json:"currency"`
}

type refundOut struct {
	ID          string   `json:"id"`
	PaymentID   string   `json:"payment_id"`
	Status      string   `json:"status"`
	Amount      moneyOut `json:"amount"`
	RequestedBy string   `json:"requested_by"`
	DecidedBy   string   `json:"decided_by"`
}

type paymentOut struct {
	ID         string   `json:"id"`
	Kind       string   `json:"kind"`
	CustomerID string   `json:"customer_id"`
	Status     string   `json:"status"`
	Captured   moneyOut `json:"captured"`
	Refunded   moneyOut `json:"refunded"`
}

// Every operation of the document, with its main outcomes, validated request
// and response against the document; the document and the handler agree on
// which requests are invalid.
func TestContract(t *testing.T) {
	f := newAPI(t)
	f.startTrip(t, "trip-1", "c-1")
	f.endTrip(t, "trip-1", "c-1", 612)
	f.startTrip(t, "trip-2", "c-2")
	staff, staff2 := f.token(t, "staff-1", auth.RoleStaff), f.token(t, "staff-2", auth.RoleStaff)
	svc, cust, other := f.token(t, "booking", auth.RoleService), f.token(t, "c-1", auth.RoleCustomer), f.token(t, "c-2", auth.RoleCustomer)
	noRole := f.token(t, "x", auth.Role("driver"))

	// A refund above the approval threshold (20.00) needs another payment: trip-1 captured only 6.12.
	f.startTrip(t, "trip-3", "c-3")
	f.endTrip(t, "trip-3", "c-3", 3000)
	var big refundOut
	f.must(t, call{"POST", "/v1/payments/pay_trip-3/refunds", staff, "k-big", map[string]any{"amount": eur(2500), "reason": "goodwill"}}, 201, &big)
	if big.Status != "pending_approval" {
		t.Fatalf("refund of 20.00: %s, want pending_approval", big.Status)
	}
	var small refundOut
	f.must(t, call{"POST", "/v1/payments/pay_trip-1/refunds", svc, "k-small", map[string]any{"amount": eur(100), "reason": "requested_by_customer"}}, 201, &small)
	// A dead operation for staff to see.
	_, err := f.pool.Exec(context.Background(), `UPDATE payment_operations SET status = 'dead', dead_at = now(), failures = 10,
		last_error = 'boom' WHERE id = $1`, "refund:"+small.ID)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	whBody := fmt.Sprintf(`{"id":"evt_1","object":"event","type":"payment_intent.canceled","created":%d,"livemode":false,
		"api_version":"2025-03-31.basil","data":{"object":{"id":"pi_unknown","object":"payment_intent","amount":100,"currency":"eur","status":"canceled"}}}`, now.Unix())

	tests := []struct {
		name  string
		c     call
		want  int
		valid bool // the document accepts the request
		sig   string
	}{
		{"spec", call{"GET", "/openapi.yaml", "", "", nil}, 200, true, ""},
		{"list as staff", call{"GET", "/v1/payments?limit=2", staff, "", nil}, 200, true, ""},
		{"list by status and kind", call{"GET", "/v1/payments?status=captured&kind=trip&customer_id=c-1", staff, "", nil}, 200, true, ""},
		{"list own", call{"GET", "/v1/payments", cust, "", nil}, 200, true, ""},
		{"list other's", call{"GET", "/v1/payments?customer_id=c-2", cust, "", nil}, 403, true, ""},
		{"list bad limit", call{"GET", "/v1/payments?limit=0", staff, "", nil}, 400, false, ""},
		{"list bad status", call{"GET", "/v1/payments?status=paid", staff, "", nil}, 400, false, ""},
		{"list bad cursor", call{"GET", "/v1/payments?cursor=nonsense", staff, "", nil}, 400, true, ""},
		{"list no token", call{"GET", "/v1/payments", "", "", nil}, 401, false, ""},
		{"list no role", call{"GET", "/v1/payments", noRole, "", nil}, 403, true, ""},
		{"get own", call{"GET", "/v1/payments/pay_trip-1", cust, "", nil}, 200, true, ""},
		{"get other's", call{"GET", "/v1/payments/pay_trip-2", cust, "", nil}, 404, true, ""},
		{"get missing", call{"GET", "/v1/payments/pay_nope", staff, "", nil}, 404, true, ""},
		{"balance own", call{"GET", "/v1/customers/c-1/balance", cust, "", nil}, 200, true, ""},
		{"balance other's", call{"GET", "/v1/customers/c-2/balance", cust, "", nil}, 403, true, ""},
		{"balance unknown", call{"GET", "/v1/customers/c-none/balance", staff, "", nil}, 200, true, ""},
		{"receipt own", call{"GET", "/v1/trips/trip-1/receipt", cust, "", nil}, 200, true, ""},
		{"receipt running trip", call{"GET", "/v1/trips/trip-2/receipt", staff, "", nil}, 200, true, ""},
		{"receipt other's", call{"GET", "/v1/trips/trip-2/receipt", cust, "", nil}, 404, true, ""},
		{"receipt missing", call{"GET", "/v1/trips/nope/receipt", staff, "", nil}, 404, true, ""},
		{"refund by customer", call{"POST", "/v1/payments/pay_trip-1/refunds", cust, "k-c", map[string]any{"reason": "x"}}, 403, true, ""},
		{"refund no key", call{"POST", "/v1/payments/pay_trip-1/refunds", staff, "", map[string]any{"reason": "x"}}, 400, false, ""},
		{"refund no reason", call{"POST", "/v1/payments/pay_trip-1/refunds", staff, "k-1", map[string]any{}}, 422, false, ""},
		{"refund bad json", call{"POST", "/v1/payments/pay_trip-1/refunds", staff, "k-2", `{"reason":`}, 400, false, ""},
		{"refund unknown member", call{"POST", "/v1/payments/pay_trip-1/refunds", staff, "k-3", map[string]any{"reason": "x", "why": 1}}, 400, false, ""},
		{"refund too large", call{"POST", "/v1/payments/pay_trip-1/refunds", staff, "k-4", map[string]any{"amount": eur(9999), "reason": "x"}}, 422, true, ""},
		{"refund wrong currency", call{"POST", "/v1/payments/pay_trip-1/refunds", staff, "k-5", map[string]any{"amount": map[string]any{"amount_minor": 1, "currency": "USD"}, "reason": "x"}}, 422, true, ""},
		{"refund not captured", call{"POST", "/v1/payments/pay_trip-2/refunds", staff, "k-6", map[string]any{"reason": "x"}}, 409, true, ""},
		{"refund missing payment", call{"POST", "/v1/payments/pay_nope/refunds", staff, "k-7", map[string]any{"reason": "x"}}, 404, true, ""},
		{"refund key reused", call{"POST", "/v1/payments/pay_trip-1/refunds", svc, "k-small", map[string]any{"amount": eur(200), "reason": "x"}}, 422, true, ""},
		{"refund replay", call{"POST", "/v1/payments/pay_trip-1/refunds", svc, "k-small", map[string]any{"amount": eur(100), "reason": "requested_by_customer"}}, 201, true, ""},
		{"pending refunds", call{"GET", "/v1/refunds?status=pending_approval", staff, "", nil}, 200, true, ""},
		{"pending refunds by customer", call{"GET", "/v1/refunds?status=pending_approval", cust, "", nil}, 403, true, ""},
		{"refunds bad status", call{"GET", "/v1/refunds?status=queued", staff, "", nil}, 400, false, ""},
		{"get refund own", call{"GET", "/v1/refunds/" + small.ID, cust, "", nil}, 200, true, ""},
		{"get refund other's", call{"GET", "/v1/refunds/" + small.ID, other, "", nil}, 404, true, ""},
		{"get refund missing", call{"GET", "/v1/refunds/rf_nope", staff, "", nil}, 404, true, ""},
		{"approve own request", call{"POST", "/v1/refunds/" + big.ID + "/approve", staff, "a-1", nil}, 403, true, ""},
		{"approve by service", call{"POST", "/v1/refunds/" + big.ID + "/approve", svc, "a-2", nil}, 403, true, ""},
		{"approve", call{"POST", "/v1/refunds/" + big.ID + "/approve", staff2, "a-3", nil}, 200, true, ""},
		{"reject approved", call{"POST", "/v1/refunds/" + big.ID + "/reject", staff2, "r-1", map[string]any{"reason": "late"}}, 409, true, ""},
		{"reject no reason", call{"POST", "/v1/refunds/" + big.ID + "/reject", staff2, "r-2", map[string]any{"reason": ""}}, 422, false, ""},
		{"reject missing", call{"POST", "/v1/refunds/rf_nope/reject", staff2, "r-3", map[string]any{"reason": "x"}}, 404, true, ""},
		{"fine", call{"POST", "/v1/fines", svc, "f-1", map[string]any{"fine_id": "fine-1", "customer_id": "c-1", "trip_id": "trip-1",
			"reason": "wrong_location", "amount": eur(2500)}}, 201, true, ""},
		{"fine other terms", call{"POST", "/v1/fines", svc, "f-2", map[string]any{"fine_id": "fine-1", "customer_id": "c-1",
			"reason": "wrong_location", "amount": eur(100)}}, 409, true, ""},
		{"fine by customer", call{"POST", "/v1/fines", cust, "f-3", map[string]any{"fine_id": "fine-2", "customer_id": "c-1",
			"reason": "x", "amount": eur(100)}}, 403, true, ""},
		{"fine invalid", call{"POST", "/v1/fines", svc, "f-4", map[string]any{"fine_id": "a b", "customer_id": "c:1",
			"reason": "x", "amount": eur(0)}}, 422, false, ""},
		{"fine wrong media type", call{"POST", "/v1/fines", svc, "f-5", nil}, 415, false, ""},
		{"credit", call{"POST", "/v1/credits", staff, "cr-1", map[string]any{"customer_id": "c-1", "amount": eur(300), "reason": "sorry"}}, 201, true, ""},
		{"credit by service", call{"POST", "/v1/credits", svc, "cr-2", map[string]any{"customer_id": "c-1", "amount": eur(300), "reason": "sorry"}}, 403, true, ""},
		{"credit no amount", call{"POST", "/v1/credits", staff, "cr-3", map[string]any{"customer_id": "c-1", "reason": "sorry"}}, 422, false, ""},
		{"dead operations", call{"GET", "/v1/operations?status=dead&limit=10", staff, "", nil}, 200, true, ""},
		{"operations bad status", call{"GET", "/v1/operations?status=pending", staff, "", nil}, 400, false, ""},
		{"operations by service", call{"GET", "/v1/operations?status=dead", svc, "", nil}, 403, true, ""},
		{"requeue", call{"POST", "/v1/operations/refund:" + small.ID + "/requeue", staff, "q-1", nil}, 204, true, ""},
		{"requeue again", call{"POST", "/v1/operations/refund:" + small.ID + "/requeue", staff, "q-2", nil}, 409, true, ""},
		{"requeue missing", call{"POST", "/v1/operations/nope/requeue", staff, "q-3", nil}, 404, true, ""},
		{"webhook", call{"POST", "/v1/webhooks/stripe", "", "", whBody}, 200, true, webhook.Sign(webhookSecret, now, []byte(whBody))},
		{"webhook bad signature", call{"POST", "/v1/webhooks/stripe", "", "", whBody}, 400, true, webhook.Sign("whsec_wrong", now, []byte(whBody))},
		{"webhook stale", call{"POST", "/v1/webhooks/stripe", "", "", whBody}, 400, true, webhook.Sign(webhookSecret, now.Add(-time.Hour), []byte(whBody))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.sig != "" {
				h.Set(webhook.SignatureHeader, tc.sig)
			}
			rec, reqErr := f.send(t, tc.c, h)
			if rec.Code != tc.want {
				t.Errorf("status %d, want %d; body %s", rec.Code, tc.want, rec.Body)
			}
			if valid := reqErr == nil; valid != tc.valid {
				t.Errorf("the document judges the request valid=%v, want %v (%v)", valid, tc.valid, reqErr)
			}
		})
	}
	if missing := f.spec.Unexercised(); len(missing) > 0 {
		t.Errorf("operations not exercised: %v", missing)
	}
}

// Customers see their own payments only; lists page with opaque cursors,
// newest first, each payment once.
func TestListPagesNewestFirst(t *testing.T) {
	f := newAPI(t)
	for i := range 5 {
		f.startTrip(t, fmt.Sprintf("trip-p%d", i), "c-1")
	}
	f.startTrip(t, "trip-x", "c-2")
	cust := f.token(t, "c-1", auth.RoleCustomer)
	var seen []string
	path := "/v1/payments?limit=2"
	for page := 0; ; page++ {
		var out struct {
			Items      []paymentOut `json:"items"`
			NextCursor string       `json:"next_cursor"`
		}
		f.must(t, call{"GET", path, cust, "", nil}, 200, &out)
		for _, p := range out.Items {
			if p.CustomerID != "c-1" {
				t.Fatalf("customer c-1 sees %s of %s", p.ID, p.CustomerID)
			}
			seen = append(seen, p.ID)
		}
		if out.NextCursor == "" {
			break
		}
		if page > 5 {
			t.Fatal("cursor never ends")
		}
		path = "/v1/payments?limit=2&cursor=" + out.NextCursor
	}
	want := []string{"pay_trip-p4", "pay_trip-p3", "pay_trip-p2", "pay_trip-p1", "pay_trip-p0"}
	if !slices.Equal(seen, want) {
		t.Fatalf("pages gave %v, want %v", seen, want)
	}
}

// Acceptance: two concurrent refund POSTs with one Idempotency-Key make one
// refund; both callers get it (the second as a replay) or are told to retry.
func TestConcurrentRefundPostsWithOneKeyMakeOneRefund(t *testing.T) {
	f := newAPI(t)
	f.startTrip(t, "trip-1", "c-1")
	f.endTrip(t, "trip-1", "c-1", 900)
	staff := f.token(t, "staff-1", auth.RoleStaff)
	for round := range 5 {
		key := fmt.Sprintf("same-key-%d", round)
		c := call{"POST", "/v1/payments/pay_trip-1/refunds", staff, key, map[string]any{"amount": eur(100), "reason": "requested_by_customer"}}
		var wg sync.WaitGroup
		recs := make([]response, 2)
		for i := range recs {
			wg.Go(func() { recs[i], _ = f.do(t, c) })
		}
		wg.Wait()
		var ids []string
		for _, rec := range recs {
			switch rec.Code {
			case http.StatusCreated:
				var r refundOut
				if err := json.Unmarshal(rec.Body, &r); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, r.ID)
			case http.StatusConflict: // the other request still held the key
				if rec.Header.Get("Retry-After") == "" {
					t.Errorf("409 without Retry-After: %s", rec.Body)
				}
			default:
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
		if len(ids) == 0 || (len(ids) == 2 && ids[0] != ids[1]) {
			t.Fatalf("round %d: refunds %v, want one id", round, ids)
		}
	}
	var n int
	if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM refunds`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Fatalf("%d refunds after 5 rounds of 2 concurrent posts, want 5", n)
	}
	f.drain(t)
	var p paymentOut
	f.must(t, call{"GET", "/v1/payments/pay_trip-1", staff, "", nil}, 200, &struct {
		Payment *paymentOut `json:"payment"`
	}{&p})
	if p.Refunded.AmountMinor != 500 {
		t.Fatalf("refunded %d, want 500", p.Refunded.AmountMinor)
	}
}

// A trip's receipt: price, credit applied, a fine for the trip, what the card
// paid, a refund, and nothing left owed; the payment shows its ledger entries.
func TestReceiptAndPaymentDetail(t *testing.T) {
	f := newAPI(t)
	staff, cust := f.token(t, "staff-1", auth.RoleStaff), f.token(t, "c-1", auth.RoleCustomer)
	f.must(t, call{"POST", "/v1/credits", staff, "cr-1", map[string]any{"customer_id": "c-1", "amount": eur(100), "reason": "sorry"}}, 201, nil)
	f.startTrip(t, "trip-1", "c-1")
	f.endTrip(t, "trip-1", "c-1", 612)
	f.must(t, call{"POST", "/v1/fines", staff, "f-1", map[string]any{"fine_id": "fine-1", "customer_id": "c-1",
		"trip_id": "trip-1", "reason": "wrong_location", "amount": eur(2500)}}, 201, nil)
	f.drain(t)
	f.must(t, call{"POST", "/v1/payments/pay_trip-1/refunds", staff, "rf-1", map[string]any{"amount": eur(50), "reason": "requested_by_customer"}}, 201, nil)
	f.drain(t)

	var rc struct {
		PaymentStatus string     `json:"payment_status"`
		TripPrice     moneyOut   `json:"trip_price"`
		RideFee       moneyOut   `json:"ride_fee"`
		CreditApplied moneyOut   `json:"credit_applied"`
		FinesAndFees  moneyOut   `json:"fines_and_fees"`
		Captured      moneyOut   `json:"captured"`
		Refunded      moneyOut   `json:"refunded"`
		Outstanding   moneyOut   `json:"outstanding"`
		Charges       []struct{} `json:"charges"`
		Refunds       []struct{} `json:"refunds"`
	}
	f.must(t, call{"GET", "/v1/trips/trip-1/receipt", cust, "", nil}, 200, &rc)
	got := []int64{rc.TripPrice.AmountMinor, rc.RideFee.AmountMinor, rc.CreditApplied.AmountMinor, rc.FinesAndFees.AmountMinor,
		rc.Captured.AmountMinor, rc.Refunded.AmountMinor, rc.Outstanding.AmountMinor}
	if want := []int64{612, 612, 100, 2500, 512 + 2500, 50, 0}; !slices.Equal(got, want) {
		t.Fatalf("receipt price, ride, credit, fines, captured, refunded, outstanding = %v, want %v", got, want)
	}
	if rc.PaymentStatus != "captured" || len(rc.Charges) != 1 || len(rc.Refunds) != 1 {
		t.Fatalf("receipt: status %s, %d charges, %d refunds", rc.PaymentStatus, len(rc.Charges), len(rc.Refunds))
	}

	var detail struct {
		LedgerEntries []struct {
			Kind   string `json:"kind"`
			Status string `json:"status"`
		} `json:"ledger_entries"`
		Refunds []refundOut `json:"refunds"`
	}
	f.must(t, call{"GET", "/v1/payments/pay_trip-1", cust, "", nil}, 200, &detail)
	var kinds []string
	for _, e := range detail.LedgerEntries {
		kinds = append(kinds, e.Kind+"/"+e.Status)
	}
	want := []string{"hold/posted", "trip_charge/posted", "credit_applied/posted", "hold_post/posted", "refund/posted"}
	if !slices.Equal(kinds, want) {
		t.Fatalf("ledger entries %v, want %v", kinds, want)
	}
	if len(detail.Refunds) != 1 || detail.Refunds[0].Status != string(domain.RefundSucceeded) {
		t.Fatalf("refunds %+v", detail.Refunds)
	}

	var bal struct {
		Balances []struct {
			ReceivablePosted moneyOut `json:"receivable_posted"`
			Held             moneyOut `json:"held"`
			Credit           moneyOut `json:"credit"`
		} `json:"balances"`
	}
	f.must(t, call{"GET", "/v1/customers/c-1/balance", cust, "", nil}, 200, &bal)
	if len(bal.Balances) != 1 || bal.Balances[0].ReceivablePosted.AmountMinor != 0 || bal.Balances[0].Held.AmountMinor != 0 ||
		bal.Balances[0].Credit.AmountMinor != 0 {
		t.Fatalf("balance %+v, want everything settled", bal)
	}
}
