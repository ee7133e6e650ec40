package events

import "time"

// Fleet registry event types, on the compacted TopicFleetRegistry keyed by
// "vehicle:<id>", "bay:<id>" or "zone:<id>" (see RegistryKey): the latest
// record per key is the current definition.
const (
	TypeFleetVehicleUpsertedV1 = "com.mobilitycorp.fleet.vehicle.upserted.v1"
	TypeFleetBayUpsertedV1     = "com.mobilitycorp.fleet.bay.upserted.v1"
	TypeFleetZoneUpsertedV1    = "com.mobilitycorp.fleet.zone.upserted.v1"
)

// RegistryKey is the record key of an entity on TopicFleetRegistry; the
// prefix keeps a vehicle and a bay with the same id from compacting each other.
func RegistryKey(kind, id string) string { return kind + ":" + id }

// FleetVehicleUpsertedV1 is the current definition of a vehicle.
type FleetVehicleUpsertedV1 struct {
	VehicleID   string      `json:"vehicle_id"`
	VehicleType VehicleType `json:"vehicle_type"`
	Model       string      `json:"model"`
	Plate       string      `json:"plate,omitempty"` // cars and vans
	ZoneID      string      `json:"zone_id"`
	HomeBayID   string      `json:"home_bay_id,omitempty"`
	State       string      `json:"state"` // "active", "maintenance", "retired"
	UpdatedAt   time.Time   `json:"updated_at"`
	// Added with booking's fleet registry; empty in older records.
	Serial   string `json:"serial,omitempty"`    // bikes and scooters (cars and vans have Plate)
	RangeKm  int    `json:"range_km,omitempty"`  // estimated range on a full battery
	HomeCity string `json:"home_city,omitempty"` // city key, e.g. "berlin"
}

// FleetBayUpsertedV1 is the current definition of a parking or charging bay.
type FleetBayUpsertedV1 struct {
	BayID        string        `json:"bay_id"`
	ZoneID       string        `json:"zone_id"`
	Name         string        `json:"name"`
	Lat          float64       `json:"lat"`
	Lon          float64       `json:"lon"`
	RadiusMeters float64       `json:"radius_meters"`
	Capacity     int           `json:"capacity"`
	VehicleTypes []VehicleType `json:"vehicle_types"`
	Charging     bool          `json:"charging"`
	Active       bool          `json:"active"`
	UpdatedAt    time.Time     `json:"updated_at"`
	// Added with booking's fleet registry; empty in older records. Lat/Lon are
	// then the polygon's centroid and RadiusMeters a circle covering it.
	City string `json:"city,omitempty"` // city key, e.g. "berlin"
	// Polygon is the bay's GeoJSON rings (outer ring, then holes) of [lon, lat] positions, closed.
	Polygon     [][][2]float64 `json:"polygon,omitempty"`
	Chargers    int            `json:"chargers,omitempty"`     // EV charging points
	UnderServed bool           `json:"under_served,omitempty"` // returns here earn a reward
}

// FleetZoneUpsertedV1 is the current definition of an area with rules.
type FleetZoneUpsertedV1 struct {
	ZoneID string `json:"zone_id"`
	Name   string `json:"name"`
	City   string `json:"city"`
	Kind   string `json:"kind"` // ZoneKindOperating, ZoneKindNoParking, ZoneKindSlow, ZoneKindNoGo
	// Polygon is the outer ring as [lon, lat] pairs (GeoJSON order), closed.
	Polygon     [][2]float64 `json:"polygon"`
	MaxSpeedKmh float64      `json:"max_speed_kmh,omitempty"`
	Active      bool         `json:"active"`
	UpdatedAt   time.Time    `json:"updated_at"`
	// Holes are the polygon's inner rings, [lon, lat], closed (added with
	// booking's fleet registry; none in older records).
	Holes [][][2]float64 `json:"holes,omitempty"`
}

// Zone kinds of FleetZoneUpsertedV1.Kind.
const (
	ZoneKindOperating = "operating"  // vehicles are offered and bikes/scooters may end here
	ZoneKindNoParking = "no-parking" // bikes and scooters may not end here outside a bay
	ZoneKindSlow      = "slow"       // speed capped at MaxSpeedKmh
	ZoneKindNoGo      = "no-go"      // no riding through
)
