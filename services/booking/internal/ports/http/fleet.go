package http

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/mobilitycorp/platform/pkg/auth"
	"github.com/mobilitycorp/platform/pkg/httpx"
	"github.com/mobilitycorp/platform/pkg/httpx/problem"
	"github.com/mobilitycorp/platform/services/booking/internal/app"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
)

// FleetHandler serves the fleet registry: /v1/vehicles (staff and
// services), /v1/bays and /v1/zones (staff and services write; anyone
// authenticated reads, customers only what is active).
type FleetHandler struct {
	svc  *app.Fleet
	idem func(http.Handler) http.Handler
}

// NewFleetHandler returns the handler; idempotency is the Idempotency-Key
// middleware (required) put on every POST.
func NewFleetHandler(svc *app.Fleet, idempotency func(http.Handler) http.Handler) *FleetHandler {
	return &FleetHandler{svc: svc, idem: idempotency}
}

// Mount adds the routes to r, which must authenticate. (GET
// /v1/vehicles/available belongs to availability; chi prefers that static
// segment to {id}.)
func (h *FleetHandler) Mount(r chi.Router) {
	staff := r.With(auth.RequireRole(auth.RoleStaff, auth.RoleService))
	staff.With(h.idem).Post("/v1/vehicles", h.createVehicle)
	staff.Get("/v1/vehicles", h.listVehicles)
	staff.Get("/v1/vehicles/{id}", h.getVehicle)
	staff.Patch("/v1/vehicles/{id}", h.patchVehicle)

	staff.With(h.idem).Post("/v1/bays", h.createBay)
	r.Get("/v1/bays", h.listBays)
	r.Get("/v1/bays/{id}", h.getBay)
	staff.Patch("/v1/bays/{id}", h.patchBay)

	staff.With(h.idem).Post("/v1/zones", h.createZone)
	r.Get("/v1/zones", h.listZones)
	r.Get("/v1/zones/{id}", h.getZone)
	staff.Patch("/v1/zones/{id}", h.patchZone)
}

// ---- GeoJSON ----

type geoJSONPolygon struct {
	Type        string        `json:"type"`
	Coordinates [][][]float64 `json:"coordinates"`
}

func toGeoJSON(pg domain.Polygon) geoJSONPolygon {
	out := geoJSONPolygon{Type: "Polygon", Coordinates: make([][][]float64, len(pg))}
	for i, ring := range pg {
		out.Coordinates[i] = make([][]float64, len(ring))
		for j, p := range ring {
			out.Coordinates[i][j] = []float64{p.Lon, p.Lat}
		}
	}
	return out
}

// polygon converts a GeoJSON polygon ([lon, lat(, alt)] positions); the
// domain validates rings and ranges.
func (g *geoJSONPolygon) polygon() (domain.Polygon, error) {
	bad := func(detail string) error {
		return problem.Validation("polygon is not a GeoJSON Polygon: "+detail,
			problem.FieldError{Pointer: "/polygon", Detail: detail})
	}
	if g.Type != "Polygon" {
		return nil, bad(`type must be "Polygon"`)
	}
	if len(g.Coordinates) == 0 {
		return nil, bad("coordinates hold no ring")
	}
	pg := make(domain.Polygon, len(g.Coordinates))
	for i, ring := range g.Coordinates {
		pg[i] = make([]domain.Point, len(ring))
		for j, pos := range ring {
			if len(pos) < 2 || len(pos) > 3 {
				return nil, bad(fmt.Sprintf("position %d of ring %d is not [lon, lat]", j, i))
			}
			pg[i][j] = domain.Point{Lat: pos[1], Lon: pos[0]}
		}
	}
	return pg, nil
}

// ---- vehicles ----

type vehicleJSON struct {
	ID              string    `json:"id"`
	Type            string    `json:"type"`
	Model           string    `json:"model"`
	Plate           string    `json:"plate,omitempty"`
	Serial          string    `json:"serial,omitempty"`
	RangeKm         int       `json:"range_km"`
	HomeCity        string    `json:"home_city"`
	Status          string    `json:"status"`
	MaintenanceNote string    `json:"maintenance_note,omitempty"`
	UpdatedBy       string    `json:"updated_by"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

func toVehicleJSON(v domain.Vehicle) vehicleJSON {
	return vehicleJSON{ID: v.ID, Type: string(v.Type), Model: v.Model, Plate: v.Plate, Serial: v.Serial, RangeKm: v.RangeKm,
		HomeCity: v.HomeCity, Status: string(v.Status), MaintenanceNote: v.MaintenanceNote, UpdatedBy: v.UpdatedBy,
		CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt}
}

type vehicleRequest struct {
	Type            string `json:"type"`
	Model           string `json:"model"`
	Plate           string `json:"plate,omitempty"`
	Serial          string `json:"serial,omitempty"`
	RangeKm         int    `json:"range_km"`
	HomeCity        string `json:"home_city"`
	Status          string `json:"status,omitempty"`
	MaintenanceNote string `json:"maintenance_note,omitempty"`
}

func (h *FleetHandler) createVehicle(w http.ResponseWriter, r *http.Request) {
	var body vehicleRequest
	if err := httpx.DecodeJSON(r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	v := domain.Vehicle{Type: domain.VehicleType(body.Type), Model: body.Model, Plate: body.Plate, Serial: body.Serial,
		RangeKm: body.RangeKm, HomeCity: body.HomeCity, Status: domain.VehicleStatus(body.Status), MaintenanceNote: body.MaintenanceNote}
	v, err := h.svc.CreateVehicle(r.Context(), principal(r).Subject, v)
	if err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/vehicles/"+v.ID)
	httpx.WriteJSON(w, http.StatusCreated, toVehicleJSON(v))
}

func (h *FleetHandler) getVehicle(w http.ResponseWriter, r *http.Request) {
	v, err := h.svc.Vehicle(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, toVehicleJSON(v))
}

type vehiclePatchRequest struct {
	Model           *string `json:"model"`
	Plate           *string `json:"plate"`
	Serial          *string `json:"serial"`
	RangeKm         *int    `json:"range_km"`
	HomeCity        *string `json:"home_city"`
	Status          *string `json:"status"`
	MaintenanceNote *string `json:"maintenance_note"`
}

func (h *FleetHandler) patchVehicle(w http.ResponseWriter, r *http.Request) {
	var body vehiclePatchRequest
	if err := httpx.DecodeJSON(r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	p := domain.VehiclePatch{Model: body.Model, Plate: body.Plate, Serial: body.Serial, RangeKm: body.RangeKm,
		HomeCity: body.HomeCity, MaintenanceNote: body.MaintenanceNote}
	if body.Status != nil {
		st, err := domain.ParseVehicleStatus(*body.Status)
		if err != nil {
			writeError(w, r, err)
			return
		}
		p.Status = &st
	}
	v, err := h.svc.UpdateVehicle(r.Context(), principal(r).Subject, chi.URLParam(r, "id"), p)
	if err != nil {
		writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, toVehicleJSON(v))
}

type vehiclePageJSON struct {
	Items      []vehicleJSON `json:"items"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// queryEnum reads an optional query parameter that must satisfy parse.
func queryEnum[T ~string](r *http.Request, name string, parse func(string) (T, error)) (T, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return "", nil
	}
	v, err := parse(s)
	if err != nil {
		return "", problem.Validation(err.Error(), problem.FieldError{Pointer: "/" + name, Detail: "unknown value"})
	}
	return v, nil
}

// queryCity reads an optional city, normalised as the registry stores it.
func queryCity(r *http.Request) (string, error) {
	s := r.URL.Query().Get("city")
	if s == "" {
		s = r.URL.Query().Get("home_city")
	}
	if s == "" {
		return "", nil
	}
	k, err := domain.CityKey(s)
	if err != nil {
		return "", problem.Validation(err.Error(), problem.FieldError{Pointer: "/city", Detail: "not a city"})
	}
	return k, nil
}

func (h *FleetHandler) listVehicles(w http.ResponseWriter, r *http.Request) {
	var after registryCursor
	limit, _, err := pageParams(r, &after)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var f app.VehicleFilter
	if f.Type, err = queryEnum(r, "type", domain.ParseVehicleType); err != nil {
		writeError(w, r, err)
		return
	}
	if f.Status, err = queryEnum(r, "status", domain.ParseVehicleStatus); err != nil {
		writeError(w, r, err)
		return
	}
	if f.HomeCity, err = queryCity(r); err != nil {
		writeError(w, r, err)
		return
	}
	vs, err := h.svc.Vehicles(r.Context(), f, after.ID, limit+1)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := vehiclePageJSON{Items: []vehicleJSON{}}
	if len(vs) > limit {
		vs = vs[:limit]
		out.NextCursor = nextCursor(registryCursor{ID: vs[limit-1].ID})
	}
	for _, v := range vs {
		out.Items = append(out.Items, toVehicleJSON(v))
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

// ---- bays ----

type bayJSON struct {
	ID           string         `json:"id"`
	Name         string         `json:"name"`
	City         string         `json:"city"`
	Polygon      geoJSONPolygon `json:"polygon"`
	Centroid     domain.Point   `json:"centroid"`
	Capacity     int            `json:"capacity"`
	VehicleTypes []string       `json:"vehicle_types"`
	Chargers     int            `json:"chargers"`
	UnderServed  bool           `json:"under_served"`
	Active       bool           `json:"active"`
	DistanceM    *float64       `json:"distance_m,omitempty"`
	UpdatedBy    string         `json:"updated_by,omitempty"`
	CreatedAt    time.Time      `json:"created_at"`
	UpdatedAt    time.Time      `json:"updated_at"`
}

func toBayJSON(b domain.Bay, staff bool) bayJSON {
	types := make([]string, len(b.VehicleTypes))
	for i, t := range b.VehicleTypes {
		types[i] = string(t)
	}
	out := bayJSON{ID: b.ID, Name: b.Name, City: b.City, Polygon: toGeoJSON(b.Polygon), Centroid: b.Polygon.Centroid(),
		Capacity: b.Capacity, VehicleTypes: types, Chargers: b.Chargers, UnderServed: b.UnderServed, Active: b.Active,
		CreatedAt: b.CreatedAt, UpdatedAt: b.UpdatedAt}
	if staff {
		out.UpdatedBy = b.UpdatedBy
	}
	return out
}

func vehicleTypes(ss []string) ([]domain.VehicleType, error) {
	if ss == nil {
		return nil, nil
	}
	out := make([]domain.VehicleType, len(ss))
	for i, s := range ss {
		t, err := domain.ParseVehicleType(s)
		if err != nil {
			return nil, err
		}
		out[i] = t
	}
	return out, nil
}

type bayRequest struct {
	Name         string          `json:"name"`
	City         string          `json:"city"`
	Polygon      *geoJSONPolygon `json:"polygon"`
	Capacity     int             `json:"capacity"`
	VehicleTypes []string        `json:"vehicle_types"`
	Chargers     int             `json:"chargers"`
	UnderServed  bool            `json:"under_served"`
}

func (h *FleetHandler) createBay(w http.ResponseWriter, r *http.Request) {
	var body bayRequest
	if err := httpx.DecodeJSON(r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	b := domain.Bay{Name: body.Name, City: body.City, Capacity: body.Capacity, Chargers: body.Chargers, UnderServed: body.UnderServed}
	var err error
	if b.VehicleTypes, err = vehicleTypes(body.VehicleTypes); err != nil {
		writeError(w, r, err)
		return
	}
	if body.Polygon == nil {
		writeError(w, r, problem.Validation("polygon is required", problem.FieldError{Pointer: "/polygon", Detail: "required"}))
		return
	}
	if b.Polygon, err = body.Polygon.polygon(); err != nil {
		writeError(w, r, err)
		return
	}
	if b, err = h.svc.CreateBay(r.Context(), principal(r).Subject, b); err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/bays/"+b.ID)
	httpx.WriteJSON(w, http.StatusCreated, toBayJSON(b, true))
}

func (h *FleetHandler) getBay(w http.ResponseWriter, r *http.Request) {
	staff := isStaff(principal(r))
	b, err := h.svc.Bay(r.Context(), chi.URLParam(r, "id"))
	if err == nil && !b.Active && !staff {
		err = fmt.Errorf("%w: bay %s", domain.ErrNotFound, b.ID)
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, toBayJSON(b, staff))
}

type bayPatchRequest struct {
	Name         *string         `json:"name"`
	City         *string         `json:"city"`
	Polygon      *geoJSONPolygon `json:"polygon"`
	Capacity     *int            `json:"capacity"`
	VehicleTypes []string        `json:"vehicle_types"`
	Chargers     *int            `json:"chargers"`
	UnderServed  *bool           `json:"under_served"`
	Active       *bool           `json:"active"`
}

func (h *FleetHandler) patchBay(w http.ResponseWriter, r *http.Request) {
	var body bayPatchRequest
	if err := httpx.DecodeJSON(r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	p := domain.BayPatch{Name: body.Name, City: body.City, Capacity: body.Capacity, Chargers: body.Chargers,
		UnderServed: body.UnderServed, Active: body.Active}
	var err error
	if p.VehicleTypes, err = vehicleTypes(body.VehicleTypes); err != nil {
		writeError(w, r, err)
		return
	}
	if body.Polygon != nil {
		if p.Polygon, err = body.Polygon.polygon(); err != nil {
			writeError(w, r, err)
			return
		}
	}
	b, err := h.svc.UpdateBay(r.Context(), principal(r).Subject, chi.URLParam(r, "id"), p)
	if err != nil {
		writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, toBayJSON(b, true))
}

type bayPageJSON struct {
	Items      []bayJSON `json:"items"`
	NextCursor string    `json:"next_cursor,omitempty"`
}

// parseNear reads ?near=lat,lon.
func parseNear(s string) (domain.Point, error) {
	bad := problem.Validation("near must be lat,lon", problem.FieldError{Pointer: "/near", Detail: "not lat,lon"})
	latS, lonS, ok := strings.Cut(s, ",")
	if !ok {
		return domain.Point{}, bad
	}
	lat, err1 := strconv.ParseFloat(strings.TrimSpace(latS), 64)
	lon, err2 := strconv.ParseFloat(strings.TrimSpace(lonS), 64)
	if err1 != nil || err2 != nil {
		return domain.Point{}, bad
	}
	p := domain.Point{Lat: lat, Lon: lon}
	if err := p.Validate(); err != nil {
		return domain.Point{}, problem.Validation(err.Error(), problem.FieldError{Pointer: "/near", Detail: "out of range"})
	}
	return p, nil
}

// defaultNearRadiusM is the radius of ?near= without ?radius_m=: a walk.
const defaultNearRadiusM = 1000

// listBays lists bays by id with filters, or, with ?near=lat,lon, the
// nearest active bays within ?radius_m= (closest ?limit=, no cursor).
// Customers see only active bays.
func (h *FleetHandler) listBays(w http.ResponseWriter, r *http.Request) {
	staff := isStaff(principal(r))
	var after registryCursor
	limit, hasCursor, err := pageParams(r, &after)
	if err != nil {
		writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	vt, err := queryEnum(r, "vehicle_type", domain.ParseVehicleType)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := bayPageJSON{Items: []bayJSON{}}
	if near := q.Get("near"); near != "" {
		h.nearBays(w, r, near, vt, limit, hasCursor, staff)
		return
	}
	if q.Get("radius_m") != "" {
		writeError(w, r, problem.Validation("radius_m needs near", problem.FieldError{Pointer: "/radius_m", Detail: "without near"}))
		return
	}
	f := app.BayFilter{VehicleType: vt}
	if f.City, err = queryCity(r); err != nil {
		writeError(w, r, err)
		return
	}
	if f.UnderServed, err = queryBool(q.Get("under_served"), "under_served"); err != nil {
		writeError(w, r, err)
		return
	}
	if f.Active, err = queryBool(q.Get("active"), "active"); err != nil {
		writeError(w, r, err)
		return
	}
	if !staff {
		active := true
		f.Active = &active
	}
	bs, err := h.svc.Bays(r.Context(), f, after.ID, limit+1)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if len(bs) > limit {
		bs = bs[:limit]
		out.NextCursor = nextCursor(registryCursor{ID: bs[limit-1].ID})
	}
	for _, b := range bs {
		out.Items = append(out.Items, toBayJSON(b, staff))
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

func (h *FleetHandler) nearBays(w http.ResponseWriter, r *http.Request, near string, vt domain.VehicleType, limit int, hasCursor, staff bool) {
	q := r.URL.Query()
	for _, name := range []string{"city", "under_served", "active"} {
		if q.Get(name) != "" {
			writeError(w, r, problem.Validation(name+" cannot be combined with near",
				problem.FieldError{Pointer: "/" + name, Detail: "not with near"}))
			return
		}
	}
	if hasCursor {
		writeError(w, r, problem.Validation("near answers one page; cursor does not apply",
			problem.FieldError{Pointer: "/cursor", Detail: "not with near"}))
		return
	}
	p, err := parseNear(near)
	if err != nil {
		writeError(w, r, err)
		return
	}
	radius := float64(defaultNearRadiusM)
	if s := q.Get("radius_m"); s != "" {
		n, perr := strconv.Atoi(s)
		if perr != nil || n < 1 || n > app.MaxNearRadiusM {
			writeError(w, r, problem.Validation(fmt.Sprintf("radius_m must be an integer between 1 and %d", app.MaxNearRadiusM),
				problem.FieldError{Pointer: "/radius_m", Detail: "out of range"}))
			return
		}
		radius = float64(n)
	}
	bs, err := h.svc.BaysNear(r.Context(), p, radius, vt, limit)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := bayPageJSON{Items: make([]bayJSON, len(bs))}
	for i, nb := range bs {
		out.Items[i] = toBayJSON(nb.Bay, staff)
		d := float64(int64(nb.DistanceM*10+0.5)) / 10
		out.Items[i].DistanceM = &d
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

// ---- zones ----

type zoneJSON struct {
	ID          string         `json:"id"`
	Name        string         `json:"name"`
	City        string         `json:"city"`
	Kind        string         `json:"kind"`
	MaxSpeedKmh int            `json:"max_speed_kmh,omitempty"`
	Polygon     geoJSONPolygon `json:"polygon"`
	Active      bool           `json:"active"`
	UpdatedBy   string         `json:"updated_by,omitempty"`
	CreatedAt   time.Time      `json:"created_at"`
	UpdatedAt   time.Time      `json:"updated_at"`
}

func toZoneJSON(z domain.Zone, staff bool) zoneJSON {
	out := zoneJSON{ID: z.ID, Name: z.Name, City: z.City, Kind: string(z.Kind), MaxSpeedKmh: z.MaxSpeedKmh,
		Polygon: toGeoJSON(z.Polygon), Active: z.Active, CreatedAt: z.CreatedAt, UpdatedAt: z.UpdatedAt}
	if staff {
		out.UpdatedBy = z.UpdatedBy
	}
	return out
}

type zoneRequest struct {
	Name        string          `json:"name"`
	City        string          `json:"city"`
	Kind        string          `json:"kind"`
	MaxSpeedKmh int             `json:"max_speed_kmh,omitempty"`
	Polygon     *geoJSONPolygon `json:"polygon"`
}

func (h *FleetHandler) createZone(w http.ResponseWriter, r *http.Request) {
	var body zoneRequest
	if err := httpx.DecodeJSON(r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	kind, err := domain.ParseZoneKind(body.Kind)
	if err != nil {
		writeError(w, r, err)
		return
	}
	z := domain.Zone{Name: body.Name, City: body.City, Kind: kind, MaxSpeedKmh: body.MaxSpeedKmh}
	if body.Polygon == nil {
		writeError(w, r, problem.Validation("polygon is required", problem.FieldError{Pointer: "/polygon", Detail: "required"}))
		return
	}
	if z.Polygon, err = body.Polygon.polygon(); err != nil {
		writeError(w, r, err)
		return
	}
	if z, err = h.svc.CreateZone(r.Context(), principal(r).Subject, z); err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/zones/"+z.ID)
	httpx.WriteJSON(w, http.StatusCreated, toZoneJSON(z, true))
}

func (h *FleetHandler) getZone(w http.ResponseWriter, r *http.Request) {
	staff := isStaff(principal(r))
	z, err := h.svc.Zone(r.Context(), chi.URLParam(r, "id"))
	if err == nil && !z.Active && !staff {
		err = fmt.Errorf("%w: zone %s", domain.ErrNotFound, z.ID)
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, toZoneJSON(z, staff))
}

type zonePatchRequest struct {
	Name        *string         `json:"name"`
	City        *string         `json:"city"`
	MaxSpeedKmh *int            `json:"max_speed_kmh"`
	Polygon     *geoJSONPolygon `json:"polygon"`
	Active      *bool           `json:"active"`
}

func (h *FleetHandler) patchZone(w http.ResponseWriter, r *http.Request) {
	var body zonePatchRequest
	if err := httpx.DecodeJSON(r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	p := domain.ZonePatch{Name: body.Name, City: body.City, MaxSpeedKmh: body.MaxSpeedKmh, Active: body.Active}
	if body.Polygon != nil {
		var err error
		if p.Polygon, err = body.Polygon.polygon(); err != nil {
			writeError(w, r, err)
			return
		}
	}
	z, err := h.svc.UpdateZone(r.Context(), principal(r).Subject, chi.URLParam(r, "id"), p)
	if err != nil {
		writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, toZoneJSON(z, true))
}

type zonePageJSON struct {
	Items      []zoneJSON `json:"items"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

// listZones lists zones by id; customers see only active zones (the app
// draws them: where to park, where to slow down).
func (h *FleetHandler) listZones(w http.ResponseWriter, r *http.Request) {
	staff := isStaff(principal(r))
	var after registryCursor
	limit, _, err := pageParams(r, &after)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var f app.ZoneFilter
	if f.Kind, err = queryEnum(r, "kind", domain.ParseZoneKind); err != nil {
		writeError(w, r, err)
		return
	}
	if f.City, err = queryCity(r); err != nil {
		writeError(w, r, err)
		return
	}
	if f.Active, err = queryBool(r.URL.Query().Get("active"), "active"); err != nil {
		writeError(w, r, err)
		return
	}
	if !staff {
		active := true
		f.Active = &active
	}
	zs, err := h.svc.Zones(r.Context(), f, after.ID, limit+1)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := zonePageJSON{Items: []zoneJSON{}}
	if len(zs) > limit {
		zs = zs[:limit]
		out.NextCursor = nextCursor(registryCursor{ID: zs[limit-1].ID})
	}
	for _, z := range zs {
		out.Items = append(out.Items, toZoneJSON(z, staff))
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}
