package stripefake_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/mobilitycorp/platform/services/payments/internal/adapters/stripefake"
)

const key = "sk_test_fakeKey0123456789"

type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// errField returns error.<name> of an error body ("" if absent).
func (r response) errField(name string) string {
	e, _ := r.body["error"].(map[string]any)
	s, _ := e[name].(string)
	return s
}

func (r response) str(name string) string {
	s, _ := r.body[name].(string)
	return s
}

type req struct {
	method string
	path   string
	form   url.Values
	key    string // Idempotency-Key
	auth   *string
}

func send(t *testing.T, s *stripefake.Server, rq req) response {
	t.Helper()
	var body io.Reader
	target := s.URL() + rq.path
	if rq.method == http.MethodGet {
		if len(rq.form) > 0 {
			target += "?" + rq.form.Encode()
		}
	} else {
		body = strings.NewReader(rq.form.Encode())
	}
	hr, err := http.NewRequestWithContext(t.Context(), rq.method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hr.Header.Set("Authorization", "Bearer "+key)
	if rq.auth != nil {
		hr.Header.Set("Authorization", *rq.auth)
	}
	if rq.key != "" {
		hr.Header.Set("Idempotency-Key", rq.key)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", rq.method, rq.path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			t.Fatalf("%s %s: body is not JSON: %v\n%s", rq.method, rq.path, err, raw)
		}
	}
	return out
}

func intentForm(pm string, amount string) url.Values {
	return url.Values{
		"amount": {amount}, "currency": {"eur"}, "payment_method": {pm},
		"capture_method": {"manual"}, "confirm": {"true"}, "off_session": {"true"},
		"payment_method_options[card][request_incremental_authorization]": {"if_available"},
		"metadata[trip_id]": {"trip-1"},
	}
}

func createIntent(t *testing.T, s *stripefake.Server, key string, form url.Values) response {
	t.Helper()
	return send(t, s, req{method: http.MethodPost, path: "/v1/payment_intents", form: form, key: key})
}

func TestAuthentication(t *testing.T) {
	s := stripefake.New(t, stripefake.Options{})
	none, live, publishable := "", "Bearer sk_live_realLiveKey0123456789", "Bearer pk_test_publishable0123"
	for _, auth := range []*string{&none, &live, &publishable} {
		r := send(t, s, req{method: http.MethodPost, path: "/v1/customers", form: url.Values{"email": {"a@example.com"}}, key: "k", auth: auth})
		if r.status != http.StatusUnauthorized || r.errField("type") != "invalid_request_error" || r.errField("message") == "" {
			t.Fatalf("auth %q: %d %s, want 401 invalid_request_error", *auth, r.status, r.raw)
		}
		if strings.Contains(string(r.raw), "realLiveKey0123456789") {
			t.Fatalf("401 body quotes the whole key: %s", r.raw)
		}
	}
	if n := len(s.Sandbox().Customers()); n != 0 {
		t.Fatalf("refused requests created %d customers", n)
	}
	if n := s.Calls(stripefake.EndpointCreateCustomer); n != 3 {
		t.Fatalf("Calls = %d, want 3 (refused requests count)", n)
	}
}

func TestIdempotentReplay(t *testing.T) {
	s := stripefake.New(t, stripefake.Options{})
	form := url.Values{"email": {"a@example.com"}, "name": {"A"}}
	first := send(t, s, req{method: http.MethodPost, path: "/v1/customers", form: form, key: "k"})
	again := send(t, s, req{method: http.MethodPost, path: "/v1/customers", form: form, key: "k"})
	if first.status != 200 || again.status != 200 || !bytes.Equal(first.raw, again.raw) {
		t.Fatalf("replay differs:\n%s\n%s", first.raw, again.raw)
	}
	if first.header.Get("Idempotent-Replayed") != "" || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("Idempotent-Replayed: first %q, replay %q", first.header.Get("Idempotent-Replayed"), again.header.Get("Idempotent-Replayed"))
	}
	if again.header.Get("Original-Request") != first.header.Get("Request-Id") || first.header.Get("Request-Id") == again.header.Get("Request-Id") {
		t.Fatalf("replay Original-Request %q, first Request-Id %q", again.header.Get("Original-Request"), first.header.Get("Request-Id"))
	}
	if n := len(s.Sandbox().Customers()); n != 1 {
		t.Fatalf("%d customers, want 1", n)
	}
	tests := []struct {
		name string
		rq   req
	}{
		{"other parameters", req{method: http.MethodPost, path: "/v1/customers", form: url.Values{"email": {"b@example.com"}, "name": {"A"}}, key: "k"}},
		{"other endpoint", req{method: http.MethodPost, path: "/v1/payment_intents", form: intentForm("pm_card_visa", "1000"), key: "k"}},
	}
	for _, tt := range tests {
		r := send(t, s, tt.rq)
		if r.status != 400 || r.errField("type") != "idempotency_error" || !strings.Contains(r.errField("message"), "'k'") {
			t.Fatalf("%s: %d %s, want 400 idempotency_error naming the key", tt.name, r.status, r.raw)
		}
	}
	// Without a key every request executes.
	for range 2 {
		send(t, s, req{method: http.MethodPost, path: "/v1/customers", form: form})
	}
	if n := len(s.Sandbox().Customers()); n != 3 {
		t.Fatalf("%d customers after two keyless requests, want 3", n)
	}
}

func TestDeclineErrorShape(t *testing.T) {
	tests := []struct {
		pm, code, decline string
	}{
		{"pm_card_chargeDeclined", "card_declined", "generic_decline"},
		{"pm_card_visa_chargeDeclined", "card_declined", "generic_decline"},
		{"pm_card_chargeDeclinedInsufficientFunds", "card_declined", "insufficient_funds"},
		{"pm_card_chargeDeclinedExpiredCard", "expired_card", "expired_card"},
		{"pm_card_authenticationRequired", "authentication_required", "authentication_required"},
	}
	for _, tt := range tests {
		t.Run(tt.pm, func(t *testing.T) {
			s := stripefake.New(t, stripefake.Options{})
			r := createIntent(t, s, "k", intentForm(tt.pm, "1000"))
			if r.status != http.StatusPaymentRequired || r.errField("type") != "card_error" ||
				r.errField("code") != tt.code || r.errField("decline_code") != tt.decline {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			for _, f := range []string{"message", "doc_url", "request_log_url", "charge"} {
				if r.errField(f) == "" {
					t.Errorf("error.%s missing: %s", f, r.raw)
				}
			}
			e := r.body["error"].(map[string]any)
			pi, _ := e["payment_intent"].(map[string]any)
			lpe, _ := pi["last_payment_error"].(map[string]any)
			if pi["status"] != "requires_payment_method" || pi["object"] != "payment_intent" || lpe["code"] != tt.code {
				t.Fatalf("embedded payment_intent %v", pi)
			}
			if pm, _ := e["payment_method"].(map[string]any); pm["id"] != tt.pm {
				t.Fatalf("embedded payment_method %v", e["payment_method"])
			}
			// Declines executed: the replay is the saved 402.
			again := createIntent(t, s, "k", intentForm(tt.pm, "1000"))
			if again.status != 402 || again.header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("replay of a decline: %d, replayed %q", again.status, again.header.Get("Idempotent-Replayed"))
			}
		})
	}
}

func TestIntentShape(t *testing.T) {
	s := stripefake.New(t, stripefake.Options{})
	form := intentForm("pm_card_visa", "1000")
	form.Set("expand[0]", "latest_charge")
	r := createIntent(t, s, "k", form)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	want := map[string]any{
		"object": "payment_intent", "status": "requires_capture", "amount": 1000.0, "amount_capturable": 1000.0,
		"amount_received": 0.0, "currency": "eur", "capture_method": "manual", "payment_method": "pm_card_visa",
	}
	for k, v := range want {
		if r.body[k] != v {
			t.Errorf("%s = %v, want %v", k, r.body[k], v)
		}
	}
	if md, _ := r.body["metadata"].(map[string]any); md["trip_id"] != "trip-1" {
		t.Errorf("metadata %v", r.body["metadata"])
	}
	ch, _ := r.body["latest_charge"].(map[string]any)
	card := ch["payment_method_details"].(map[string]any)["card"].(map[string]any)
	if ch["object"] != "charge" || card["incremental_authorization"].(map[string]any)["status"] != "available" || card["brand"] != "visa" {
		t.Fatalf("expanded charge %v", ch)
	}
	id := r.str("id")
	got := send(t, s, req{method: http.MethodGet, path: "/v1/payment_intents/" + id})
	if _, isID := got.body["latest_charge"].(string); got.status != 200 || !isID || got.str("id") != id {
		t.Fatalf("GET without expand: %d latest_charge %v", got.status, got.body["latest_charge"])
	}
	upd := send(t, s, req{method: http.MethodPost, path: "/v1/payment_intents/" + id, key: "u",
		form: url.Values{"description": {"final"}, "metadata[trip_id]": {""}, "metadata[zone]": {"b"}}})
	if md, _ := upd.body["metadata"].(map[string]any); upd.status != 200 || upd.str("description") != "final" || md["zone"] != "b" || md["trip_id"] != nil {
		t.Fatalf("update: %d %s", upd.status, upd.raw)
	}
	capd := send(t, s, req{method: http.MethodPost, path: "/v1/payment_intents/" + id + "/capture", key: "c"})
	if capd.status != 200 || capd.body["amount_received"] != 1000.0 || capd.str("status") != "succeeded" {
		t.Fatalf("capture without amount_to_capture: %d %s", capd.status, capd.raw)
	}
	ref := send(t, s, req{method: http.MethodPost, path: "/v1/refunds", key: "r", form: url.Values{"payment_intent": {id}, "reason": {"duplicate"}}})
	if ref.status != 200 || ref.str("object") != "refund" || ref.body["amount"] != 1000.0 || ref.str("reason") != "duplicate" || ref.str("payment_intent") != id {
		t.Fatalf("refund without amount: %d %s", ref.status, ref.raw)
	}
}

func TestParameterValidation(t *testing.T) {
	with := func(change func(url.Values)) url.Values {
		f := intentForm("pm_card_visa", "1000")
		change(f)
		return f
	}
	tests := []struct {
		name      string
		form      url.Values
		wantCode  string
		wantParam string
	}{
		{"unknown parameter", with(func(f url.Values) { f.Set("colour", "red") }), "parameter_unknown", "colour"},
		{"missing amount", with(func(f url.Values) { f.Del("amount") }), "parameter_missing", "amount"},
		{"amount not an integer", with(func(f url.Values) { f.Set("amount", "10.5") }), "parameter_invalid_integer", "amount"},
		{"automatic capture", with(func(f url.Values) { f.Set("capture_method", "automatic") }), "", "capture_method"},
		{"not confirmed", with(func(f url.Values) { f.Del("confirm") }), "", "confirm"},
		{"on-session", with(func(f url.Values) { f.Set("off_session", "false") }), "", "off_session"},
		{"no incremental request", with(func(f url.Values) { f.Del("payment_method_options[card][request_incremental_authorization]") }), "", "payment_method_options[card][request_incremental_authorization]"},
		{"non-card method type", with(func(f url.Values) { f.Set("payment_method_types[0]", "sepa_debit") }), "", "payment_method_types"},
		{"unexpandable field", with(func(f url.Values) { f.Set("expand[0]", "customer") }), "", "expand"},
		{"bad currency", with(func(f url.Values) { f.Set("currency", "euro") }), "", "currency"},
		{"below minimum", with(func(f url.Values) { f.Set("amount", "10") }), "amount_too_small", "amount"},
		{"unknown payment method", with(func(f url.Values) { f.Set("payment_method", "pm_nope") }), "resource_missing", "payment_method"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := stripefake.New(t, stripefake.Options{})
			r := createIntent(t, s, "k", tt.form)
			if r.status != 400 || r.errField("type") != "invalid_request_error" || r.errField("code") != tt.wantCode || r.errField("param") != tt.wantParam {
				t.Fatalf("%d %s; want 400 code %q param %q", r.status, r.raw, tt.wantCode, tt.wantParam)
			}
			// Validation failures are not saved: the corrected request may reuse the key.
			if ok := createIntent(t, s, "k", intentForm("pm_card_visa", "1000")); ok.status != 200 {
				t.Fatalf("corrected request with the same key: %d %s", ok.status, ok.raw)
			}
		})
	}
}

func TestFaultSwitches(t *testing.T) {
	tests := []struct {
		name       string
		inject     func(s *stripefake.Server)
		wantStatus []int
		wantType   string
		wantCode   string
	}{
		{"rate limit twice", func(s *stripefake.Server) { s.RateLimitNext(2) }, []int{429, 429, 200}, "invalid_request_error", "rate_limit"},
		{"server error once", func(s *stripefake.Server) { s.ServerErrorNext(1) }, []int{500, 200}, "api_error", ""},
		{"proxy error once", func(s *stripefake.Server) { s.ProxyErrorNext(1, 503) }, []int{503, 200}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := stripefake.New(t, stripefake.Options{})
			tt.inject(s)
			for i, want := range tt.wantStatus {
				r := createIntent(t, s, "k", intentForm("pm_card_visa", "1000"))
				if r.status != want {
					t.Fatalf("call %d: %d, want %d", i, r.status, want)
				}
				if want != 200 && (r.errField("type") != tt.wantType || r.errField("code") != tt.wantCode) {
					t.Fatalf("call %d: %s, want type %q code %q", i, r.raw, tt.wantType, tt.wantCode)
				}
			}
			if n := s.Calls(stripefake.EndpointCreateIntent); n != len(tt.wantStatus) {
				t.Fatalf("Calls = %d, want %d", n, len(tt.wantStatus))
			}
			if n := len(s.Sandbox().Intents()); n != 1 {
				t.Fatalf("%d intents, want 1: faults happen before execution", n)
			}
		})
	}
}

func TestUnknownRoute(t *testing.T) {
	s := stripefake.New(t, stripefake.Options{})
	r := send(t, s, req{method: http.MethodPost, path: "/v1/charges", key: "k"})
	if r.status != 404 || r.errField("type") != "invalid_request_error" || !strings.Contains(r.errField("message"), "/v1/charges") {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if s.Calls(stripefake.EndpointUnknown) != 1 {
		t.Fatalf("unknown route not counted")
	}
}

func TestRequestsAreRecorded(t *testing.T) {
	s := stripefake.New(t, stripefake.Options{})
	createIntent(t, s, "k-1", intentForm("pm_card_visa", "1000"))
	rec, ok := s.LastRequest(stripefake.EndpointCreateIntent)
	if !ok || rec.IdempotencyKey != "k-1" || rec.Form.Get("capture_method") != "manual" || rec.Method != http.MethodPost {
		t.Fatalf("recorded %+v", rec)
	}
	rec.Form.Set("capture_method", "changed")
	if again, _ := s.LastRequest(stripefake.EndpointCreateIntent); again.Form.Get("capture_method") != "manual" {
		t.Fatalf("recorded request changed through a copy")
	}
	if s.TotalCalls() != 1 || len(s.Requests()) != 1 {
		t.Fatalf("TotalCalls %d, Requests %d; want 1, 1", s.TotalCalls(), len(s.Requests()))
	}
}
