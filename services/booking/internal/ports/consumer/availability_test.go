package consumer_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/kafka"
	"github.com/mobilitycorp/platform/pkg/kafka/kafkatest"
	"github.com/mobilitycorp/platform/pkg/postgres/pgtest"
	"github.com/mobilitycorp/platform/pkg/redisx/redistest"
	"github.com/mobilitycorp/platform/services/booking/internal/adapters/postgres"
	bredis "github.com/mobilitycorp/platform/services/booking/internal/adapters/redis"
	"github.com/mobilitycorp/platform/services/booking/internal/app"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
	"github.com/mobilitycorp/platform/services/booking/internal/ports/consumer"
	"github.com/mobilitycorp/platform/services/booking/migrations"
)

var availCenter = domain.Point{Lat: 52.5219, Lon: 13.4132}

// availRing is a closed [lon, lat] square around c reaching half metres each way.
func availRing(c domain.Point, half float64) [][2]float64 {
	dLat, dLon := half/111_320, half/(111_320*0.6088)
	return [][2]float64{
		{c.Lon - dLon, c.Lat - dLat}, {c.Lon + dLon, c.Lat - dLat}, {c.Lon + dLon, c.Lat + dLat},
		{c.Lon - dLon, c.Lat + dLat}, {c.Lon - dLon, c.Lat - dLat},
	}
}

func availEvent(t testing.TB, topic, key, typ string, data any) *kgo.Record {
	t.Helper()
	e, err := events.New(typ, events.SourceTelemetryIngest, key, data)
	if err != nil {
		t.Fatal(err)
	}
	return events.ToRecord(topic, key, e)
}

func zoneRecord(t testing.TB, id string, z events.FleetZoneUpsertedV1) *kgo.Record {
	z.ZoneID = id
	return availEvent(t, events.TopicFleetRegistry, events.RegistryKey("zone", id), events.TypeFleetZoneUpsertedV1, z)
}

func vehicleRecord(t testing.TB, id, typ, state string, at time.Time) *kgo.Record {
	return availEvent(t, events.TopicFleetRegistry, events.RegistryKey("vehicle", id), events.TypeFleetVehicleUpsertedV1,
		events.FleetVehicleUpsertedV1{VehicleID: id, VehicleType: events.VehicleType(typ), Model: "m", State: state, UpdatedAt: at})
}

func telemetryRecord(t testing.TB, id string, p domain.Point, battery float64, at time.Time) *kgo.Record {
	return availEvent(t, events.TopicVehicleTelemetry, id, events.TypeVehicleTelemetryV1, events.VehicleTelemetryV1{
		VehicleID: id, VehicleType: events.VehicleEScooter, Lat: p.Lat, Lon: p.Lon, BatteryPct: battery, RangeKm: battery / 3,
		Locked: true, RecordedAt: at,
	})
}

func statusRecord(t testing.TB, id string, s events.VehicleStatus, at time.Time) *kgo.Record {
	return availEvent(t, events.TopicVehicleStatus, id, events.TypeVehicleStatusChangedV1, events.VehicleStatusChangedV1{VehicleID: id, Status: s, ChangedAt: at, LastSeenAt: at})
}

func newAvailability(t testing.TB) *app.Availability {
	t.Helper()
	rdb, keys := redistest.New(t)
	pricing := app.NewPricing(postgres.NewPricingStore(pgtest.New(t, migrations.Set())), app.PricingOptions{})
	return app.NewAvailability(bredis.NewIndex(rdb, keys), app.NewOperatingAreas(), pricing, app.AvailabilityOptions{})
}

func availableIDs(t testing.TB, a *app.Availability) string {
	t.Helper()
	res, err := a.Search(context.Background(), domain.SearchQuery{Center: availCenter, RadiusM: 5000})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(res))
	for i, r := range res {
		ids[i] = fmt.Sprintf("%s@%.0f", r.VehicleID, r.BatteryPct)
	}
	return fmt.Sprint(ids)
}

func TestAvailabilityRecordsKeepTheIndexCurrent(t *testing.T) {
	ctx := context.Background()
	a := newAvailability(t)
	zones := consumer.OperatingAreaRecords(a)
	records := consumer.AvailabilityRecords(a)
	if err := zones(ctx, zoneRecord(t, "z1", events.FleetZoneUpsertedV1{City: "Berlin", Kind: events.ZoneKindOperating, Polygon: availRing(availCenter, 1000), Active: true})); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().UTC().Truncate(time.Millisecond)
	outside := domain.Point{Lat: availCenter.Lat, Lon: availCenter.Lon + 0.03} // about 2 km east

	steps := []struct {
		name string
		rec  *kgo.Record
		want string
	}{
		{"telemetry of an unregistered vehicle", telemetryRecord(t, "v1", availCenter, 80, t0), "[]"},
		{"registered", vehicleRecord(t, "v1", "escooter", "active", t0), "[v1@80]"},
		{"newer telemetry", telemetryRecord(t, "v1", availCenter, 70, t0.Add(20*time.Second)), "[v1@70]"},
		{"older telemetry arriving late", telemetryRecord(t, "v1", availCenter, 95, t0.Add(10*time.Second)), "[v1@70]"},
		{"offline", statusRecord(t, "v1", events.VehicleOffline, t0.Add(30*time.Second)), "[]"},
		{"online again", statusRecord(t, "v1", events.VehicleOnline, t0.Add(40*time.Second)), "[v1@70]"},
		{"registry: maintenance", vehicleRecord(t, "v1", "escooter", "maintenance", t0.Add(time.Minute)), "[]"},
		{"registry: active", vehicleRecord(t, "v1", "escooter", "active", t0.Add(2*time.Minute)), "[v1@70]"},
		{"rides out of the operating area", telemetryRecord(t, "v1", outside, 60, t0.Add(time.Minute)), "[]"},
		{"back inside", telemetryRecord(t, "v1", availCenter, 55, t0.Add(2*time.Minute)), "[v1@55]"},
		{"zone deactivated", zoneRecord(t, "z1", events.FleetZoneUpsertedV1{City: "Berlin", Kind: events.ZoneKindOperating, Polygon: availRing(availCenter, 1000), Active: false}), "[]"},
		{"zone active again", zoneRecord(t, "z1", events.FleetZoneUpsertedV1{City: "Berlin", Kind: events.ZoneKindOperating, Polygon: availRing(availCenter, 1000), Active: true}), "[v1@55]"},
		{"zone turned into a slow zone", zoneRecord(t, "z1", events.FleetZoneUpsertedV1{City: "Berlin", Kind: events.ZoneKindSlow, Polygon: availRing(availCenter, 1000), Active: true, MaxSpeedKmh: 10}), "[]"},
		{"zone restored", zoneRecord(t, "z1", events.FleetZoneUpsertedV1{City: "Berlin", Kind: events.ZoneKindOperating, Polygon: availRing(availCenter, 1000), Active: true}), "[v1@55]"},
		{"zone tombstone", &kgo.Record{Topic: events.TopicFleetRegistry, Key: []byte("zone:z1")}, "[]"},
		{"zone back", zoneRecord(t, "z1", events.FleetZoneUpsertedV1{City: "Berlin", Kind: events.ZoneKindOperating, Polygon: availRing(availCenter, 1000), Active: true}), "[v1@55]"},
		{"vehicle tombstone", &kgo.Record{Topic: events.TopicFleetRegistry, Key: []byte("vehicle:v1")}, "[]"},
	}
	for _, s := range steps {
		h := records
		if s.rec.Topic == events.TopicFleetRegistry && string(s.rec.Key[:4]) == "zone" {
			h = zones
		}
		if err := h(ctx, s.rec); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := availableIDs(t, a); got != s.want {
			t.Fatalf("%s: available %s, want %s", s.name, got, s.want)
		}
	}
}

func TestAvailabilityRecordsDeadLetterMalformedOnes(t *testing.T) {
	ctx := context.Background()
	a := newAvailability(t)
	records := consumer.AvailabilityRecords(a)
	zones := consumer.OperatingAreaRecords(a)
	tests := []struct {
		name      string
		h         kafka.Handler
		rec       *kgo.Record
		permanent bool
	}{
		{"not a cloudevent", records, &kgo.Record{Topic: events.TopicVehicleTelemetry, Key: []byte("v1"), Value: []byte(`{}`)}, true},
		{"position off the map", records, telemetryRecord(t, "v1", domain.Point{Lat: 95, Lon: 13}, 50, time.Now()), true},
		{"telemetry without vehicle", records, telemetryRecord(t, "", availCenter, 50, time.Now()), true},
		{"unknown status", records, statusRecord(t, "v1", "sleeping", time.Now()), true},
		{"unknown registry state", records, vehicleRecord(t, "v1", "escooter", "stolen", time.Now()), true},
		{"unknown vehicle type", records, vehicleRecord(t, "v1", "tram", "active", time.Now()), true},
		{"zone without a closed ring", zones, zoneRecord(t, "z9", events.FleetZoneUpsertedV1{City: "Berlin", Kind: events.ZoneKindOperating, Polygon: availRing(availCenter, 100)[:3], Active: true}), true},
		{"zone without a city", zones, zoneRecord(t, "z9", events.FleetZoneUpsertedV1{Kind: events.ZoneKindOperating, Polygon: availRing(availCenter, 100), Active: true}), true},
		{"bay records are not ours", records, availEvent(t, events.TopicFleetRegistry, "bay:b1", events.TypeFleetBayUpsertedV1, events.FleetBayUpsertedV1{BayID: "b1"}), false},
		{"other telemetry topics' types are skipped", records, availEvent(t, events.TopicVehicleTelemetry, "v1", "com.example.other.v1", map[string]string{}), false},
	}
	for _, tt := range tests {
		err := tt.h(ctx, tt.rec)
		if tt.permanent != (err != nil && kafka.IsPermanent(err)) || (!tt.permanent && err != nil) {
			t.Errorf("%s: %v, want permanent=%v", tt.name, err, tt.permanent)
		}
	}
}

// The operating areas are ready once every registry record that existed at
// start was handled, through the platform consumer on a real broker.
func TestCatchUpSignalsWhenTheRegistryWasRead(t *testing.T) {
	ctx := context.Background()
	cfg := kafkatest.New(t, events.Topics()...)
	prod, err := kafka.NewProducer(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()

	// An empty topic is caught up at once.
	emptyReady := make(chan struct{})
	if _, err := consumer.NewCatchUp(ctx, cfg, events.TopicFleetRegistry, func() { close(emptyReady) }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-emptyReady:
	default:
		t.Fatal("empty registry not caught up at once")
	}

	var recs []*kgo.Record
	for i := range 12 {
		c := domain.Point{Lat: availCenter.Lat + float64(i)*0.05, Lon: availCenter.Lon}
		recs = append(recs, zoneRecord(t, fmt.Sprintf("z%02d", i), events.FleetZoneUpsertedV1{City: "Berlin", Kind: events.ZoneKindOperating, Polygon: availRing(c, 500), Active: true}))
		recs = append(recs, vehicleRecord(t, fmt.Sprintf("v%02d", i), "ebike", "active", time.Now()))
	}
	if err := prod.Produce(ctx, recs...); err != nil {
		t.Fatal(err)
	}

	a := newAvailability(t)
	cu, err := consumer.NewCatchUp(ctx, cfg, events.TopicFleetRegistry, a.Areas().MarkReady)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.Areas().Ready():
		t.Fatal("ready before reading anything")
	default:
	}
	c, err := kafka.NewConsumer(cfg, kafka.ConsumerOptions{
		Group: "booking-availability-zones.test", Topics: []string{events.TopicFleetRegistry},
		Handler: cu.Wrap(consumer.OperatingAreaRecords(a)), DLQ: prod,
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(runCtx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	select {
	case <-a.Areas().Ready():
	case <-time.After(20 * time.Second):
		t.Fatal("never caught up")
	}
	if n := a.Areas().Len(); n != 12 {
		t.Fatalf("ready with %d of 12 operating areas", n)
	}
}
