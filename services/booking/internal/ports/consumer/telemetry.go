package consumer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/kafka"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
)

// AvailabilityUpdater is what the telemetry, status and vehicle-registry
// records change (app.Availability).
type AvailabilityUpdater interface {
	ApplyTelemetry(ctx context.Context, t domain.Telemetry) (bool, error)
	ApplyStatus(ctx context.Context, vehicleID string, online bool, at time.Time) (bool, error)
	ApplyRegistration(ctx context.Context, r domain.Registration) (bool, error)
	Unregister(ctx context.Context, vehicleID string) error
}

// AvailabilityTopics are the topics AvailabilityRecords handles, for one
// consumer group shared by every instance (the index lives in Redis, so each
// record needs applying once).
var AvailabilityTopics = []string{events.TopicVehicleTelemetry, events.TopicVehicleStatus, events.TopicFleetRegistry}

// AvailabilityRecords keeps the availability index current from
// vehicle.telemetry, vehicle.status and the vehicle records of fleet.registry.
// Every effect is guarded by the record's own timestamp, so redelivered or
// reordered records are harmless and no inbox is needed. Records of other
// types are skipped; malformed ones are dead-lettered (kafka.Permanent).
func AvailabilityRecords(u AvailabilityUpdater) kafka.Handler {
	return func(ctx context.Context, r *kgo.Record) error {
		switch r.Topic {
		case events.TopicFleetRegistry:
			return registryVehicle(ctx, u, r)
		case events.TopicVehicleTelemetry, events.TopicVehicleStatus:
		default:
			return nil
		}
		e, err := events.FromRecord(r)
		if err != nil {
			return err
		}
		switch e.Type {
		case events.TypeVehicleTelemetryV1:
			v, err := events.Decode[events.VehicleTelemetryV1](e)
			if err != nil {
				return err
			}
			if v.VehicleID == "" {
				return kafka.Permanent(fmt.Errorf("telemetry event %s has no vehicle id", e.ID))
			}
			_, err = u.ApplyTelemetry(ctx, domain.Telemetry{
				VehicleID: v.VehicleID, VehicleType: domain.VehicleType(v.VehicleType),
				Position: domain.Point{Lat: v.Lat, Lon: v.Lon}, BatteryPct: v.BatteryPct, RangeKm: v.RangeKm,
				Locked: v.Locked, PluggedIn: v.PluggedIn, RecordedAt: cmp.Or(v.RecordedAt, e.Time),
			})
			return permanentIfInvalid(err)
		case events.TypeVehicleStatusChangedV1:
			v, err := events.Decode[events.VehicleStatusChangedV1](e)
			if err != nil {
				return err
			}
			if v.VehicleID == "" || (v.Status != events.VehicleOnline && v.Status != events.VehicleOffline) {
				return kafka.Permanent(fmt.Errorf("status event %s: vehicle %q, status %q", e.ID, v.VehicleID, v.Status))
			}
			_, err = u.ApplyStatus(ctx, v.VehicleID, v.Status == events.VehicleOnline, cmp.Or(v.ChangedAt, e.Time))
			return permanentIfInvalid(err)
		}
		return nil
	}
}

// registryVehicle applies a vehicle record of the registry; bays and zones
// are the per-instance OperatingAreaRecords' business.
func registryVehicle(ctx context.Context, u AvailabilityUpdater, r *kgo.Record) error {
	kind, id, _ := strings.Cut(string(r.Key), ":")
	if kind != "vehicle" || id == "" {
		return nil
	}
	if len(r.Value) == 0 { // tombstone: the vehicle left the registry
		return u.Unregister(ctx, id)
	}
	e, err := events.FromRecord(r)
	if err != nil {
		return err
	}
	if e.Type != events.TypeFleetVehicleUpsertedV1 {
		return nil
	}
	v, err := events.Decode[events.FleetVehicleUpsertedV1](e)
	if err != nil {
		return err
	}
	state := strings.ToLower(v.State)
	switch state {
	case domain.RegistryActive, domain.RegistryMaintenance, domain.RegistryRetired:
	default:
		return kafka.Permanent(fmt.Errorf("vehicle %s has registry state %q", id, v.State))
	}
	if _, err := domain.ParseVehicleType(string(v.VehicleType)); err != nil {
		return kafka.Permanent(fmt.Errorf("vehicle %s: %w", id, err))
	}
	_, err = u.ApplyRegistration(ctx, domain.Registration{
		VehicleID: cmp.Or(v.VehicleID, id), VehicleType: domain.VehicleType(v.VehicleType),
		State: state, UpdatedAt: cmp.Or(v.UpdatedAt, e.Time),
	})
	return permanentIfInvalid(err)
}

// permanentIfInvalid dead-letters records the domain refuses (they will never
// apply); other errors (Redis down) are retried.
func permanentIfInvalid(err error) error {
	if errors.Is(err, domain.ErrInvalid) {
		return kafka.Permanent(err)
	}
	return err
}
