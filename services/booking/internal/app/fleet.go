package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
)

// MaintenanceListener learns when a vehicle goes into or out of service, so
// it stops or starts being offered; the availability index implements it.
// Calls for one vehicle never overlap, and the latest call is the truth: a
// retired vehicle is reported as in maintenance.
type MaintenanceListener interface {
	SetMaintenance(ctx context.Context, vehicleID string, inMaintenance bool) error
}

// RegistryRecord is a fleet.registry record to enqueue with a change:
// the compacted topic keeps the latest per Key.
type RegistryRecord struct {
	Key   string
	Event events.Event
}

// VehicleFilter narrows a vehicle listing; zero fields match all.
type VehicleFilter struct {
	Type     domain.VehicleType
	Status   domain.VehicleStatus
	HomeCity string
}

// BayFilter narrows a bay listing; zero fields match all.
type BayFilter struct {
	City        string
	VehicleType domain.VehicleType
	UnderServed *bool
	Active      *bool
}

// ZoneFilter narrows a zone listing; zero fields match all.
type ZoneFilter struct {
	City   string
	Kind   domain.ZoneKind
	Active *bool
}

// FleetRepository stores the registry. Each write enqueues its registry
// record(s) in the same transaction; updates run fn on the row read under a
// lock, and publish nothing when fn returns no record.
type FleetRepository interface {
	// CreateVehicle fails with domain.ErrConflict when the plate or serial is in service already.
	CreateVehicle(ctx context.Context, v domain.Vehicle, rec RegistryRecord) error
	// UpdateVehicle marks the vehicle for a maintenance sync when its status changed.
	UpdateVehicle(ctx context.Context, id string, fn func(v *domain.Vehicle) (*RegistryRecord, error)) (domain.Vehicle, error)
	Vehicle(ctx context.Context, id string) (domain.Vehicle, error)
	Vehicles(ctx context.Context, f VehicleFilter, afterID string, limit int) ([]domain.Vehicle, error)
	// SyncMaintenance locks the vehicle and, if its status is not yet synced,
	// calls push with it and marks it synced when push succeeds. It reports
	// whether push ran.
	SyncMaintenance(ctx context.Context, id string, push func(ctx context.Context, status domain.VehicleStatus) error) (bool, error)
	// PendingMaintenance lists vehicles whose status is not yet synced.
	PendingMaintenance(ctx context.Context, limit int) ([]string, error)

	CreateBay(ctx context.Context, b domain.Bay, rec RegistryRecord) error
	UpdateBay(ctx context.Context, id string, fn func(b *domain.Bay) (*RegistryRecord, error)) (domain.Bay, error)
	Bay(ctx context.Context, id string) (domain.Bay, error)
	Bays(ctx context.Context, f BayFilter, afterID string, limit int) ([]domain.Bay, error)
	// ActiveBaysIntersecting returns the active bays whose bounding box meets
	// the box [minP, maxP] (a point when equal); callers test the polygons.
	ActiveBaysIntersecting(ctx context.Context, minP, maxP domain.Point) ([]domain.Bay, error)
	// NearestActiveBays returns up to limit active bays taking t (any type
	// when empty) whose bounding box meets [minP, maxP], nearest centre to p first.
	NearestActiveBays(ctx context.Context, p, minP, maxP domain.Point, t domain.VehicleType, limit int) ([]domain.Bay, error)

	CreateZone(ctx context.Context, z domain.Zone, rec RegistryRecord) error
	UpdateZone(ctx context.Context, id string, fn func(z *domain.Zone) (*RegistryRecord, error)) (domain.Zone, error)
	Zone(ctx context.Context, id string) (domain.Zone, error)
	Zones(ctx context.Context, f ZoneFilter, afterID string, limit int) ([]domain.Zone, error)
	// ActiveZones returns every active zone with a fingerprint of the whole
	// zones table that changes with any write.
	ActiveZones(ctx context.Context) ([]domain.Zone, string, error)
	// ZonesFingerprint is ActiveZones' fingerprint alone, cheap to poll.
	ZonesFingerprint(ctx context.Context) (string, error)
}

// FleetOptions configures Fleet; zero values mean the defaults.
type FleetOptions struct {
	// Listener is told about maintenance changes; nil keeps them pending
	// (flagged in the database) until a listener is wired.
	Listener MaintenanceListener
	// ZoneRefresh is how often RunZoneRefresh checks for zone changes made
	// by other replicas (default 10s); this replica's writes apply at once.
	ZoneRefresh time.Duration
	// MaintenanceSweep is how often RunMaintenanceSync retries pending
	// maintenance syncs (default 5s).
	MaintenanceSweep time.Duration
	Logger           *slog.Logger
	Now              func() time.Time
}

// Fleet is the fleet registry: staff manage vehicles, bays and zones; the
// other booking areas look vehicles up and check locations. Zones are served
// from memory (they are few and read on every telemetry message); bays from
// the database's spatial index.
type Fleet struct {
	repo  FleetRepository
	opts  FleetOptions
	zones atomic.Pointer[zoneIndex]
	// reload serialises zone reloads, so an older snapshot never replaces a newer one.
	reload sync.Mutex
}

// NewFleet returns the registry. Call RefreshZones once before serving.
func NewFleet(repo FleetRepository, opts FleetOptions) *Fleet {
	if opts.ZoneRefresh <= 0 {
		opts.ZoneRefresh = 10 * time.Second
	}
	if opts.MaintenanceSweep <= 0 {
		opts.MaintenanceSweep = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	f := &Fleet{repo: repo, opts: opts}
	f.zones.Store(newZoneIndex(nil, ""))
	return f
}

func (f *Fleet) now() time.Time { return f.opts.Now().UTC() }

func newID() (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("new id: %w", err)
	}
	return id.String(), nil
}

// ---- vehicles ----

// CreateVehicle registers a vehicle and publishes it.
func (f *Fleet) CreateVehicle(ctx context.Context, by string, v domain.Vehicle) (domain.Vehicle, error) {
	id, err := newID()
	if err != nil {
		return domain.Vehicle{}, err
	}
	v.ID, v.UpdatedBy = id, by
	if v, err = domain.NewVehicle(v, f.now()); err != nil {
		return domain.Vehicle{}, err
	}
	rec, err := vehicleRecord(v)
	if err != nil {
		return domain.Vehicle{}, err
	}
	if err := f.repo.CreateVehicle(ctx, v, rec); err != nil {
		return domain.Vehicle{}, err
	}
	f.syncMaintenance(ctx, v.ID)
	return v, nil
}

// UpdateVehicle changes a vehicle; a status change reaches the availability
// index right after commit (or, should that fail, from the sweeper).
func (f *Fleet) UpdateVehicle(ctx context.Context, by, id string, p domain.VehiclePatch) (domain.Vehicle, error) {
	statusChanged := false
	v, err := f.repo.UpdateVehicle(ctx, id, func(v *domain.Vehicle) (*RegistryRecord, error) {
		changed, err := v.Apply(p, by, f.now())
		if err != nil {
			return nil, err
		}
		statusChanged = changed
		rec, err := vehicleRecord(*v)
		return &rec, err
	})
	if err != nil {
		return domain.Vehicle{}, err
	}
	if statusChanged {
		f.syncMaintenance(ctx, id)
	}
	return v, nil
}

// SendToMaintenance puts an available vehicle into maintenance with a note,
// e.g. after a customer reported a fault. A vehicle already out of service
// is left as it is, so repeated reports are harmless.
func (f *Fleet) SendToMaintenance(ctx context.Context, by, vehicleID, note string) (domain.Vehicle, error) {
	statusChanged := false
	v, err := f.repo.UpdateVehicle(ctx, vehicleID, func(v *domain.Vehicle) (*RegistryRecord, error) {
		if v.Status != domain.VehicleAvailable {
			return nil, nil
		}
		st := domain.VehicleMaintenance
		if _, err := v.Apply(domain.VehiclePatch{Status: &st, MaintenanceNote: &note}, by, f.now()); err != nil {
			return nil, err
		}
		statusChanged = true
		rec, err := vehicleRecord(*v)
		return &rec, err
	})
	if err != nil {
		return domain.Vehicle{}, err
	}
	if statusChanged {
		f.syncMaintenance(ctx, vehicleID)
	}
	return v, nil
}

// Vehicle looks a vehicle up (domain.ErrNotFound when unknown).
func (f *Fleet) Vehicle(ctx context.Context, id string) (domain.Vehicle, error) {
	return f.repo.Vehicle(ctx, id)
}

// Vehicles lists vehicles by id (creation order) after afterID.
func (f *Fleet) Vehicles(ctx context.Context, flt VehicleFilter, afterID string, limit int) ([]domain.Vehicle, error) {
	return f.repo.Vehicles(ctx, flt, afterID, limit)
}

// syncMaintenance tells the listener about the vehicle's current status.
// The change is committed already; a failure leaves it pending for the
// sweeper, so it is logged, not returned.
func (f *Fleet) syncMaintenance(ctx context.Context, id string) {
	if f.opts.Listener == nil {
		return
	}
	if _, err := f.repo.SyncMaintenance(ctx, id, f.push(id)); err != nil {
		f.opts.Logger.WarnContext(ctx, "maintenance sync failed; the sweeper retries",
			slog.String("vehicle_id", id), slog.Any("error", err))
	}
}

func (f *Fleet) push(id string) func(ctx context.Context, st domain.VehicleStatus) error {
	return func(ctx context.Context, st domain.VehicleStatus) error {
		return f.opts.Listener.SetMaintenance(ctx, id, st.OutOfService())
	}
}

// SyncPendingMaintenance pushes every pending maintenance change once and
// returns how many it pushed.
func (f *Fleet) SyncPendingMaintenance(ctx context.Context) (int, error) {
	if f.opts.Listener == nil {
		return 0, nil
	}
	pushed := 0
	for {
		ids, err := f.repo.PendingMaintenance(ctx, 500)
		if err != nil {
			return pushed, err
		}
		progress := false
		var errs []error
		for _, id := range ids {
			ok, err := f.repo.SyncMaintenance(ctx, id, f.push(id))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if ok {
				pushed++
				progress = true
			}
		}
		if len(errs) > 0 {
			return pushed, errors.Join(errs...)
		}
		if len(ids) < 500 || !progress {
			return pushed, nil
		}
	}
}

// RunMaintenanceSync retries pending maintenance syncs every
// MaintenanceSweep until ctx ends; it starts with one sweep, which also
// catches up after a listener was first wired.
func (f *Fleet) RunMaintenanceSync(ctx context.Context) error {
	return every(ctx, f.opts.MaintenanceSweep, func(ctx context.Context) {
		if n, err := f.SyncPendingMaintenance(ctx); err != nil {
			f.opts.Logger.WarnContext(ctx, "maintenance sweep", slog.Int("pushed", n), slog.Any("error", err))
		} else if n > 0 {
			f.opts.Logger.InfoContext(ctx, "maintenance sweep", slog.Int("pushed", n))
		}
	})
}

// every runs fn now and then every d until ctx ends; it returns nil then.
func every(ctx context.Context, d time.Duration, fn func(ctx context.Context)) error {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		fn(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// ---- bays ----

// CreateBay registers a bay and publishes it.
func (f *Fleet) CreateBay(ctx context.Context, by string, b domain.Bay) (domain.Bay, error) {
	id, err := newID()
	if err != nil {
		return domain.Bay{}, err
	}
	b.ID, b.UpdatedBy = id, by
	if b, err = domain.NewBay(b, f.now()); err != nil {
		return domain.Bay{}, err
	}
	rec, err := f.bayRecord(b)
	if err != nil {
		return domain.Bay{}, err
	}
	if err := f.repo.CreateBay(ctx, b, rec); err != nil {
		return domain.Bay{}, err
	}
	return b, nil
}

// UpdateBay changes a bay and publishes it.
func (f *Fleet) UpdateBay(ctx context.Context, by, id string, p domain.BayPatch) (domain.Bay, error) {
	return f.repo.UpdateBay(ctx, id, func(b *domain.Bay) (*RegistryRecord, error) {
		if err := b.Apply(p, by, f.now()); err != nil {
			return nil, err
		}
		rec, err := f.bayRecord(*b)
		return &rec, err
	})
}

// Bay looks a bay up (domain.ErrNotFound when unknown).
func (f *Fleet) Bay(ctx context.Context, id string) (domain.Bay, error) { return f.repo.Bay(ctx, id) }

// Bays lists bays by id after afterID.
func (f *Fleet) Bays(ctx context.Context, flt BayFilter, afterID string, limit int) ([]domain.Bay, error) {
	return f.repo.Bays(ctx, flt, afterID, limit)
}

// BayUnderServed reports whether returns to bay id earn a reward.
func (f *Fleet) BayUnderServed(ctx context.Context, id string) (bool, error) {
	b, err := f.repo.Bay(ctx, id)
	if err != nil {
		return false, err
	}
	return b.Active && b.UnderServed, nil
}

// BayAt returns the active bay that contains p and takes vehicles of type t
// (the smallest if bays overlap), or domain.ErrNotFound.
func (f *Fleet) BayAt(ctx context.Context, p domain.Point, t domain.VehicleType) (domain.Bay, error) {
	if err := p.Validate(); err != nil {
		return domain.Bay{}, err
	}
	cands, err := f.repo.ActiveBaysIntersecting(ctx, p, p)
	if err != nil {
		return domain.Bay{}, err
	}
	r := domain.CheckReturnLocation(t, p, cands, nil)
	if r.Bay == nil {
		return domain.Bay{}, fmt.Errorf("%w: no %s bay at (%v, %v)", domain.ErrNotFound, t, p.Lat, p.Lon)
	}
	return *r.Bay, nil
}

// NearbyBay is a bay with its distance from the search point.
type NearbyBay struct {
	Bay       domain.Bay
	DistanceM float64 // from the search point to the bay's centroid; 0 inside the bay
}

// MaxNearRadiusM bounds GET /v1/bays?near=: a city's width.
const MaxNearRadiusM = 50_000

// BaysNear returns up to limit active bays (taking t, if given) whose
// centroid is within radiusM of p or that contain p, nearest first.
func (f *Fleet) BaysNear(ctx context.Context, p domain.Point, radiusM float64, t domain.VehicleType, limit int) ([]NearbyBay, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if radiusM <= 0 || radiusM > MaxNearRadiusM {
		return nil, fmt.Errorf("%w: radius must be between 1 and %d m", domain.ErrInvalid, MaxNearRadiusM)
	}
	dLat := radiusM / 111_320
	dLon := dLat / math.Max(math.Cos(p.Lat*math.Pi/180), 0.01)
	// The database orders the candidates in the box, so a wide radius reads
	// `limit` bays, not every bay of a city.
	cands, err := f.repo.NearestActiveBays(ctx, p,
		domain.Point{Lat: p.Lat - dLat, Lon: p.Lon - dLon}, domain.Point{Lat: p.Lat + dLat, Lon: p.Lon + dLon}, t, limit)
	if err != nil {
		return nil, err
	}
	out := make([]NearbyBay, 0, len(cands))
	for _, b := range cands {
		d := domain.DistanceM(p, b.Polygon.Centroid())
		if b.Polygon.Contains(p) {
			d = 0
		}
		if d <= radiusM {
			out = append(out, NearbyBay{Bay: b, DistanceM: d})
		}
	}
	sortNearby(out)
	return out, nil
}

// ---- zones ----

// CreateZone registers a zone and publishes it.
func (f *Fleet) CreateZone(ctx context.Context, by string, z domain.Zone) (domain.Zone, error) {
	id, err := newID()
	if err != nil {
		return domain.Zone{}, err
	}
	z.ID, z.UpdatedBy = id, by
	if z, err = domain.NewZone(z, f.now()); err != nil {
		return domain.Zone{}, err
	}
	rec, err := zoneRecord(z)
	if err != nil {
		return domain.Zone{}, err
	}
	if err := f.repo.CreateZone(ctx, z, rec); err != nil {
		return domain.Zone{}, err
	}
	f.refreshAfterWrite(ctx)
	return z, nil
}

// UpdateZone changes a zone and publishes it.
func (f *Fleet) UpdateZone(ctx context.Context, by, id string, p domain.ZonePatch) (domain.Zone, error) {
	z, err := f.repo.UpdateZone(ctx, id, func(z *domain.Zone) (*RegistryRecord, error) {
		if err := z.Apply(p, by, f.now()); err != nil {
			return nil, err
		}
		rec, err := zoneRecord(*z)
		return &rec, err
	})
	if err != nil {
		return domain.Zone{}, err
	}
	f.refreshAfterWrite(ctx)
	return z, nil
}

// refreshAfterWrite makes this replica's own zone writes visible at once; a
// failure only delays them to the next periodic refresh.
func (f *Fleet) refreshAfterWrite(ctx context.Context) {
	if err := f.RefreshZones(ctx); err != nil {
		f.opts.Logger.WarnContext(ctx, "zone index refresh after write", slog.Any("error", err))
	}
}

// Zone looks a zone up (domain.ErrNotFound when unknown).
func (f *Fleet) Zone(ctx context.Context, id string) (domain.Zone, error) {
	return f.repo.Zone(ctx, id)
}

// Zones lists zones by id after afterID.
func (f *Fleet) Zones(ctx context.Context, flt ZoneFilter, afterID string, limit int) ([]domain.Zone, error) {
	return f.repo.Zones(ctx, flt, afterID, limit)
}

// RefreshZones reloads the in-memory zone index when the zones changed.
func (f *Fleet) RefreshZones(ctx context.Context) error {
	f.reload.Lock()
	defer f.reload.Unlock()
	fp, err := f.repo.ZonesFingerprint(ctx)
	if err != nil {
		return err
	}
	if fp == f.zones.Load().fingerprint {
		return nil
	}
	zones, fp, err := f.repo.ActiveZones(ctx)
	if err != nil {
		return err
	}
	f.zones.Store(newZoneIndex(zones, fp))
	return nil
}

// RunZoneRefresh keeps the zone index current with other replicas' writes
// until ctx ends.
func (f *Fleet) RunZoneRefresh(ctx context.Context) error {
	return every(ctx, f.opts.ZoneRefresh, func(ctx context.Context) {
		if err := f.RefreshZones(ctx); err != nil && ctx.Err() == nil {
			f.opts.Logger.WarnContext(ctx, "zone index refresh", slog.Any("error", err))
		}
	})
}

// ZonesAt returns the active zones containing p, from memory.
func (f *Fleet) ZonesAt(p domain.Point) []domain.Zone { return f.zones.Load().at(p) }

// InOperatingArea reports whether p lies in an active operating area (from
// memory; the error is always nil). It serves PlaceLocator.
func (f *Fleet) InOperatingArea(_ context.Context, p domain.Point) (bool, error) {
	_, ok := f.OperatingAreaAt(p)
	return ok, nil
}

// OperatingAreaAt returns the operating area containing p (the one with the
// smallest id if several overlap), for its id and city.
func (f *Fleet) OperatingAreaAt(p domain.Point) (domain.Zone, bool) {
	for _, z := range f.ZonesAt(p) {
		if z.Kind == domain.ZoneOperatingArea {
			return z, true
		}
	}
	return domain.Zone{}, false
}

// ReturnLocation checks where a rental of type t ending at p stands: the
// bay it is in (if any) and whether the zones allow ending there.
func (f *Fleet) ReturnLocation(ctx context.Context, t domain.VehicleType, p domain.Point) (domain.ReturnLocation, error) {
	if err := p.Validate(); err != nil {
		return domain.ReturnLocation{}, err
	}
	if _, err := domain.ParseVehicleType(string(t)); err != nil {
		return domain.ReturnLocation{}, err
	}
	cands, err := f.repo.ActiveBaysIntersecting(ctx, p, p)
	if err != nil {
		return domain.ReturnLocation{}, err
	}
	return domain.CheckReturnLocation(t, p, cands, f.ZonesAt(p)), nil
}

// ReturnPlace is ReturnLocation as the trips area reads it (PlaceLocator).
func (f *Fleet) ReturnPlace(ctx context.Context, t domain.VehicleType, p domain.Point) (domain.ReturnPlace, error) {
	r, err := f.ReturnLocation(ctx, t, p)
	if err != nil {
		return domain.ReturnPlace{}, err
	}
	out := domain.ReturnPlace{EndingAllowed: r.Ending.Allowed}
	if r.Bay != nil {
		out.BayID, out.UnderServed = r.Bay.ID, r.Bay.UnderServed
	}
	return out, nil
}

// BookableVehicle is the registry's view of a vehicle for reservations
// (VehicleCatalog): only an available vehicle is in service.
func (f *Fleet) BookableVehicle(ctx context.Context, id string) (BookableVehicle, error) {
	v, err := f.repo.Vehicle(ctx, id)
	if err != nil {
		return BookableVehicle{}, err
	}
	return BookableVehicle{ID: v.ID, Type: v.Type, City: v.HomeCity, InService: v.Status == domain.VehicleAvailable}, nil
}

// FaultReportedBy is the UpdatedBy of vehicles a customer's fault report put into maintenance.
const FaultReportedBy = "booking:fault-report"

// ReportFault puts a vehicle into maintenance review after a customer
// reported a fault on a trip (FaultReporter); see SendToMaintenance.
func (f *Fleet) ReportFault(ctx context.Context, vehicleID, tripID, category, description string) error {
	note := fmt.Sprintf("fault reported on trip %s: %s", tripID, category)
	if description != "" {
		note += ": " + description
	}
	if r := []rune(note); len(r) > 500 {
		note = string(r[:499]) + "…"
	}
	_, err := f.SendToMaintenance(ctx, FaultReportedBy, vehicleID, note)
	return err
}

func sortNearby(bs []NearbyBay) {
	slices.SortFunc(bs, func(a, b NearbyBay) int {
		return cmp.Or(cmp.Compare(a.DistanceM, b.DistanceM), cmp.Compare(a.Bay.ID, b.Bay.ID))
	})
}

// zoneIndex is an immutable snapshot of the active zones, bucketed on a grid
// of zoneCellDeg cells so a lookup tests only the zones near the point.
type zoneIndex struct {
	fingerprint string
	zones       []indexedZone
	cells       map[zoneCell][]int32 // indexes into zones, ascending
}

type indexedZone struct {
	zone       domain.Zone
	minP, maxP domain.Point
}

type zoneCell struct{ lat, lon int32 }

// zoneCellDeg is the grid size: about 11 km by 7 km in Europe, so a zone
// (at most one degree across) lands in at most 121 cells.
const zoneCellDeg = 0.1

func cellOf(p domain.Point) zoneCell {
	return zoneCell{lat: int32(math.Floor(p.Lat / zoneCellDeg)), lon: int32(math.Floor(p.Lon / zoneCellDeg))}
}

func newZoneIndex(zones []domain.Zone, fingerprint string) *zoneIndex {
	// Sorted by id, so lookups answer in a stable order.
	zones = slices.Clone(zones)
	slices.SortFunc(zones, func(a, b domain.Zone) int { return cmp.Compare(a.ID, b.ID) })
	ix := &zoneIndex{fingerprint: fingerprint, cells: map[zoneCell][]int32{}}
	for _, z := range zones {
		if !z.Active {
			continue
		}
		minP, maxP := z.Polygon.Bounds()
		i := int32(len(ix.zones))
		ix.zones = append(ix.zones, indexedZone{zone: z, minP: minP, maxP: maxP})
		sw, ne := cellOf(minP), cellOf(maxP)
		for lat := sw.lat; lat <= ne.lat; lat++ {
			for lon := sw.lon; lon <= ne.lon; lon++ {
				c := zoneCell{lat, lon}
				ix.cells[c] = append(ix.cells[c], i)
			}
		}
	}
	return ix
}

func (ix *zoneIndex) at(p domain.Point) []domain.Zone {
	var out []domain.Zone
	for _, i := range ix.cells[cellOf(p)] {
		z := &ix.zones[i]
		if p.Lat < z.minP.Lat || p.Lat > z.maxP.Lat || p.Lon < z.minP.Lon || p.Lon > z.maxP.Lon {
			continue
		}
		if z.zone.Polygon.Contains(p) {
			out = append(out, z.zone)
		}
	}
	return out
}

// ---- fleet.registry records ----

// registryStates maps maintenance statuses to the registry's vehicle states.
var registryStates = map[domain.VehicleStatus]string{
	domain.VehicleAvailable:   "active",
	domain.VehicleMaintenance: "maintenance",
	domain.VehicleRetired:     "retired",
}

// registryZoneKinds maps zone kinds to the registry's spelling.
var registryZoneKinds = map[domain.ZoneKind]string{
	domain.ZoneOperatingArea: events.ZoneKindOperating,
	domain.ZoneNoParking:     events.ZoneKindNoParking,
	domain.ZoneSlow:          events.ZoneKindSlow,
	domain.ZoneNoRideThrough: events.ZoneKindNoGo,
}

func registryRecord(kind, id, eventType string, data any) (RegistryRecord, error) {
	e, err := events.New(eventType, events.SourceFleet, id, data)
	if err != nil {
		return RegistryRecord{}, err
	}
	return RegistryRecord{Key: events.RegistryKey(kind, id), Event: e}, nil
}

func vehicleRecord(v domain.Vehicle) (RegistryRecord, error) {
	return registryRecord("vehicle", v.ID, events.TypeFleetVehicleUpsertedV1, events.FleetVehicleUpsertedV1{
		VehicleID: v.ID, VehicleType: events.VehicleType(v.Type), Model: v.Model, Plate: v.Plate,
		State: registryStates[v.Status], UpdatedAt: v.UpdatedAt,
		Serial: v.Serial, RangeKm: v.RangeKm, HomeCity: v.HomeCity,
	})
}

// bayRecord describes b for the registry. Its zone is the operating area
// that holds its centroid (consumers use it for an address), if any.
func (f *Fleet) bayRecord(b domain.Bay) (RegistryRecord, error) {
	c := b.Polygon.Centroid()
	zoneID := ""
	if z, ok := f.OperatingAreaAt(c); ok {
		zoneID = z.ID
	}
	types := make([]events.VehicleType, len(b.VehicleTypes))
	for i, t := range b.VehicleTypes {
		types[i] = events.VehicleType(t)
	}
	return registryRecord("bay", b.ID, events.TypeFleetBayUpsertedV1, events.FleetBayUpsertedV1{
		BayID: b.ID, ZoneID: zoneID, Name: b.Name, Lat: c.Lat, Lon: c.Lon, RadiusMeters: math.Round(b.Polygon.RadiusM()*10) / 10,
		Capacity: b.Capacity, VehicleTypes: types, Charging: b.Chargers > 0, Active: b.Active, UpdatedAt: b.UpdatedAt,
		City: b.City, Polygon: lonLatRings(b.Polygon), Chargers: b.Chargers, UnderServed: b.UnderServed,
	})
}

func zoneRecord(z domain.Zone) (RegistryRecord, error) {
	rings := lonLatRings(z.Polygon)
	return registryRecord("zone", z.ID, events.TypeFleetZoneUpsertedV1, events.FleetZoneUpsertedV1{
		ZoneID: z.ID, Name: z.Name, City: z.City, Kind: registryZoneKinds[z.Kind], Polygon: rings[0],
		MaxSpeedKmh: float64(z.MaxSpeedKmh), Active: z.Active, UpdatedAt: z.UpdatedAt, Holes: rings[1:],
	})
}

// lonLatRings is pg in GeoJSON order.
func lonLatRings(pg domain.Polygon) [][][2]float64 {
	out := make([][][2]float64, len(pg))
	for i, ring := range pg {
		out[i] = make([][2]float64, len(ring))
		for j, p := range ring {
			out[i][j] = [2]float64{p.Lon, p.Lat}
		}
	}
	return out
}
