package domain

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// The fleet registry: vehicles, the parking bays they must be returned to and
// the zones whose rules apply where they ride and park.

// ValidateCity checks that city is already a city key (see CityKey, which
// tariffs use too): "berlin", "frankfurt-am-main".
func ValidateCity(city string) error {
	if k, err := CityKey(city); err != nil || k != city {
		return fmt.Errorf("%w: city %q must be a city key such as berlin or frankfurt-am-main", ErrInvalid, city)
	}
	return nil
}

// cityKey normalises a city name; an invalid one is left for Validate to report.
func cityKey(name string) string {
	if k, err := CityKey(name); err == nil {
		return k
	}
	return name
}

// VehicleStatus is the maintenance status staff set.
type VehicleStatus string

// Statuses: only an available vehicle can be rented; retired is final.
const (
	VehicleAvailable   VehicleStatus = "available"
	VehicleMaintenance VehicleStatus = "maintenance"
	VehicleRetired     VehicleStatus = "retired"
)

// ParseVehicleStatus validates s.
func ParseVehicleStatus(s string) (VehicleStatus, error) {
	switch st := VehicleStatus(s); st {
	case VehicleAvailable, VehicleMaintenance, VehicleRetired:
		return st, nil
	}
	return "", fmt.Errorf("%w: status %q is not one of available, maintenance, retired", ErrInvalid, s)
}

// OutOfService reports whether the vehicle must not be offered: maintenance or retired.
func (s VehicleStatus) OutOfService() bool { return s != VehicleAvailable }

// Vehicle is a registered vehicle. Cars and vans carry a number plate,
// bikes and scooters the frame serial printed on them.
type Vehicle struct {
	ID       string
	Type     VehicleType
	Model    string
	Plate    string // cars and vans
	Serial   string // bikes and scooters
	RangeKm  int    // estimated range on a full battery
	HomeCity string
	Status   VehicleStatus
	// MaintenanceNote says why a vehicle is in maintenance (a fault report, a
	// staff note); cleared when it is available again.
	MaintenanceNote string
	UpdatedBy       string
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

var identifier = regexp.MustCompile(`^[A-Z0-9][A-Z0-9 -]{0,18}[A-Z0-9]$`)

func normaliseIdentifier(s string) string {
	return strings.Join(strings.Fields(strings.ToUpper(s)), " ")
}

// Validate checks v's invariants.
func (v Vehicle) Validate() error {
	var errs []error
	if _, err := ParseVehicleType(string(v.Type)); err != nil {
		errs = append(errs, err)
	}
	if n := utf8.RuneCountInString(v.Model); strings.TrimSpace(v.Model) == "" || n > 100 {
		errs = append(errs, fmt.Errorf("%w: model must have 1 to 100 characters", ErrInvalid))
	}
	if v.Type.NeedsLicence() {
		if !identifier.MatchString(v.Plate) {
			errs = append(errs, fmt.Errorf("%w: a %s needs a number plate of 2 to 20 letters, digits, blanks or dashes", ErrInvalid, v.Type))
		}
		if v.Serial != "" {
			errs = append(errs, fmt.Errorf("%w: a %s is identified by its plate, not a serial", ErrInvalid, v.Type))
		}
	} else if v.Type.Micromobility() {
		if !identifier.MatchString(v.Serial) {
			errs = append(errs, fmt.Errorf("%w: a %s needs a serial of 2 to 20 letters, digits, blanks or dashes", ErrInvalid, v.Type))
		}
		if v.Plate != "" {
			errs = append(errs, fmt.Errorf("%w: a %s has no number plate", ErrInvalid, v.Type))
		}
	}
	if v.RangeKm < 1 || v.RangeKm > 1500 {
		errs = append(errs, fmt.Errorf("%w: range_km must be between 1 and 1500", ErrInvalid))
	}
	if err := ValidateCity(v.HomeCity); err != nil {
		errs = append(errs, err)
	}
	if _, err := ParseVehicleStatus(string(v.Status)); err != nil {
		errs = append(errs, err)
	}
	if utf8.RuneCountInString(v.MaintenanceNote) > 500 {
		errs = append(errs, fmt.Errorf("%w: maintenance note must have at most 500 characters", ErrInvalid))
	}
	return errors.Join(errs...)
}

// NewVehicle registers a vehicle; an empty status means available.
func NewVehicle(v Vehicle, now time.Time) (Vehicle, error) {
	v.Model = strings.TrimSpace(v.Model)
	v.HomeCity = cityKey(v.HomeCity)
	v.Plate, v.Serial = normaliseIdentifier(v.Plate), normaliseIdentifier(v.Serial)
	v.MaintenanceNote = strings.TrimSpace(v.MaintenanceNote)
	if v.Status == "" {
		v.Status = VehicleAvailable
	}
	if v.Status == VehicleAvailable {
		v.MaintenanceNote = ""
	}
	v.CreatedAt, v.UpdatedAt = now, now
	return v, v.Validate()
}

// VehiclePatch changes a vehicle; nil fields stay. The type never changes: a
// different type is a different vehicle.
type VehiclePatch struct {
	Model           *string
	Plate           *string
	Serial          *string
	RangeKm         *int
	HomeCity        *string
	Status          *VehicleStatus
	MaintenanceNote *string
}

// Apply validates and applies p. A retired vehicle is final: it can no
// longer change, so its history stays attributable.
func (v *Vehicle) Apply(p VehiclePatch, by string, now time.Time) (statusChanged bool, err error) {
	if v.Status == VehicleRetired {
		return false, fmt.Errorf("%w: vehicle %s is retired and cannot change", ErrConflict, v.ID)
	}
	next := *v
	if p.Model != nil {
		next.Model = strings.TrimSpace(*p.Model)
	}
	if p.Plate != nil {
		next.Plate = normaliseIdentifier(*p.Plate)
	}
	if p.Serial != nil {
		next.Serial = normaliseIdentifier(*p.Serial)
	}
	if p.RangeKm != nil {
		next.RangeKm = *p.RangeKm
	}
	if p.HomeCity != nil {
		next.HomeCity = cityKey(*p.HomeCity)
	}
	if p.Status != nil {
		next.Status = *p.Status
	}
	if p.MaintenanceNote != nil {
		next.MaintenanceNote = strings.TrimSpace(*p.MaintenanceNote)
	}
	if next.Status == VehicleAvailable {
		next.MaintenanceNote = ""
	}
	if err := next.Validate(); err != nil {
		return false, err
	}
	next.UpdatedBy, next.UpdatedAt = by, now
	statusChanged = next.Status != v.Status
	*v = next
	return statusChanged, nil
}

// Bay is a designated parking (and, with chargers, charging) area. Every
// rental ends inside one.
type Bay struct {
	ID           string
	Name         string
	City         string
	Polygon      Polygon
	Capacity     int
	VehicleTypes []VehicleType
	Chargers     int  // EV charging points; cars and vans must end plugged in
	UnderServed  bool // returns here earn a reward credit
	Active       bool
	UpdatedBy    string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Accepts reports whether vehicles of type t may be returned to the bay.
func (b Bay) Accepts(t VehicleType) bool { return slices.Contains(b.VehicleTypes, t) }

// Validate checks b's invariants. A bay that takes cars or vans needs a
// charger, since they must end plugged in.
func (b Bay) Validate() error {
	var errs []error
	if n := utf8.RuneCountInString(b.Name); strings.TrimSpace(b.Name) == "" || n > 200 {
		errs = append(errs, fmt.Errorf("%w: name must have 1 to 200 characters", ErrInvalid))
	}
	if err := ValidateCity(b.City); err != nil {
		errs = append(errs, err)
	}
	if err := validateArea(b.Polygon); err != nil {
		errs = append(errs, err)
	}
	if b.Capacity < 1 || b.Capacity > 10_000 {
		errs = append(errs, fmt.Errorf("%w: capacity must be between 1 and 10000", ErrInvalid))
	}
	if len(b.VehicleTypes) == 0 {
		errs = append(errs, fmt.Errorf("%w: a bay takes at least one vehicle type", ErrInvalid))
	}
	for _, t := range b.VehicleTypes {
		if _, err := ParseVehicleType(string(t)); err != nil {
			errs = append(errs, err)
		}
	}
	if b.Chargers < 0 || b.Chargers > b.Capacity {
		errs = append(errs, fmt.Errorf("%w: chargers must be between 0 and the capacity", ErrInvalid))
	}
	if b.Chargers == 0 && (b.Accepts(Car) || b.Accepts(Van)) {
		errs = append(errs, fmt.Errorf("%w: a bay for cars or vans needs at least one charger: they must end plugged in", ErrInvalid))
	}
	return errors.Join(errs...)
}

// maxAreaSpanDeg bounds a bay's or zone's extent (about 100 km): larger shapes
// are typing mistakes, and planar containment is only accurate at city scale.
const maxAreaSpanDeg = 1.0

func validateArea(pg Polygon) error {
	if err := pg.Validate(); err != nil {
		return err
	}
	minP, maxP := pg.Bounds()
	if maxP.Lat-minP.Lat > maxAreaSpanDeg || maxP.Lon-minP.Lon > maxAreaSpanDeg {
		return fmt.Errorf("%w: polygon spans more than %.0f degree; split it", ErrInvalid, maxAreaSpanDeg)
	}
	if maxP.Lat == minP.Lat || maxP.Lon == minP.Lon {
		return fmt.Errorf("%w: polygon has no area", ErrInvalid)
	}
	return nil
}

// Bounds returns the south-west and north-east corners of the outer ring.
func (pg Polygon) Bounds() (minP, maxP Point) {
	if len(pg) == 0 || len(pg[0]) == 0 {
		return Point{}, Point{}
	}
	minP, maxP = pg[0][0], pg[0][0]
	for _, p := range pg[0] {
		minP.Lat, minP.Lon = math.Min(minP.Lat, p.Lat), math.Min(minP.Lon, p.Lon)
		maxP.Lat, maxP.Lon = math.Max(maxP.Lat, p.Lat), math.Max(maxP.Lon, p.Lon)
	}
	return minP, maxP
}

// RadiusM is the distance from the centroid to the farthest outer vertex: a
// circle that covers the polygon, for consumers that only know circles.
func (pg Polygon) RadiusM() float64 {
	if len(pg) == 0 {
		return 0
	}
	c, r := pg.Centroid(), 0.0
	for _, p := range pg[0] {
		r = math.Max(r, DistanceM(c, p))
	}
	return r
}

// NewBay validates a new bay; bays start active.
func NewBay(b Bay, now time.Time) (Bay, error) {
	b.Name = strings.TrimSpace(b.Name)
	b.City = cityKey(b.City)
	b.VehicleTypes = distinctTypes(b.VehicleTypes)
	b.Active = true
	b.CreatedAt, b.UpdatedAt = now, now
	return b, b.Validate()
}

func distinctTypes(ts []VehicleType) []VehicleType {
	out := slices.Clone(ts)
	slices.Sort(out)
	return slices.Compact(out)
}

// BayPatch changes a bay; nil fields stay.
type BayPatch struct {
	Name         *string
	City         *string
	Polygon      Polygon
	Capacity     *int
	VehicleTypes []VehicleType
	Chargers     *int
	UnderServed  *bool
	Active       *bool
}

// Apply validates and applies p.
func (b *Bay) Apply(p BayPatch, by string, now time.Time) error {
	next := *b
	if p.Name != nil {
		next.Name = strings.TrimSpace(*p.Name)
	}
	if p.City != nil {
		next.City = cityKey(*p.City)
	}
	if p.Polygon != nil {
		next.Polygon = p.Polygon
	}
	if p.Capacity != nil {
		next.Capacity = *p.Capacity
	}
	if p.VehicleTypes != nil {
		next.VehicleTypes = distinctTypes(p.VehicleTypes)
	}
	if p.Chargers != nil {
		next.Chargers = *p.Chargers
	}
	if p.UnderServed != nil {
		next.UnderServed = *p.UnderServed
	}
	if p.Active != nil {
		next.Active = *p.Active
	}
	if err := next.Validate(); err != nil {
		return err
	}
	next.UpdatedBy, next.UpdatedAt = by, now
	*b = next
	return nil
}

// ZoneKind is what a zone means for riding and parking.
type ZoneKind string

// Zone kinds.
const (
	ZoneOperatingArea ZoneKind = "operating_area" // vehicles are offered and may end here
	ZoneNoParking     ZoneKind = "no_parking"     // bikes and scooters may not end here
	ZoneSlow          ZoneKind = "slow"           // speed capped at MaxSpeedKmh
	ZoneNoRideThrough ZoneKind = "no_ride_through"
)

// ParseZoneKind validates s.
func ParseZoneKind(s string) (ZoneKind, error) {
	switch k := ZoneKind(s); k {
	case ZoneOperatingArea, ZoneNoParking, ZoneSlow, ZoneNoRideThrough:
		return k, nil
	}
	return "", fmt.Errorf("%w: zone kind %q is not one of operating_area, no_parking, slow, no_ride_through", ErrInvalid, s)
}

// Zone is an area with a rule.
type Zone struct {
	ID          string
	Name        string
	City        string
	Kind        ZoneKind
	MaxSpeedKmh int // slow zones only
	Polygon     Polygon
	Active      bool
	UpdatedBy   string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Speed caps of slow zones: national rules cap e-scooters at 20–25 km/h, and a
// slow zone is below that.
const (
	minSlowKmh = 3
	maxSlowKmh = 25
)

// Validate checks z's invariants: only slow zones, and every slow zone, carry a speed cap.
func (z Zone) Validate() error {
	var errs []error
	if n := utf8.RuneCountInString(z.Name); strings.TrimSpace(z.Name) == "" || n > 200 {
		errs = append(errs, fmt.Errorf("%w: name must have 1 to 200 characters", ErrInvalid))
	}
	if err := ValidateCity(z.City); err != nil {
		errs = append(errs, err)
	}
	if _, err := ParseZoneKind(string(z.Kind)); err != nil {
		errs = append(errs, err)
	}
	switch {
	case z.Kind == ZoneSlow && (z.MaxSpeedKmh < minSlowKmh || z.MaxSpeedKmh > maxSlowKmh):
		errs = append(errs, fmt.Errorf("%w: a slow zone needs max_speed_kmh between %d and %d", ErrInvalid, minSlowKmh, maxSlowKmh))
	case z.Kind != ZoneSlow && z.MaxSpeedKmh != 0:
		errs = append(errs, fmt.Errorf("%w: only slow zones have max_speed_kmh", ErrInvalid))
	}
	if err := validateArea(z.Polygon); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// NewZone validates a new zone; zones start active.
func NewZone(z Zone, now time.Time) (Zone, error) {
	z.Name = strings.TrimSpace(z.Name)
	z.City = cityKey(z.City)
	z.Active = true
	z.CreatedAt, z.UpdatedAt = now, now
	return z, z.Validate()
}

// ZonePatch changes a zone; nil fields stay. A zone's kind never changes:
// consumers key their rules on it.
type ZonePatch struct {
	Name        *string
	City        *string
	MaxSpeedKmh *int
	Polygon     Polygon
	Active      *bool
}

// Apply validates and applies p.
func (z *Zone) Apply(p ZonePatch, by string, now time.Time) error {
	next := *z
	if p.Name != nil {
		next.Name = strings.TrimSpace(*p.Name)
	}
	if p.City != nil {
		next.City = cityKey(*p.City)
	}
	if p.MaxSpeedKmh != nil {
		next.MaxSpeedKmh = *p.MaxSpeedKmh
	}
	if p.Polygon != nil {
		next.Polygon = p.Polygon
	}
	if p.Active != nil {
		next.Active = *p.Active
	}
	if err := next.Validate(); err != nil {
		return err
	}
	next.UpdatedBy, next.UpdatedAt = by, now
	*z = next
	return nil
}

// InOperatingArea reports whether any of zones (those at a point) is an operating area.
func InOperatingArea(zones []Zone) bool {
	return slices.ContainsFunc(zones, func(z Zone) bool { return z.Active && z.Kind == ZoneOperatingArea })
}

// SpeedLimitKmh is the lowest cap of the slow zones among zones; 0 when none.
func SpeedLimitKmh(zones []Zone) int {
	limit := 0
	for _, z := range zones {
		if z.Active && z.Kind == ZoneSlow && (limit == 0 || z.MaxSpeedKmh < limit) {
			limit = z.MaxSpeedKmh
		}
	}
	return limit
}

// EndingVerdict says whether a rental of some type may end at a point, and why not.
type EndingVerdict struct {
	Allowed bool
	Reason  string // "outside_operating_area", "no_parking_zone", "no_ride_through_zone"
	ZoneID  string // the zone that forbids it, if one does
}

// EndingAllowed applies the zone rules to the zones at a point. Bikes and
// scooters may only end in permitted zones: inside an operating area, in no
// no-ride-through zone, and in no no-parking zone unless inside a designated
// bay (cities forbid free parking but keep bays for it). Cars and vans are bound by bays, not
// zones (suburban bays may lie outside the micromobility operating areas);
// see CheckReturnLocation.
func EndingAllowed(t VehicleType, zones []Zone, inBay bool) EndingVerdict {
	if !t.Micromobility() {
		return EndingVerdict{Allowed: true}
	}
	if !InOperatingArea(zones) {
		return EndingVerdict{Reason: "outside_operating_area"}
	}
	for _, z := range zones {
		if !z.Active {
			continue
		}
		switch z.Kind {
		case ZoneNoParking:
			if inBay {
				continue
			}
			return EndingVerdict{Reason: "no_parking_zone", ZoneID: z.ID}
		case ZoneNoRideThrough:
			return EndingVerdict{Reason: "no_ride_through_zone", ZoneID: z.ID}
		}
	}
	return EndingVerdict{Allowed: true}
}

// ReturnLocation is the location part of a return check.
type ReturnLocation struct {
	Bay    *Bay // the bay containing the point that takes the type; nil when none
	Zones  []Zone
	Ending EndingVerdict
	// InBay and Ending.Allowed together make a correct return; either false
	// means the wrong-location fine (the trip still ends).
	InBay bool
}

// OK reports whether the location is a correct return.
func (r ReturnLocation) OK() bool { return r.InBay && r.Ending.Allowed }

// CheckReturnLocation decides where a rental of type t ending at p stands,
// given the active bays whose bounding box holds p and the zones at p.
// Overlapping bays are resolved to the smallest, the most specific one.
func CheckReturnLocation(t VehicleType, p Point, candidates []Bay, zones []Zone) ReturnLocation {
	var best *Bay
	bestArea := math.Inf(1)
	for i := range candidates {
		b := &candidates[i]
		if !b.Active || !b.Accepts(t) || !b.Polygon.Contains(p) {
			continue
		}
		minP, maxP := b.Polygon.Bounds()
		if a := (maxP.Lat - minP.Lat) * (maxP.Lon - minP.Lon); a < bestArea || (a == bestArea && b.ID < best.ID) {
			best, bestArea = b, a
		}
	}
	r := ReturnLocation{Zones: zones, Ending: EndingAllowed(t, zones, best != nil)}
	if best != nil {
		b := *best
		r.Bay, r.InBay = &b, true
	}
	return r
}
