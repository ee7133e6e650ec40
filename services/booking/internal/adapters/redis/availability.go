// Package redis keeps booking's availability index in Redis.
//
// Layout (every key under the service prefix, in one hash-tag slot "{avail}"
// so the scripts stay legal on a Redis Cluster):
//
//	{avail}:v:<id>        hash: the vehicle's whole state (telemetry, status,
//	                      holds, registry, operating area)
//	{avail}:all           GEO: every known position (finds vehicles a zone
//	                      change affects)
//	{avail}:geo:any       GEO: every available vehicle, member
//	                      "id|type|lat|lon|battery|range|reported s|city|zone"
//	{avail}:geo:<type>    GEO: available vehicles of one type, same members: a
//	                      type filter is a choice of set, never a scan, and a
//	                      search reads everything it returns from the names
//	{avail}:zones         hash zone id → fingerprint of the definition the
//	                      stored operating-area flags were computed with
//
// Every change runs as one Lua script (availability_apply.lua) that updates
// the state and re-applies the availability rule atomically. A search is a
// single GEOSEARCH (of the type's set, or of the set of all types) returning
// member names only, filtered and ranked here. Measured against doing the
// same in a Lua script, this costs Redis (single-threaded, shared by every
// instance) a fraction of the time: converting GEOSEARCH replies into Lua
// tables is what dominates there (see availability_bench_test.go).
package redis

import (
	"cmp"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/mobilitycorp/platform/pkg/redisx"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
)

var (
	//go:embed availability_apply.lua
	applyLua    string
	applyScript = goredis.NewScript(applyLua)
)

// Results of the apply script.
const (
	applyStale       = 0
	applyUnavailable = 1
	applyAvailable   = 2
)

// geoLatLimit is the latitude GEOADD accepts (Web Mercator's limit).
const geoLatLimit = 85.05112878

// Index is the availability index.
type Index struct {
	rdb  goredis.UniversalClient
	keys indexKeys
}

type indexKeys struct {
	prefix string
	all    string   // every known position
	any    string   // available vehicles of every type
	zones  string   // zone fingerprints
	geo    []string // available vehicles per type, in the order of domain.VehicleTypes()
}

// NewIndex returns the index over rdb; keys is the service's key prefix.
func NewIndex(rdb goredis.UniversalClient, keys redisx.Keys) *Index {
	p := keys.Key("{avail}")
	k := indexKeys{prefix: p, all: p + ":all", any: p + ":geo:any", zones: p + ":zones"}
	for _, t := range domain.VehicleTypes() {
		k.geo = append(k.geo, p+":geo:"+string(t))
	}
	return &Index{rdb: rdb, keys: k}
}

// scriptKeys are the keys the apply script touches for vehicle id.
func (ix *Index) scriptKeys(id string) []string {
	return append([]string{ix.vehicleKey(id), ix.keys.all, ix.keys.any}, ix.keys.geo...)
}

func (ix *Index) vehicleKey(id string) string { return ix.keys.prefix + ":v:" + id }

func (ix *Index) apply(ctx context.Context, id, op string, args ...any) (bool, error) {
	if id == "" || strings.ContainsRune(id, '|') {
		return false, fmt.Errorf("%w: vehicle id %q is empty or holds a '|'", domain.ErrInvalid, id)
	}
	res, err := applyScript.Run(ctx, ix.rdb, ix.scriptKeys(id), append([]any{id, op}, args...)...).Int()
	if err != nil {
		return false, fmt.Errorf("availability index %s %s: %w", op, id, err)
	}
	return res != applyStale, nil
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// ApplyTelemetry stores a report unless a newer one is stored (records can
// arrive out of order); area is where its position lies. It reports whether
// the report was applied.
func (ix *Index) ApplyTelemetry(ctx context.Context, t domain.Telemetry, area domain.AreaMatch) (bool, error) {
	if err := t.Position.Validate(); err != nil || t.Position.Lat < -geoLatLimit || t.Position.Lat > geoLatLimit {
		return false, fmt.Errorf("%w: vehicle %s reports an unusable position (%v, %v)", domain.ErrInvalid, t.VehicleID, t.Position.Lat, t.Position.Lon)
	}
	if t.RecordedAt.IsZero() {
		return false, fmt.Errorf("%w: telemetry of %s has no recorded_at", domain.ErrInvalid, t.VehicleID)
	}
	return ix.apply(ctx, t.VehicleID, "tel",
		t.RecordedAt.UnixMilli(), fmtFloat(t.Position.Lon), fmtFloat(t.Position.Lat),
		fmtFloat(t.BatteryPct), fmtFloat(t.RangeKm), flag(t.Locked), flag(t.PluggedIn), string(t.VehicleType),
		flag(area.Inside), area.City, area.ZoneID)
}

// ApplyStatus stores connectivity unless a newer change (or report) is stored.
func (ix *Index) ApplyStatus(ctx context.Context, id string, online bool, at time.Time) (bool, error) {
	return ix.apply(ctx, id, "status", flag(online), at.UnixMilli())
}

// SetHeld marks a vehicle reserved or in a trip (true), or free.
func (ix *Index) SetHeld(ctx context.Context, id string, held bool) error {
	_, err := ix.apply(ctx, id, "held", flag(held))
	return err
}

// SetMaintenance puts a vehicle into maintenance (true) or takes it out.
func (ix *Index) SetMaintenance(ctx context.Context, id string, on bool) error {
	_, err := ix.apply(ctx, id, "mnt", flag(on))
	return err
}

// ApplyRegistration stores a fleet-registry record unless a newer one is stored.
func (ix *Index) ApplyRegistration(ctx context.Context, r domain.Registration) (bool, error) {
	return ix.apply(ctx, r.VehicleID, "reg", string(r.VehicleType), r.State, r.UpdatedAt.UnixMilli())
}

// Unregister forgets a vehicle deleted from the registry: it is never available again until registered.
func (ix *Index) Unregister(ctx context.Context, id string) error {
	_, err := ix.apply(ctx, id, "unreg")
	return err
}

// SetArea stores the operating area of a vehicle's position, if the stored
// report is still the one of reportedAt (a newer report carries its own area).
func (ix *Index) SetArea(ctx context.Context, id string, reportedAt time.Time, area domain.AreaMatch) (bool, error) {
	return ix.apply(ctx, id, "area", strconv.FormatInt(reportedAt.UnixMilli(), 10), flag(area.Inside), area.City, area.ZoneID)
}

// SetAreas is SetArea for many vehicles, pipelined: a zone change
// re-evaluates every vehicle in its box. It returns how many were applied.
func (ix *Index) SetAreas(ctx context.Context, updates []domain.AreaUpdate) (int, error) {
	if len(updates) == 0 {
		return 0, nil
	}
	if err := applyScript.Load(ctx, ix.rdb).Err(); err != nil {
		return 0, fmt.Errorf("load apply script: %w", err)
	}
	applied := 0
	for start := 0; start < len(updates); start += 500 {
		batch := updates[start:min(start+500, len(updates))]
		cmds := make([]*goredis.Cmd, len(batch))
		_, err := ix.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for i, u := range batch {
				cmds[i] = applyScript.EvalSha(ctx, p, ix.scriptKeys(u.VehicleID), u.VehicleID, "area",
					strconv.FormatInt(u.ReportedAt.UnixMilli(), 10), flag(u.Area.Inside), u.Area.City, u.Area.ZoneID)
			}
			return nil
		})
		if err != nil {
			return applied, fmt.Errorf("set areas: %w", err)
		}
		for _, c := range cmds {
			if n, _ := c.Int(); n != applyStale {
				applied++
			}
		}
	}
	return applied, nil
}

// exhaustiveRadiusM: up to this radius a search fetches every available
// vehicle in the circle (about 500 at the densest for 1.5 km), so one round
// trip answers exactly; beyond it, the nearest are fetched with COUNT and
// more only when filters or flat batteries leave too few.
const exhaustiveRadiusM = 1500

// maxCount is the largest COUNT asked before fetching the whole circle.
const maxCount = 4096

// Search returns available vehicles near q.Center, at most q.Limit, ranked:
// vehicles at or above domain.LowBatteryPct first, then the others, nearest
// first within each group. q must be normalised; reportedSince drops vehicles
// whose last report is older (a unit that went silent without an offline
// status).
func (ix *Index) Search(ctx context.Context, q domain.SearchQuery, reportedSince time.Time) ([]domain.IndexHit, error) {
	key := ix.keys.any
	if q.VehicleType != "" {
		i := slices.Index(domain.VehicleTypes(), q.VehicleType)
		if i < 0 {
			return nil, fmt.Errorf("%w: vehicle type %q", domain.ErrInvalid, q.VehicleType)
		}
		key = ix.keys.geo[i]
	}
	since := int64(0)
	if !reportedSince.IsZero() {
		since = reportedSince.Unix()
	}
	count := 0 // the whole circle
	if q.RadiusM > exhaustiveRadiusM {
		count = max(4*q.Limit, 100)
	}
	for {
		gq := &goredis.GeoSearchQuery{Longitude: q.Center.Lon, Latitude: q.Center.Lat, Radius: float64(q.RadiusM), RadiusUnit: "m"}
		if count > 0 {
			gq.Sort, gq.Count = "ASC", count
		}
		names, err := ix.rdb.GeoSearch(ctx, key, gq).Result()
		if err != nil {
			return nil, fmt.Errorf("availability search: %w", err)
		}
		cands, charged := filterCandidates(names, q, since)
		// A full COUNT with too few charged matches: nearer-ranked matches
		// may lie beyond it. Ask again for more.
		if count > 0 && len(names) == count && charged < q.Limit {
			if count *= 4; count > maxCount {
				count = 0
			}
			continue
		}
		slices.SortFunc(cands, func(a, b candidate) int {
			if a.low != b.low {
				if a.low {
					return 1
				}
				return -1
			}
			return cmp.Compare(a.dist, b.dist)
		})
		out := make([]domain.IndexHit, 0, min(q.Limit, len(cands)))
		for _, c := range cands[:min(q.Limit, len(cands))] {
			h, ok := parseMember(c.member)
			if !ok {
				continue // filterCandidates parsed it already
			}
			h.DistanceM = c.dist
			out = append(out, h)
		}
		return out, nil
	}
}

// candidate is a member that passed the filters, parsed only as far as
// ranking needs: a search reads a few hundred members and returns twenty.
type candidate struct {
	member string
	dist   float64
	low    bool
}

// filterCandidates keeps the members passing q's filters; charged counts the
// kept ones at or above the low-battery threshold.
func filterCandidates(names []string, q domain.SearchQuery, since int64) (kept []candidate, charged int) {
	kept = make([]candidate, 0, len(names))
	var f [9]string
	for _, m := range names {
		if !splitMember(m, &f) {
			continue
		}
		bat, err := strconv.ParseFloat(f[4], 64)
		if err != nil || bat < q.MinBatteryPct {
			continue
		}
		if q.MinRangeKm > 0 {
			if rng, err := strconv.ParseFloat(f[5], 64); err != nil || rng < q.MinRangeKm {
				continue
			}
		}
		if since > 0 {
			if ts, err := strconv.ParseInt(f[6], 10, 64); err != nil || ts < since {
				continue
			}
		}
		lat, err1 := strconv.ParseFloat(f[2], 64)
		lon, err2 := strconv.ParseFloat(f[3], 64)
		if err1 != nil || err2 != nil {
			continue
		}
		c := candidate{member: m, dist: domain.DistanceM(q.Center, domain.Point{Lat: lat, Lon: lon}), low: bat < domain.LowBatteryPct}
		if !c.low {
			charged++
		}
		kept = append(kept, c)
	}
	return kept, charged
}

// splitMember cuts "id|type|lat|lon|battery|range|reported s|city|zone"
// into f without allocating.
func splitMember(m string, f *[9]string) bool {
	for i := range 8 {
		j := strings.IndexByte(m, '|')
		if j < 0 {
			return false
		}
		f[i], m = m[:j], m[j+1:]
	}
	f[8] = m
	return true
}

// parseMember reads a member whole.
func parseMember(m string) (domain.IndexHit, bool) {
	var f [9]string
	if !splitMember(m, &f) {
		return domain.IndexHit{}, false
	}
	lat, err1 := strconv.ParseFloat(f[2], 64)
	lon, err2 := strconv.ParseFloat(f[3], 64)
	bat, err3 := strconv.ParseFloat(f[4], 64)
	rng, err4 := strconv.ParseFloat(f[5], 64)
	ts, err5 := strconv.ParseInt(f[6], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || err5 != nil {
		return domain.IndexHit{}, false
	}
	return domain.IndexHit{
		VehicleID: f[0], VehicleType: domain.VehicleType(f[1]), Position: domain.Point{Lat: lat, Lon: lon},
		BatteryPct: bat, RangeKm: rng, ReportedAt: time.Unix(ts, 0).UTC(), City: f[7], ZoneID: f[8],
	}, true
}

// HeldVehicles lists the vehicles flagged held, for reconciliation with the
// database: a SCAN of the vehicle hashes (all in the {avail} slot), a page of
// HGETs pipelined per SCAN page, so Redis is never blocked for long.
func (ix *Index) HeldVehicles(ctx context.Context) ([]string, error) {
	prefix := ix.keys.prefix + ":v:"
	var held []string
	var cursor uint64
	for {
		keys, next, err := ix.rdb.Scan(ctx, cursor, prefix+"*", 1000).Result()
		if err != nil {
			return nil, fmt.Errorf("availability held scan: %w", err)
		}
		if len(keys) > 0 {
			pipe := ix.rdb.Pipeline()
			flags := make([]*goredis.StringCmd, len(keys))
			for i, k := range keys {
				flags[i] = pipe.HGet(ctx, k, "held")
			}
			if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, goredis.Nil) {
				return nil, fmt.Errorf("availability held flags: %w", err)
			}
			for i, k := range keys {
				if flags[i].Val() == "1" {
					held = append(held, strings.TrimPrefix(k, prefix))
				}
			}
		}
		if cursor = next; cursor == 0 {
			return held, nil
		}
	}
}

// State returns everything the index knows of a vehicle (found false when nothing).
func (ix *Index) State(ctx context.Context, id string) (domain.LiveState, bool, error) {
	c := ix.rdb
	m, err := c.HGetAll(ctx, ix.vehicleKey(id)).Result()
	if err != nil {
		return domain.LiveState{}, false, fmt.Errorf("availability state %s: %w", id, err)
	}
	if len(m) == 0 {
		return domain.LiveState{}, false, nil
	}
	return stateFromHash(id, m), true, nil
}

func stateFromHash(id string, m map[string]string) domain.LiveState {
	s := domain.LiveState{
		VehicleID: id, VehicleType: domain.VehicleType(m["rt"]),
		Locked: m["lck"] == "1", PluggedIn: m["plg"] == "1", Online: m["on"] == "1",
		Held: m["held"] == "1", Maintenance: m["mnt"] == "1", Registered: m["reg"] == "1", Retired: m["ret"] == "1",
		InOperatingArea: m["area"] == "1", City: m["city"], ZoneID: m["zone"],
	}
	if s.VehicleType == "" {
		s.VehicleType = domain.VehicleType(m["tt"])
	}
	if m["lon"] != "" {
		var p domain.Point
		p.Lon, _ = strconv.ParseFloat(m["lon"], 64)
		p.Lat, _ = strconv.ParseFloat(m["lat"], 64)
		s.Position = &p
	}
	s.BatteryPct, _ = strconv.ParseFloat(m["bat"], 64)
	s.RangeKm, _ = strconv.ParseFloat(m["rng"], 64)
	if ms, err := strconv.ParseInt(m["ts"], 10, 64); err == nil && ms >= 0 {
		s.ReportedAt = time.UnixMilli(ms).UTC()
	}
	return s
}

// PositionsWithin returns the vehicles whose last position lies in the box
// (south-west, north-east corners), with their exact stored positions.
func (ix *Index) PositionsWithin(ctx context.Context, sw, ne domain.Point) ([]domain.VehiclePosition, error) {
	c := ix.rdb
	center := domain.Point{Lat: (sw.Lat + ne.Lat) / 2, Lon: (sw.Lon + ne.Lon) / 2}
	// The box is widened a little: GEO positions are 52-bit approximations.
	w := domain.DistanceM(domain.Point{Lat: center.Lat, Lon: sw.Lon}, domain.Point{Lat: center.Lat, Lon: ne.Lon}) + 10
	h := domain.DistanceM(domain.Point{Lat: sw.Lat, Lon: center.Lon}, domain.Point{Lat: ne.Lat, Lon: center.Lon}) + 10
	ids, err := c.GeoSearch(ctx, ix.keys.all, &goredis.GeoSearchQuery{
		Longitude: center.Lon, Latitude: center.Lat, BoxWidth: w, BoxHeight: h, BoxUnit: "m",
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("positions within box: %w", err)
	}
	out := make([]domain.VehiclePosition, 0, len(ids))
	for start := 0; start < len(ids); start += 500 {
		batch := ids[start:min(start+500, len(ids))]
		cmds := make([]*goredis.SliceCmd, len(batch))
		_, err := c.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for i, id := range batch {
				cmds[i] = p.HMGet(ctx, ix.vehicleKey(id), "ts", "lon", "lat")
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("positions within box: %w", err)
		}
		for i, cmd := range cmds {
			v := cmd.Val()
			ts, _ := v[0].(string)
			lon, _ := v[1].(string)
			lat, _ := v[2].(string)
			ms, err1 := strconv.ParseInt(ts, 10, 64)
			x, err2 := strconv.ParseFloat(lon, 64)
			y, err3 := strconv.ParseFloat(lat, 64)
			if err1 != nil || err2 != nil || err3 != nil {
				continue
			}
			out = append(out, domain.VehiclePosition{VehicleID: batch[i], Position: domain.Point{Lat: y, Lon: x}, ReportedAt: time.UnixMilli(ms).UTC()})
		}
	}
	return out, nil
}

// ZoneFingerprint returns the fingerprint stored for a zone ("" if none).
func (ix *Index) ZoneFingerprint(ctx context.Context, zoneID string) (string, error) {
	c := ix.rdb
	v, err := c.HGet(ctx, ix.keys.zones, zoneID).Result()
	if errors.Is(err, goredis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("zone fingerprint %s: %w", zoneID, err)
	}
	return v, nil
}

// SetZoneFingerprint records the definition the vehicles were evaluated
// against ("" deletes it).
func (ix *Index) SetZoneFingerprint(ctx context.Context, zoneID, fp string) error {
	c := ix.rdb
	var err error
	if fp == "" {
		err = c.HDel(ctx, ix.keys.zones, zoneID).Err()
	} else {
		err = c.HSet(ctx, ix.keys.zones, zoneID, fp).Err()
	}
	if err != nil {
		return fmt.Errorf("zone fingerprint %s: %w", zoneID, err)
	}
	return nil
}
