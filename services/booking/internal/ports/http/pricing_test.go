package http_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/mobilitycorp/platform/pkg/auth"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
)

func eurJSON(minor int64) map[string]any {
	return map[string]any{"amount_minor": minor, "currency": "EUR"}
}

func TestQuotesHTTP(t *testing.T) {
	h := newAvailHarness(t)
	h.seed(availVehicle{"car-1", domain.Car, 100, 80, 250})
	customer := h.token("cust-1", auth.RoleCustomer)
	type quote struct {
		VehicleID       string       `json:"vehicle_id"`
		City            string       `json:"city"`
		ZoneID          string       `json:"zone_id"`
		PerMinute       domain.Money `json:"per_minute"`
		Multiplier      float64      `json:"multiplier"`
		ExpectedMinutes int64        `json:"expected_minutes"`
		Total           domain.Money `json:"total"`
	}
	tests := []struct {
		name   string
		body   map[string]any
		status int
		total  int64
	}{
		{"by type and city", map[string]any{"vehicle_type": "ebike", "city": "Berlin", "expected_minutes": 20}, 200, 100 + 20*25},
		{"by vehicle", map[string]any{"vehicle_id": "car-1", "expected_minutes": 60}, 200, 100 + 60*45},
		{"unknown vehicle", map[string]any{"vehicle_id": "nope", "expected_minutes": 60}, 404, 0},
		{"city without tariffs", map[string]any{"vehicle_type": "ebike", "city": "Paris", "expected_minutes": 20}, 404, 0},
		{"no minutes", map[string]any{"vehicle_type": "ebike", "city": "berlin"}, 422, 0},
		{"vehicle and type", map[string]any{"vehicle_id": "car-1", "vehicle_type": "car", "expected_minutes": 5}, 422, 0},
		{"neither vehicle nor city", map[string]any{"expected_minutes": 5}, 422, 0},
		{"unknown member", map[string]any{"vehicle_type": "ebike", "city": "berlin", "expected_minutes": 5, "coupon": "x"}, 400, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.expect(h.do(http.MethodPost, "/v1/quotes", customer, tt.body, ""), tt.status)
			if tt.status != 200 {
				return
			}
			var q quote
			r.decode(t, &q)
			if q.Total.AmountMinor != tt.total || q.Total.Currency != "EUR" || q.City != "berlin" {
				t.Fatalf("quote = %+v, want total %d", q, tt.total)
			}
			if id, _ := tt.body["vehicle_id"].(string); id != "" && (q.VehicleID != id || q.ZoneID != "berlin-mitte") {
				t.Fatalf("quote by vehicle = %+v", q)
			}
		})
	}
}

func TestTariffsHTTP(t *testing.T) {
	h := newAvailHarness(t)
	staff := h.token("staff-1", auth.RoleStaff)
	customer := h.token("cust-1", auth.RoleCustomer)

	r := h.expect(h.do(http.MethodGet, "/v1/tariffs/Berlin", staff, nil, ""), http.StatusOK)
	availJSONHas(t, r.body, `"city":"berlin"`, `"cancellation_fee":{"amount_minor":300`, `"vehicle_type":"van"`)
	h.expect(h.do(http.MethodGet, "/v1/tariffs/berlin", customer, nil, ""), http.StatusForbidden)
	h.expect(h.do(http.MethodGet, "/v1/tariffs/paris", staff, nil, ""), http.StatusNotFound)

	r = h.expect(h.do(http.MethodGet, "/v1/tariffs/berlin/escooter", staff, nil, ""), http.StatusOK)
	availJSONHas(t, r.body, `"per_minute":{"amount_minor":30,"currency":"EUR"}`)
	h.expect(h.do(http.MethodGet, "/v1/tariffs/berlin/tram", staff, nil, ""), http.StatusUnprocessableEntity)

	body := map[string]any{"unlock_fee": eurJSON(50), "per_minute": eurJSON(22)}
	h.expect(h.do(http.MethodPut, "/v1/tariffs/berlin/escooter", customer, body, ""), http.StatusForbidden)
	r = h.expect(h.do(http.MethodPut, "/v1/tariffs/berlin/escooter", staff, body, ""), http.StatusOK)
	availJSONHas(t, r.body, `"updated_by":"staff-1"`, `"amount_minor":22`)
	// The new tariff prices quotes at once.
	r = h.expect(h.do(http.MethodPost, "/v1/quotes", customer, map[string]any{"vehicle_type": "escooter", "city": "berlin", "expected_minutes": 10}, ""), http.StatusOK)
	availJSONHas(t, r.body, `"total":{"amount_minor":270,"currency":"EUR"}`)

	h.expect(h.do(http.MethodPut, "/v1/tariffs/berlin/escooter", staff, map[string]any{"unlock_fee": eurJSON(50), "per_minute": eurJSON(0)}, ""), http.StatusUnprocessableEntity)
	h.expect(h.do(http.MethodPut, "/v1/tariffs/berlin/escooter", staff, map[string]any{"unlock_fee": eurJSON(50), "per_minute": map[string]any{"amount_minor": 20, "currency": "PLN"}}, ""), http.StatusUnprocessableEntity)
	h.expect(h.do(http.MethodPut, "/v1/tariffs/paris/escooter", staff, body, ""), http.StatusNotFound)

	city := map[string]any{"currency": "EUR", "wrong_location_fine": eurJSON(3000), "late_return_fine": eurJSON(3500),
		"under_served_reward": eurJSON(150), "cancellation_fee": eurJSON(250)}
	r = h.expect(h.do(http.MethodPut, "/v1/tariffs/Paris", staff, city, ""), http.StatusOK)
	availJSONHas(t, r.body, `"city":"paris"`, `"tariffs":[]`)
	h.expect(h.do(http.MethodPut, "/v1/tariffs/paris/escooter", staff, body, ""), http.StatusOK)
	city["currency"] = "USD"
	for _, k := range []string{"wrong_location_fine", "late_return_fine", "under_served_reward", "cancellation_fee"} {
		city[k] = map[string]any{"amount_minor": 1, "currency": "USD"}
	}
	h.expect(h.do(http.MethodPut, "/v1/tariffs/paris", staff, city, ""), http.StatusConflict)
	if fine, err := h.pricing.WrongLocationFine(context.Background(), "paris"); err != nil || fine.AmountMinor != 3000 {
		t.Fatalf("paris fine = %v, %v", fine, err)
	}
}

func TestMultiplierApprovalHTTP(t *testing.T) {
	h := newAvailHarness(t)
	h.seed(availVehicle{"s1", domain.EScooter, 50, 80, 25})
	staff := h.token("staff-1", auth.RoleStaff)
	otherStaff := h.token("staff-2", auth.RoleStaff)
	admin := h.token("admin-1", auth.RoleAdmin)
	requester := h.token("admin-2", auth.RoleAdmin) // an admin who requests cannot approve their own
	customer := h.token("cust-1", auth.RoleCustomer)

	perMinute := func() float64 {
		var out struct{ Items []availItem }
		h.expect(h.do(http.MethodGet, availQuery(nil), customer, nil, ""), http.StatusOK).decode(t, &out)
		return float64(out.Items[0].Price.PerMinute.AmountMinor)
	}

	// Within bounds: in force at once, for the zone.
	r := h.expect(h.do(http.MethodPost, "/v1/multiplier-changes", staff, map[string]any{"city": "Berlin", "zone_id": "berlin-mitte", "value": 1.5, "reason": "concert"}, "k1"), http.StatusCreated)
	availJSONHas(t, r.body, `"status":"applied"`, `"value":1.5`)
	if got := perMinute(); got != 45 {
		t.Fatalf("per minute at 1.5x = %v, want 45", got)
	}
	// The same key replays; another body with it is refused.
	r2 := h.expect(h.do(http.MethodPost, "/v1/multiplier-changes", staff, map[string]any{"city": "Berlin", "zone_id": "berlin-mitte", "value": 1.5, "reason": "concert"}, "k1"), http.StatusCreated)
	if string(r2.body) != string(r.body) || r2.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry not replayed: %s", r2.body)
	}
	h.expect(h.do(http.MethodPost, "/v1/multiplier-changes", staff, map[string]any{"city": "Berlin", "value": 1.2, "reason": "x"}, ""), http.StatusBadRequest)
	h.expect(h.do(http.MethodPost, "/v1/multiplier-changes", customer, map[string]any{"city": "Berlin", "value": 1.2, "reason": "x"}, "k9"), http.StatusForbidden)
	h.expect(h.do(http.MethodPost, "/v1/multiplier-changes", staff, map[string]any{"city": "Berlin", "value": 25, "reason": "typo"}, "k2"), http.StatusUnprocessableEntity)
	h.expect(h.do(http.MethodPost, "/v1/multiplier-changes", staff, map[string]any{"city": "Berlin", "value": 1.2}, "k3"), http.StatusUnprocessableEntity)

	// Outside bounds: pending until a second person, an admin, approves.
	var pending struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	r = h.expect(h.do(http.MethodPost, "/v1/multiplier-changes", requester, map[string]any{"city": "berlin", "zone_id": "berlin-mitte", "value": 3, "reason": "storm"}, "k4"), http.StatusAccepted)
	r.decode(t, &pending)
	if pending.Status != "pending_approval" || r.header.Get("Location") != "/v1/multiplier-changes/"+pending.ID {
		t.Fatalf("pending = %+v, location %q", pending, r.header.Get("Location"))
	}
	if got := perMinute(); got != 45 {
		t.Fatalf("pending override in force: %v", got)
	}
	approve := "/v1/multiplier-changes/" + pending.ID + "/approve"
	h.expect(h.do(http.MethodPost, approve, otherStaff, nil, "a1"), http.StatusForbidden) // staff are not admins
	h.expect(h.do(http.MethodPost, approve, requester, nil, "a2"), http.StatusForbidden)  // not your own
	r = h.expect(h.do(http.MethodPost, approve, admin, nil, "a3"), http.StatusOK)
	availJSONHas(t, r.body, `"status":"approved"`, `"decided_by":"admin-1"`)
	if got := perMinute(); got != 90 {
		t.Fatalf("per minute at approved 3x = %v, want 90", got)
	}
	h.expect(h.do(http.MethodPost, approve, admin, nil, "a4"), http.StatusConflict)
	h.expect(h.do(http.MethodPost, "/v1/multiplier-changes/nope/approve", admin, nil, "a5"), http.StatusNotFound)

	// A rejected override never applies.
	var rej struct{ ID string }
	h.expect(h.do(http.MethodPost, "/v1/multiplier-changes", staff, map[string]any{"city": "berlin", "value": 0.3, "reason": "giveaway"}, "k5"), http.StatusAccepted).decode(t, &rej)
	r = h.expect(h.do(http.MethodPost, "/v1/multiplier-changes/"+rej.ID+"/reject", admin, nil, "r1"), http.StatusOK)
	availJSONHas(t, r.body, `"status":"rejected"`)

	r = h.expect(h.do(http.MethodGet, "/v1/multipliers/berlin", staff, nil, ""), http.StatusOK)
	availJSONHas(t, r.body, `"zone_id":"berlin-mitte"`, `"value":3`, `"approved":true`)
	h.expect(h.do(http.MethodGet, "/v1/multiplier-changes/"+pending.ID, staff, nil, ""), http.StatusOK)
	h.expect(h.do(http.MethodGet, "/v1/multiplier-changes/nope", staff, nil, ""), http.StatusNotFound)

	// Listing pages newest first.
	var page struct {
		Items []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"items"`
		NextCursor string `json:"next_cursor"`
	}
	h.expect(h.do(http.MethodGet, "/v1/multiplier-changes?city=berlin&limit=2", staff, nil, ""), http.StatusOK).decode(t, &page)
	if len(page.Items) != 2 || page.Items[0].ID != rej.ID || page.NextCursor == "" {
		t.Fatalf("page 1 = %+v", page)
	}
	next := page.NextCursor
	page.NextCursor = ""
	h.expect(h.do(http.MethodGet, "/v1/multiplier-changes?city=berlin&limit=2&cursor="+url.QueryEscape(next), staff, nil, ""), http.StatusOK).decode(t, &page)
	if len(page.Items) != 1 || page.Items[0].Status != "applied" || page.NextCursor != "" {
		t.Fatalf("page 2 = %+v", page)
	}
	h.expect(h.do(http.MethodGet, "/v1/multiplier-changes?status=approved", staff, nil, ""), http.StatusOK).decode(t, &page)
	if len(page.Items) != 1 || page.Items[0].ID != pending.ID {
		t.Fatalf("approved = %+v", page)
	}
	h.expect(h.do(http.MethodGet, "/v1/multiplier-changes?status=maybe", staff, nil, ""), http.StatusUnprocessableEntity)

}
