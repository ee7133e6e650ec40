package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mobilitycorp/platform/pkg/auth"
	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/httpx/openapitest"
	"github.com/mobilitycorp/platform/pkg/kafka"
	"github.com/mobilitycorp/platform/pkg/kafka/kafkatest"
	"github.com/mobilitycorp/platform/pkg/service"
	"github.com/mobilitycorp/platform/pkg/service/servicetest"
	"github.com/mobilitycorp/platform/services/booking/api"
)

func availToken(t testing.TB, sub string, roles ...auth.Role) string {
	t.Helper()
	tok, err := auth.NewHS256Signer(service.DevJWTSecret, "mobilitycorp", "mobility-api").Mint(sub, roles, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func availRecord(t testing.TB, topic, key, typ string, data any) *kgo.Record {
	t.Helper()
	e, err := events.New(typ, events.SourceTelemetryIngest, key, data)
	if err != nil {
		t.Fatal(err)
	}
	return events.ToRecord(topic, key, e)
}

// Driven only through Kafka and HTTP: the fleet registry defines an operating
// area and a scooter, telemetry places it, and the search lists it with its
// price; an out-of-order report does not overwrite a newer one; going offline
// hides it; a quote by vehicle prices it.
func TestAvailabilityComponent(t *testing.T) {
	s := servicetest.Start(t, envPrefix, run, nil)
	ctx := context.Background()
	kcfg := kafka.Config{Brokers: strings.Split(s.Env[envPrefix+"KAFKA_BROKERS"], ",")}
	prod, err := kafka.NewProducer(kcfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()

	alex := [2]float64{13.4132, 52.5219} // lon, lat
	d := 0.01
	ring := [][2]float64{{alex[0] - d, alex[1] - d}, {alex[0] + d, alex[1] - d}, {alex[0] + d, alex[1] + d}, {alex[0] - d, alex[1] + d}, {alex[0] - d, alex[1] - d}}
	now := time.Now().UTC().Truncate(time.Millisecond)
	telemetry := func(battery float64, at time.Time) *kgo.Record {
		return availRecord(t, events.TopicVehicleTelemetry, "sc-1", events.TypeVehicleTelemetryV1, events.VehicleTelemetryV1{
			VehicleID: "sc-1", VehicleType: events.VehicleEScooter, Lat: alex[1], Lon: alex[0] + 0.0005, BatteryPct: battery, RangeKm: battery / 4, Locked: true, RecordedAt: at,
		})
	}
	if err := prod.Produce(ctx,
		availRecord(t, events.TopicFleetRegistry, events.RegistryKey("zone", "z-mitte"), events.TypeFleetZoneUpsertedV1, events.FleetZoneUpsertedV1{
			ZoneID: "z-mitte", Name: "Mitte", City: "berlin", Kind: events.ZoneKindOperating, Polygon: ring, Active: true, UpdatedAt: now}),
		availRecord(t, events.TopicFleetRegistry, events.RegistryKey("vehicle", "sc-1"), events.TypeFleetVehicleUpsertedV1, events.FleetVehicleUpsertedV1{
			VehicleID: "sc-1", VehicleType: events.VehicleEScooter, Model: "S3", State: "active", UpdatedAt: now}),
		telemetry(80, now),
	); err != nil {
		t.Fatal(err)
	}

	spec := openapitest.Load(t, api.Spec)
	hc := &http.Client{Transport: spec.Transport(t, nil)}
	customer := availToken(t, "cust-1", auth.RoleCustomer)
	type item struct {
		VehicleID  string  `json:"vehicle_id"`
		BatteryPct float64 `json:"battery_pct"`
		Price      struct {
			PerMinute struct {
				AmountMinor int64 `json:"amount_minor"`
			} `json:"per_minute"`
		} `json:"price"`
	}
	search := func() []item {
		t.Helper()
		q := url.Values{"lat": {fmt.Sprint(alex[1])}, "lon": {fmt.Sprint(alex[0])}, "type": {"escooter"}}
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/v1/vehicles/available?"+q.Encode(), nil)
		req.Header.Set("Authorization", "Bearer "+customer)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct{ Items []item }
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil {
			t.Fatalf("search: status %d", resp.StatusCode)
		}
		return out.Items
	}
	eventually := func(what string, ok func([]item) bool) {
		t.Helper()
		deadline := time.Now().Add(45 * time.Second)
		for {
			items := search()
			if ok(items) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: still %+v", what, items)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	eventually("listed from Kafka", func(it []item) bool {
		return len(it) == 1 && it[0].VehicleID == "sc-1" && it[0].BatteryPct == 80 && it[0].Price.PerMinute.AmountMinor == 30
	})

	// A newer report, then an older one arriving late, then a malformed record
	// of the same key: once that one is dead-lettered, the two before it
	// (same partition, in order) were handled.
	marker := &kgo.Record{Topic: events.TopicVehicleTelemetry, Key: []byte("sc-1"), Value: []byte("not an event")}
	if err := prod.Produce(ctx, telemetry(60, now.Add(20*time.Second)), telemetry(95, now.Add(10*time.Second)), marker); err != nil {
		t.Fatal(err)
	}
	kafkatest.Records(t, kcfg, kafka.DLQName(events.TopicVehicleTelemetry), 1)
	if it := search(); len(it) != 1 || it[0].BatteryPct != 60 {
		t.Fatalf("after an out-of-order report: %+v, want the newer 60 %%", it)
	}

	if err := prod.Produce(ctx, availRecord(t, events.TopicVehicleStatus, "sc-1", events.TypeVehicleStatusChangedV1, events.VehicleStatusChangedV1{
		VehicleID: "sc-1", Status: events.VehicleOffline, ChangedAt: now.Add(time.Minute), LastSeenAt: now.Add(30 * time.Second)})); err != nil {
		t.Fatal(err)
	}
	eventually("offline hidden", func(it []item) bool { return len(it) == 0 })

	// Quote by vehicle, through the same service.
	body := strings.NewReader(`{"vehicle_id":"sc-1","expected_minutes":10}`)
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/v1/quotes", body)
	req.Header.Set("Authorization", "Bearer "+customer)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var q struct {
		Total struct {
			AmountMinor int64 `json:"amount_minor"`
		} `json:"total"`
		ZoneID string `json:"zone_id"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&q) != nil || q.Total.AmountMinor != 400 || q.ZoneID != "z-mitte" {
		t.Fatalf("quote: %d %+v", resp.StatusCode, q)
	}
}
