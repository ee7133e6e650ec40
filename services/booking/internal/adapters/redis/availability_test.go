package redis

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mobilitycorp/platform/pkg/redisx/redistest"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
)

var (
	alex   = domain.Point{Lat: 52.5219, Lon: 13.4132} // Alexanderplatz
	inside = domain.AreaMatch{Inside: true, City: "berlin", ZoneID: "z-berlin"}
	t0     = time.Now().UTC().Truncate(time.Millisecond)
)

func newIndex(t testing.TB) *Index {
	t.Helper()
	rdb, keys := redistest.New(t)
	return NewIndex(rdb, keys)
}

// offset returns a point dx metres east and dy metres north of p.
func offset(p domain.Point, dx, dy float64) domain.Point {
	const mPerDegLat = 111_320.0
	return domain.Point{Lat: p.Lat + dy/mPerDegLat, Lon: p.Lon + dx/(mPerDegLat*0.6088)} // cos(52.52°)
}

type vehicle struct {
	id      string
	typ     domain.VehicleType
	at      domain.Point
	battery float64
	rangeKm float64
}

// addAvailable registers a vehicle and reports it inside the operating area.
func addAvailable(t testing.TB, ix *Index, v vehicle) {
	t.Helper()
	ctx := context.Background()
	if v.battery == 0 {
		v.battery = 80
	}
	if v.rangeKm == 0 {
		v.rangeKm = 30
	}
	if _, err := ix.ApplyRegistration(ctx, domain.Registration{VehicleID: v.id, VehicleType: v.typ, State: domain.RegistryActive, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	ok, err := ix.ApplyTelemetry(ctx, domain.Telemetry{VehicleID: v.id, VehicleType: v.typ, Position: v.at, BatteryPct: v.battery, RangeKm: v.rangeKm, Locked: true, RecordedAt: t0}, inside)
	if err != nil || !ok {
		t.Fatalf("telemetry of %s: applied=%v %v", v.id, ok, err)
	}
}

func search(t testing.TB, ix *Index, q domain.SearchQuery) []domain.IndexHit {
	t.Helper()
	if err := q.Normalize(); err != nil {
		t.Fatal(err)
	}
	hits, err := ix.Search(context.Background(), q, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

func ids(hits []domain.IndexHit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.VehicleID
	}
	return out
}

func contains(hits []domain.IndexHit, id string) bool {
	for _, h := range hits {
		if h.VehicleID == id {
			return true
		}
	}
	return false
}

// Every part of the rule hides the vehicle, and undoing it shows it again;
// the search and domain.LiveState.Available agree on each state.
func TestAvailabilityRule(t *testing.T) {
	ctx := context.Background()
	later := func(d time.Duration) time.Time { return t0.Add(d) }
	tests := []struct {
		name       string
		hide, show func(ix *Index, id string) error
	}{
		{"reserved or in a trip",
			func(ix *Index, id string) error { return ix.SetHeld(ctx, id, true) },
			func(ix *Index, id string) error { return ix.SetHeld(ctx, id, false) }},
		{"maintenance",
			func(ix *Index, id string) error { return ix.SetMaintenance(ctx, id, true) },
			func(ix *Index, id string) error { return ix.SetMaintenance(ctx, id, false) }},
		{"registry maintenance state",
			func(ix *Index, id string) error {
				_, err := ix.ApplyRegistration(ctx, domain.Registration{VehicleID: id, VehicleType: domain.EBike, State: domain.RegistryMaintenance, UpdatedAt: later(time.Second)})
				return err
			},
			func(ix *Index, id string) error {
				_, err := ix.ApplyRegistration(ctx, domain.Registration{VehicleID: id, VehicleType: domain.EBike, State: domain.RegistryActive, UpdatedAt: later(2 * time.Second)})
				return err
			}},
		{"retired",
			func(ix *Index, id string) error {
				_, err := ix.ApplyRegistration(ctx, domain.Registration{VehicleID: id, VehicleType: domain.EBike, State: domain.RegistryRetired, UpdatedAt: later(time.Second)})
				return err
			},
			func(ix *Index, id string) error {
				_, err := ix.ApplyRegistration(ctx, domain.Registration{VehicleID: id, VehicleType: domain.EBike, State: domain.RegistryActive, UpdatedAt: later(2 * time.Second)})
				return err
			}},
		{"deleted from the registry",
			func(ix *Index, id string) error { return ix.Unregister(ctx, id) },
			func(ix *Index, id string) error {
				_, err := ix.ApplyRegistration(ctx, domain.Registration{VehicleID: id, VehicleType: domain.EBike, State: domain.RegistryActive, UpdatedAt: later(time.Second)})
				return err
			}},
		{"offline",
			func(ix *Index, id string) error {
				_, err := ix.ApplyStatus(ctx, id, false, later(time.Second))
				return err
			},
			func(ix *Index, id string) error {
				_, err := ix.ApplyStatus(ctx, id, true, later(2*time.Second))
				return err
			}},
		{"left the operating area",
			func(ix *Index, id string) error {
				_, err := ix.ApplyTelemetry(ctx, domain.Telemetry{VehicleID: id, VehicleType: domain.EBike, Position: offset(alex, 100, 0), BatteryPct: 80, RangeKm: 30, RecordedAt: later(time.Second)}, domain.AreaMatch{})
				return err
			},
			func(ix *Index, id string) error {
				_, err := ix.ApplyTelemetry(ctx, domain.Telemetry{VehicleID: id, VehicleType: domain.EBike, Position: alex, BatteryPct: 80, RangeKm: 30, RecordedAt: later(2 * time.Second)}, inside)
				return err
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix := newIndex(t)
			addAvailable(t, ix, vehicle{id: "v1", typ: domain.EBike, at: alex})
			check := func(want bool) {
				t.Helper()
				found := contains(search(t, ix, domain.SearchQuery{Center: alex}), "v1")
				st, ok, err := ix.State(ctx, "v1")
				if err != nil || !ok {
					t.Fatalf("state: %v %v", ok, err)
				}
				if found != want || st.Available() != want {
					t.Fatalf("found by search = %v, state.Available() = %v, want %v (state %+v)", found, st.Available(), want, st)
				}
			}
			check(true)
			if err := tt.hide(ix, "v1"); err != nil {
				t.Fatal(err)
			}
			check(false)
			if err := tt.show(ix, "v1"); err != nil {
				t.Fatal(err)
			}
			check(true)
		})
	}
}

func TestUnregisteredVehicleIsNotListed(t *testing.T) {
	ix := newIndex(t)
	if _, err := ix.ApplyTelemetry(context.Background(), domain.Telemetry{VehicleID: "ghost", VehicleType: domain.EScooter, Position: alex, BatteryPct: 90, RangeKm: 20, RecordedAt: t0}, inside); err != nil {
		t.Fatal(err)
	}
	if hits := search(t, ix, domain.SearchQuery{Center: alex}); len(hits) != 0 {
		t.Fatalf("a vehicle unknown to the fleet registry is listed: %v", ids(hits))
	}
}

func TestOutOfOrderRecordsDoNotOverwriteNewerOnes(t *testing.T) {
	ctx := context.Background()
	ix := newIndex(t)
	addAvailable(t, ix, vehicle{id: "v1", typ: domain.EScooter, at: alex, battery: 70})

	newer := domain.Telemetry{VehicleID: "v1", VehicleType: domain.EScooter, Position: offset(alex, 200, 0), BatteryPct: 60, RangeKm: 20, RecordedAt: t0.Add(30 * time.Second)}
	older := domain.Telemetry{VehicleID: "v1", VehicleType: domain.EScooter, Position: offset(alex, 900, 0), BatteryPct: 65, RangeKm: 22, RecordedAt: t0.Add(10 * time.Second)}
	if ok, err := ix.ApplyTelemetry(ctx, newer, inside); err != nil || !ok {
		t.Fatalf("newer: %v %v", ok, err)
	}
	if ok, err := ix.ApplyTelemetry(ctx, older, inside); err != nil || ok {
		t.Fatalf("older report applied=%v (%v), want ignored", ok, err)
	}
	if ok, _ := ix.ApplyTelemetry(ctx, newer, inside); ok {
		t.Fatal("a duplicate report was applied again")
	}
	st, _, _ := ix.State(ctx, "v1")
	if st.BatteryPct != 60 || *st.Position != newer.Position || !st.ReportedAt.Equal(newer.RecordedAt) {
		t.Fatalf("state after out-of-order report = %+v, want the newer report", st)
	}
	hits := search(t, ix, domain.SearchQuery{Center: alex})
	if len(hits) != 1 || hits[0].BatteryPct != 60 || hits[0].DistanceM < 150 || hits[0].DistanceM > 250 {
		t.Fatalf("search = %+v, want v1 at about 200 m with 60%%", hits)
	}

	// Status: an offline change is not undone by an older report, only a newer one.
	if ok, _ := ix.ApplyStatus(ctx, "v1", false, t0.Add(40*time.Second)); !ok {
		t.Fatal("offline not applied")
	}
	if ok, _ := ix.ApplyStatus(ctx, "v1", true, t0.Add(35*time.Second)); ok {
		t.Fatal("an older online status overwrote a newer offline one")
	}
	late := newer
	late.RecordedAt = t0.Add(35 * time.Second)
	if _, err := ix.ApplyTelemetry(ctx, late, inside); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := ix.State(ctx, "v1"); st.Online {
		t.Fatal("a report from before the offline change brought the vehicle online")
	}
	late.RecordedAt = t0.Add(50 * time.Second)
	if _, err := ix.ApplyTelemetry(ctx, late, inside); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := ix.State(ctx, "v1"); !st.Online {
		t.Fatal("a report after the offline change did not bring the vehicle online")
	}

	// Registry records too.
	if ok, _ := ix.ApplyRegistration(ctx, domain.Registration{VehicleID: "v1", VehicleType: domain.EScooter, State: domain.RegistryRetired, UpdatedAt: t0.Add(-time.Hour)}); ok {
		t.Fatal("an older registry record was applied")
	}
}

func TestSearchRanksFiltersAndOversamples(t *testing.T) {
	ix := newIndex(t)
	// 30 scooters with flat batteries right at the centre, then charged
	// scooters and bikes further out, and one car.
	for i := range 30 {
		addAvailable(t, ix, vehicle{id: fmt.Sprintf("flat-%02d", i), typ: domain.EScooter, at: offset(alex, float64(i), 0), battery: 10, rangeKm: 3})
	}
	for i := range 5 {
		addAvailable(t, ix, vehicle{id: fmt.Sprintf("charged-%d", i), typ: domain.EScooter, at: offset(alex, 0, 100+float64(i)*50), battery: 90, rangeKm: 40})
		addAvailable(t, ix, vehicle{id: fmt.Sprintf("bike-%d", i), typ: domain.EBike, at: offset(alex, 0, -120-float64(i)*50), battery: 50, rangeKm: 25})
	}
	addAvailable(t, ix, vehicle{id: "car", typ: domain.Car, at: offset(alex, 300, 0), battery: 60, rangeKm: 200})
	addAvailable(t, ix, vehicle{id: "far", typ: domain.EScooter, at: offset(alex, 0, 800), battery: 90, rangeKm: 40})

	tests := []struct {
		name string
		q    domain.SearchQuery
		want []string
	}{
		{"charged first, nearest first", domain.SearchQuery{Center: alex, Limit: 4, VehicleType: domain.EScooter},
			[]string{"charged-0", "charged-1", "charged-2", "charged-3"}},
		{"flat batteries after charged ones", domain.SearchQuery{Center: alex, Limit: 8, VehicleType: domain.EScooter},
			[]string{"charged-0", "charged-1", "charged-2", "charged-3", "charged-4", "flat-00", "flat-01", "flat-02"}},
		{"type filter", domain.SearchQuery{Center: alex, Limit: 3, VehicleType: domain.EBike},
			[]string{"bike-0", "bike-1", "bike-2"}},
		{"all types merged by distance", domain.SearchQuery{Center: alex, Limit: 4, MinBatteryPct: 20},
			[]string{"charged-0", "bike-0", "charged-1", "bike-1"}},
		{"min battery oversamples past 30 flat scooters", domain.SearchQuery{Center: alex, Limit: 2, VehicleType: domain.EScooter, MinBatteryPct: 50},
			[]string{"charged-0", "charged-1"}},
		{"min range", domain.SearchQuery{Center: alex, Limit: 10, MinRangeKm: 100}, []string{"car"}},
		{"radius excludes the far scooter", domain.SearchQuery{Center: alex, Limit: 100, MinBatteryPct: 85}, []string{"charged-0", "charged-1", "charged-2", "charged-3", "charged-4"}},
		{"a wider radius finds it", domain.SearchQuery{Center: alex, RadiusM: 1000, Limit: 100, MinBatteryPct: 85}, []string{"charged-0", "charged-1", "charged-2", "charged-3", "charged-4", "far"}},
		{"nothing here", domain.SearchQuery{Center: offset(alex, 3000, 3000)}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hits := search(t, ix, tt.q)
			if got := ids(hits); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for _, h := range hits {
				if h.VehicleType == "" || h.City != "berlin" || h.ZoneID != "z-berlin" || h.ReportedAt.IsZero() {
					t.Fatalf("hit lacks data: %+v", h)
				}
			}
		})
	}
	h := search(t, ix, domain.SearchQuery{Center: alex, VehicleType: domain.Car})
	if len(h) != 1 || h[0].VehicleType != domain.Car || h[0].RangeKm != 200 || h[0].BatteryPct != 60 || h[0].DistanceM < 290 || h[0].DistanceM > 310 {
		t.Fatalf("car hit = %+v", h)
	}
}

func TestSearchDropsSilentVehicles(t *testing.T) {
	ix := newIndex(t)
	addAvailable(t, ix, vehicle{id: "v1", typ: domain.EBike, at: alex})
	q := domain.SearchQuery{Center: alex}
	if err := q.Normalize(); err != nil {
		t.Fatal(err)
	}
	if hits, _ := ix.Search(context.Background(), q, t0.Add(-time.Minute)); len(hits) != 1 {
		t.Fatalf("fresh vehicle not found: %v", ids(hits))
	}
	if hits, _ := ix.Search(context.Background(), q, t0.Add(time.Minute)); len(hits) != 0 {
		t.Fatalf("vehicle silent since before the cut-off listed: %v", ids(hits))
	}
}

func TestRegistryTypeWinsAndMovesSets(t *testing.T) {
	ctx := context.Background()
	ix := newIndex(t)
	addAvailable(t, ix, vehicle{id: "v1", typ: domain.Car, at: alex})
	if _, err := ix.ApplyRegistration(ctx, domain.Registration{VehicleID: "v1", VehicleType: domain.Van, State: domain.RegistryActive, UpdatedAt: t0.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	if h := search(t, ix, domain.SearchQuery{Center: alex, VehicleType: domain.Car}); len(h) != 0 {
		t.Fatalf("still listed as a car: %v", ids(h))
	}
	if h := search(t, ix, domain.SearchQuery{Center: alex, VehicleType: domain.Van}); len(h) != 1 {
		t.Fatalf("not listed as a van: %v", ids(h))
	}
	if h := search(t, ix, domain.SearchQuery{Center: alex}); len(h) != 1 || h[0].VehicleType != domain.Van {
		t.Fatalf("all types: %+v", h)
	}
}

func TestSetAreaAppliesOnlyToTheReportItWasComputedFor(t *testing.T) {
	ctx := context.Background()
	ix := newIndex(t)
	addAvailable(t, ix, vehicle{id: "v1", typ: domain.EBike, at: alex})
	if ok, err := ix.SetArea(ctx, "v1", t0.Add(-time.Second), domain.AreaMatch{}); err != nil || ok {
		t.Fatalf("area for an older report applied=%v %v", ok, err)
	}
	if st, _, _ := ix.State(ctx, "v1"); !st.InOperatingArea {
		t.Fatal("stale area evaluation overwrote the state")
	}
	if ok, err := ix.SetArea(ctx, "v1", t0, domain.AreaMatch{}); err != nil || !ok {
		t.Fatalf("area for the stored report: %v %v", ok, err)
	}
	if h := search(t, ix, domain.SearchQuery{Center: alex}); len(h) != 0 {
		t.Fatalf("vehicle outside every operating area listed: %v", ids(h))
	}
}

func TestPositionsWithinAndZoneFingerprints(t *testing.T) {
	ctx := context.Background()
	ix := newIndex(t)
	addAvailable(t, ix, vehicle{id: "in", typ: domain.EBike, at: alex})
	addAvailable(t, ix, vehicle{id: "out", typ: domain.EBike, at: offset(alex, 5000, 0)})
	ps, err := ix.PositionsWithin(ctx, offset(alex, -500, -500), offset(alex, 500, 500))
	if err != nil || len(ps) != 1 || ps[0].VehicleID != "in" || ps[0].Position != alex || !ps[0].ReportedAt.Equal(t0) {
		t.Fatalf("positions = %+v, %v", ps, err)
	}
	n, err := ix.SetAreas(ctx, []domain.AreaUpdate{
		{VehicleID: "in", ReportedAt: t0, Area: domain.AreaMatch{}},
		{VehicleID: "out", ReportedAt: t0.Add(-time.Second), Area: domain.AreaMatch{}}, // stale: ignored
	})
	if err != nil || n != 1 {
		t.Fatalf("SetAreas applied %d, %v; want 1", n, err)
	}
	if h := search(t, ix, domain.SearchQuery{Center: alex, RadiusM: 5000}); fmt.Sprint(ids(h)) != "[out]" {
		t.Fatalf("after SetAreas: %v, want [out]", ids(h))
	}
	if fp, err := ix.ZoneFingerprint(ctx, "z1"); err != nil || fp != "" {
		t.Fatalf("unset fingerprint = %q, %v", fp, err)
	}
	if err := ix.SetZoneFingerprint(ctx, "z1", "abc"); err != nil {
		t.Fatal(err)
	}
	if fp, _ := ix.ZoneFingerprint(ctx, "z1"); fp != "abc" {
		t.Fatalf("fingerprint = %q", fp)
	}
	if err := ix.SetZoneFingerprint(ctx, "z1", ""); err != nil {
		t.Fatal(err)
	}
	if fp, _ := ix.ZoneFingerprint(ctx, "z1"); fp != "" {
		t.Fatalf("deleted fingerprint = %q", fp)
	}
}

func TestRejectsUnusablePositions(t *testing.T) {
	ix := newIndex(t)
	for _, p := range []domain.Point{{Lat: 89, Lon: 13}, {Lat: 91, Lon: 0}} {
		if _, err := ix.ApplyTelemetry(context.Background(), domain.Telemetry{VehicleID: "v1", Position: p, RecordedAt: t0}, inside); err == nil {
			t.Errorf("position %v accepted", p)
		}
	}
}

// Beyond the exhaustive radius a search asks for the nearest with COUNT, and
// for more when filters or flat batteries leave too few: the charged
// vehicles behind 150 flat ones are still found, nearest first.
func TestWideSearchOversamples(t *testing.T) {
	ix := newIndex(t)
	for i := range 150 {
		addAvailable(t, ix, vehicle{id: fmt.Sprintf("flat-%03d", i), typ: domain.EScooter, at: offset(alex, float64(i), 0), battery: 5, rangeKm: 1})
	}
	for i := range 3 {
		addAvailable(t, ix, vehicle{id: fmt.Sprintf("charged-%d", i), typ: domain.EScooter, at: offset(alex, 0, 1000+float64(i)*100), battery: 90, rangeKm: 40})
	}
	tests := []struct {
		name string
		q    domain.SearchQuery
		want string
	}{
		{"min battery", domain.SearchQuery{Center: alex, RadiusM: 3000, Limit: 2, MinBatteryPct: 50}, "[charged-0 charged-1]"},
		{"charged ranked before flat", domain.SearchQuery{Center: alex, RadiusM: 3000, Limit: 4}, "[charged-0 charged-1 charged-2 flat-000]"},
		{"type filter and range", domain.SearchQuery{Center: alex, RadiusM: 5000, Limit: 10, VehicleType: domain.EScooter, MinRangeKm: 30}, "[charged-0 charged-1 charged-2]"},
	}
	for _, tt := range tests {
		if got := fmt.Sprint(ids(search(t, ix, tt.q))); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
}
