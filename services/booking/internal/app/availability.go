package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/mobilitycorp/platform/services/booking/internal/domain"
)

// AvailabilityIndex is the index of vehicle states and available vehicles
// (adapters/redis.Index).
type AvailabilityIndex interface {
	ApplyTelemetry(ctx context.Context, t domain.Telemetry, area domain.AreaMatch) (bool, error)
	ApplyStatus(ctx context.Context, vehicleID string, online bool, at time.Time) (bool, error)
	ApplyRegistration(ctx context.Context, r domain.Registration) (bool, error)
	Unregister(ctx context.Context, vehicleID string) error
	SetHeld(ctx context.Context, vehicleID string, held bool) error
	SetMaintenance(ctx context.Context, vehicleID string, on bool) error
	SetArea(ctx context.Context, vehicleID string, reportedAt time.Time, area domain.AreaMatch) (bool, error)
	SetAreas(ctx context.Context, updates []domain.AreaUpdate) (int, error)
	Search(ctx context.Context, q domain.SearchQuery, reportedSince time.Time) ([]domain.IndexHit, error)
	State(ctx context.Context, vehicleID string) (domain.LiveState, bool, error)
	PositionsWithin(ctx context.Context, sw, ne domain.Point) ([]domain.VehiclePosition, error)
	ZoneFingerprint(ctx context.Context, zoneID string) (string, error)
	SetZoneFingerprint(ctx context.Context, zoneID, fingerprint string) error
}

// PriceBooks gives the current price book (Pricing).
type PriceBooks interface {
	Book(ctx context.Context) (*domain.PriceBook, error)
}

// AvailabilityOptions configure Availability; zero values take the defaults.
type AvailabilityOptions struct {
	// MaxReportAge hides a vehicle whose last report is older, in case it
	// went silent without an offline status (default 15m; vehicles report
	// every 10–30 s).
	MaxReportAge time.Duration
	Logger       *slog.Logger
	Now          func() time.Time
}

// Availability answers "which vehicles can I take here, and at what price",
// and keeps the index current from telemetry, the fleet registry and
// booking's own holds.
type Availability struct {
	index  AvailabilityIndex
	areas  *OperatingAreas
	prices PriceBooks
	maxAge time.Duration
	logger *slog.Logger
	now    func() time.Time
}

// NewAvailability returns the service.
func NewAvailability(index AvailabilityIndex, areas *OperatingAreas, prices PriceBooks, opts AvailabilityOptions) *Availability {
	if opts.MaxReportAge <= 0 {
		opts.MaxReportAge = 15 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Availability{index: index, areas: areas, prices: prices, maxAge: opts.MaxReportAge, logger: opts.Logger, now: opts.Now}
}

// AvailableVehicle is a search result: the vehicle and its current price
// (nil when its city has no tariff for its type).
type AvailableVehicle struct {
	domain.IndexHit
	Price *domain.PriceTerms
}

// Search returns available vehicles near q.Center, ranked: charged vehicles
// before those below domain.LowBatteryPct, nearest first within each group.
func (a *Availability) Search(ctx context.Context, q domain.SearchQuery) ([]AvailableVehicle, error) {
	if err := q.Normalize(); err != nil {
		return nil, err
	}
	book, err := a.prices.Book(ctx)
	if err != nil {
		return nil, err
	}
	hits, err := a.index.Search(ctx, q, a.now().Add(-a.maxAge))
	if err != nil {
		return nil, err
	}
	out := make([]AvailableVehicle, len(hits))
	for i, h := range hits {
		out[i].IndexHit = h
		if terms, err := book.Terms(h.City, h.VehicleType, h.ZoneID); err == nil {
			out[i].Price = &terms
		}
	}
	return out, nil
}

// State returns what the index knows of a vehicle: position, battery, range,
// lock and plug state, connectivity (trips read the plug state at return).
func (a *Availability) State(ctx context.Context, vehicleID string) (domain.LiveState, error) {
	s, ok, err := a.index.State(ctx, vehicleID)
	if err != nil {
		return domain.LiveState{}, err
	}
	if !ok {
		return domain.LiveState{}, fmt.Errorf("%w: vehicle %s has never reported", domain.ErrNotFound, vehicleID)
	}
	return s, nil
}

// MarkHeld hides a vehicle that a reservation or trip holds. Call it after
// the hold committed; the database's exclusion constraint, not the index,
// is what prevents double bookings.
func (a *Availability) MarkHeld(ctx context.Context, vehicleID string) error {
	return a.index.SetHeld(ctx, vehicleID, true)
}

// MarkFree offers a vehicle again once nothing holds it.
func (a *Availability) MarkFree(ctx context.Context, vehicleID string) error {
	return a.index.SetHeld(ctx, vehicleID, false)
}

// SetMaintenance hides (true) or offers again a vehicle in maintenance.
func (a *Availability) SetMaintenance(ctx context.Context, vehicleID string, inMaintenance bool) error {
	return a.index.SetMaintenance(ctx, vehicleID, inMaintenance)
}

// ApplyTelemetry stores a position report with the operating area it lies
// in; a report older than the stored one is ignored (applied false).
//
// An area changed while the report was being stored may have re-evaluated
// the vehicles before this report landed; then the report's area is
// computed again and corrected. (Another instance that learns of an area
// change later than this one may store a report with the old area; the
// vehicle's next report, 10–30 s on, puts that right.)
func (a *Availability) ApplyTelemetry(ctx context.Context, t domain.Telemetry) (bool, error) {
	epoch := a.areas.Epoch()
	area := a.areas.Locate(t.Position)
	applied, err := a.index.ApplyTelemetry(ctx, t, area)
	if err != nil || !applied || a.areas.Epoch() == epoch {
		return applied, err
	}
	if now := a.areas.Locate(t.Position); now != area {
		if _, err := a.index.SetArea(ctx, t.VehicleID, t.RecordedAt, now); err != nil {
			return true, err
		}
	}
	return true, nil
}

// ApplyStatus stores connectivity unless a newer change is stored.
func (a *Availability) ApplyStatus(ctx context.Context, vehicleID string, online bool, at time.Time) (bool, error) {
	return a.index.ApplyStatus(ctx, vehicleID, online, at)
}

// ApplyRegistration stores a vehicle's fleet-registry record.
func (a *Availability) ApplyRegistration(ctx context.Context, r domain.Registration) (bool, error) {
	return a.index.ApplyRegistration(ctx, r)
}

// Unregister forgets a vehicle removed from the registry.
func (a *Availability) Unregister(ctx context.Context, vehicleID string) error {
	return a.index.Unregister(ctx, vehicleID)
}

// Areas is the in-memory set of operating areas.
func (a *Availability) Areas() *OperatingAreas { return a.areas }

// OperatingZone is an operating-area zone as the fleet registry defines it.
type OperatingZone struct {
	ID      string
	City    string // a city name or key
	Polygon domain.Polygon
}

// UpsertOperatingArea sets an operating area in memory and re-evaluates the
// vehicles in the old and new outline, unless the index already was
// evaluated against this very definition (every instance reads the whole
// registry at start; only the first one to see a change does the work).
func (a *Availability) UpsertOperatingArea(ctx context.Context, z OperatingZone) error {
	city, err := domain.CityKey(z.City)
	if err != nil {
		return fmt.Errorf("zone %s: %w", z.ID, err)
	}
	if err := z.Polygon.Validate(); err != nil {
		return fmt.Errorf("zone %s: %w", z.ID, err)
	}
	box := AreaBoxOf(z.Polygon)
	a.areas.Upsert(z.ID, city, z.Polygon)
	fp := zoneFingerprint(city, z.Polygon, box)
	stored, err := a.index.ZoneFingerprint(ctx, z.ID)
	if err != nil {
		return err
	}
	if stored == fp {
		return nil
	}
	if oldBox, ok := boxFromFingerprint(stored); ok {
		box = box.Union(oldBox)
	}
	if err := a.reevaluate(ctx, box); err != nil {
		return err
	}
	return a.index.SetZoneFingerprint(ctx, z.ID, fp)
}

// RemoveOperatingArea drops an area (deleted, deactivated or no longer of
// the operating kind) and re-evaluates the vehicles it covered.
func (a *Availability) RemoveOperatingArea(ctx context.Context, zoneID string) error {
	box, inMemory := a.areas.Remove(zoneID)
	stored, err := a.index.ZoneFingerprint(ctx, zoneID)
	if err != nil {
		return err
	}
	storedBox, inIndex := boxFromFingerprint(stored)
	switch {
	case inIndex && inMemory:
		box = box.Union(storedBox)
	case inIndex:
		box = storedBox
	case !inMemory:
		return nil // never was an operating area the index knew
	}
	if err := a.reevaluate(ctx, box); err != nil {
		return err
	}
	return a.index.SetZoneFingerprint(ctx, zoneID, "")
}

func (a *Availability) reevaluate(ctx context.Context, box AreaBox) error {
	ps, err := a.index.PositionsWithin(ctx, box.SW, box.NE)
	if err != nil {
		return err
	}
	updates := make([]domain.AreaUpdate, len(ps))
	for i, p := range ps {
		updates[i] = domain.AreaUpdate{VehicleID: p.VehicleID, ReportedAt: p.ReportedAt, Area: a.areas.Locate(p.Position)}
	}
	n, err := a.index.SetAreas(ctx, updates)
	if err != nil {
		return err
	}
	a.logger.InfoContext(ctx, "availability: operating areas re-evaluated", slog.Int("vehicles", len(ps)), slog.Int("applied", n))
	return nil
}

// zoneFingerprint is "<hash of the definition>;<box>": the box lets a later
// removal find the vehicles to re-evaluate even on an instance that never
// held the zone in memory.
func zoneFingerprint(city string, pg domain.Polygon, box AreaBox) string {
	raw, _ := json.Marshal(struct {
		City    string
		Polygon domain.Polygon
	}{city, pg})
	sum := sha256.Sum256(raw)
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	return hex.EncodeToString(sum[:12]) + ";" + strings.Join([]string{f(box.SW.Lat), f(box.SW.Lon), f(box.NE.Lat), f(box.NE.Lon)}, ",")
}

func boxFromFingerprint(fp string) (AreaBox, bool) {
	_, coords, ok := strings.Cut(fp, ";")
	if !ok {
		return AreaBox{}, false
	}
	parts := strings.Split(coords, ",")
	if len(parts) != 4 {
		return AreaBox{}, false
	}
	var v [4]float64
	for i, s := range parts {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return AreaBox{}, false
		}
		v[i] = f
	}
	return AreaBox{SW: domain.Point{Lat: v[0], Lon: v[1]}, NE: domain.Point{Lat: v[2], Lon: v[3]}}, true
}
