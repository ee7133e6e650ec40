package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/services/booking/internal/adapters/postgres"
	"github.com/mobilitycorp/platform/services/booking/internal/app"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
)

var fleetNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fleetRec is a registry record for key, with a fresh event id.
func fleetRec(t *testing.T, kind, id string) app.RegistryRecord {
	t.Helper()
	e, err := events.New(events.TypeFleetVehicleUpsertedV1, events.SourceFleet, id, map[string]string{"id": id})
	if err != nil {
		t.Fatal(err)
	}
	return app.RegistryRecord{Key: events.RegistryKey(kind, id), Event: e}
}

// fleetOutbox returns the keys of the fleet.registry rows in the outbox, in order.
func fleetOutbox(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT record_key FROM outbox WHERE topic = $1 ORDER BY id`, events.TopicFleetRegistry)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	return keys
}

func fleetVehicle(t *testing.T, id string, typ domain.VehicleType, ident string) domain.Vehicle {
	t.Helper()
	v := domain.Vehicle{ID: id, Type: typ, Model: "m", RangeKm: 50, HomeCity: "berlin", UpdatedBy: "staff"}
	if typ.NeedsLicence() {
		v.Plate = ident
	} else {
		v.Serial = ident
	}
	v, err := domain.NewVehicle(v, fleetNow)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVehiclesPersistPublishAndConflict(t *testing.T) {
	ctx := context.Background()
	pool := custPool(t)
	repo := postgres.NewFleet(pool)

	car := fleetVehicle(t, "v1", domain.Car, "B-MC-1")
	if err := repo.CreateVehicle(ctx, car, fleetRec(t, "vehicle", "v1")); err != nil {
		t.Fatal(err)
	}
	got, err := repo.Vehicle(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Plate != "B-MC-1" || got.Serial != "" || got.Type != domain.Car || got.Status != domain.VehicleAvailable ||
		got.UpdatedBy != "staff" || !got.CreatedAt.Equal(fleetNow) {
		t.Fatalf("round trip: %+v", got)
	}

	tests := []struct {
		name string
		v    domain.Vehicle
	}{
		{"same plate", fleetVehicle(t, "v2", domain.Van, "B-MC-1")},
		{"same id", fleetVehicle(t, "v1", domain.Car, "B-MC-2")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := repo.CreateVehicle(ctx, tt.v, fleetRec(t, "vehicle", tt.v.ID)); !errors.Is(err, domain.ErrConflict) {
				t.Fatalf("CreateVehicle = %v, want ErrConflict", err)
			}
		})
	}
	if keys := fleetOutbox(t, pool); len(keys) != 1 || keys[0] != "vehicle:v1" {
		t.Fatalf("outbox = %v: a refused create published", keys)
	}

	// Retiring frees the plate for a new registration.
	retired := domain.VehicleRetired
	if _, err := repo.UpdateVehicle(ctx, "v1", func(v *domain.Vehicle) (*app.RegistryRecord, error) {
		_, err := v.Apply(domain.VehiclePatch{Status: &retired}, "staff", fleetNow)
		rec := fleetRec(t, "vehicle", "v1")
		return &rec, err
	}); err != nil {
		t.Fatal(err)
	}
	if err := repo.CreateVehicle(ctx, fleetVehicle(t, "v3", domain.Car, "B-MC-1"), fleetRec(t, "vehicle", "v3")); err != nil {
		t.Fatalf("plate of a retired vehicle: %v", err)
	}
	// An update whose closure publishes nothing writes nothing.
	if _, err := repo.UpdateVehicle(ctx, "v3", func(v *domain.Vehicle) (*app.RegistryRecord, error) {
		v.Model = "unsaved"
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	if v, _ := repo.Vehicle(ctx, "v3"); v.Model == "unsaved" {
		t.Fatal("an update without a record was written")
	}
	if keys := fleetOutbox(t, pool); len(keys) != 3 || keys[1] != "vehicle:v1" || keys[2] != "vehicle:v3" {
		t.Fatalf("outbox = %v", keys)
	}
	if _, err := repo.Vehicle(ctx, "ghost"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("unknown vehicle: %v", err)
	}
}

func TestVehiclesListFiltersAndPages(t *testing.T) {
	ctx := context.Background()
	repo := postgres.NewFleet(custPool(t))
	for _, v := range []domain.Vehicle{
		fleetVehicle(t, "a", domain.EBike, "S1"), fleetVehicle(t, "b", domain.Car, "P1"),
		fleetVehicle(t, "c", domain.EBike, "S2"), fleetVehicle(t, "d", domain.EScooter, "S3"),
	} {
		if v.ID == "c" {
			v.HomeCity = "paris"
		}
		if v.ID == "d" {
			v.Status = domain.VehicleMaintenance
		}
		if err := repo.CreateVehicle(ctx, v, fleetRec(t, "vehicle", v.ID)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		f     app.VehicleFilter
		after string
		limit int
		want  string
	}{
		{"all", app.VehicleFilter{}, "", 10, "abcd"},
		{"page 2", app.VehicleFilter{}, "b", 1, "c"},
		{"ebikes", app.VehicleFilter{Type: domain.EBike}, "", 10, "ac"},
		{"in maintenance", app.VehicleFilter{Status: domain.VehicleMaintenance}, "", 10, "d"},
		{"berlin", app.VehicleFilter{HomeCity: "berlin"}, "", 10, "abd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vs, err := repo.Vehicles(ctx, tt.f, tt.after, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			for _, v := range vs {
				got += v.ID
			}
			if got != tt.want {
				t.Fatalf("ids %q, want %q", got, tt.want)
			}
		})
	}
}

// The pending flag is set by creation and by status changes (not by other
// edits), survives a failed push, and clears on a successful one.
func TestMaintenanceSyncFlag(t *testing.T) {
	ctx := context.Background()
	repo := postgres.NewFleet(custPool(t))
	if err := repo.CreateVehicle(ctx, fleetVehicle(t, "v1", domain.EBike, "S1"), fleetRec(t, "vehicle", "v1")); err != nil {
		t.Fatal(err)
	}
	pending := func() []string {
		ids, err := repo.PendingMaintenance(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	if p := pending(); len(p) != 1 {
		t.Fatalf("new vehicle not pending: %v", p)
	}
	var pushed []domain.VehicleStatus
	ok := func(_ context.Context, st domain.VehicleStatus) error { pushed = append(pushed, st); return nil }
	fail := func(context.Context, domain.VehicleStatus) error { return errors.New("redis down") }

	if _, err := repo.SyncMaintenance(ctx, "v1", fail); err == nil {
		t.Fatal("failed push reported success")
	}
	if p := pending(); len(p) != 1 {
		t.Fatalf("failed push cleared the flag: %v", p)
	}
	if did, err := repo.SyncMaintenance(ctx, "v1", ok); err != nil || !did {
		t.Fatalf("sync: %v %v", did, err)
	}
	if did, _ := repo.SyncMaintenance(ctx, "v1", ok); did || len(pending()) != 0 {
		t.Fatalf("synced vehicle pushed again (%v) or still pending", did)
	}
	update := func(p domain.VehiclePatch) {
		t.Helper()
		if _, err := repo.UpdateVehicle(ctx, "v1", func(v *domain.Vehicle) (*app.RegistryRecord, error) {
			_, err := v.Apply(p, "staff", fleetNow)
			rec := fleetRec(t, "vehicle", "v1")
			return &rec, err
		}); err != nil {
			t.Fatal(err)
		}
	}
	model := "new model"
	update(domain.VehiclePatch{Model: &model})
	if p := pending(); len(p) != 0 {
		t.Fatalf("a model change needs no sync, yet pending: %v", p)
	}
	maint := domain.VehicleMaintenance
	update(domain.VehiclePatch{Status: &maint})
	if p := pending(); len(p) != 1 {
		t.Fatalf("status change not pending: %v", p)
	}
	if did, err := repo.SyncMaintenance(ctx, "v1", ok); err != nil || !did {
		t.Fatalf("sync: %v %v", did, err)
	}
	if len(pushed) != 2 || pushed[0] != domain.VehicleAvailable || pushed[1] != domain.VehicleMaintenance {
		t.Fatalf("pushed %v", pushed)
	}
}

func fleetBay(t *testing.T, id string, minLat, minLon, maxLat, maxLon float64, types ...domain.VehicleType) domain.Bay {
	t.Helper()
	b, err := domain.NewBay(domain.Bay{ID: id, Name: "bay " + id, City: "berlin", Capacity: 4, VehicleTypes: types, Chargers: 2,
		Polygon: domain.Polygon{{{Lat: minLat, Lon: minLon}, {Lat: minLat, Lon: maxLon}, {Lat: maxLat, Lon: maxLon},
			{Lat: maxLat, Lon: minLon}, {Lat: minLat, Lon: minLon}}}, UpdatedBy: "staff"}, fleetNow)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBaysSpatialLookup(t *testing.T) {
	ctx := context.Background()
	pool := custPool(t)
	repo := postgres.NewFleet(pool)
	for _, b := range []domain.Bay{
		fleetBay(t, "alex", 52.5210, 13.4110, 52.5215, 13.4120, domain.EBike, domain.Car),
		fleetBay(t, "zoo", 52.5070, 13.3320, 52.5075, 13.3330, domain.EScooter),
		fleetBay(t, "closed", 52.5210, 13.4110, 52.5215, 13.4120, domain.EBike),
	} {
		if err := repo.CreateBay(ctx, b, fleetRec(t, "bay", b.ID)); err != nil {
			t.Fatal(err)
		}
	}
	inactive := false
	if _, err := repo.UpdateBay(ctx, "closed", func(b *domain.Bay) (*app.RegistryRecord, error) {
		rec := fleetRec(t, "bay", "closed")
		return &rec, b.Apply(domain.BayPatch{Active: &inactive}, "staff", fleetNow)
	}); err != nil {
		t.Fatal(err)
	}
	got, err := repo.Bay(ctx, "alex")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Polygon) != 1 || len(got.Polygon[0]) != 5 || got.Polygon[0][1] != (domain.Point{Lat: 52.5210, Lon: 13.4120}) ||
		len(got.VehicleTypes) != 2 || got.Chargers != 2 || !got.Active {
		t.Fatalf("round trip: %+v", got)
	}
	ids := func(bs []domain.Bay) string {
		s := ""
		for _, b := range bs {
			s += b.ID + " "
		}
		return s
	}
	tests := []struct {
		name       string
		minP, maxP domain.Point
		want       string
	}{
		{"point in alex", domain.Point{Lat: 52.5212, Lon: 13.4115}, domain.Point{Lat: 52.5212, Lon: 13.4115}, "alex "},
		{"point between bays", domain.Point{Lat: 52.515, Lon: 13.38}, domain.Point{Lat: 52.515, Lon: 13.38}, ""},
		{"box over the centre", domain.Point{Lat: 52.50, Lon: 13.30}, domain.Point{Lat: 52.53, Lon: 13.42}, "alex zoo "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bs, err := repo.ActiveBaysIntersecting(ctx, tt.minP, tt.maxP)
			if err != nil {
				t.Fatal(err)
			}
			if ids(bs) != tt.want {
				t.Fatalf("bays %q, want %q (inactive bays never count)", ids(bs), tt.want)
			}
		})
	}
	yes := true
	bs, err := repo.Bays(ctx, app.BayFilter{City: "berlin", VehicleType: domain.EBike, Active: &yes}, "", 10)
	if err != nil || ids(bs) != "alex " {
		t.Fatalf("filtered list %q, %v", ids(bs), err)
	}
	// Nearest first, filtered by type, limited in the database.
	from := domain.Point{Lat: 52.5212, Lon: 13.4115}
	wide := [2]domain.Point{{Lat: 52.4, Lon: 13.2}, {Lat: 52.6, Lon: 13.6}}
	for _, tt := range []struct {
		t     domain.VehicleType
		limit int
		want  string
	}{{"", 10, "alex zoo "}, {"", 1, "alex "}, {domain.EScooter, 10, "zoo "}, {domain.Van, 10, ""}} {
		bs, err := repo.NearestActiveBays(ctx, from, wide[0], wide[1], tt.t, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		if ids(bs) != tt.want {
			t.Fatalf("nearest %q (limit %d): %q, want %q", tt.t, tt.limit, ids(bs), tt.want)
		}
	}
	// The spatial lookup uses the GiST index once the table is large enough to matter.
	var plan string
	if _, err := pool.Exec(ctx, "SET enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `EXPLAIN SELECT id FROM bays WHERE active AND bbox && '((13.41,52.52),(13.41,52.52))'::box`).Scan(&plan); err != nil {
		t.Fatal(err)
	}
	if want := "bays_bbox"; !strings.Contains(plan, want) {
		t.Fatalf("plan %q does not use %s", plan, want)
	}
}

func TestZonesFingerprintFollowsEveryWrite(t *testing.T) {
	ctx := context.Background()
	repo := postgres.NewFleet(custPool(t))
	fp := func() string {
		s, err := repo.ZonesFingerprint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	seen := map[string]bool{fp(): true}
	z, err := domain.NewZone(domain.Zone{ID: "z1", Name: "Mitte", City: "berlin", Kind: domain.ZoneSlow, MaxSpeedKmh: 10,
		Polygon:   domain.Polygon{{{Lat: 52.5, Lon: 13.3}, {Lat: 52.5, Lon: 13.4}, {Lat: 52.6, Lon: 13.4}, {Lat: 52.5, Lon: 13.3}}},
		UpdatedBy: "staff"}, fleetNow)
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.CreateZone(ctx, z, fleetRec(t, "zone", "z1")); err != nil {
		t.Fatal(err)
	}
	check := func(what string) {
		t.Helper()
		f := fp()
		if seen[f] {
			t.Fatalf("fingerprint %q did not change after %s", f, what)
		}
		seen[f] = true
	}
	check("create")
	for i, active := range []bool{false, true} {
		a := active
		if _, err := repo.UpdateZone(ctx, "z1", func(z *domain.Zone) (*app.RegistryRecord, error) {
			rec := fleetRec(t, "zone", "z1")
			return &rec, z.Apply(domain.ZonePatch{Active: &a}, "staff", fleetNow)
		}); err != nil {
			t.Fatal(err)
		}
		check("update " + string(rune('1'+i)))
	}
	zones, f, err := repo.ActiveZones(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(zones) != 1 || zones[0].MaxSpeedKmh != 10 || zones[0].Kind != domain.ZoneSlow || f != fp() {
		t.Fatalf("active zones %+v, fingerprint %q vs %q", zones, f, fp())
	}
	if _, err := repo.Zone(ctx, "nope"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("unknown zone: %v", err)
	}
}
