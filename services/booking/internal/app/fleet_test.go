package app_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/kafka"
	"github.com/mobilitycorp/platform/pkg/kafka/kafkatest"
	"github.com/mobilitycorp/platform/pkg/outbox"
	"github.com/mobilitycorp/platform/pkg/postgres/pgtest"
	"github.com/mobilitycorp/platform/pkg/redisx/redistest"
	"github.com/mobilitycorp/platform/services/booking/internal/adapters/postgres"
	bredis "github.com/mobilitycorp/platform/services/booking/internal/adapters/redis"
	"github.com/mobilitycorp/platform/services/booking/internal/app"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
	"github.com/mobilitycorp/platform/services/booking/migrations"
)

// The fleet registry satisfies what reservations and trips declared they need.
var (
	_ app.VehicleCatalog = (*app.Fleet)(nil)
	_ app.PlaceLocator   = (*app.Fleet)(nil)
	_ app.FaultReporter  = (*app.Fleet)(nil)
)

// flListener records maintenance calls; failing makes it refuse them.
type flListener struct {
	mu      sync.Mutex
	calls   []string
	state   map[string]bool
	failing bool
}

func (l *flListener) SetMaintenance(_ context.Context, id string, on bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failing {
		return errors.New("index unavailable")
	}
	if l.state == nil {
		l.state = map[string]bool{}
	}
	l.state[id] = on
	l.calls = append(l.calls, id)
	return nil
}

func (l *flListener) get(id string) (on, known bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	on, known = l.state[id]
	return on, known
}

func (l *flListener) setFailing(f bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failing = f
}

func flFleet(t *testing.T, pool *pgxpool.Pool, l app.MaintenanceListener) *app.Fleet {
	t.Helper()
	opts := app.FleetOptions{Logger: slog.New(slog.DiscardHandler)}
	if l != nil {
		opts.Listener = l
	}
	f := app.NewFleet(postgres.NewFleet(pool), opts)
	if err := f.RefreshZones(context.Background()); err != nil {
		t.Fatal(err)
	}
	return f
}

func flRect(minLat, minLon, maxLat, maxLon float64) domain.Polygon {
	return domain.Polygon{{{Lat: minLat, Lon: minLon}, {Lat: minLat, Lon: maxLon}, {Lat: maxLat, Lon: maxLon},
		{Lat: maxLat, Lon: minLon}, {Lat: minLat, Lon: minLon}}}
}

func flScooter(serial string) domain.Vehicle {
	return domain.Vehicle{Type: domain.EScooter, Model: "G30", Serial: serial, RangeKm: 40, HomeCity: "Berlin"}
}

func TestMaintenanceReachesTheListener(t *testing.T) {
	ctx := context.Background()
	l := &flListener{}
	f := flFleet(t, pgtest.New(t, migrations.Set()), l)
	st := func(s domain.VehicleStatus) *domain.VehicleStatus { return &s }

	v, err := f.CreateVehicle(ctx, "staff-1", flScooter("SN-1"))
	if err != nil {
		t.Fatal(err)
	}
	if on, known := l.get(v.ID); !known || on {
		t.Fatalf("new available vehicle: listener state %v (known %v), want false", on, known)
	}
	steps := []struct {
		name  string
		patch domain.VehiclePatch
		want  bool
	}{
		{"to maintenance", domain.VehiclePatch{Status: st(domain.VehicleMaintenance)}, true},
		{"back to service", domain.VehiclePatch{Status: st(domain.VehicleAvailable)}, false},
		{"retired counts as out of service", domain.VehiclePatch{Status: st(domain.VehicleRetired)}, true},
	}
	for _, s := range steps {
		if _, err := f.UpdateVehicle(ctx, "staff-1", v.ID, s.patch); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if on, _ := l.get(v.ID); on != s.want {
			t.Fatalf("%s: listener says %v, want %v", s.name, on, s.want)
		}
	}
	calls := len(l.calls)
	if _, err := f.UpdateVehicle(ctx, "staff-1", v.ID, domain.VehiclePatch{Status: st(domain.VehicleAvailable)}); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("reviving a retired vehicle: %v, want ErrConflict", err)
	}
	if len(l.calls) != calls {
		t.Fatal("a refused change reached the listener")
	}
}

// With area B's real index (Redis) as the listener, a vehicle sent to
// maintenance is marked so in the index and stops being available, and
// comes back when it is available again.
func TestMaintenanceReachesTheAvailabilityIndex(t *testing.T) {
	ctx := context.Background()
	rdb, keys := redistest.New(t)
	index := bredis.NewIndex(rdb, keys)
	avail := app.NewAvailability(index, app.NewOperatingAreas(), nil, app.AvailabilityOptions{Logger: slog.New(slog.DiscardHandler)})
	f := flFleet(t, pgtest.New(t, migrations.Set()), avail)

	v, err := f.CreateVehicle(ctx, "staff-1", flScooter("SN-1"))
	if err != nil {
		t.Fatal(err)
	}
	maintenance := func() bool {
		t.Helper()
		st, found, err := index.State(ctx, v.ID)
		if err != nil || !found {
			t.Fatalf("index state of %s: found %v, %v", v.ID, found, err)
		}
		return st.Maintenance
	}
	if maintenance() {
		t.Fatal("new available vehicle is in maintenance in the index")
	}
	if err := f.ReportFault(ctx, v.ID, "trip-1", "brakes", ""); err != nil {
		t.Fatal(err)
	}
	if !maintenance() {
		t.Fatal("faulty vehicle not in maintenance in the index")
	}
	avail2 := domain.VehicleAvailable
	if _, err := f.UpdateVehicle(ctx, "staff-1", v.ID, domain.VehiclePatch{Status: &avail2}); err != nil {
		t.Fatal(err)
	}
	if maintenance() {
		t.Fatal("repaired vehicle still in maintenance in the index")
	}
}

// When the index is down the change still commits; the sweeper delivers it later.
func TestMaintenanceSweeperRetries(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t, migrations.Set())
	l := &flListener{}
	f := flFleet(t, pool, l)
	v, err := f.CreateVehicle(ctx, "staff-1", flScooter("SN-1"))
	if err != nil {
		t.Fatal(err)
	}
	l.setFailing(true)
	got, err := f.SendToMaintenance(ctx, "staff-1", v.ID, "wobbly stem")
	if err != nil || got.Status != domain.VehicleMaintenance || got.MaintenanceNote != "wobbly stem" {
		t.Fatalf("SendToMaintenance with the index down: %+v, %v", got, err)
	}
	if n, err := f.SyncPendingMaintenance(ctx); err == nil || n != 0 {
		t.Fatalf("sweep with the index down: %d, %v", n, err)
	}
	if on, _ := l.get(v.ID); on {
		t.Fatal("listener updated while failing")
	}
	l.setFailing(false)
	if n, err := f.SyncPendingMaintenance(ctx); err != nil || n != 1 {
		t.Fatalf("sweep: %d, %v; want 1 pushed", n, err)
	}
	if on, _ := l.get(v.ID); !on {
		t.Fatal("sweeper did not deliver the maintenance")
	}
	if n, _ := f.SyncPendingMaintenance(ctx); n != 0 {
		t.Fatalf("second sweep pushed %d again", n)
	}

	// A registry built without a listener keeps changes pending; the first
	// sweep of one wired later catches up (and RunMaintenanceSync sweeps at once).
	bare := flFleet(t, pool, nil)
	v2, err := bare.CreateVehicle(ctx, "staff-1", flScooter("SN-2"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bare.SendToMaintenance(ctx, "staff-1", v2.ID, "flat"); err != nil {
		t.Fatal(err)
	}
	late := &flListener{}
	wired := app.NewFleet(postgres.NewFleet(pool), app.FleetOptions{Listener: late, MaintenanceSweep: time.Hour})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- wired.RunMaintenanceSync(runCtx) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if on, _ := late.get(v2.ID); on {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("RunMaintenanceSync did not catch up")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("RunMaintenanceSync: %v", err)
	}
}

func TestSendToMaintenanceAndReportFault(t *testing.T) {
	ctx := context.Background()
	l := &flListener{}
	f := flFleet(t, pgtest.New(t, migrations.Set()), l)
	v, err := f.CreateVehicle(ctx, "staff-1", flScooter("SN-1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.ReportFault(ctx, v.ID, "trip-9", "brakes", "rear brake does not grip"); err != nil {
		t.Fatal(err)
	}
	got, err := f.Vehicle(ctx, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != domain.VehicleMaintenance || got.UpdatedBy != app.FaultReportedBy ||
		got.MaintenanceNote != "fault reported on trip trip-9: brakes: rear brake does not grip" {
		t.Fatalf("after fault: %+v", got)
	}
	calls := len(l.calls)
	// A second report, and one on a retired vehicle, change nothing.
	if err := f.ReportFault(ctx, v.ID, "trip-10", "bell", ""); err != nil {
		t.Fatal(err)
	}
	if again, _ := f.Vehicle(ctx, v.ID); again.MaintenanceNote != got.MaintenanceNote || len(l.calls) != calls {
		t.Fatalf("second report changed the vehicle: %+v", again)
	}
	if bv, err := f.BookableVehicle(ctx, v.ID); err != nil || bv.InService || bv.City != "berlin" || bv.Type != domain.EScooter {
		t.Fatalf("BookableVehicle = %+v, %v", bv, err)
	}
	if err := f.ReportFault(ctx, "ghost", "t", "c", ""); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("unknown vehicle: %v", err)
	}
}

// Zones are answered from memory: this replica's writes at once, another
// replica's after a refresh.
func TestZoneIndexFollowsWrites(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t, migrations.Set())
	f := flFleet(t, pool, nil)
	other := flFleet(t, pool, nil)
	mitte := domain.Point{Lat: 52.52, Lon: 13.40}
	if in, _ := f.InOperatingArea(ctx, mitte); in {
		t.Fatal("in an operating area before any exists")
	}
	area, err := f.CreateZone(ctx, "staff-1", domain.Zone{Name: "Berlin", City: "berlin", Kind: domain.ZoneOperatingArea,
		Polygon: flRect(52.40, 13.20, 52.60, 13.60)})
	if err != nil {
		t.Fatal(err)
	}
	slow, err := f.CreateZone(ctx, "staff-1", domain.Zone{Name: "Mitte", City: "berlin", Kind: domain.ZoneSlow, MaxSpeedKmh: 12,
		Polygon: flRect(52.50, 13.35, 52.54, 13.45)})
	if err != nil {
		t.Fatal(err)
	}
	if in, _ := f.InOperatingArea(ctx, mitte); !in {
		t.Fatal("own write not visible")
	}
	if z, ok := f.OperatingAreaAt(mitte); !ok || z.ID != area.ID || z.City != "berlin" {
		t.Fatalf("OperatingAreaAt = %+v %v", z, ok)
	}
	if got := domain.SpeedLimitKmh(f.ZonesAt(mitte)); got != 12 {
		t.Fatalf("speed limit %d, want 12", got)
	}
	if in, _ := f.InOperatingArea(ctx, domain.Point{Lat: 48.85, Lon: 2.35}); in {
		t.Fatal("Paris is not in the Berlin area")
	}
	if in, _ := other.InOperatingArea(ctx, mitte); in {
		t.Fatal("other replica saw the zone before refreshing (test premise)")
	}
	if err := other.RefreshZones(ctx); err != nil {
		t.Fatal(err)
	}
	if in, _ := other.InOperatingArea(ctx, mitte); !in {
		t.Fatal("other replica does not see the zone after a refresh")
	}
	off := false
	if _, err := other.UpdateZone(ctx, "staff-2", area.ID, domain.ZonePatch{Active: &off}); err != nil {
		t.Fatal(err)
	}
	if err := f.RefreshZones(ctx); err != nil {
		t.Fatal(err)
	}
	if in, _ := f.InOperatingArea(ctx, mitte); in {
		t.Fatal("deactivated area still counts")
	}
	if zs := f.ZonesAt(mitte); len(zs) != 1 || zs[0].ID != slow.ID {
		t.Fatalf("zones at Mitte: %+v", zs)
	}
}

func TestBaysAtNearAndReturnPlace(t *testing.T) {
	ctx := context.Background()
	f := flFleet(t, pgtest.New(t, migrations.Set()), nil)
	mustBay := func(b domain.Bay) domain.Bay {
		t.Helper()
		b, err := f.CreateBay(ctx, "staff-1", b)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if _, err := f.CreateZone(ctx, "staff-1", domain.Zone{Name: "Berlin", City: "berlin", Kind: domain.ZoneOperatingArea,
		Polygon: flRect(52.40, 13.20, 52.60, 13.60)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.CreateZone(ctx, "staff-1", domain.Zone{Name: "Tiergarten", City: "berlin", Kind: domain.ZoneNoParking,
		Polygon: flRect(52.510, 13.340, 52.516, 13.370)}); err != nil {
		t.Fatal(err)
	}
	alex := mustBay(domain.Bay{Name: "Alexanderplatz", City: "berlin", Polygon: flRect(52.5210, 13.4110, 52.5214, 13.4118),
		Capacity: 20, VehicleTypes: []domain.VehicleType{domain.EBike, domain.EScooter}, UnderServed: true})
	cars := mustBay(domain.Bay{Name: "Alexa garage", City: "berlin", Polygon: flRect(52.5195, 13.4150, 52.5199, 13.4160),
		Capacity: 10, VehicleTypes: []domain.VehicleType{domain.Car, domain.Van}, Chargers: 10})
	far := mustBay(domain.Bay{Name: "Zoo", City: "berlin", Polygon: flRect(52.5070, 13.3320, 52.5074, 13.3330),
		Capacity: 5, VehicleTypes: []domain.VehicleType{domain.EBike}})

	inAlex := domain.Point{Lat: 52.5212, Lon: 13.4114}
	if b, err := f.BayAt(ctx, inAlex, domain.EScooter); err != nil || b.ID != alex.ID {
		t.Fatalf("BayAt = %+v, %v", b.ID, err)
	}
	if _, err := f.BayAt(ctx, inAlex, domain.Car); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("car in a bike bay: %v", err)
	}
	if u, err := f.BayUnderServed(ctx, alex.ID); err != nil || !u {
		t.Fatalf("BayUnderServed = %v, %v", u, err)
	}

	near, err := f.BaysNear(ctx, inAlex, 1000, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(near) != 2 || near[0].Bay.ID != alex.ID || near[0].DistanceM != 0 || near[1].Bay.ID != cars.ID ||
		near[1].DistanceM < 200 || near[1].DistanceM > 400 {
		t.Fatalf("near = %+v", near)
	}
	if near, _ := f.BaysNear(ctx, inAlex, 10_000, domain.EBike, 10); len(near) != 2 || near[1].Bay.ID != far.ID {
		t.Fatalf("ebike bays within 10 km: %+v", near)
	}
	if near, _ := f.BaysNear(ctx, inAlex, 10_000, "", 1); len(near) != 1 {
		t.Fatalf("limit ignored: %d bays", len(near))
	}
	if _, err := f.BaysNear(ctx, inAlex, 60_000, "", 10); !errors.Is(err, domain.ErrInvalid) {
		t.Fatalf("radius over the limit: %v", err)
	}

	tests := []struct {
		name string
		vt   domain.VehicleType
		p    domain.Point
		want domain.ReturnPlace
	}{
		{"scooter in the under-served bay", domain.EScooter, inAlex, domain.ReturnPlace{BayID: alex.ID, UnderServed: true, EndingAllowed: true}},
		{"van in the garage", domain.Van, domain.Point{Lat: 52.5197, Lon: 13.4155}, domain.ReturnPlace{BayID: cars.ID, EndingAllowed: true}},
		{"bike on the street", domain.EBike, domain.Point{Lat: 52.5300, Lon: 13.4000}, domain.ReturnPlace{EndingAllowed: true}},
		{"bike in the park", domain.EBike, domain.Point{Lat: 52.513, Lon: 13.350}, domain.ReturnPlace{}},
		{"scooter outside the area", domain.EScooter, domain.Point{Lat: 52.70, Lon: 13.40}, domain.ReturnPlace{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.ReturnPlace(ctx, tt.vt, tt.p)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("ReturnPlace = %+v, want %+v", got, tt.want)
			}
		})
	}
	off := false
	if _, err := f.UpdateBay(ctx, "staff-1", alex.ID, domain.BayPatch{Active: &off}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.BayAt(ctx, inAlex, domain.EScooter); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("closed bay still found: %v", err)
	}
	if u, _ := f.BayUnderServed(ctx, alex.ID); u {
		t.Fatal("a closed bay earns rewards")
	}
}

// Every registry change travels through the outbox relay to the compacted
// fleet.registry topic, keyed by kind and id, as CloudEvents consumers decode.
func TestRegistryPublishedThroughTheRelay(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t, migrations.Set())
	kcfg := kafkatest.New(t, events.Topics()...)
	f := flFleet(t, pool, nil)

	area, err := f.CreateZone(ctx, "staff-1", domain.Zone{Name: "Berlin", City: "Berlin", Kind: domain.ZoneOperatingArea,
		Polygon: flRect(52.40, 13.20, 52.60, 13.60)})
	if err != nil {
		t.Fatal(err)
	}
	crossing, err := f.CreateZone(ctx, "staff-1", domain.Zone{Name: "Pariser Platz", City: "berlin", Kind: domain.ZoneNoRideThrough,
		Polygon: flRect(52.5160, 13.3770, 52.5165, 13.3790)})
	if err != nil {
		t.Fatal(err)
	}
	bay, err := f.CreateBay(ctx, "staff-1", domain.Bay{Name: "Alexanderplatz", City: "berlin",
		Polygon: flRect(52.5210, 13.4110, 52.5214, 13.4118), Capacity: 8, Chargers: 2,
		VehicleTypes: []domain.VehicleType{domain.Car, domain.EBike}, UnderServed: true})
	if err != nil {
		t.Fatal(err)
	}
	car, err := f.CreateVehicle(ctx, "staff-1", domain.Vehicle{Type: domain.Car, Model: "ID.3", Plate: "B-MC 1", RangeKm: 420, HomeCity: "berlin"})
	if err != nil {
		t.Fatal(err)
	}
	maint := domain.VehicleMaintenance
	if _, err := f.UpdateVehicle(ctx, "staff-2", car.ID, domain.VehiclePatch{Status: &maint}); err != nil {
		t.Fatal(err)
	}

	producer, err := kafka.NewProducer(kcfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	relay, err := outbox.NewRelay(pool, producer, nil, outbox.RelayOptions{PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- relay.Run(rctx) }()
	recs := kafkatest.Records(t, kcfg, events.TopicFleetRegistry, 5)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	byKey := map[string][]events.Event{}
	for _, r := range recs {
		e, err := events.FromRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		if e.Source != events.SourceFleet {
			t.Fatalf("source %q", e.Source)
		}
		byKey[string(r.Key)] = append(byKey[string(r.Key)], e)
	}
	// Vehicle: two versions in order, the last in maintenance.
	vs := byKey[events.RegistryKey("vehicle", car.ID)]
	if len(vs) != 2 || vs[0].Type != events.TypeFleetVehicleUpsertedV1 {
		t.Fatalf("vehicle records: %+v", vs)
	}
	first, _ := events.Decode[events.FleetVehicleUpsertedV1](vs[0])
	last, _ := events.Decode[events.FleetVehicleUpsertedV1](vs[1])
	if first.State != "active" || last.State != "maintenance" || last.Plate != "B-MC 1" || last.RangeKm != 420 ||
		last.HomeCity != "berlin" || last.VehicleType != events.VehicleCar {
		t.Fatalf("vehicle payloads: %+v then %+v", first, last)
	}
	// Bay: a circle around the polygon for older consumers, the polygon itself
	// for newer ones, and the operating area that gives it an address.
	bs := byKey[events.RegistryKey("bay", bay.ID)]
	if len(bs) != 1 || bs[0].Type != events.TypeFleetBayUpsertedV1 {
		t.Fatalf("bay records: %+v", bs)
	}
	b, _ := events.Decode[events.FleetBayUpsertedV1](bs[0])
	if b.ZoneID != area.ID || b.Name != "Alexanderplatz" || !b.Active || !b.Charging || b.Chargers != 2 || !b.UnderServed ||
		b.City != "berlin" || b.Lat < 52.5210 || b.Lat > 52.5214 || b.RadiusMeters < 20 || b.RadiusMeters > 60 ||
		len(b.Polygon) != 1 || b.Polygon[0][0] != [2]float64{13.4110, 52.5210} ||
		!slices.Equal(b.VehicleTypes, []events.VehicleType{events.VehicleCar, events.VehicleEBike}) {
		t.Fatalf("bay payload: %+v", b)
	}
	// Zones: kinds in the registry's spelling.
	for id, kind := range map[string]string{area.ID: events.ZoneKindOperating, crossing.ID: events.ZoneKindNoGo} {
		zs := byKey[events.RegistryKey("zone", id)]
		if len(zs) != 1 {
			t.Fatalf("zone %s records: %+v", id, zs)
		}
		z, _ := events.Decode[events.FleetZoneUpsertedV1](zs[0])
		if z.Kind != kind || z.City != "berlin" || len(z.Polygon) != 5 || !z.Active {
			t.Fatalf("zone payload: %+v", z)
		}
	}
}
