package providerfake

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/mobilitycorp/platform/services/maps-proxy/internal/domain"
)

// OSRM fakes osrm-routed's HTTP API v1: /route/v1/{profile}/{coordinates} and
// /table/v1/{profile}/{coordinates}, coordinates "lon,lat;lon,lat...". Profiles are
// foot, bike and driving (car, bicycle and cycling are accepted too); answers use
// great-circle distance × DetourFactor at SpeedMPS(profile). Invalid coordinates or
// options answer HTTP 400 InvalidQuery / InvalidOptions like OSRM.
type OSRM struct {
	*Server
}

// NewOSRM starts an OSRM fake that stops when t ends.
func NewOSRM(t testing.TB) *OSRM {
	t.Helper()
	mk := func(s *Server) dialect { return &osrmDialect{s: s} }
	return &OSRM{Server: newServer(t, mk, "route", "table", "nearest")}
}

type osrmDialect struct {
	s *Server // for the unreachable points
}

// osrmPath is a parsed /{service}/v1/{profile}/{coordinates} path.
type osrmPath struct {
	service, profile string
	coords           []domain.LatLng
}

func (d *osrmDialect) kind(r *http.Request) string {
	service, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	switch service {
	case "route", "table", "nearest":
		return service
	default:
		return ""
	}
}

func (d *osrmDialect) admit(http.ResponseWriter, *http.Request) bool { return true }

func (d *osrmDialect) malformed() string {
	return `{"code":"Ok","routes":[{"geometry":"_p~iF~ps|U","legs":[`
}

func osrmError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]string{"code": code, "message": message})
}

func (d *osrmDialect) noRoute(w http.ResponseWriter, _ *http.Request, _ string) {
	osrmError(w, http.StatusBadRequest, "NoRoute", "Impossible route between points")
}

func (d *osrmDialect) code(w http.ResponseWriter, _ *http.Request, _ string, m Mode) {
	osrmError(w, http.StatusBadRequest, m.code, m.message)
}

func (d *osrmDialect) rateLimited(w http.ResponseWriter, _ *http.Request, _ string, m Mode) {
	// osrm-routed has no rate limit; the proxy in front of it answers 429.
	writeHTTPError(w, m)
}

func parseOSRMPath(path string) (osrmPath, error) {
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(parts) != 4 || parts[1] != "v1" {
		return osrmPath{}, fmt.Errorf("URL string malformed close to position %d", len(parts))
	}
	p := osrmPath{service: parts[0], profile: parts[2]}
	raw := strings.TrimSuffix(parts[3], ".json")
	pos := len(parts[0]) + len(parts[1]) + len(parts[2]) + 3
	for _, c := range strings.Split(raw, ";") {
		pt, ok := parseLatLng(c, true)
		if !ok {
			//lint:ignore ST1005 OSRM's own message, reproduced verbatim
			return osrmPath{}, fmt.Errorf("Query string malformed close to position %d", pos)
		}
		p.coords = append(p.coords, pt)
		pos += len(c) + 1
	}
	return p, nil
}

func (d *osrmDialect) ok(w http.ResponseWriter, r *http.Request, kind string) {
	p, err := parseOSRMPath(r.URL.Path)
	if err != nil {
		osrmError(w, http.StatusBadRequest, "InvalidQuery", err.Error())
		return
	}
	speed, ok := SpeedMPS(p.profile)
	if !ok {
		osrmError(w, http.StatusBadRequest, "InvalidUrl", "Profile "+p.profile+" not found")
		return
	}
	switch kind {
	case "route":
		d.route(w, r, p, speed)
	case "table":
		d.table(w, r, p, speed)
	case "nearest":
		d.nearest(w, p)
	default:
		osrmError(w, http.StatusBadRequest, "InvalidService", "Service "+p.service+" not found!")
	}
}

type osrmWaypoint struct {
	Hint     string     `json:"hint"`
	Distance float64    `json:"distance"`
	Name     string     `json:"name"`
	Location [2]float64 `json:"location"`
}

func osrmWaypoints(pts []domain.LatLng) []osrmWaypoint {
	out := make([]osrmWaypoint, len(pts))
	for i, p := range pts {
		name := ""
		if l, ok := nearestLandmark(p); ok {
			name = l.road
		}
		out[i] = osrmWaypoint{
			// Real hints are opaque base64; this one just encodes the point.
			Hint:     base64.RawURLEncoding.EncodeToString([]byte(p.Key())),
			Distance: 0,
			Name:     name,
			Location: [2]float64{round6(p.Lon), round6(p.Lat)},
		}
	}
	return out
}

type osrmLeg struct {
	Steps    []any   `json:"steps"`
	Summary  string  `json:"summary"`
	Weight   float64 `json:"weight"`
	Duration float64 `json:"duration"`
	Distance float64 `json:"distance"`
}

type osrmRoute struct {
	Geometry   any       `json:"geometry,omitempty"`
	Legs       []osrmLeg `json:"legs"`
	Distance   float64   `json:"distance"`
	Duration   float64   `json:"duration"`
	WeightName string    `json:"weight_name"`
	Weight     float64   `json:"weight"`
}

func osrmOption(r *http.Request, name string, allowed ...string) (string, error) {
	v := query(r).Get(name)
	if v == "" {
		return allowed[0], nil
	}
	for _, a := range allowed {
		if v == a {
			return v, nil
		}
	}
	return "", fmt.Errorf("%s=%s is not supported", name, v)
}

// buildOSRMRoute lays pts out as one route; factor stretches distance and duration.
func buildOSRMRoute(pts []domain.LatLng, speed, factor float64, overview, geometries string) osrmRoute {
	rt := osrmRoute{WeightName: "routability"}
	var dist, dur float64
	for i := 1; i < len(pts); i++ {
		d, t := rawLeg(pts[i-1], pts[i], speed)
		d, t = d*factor, t*factor
		rt.Legs = append(rt.Legs, osrmLeg{Steps: []any{}, Weight: round1(t), Duration: round1(t), Distance: round1(d)})
		dist += d
		dur += t
	}
	rt.Distance, rt.Duration, rt.Weight = round1(dist), round1(dur), round1(dur)
	if overview != "false" {
		if geometries == "geojson" {
			coords := make([][2]float64, len(pts))
			for i, p := range pts {
				coords[i] = [2]float64{p.Lon, p.Lat}
			}
			rt.Geometry = map[string]any{"type": "LineString", "coordinates": coords}
		} else {
			rt.Geometry = domain.EncodePolyline(pts)
		}
	}
	return rt
}

func (d *osrmDialect) route(w http.ResponseWriter, r *http.Request, p osrmPath, speed float64) {
	if len(p.coords) < 2 {
		osrmError(w, http.StatusBadRequest, "InvalidOptions", "Number of coordinates needs to be at least two.")
		return
	}
	overview, err1 := osrmOption(r, "overview", "simplified", "full", "false")
	geometries, err2 := osrmOption(r, "geometries", "polyline", "geojson")
	alternatives, err3 := osrmOption(r, "alternatives", "false", "true", "1", "2", "3")
	_, err4 := osrmOption(r, "steps", "false", "true")
	for _, err := range []error{err1, err2, err3, err4} {
		if err != nil {
			osrmError(w, http.StatusBadRequest, "InvalidOptions", err.Error())
			return
		}
	}
	for _, pt := range p.coords {
		if d.s.isUnreachable(pt) {
			osrmError(w, http.StatusBadRequest, "NoRoute", "Impossible route between points")
			return
		}
	}
	routes := []osrmRoute{buildOSRMRoute(p.coords, speed, 1, overview, geometries)}
	// Like OSRM, alternatives are only searched between exactly two coordinates.
	if alternatives != "false" && len(p.coords) == 2 {
		alt := alternativePath(p.coords[0], p.coords[1])
		// Distance follows the straight line × AlternativeFactor; the geometry bends.
		rt := buildOSRMRoute(p.coords, speed, AlternativeFactor, overview, geometries)
		if overview != "false" {
			rt.Geometry = buildOSRMRoute(alt, speed, 1, overview, geometries).Geometry
		}
		routes = append(routes, rt)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"code":      "Ok",
		"routes":    routes,
		"waypoints": osrmWaypoints(p.coords),
	})
}

// osrmIndexes parses "all" or "0;2;3" against n coordinates.
func osrmIndexes(v string, n int) ([]int, error) {
	if v == "" || v == "all" {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out, nil
	}
	var out []int
	for _, s := range strings.Split(v, ";") {
		i, err := strconv.Atoi(s)
		if err != nil || i < 0 || i >= n {
			return nil, fmt.Errorf("index %q out of range", s)
		}
		out = append(out, i)
	}
	return out, nil
}

func (d *osrmDialect) table(w http.ResponseWriter, r *http.Request, p osrmPath, speed float64) {
	q := query(r)
	srcs, err1 := osrmIndexes(q.Get("sources"), len(p.coords))
	dsts, err2 := osrmIndexes(q.Get("destinations"), len(p.coords))
	if err1 != nil || err2 != nil {
		osrmError(w, http.StatusBadRequest, "InvalidOptions", "sources or destinations out of range")
		return
	}
	annotations := q.Get("annotations")
	if annotations == "" {
		annotations = "duration"
	}
	var wantDur, wantDist bool
	for _, a := range strings.Split(annotations, ",") {
		switch a {
		case "duration":
			wantDur = true
		case "distance":
			wantDist = true
		default:
			osrmError(w, http.StatusBadRequest, "InvalidOptions", "annotations="+annotations+" is not supported")
			return
		}
	}
	durations := make([][]*float64, len(srcs))
	distances := make([][]*float64, len(srcs))
	for i, si := range srcs {
		durations[i] = make([]*float64, len(dsts))
		distances[i] = make([]*float64, len(dsts))
		for j, di := range dsts {
			a, b := p.coords[si], p.coords[di]
			if a.Key() != b.Key() && (d.s.isUnreachable(a) || d.s.isUnreachable(b)) {
				continue // null: OSRM found no route
			}
			dist, dur := rawLeg(a, b, speed)
			dist, dur = round1(dist), round1(dur)
			durations[i][j], distances[i][j] = &dur, &dist
		}
	}
	pick := func(idx []int) []osrmWaypoint {
		pts := make([]domain.LatLng, len(idx))
		for i, k := range idx {
			pts[i] = p.coords[k]
		}
		return osrmWaypoints(pts)
	}
	body := map[string]any{"code": "Ok", "sources": pick(srcs), "destinations": pick(dsts)}
	if wantDur {
		body["durations"] = durations
	}
	if wantDist {
		body["distances"] = distances
	}
	writeJSON(w, http.StatusOK, body)
}

func (d *osrmDialect) nearest(w http.ResponseWriter, p osrmPath) {
	if len(p.coords) != 1 {
		osrmError(w, http.StatusBadRequest, "InvalidOptions", "Only one input coordinate is supported")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"code": "Ok", "waypoints": osrmWaypoints(p.coords)})
}
