package domain

import (
	"fmt"
	"time"
)

// Availability search limits of the public API.
const (
	DefaultSearchRadiusM = 500
	MaxSearchRadiusM     = 5000
	DefaultSearchLimit   = 20
	MaxSearchLimit       = 100
	// LowBatteryPct: below it a vehicle is listed after every vehicle with
	// more charge (a flat bike still rides, so it is not hidden, only ranked
	// down), nearest first within each group.
	LowBatteryPct = 15
)

// Registration states a vehicle has in the fleet registry.
const (
	RegistryActive      = "active"
	RegistryMaintenance = "maintenance"
	RegistryRetired     = "retired"
)

// LiveState is what the availability index knows of a vehicle: the last
// telemetry, connectivity, booking holds, maintenance and registry data, and
// the operating area its position lies in.
type LiveState struct {
	VehicleID   string      `json:"vehicle_id"`
	VehicleType VehicleType `json:"vehicle_type,omitempty"`
	Position    *Point      `json:"position,omitempty"`
	BatteryPct  float64     `json:"battery_pct"`
	RangeKm     float64     `json:"range_km"`
	Locked      bool        `json:"locked"`
	PluggedIn   bool        `json:"plugged_in"`
	Online      bool        `json:"online"`
	Held        bool        `json:"held"`        // reserved or in a trip
	Maintenance bool        `json:"maintenance"` // set by the fleet registry
	Registered  bool        `json:"registered"`  // known to the fleet registry
	Retired     bool        `json:"retired"`
	// InOperatingArea, City and ZoneID come from the operating-area zones
	// that contain Position; City is a CityKey.
	InOperatingArea bool      `json:"in_operating_area"`
	City            string    `json:"city,omitempty"`
	ZoneID          string    `json:"zone_id,omitempty"`
	ReportedAt      time.Time `json:"reported_at"` // the vehicle clock of the last telemetry applied
}

// Available is the rule of domain.md: not reserved, not in a trip, not in
// maintenance, online, inside an operating area; and, so that a retired or
// unknown device never shows up, registered, not retired, with a known type
// and position.
func (s LiveState) Available() bool {
	return s.Registered && !s.Retired && s.VehicleType != "" && s.Position != nil &&
		!s.Held && !s.Maintenance && s.Online && s.InOperatingArea
}

// Telemetry is one position report as the availability index applies it.
type Telemetry struct {
	VehicleID   string
	VehicleType VehicleType // as the vehicle reports it; the registry's type wins
	Position    Point
	BatteryPct  float64
	RangeKm     float64
	Locked      bool
	PluggedIn   bool
	RecordedAt  time.Time // vehicle clock; older than the stored report means out of order
}

// AreaMatch is where a position lies: inside an operating area of City
// (zone ZoneID), or outside every one.
type AreaMatch struct {
	Inside bool
	City   string // CityKey
	ZoneID string
}

// Registration is a vehicle's fleet-registry record as availability needs it.
type Registration struct {
	VehicleID   string
	VehicleType VehicleType
	State       string // RegistryActive, RegistryMaintenance, RegistryRetired
	UpdatedAt   time.Time
}

// SearchQuery asks for available vehicles near a point.
type SearchQuery struct {
	Center        Point
	RadiusM       int         // 0: DefaultSearchRadiusM
	VehicleType   VehicleType // "": every type
	MinBatteryPct float64
	MinRangeKm    float64
	Limit         int // 0: DefaultSearchLimit
}

// Normalize fills defaults and checks the limits.
func (q *SearchQuery) Normalize() error {
	if err := q.Center.Validate(); err != nil {
		return err
	}
	if q.RadiusM == 0 {
		q.RadiusM = DefaultSearchRadiusM
	}
	if q.Limit == 0 {
		q.Limit = DefaultSearchLimit
	}
	switch {
	case q.RadiusM < 1 || q.RadiusM > MaxSearchRadiusM:
		return fmt.Errorf("%w: radius_m must be between 1 and %d", ErrInvalid, MaxSearchRadiusM)
	case q.Limit < 1 || q.Limit > MaxSearchLimit:
		return fmt.Errorf("%w: limit must be between 1 and %d", ErrInvalid, MaxSearchLimit)
	case q.MinBatteryPct < 0 || q.MinBatteryPct > 100:
		return fmt.Errorf("%w: min_battery must be between 0 and 100", ErrInvalid)
	case q.MinRangeKm < 0:
		return fmt.Errorf("%w: min_range_km must not be negative", ErrInvalid)
	}
	if q.VehicleType != "" {
		if _, err := ParseVehicleType(string(q.VehicleType)); err != nil {
			return err
		}
	}
	return nil
}

// IndexHit is an available vehicle found by a search, nearest first.
type IndexHit struct {
	VehicleID   string
	VehicleType VehicleType
	Position    Point
	DistanceM   float64
	BatteryPct  float64
	RangeKm     float64
	City        string
	ZoneID      string
	ReportedAt  time.Time
}

// VehiclePosition is a vehicle's stored position and the report it came from.
type VehiclePosition struct {
	VehicleID  string
	Position   Point
	ReportedAt time.Time
}

// AreaUpdate is a re-evaluated operating area for the report of ReportedAt.
type AreaUpdate struct {
	VehicleID  string
	ReportedAt time.Time
	Area       AreaMatch
}
