package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mobilitycorp/platform/pkg/auth"
	"github.com/mobilitycorp/platform/pkg/config"
	"github.com/mobilitycorp/platform/pkg/httpx/openapitest"
	"github.com/mobilitycorp/platform/pkg/idempotency"
	"github.com/mobilitycorp/platform/pkg/postgres/pgtest"
	"github.com/mobilitycorp/platform/pkg/redisx/redistest"
	"github.com/mobilitycorp/platform/services/booking/api"
	"github.com/mobilitycorp/platform/services/booking/internal/adapters/postgres"
	bredis "github.com/mobilitycorp/platform/services/booking/internal/adapters/redis"
	"github.com/mobilitycorp/platform/services/booking/internal/app"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
	bhttp "github.com/mobilitycorp/platform/services/booking/internal/ports/http"
	"github.com/mobilitycorp/platform/services/booking/migrations"
)

const availSecret config.Secret = "availability-tests-secret-of-at-least-32-bytes"

var availAlex = domain.Point{Lat: 52.5219, Lon: 13.4132}

// availHarness serves the availability and pricing routes behind real auth
// and idempotency, over a real Postgres and Redis, validating every exchange
// against the OpenAPI document.
type availHarness struct {
	t       *testing.T
	url     string
	client  *http.Client
	tr      *openapitest.Transport
	avail   *app.Availability
	pricing *app.Pricing
	db      *pgxpool.Pool
	signer  *auth.Signer
}

var availSpec *openapitest.Spec

func newAvailHarness(t *testing.T) *availHarness {
	t.Helper()
	ctx := context.Background()
	db := pgtest.New(t, migrations.Set())
	rdb, keys := redistest.New(t)
	pricing := app.NewPricing(postgres.NewPricingStore(db), app.PricingOptions{})
	avail := app.NewAvailability(bredis.NewIndex(rdb, keys), app.NewOperatingAreas(), pricing, app.AvailabilityOptions{})
	verifier, err := auth.NewVerifier(ctx, auth.Config{HS256Secret: availSecret, Issuer: "mobilitycorp", Audience: "mobility-api"})
	if err != nil {
		t.Fatal(err)
	}
	idem := idempotency.Middleware(db, idempotency.Options{Required: true})
	r := chi.NewRouter()
	r.Group(func(r chi.Router) {
		r.Use(verifier.Authenticate)
		bhttp.NewAvailabilityHandler(avail).Mount(r)
		bhttp.NewPricingHandler(pricing, avail, idem).Mount(r)
	})
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	if availSpec == nil {
		availSpec = openapitest.Load(t, api.Spec)
	}
	tr := availSpec.Transport(t, nil)
	return &availHarness{
		t: t, url: srv.URL, client: &http.Client{Transport: tr}, tr: tr, avail: avail, pricing: pricing, db: db,
		signer: auth.NewHS256Signer(availSecret, "mobilitycorp", "mobility-api"),
	}
}

func (h *availHarness) token(sub string, roles ...auth.Role) string {
	h.t.Helper()
	tok, err := h.signer.Mint(sub, roles, time.Hour)
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

type availResp struct {
	status int
	body   []byte
	header http.Header
}

func (r availResp) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// do sends a request; idemKey "" sends none.
func (h *availHarness) do(method, path, token string, body any, idemKey string) availResp {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, h.url+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return availResp{status: resp.StatusCode, body: b, header: resp.Header}
}

func (h *availHarness) expect(r availResp, status int) availResp {
	h.t.Helper()
	if r.status != status {
		h.t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	return r
}

// seed puts vehicles into the index: an operating area around Alexanderplatz
// and vehicles east of it at the given distances.
func (h *availHarness) seed(vs ...availVehicle) {
	h.t.Helper()
	ctx := context.Background()
	dLat, dLon := 3000/111_320.0, 3000/(111_320*0.6088)
	sw, ne := domain.Point{Lat: availAlex.Lat - dLat, Lon: availAlex.Lon - dLon}, domain.Point{Lat: availAlex.Lat + dLat, Lon: availAlex.Lon + dLon}
	pg := domain.Polygon{{sw, {Lat: sw.Lat, Lon: ne.Lon}, ne, {Lat: ne.Lat, Lon: sw.Lon}, sw}}
	if err := h.avail.UpsertOperatingArea(ctx, app.OperatingZone{ID: "berlin-mitte", City: "Berlin", Polygon: pg}); err != nil {
		h.t.Fatal(err)
	}
	now := time.Now().UTC()
	for _, v := range vs {
		if _, err := h.avail.ApplyRegistration(ctx, domain.Registration{VehicleID: v.id, VehicleType: v.typ, State: domain.RegistryActive, UpdatedAt: now}); err != nil {
			h.t.Fatal(err)
		}
		p := domain.Point{Lat: availAlex.Lat, Lon: availAlex.Lon + v.eastM/(111_320*0.6088)}
		if _, err := h.avail.ApplyTelemetry(ctx, domain.Telemetry{VehicleID: v.id, VehicleType: v.typ, Position: p, BatteryPct: v.battery, RangeKm: v.rangeKm, RecordedAt: now}); err != nil {
			h.t.Fatal(err)
		}
	}
}

type availVehicle struct {
	id      string
	typ     domain.VehicleType
	eastM   float64
	battery float64
	rangeKm float64
}

type availItem struct {
	VehicleID   string  `json:"vehicle_id"`
	VehicleType string  `json:"vehicle_type"`
	DistanceM   int64   `json:"distance_m"`
	BatteryPct  float64 `json:"battery_pct"`
	RangeKm     float64 `json:"range_km"`
	City        string  `json:"city"`
	ZoneID      string  `json:"zone_id"`
	Price       *struct {
		UnlockFee  domain.Money `json:"unlock_fee"`
		PerMinute  domain.Money `json:"per_minute"`
		Multiplier float64      `json:"multiplier"`
	} `json:"price"`
}

func availQuery(params map[string]string) string {
	v := url.Values{"lat": {fmt.Sprint(availAlex.Lat)}, "lon": {fmt.Sprint(availAlex.Lon)}}
	for k, val := range params {
		if val == "" {
			v.Del(k)
		} else {
			v.Set(k, val)
		}
	}
	return "/v1/vehicles/available?" + v.Encode()
}

func TestSearchAvailableVehiclesHTTP(t *testing.T) {
	h := newAvailHarness(t)
	h.seed(
		availVehicle{"s-near", domain.EScooter, 50, 80, 25},
		availVehicle{"s-flat", domain.EScooter, 20, 5, 1},
		availVehicle{"b-mid", domain.EBike, 300, 60, 40},
		availVehicle{"c-far", domain.Car, 700, 90, 300},
		availVehicle{"v-out", domain.Van, 4000, 90, 200}, // outside the operating area
	)
	customer := h.token("cust-1", auth.RoleCustomer)
	tests := []struct {
		name   string
		params map[string]string
		want   []string
	}{
		{"default radius 500 m, charged first", nil, []string{"s-near", "b-mid", "s-flat"}},
		{"wider radius", map[string]string{"radius_m": "1000"}, []string{"s-near", "b-mid", "c-far", "s-flat"}},
		{"type", map[string]string{"radius_m": "1000", "type": "car"}, []string{"c-far"}},
		{"min battery", map[string]string{"radius_m": "1000", "min_battery": "70"}, []string{"s-near", "c-far"}},
		{"min range", map[string]string{"radius_m": "5000", "min_range_km": "100"}, []string{"c-far"}},
		{"limit", map[string]string{"radius_m": "1000", "limit": "2"}, []string{"s-near", "b-mid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out struct {
				Items   []availItem `json:"items"`
				RadiusM int         `json:"radius_m"`
			}
			h.expect(h.do(http.MethodGet, availQuery(tt.params), customer, nil, ""), http.StatusOK).decode(t, &out)
			got := make([]string, len(out.Items))
			for i, it := range out.Items {
				got[i] = it.VehicleID
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}

	var out struct{ Items []availItem }
	h.expect(h.do(http.MethodGet, availQuery(map[string]string{"type": "escooter", "limit": "1"}), customer, nil, ""), http.StatusOK).decode(t, &out)
	s := out.Items[0]
	if s.DistanceM < 45 || s.DistanceM > 55 || s.BatteryPct != 80 || s.RangeKm != 25 || s.City != "berlin" || s.ZoneID != "berlin-mitte" ||
		s.Price == nil || s.Price.UnlockFee.AmountMinor != 100 || s.Price.PerMinute.AmountMinor != 30 || s.Price.Multiplier != 1 {
		t.Fatalf("scooter = %+v (price %+v)", s, s.Price)
	}
}

func TestSearchAvailableVehiclesRefusesBadInput(t *testing.T) {
	h := newAvailHarness(t)
	customer := h.token("cust-1", auth.RoleCustomer)
	tests := []struct {
		name   string
		params map[string]string
	}{
		{"no lat", map[string]string{"lat": ""}},
		{"lat not a number", map[string]string{"lat": "north"}},
		{"lat out of range", map[string]string{"lat": "95"}},
		{"radius over 5 km", map[string]string{"radius_m": "5001"}},
		{"radius zero", map[string]string{"radius_m": "0"}},
		{"limit over 100", map[string]string{"limit": "101"}},
		{"unknown type", map[string]string{"type": "tram"}},
		{"battery over 100", map[string]string{"min_battery": "101"}},
		{"negative range", map[string]string{"min_range_km": "-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.expect(h.do(http.MethodGet, availQuery(tt.params), customer, nil, ""), http.StatusUnprocessableEntity)
			if h.tr.LastRequestError() == nil {
				t.Fatalf("the document accepts a request the handler refuses: %s", r.body)
			}
		})
	}
	h.expect(h.do(http.MethodGet, availQuery(nil), "", nil, ""), http.StatusUnauthorized)
}

func TestHeldVehicleDisappearsFromSearchHTTP(t *testing.T) {
	h := newAvailHarness(t)
	h.seed(availVehicle{"s1", domain.EScooter, 50, 80, 25})
	customer := h.token("cust-1", auth.RoleCustomer)
	count := func() int {
		var out struct{ Items []availItem }
		h.expect(h.do(http.MethodGet, availQuery(nil), customer, nil, ""), http.StatusOK).decode(t, &out)
		return len(out.Items)
	}
	if count() != 1 {
		t.Fatal("free vehicle not listed")
	}
	if err := h.avail.MarkHeld(context.Background(), "s1"); err != nil {
		t.Fatal(err)
	}
	if count() != 0 {
		t.Fatal("held vehicle listed")
	}
	if err := h.avail.MarkFree(context.Background(), "s1"); err != nil {
		t.Fatal(err)
	}
	if count() != 1 {
		t.Fatal("freed vehicle not listed")
	}
}

func availJSONHas(t *testing.T, body []byte, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(string(body), w) {
			t.Fatalf("body %s lacks %s", body, w)
		}
	}
}
