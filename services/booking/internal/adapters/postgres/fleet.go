package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/outbox"
	"github.com/mobilitycorp/platform/services/booking/internal/app"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
)

// Fleet is the fleet registry repository (migration 00003). Every write
// enqueues its fleet.registry record in the same transaction.
type Fleet struct {
	pool *pgxpool.Pool
}

var _ app.FleetRepository = (*Fleet)(nil)

// NewFleet returns the repository over pool.
func NewFleet(pool *pgxpool.Pool) *Fleet { return &Fleet{pool: pool} }

func enqueueRegistry(ctx context.Context, tx pgx.Tx, rec app.RegistryRecord) error {
	return outbox.Enqueue(ctx, tx, events.TopicFleetRegistry, rec.Key, rec.Event)
}

// ---- vehicles ----

const vehicleColumns = `id, type, model, plate, serial, range_km, home_city, status, maintenance_note,
	updated_by, created_at, updated_at`

func scanVehicle(row pgx.Row) (domain.Vehicle, error) {
	var (
		v             domain.Vehicle
		plate, serial *string
	)
	err := row.Scan(&v.ID, &v.Type, &v.Model, &plate, &serial, &v.RangeKm, &v.HomeCity, &v.Status,
		&v.MaintenanceNote, &v.UpdatedBy, &v.CreatedAt, &v.UpdatedAt)
	v.Plate, v.Serial = deref(plate), deref(serial)
	v.CreatedAt, v.UpdatedAt = v.CreatedAt.UTC(), v.UpdatedAt.UTC()
	return v, err
}

func vehicleArgs(v domain.Vehicle) []any {
	return []any{v.ID, string(v.Type), v.Model, nullString(v.Plate), nullString(v.Serial), v.RangeKm, v.HomeCity,
		string(v.Status), v.MaintenanceNote, v.UpdatedBy, v.CreatedAt, v.UpdatedAt}
}

func vehicleConflict(err error, v domain.Vehicle) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		return err
	}
	switch pgErr.ConstraintName {
	case "vehicles_plate":
		return fmt.Errorf("%w: plate %s belongs to a vehicle in service", domain.ErrConflict, v.Plate)
	case "vehicles_serial":
		return fmt.Errorf("%w: serial %s belongs to a vehicle in service", domain.ErrConflict, v.Serial)
	}
	return fmt.Errorf("%w: vehicle %s exists already", domain.ErrConflict, v.ID)
}

// CreateVehicle implements app.FleetRepository. A new vehicle starts with a
// pending maintenance sync: the index must learn its status either way.
func (r *Fleet) CreateVehicle(ctx context.Context, v domain.Vehicle, rec app.RegistryRecord) error {
	return pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO vehicles (`+vehicleColumns+`, maintenance_sync_pending)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, true)`, vehicleArgs(v)...); err != nil {
			return fmt.Errorf("create vehicle %s: %w", v.ID, vehicleConflict(err, v))
		}
		return enqueueRegistry(ctx, tx, rec)
	})
}

func vehicleNotFound(id string) error { return fmt.Errorf("%w: vehicle %s", domain.ErrNotFound, id) }

// UpdateVehicle implements app.FleetRepository.
func (r *Fleet) UpdateVehicle(ctx context.Context, id string,
	fn func(v *domain.Vehicle) (*app.RegistryRecord, error)) (domain.Vehicle, error) {
	var out domain.Vehicle
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		v, err := scanVehicle(tx.QueryRow(ctx, `SELECT `+vehicleColumns+` FROM vehicles WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return vehicleNotFound(id)
		}
		if err != nil {
			return fmt.Errorf("lock vehicle %s: %w", id, err)
		}
		before := v.Status
		rec, err := fn(&v)
		if err != nil {
			return err
		}
		out = v
		if rec == nil {
			return nil
		}
		v.ID = id
		if _, err := tx.Exec(ctx, `UPDATE vehicles SET (`+vehicleColumns+`) =
			($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12),
			maintenance_sync_pending = maintenance_sync_pending OR $13
			WHERE id = $1`, append(vehicleArgs(v), v.Status != before)...); err != nil {
			return fmt.Errorf("update vehicle %s: %w", id, vehicleConflict(err, v))
		}
		return enqueueRegistry(ctx, tx, *rec)
	})
	return out, err
}

// Vehicle implements app.FleetRepository.
func (r *Fleet) Vehicle(ctx context.Context, id string) (domain.Vehicle, error) {
	v, err := scanVehicle(r.pool.QueryRow(ctx, `SELECT `+vehicleColumns+` FROM vehicles WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Vehicle{}, vehicleNotFound(id)
	}
	if err != nil {
		return domain.Vehicle{}, fmt.Errorf("get vehicle %s: %w", id, err)
	}
	return v, nil
}

// Vehicles implements app.FleetRepository.
func (r *Fleet) Vehicles(ctx context.Context, f app.VehicleFilter, afterID string, limit int) ([]domain.Vehicle, error) {
	rows, err := r.pool.Query(ctx, `SELECT `+vehicleColumns+` FROM vehicles
		WHERE id > $1 AND ($2 = '' OR type = $2) AND ($3 = '' OR status = $3) AND ($4 = '' OR home_city = $4)
		ORDER BY id LIMIT $5`, afterID, string(f.Type), string(f.Status), f.HomeCity, limit)
	if err != nil {
		return nil, fmt.Errorf("list vehicles: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Vehicle, error) { return scanVehicle(row) })
	if err != nil {
		return nil, fmt.Errorf("list vehicles: %w", err)
	}
	return out, nil
}

// SyncMaintenance implements app.FleetRepository. The row lock is held
// while push runs, so syncs of one vehicle, and a status change racing a
// sync, are serialised: the last push is always the committed status.
func (r *Fleet) SyncMaintenance(ctx context.Context, id string,
	push func(ctx context.Context, status domain.VehicleStatus) error) (bool, error) {
	pushed := false
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		var (
			status  domain.VehicleStatus
			pending bool
		)
		err := tx.QueryRow(ctx, `SELECT status, maintenance_sync_pending FROM vehicles WHERE id = $1 FOR UPDATE`, id).
			Scan(&status, &pending)
		if errors.Is(err, pgx.ErrNoRows) {
			return vehicleNotFound(id)
		}
		if err != nil {
			return fmt.Errorf("lock vehicle %s for maintenance sync: %w", id, err)
		}
		if !pending {
			return nil
		}
		if err := push(ctx, status); err != nil {
			return fmt.Errorf("push maintenance of vehicle %s: %w", id, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE vehicles SET maintenance_sync_pending = false WHERE id = $1`, id); err != nil {
			return fmt.Errorf("mark vehicle %s synced: %w", id, err)
		}
		pushed = true
		return nil
	})
	return pushed, err
}

// PendingMaintenance implements app.FleetRepository.
func (r *Fleet) PendingMaintenance(ctx context.Context, limit int) ([]string, error) {
	rows, err := r.pool.Query(ctx, `SELECT id FROM vehicles WHERE maintenance_sync_pending ORDER BY id LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("pending maintenance syncs: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("pending maintenance syncs: %w", err)
	}
	return ids, nil
}

// ---- geometry ----

// polygonJSON stores a polygon as GeoJSON rings of [lon, lat].
func polygonJSON(pg domain.Polygon) ([]byte, error) {
	rings := make([][][2]float64, len(pg))
	for i, ring := range pg {
		rings[i] = make([][2]float64, len(ring))
		for j, p := range ring {
			rings[i][j] = [2]float64{p.Lon, p.Lat}
		}
	}
	return json.Marshal(rings)
}

func polygonFromJSON(raw []byte) (domain.Polygon, error) {
	var rings [][][2]float64
	if err := json.Unmarshal(raw, &rings); err != nil {
		return nil, fmt.Errorf("decode polygon: %w", err)
	}
	pg := make(domain.Polygon, len(rings))
	for i, ring := range rings {
		pg[i] = make([]domain.Point, len(ring))
		for j, pos := range ring {
			pg[i][j] = domain.Point{Lat: pos[1], Lon: pos[0]}
		}
	}
	return pg, nil
}

// boxText renders a bounding box as a Postgres box literal (x = lon, y = lat).
func boxText(minP, maxP domain.Point) string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	return "((" + f(minP.Lon) + "," + f(minP.Lat) + "),(" + f(maxP.Lon) + "," + f(maxP.Lat) + "))"
}

// ---- bays ----

const bayColumns = `id, name, city, polygon, capacity, vehicle_types, chargers, under_served, active,
	updated_by, created_at, updated_at`

func scanBay(row pgx.Row) (domain.Bay, error) {
	var (
		b     domain.Bay
		poly  []byte
		types []string
	)
	if err := row.Scan(&b.ID, &b.Name, &b.City, &poly, &b.Capacity, &types, &b.Chargers, &b.UnderServed, &b.Active,
		&b.UpdatedBy, &b.CreatedAt, &b.UpdatedAt); err != nil {
		return domain.Bay{}, err
	}
	var err error
	if b.Polygon, err = polygonFromJSON(poly); err != nil {
		return domain.Bay{}, fmt.Errorf("bay %s: %w", b.ID, err)
	}
	b.VehicleTypes = make([]domain.VehicleType, len(types))
	for i, t := range types {
		b.VehicleTypes[i] = domain.VehicleType(t)
	}
	b.CreatedAt, b.UpdatedAt = b.CreatedAt.UTC(), b.UpdatedAt.UTC()
	return b, nil
}

func bayArgs(b domain.Bay) ([]any, error) {
	poly, err := polygonJSON(b.Polygon)
	if err != nil {
		return nil, err
	}
	types := make([]string, len(b.VehicleTypes))
	for i, t := range b.VehicleTypes {
		types[i] = string(t)
	}
	minP, maxP := b.Polygon.Bounds()
	c := b.Polygon.Centroid()
	return []any{b.ID, b.Name, b.City, poly, b.Capacity, types, b.Chargers, b.UnderServed, b.Active,
		b.UpdatedBy, b.CreatedAt, b.UpdatedAt, boxText(minP, maxP), c.Lat, c.Lon}, nil
}

const bayWriteColumns = bayColumns + `, bbox, centroid_lat, centroid_lon`

// CreateBay implements app.FleetRepository.
func (r *Fleet) CreateBay(ctx context.Context, b domain.Bay, rec app.RegistryRecord) error {
	args, err := bayArgs(b)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO bays (`+bayWriteColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::box, $14, $15)`, args...); err != nil {
			return fmt.Errorf("create bay %s: %w", b.ID, err)
		}
		return enqueueRegistry(ctx, tx, rec)
	})
}

func bayNotFound(id string) error { return fmt.Errorf("%w: bay %s", domain.ErrNotFound, id) }

// UpdateBay implements app.FleetRepository.
func (r *Fleet) UpdateBay(ctx context.Context, id string, fn func(b *domain.Bay) (*app.RegistryRecord, error)) (domain.Bay, error) {
	var out domain.Bay
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		b, err := scanBay(tx.QueryRow(ctx, `SELECT `+bayColumns+` FROM bays WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return bayNotFound(id)
		}
		if err != nil {
			return fmt.Errorf("lock bay %s: %w", id, err)
		}
		rec, err := fn(&b)
		if err != nil {
			return err
		}
		out = b
		if rec == nil {
			return nil
		}
		b.ID = id
		args, err := bayArgs(b)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE bays SET (`+bayWriteColumns+`) =
			($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::box, $14, $15) WHERE id = $1`, args...); err != nil {
			return fmt.Errorf("update bay %s: %w", id, err)
		}
		return enqueueRegistry(ctx, tx, *rec)
	})
	return out, err
}

// Bay implements app.FleetRepository.
func (r *Fleet) Bay(ctx context.Context, id string) (domain.Bay, error) {
	b, err := scanBay(r.pool.QueryRow(ctx, `SELECT `+bayColumns+` FROM bays WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Bay{}, bayNotFound(id)
	}
	if err != nil {
		return domain.Bay{}, fmt.Errorf("get bay %s: %w", id, err)
	}
	return b, nil
}

func collectBays(rows pgx.Rows, err error) ([]domain.Bay, error) {
	if err != nil {
		return nil, fmt.Errorf("list bays: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Bay, error) { return scanBay(row) })
	if err != nil {
		return nil, fmt.Errorf("list bays: %w", err)
	}
	return out, nil
}

// Bays implements app.FleetRepository.
func (r *Fleet) Bays(ctx context.Context, f app.BayFilter, afterID string, limit int) ([]domain.Bay, error) {
	return collectBays(r.pool.Query(ctx, `SELECT `+bayColumns+` FROM bays
		WHERE id > $1 AND ($2 = '' OR city = $2) AND ($3 = '' OR $3 = ANY (vehicle_types))
		  AND ($4::boolean IS NULL OR under_served = $4) AND ($5::boolean IS NULL OR active = $5)
		ORDER BY id LIMIT $6`, afterID, f.City, string(f.VehicleType), f.UnderServed, f.Active, limit))
}

// ActiveBaysIntersecting implements app.FleetRepository with the GiST index on bbox.
func (r *Fleet) ActiveBaysIntersecting(ctx context.Context, minP, maxP domain.Point) ([]domain.Bay, error) {
	return collectBays(r.pool.Query(ctx, `SELECT `+bayColumns+` FROM bays
		WHERE active AND bbox && $1::box ORDER BY id`, boxText(minP, maxP)))
}

// NearestActiveBays implements app.FleetRepository: candidates from the
// GiST index, ordered by an equirectangular distance of their centres
// (exact enough to rank at city scale).
func (r *Fleet) NearestActiveBays(ctx context.Context, p, minP, maxP domain.Point, t domain.VehicleType, limit int) ([]domain.Bay, error) {
	return collectBays(r.pool.Query(ctx, `SELECT `+bayColumns+` FROM bays
		WHERE active AND bbox && $1::box AND ($2 = '' OR $2 = ANY (vehicle_types))
		ORDER BY (centroid_lat - $3) ^ 2 + ((centroid_lon - $4) * cos(radians($3))) ^ 2, id
		LIMIT $5`, boxText(minP, maxP), string(t), p.Lat, p.Lon, limit))
}

// ---- zones ----

const zoneColumns = `id, name, city, kind, max_speed_kmh, polygon, active, updated_by, created_at, updated_at`

func scanZone(row pgx.Row) (domain.Zone, error) {
	var (
		z     domain.Zone
		speed *int
		poly  []byte
	)
	if err := row.Scan(&z.ID, &z.Name, &z.City, &z.Kind, &speed, &poly, &z.Active, &z.UpdatedBy,
		&z.CreatedAt, &z.UpdatedAt); err != nil {
		return domain.Zone{}, err
	}
	if speed != nil {
		z.MaxSpeedKmh = *speed
	}
	var err error
	if z.Polygon, err = polygonFromJSON(poly); err != nil {
		return domain.Zone{}, fmt.Errorf("zone %s: %w", z.ID, err)
	}
	z.CreatedAt, z.UpdatedAt = z.CreatedAt.UTC(), z.UpdatedAt.UTC()
	return z, nil
}

func zoneArgs(z domain.Zone) ([]any, error) {
	poly, err := polygonJSON(z.Polygon)
	if err != nil {
		return nil, err
	}
	var speed *int
	if z.Kind == domain.ZoneSlow {
		speed = &z.MaxSpeedKmh
	}
	minP, maxP := z.Polygon.Bounds()
	return []any{z.ID, z.Name, z.City, string(z.Kind), speed, poly, z.Active, z.UpdatedBy, z.CreatedAt, z.UpdatedAt,
		boxText(minP, maxP)}, nil
}

// CreateZone implements app.FleetRepository.
func (r *Fleet) CreateZone(ctx context.Context, z domain.Zone, rec app.RegistryRecord) error {
	args, err := zoneArgs(z)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO zones (`+zoneColumns+`, bbox)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::box)`, args...); err != nil {
			return fmt.Errorf("create zone %s: %w", z.ID, err)
		}
		return enqueueRegistry(ctx, tx, rec)
	})
}

func zoneNotFound(id string) error { return fmt.Errorf("%w: zone %s", domain.ErrNotFound, id) }

// UpdateZone implements app.FleetRepository; every write takes a new revision.
func (r *Fleet) UpdateZone(ctx context.Context, id string, fn func(z *domain.Zone) (*app.RegistryRecord, error)) (domain.Zone, error) {
	var out domain.Zone
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		z, err := scanZone(tx.QueryRow(ctx, `SELECT `+zoneColumns+` FROM zones WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return zoneNotFound(id)
		}
		if err != nil {
			return fmt.Errorf("lock zone %s: %w", id, err)
		}
		rec, err := fn(&z)
		if err != nil {
			return err
		}
		out = z
		if rec == nil {
			return nil
		}
		z.ID = id
		args, err := zoneArgs(z)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE zones SET (`+zoneColumns+`, bbox) =
			($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::box), revision = nextval('zone_revisions')
			WHERE id = $1`, args...); err != nil {
			return fmt.Errorf("update zone %s: %w", id, err)
		}
		return enqueueRegistry(ctx, tx, *rec)
	})
	return out, err
}

// Zone implements app.FleetRepository.
func (r *Fleet) Zone(ctx context.Context, id string) (domain.Zone, error) {
	z, err := scanZone(r.pool.QueryRow(ctx, `SELECT `+zoneColumns+` FROM zones WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Zone{}, zoneNotFound(id)
	}
	if err != nil {
		return domain.Zone{}, fmt.Errorf("get zone %s: %w", id, err)
	}
	return z, nil
}

func collectZones(rows pgx.Rows, err error) ([]domain.Zone, error) {
	if err != nil {
		return nil, fmt.Errorf("list zones: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Zone, error) { return scanZone(row) })
	if err != nil {
		return nil, fmt.Errorf("list zones: %w", err)
	}
	return out, nil
}

// Zones implements app.FleetRepository.
func (r *Fleet) Zones(ctx context.Context, f app.ZoneFilter, afterID string, limit int) ([]domain.Zone, error) {
	return collectZones(r.pool.Query(ctx, `SELECT `+zoneColumns+` FROM zones
		WHERE id > $1 AND ($2 = '' OR city = $2) AND ($3 = '' OR kind = $3) AND ($4::boolean IS NULL OR active = $4)
		ORDER BY id LIMIT $5`, afterID, f.City, string(f.Kind), f.Active, limit))
}

// zonesFingerprint changes with every insert and update of a zone: each
// takes a fresh, larger revision, so the sum grows whatever the commit order.
const zonesFingerprint = `SELECT count(*)::text || ':' || coalesce(sum(revision), 0)::text FROM zones`

// ActiveZones implements app.FleetRepository; the fingerprint is read in the
// same snapshot as the zones (REPEATABLE READ).
func (r *Fleet) ActiveZones(ctx context.Context) ([]domain.Zone, string, error) {
	var (
		zones []domain.Zone
		fp    string
	)
	err := pgx.BeginTxFunc(ctx, r.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, zonesFingerprint).Scan(&fp); err != nil {
			return fmt.Errorf("zones fingerprint: %w", err)
		}
		var err error
		zones, err = collectZones(tx.Query(ctx, `SELECT `+zoneColumns+` FROM zones WHERE active ORDER BY id`))
		return err
	})
	return zones, fp, err
}

// ZonesFingerprint implements app.FleetRepository.
func (r *Fleet) ZonesFingerprint(ctx context.Context) (string, error) {
	var fp string
	if err := r.pool.QueryRow(ctx, zonesFingerprint).Scan(&fp); err != nil {
		return "", fmt.Errorf("zones fingerprint: %w", err)
	}
	return fp, nil
}
