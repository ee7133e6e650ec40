package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/mobilitycorp/platform/pkg/auth"
	"github.com/mobilitycorp/platform/pkg/config"
	"github.com/mobilitycorp/platform/pkg/httpx/openapitest"
	"github.com/mobilitycorp/platform/pkg/idempotency"
	"github.com/mobilitycorp/platform/pkg/postgres/pgtest"
	"github.com/mobilitycorp/platform/services/booking/api"
	"github.com/mobilitycorp/platform/services/booking/internal/adapters/postgres"
	"github.com/mobilitycorp/platform/services/booking/internal/app"
	bookinghttp "github.com/mobilitycorp/platform/services/booking/internal/ports/http"
	"github.com/mobilitycorp/platform/services/booking/migrations"
)

// The registry suites (customers, fleet) share one loaded document, so
// TestRegistryHTTP can check that every operation of theirs was exercised.
var (
	regSpecOnce sync.Once
	regSpecDoc  *openapitest.Spec
)

func regSpec(t *testing.T) *openapitest.Spec {
	regSpecOnce.Do(func() { regSpecDoc = openapitest.Load(t, api.Spec) })
	return regSpecDoc
}

const regSecret config.Secret = "registry-http-test-secret-of-32-bytes-or-more"

// regListener records what the availability index would be told.
type regListener struct {
	mu    sync.Mutex
	state map[string]bool
}

func (l *regListener) SetMaintenance(_ context.Context, id string, on bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.state[id] = on
	return nil
}

func (l *regListener) get(id string) (bool, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	on, ok := l.state[id]
	return on, ok
}

// regHarness serves the customers and fleet handlers over HTTP, on a real
// database, behind real token verification and Idempotency-Key middleware,
// with every exchange checked against api/openapi.yaml.
type regHarness struct {
	t         *testing.T
	srv       *httptest.Server
	client    *http.Client
	transport *openapitest.Transport
	signer    *auth.Signer
	customers *postgres.Customers
	fleet     *app.Fleet
	listener  *regListener
}

func newRegHarness(t *testing.T) *regHarness {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.New(t, migrations.Set())
	verifier, err := auth.NewVerifier(ctx, auth.Config{HS256Secret: regSecret, Issuer: "test", Audience: "booking"})
	if err != nil {
		t.Fatal(err)
	}
	h := &regHarness{t: t, signer: auth.NewHS256Signer(regSecret, "test", "booking"),
		customers: postgres.NewCustomers(pool), listener: &regListener{state: map[string]bool{}}}
	h.fleet = app.NewFleet(postgres.NewFleet(pool), app.FleetOptions{Listener: h.listener, Logger: slog.New(slog.DiscardHandler)})
	if err := h.fleet.RefreshZones(ctx); err != nil {
		t.Fatal(err)
	}
	optionalKey := idempotency.Middleware(pool, idempotency.Options{Methods: []string{http.MethodPost}})
	requiredKey := idempotency.Middleware(pool, idempotency.Options{Required: true, Methods: []string{http.MethodPost}})
	r := chi.NewRouter()
	r.Group(func(r chi.Router) {
		r.Use(verifier.Authenticate)
		bookinghttp.NewCustomersHandler(app.NewCustomers(h.customers, nil), optionalKey).Mount(r)
		bookinghttp.NewFleetHandler(h.fleet, requiredKey).Mount(r)
	})
	h.srv = httptest.NewServer(r)
	t.Cleanup(h.srv.Close)
	h.transport = regSpec(t).Transport(t, nil)
	h.client = &http.Client{Transport: h.transport, Timeout: 10 * time.Second}
	return h
}

func (h *regHarness) token(sub string, roles ...auth.Role) string {
	tok, err := h.signer.Mint(sub, roles, time.Hour)
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

type regResponse struct {
	status int
	header http.Header
	body   []byte
}

func (r regResponse) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// do sends body (nil: none; a string: raw JSON) with token (none if "") and
// an Idempotency-Key (none if "").
func (h *regHarness) do(method, path, token string, body any, key string) regResponse {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return regResponse{status: resp.StatusCode, header: resp.Header, body: raw}
}

func (h *regHarness) expect(r regResponse, status int) regResponse {
	h.t.Helper()
	if r.status != status {
		h.t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if status >= 400 && !strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") {
		h.t.Fatalf("error without a problem body: %s %s", r.header.Get("Content-Type"), r.body)
	}
	return r
}

func regHas(t *testing.T, body []byte, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !bytes.Contains(body, []byte(s)) {
			t.Fatalf("%s does not contain %s", body, s)
		}
	}
}

func regLacks(t *testing.T, body []byte, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if bytes.Contains(body, []byte(s)) {
			t.Fatalf("%s contains %s", body, s)
		}
	}
}

func regSignUpBody(email string) map[string]any {
	return map[string]any{"name": "Katherine Johnson", "email": email, "date_of_birth": "1998-08-26",
		"country": "de", "preferred_language": "de"}
}

func regTestSignUp(t *testing.T) {
	h := newRegHarness(t)
	c1 := h.token("c1", auth.RoleCustomer)
	c2 := h.token("c2", auth.RoleCustomer)
	staff := h.token("staff-1", auth.RoleStaff)

	r := h.expect(h.do(http.MethodPost, "/v1/customers", c1, regSignUpBody("kj@example.org"), ""), http.StatusCreated)
	if loc := r.header.Get("Location"); loc != "/v1/customers/c1" {
		t.Fatalf("Location %q", loc)
	}
	regHas(t, r.body, `"id":"c1"`, `"country":"DE"`, `"date_of_birth":"1998-08-26"`, `"blocked":false`)
	regLacks(t, r.body, `"licence"`, `"payment_method"`)

	tests := []struct {
		name   string
		token  string
		body   any
		status int
	}{
		{"email taken, other case", c2, regSignUpBody("KJ@example.org"), http.StatusConflict},
		{"signing up as someone else", c2, map[string]any{"id": "c3", "name": "X", "email": "x@example.org",
			"date_of_birth": "1990-01-01", "country": "DE", "preferred_language": "de"}, http.StatusForbidden},
		{"signing up twice", c1, regSignUpBody("other@example.org"), http.StatusConflict},
		{"under 16", c2, map[string]any{"name": "Kid", "email": "kid@example.org", "date_of_birth": time.Now().AddDate(-15, 0, 0).Format(time.DateOnly),
			"country": "DE", "preferred_language": "de"}, http.StatusForbidden},
		{"date of birth not a date", c2, map[string]any{"name": "X", "email": "y@example.org", "date_of_birth": "26.08.1998",
			"country": "DE", "preferred_language": "de"}, http.StatusUnprocessableEntity},
		{"bad email", c2, regSignUpBody("not-an-address"), http.StatusUnprocessableEntity},
		{"missing members", c2, map[string]any{"name": "X"}, http.StatusUnprocessableEntity},
		{"unknown member", c2, map[string]any{"name": "X", "blocked": false}, http.StatusBadRequest},
		{"not JSON", c2, "{", http.StatusBadRequest},
		{"staff without id", staff, regSignUpBody("s@example.org"), http.StatusUnprocessableEntity},
		{"no token", "", regSignUpBody("n@example.org"), http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.expect(h.do(http.MethodPost, "/v1/customers", tt.token, tt.body, ""), tt.status)
		})
	}
	body := regSignUpBody("c7@example.org")
	body["id"] = "c7"
	h.expect(h.do(http.MethodPost, "/v1/customers", staff, body, ""), http.StatusCreated)

	// An Idempotency-Key makes a retried sign-up replay its answer.
	first := h.expect(h.do(http.MethodPost, "/v1/customers", c2, regSignUpBody("c2@example.org"), "signup-1"), http.StatusCreated)
	again := h.expect(h.do(http.MethodPost, "/v1/customers", c2, regSignUpBody("c2@example.org"), "signup-1"), http.StatusCreated)
	if again.header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(first.body, again.body) {
		t.Fatalf("retry not replayed: %v %s", again.header, again.body)
	}
}

func regTestCustomerProfile(t *testing.T) {
	h := newRegHarness(t)
	c1 := h.token("c1", auth.RoleCustomer)
	c2 := h.token("c2", auth.RoleCustomer)
	staff := h.token("staff-1", auth.RoleStaff)
	h.expect(h.do(http.MethodPost, "/v1/customers", c1, regSignUpBody("c1@example.org"), ""), http.StatusCreated)
	h.expect(h.do(http.MethodPost, "/v1/customers", c2, regSignUpBody("c2@example.org"), ""), http.StatusCreated)

	h.expect(h.do(http.MethodGet, "/v1/customers/c1", c1, nil, ""), http.StatusOK)
	h.expect(h.do(http.MethodGet, "/v1/customers/c1", c2, nil, ""), http.StatusForbidden)
	h.expect(h.do(http.MethodGet, "/v1/customers/c1", staff, nil, ""), http.StatusOK)
	h.expect(h.do(http.MethodGet, "/v1/customers/nobody", staff, nil, ""), http.StatusNotFound)
	h.expect(h.do(http.MethodGet, "/v1/customers/c1", "", nil, ""), http.StatusUnauthorized)

	tests := []struct {
		name   string
		token  string
		body   any
		status int
		has    string
	}{
		{"own name and language", c1, map[string]any{"name": "K. Johnson", "preferred_language": "en-gb"}, 200, `"preferred_language":"en-GB"`},
		{"own email", c1, map[string]any{"email": "KJ@Example.org"}, 200, `"email":"kj@example.org"`},
		{"someone else's email", c1, map[string]any{"email": "c2@example.org"}, 409, ""},
		{"own date of birth", c1, map[string]any{"date_of_birth": "1990-01-01"}, 403, ""},
		{"staff corrects the date of birth", staff, map[string]any{"date_of_birth": "1990-01-01"}, 200, `"date_of_birth":"1990-01-01"`},
		{"another customer's profile", c2, map[string]any{"name": "Hacked"}, 403, ""},
		{"a member with its own operation", c1, map[string]any{"payment_method": "pm_card_visa"}, 400, ""},
		{"bad country", c1, map[string]any{"country": "Germany"}, 422, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "/v1/customers/c1"
			r := h.expect(h.do(http.MethodPatch, path, tt.token, tt.body, ""), tt.status)
			if tt.has != "" {
				regHas(t, r.body, tt.has)
			}
		})
	}

	h.expect(h.do(http.MethodPut, "/v1/customers/c1/payment-method", c2, map[string]any{"payment_method": "pm_card_visa"}, ""), http.StatusForbidden)
	h.expect(h.do(http.MethodPut, "/v1/customers/c1/payment-method", c1, map[string]any{"payment_method": "4242424242424242"}, ""), http.StatusUnprocessableEntity)
	r := h.expect(h.do(http.MethodPut, "/v1/customers/c1/payment-method", c1, map[string]any{"payment_method": "pm_card_visa"}, ""), http.StatusOK)
	regHas(t, r.body, `"payment_method":"pm_card_visa"`)
}

func regTestLicenceReview(t *testing.T) {
	h := newRegHarness(t)
	c1 := h.token("c1", auth.RoleCustomer)
	staff := h.token("staff-1", auth.RoleStaff)
	service := h.token("kyc", auth.RoleService)
	h.expect(h.do(http.MethodPost, "/v1/customers", c1, regSignUpBody("c1@example.org"), ""), http.StatusCreated)
	licence := map[string]any{"number": "B072RRE2I55", "country": "DE", "expiry": time.Now().AddDate(3, 0, 0).Format(time.DateOnly),
		"categories": []string{"B", "AM"}}

	h.expect(h.do(http.MethodPost, "/v1/customers/c1/licence/verify", staff, map[string]any{"decision": "verify"}, ""), http.StatusConflict)
	expired := map[string]any{"number": "B072RRE2I55", "country": "DE", "expiry": "2020-01-01", "categories": []string{"B"}}
	h.expect(h.do(http.MethodPost, "/v1/customers/c1/licence", c1, expired, ""), http.StatusUnprocessableEntity)
	r := h.expect(h.do(http.MethodPost, "/v1/customers/c1/licence", c1, licence, ""), http.StatusOK)
	regHas(t, r.body, `"status":"submitted"`, `"categories":["AM","B"]`)

	h.expect(h.do(http.MethodPost, "/v1/customers/c1/licence/verify", c1, map[string]any{"decision": "verify"}, ""), http.StatusForbidden)
	h.expect(h.do(http.MethodPost, "/v1/customers/c1/licence/verify", service, map[string]any{"decision": "verify"}, ""), http.StatusForbidden)
	h.expect(h.do(http.MethodPost, "/v1/customers/c1/licence/verify", staff, map[string]any{"decision": "maybe"}, ""), http.StatusUnprocessableEntity)
	h.expect(h.do(http.MethodPost, "/v1/customers/c1/licence/verify", staff, map[string]any{"decision": "reject"}, ""), http.StatusUnprocessableEntity)
	r = h.expect(h.do(http.MethodPost, "/v1/customers/c1/licence/verify", staff, map[string]any{"decision": "reject", "reason": "photo unreadable"}, ""), http.StatusOK)
	regHas(t, r.body, `"status":"rejected"`, `"rejection_reason":"photo unreadable"`, `"reviewed_by":"staff-1"`)

	h.expect(h.do(http.MethodPost, "/v1/customers/c1/licence", c1, licence, ""), http.StatusOK)
	// The queue of licences to review, for staff only.
	h.expect(h.do(http.MethodGet, "/v1/customers?licence_status=submitted", c1, nil, ""), http.StatusForbidden)
	r = h.expect(h.do(http.MethodGet, "/v1/customers?licence_status=submitted", staff, nil, ""), http.StatusOK)
	regHas(t, r.body, `"id":"c1"`)
	h.expect(h.do(http.MethodGet, "/v1/customers?licence_status=pending", staff, nil, ""), http.StatusUnprocessableEntity)

	r = h.expect(h.do(http.MethodPost, "/v1/customers/c1/licence/verify", staff, map[string]any{"decision": "verify"}, ""), http.StatusOK)
	regHas(t, r.body, `"status":"verified"`, `"reviewed_at"`)
	// The customer sees the decision, not who took it.
	r = h.expect(h.do(http.MethodGet, "/v1/customers/c1", c1, nil, ""), http.StatusOK)
	regHas(t, r.body, `"status":"verified"`)
	regLacks(t, r.body, `staff-1`)
}

func regTestBlock(t *testing.T) {
	h := newRegHarness(t)
	c1 := h.token("c1", auth.RoleCustomer)
	staff := h.token("staff-1", auth.RoleStaff)
	admin := h.token("admin-1", auth.RoleAdmin)
	robot := h.token("fraud-bot", auth.RoleAdmin, auth.RoleService)
	h.expect(h.do(http.MethodPost, "/v1/customers", c1, regSignUpBody("c1@example.org"), ""), http.StatusCreated)
	h.expect(h.do(http.MethodPut, "/v1/customers/c1/payment-method", c1, map[string]any{"payment_method": "pm_card_visa"}, ""), http.StatusOK)
	ctx := context.Background()
	svc := app.NewCustomers(h.customers, nil)

	reason := map[string]any{"reason": "repeated chargebacks"}
	tests := []struct {
		name   string
		path   string
		token  string
		body   any
		status int
	}{
		{"customer blocks", "/v1/customers/c1/block", c1, reason, http.StatusForbidden},
		{"staff blocks", "/v1/customers/c1/block", staff, reason, http.StatusForbidden},
		{"a machine with an admin role blocks", "/v1/customers/c1/block", robot, reason, http.StatusForbidden},
		{"admin blocks without reason", "/v1/customers/c1/block", admin, map[string]any{"reason": ""}, http.StatusUnprocessableEntity},
		{"admin unblocks an unblocked customer", "/v1/customers/c1/unblock", admin, reason, http.StatusConflict},
		{"admin blocks", "/v1/customers/c1/block", admin, reason, http.StatusOK},
		{"admin blocks again", "/v1/customers/c1/block", admin, reason, http.StatusConflict},
		{"admin blocks nobody", "/v1/customers/ghost/block", admin, reason, http.StatusNotFound},
	}
	for _, tt := range tests {
		h.expect(h.do(http.MethodPost, tt.path, tt.token, tt.body, ""), tt.status)
	}
	if err := svc.CheckEligible(ctx, "c1", "ebike", time.Now()); err == nil {
		t.Fatal("blocked customer is eligible")
	}
	r := h.expect(h.do(http.MethodGet, "/v1/customers/c1", staff, nil, ""), http.StatusOK)
	regHas(t, r.body, `"blocked":true`, `"by":"admin-1"`, `"reason":"repeated chargebacks"`)
	r = h.expect(h.do(http.MethodGet, "/v1/customers/c1", c1, nil, ""), http.StatusOK)
	regHas(t, r.body, `"blocked":true`)
	regLacks(t, r.body, `admin-1`)
	r = h.expect(h.do(http.MethodGet, "/v1/customers?blocked=true", staff, nil, ""), http.StatusOK)
	regHas(t, r.body, `"id":"c1"`)

	h.expect(h.do(http.MethodPost, "/v1/customers/c1/unblock", staff, map[string]any{"reason": "settled"}, ""), http.StatusForbidden)
	h.expect(h.do(http.MethodPost, "/v1/customers/c1/unblock", admin, map[string]any{"reason": "settled"}, ""), http.StatusOK)
	if err := svc.CheckEligible(ctx, "c1", "ebike", time.Now()); err != nil {
		t.Fatalf("unblocked customer: %v", err)
	}
	audit, err := h.customers.Audit(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if len(audit) != 2 || audit[0].Actor != "admin-1" || audit[1].Reason != "settled" {
		t.Fatalf("audit = %+v", audit)
	}
}

func regTestCustomersListPages(t *testing.T) {
	h := newRegHarness(t)
	staff := h.token("staff-1", auth.RoleStaff)
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		h.expect(h.do(http.MethodPost, "/v1/customers", h.token(id, auth.RoleCustomer), regSignUpBody(id+"x@example.org"), ""), http.StatusCreated)
	}
	var ids []string
	cursor := ""
	for range 5 {
		var page struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
			NextCursor string `json:"next_cursor"`
		}
		h.expect(h.do(http.MethodGet, "/v1/customers?limit=2"+cursor, staff, nil, ""), http.StatusOK).decode(t, &page)
		for _, it := range page.Items {
			ids = append(ids, it.ID)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = "&cursor=" + page.NextCursor
	}
	if !slices.Equal(ids, []string{"a", "b", "c", "d", "e"}) {
		t.Fatalf("pages gave %v", ids)
	}
	h.expect(h.do(http.MethodGet, "/v1/customers?cursor=!!", staff, nil, ""), http.StatusUnprocessableEntity)
	h.expect(h.do(http.MethodGet, "/v1/customers?limit=0", staff, nil, ""), http.StatusUnprocessableEntity)
}
