package http_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/mobilitycorp/platform/pkg/auth"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
)

// regRect is a GeoJSON polygon ([lon, lat]) for a lat/lon rectangle.
func regRect(minLat, minLon, maxLat, maxLon float64) map[string]any {
	return map[string]any{"type": "Polygon", "coordinates": [][][]float64{{
		{minLon, minLat}, {maxLon, minLat}, {maxLon, maxLat}, {minLon, maxLat}, {minLon, minLat}}}}
}

type regVehicle struct {
	ID              string `json:"id"`
	Status          string `json:"status"`
	Plate           string `json:"plate"`
	HomeCity        string `json:"home_city"`
	MaintenanceNote string `json:"maintenance_note"`
	UpdatedBy       string `json:"updated_by"`
}

func regTestVehicles(t *testing.T) {
	h := newRegHarness(t)
	staff := h.token("staff-1", auth.RoleStaff)
	ops := h.token("operations", auth.RoleService)
	customer := h.token("c1", auth.RoleCustomer)
	car := map[string]any{"type": "car", "model": "ID.3", "plate": "b-mc 101", "range_km": 420, "home_city": "Berlin"}

	h.expect(h.do(http.MethodPost, "/v1/vehicles", staff, car, ""), http.StatusBadRequest) // Idempotency-Key required
	h.expect(h.do(http.MethodPost, "/v1/vehicles", customer, car, "k0"), http.StatusForbidden)
	r := h.expect(h.do(http.MethodPost, "/v1/vehicles", staff, car, "k1"), http.StatusCreated)
	var v regVehicle
	r.decode(t, &v)
	if v.Status != "available" || v.Plate != "B-MC 101" || v.HomeCity != "berlin" || v.UpdatedBy != "staff-1" ||
		r.header.Get("Location") != "/v1/vehicles/"+v.ID {
		t.Fatalf("created %+v, Location %q", v, r.header.Get("Location"))
	}
	replay := h.expect(h.do(http.MethodPost, "/v1/vehicles", staff, car, "k1"), http.StatusCreated)
	if replay.header.Get("Idempotent-Replayed") != "true" || !strings.Contains(string(replay.body), v.ID) {
		t.Fatalf("retry registered a second vehicle: %s", replay.body)
	}
	if on, known := h.listener.get(v.ID); !known || on {
		t.Fatalf("index not told about the new vehicle (%v, %v)", on, known)
	}

	tests := []struct {
		name   string
		body   any
		status int
	}{
		{"same plate", car, http.StatusConflict},
		{"car without plate", map[string]any{"type": "car", "model": "ID.3", "range_km": 420, "home_city": "berlin"}, http.StatusUnprocessableEntity},
		{"scooter with a plate", map[string]any{"type": "escooter", "model": "G30", "plate": "X1", "serial": "S1", "range_km": 40, "home_city": "berlin"}, http.StatusUnprocessableEntity},
		{"unknown type", map[string]any{"type": "tram", "model": "M", "serial": "S1", "range_km": 40, "home_city": "berlin"}, http.StatusUnprocessableEntity},
		{"unknown member", map[string]any{"type": "escooter", "colour": "red"}, http.StatusBadRequest},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.expect(h.do(http.MethodPost, "/v1/vehicles", staff, tt.body, "bad-"+string(rune('a'+i))), tt.status)
		})
	}
	scooter := map[string]any{"type": "escooter", "model": "G30", "serial": "sn-1", "range_km": 40, "home_city": "berlin", "status": "maintenance", "maintenance_note": "new, to inspect"}
	var s regVehicle
	h.expect(h.do(http.MethodPost, "/v1/vehicles", ops, scooter, "k2"), http.StatusCreated).decode(t, &s)
	if on, _ := h.listener.get(s.ID); !on || s.Status != "maintenance" {
		t.Fatalf("vehicle registered in maintenance: %+v, index %v", s, on)
	}

	// Maintenance status changes reach the availability index.
	patch := func(id string, body any, status int) regVehicle {
		t.Helper()
		var out regVehicle
		r := h.expect(h.do(http.MethodPatch, "/v1/vehicles/"+id, staff, body, ""), status)
		if status == http.StatusOK {
			r.decode(t, &out)
		}
		return out
	}
	got := patch(v.ID, map[string]any{"status": "maintenance", "maintenance_note": "tyre"}, http.StatusOK)
	if on, _ := h.listener.get(v.ID); !on || got.MaintenanceNote != "tyre" {
		t.Fatalf("maintenance: %+v, index %v", got, on)
	}
	patch(v.ID, map[string]any{"status": "available"}, http.StatusOK)
	if on, _ := h.listener.get(v.ID); on {
		t.Fatal("back in service, still hidden")
	}
	patch(v.ID, map[string]any{"status": "broken"}, http.StatusUnprocessableEntity)
	patch(v.ID, map[string]any{"type": "van"}, http.StatusBadRequest)
	patch("nope", map[string]any{"range_km": 10}, http.StatusNotFound)
	patch(v.ID, map[string]any{"status": "retired"}, http.StatusOK)
	patch(v.ID, map[string]any{"status": "available"}, http.StatusConflict)
	h.expect(h.do(http.MethodPatch, "/v1/vehicles/"+s.ID, customer, map[string]any{"status": "available"}, ""), http.StatusForbidden)

	h.expect(h.do(http.MethodGet, "/v1/vehicles/"+v.ID, staff, nil, ""), http.StatusOK)
	h.expect(h.do(http.MethodGet, "/v1/vehicles/"+v.ID, customer, nil, ""), http.StatusForbidden)
	h.expect(h.do(http.MethodGet, "/v1/vehicles/nope", staff, nil, ""), http.StatusNotFound)

	// The retired car's plate can be registered again.
	h.expect(h.do(http.MethodPost, "/v1/vehicles", staff, car, "k3"), http.StatusCreated)
	list := func(query string) []string {
		t.Helper()
		var page struct {
			Items      []regVehicle `json:"items"`
			NextCursor string       `json:"next_cursor"`
		}
		h.expect(h.do(http.MethodGet, "/v1/vehicles"+query, staff, nil, ""), http.StatusOK).decode(t, &page)
		var out []string
		for _, it := range page.Items {
			out = append(out, it.Status)
		}
		if page.NextCursor != "" {
			out = append(out, "+")
		}
		return out
	}
	if got := list("?status=retired"); !slices.Equal(got, []string{"retired"}) {
		t.Fatalf("retired: %v", got)
	}
	if got := list("?type=car&home_city=Berlin"); !slices.Equal(got, []string{"retired", "available"}) {
		t.Fatalf("berlin cars: %v", got)
	}
	if got := list("?limit=2"); !slices.Equal(got, []string{"retired", "maintenance", "+"}) {
		t.Fatalf("first page: %v", got)
	}
	h.expect(h.do(http.MethodGet, "/v1/vehicles?type=tram", staff, nil, ""), http.StatusUnprocessableEntity)
	h.expect(h.do(http.MethodGet, "/v1/vehicles", customer, nil, ""), http.StatusForbidden)
}

type regBay struct {
	ID          string   `json:"id"`
	Active      bool     `json:"active"`
	UnderServed bool     `json:"under_served"`
	DistanceM   *float64 `json:"distance_m"`
	UpdatedBy   string   `json:"updated_by"`
}

func regTestBays(t *testing.T) {
	h := newRegHarness(t)
	staff := h.token("staff-1", auth.RoleStaff)
	customer := h.token("c1", auth.RoleCustomer)
	bikes := map[string]any{"name": "Alexanderplatz", "city": "Berlin", "polygon": regRect(52.5210, 13.4110, 52.5214, 13.4118),
		"capacity": 20, "vehicle_types": []string{"ebike", "escooter"}, "under_served": true}

	h.expect(h.do(http.MethodPost, "/v1/bays", customer, bikes, "b0"), http.StatusForbidden)
	var alex regBay
	r := h.expect(h.do(http.MethodPost, "/v1/bays", staff, bikes, "b1"), http.StatusCreated)
	r.decode(t, &alex)
	regHas(t, r.body, `"city":"berlin"`, `"type":"Polygon"`, `[13.411,52.521]`, `"centroid":{"lat":52.5212`)

	tests := []struct {
		name string
		edit func(map[string]any)
	}{
		{"car bay without chargers", func(b map[string]any) { b["vehicle_types"] = []string{"car"} }},
		{"open ring", func(b map[string]any) {
			b["polygon"] = map[string]any{"type": "Polygon", "coordinates": [][][]float64{{{13.41, 52.52}, {13.42, 52.52}, {13.42, 52.53}, {13.41, 52.53}}}}
		}},
		{"not a polygon", func(b map[string]any) { b["polygon"] = map[string]any{"type": "Point", "coordinates": [][][]float64{}} }},
		{"no polygon", func(b map[string]any) { delete(b, "polygon") }},
		{"unknown vehicle type", func(b map[string]any) { b["vehicle_types"] = []string{"tram"} }},
		{"no capacity", func(b map[string]any) { b["capacity"] = 0 }},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := map[string]any{}
			for k, v := range bikes {
				b[k] = v
			}
			tt.edit(b)
			h.expect(h.do(http.MethodPost, "/v1/bays", staff, b, "bad-bay-"+string(rune('a'+i))), http.StatusUnprocessableEntity)
		})
	}
	garage := map[string]any{"name": "Alexa garage", "city": "berlin", "polygon": regRect(52.5195, 13.4150, 52.5199, 13.4160),
		"capacity": 10, "vehicle_types": []string{"car", "van"}, "chargers": 4}
	var cars regBay
	h.expect(h.do(http.MethodPost, "/v1/bays", staff, garage, "b2"), http.StatusCreated).decode(t, &cars)
	zoo := map[string]any{"name": "Zoo", "city": "berlin", "polygon": regRect(52.5070, 13.3320, 52.5074, 13.3330),
		"capacity": 5, "vehicle_types": []string{"ebike"}}
	var zooBay regBay
	h.expect(h.do(http.MethodPost, "/v1/bays", staff, zoo, "b3"), http.StatusCreated).decode(t, &zooBay)

	near := func(token, query string) []regBay {
		t.Helper()
		var page struct {
			Items []regBay `json:"items"`
		}
		h.expect(h.do(http.MethodGet, "/v1/bays?"+query, token, nil, ""), http.StatusOK).decode(t, &page)
		return page.Items
	}
	// The app asks for bays near the customer.
	got := near(customer, "near=52.5212,13.4114&radius_m=1000")
	if len(got) != 2 || got[0].ID != alex.ID || *got[0].DistanceM != 0 || got[1].ID != cars.ID || *got[1].DistanceM < 200 ||
		got[0].UpdatedBy != "" {
		t.Fatalf("near Alexanderplatz: %+v", got)
	}
	if got := near(customer, "near=52.5212,13.4114&radius_m=10000&vehicle_type=ebike"); len(got) != 2 || got[1].ID != zooBay.ID {
		t.Fatalf("ebike bays within 10 km: %+v", got)
	}
	for _, bad := range []string{"near=52.5,200", "near=abc", "near=52.5,13.4&radius_m=60000", "near=52.5,13.4&city=berlin", "radius_m=100"} {
		h.expect(h.do(http.MethodGet, "/v1/bays?"+bad, customer, nil, ""), http.StatusUnprocessableEntity)
	}

	// Closing a bay hides it from customers, not from staff.
	var closed regBay
	h.expect(h.do(http.MethodPatch, "/v1/bays/"+alex.ID, staff, map[string]any{"active": false}, ""), http.StatusOK).decode(t, &closed)
	if closed.Active || closed.UpdatedBy != "staff-1" {
		t.Fatalf("closed bay: %+v", closed)
	}
	h.expect(h.do(http.MethodPatch, "/v1/bays/"+alex.ID, customer, map[string]any{"active": true}, ""), http.StatusForbidden)
	h.expect(h.do(http.MethodPatch, "/v1/bays/"+alex.ID, staff, map[string]any{"chargers": 30}, ""), http.StatusUnprocessableEntity)
	h.expect(h.do(http.MethodPatch, "/v1/bays/nope", staff, map[string]any{"capacity": 3}, ""), http.StatusNotFound)
	h.expect(h.do(http.MethodGet, "/v1/bays/"+alex.ID, customer, nil, ""), http.StatusNotFound)
	h.expect(h.do(http.MethodGet, "/v1/bays/"+alex.ID, staff, nil, ""), http.StatusOK)
	h.expect(h.do(http.MethodGet, "/v1/bays/"+cars.ID, customer, nil, ""), http.StatusOK)
	if got := near(customer, "near=52.5212,13.4114&radius_m=1000"); len(got) != 1 || got[0].ID != cars.ID {
		t.Fatalf("closed bay still offered: %+v", got)
	}
	ids := func(items []regBay) string {
		var s []string
		for _, b := range items {
			s = append(s, b.ID)
		}
		return strings.Join(s, ",")
	}
	if got := ids(near(customer, "city=berlin")); got != cars.ID+","+zooBay.ID {
		t.Fatalf("customer list: %s", got)
	}
	if got := ids(near(staff, "city=berlin&active=false")); got != alex.ID {
		t.Fatalf("staff list of closed bays: %s", got)
	}
	if got := ids(near(staff, "under_served=true")); got != alex.ID {
		t.Fatalf("under-served bays: %s", got)
	}
	if got := ids(near(staff, "vehicle_type=van")); got != cars.ID {
		t.Fatalf("van bays: %s", got)
	}

	// The return check the trips area relies on sees the same bays.
	place, err := h.fleet.ReturnPlace(context.Background(), domain.Van, domain.Point{Lat: 52.5197, Lon: 13.4155})
	if err != nil || place.BayID != cars.ID {
		t.Fatalf("ReturnPlace = %+v, %v", place, err)
	}
}

type regZone struct {
	ID          string `json:"id"`
	Kind        string `json:"kind"`
	MaxSpeedKmh int    `json:"max_speed_kmh"`
	Active      bool   `json:"active"`
}

func regTestZones(t *testing.T) {
	h := newRegHarness(t)
	staff := h.token("staff-1", auth.RoleStaff)
	customer := h.token("c1", auth.RoleCustomer)
	area := map[string]any{"name": "Berlin", "city": "berlin", "kind": "operating_area", "polygon": regRect(52.40, 13.20, 52.60, 13.60)}
	var op regZone
	h.expect(h.do(http.MethodPost, "/v1/zones", staff, area, "z1"), http.StatusCreated).decode(t, &op)
	slow := map[string]any{"name": "Mitte", "city": "berlin", "kind": "slow", "max_speed_kmh": 12, "polygon": regRect(52.50, 13.35, 52.54, 13.45)}
	var sz regZone
	h.expect(h.do(http.MethodPost, "/v1/zones", staff, slow, "z2"), http.StatusCreated).decode(t, &sz)
	if sz.MaxSpeedKmh != 12 || sz.Kind != "slow" {
		t.Fatalf("slow zone: %+v", sz)
	}
	mitte := domain.Point{Lat: 52.52, Lon: 13.40}
	if in, _ := h.fleet.InOperatingArea(context.Background(), mitte); !in {
		t.Fatal("new operating area not in force")
	}

	tests := []struct {
		name   string
		token  string
		body   map[string]any
		status int
	}{
		{"customer", customer, area, http.StatusForbidden},
		{"slow zone without a cap", staff, map[string]any{"name": "X", "city": "berlin", "kind": "slow", "polygon": regRect(52.5, 13.3, 52.6, 13.4)}, http.StatusUnprocessableEntity},
		{"cap on an operating area", staff, map[string]any{"name": "X", "city": "berlin", "kind": "operating_area", "max_speed_kmh": 10, "polygon": regRect(52.5, 13.3, 52.6, 13.4)}, http.StatusUnprocessableEntity},
		{"unknown kind", staff, map[string]any{"name": "X", "city": "berlin", "kind": "no-go", "polygon": regRect(52.5, 13.3, 52.6, 13.4)}, http.StatusUnprocessableEntity},
		{"a whole country", staff, map[string]any{"name": "X", "city": "berlin", "kind": "no_parking", "polygon": regRect(47, 6, 55, 15)}, http.StatusUnprocessableEntity},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.expect(h.do(http.MethodPost, "/v1/zones", tt.token, tt.body, "bad-zone-"+string(rune('a'+i))), tt.status)
		})
	}

	h.expect(h.do(http.MethodPatch, "/v1/zones/"+sz.ID, staff, map[string]any{"max_speed_kmh": 8}, ""), http.StatusOK)
	if got := domain.SpeedLimitKmh(h.fleet.ZonesAt(mitte)); got != 8 {
		t.Fatalf("speed limit %d after the change, want 8", got)
	}
	h.expect(h.do(http.MethodPatch, "/v1/zones/"+sz.ID, staff, map[string]any{"kind": "no_parking"}, ""), http.StatusBadRequest)
	h.expect(h.do(http.MethodPatch, "/v1/zones/"+op.ID, customer, map[string]any{"active": false}, ""), http.StatusForbidden)
	h.expect(h.do(http.MethodPatch, "/v1/zones/"+op.ID, staff, map[string]any{"active": false}, ""), http.StatusOK)
	if in, _ := h.fleet.InOperatingArea(context.Background(), mitte); in {
		t.Fatal("deactivated operating area still in force")
	}
	h.expect(h.do(http.MethodGet, "/v1/zones/"+op.ID, customer, nil, ""), http.StatusNotFound)
	h.expect(h.do(http.MethodGet, "/v1/zones/"+op.ID, staff, nil, ""), http.StatusOK)
	h.expect(h.do(http.MethodGet, "/v1/zones/"+sz.ID, customer, nil, ""), http.StatusOK)
	h.expect(h.do(http.MethodPatch, "/v1/zones/nope", staff, map[string]any{"active": false}, ""), http.StatusNotFound)

	list := func(token, query string) []regZone {
		t.Helper()
		var page struct {
			Items []regZone `json:"items"`
		}
		h.expect(h.do(http.MethodGet, "/v1/zones"+query, token, nil, ""), http.StatusOK).decode(t, &page)
		return page.Items
	}
	if got := list(customer, ""); len(got) != 1 || got[0].ID != sz.ID {
		t.Fatalf("customer sees %+v", got)
	}
	if got := list(staff, "?kind=operating_area&city=Berlin"); len(got) != 1 || got[0].Active {
		t.Fatalf("staff sees %+v", got)
	}
	h.expect(h.do(http.MethodGet, "/v1/zones?kind=no-go", staff, nil, ""), http.StatusUnprocessableEntity)
}

// TestRegistryHTTP runs the customers and fleet suites against one loaded
// document and then checks that each of their operations was exercised
// (when every suite ran, i.e. without a -run filter narrowing them).
func TestRegistryHTTP(t *testing.T) {
	suites := []struct {
		name string
		run  func(*testing.T)
	}{
		{"sign-up", regTestSignUp}, {"profile", regTestCustomerProfile}, {"licence", regTestLicenceReview},
		{"block", regTestBlock}, {"customer-pages", regTestCustomersListPages},
		{"vehicles", regTestVehicles}, {"bays", regTestBays}, {"zones", regTestZones},
	}
	ran := 0
	for _, s := range suites {
		t.Run(s.name, func(t *testing.T) {
			ran++
			s.run(t)
		})
	}
	if ran < len(suites) || t.Failed() {
		return
	}
	ours := map[string]bool{}
	for _, id := range []string{"signUpCustomer", "listCustomers", "getCustomer", "updateCustomer", "submitLicence", "reviewLicence",
		"setPaymentMethod", "blockCustomer", "unblockCustomer", "createVehicle", "listVehicles", "getVehicle", "updateVehicle",
		"createBay", "listBays", "getBay", "updateBay", "createZone", "listZones", "getZone", "updateZone"} {
		ours[id] = true
	}
	for _, id := range regSpec(t).Unexercised() {
		if ours[id] {
			t.Errorf("operation %s was not exercised", id)
		}
	}
}
