package gazetteer_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/kafka"
	"github.com/mobilitycorp/platform/pkg/kafka/kafkatest"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/adapters/gazetteer"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/domain"
)

func bayRecord(t *testing.T, id, name string, lat, lon float64, active bool) *kgo.Record {
	t.Helper()
	return eventRecord(t, "bay", id, events.TypeFleetBayUpsertedV1, events.FleetBayUpsertedV1{
		BayID: id, ZoneID: "z-mitte", Name: name, Lat: lat, Lon: lon, RadiusMeters: 15, Capacity: 8,
		VehicleTypes: []events.VehicleType{events.VehicleEScooter}, Active: active, UpdatedAt: time.Now().UTC(),
	})
}

func zoneRecord(t *testing.T, id, name, city string) *kgo.Record {
	t.Helper()
	return eventRecord(t, "zone", id, events.TypeFleetZoneUpsertedV1, events.FleetZoneUpsertedV1{
		ZoneID: id, Name: name, City: city, Kind: "operating", Active: true, UpdatedAt: time.Now().UTC(),
		Polygon: [][2]float64{{13.39, 52.51}, {13.42, 52.51}, {13.42, 52.53}, {13.39, 52.51}},
	})
}

func eventRecord(t *testing.T, kind, id, eventType string, data any) *kgo.Record {
	t.Helper()
	e, err := events.New(eventType, events.SourceFleet, id, data)
	if err != nil {
		t.Fatal(err)
	}
	return events.ToRecord(events.TopicFleetRegistry, events.RegistryKey(kind, id), e)
}

func tombstone(kind, id string) *kgo.Record {
	return &kgo.Record{Topic: events.TopicFleetRegistry, Key: []byte(events.RegistryKey(kind, id))}
}

// find returns the first place named name that Geocode(query) answers.
func find(t *testing.T, g *gazetteer.Gazetteer, query, name string) (domain.Place, bool) {
	t.Helper()
	got, err := g.Geocode(context.Background(), domain.GeocodeRequest{Query: query, Limit: domain.MaxGeocodeLimit})
	if err != nil {
		t.Fatalf("Geocode(%q): %v", query, err)
	}
	i := slices.IndexFunc(got, func(p domain.Place) bool { return p.Name == name })
	if i < 0 {
		return domain.Place{}, false
	}
	return got[i], true
}

func TestHandleRecord(t *testing.T) {
	g := newGazetteer(t, gazetteer.Options{})
	ctx := context.Background()
	garbage := bayRecord(t, "b9", "Bay Garbage", 52.52, 13.41, true)
	garbage.Value = []byte(`{"name": 42}`)
	notEvent := &kgo.Record{Topic: events.TopicFleetRegistry, Key: []byte("bay:b8"), Value: []byte(`{"name":"Bay Raw"}`)}
	vehicle := eventRecord(t, "vehicle", "v1", events.TypeFleetVehicleUpsertedV1, events.FleetVehicleUpsertedV1{VehicleID: "v1", Model: "Bay Lookalike"})
	futureType := bayRecord(t, "b1", "Bay Renamed By v2", 52.5231, 13.4127, true)
	futureType.Headers = slices.DeleteFunc(futureType.Headers, func(h kgo.RecordHeader) bool { return h.Key == events.HeaderType })
	futureType.Headers = append(futureType.Headers, kgo.RecordHeader{Key: events.HeaderType, Value: []byte("com.mobilitycorp.fleet.bay.upserted.v2")})

	// Steps run in order against one gazetteer, as records arrive on the topic.
	steps := []struct {
		name          string
		rec           *kgo.Record
		wantPermanent bool
		query, place  string
		wantFound     bool
		wantAddress   string
	}{
		{"bay upserted", bayRecord(t, "b1", "Bay Alexanderplatz Nord", 52.5231, 13.4127, true), false,
			"alexanderplatz nord", "Bay Alexanderplatz Nord", true, ""},
		{"its zone gives it an address", zoneRecord(t, "z-mitte", "Mitte", "Berlin"), false,
			"Alexanderplatz Nord", "Bay Alexanderplatz Nord", true, "Mitte, Berlin"},
		{"bay renamed", bayRecord(t, "b1", "Bay Weltzeituhr", 52.5211, 13.4135, true), false,
			"weltzeituhr", "Bay Weltzeituhr", true, "Mitte, Berlin"},
		{"old name gone", nil, false, "alexanderplatz nord", "Bay Alexanderplatz Nord", false, ""},
		{"unknown event type is skipped", futureType, false, "weltzeituhr", "Bay Weltzeituhr", true, "Mitte, Berlin"},
		{"zone deleted", tombstone("zone", "z-mitte"), false, "weltzeituhr", "Bay Weltzeituhr", true, ""},
		{"bay deactivated", bayRecord(t, "b1", "Bay Weltzeituhr", 52.5211, 13.4135, false), false,
			"weltzeituhr", "Bay Weltzeituhr", false, ""},
		{"second bay", bayRecord(t, "b2", "Bay Hackescher Hof", 52.5240, 13.4020, true), false,
			"hackescher hof", "Bay Hackescher Hof", true, ""},
		{"tombstone deletes", tombstone("bay", "b2"), false, "hackescher hof", "Bay Hackescher Hof", false, ""},
		{"vehicles are not places", vehicle, false, "lookalike", "Bay Lookalike", false, ""},
		{"undecodable data", garbage, true, "garbage", "Bay Garbage", false, ""},
		{"not a CloudEvent", notEvent, true, "raw", "Bay Raw", false, ""},
		{"bay off the globe", bayRecord(t, "b3", "Bay Nowhere", 95, 13.4, true), true, "nowhere", "Bay Nowhere", false, ""},
		{"bay without a name", bayRecord(t, "b4", " ", 52.5, 13.4, true), true, "", "", false, ""},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.rec != nil {
				err := g.HandleRecord(ctx, s.rec)
				if s.wantPermanent != (err != nil && kafka.IsPermanent(err)) || (!s.wantPermanent && err != nil) {
					t.Fatalf("HandleRecord = %v, want permanent error: %v", err, s.wantPermanent)
				}
			}
			if s.query == "" {
				return
			}
			p, found := find(t, g, s.query, s.place)
			if found != s.wantFound {
				t.Fatalf("found %s: %v, want %v", s.place, found, s.wantFound)
			}
			if found && (p.Kind != "bay" || p.Address != s.wantAddress || p.Country != "") {
				t.Errorf("place %+v, want kind bay, address %q, no country", p, s.wantAddress)
			}
		})
	}

	// Reverse sees bays too: at the Weltzeituhr bay's point (re-activated here).
	if err := g.HandleRecord(ctx, bayRecord(t, "b1", "Bay Weltzeituhr", 52.5211, 13.4135, true)); err != nil {
		t.Fatal(err)
	}
	got, err := g.Reverse(ctx, domain.ReverseRequest{Point: domain.LatLng{Lat: 52.5211, Lon: 13.4135}})
	if err != nil || len(got) == 0 || got[0].Name != "Bay Weltzeituhr" {
		t.Fatalf("Reverse at the bay = %v, %v; want the bay first", names(got), err)
	}
}

// TestConcurrentUpdatesAndQueries runs registry updates beside searches (go test -race).
func TestConcurrentUpdatesAndQueries(t *testing.T) {
	g := newGazetteer(t, gazetteer.Options{})
	ctx := context.Background()
	recs := make([]*kgo.Record, 50)
	for i := range recs {
		recs[i] = bayRecord(t, fmt.Sprintf("c%d", i), fmt.Sprintf("Bay Concurrent %d", i), 52.5+float64(i)/1000, 13.4, true)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for _, r := range recs {
			if err := g.HandleRecord(ctx, r); err != nil {
				t.Errorf("HandleRecord: %v", err)
			}
		}
	})
	for range 4 {
		wg.Go(func() {
			for range 50 {
				if _, err := g.Geocode(ctx, domain.GeocodeRequest{Query: "Bay Concurrent", Limit: 5}); err != nil {
					t.Errorf("Geocode: %v", err)
				}
				if _, err := g.Reverse(ctx, domain.ReverseRequest{Point: domain.LatLng{Lat: 52.52, Lon: 13.4}}); err != nil {
					t.Errorf("Reverse: %v", err)
				}
			}
		})
	}
	wg.Wait()
	got, err := g.Geocode(ctx, domain.GeocodeRequest{Query: "Bay Concurrent", Limit: domain.MaxGeocodeLimit})
	if err != nil || len(got) != domain.MaxGeocodeLimit {
		t.Fatalf("after the updates: %d places, %v; want %d", len(got), err, domain.MaxGeocodeLimit)
	}
}

// TestRunFollowsFleetRegistry runs the consumer against an embedded Kafka broker: bays
// on the topic before Run are loaded, later ones, tombstones and zones apply live, and
// a poison record is dead-lettered without stopping the rest.
func TestRunFollowsFleetRegistry(t *testing.T) {
	var spec kafka.TopicSpec
	for _, s := range events.Topics() {
		if s.Name == events.TopicFleetRegistry {
			spec = s
		}
	}
	cfg := kafkatest.New(t, spec)
	producer, err := kafka.NewProducer(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(producer.Close)
	ctx := context.Background()
	produce := func(recs ...*kgo.Record) {
		t.Helper()
		if err := producer.Produce(ctx, recs...); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	// eventually polls cond until it holds, failing the test after 20 s.
	eventually := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting until %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// Already on the (compacted) topic before this replica starts.
	produce(bayRecord(t, "k1", "Bay Rosenthaler Eck", 52.5299, 13.4010, true))

	g := newGazetteer(t, gazetteer.Options{Registry: &gazetteer.RegistryOptions{Kafka: cfg, DLQ: producer}})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- g.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v, want nil after cancel", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	})

	eventually("the bay from before Run is found", func() bool {
		_, ok := find(t, g, "rosenthaler eck", "Bay Rosenthaler Eck")
		return ok
	})
	if err := g.Run(ctx); err == nil {
		t.Errorf("a second Run = nil, want an error")
	}

	poison := bayRecord(t, "k3", "Bay Poison", 52.5, 13.4, true)
	poison.Value = []byte(`not json`)
	produce(
		zoneRecord(t, "z-mitte", "Mitte", "Berlin"),
		bayRecord(t, "k2", "Bay Weinmeisterstraße", 52.5256, 13.4052, true),
		poison,
		tombstone("bay", "k1"),
	)
	eventually("the live bay is found with its zone's address", func() bool {
		p, ok := find(t, g, "weinmeisterstrasse", "Bay Weinmeisterstraße")
		return ok && p.Address == "Mitte, Berlin"
	})
	eventually("the tombstoned bay is gone", func() bool {
		_, ok := find(t, g, "rosenthaler eck", "Bay Rosenthaler Eck")
		return !ok
	})
	dead := kafkatest.Records(t, cfg, kafka.DLQName(events.TopicFleetRegistry), 1)
	if string(dead[0].Key) != "bay:k3" {
		t.Errorf("dead letter key %q, want bay:k3", dead[0].Key)
	}
	if _, ok := find(t, g, "poison", "Bay Poison"); ok {
		t.Errorf("the poison record became a place")
	}
}
