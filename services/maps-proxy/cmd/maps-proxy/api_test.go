package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mobilitycorp/platform/pkg/auth"
	"github.com/mobilitycorp/platform/pkg/service"
	"github.com/mobilitycorp/platform/pkg/service/servicetest"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/adapters/providerfake"
)

// client calls a running maps-proxy as a service caller with a development token.
type client struct {
	t     *testing.T
	base  string
	token string
}

func newClient(t *testing.T, s *servicetest.Service, role auth.Role) *client {
	t.Helper()
	tok, err := auth.NewHS256Signer(service.DevJWTSecret, "mobilitycorp", "mobility-api").Mint("booking", []auth.Role{role}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &client{t: t, base: s.URL, token: tok}
}

func (c *client) post(path string, body any, out any) int {
	c.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, c.base+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("decode %s: %v: %s", path, err, raw)
		}
	}
	return resp.StatusCode
}

type routeResponse struct {
	Routes []struct {
		DistanceMeters  float64 `json:"distance_meters"`
		DurationSeconds float64 `json:"duration_seconds"`
		Polyline        string  `json:"polyline"`
	} `json:"routes"`
	Source string `json:"source"`
}

type placesResponse struct {
	Places []struct {
		Name string `json:"name"`
	} `json:"places"`
	Source string `json:"source"`
}

var (
	alexanderplatz = map[string]float64{"lat": 52.5219, "lon": 13.4132}
	hauptbahnhof   = map[string]float64{"lat": 52.5251, "lon": 13.3694}
)

// With no provider configured (the development default) the service answers
// offline: routes from the estimator, places from the gazetteer.
func TestOfflineDefaults(t *testing.T) {
	s := servicetest.Start(t, envPrefix, run, nil)
	c := newClient(t, s, auth.RoleService)

	var route routeResponse
	if code := c.post("/v1/route", map[string]any{"from": hauptbahnhof, "to": alexanderplatz, "profile": "foot"}, &route); code != http.StatusOK {
		t.Fatalf("route status %d", code)
	}
	if route.Source != "estimate" || len(route.Routes) != 1 {
		t.Fatalf("route %+v, want one estimated route", route)
	}
	// 2.98 km crow-flies × 1.3 detour at 4.8 km/h ≈ 3.9 km, ≈ 48 min.
	if r := route.Routes[0]; r.DistanceMeters < 3700 || r.DistanceMeters > 4100 || r.DurationSeconds < 2700 || r.DurationSeconds > 3100 {
		t.Fatalf("estimated route %+v out of the expected range", r)
	}

	var places placesResponse
	if code := c.post("/v1/geocode", map[string]any{"query": "alexanderplatz"}, &places); code != http.StatusOK {
		t.Fatalf("geocode status %d", code)
	}
	if places.Source != "gazetteer" || len(places.Places) == 0 || !strings.Contains(places.Places[0].Name, "Alexanderplatz") {
		t.Fatalf("geocode %+v", places)
	}

	var etas struct {
		ETAs []struct {
			Reachable bool   `json:"reachable"`
			Source    string `json:"source"`
		} `json:"etas"`
	}
	if code := c.post("/v1/eta", map[string]any{"origin": hauptbahnhof, "destinations": []any{alexanderplatz, hauptbahnhof}, "profile": "scooter"}, &etas); code != http.StatusOK {
		t.Fatalf("eta status %d", code)
	}
	if len(etas.ETAs) != 2 || !etas.ETAs[0].Reachable || etas.ETAs[0].Source != "estimate" {
		t.Fatalf("etas %+v", etas)
	}

	if code := c.post("/v1/route", map[string]any{"from": map[string]float64{"lat": 91, "lon": 0}, "to": alexanderplatz}, nil); code != http.StatusUnprocessableEntity {
		t.Fatalf("invalid point: status %d, want 422", code)
	}
	if code := newClient(t, s, auth.RoleCustomer).post("/v1/route", map[string]any{"from": hauptbahnhof, "to": alexanderplatz}, nil); code != http.StatusForbidden {
		t.Fatalf("customer token: status %d, want 403", code)
	}
	resp, err := http.Get(s.URL + "/openapi.yaml")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/openapi.yaml: %v %v", err, resp)
	}
	resp.Body.Close()
}

// With OSRM first and Google second: answers come from OSRM and are cached; when
// OSRM fails Google answers; when both fail the estimator does. Google's key never
// reaches a response or the logs.
func TestProviderChainThroughTheAPI(t *testing.T) {
	const googleKey = "AIzaSy-test-key-that-must-not-leak"
	osrmFake := providerfake.NewOSRM(t)
	googleFake := providerfake.NewGoogle(t, googleKey)
	nominatimFake := providerfake.NewNominatim(t)
	s := servicetest.Start(t, envPrefix, run, map[string]string{
		"ROUTE_PROVIDERS":   "osrm,google",
		"MATRIX_PROVIDERS":  "osrm,google",
		"GEOCODE_PROVIDERS": "nominatim,google",
		"OSRM_URL":          osrmFake.URL(),
		"NOMINATIM_URL":     nominatimFake.URL(),
		"GOOGLE_URL":        googleFake.URL(),
		"GOOGLE_API_KEY":    googleKey,
		"OSRM_TIMEOUT":      "500ms",
		"LOG_LEVEL":         "debug",
	})
	c := newClient(t, s, auth.RoleStaff)
	req := map[string]any{"from": hauptbahnhof, "to": alexanderplatz, "profile": "bike"}

	var first, second routeResponse
	if code := c.post("/v1/route", req, &first); code != http.StatusOK || first.Source != "osrm" {
		t.Fatalf("first route: %d %+v", code, first)
	}
	if code := c.post("/v1/route", req, &second); code != http.StatusOK || second.Source != first.Source || second.Routes[0] != first.Routes[0] {
		t.Fatalf("cached route differs: %+v vs %+v", second, first)
	}
	if n := osrmFake.Calls("route"); n != 1 {
		t.Fatalf("osrm route calls = %d, want 1 (second answer from cache)", n)
	}

	// A different trip while OSRM is down: Google answers.
	osrmFake.SetMode(providerfake.ModeServerError())
	other := map[string]any{"from": alexanderplatz, "to": hauptbahnhof, "profile": "car"}
	var viaGoogle routeResponse
	if code := c.post("/v1/route", other, &viaGoogle); code != http.StatusOK || viaGoogle.Source != "google" {
		t.Fatalf("fallback route: %d %+v", code, viaGoogle)
	}
	if q := googleFake.LastQuery(); q.Get("mode") != "driving" || q.Get("key") != googleKey {
		t.Fatalf("google got %v", q)
	}

	// Both down: still 200, from the estimator.
	googleFake.SetMode(providerfake.ModeRateLimited("30"))
	third := map[string]any{"from": alexanderplatz, "to": map[string]float64{"lat": 52.50, "lon": 13.45}, "profile": "scooter"}
	var estimated routeResponse
	if code := c.post("/v1/route", third, &estimated); code != http.StatusOK || estimated.Source != "estimate" {
		t.Fatalf("all providers down: %d %+v", code, estimated)
	}

	var places placesResponse
	if code := c.post("/v1/geocode", map[string]any{"query": "Brandenburger Tor", "language": "de", "country": "de"}, &places); code != http.StatusOK || places.Source != "nominatim" || len(places.Places) == 0 {
		t.Fatalf("geocode: %d %+v", code, places)
	}

	metrics := get(t, s.URL+"/metrics")
	for _, want := range []string{`maps_fallbacks_total{capability="route",to="estimate"}`, `maps_cache_hits_total{capability="route",layer="memory"}`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(metrics, googleKey) {
		t.Fatal("google key in /metrics")
	}
	if !strings.Contains(s.Logs(), "MAPS_GOOGLE_API_KEY") {
		t.Fatal("start-up config line missing from logs")
	}
	if strings.Contains(s.Logs(), googleKey) {
		t.Fatal("google key in the service's logs")
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
