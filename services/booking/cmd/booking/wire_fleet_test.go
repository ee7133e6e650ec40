package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/mobilitycorp/platform/pkg/auth"
	"github.com/mobilitycorp/platform/pkg/config"
	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/kafka"
	"github.com/mobilitycorp/platform/pkg/kafka/kafkatest"
	"github.com/mobilitycorp/platform/pkg/postgres"
	"github.com/mobilitycorp/platform/pkg/redisx"
	"github.com/mobilitycorp/platform/pkg/service"
	"github.com/mobilitycorp/platform/pkg/service/servicetest"
	"github.com/mobilitycorp/platform/services/booking/internal/adapters/redis"
	"github.com/mobilitycorp/platform/services/booking/migrations"
)

// fleetWireRun is run with only area A wired as main wires it (plus area B's
// index as the maintenance listener): config from the environment,
// wireFleet, the routes behind authentication, the workers and the outbox
// relay of infra.Run.
func fleetWireRun(ctx context.Context, stdout io.Writer, environ map[string]string) error {
	cfg := struct {
		service.Base
		Fleet        FleetConfig
		Availability AvailabilityConfig
	}{Base: service.Defaults(defaultAddr, defaultDB)}
	if err := config.LoadFrom(envPrefix, environ, &cfg); err != nil {
		return err
	}
	infra, err := service.Start(ctx, service.Options{Name: serviceName, Version: "test", EnvPrefix: envPrefix,
		Migrations: []postgres.MigrationSet{migrations.Set()}, Stdout: stdout}, cfg.Base, cfg)
	if err != nil {
		return err
	}
	avail, err := wireAvailability(cfg.Availability, infra, cfg.Kafka, func(h http.Handler) http.Handler { return h })
	if err != nil {
		infra.Close(ctx)
		return err
	}
	parts, err := wireFleet(ctx, cfg.Fleet, infra, avail.Availability)
	if err != nil {
		infra.Close(ctx)
		return err
	}
	router := infra.Router()
	router.Group(func(r chi.Router) {
		r.Use(infra.Verifier.Authenticate)
		parts.Mount(r)
	})
	return infra.Run(ctx, router, parts.Workers...)
}

func fleetWireToken(t *testing.T, sub string, roles ...auth.Role) string {
	t.Helper()
	tok, err := auth.NewHS256Signer(service.DevJWTSecret, "mobilitycorp", "mobility-api").Mint(sub, roles, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func fleetWireDo(t *testing.T, base, method, path, token, key string, body any, want int) map[string]any {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, base+path, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, out)
	}
	var m map[string]any
	_ = json.Unmarshal(out, &m)
	return m
}

// The service with area A wired serves the customers and fleet API, tells
// the availability index about maintenance, and publishes the registry on
// fleet.registry through the outbox relay.
func TestWireFleet(t *testing.T) {
	svc := servicetest.Start(t, envPrefix, fleetWireRun, map[string]string{"FLEET_ZONE_REFRESH": "100ms"})
	staff := fleetWireToken(t, "staff-1", auth.RoleStaff)
	customer := fleetWireToken(t, "cust-1", auth.RoleCustomer)

	fleetWireDo(t, svc.URL, http.MethodPost, "/v1/customers", customer, "", map[string]any{"name": "Ada", "email": "ada@example.org",
		"date_of_birth": "1990-12-10", "country": "GB", "preferred_language": "en-GB"}, http.StatusCreated)
	rect := map[string]any{"type": "Polygon", "coordinates": [][][]float64{{{13.2, 52.4}, {13.6, 52.4}, {13.6, 52.6}, {13.2, 52.6}, {13.2, 52.4}}}}
	zone := fleetWireDo(t, svc.URL, http.MethodPost, "/v1/zones", staff, "z1",
		map[string]any{"name": "Berlin", "city": "berlin", "kind": "operating_area", "polygon": rect}, http.StatusCreated)
	car := map[string]any{"type": "car", "model": "ID.3", "plate": "B-MC 7", "range_km": 400, "home_city": "berlin"}
	fleetWireDo(t, svc.URL, http.MethodPost, "/v1/vehicles", staff, "", car, http.StatusBadRequest) // key required
	v := fleetWireDo(t, svc.URL, http.MethodPost, "/v1/vehicles", staff, "v1", car, http.StatusCreated)
	id, _ := v["id"].(string)
	fleetWireDo(t, svc.URL, http.MethodPatch, "/v1/vehicles/"+id, staff, "", map[string]any{"status": "maintenance"}, http.StatusOK)

	// Area B's index learnt the maintenance.
	ctx := context.Background()
	rdb, err := redisx.Open(ctx, redisx.Config{URL: config.Secret(svc.Env[envPrefix+"REDIS_URL"])})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	st, found, err := redis.NewIndex(rdb, redisx.Keys(svc.Env[envPrefix+"REDIS_KEY_PREFIX"])).State(ctx, id)
	if err != nil || !found || !st.Maintenance {
		t.Fatalf("index state %+v (found %v, %v): not in maintenance", st, found, err)
	}

	// The relay published the zone and both versions of the vehicle.
	kcfg := kafka.Config{Brokers: strings.Split(svc.Env[envPrefix+"KAFKA_BROKERS"], ",")}
	recs := kafkatest.Records(t, kcfg, events.TopicFleetRegistry, 3)
	keys := map[string]int{}
	for _, r := range recs {
		keys[string(r.Key)]++
	}
	if keys[events.RegistryKey("zone", fmt.Sprint(zone["id"]))] != 1 || keys[events.RegistryKey("vehicle", id)] != 2 {
		t.Fatalf("registry keys %v", keys)
	}
}
