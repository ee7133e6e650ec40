package app_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mobilitycorp/platform/pkg/postgres/pgtest"
	"github.com/mobilitycorp/platform/pkg/redisx/redistest"
	"github.com/mobilitycorp/platform/services/booking/internal/adapters/postgres"
	bredis "github.com/mobilitycorp/platform/services/booking/internal/adapters/redis"
	"github.com/mobilitycorp/platform/services/booking/internal/app"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
	"github.com/mobilitycorp/platform/services/booking/migrations"
)

var alexanderplatz = domain.Point{Lat: 52.5219, Lon: 13.4132}

// availSquare is a closed ring around c reaching half metres each way.
func availSquare(c domain.Point, half float64) domain.Polygon {
	dLat, dLon := half/111_320, half/(111_320*0.6088)
	sw, ne := domain.Point{Lat: c.Lat - dLat, Lon: c.Lon - dLon}, domain.Point{Lat: c.Lat + dLat, Lon: c.Lon + dLon}
	return domain.Polygon{{sw, {Lat: sw.Lat, Lon: ne.Lon}, ne, {Lat: ne.Lat, Lon: sw.Lon}, sw}}
}

func availEast(p domain.Point, m float64) domain.Point {
	return domain.Point{Lat: p.Lat, Lon: p.Lon + m/(111_320*0.6088)}
}

type availFixture struct {
	avail   *app.Availability
	pricing *app.Pricing
	index   *bredis.Index
	store   *postgres.PricingStore
}

func newAvailFixture(t *testing.T) availFixture {
	t.Helper()
	rdb, keys := redistest.New(t)
	store := postgres.NewPricingStore(pgtest.New(t, migrations.Set()))
	pricing := app.NewPricing(store, app.PricingOptions{})
	index := bredis.NewIndex(rdb, keys)
	return availFixture{
		avail:   app.NewAvailability(index, app.NewOperatingAreas(), pricing, app.AvailabilityOptions{}),
		pricing: pricing, index: index, store: store,
	}
}

func (f availFixture) report(t *testing.T, id string, typ domain.VehicleType, at domain.Point, when time.Time) {
	t.Helper()
	ctx := context.Background()
	if _, err := f.avail.ApplyRegistration(ctx, domain.Registration{VehicleID: id, VehicleType: typ, State: domain.RegistryActive, UpdatedAt: when}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.avail.ApplyTelemetry(ctx, domain.Telemetry{VehicleID: id, VehicleType: typ, Position: at, BatteryPct: 77, RangeKm: 31, RecordedAt: when}); err != nil {
		t.Fatal(err)
	}
}

func (f availFixture) found(t *testing.T, q domain.SearchQuery) []string {
	t.Helper()
	res, err := f.avail.Search(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, v := range res {
		out = append(out, v.VehicleID)
	}
	return out
}

func TestSearchCarriesTheCurrentPrice(t *testing.T) {
	ctx := context.Background()
	f := newAvailFixture(t)
	if err := f.avail.UpsertOperatingArea(ctx, app.OperatingZone{ID: "mitte", City: "Berlin", Polygon: availSquare(alexanderplatz, 2000)}); err != nil {
		t.Fatal(err)
	}
	if err := f.avail.UpsertOperatingArea(ctx, app.OperatingZone{ID: "nowhere", City: "Atlantis", Polygon: availSquare(availEast(alexanderplatz, 10_000), 500)}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	f.report(t, "scooter", domain.EScooter, alexanderplatz, now)
	f.report(t, "car", domain.Car, availEast(alexanderplatz, 100), now)
	f.report(t, "unpriced", domain.EBike, availEast(alexanderplatz, 10_000), now)

	res, err := f.avail.Search(ctx, domain.SearchQuery{Center: alexanderplatz})
	if err != nil || len(res) != 2 {
		t.Fatalf("search = %+v, %v", res, err)
	}
	s := res[0]
	if s.VehicleID != "scooter" || s.Price == nil || s.Price.UnlockFee.AmountMinor != 100 || s.Price.PerMinute.AmountMinor != 30 ||
		s.BatteryPct != 77 || s.RangeKm != 31 || s.City != "berlin" || s.ZoneID != "mitte" {
		t.Fatalf("scooter result = %+v (price %+v)", s, s.Price)
	}

	// A multiplier for the zone reaches search results at once on this instance.
	if _, err := f.pricing.RequestMultiplier(ctx, "staff-1", "berlin", "mitte", 200, "concert"); err != nil {
		t.Fatal(err)
	}
	res, _ = f.avail.Search(ctx, domain.SearchQuery{Center: alexanderplatz, VehicleType: domain.Car})
	if len(res) != 1 || res[0].Price == nil || res[0].Price.Multiplier != 200 || res[0].Price.PerMinute.AmountMinor != 90 || res[0].Price.UnlockFee.AmountMinor != 100 {
		t.Fatalf("car at 2.00x = %+v", res)
	}
	// A vehicle in a city without a tariff is listed without a price.
	res, _ = f.avail.Search(ctx, domain.SearchQuery{Center: availEast(alexanderplatz, 10_000)})
	if len(res) != 1 || res[0].Price != nil {
		t.Fatalf("unpriced = %+v", res)
	}

	if _, err := f.avail.Search(ctx, domain.SearchQuery{Center: alexanderplatz, RadiusM: 5001}); !errors.Is(err, domain.ErrInvalid) {
		t.Fatalf("radius over 5000 m: %v", err)
	}
}

func TestOperatingAreaChangesReachStoredVehicles(t *testing.T) {
	ctx := context.Background()
	f := newAvailFixture(t)
	now := time.Now().UTC()
	near := availEast(alexanderplatz, 900) // inside the 1 km square, outside the 500 m one
	// Reported before any zone is known: outside every operating area.
	f.report(t, "center", domain.EBike, alexanderplatz, now)
	f.report(t, "near", domain.EBike, near, now)
	q := domain.SearchQuery{Center: alexanderplatz, RadiusM: 2000}
	if got := f.found(t, q); len(got) != 0 {
		t.Fatalf("before any zone: %v", got)
	}

	steps := []struct {
		name string
		do   func() error
		want string
	}{
		{"zone appears", func() error {
			return f.avail.UpsertOperatingArea(ctx, app.OperatingZone{ID: "z1", City: "berlin", Polygon: availSquare(alexanderplatz, 1000)})
		}, "[center near]"},
		{"zone shrinks", func() error {
			return f.avail.UpsertOperatingArea(ctx, app.OperatingZone{ID: "z1", City: "berlin", Polygon: availSquare(alexanderplatz, 500)})
		}, "[center]"},
		{"zone removed", func() error { return f.avail.RemoveOperatingArea(ctx, "z1") }, "[]"},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := fmt.Sprint(f.found(t, q)); got != s.want {
			t.Fatalf("%s: found %s, want %s", s.name, got, s.want)
		}
	}

	// Another instance that never held the zone in memory still re-evaluates
	// on a removal, from the outline the index recorded.
	if err := f.avail.UpsertOperatingArea(ctx, app.OperatingZone{ID: "z2", City: "berlin", Polygon: availSquare(alexanderplatz, 1000)}); err != nil {
		t.Fatal(err)
	}
	other := app.NewAvailability(f.index, app.NewOperatingAreas(), f.pricing, app.AvailabilityOptions{})
	if err := other.RemoveOperatingArea(ctx, "z2"); err != nil {
		t.Fatal(err)
	}
	if got := f.found(t, q); len(got) != 0 {
		t.Fatalf("after removal by another instance: %v", got)
	}
}

func TestLocateUsesTheLowestZoneIDWhereAreasOverlap(t *testing.T) {
	a := app.NewOperatingAreas()
	a.Upsert("b", "berlin", availSquare(alexanderplatz, 1000))
	a.Upsert("a", "berlin", availSquare(alexanderplatz, 500))
	if m := a.Locate(alexanderplatz); !m.Inside || m.ZoneID != "a" || m.City != "berlin" {
		t.Fatalf("Locate = %+v", m)
	}
	if m := a.Locate(availEast(alexanderplatz, 800)); m.ZoneID != "b" {
		t.Fatalf("Locate in b only = %+v", m)
	}
	a.Remove("b")
	if m := a.Locate(availEast(alexanderplatz, 800)); m.Inside {
		t.Fatalf("Locate after removal = %+v", m)
	}
	select {
	case <-a.Ready():
		t.Fatal("ready before MarkReady")
	default:
	}
	a.MarkReady()
	a.MarkReady()
	<-a.Ready()
}

func TestHoldsAndMaintenance(t *testing.T) {
	ctx := context.Background()
	f := newAvailFixture(t)
	if err := f.avail.UpsertOperatingArea(ctx, app.OperatingZone{ID: "z1", City: "berlin", Polygon: availSquare(alexanderplatz, 1000)}); err != nil {
		t.Fatal(err)
	}
	f.report(t, "v1", domain.EScooter, alexanderplatz, time.Now().UTC())
	q := domain.SearchQuery{Center: alexanderplatz}
	steps := []struct {
		name string
		do   func() error
		want int
	}{
		{"held", func() error { return f.avail.MarkHeld(ctx, "v1") }, 0},
		{"free", func() error { return f.avail.MarkFree(ctx, "v1") }, 1},
		{"maintenance", func() error { return f.avail.SetMaintenance(ctx, "v1", true) }, 0},
		{"back in service", func() error { return f.avail.SetMaintenance(ctx, "v1", false) }, 1},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatal(err)
		}
		if got := f.found(t, q); len(got) != s.want {
			t.Fatalf("%s: found %v, want %d", s.name, got, s.want)
		}
	}
	st, err := f.avail.State(ctx, "v1")
	if err != nil || st.City != "berlin" || st.BatteryPct != 77 || !st.Available() {
		t.Fatalf("state = %+v, %v", st, err)
	}
	if _, err := f.avail.State(ctx, "never"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("unknown vehicle: %v", err)
	}
}

func TestSilentVehiclesAreHidden(t *testing.T) {
	ctx := context.Background()
	rdb, keys := redistest.New(t)
	index := bredis.NewIndex(rdb, keys)
	pricing := app.NewPricing(postgres.NewPricingStore(pgtest.New(t, migrations.Set())), app.PricingOptions{})
	now := time.Now().UTC()
	clock := now
	avail := app.NewAvailability(index, app.NewOperatingAreas(), pricing, app.AvailabilityOptions{MaxReportAge: 10 * time.Minute, Now: func() time.Time { return clock }})
	if err := avail.UpsertOperatingArea(ctx, app.OperatingZone{ID: "z1", City: "berlin", Polygon: availSquare(alexanderplatz, 1000)}); err != nil {
		t.Fatal(err)
	}
	if _, err := avail.ApplyRegistration(ctx, domain.Registration{VehicleID: "v1", VehicleType: domain.EBike, State: domain.RegistryActive, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := avail.ApplyTelemetry(ctx, domain.Telemetry{VehicleID: "v1", VehicleType: domain.EBike, Position: alexanderplatz, BatteryPct: 50, RangeKm: 20, RecordedAt: now}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		after time.Duration
		want  int
	}{{time.Minute, 1}, {11 * time.Minute, 0}} {
		clock = now.Add(tt.after)
		res, err := avail.Search(ctx, domain.SearchQuery{Center: alexanderplatz})
		if err != nil || len(res) != tt.want {
			t.Fatalf("%s after the last report: %d results (%v), want %d", tt.after, len(res), err, tt.want)
		}
	}
}

// raceIndex runs a hook just before a report is stored, to place an area
// change between the report's area lookup and its write.
type raceIndex struct {
	app.AvailabilityIndex
	before func()
}

func (r *raceIndex) ApplyTelemetry(ctx context.Context, t domain.Telemetry, area domain.AreaMatch) (bool, error) {
	if r.before != nil {
		hook := r.before
		r.before = nil
		hook()
	}
	return r.AvailabilityIndex.ApplyTelemetry(ctx, t, area)
}

// An operating area that appears while a report is in flight: the area's
// re-evaluation ran before the report landed, with the area computed before
// the area existed, and the report is corrected rather than left outside.
func TestAreaChangeDuringAReportIsNotLost(t *testing.T) {
	ctx := context.Background()
	rdb, keys := redistest.New(t)
	pricing := app.NewPricing(postgres.NewPricingStore(pgtest.New(t, migrations.Set())), app.PricingOptions{})
	ri := &raceIndex{AvailabilityIndex: bredis.NewIndex(rdb, keys)}
	avail := app.NewAvailability(ri, app.NewOperatingAreas(), pricing, app.AvailabilityOptions{})
	now := time.Now().UTC()
	if _, err := avail.ApplyRegistration(ctx, domain.Registration{VehicleID: "v1", VehicleType: domain.EBike, State: domain.RegistryActive, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	ri.before = func() {
		if err := avail.UpsertOperatingArea(ctx, app.OperatingZone{ID: "z1", City: "berlin", Polygon: availSquare(alexanderplatz, 1000)}); err != nil {
			t.Error(err)
		}
	}
	if _, err := avail.ApplyTelemetry(ctx, domain.Telemetry{VehicleID: "v1", VehicleType: domain.EBike, Position: alexanderplatz, BatteryPct: 50, RangeKm: 20, RecordedAt: now}); err != nil {
		t.Fatal(err)
	}
	st, err := avail.State(ctx, "v1")
	if err != nil || !st.InOperatingArea || st.ZoneID != "z1" || !st.Available() {
		t.Fatalf("state = %+v, %v; want inside z1 and available", st, err)
	}
}
