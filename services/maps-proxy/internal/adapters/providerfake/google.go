package providerfake

import (
	"encoding/base64"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/mobilitycorp/platform/services/maps-proxy/internal/domain"
)

// Google fakes the Google Maps Platform legacy JSON web services:
// /maps/api/directions/json, /maps/api/distancematrix/json and
// /maps/api/geocode/json (address= and latlng=). Every answer carries a top-level
// status. A missing or wrong key gets REQUEST_DENIED with Google's error_message.
// Points must be "lat,lng" (addresses are NOT_FOUND); modes are walking, bicycling
// and driving (the default). Distance Matrix enforces Google's limits: 25 origins,
// 25 destinations, 100 elements per request. Geocoding searches Landmarks,
// English by default and German with language=de; components=country:XX other
// than DE finds nothing.
type Google struct {
	*Server
}

// NewGoogle starts a Google fake that accepts only apiKey and stops when t ends.
func NewGoogle(t testing.TB, apiKey string) *Google {
	t.Helper()
	mk := func(s *Server) dialect { return &googleDialect{s: s, key: apiKey} }
	return &Google{Server: newServer(t, mk, "directions", "distancematrix", "geocode")}
}

type googleDialect struct {
	s   *Server
	key string
}

// Google's own error_message texts for key problems.
const (
	googleMissingKey = "You must use an API key to authenticate each request to Google Maps Platform APIs. " +
		"For additional information, please refer to http://g.co/dev/maps-no-account"
	googleInvalidKey = "The provided API key is invalid."
	googleRateLimit  = "You have exceeded your rate-limit for this API."
)

func (d *googleDialect) kind(r *http.Request) string {
	switch r.URL.Path {
	case "/maps/api/directions/json":
		return "directions"
	case "/maps/api/distancematrix/json":
		return "distancematrix"
	case "/maps/api/geocode/json":
		return "geocode"
	default:
		return ""
	}
}

func (d *googleDialect) admit(w http.ResponseWriter, r *http.Request) bool {
	kind := d.kind(r)
	if kind == "" {
		http.NotFound(w, r)
		return false
	}
	switch key := query(r).Get("key"); {
	case key == "":
		googleStatus(w, kind, "REQUEST_DENIED", googleMissingKey)
		return false
	case key != d.key:
		googleStatus(w, kind, "REQUEST_DENIED", googleInvalidKey)
		return false
	}
	return true
}

func (d *googleDialect) malformed() string {
	return `{"status":"OK","routes":[{"legs":[{"distance":{"value":`
}

// googleStatus writes a non-OK top-level status with the empty arrays Google sends along.
func googleStatus(w http.ResponseWriter, kind, status, message string) {
	body := map[string]any{"status": status}
	if message != "" {
		body["error_message"] = message
	}
	switch kind {
	case "directions":
		body["geocoded_waypoints"], body["routes"] = []any{}, []any{}
	case "distancematrix":
		body["origin_addresses"], body["destination_addresses"], body["rows"] = []any{}, []any{}, []any{}
	default:
		body["results"] = []any{}
	}
	writeJSON(w, http.StatusOK, body)
}

func (d *googleDialect) noRoute(w http.ResponseWriter, r *http.Request, kind string) {
	if kind == "distancematrix" {
		// Distance Matrix says "no route" per element; the request itself is OK.
		d.matrix(w, r, true)
		return
	}
	googleStatus(w, kind, "ZERO_RESULTS", "")
}

func (d *googleDialect) code(w http.ResponseWriter, _ *http.Request, kind string, m Mode) {
	googleStatus(w, kind, m.code, m.message)
}

func (d *googleDialect) rateLimited(w http.ResponseWriter, _ *http.Request, kind string, m Mode) {
	if m.retryAfter != "" {
		w.Header().Set("Retry-After", m.retryAfter)
	}
	googleStatus(w, kind, "OVER_QUERY_LIMIT", googleRateLimit)
}

func (d *googleDialect) ok(w http.ResponseWriter, r *http.Request, kind string) {
	switch kind {
	case "directions":
		d.directions(w, r)
	case "distancematrix":
		d.matrix(w, r, false)
	default:
		d.geocode(w, r)
	}
}

type gLatLng struct {
	Lat float64 `json:"lat"`
	Lng float64 `json:"lng"`
}

type gTextValue struct {
	Text  string `json:"text"`
	Value int64  `json:"value"`
}

type gBounds struct {
	Northeast gLatLng `json:"northeast"`
	Southwest gLatLng `json:"southwest"`
}

func toG(p domain.LatLng) gLatLng { return gLatLng{Lat: p.Lat, Lng: p.Lon} }

func distanceText(m float64) string {
	if m < 1000 {
		return fmt.Sprintf("%d m", int64(math.Round(m)))
	}
	return fmt.Sprintf("%.1f km", m/1000)
}

func durationText(s float64) string {
	mins := max(1, int64(math.Round(s/60)))
	plural := func(n int64, unit string) string {
		if n == 1 {
			return fmt.Sprintf("%d %s", n, unit)
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	if mins < 60 {
		return plural(mins, "min")
	}
	return plural(mins/60, "hour") + " " + plural(mins%60, "min")
}

// GoogleFormattedAddress is the formatted_address the Google fake gives a landmark.
func GoogleFormattedAddress(l Landmark, english bool) string {
	parts := []string{l.localName(english)}
	if l.road != l.Name {
		parts = append(parts, l.road)
	}
	parts = append(parts, l.postcode+" Berlin", countryName(english))
	return strings.Join(parts, ", ")
}

// addressOf is what Google would print for a point: the landmark there, or the coordinates.
func addressOf(p domain.LatLng, en bool) string {
	if l, ok := nearestLandmark(p); ok {
		return GoogleFormattedAddress(l, en)
	}
	return fmt.Sprintf("%.7f,%.7f", p.Lat, p.Lon)
}

func googleMode(r *http.Request) (string, float64, bool) {
	mode := query(r).Get("mode")
	if mode == "" {
		mode = "driving"
	}
	switch mode {
	case "walking", "bicycling", "driving":
		speed, _ := SpeedMPS(mode)
		return mode, speed, true
	default:
		return mode, 0, false
	}
}

type gLeg struct {
	Distance          gTextValue `json:"distance"`
	Duration          gTextValue `json:"duration"`
	EndAddress        string     `json:"end_address"`
	EndLocation       gLatLng    `json:"end_location"`
	StartAddress      string     `json:"start_address"`
	StartLocation     gLatLng    `json:"start_location"`
	Steps             []any      `json:"steps"`
	TrafficSpeedEntry []any      `json:"traffic_speed_entry"`
	ViaWaypoint       []any      `json:"via_waypoint"`
}

type gRoute struct {
	Bounds           gBounds           `json:"bounds"`
	Copyrights       string            `json:"copyrights"`
	Legs             []gLeg            `json:"legs"`
	OverviewPolyline map[string]string `json:"overview_polyline"`
	Summary          string            `json:"summary"`
	Warnings         []string          `json:"warnings"`
	WaypointOrder    []int             `json:"waypoint_order"`
}

// gStop is a point of a directions request; via points do not end a leg.
type gStop struct {
	p   domain.LatLng
	via bool
}

func buildGoogleRoute(stops []gStop, speed, factor float64, mode string, en bool) gRoute {
	pts := make([]domain.LatLng, len(stops))
	for i, s := range stops {
		pts[i] = s.p
	}
	rt := gRoute{
		Copyrights:       "Map data ©2026 GeoBasis-DE/BKG (©2009)",
		OverviewPolyline: map[string]string{"points": domain.EncodePolyline(pts)},
		Summary:          "",
		Warnings:         []string{},
		WaypointOrder:    []int{},
	}
	if mode == "walking" {
		rt.Warnings = append(rt.Warnings, "Walking directions are in beta. Use caution – This route may be missing sidewalks or pedestrian paths.")
	}
	ne, sw := toG(pts[0]), toG(pts[0])
	for _, p := range pts {
		ne.Lat, ne.Lng = max(ne.Lat, p.Lat), max(ne.Lng, p.Lon)
		sw.Lat, sw.Lng = min(sw.Lat, p.Lat), min(sw.Lng, p.Lon)
	}
	rt.Bounds = gBounds{Northeast: ne, Southwest: sw}

	start := 0
	for i := 1; i < len(stops); i++ {
		if stops[i].via && i != len(stops)-1 {
			continue
		}
		seg := pts[start : i+1]
		d, t := rawPath(seg, speed)
		d, t = d*factor, t*factor
		leg := gLeg{
			Distance:     gTextValue{Text: distanceText(d), Value: int64(math.Round(d))},
			Duration:     gTextValue{Text: durationText(t), Value: int64(math.Round(t))},
			StartAddress: addressOf(seg[0], en), StartLocation: toG(seg[0]),
			EndAddress: addressOf(seg[len(seg)-1], en), EndLocation: toG(seg[len(seg)-1]),
			Steps: []any{}, TrafficSpeedEntry: []any{}, ViaWaypoint: []any{},
		}
		for _, v := range seg[1 : len(seg)-1] {
			leg.ViaWaypoint = append(leg.ViaWaypoint, map[string]any{"location": toG(v), "step_index": 0, "step_interpolation": 0.5})
		}
		rt.Legs = append(rt.Legs, leg)
		start = i
	}
	return rt
}

func (d *googleDialect) directions(w http.ResponseWriter, r *http.Request) {
	q := query(r)
	for _, name := range []string{"origin", "destination"} {
		if q.Get(name) == "" {
			googleStatus(w, "directions", "INVALID_REQUEST", "Invalid request. Missing the '"+name+"' parameter.")
			return
		}
	}
	mode, speed, ok := googleMode(r)
	if !ok {
		googleStatus(w, "directions", "INVALID_REQUEST", "Invalid request. Invalid 'mode' parameter: "+mode)
		return
	}
	raw := []string{q.Get("origin")}
	if wp := q.Get("waypoints"); wp != "" {
		for _, s := range strings.Split(wp, "|") {
			if s != "optimize:true" {
				raw = append(raw, s)
			}
		}
	}
	raw = append(raw, q.Get("destination"))
	if len(raw)-2 > 25 {
		googleStatus(w, "directions", "MAX_WAYPOINTS_EXCEEDED", "Too many waypoints in the request (25 max).")
		return
	}
	stops := make([]gStop, len(raw))
	geocoded := make([]map[string]any, len(raw))
	notFound := false
	for i, s := range raw {
		via := strings.HasPrefix(s, "via:")
		p, ok := parseLatLng(strings.TrimPrefix(s, "via:"), false)
		stops[i] = gStop{p: p, via: via}
		if !ok {
			notFound = true
			geocoded[i] = map[string]any{"geocoder_status": "ZERO_RESULTS"}
			continue
		}
		geocoded[i] = map[string]any{
			"geocoder_status": "OK",
			"place_id":        "ChIJ" + base64.RawURLEncoding.EncodeToString([]byte(p.Key())),
			"types":           []string{"street_address"},
		}
	}
	body := map[string]any{"geocoded_waypoints": geocoded, "routes": []gRoute{}}
	switch {
	case notFound:
		body["status"] = "NOT_FOUND"
	case d.anyUnreachable(stops):
		body["status"] = "ZERO_RESULTS"
	default:
		en := q.Get("language") == "" || english(q.Get("language"))
		routes := []gRoute{buildGoogleRoute(stops, speed, 1, mode, en)}
		// Google offers alternatives only without intermediate waypoints.
		if q.Get("alternatives") == "true" && len(stops) == 2 {
			alt := buildGoogleRoute(stops, speed, AlternativeFactor, mode, en)
			bent := alternativePath(stops[0].p, stops[1].p)
			alt.OverviewPolyline = map[string]string{"points": domain.EncodePolyline(bent)}
			routes = append(routes, alt)
		}
		body["routes"], body["status"] = routes, "OK"
	}
	writeJSON(w, http.StatusOK, body)
}

func (d *googleDialect) anyUnreachable(stops []gStop) bool {
	for _, s := range stops {
		if d.s.isUnreachable(s.p) {
			return true
		}
	}
	return false
}

// Google's Distance Matrix limits per request.
const (
	googleMaxDimension = 25
	googleMaxElements  = 100
)

func (d *googleDialect) matrix(w http.ResponseWriter, r *http.Request, noRoute bool) {
	q := query(r)
	if q.Get("origins") == "" || q.Get("destinations") == "" {
		googleStatus(w, "distancematrix", "INVALID_REQUEST", "Invalid request. Missing the 'origins' or 'destinations' parameter.")
		return
	}
	origins, dests := strings.Split(q.Get("origins"), "|"), strings.Split(q.Get("destinations"), "|")
	if len(origins) > googleMaxDimension || len(dests) > googleMaxDimension {
		googleStatus(w, "distancematrix", "MAX_DIMENSIONS_EXCEEDED", "Too many origins or destinations (25 max).")
		return
	}
	if len(origins)*len(dests) > googleMaxElements {
		googleStatus(w, "distancematrix", "MAX_ELEMENTS_EXCEEDED", "Too many elements in the request (100 max).")
		return
	}
	mode, speed, ok := googleMode(r)
	if !ok {
		googleStatus(w, "distancematrix", "INVALID_REQUEST", "Invalid request. Invalid 'mode' parameter: "+mode)
		return
	}
	en := q.Get("language") == "" || english(q.Get("language"))
	parse := func(raw []string) ([]domain.LatLng, []bool, []string) {
		pts, oks, addrs := make([]domain.LatLng, len(raw)), make([]bool, len(raw)), make([]string, len(raw))
		for i, s := range raw {
			pts[i], oks[i] = parseLatLng(s, false)
			if oks[i] {
				addrs[i] = addressOf(pts[i], en)
			}
		}
		return pts, oks, addrs
	}
	op, ook, oaddr := parse(origins)
	dp, dok, daddr := parse(dests)
	rows := make([]map[string]any, len(op))
	for i := range op {
		elems := make([]map[string]any, len(dp))
		for j := range dp {
			switch {
			case !ook[i] || !dok[j]:
				elems[j] = map[string]any{"status": "NOT_FOUND"}
			case noRoute || (op[i].Key() != dp[j].Key() && (d.s.isUnreachable(op[i]) || d.s.isUnreachable(dp[j]))):
				elems[j] = map[string]any{"status": "ZERO_RESULTS"}
			default:
				dist, dur := rawLeg(op[i], dp[j], speed)
				elems[j] = map[string]any{
					"distance": gTextValue{Text: distanceText(dist), Value: int64(math.Round(dist))},
					"duration": gTextValue{Text: durationText(dur), Value: int64(math.Round(dur))},
					"status":   "OK",
				}
			}
		}
		rows[i] = map[string]any{"elements": elems}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"destination_addresses": daddr,
		"origin_addresses":      oaddr,
		"rows":                  rows,
		"status":                "OK",
	})
}

type gComponent struct {
	LongName  string   `json:"long_name"`
	ShortName string   `json:"short_name"`
	Types     []string `json:"types"`
}

type gResult struct {
	AddressComponents []gComponent   `json:"address_components"`
	FormattedAddress  string         `json:"formatted_address"`
	Geometry          map[string]any `json:"geometry"`
	PlaceID           string         `json:"place_id"`
	Types             []string       `json:"types"`
}

func geometry(p domain.LatLng, locationType string, span float64) map[string]any {
	return map[string]any{
		"location":      toG(p),
		"location_type": locationType,
		"viewport": gBounds{
			Northeast: gLatLng{Lat: p.Lat + span, Lng: p.Lon + span},
			Southwest: gLatLng{Lat: p.Lat - span, Lng: p.Lon - span},
		},
	}
}

func cityComponents(en bool) []gComponent {
	return []gComponent{
		{LongName: "Berlin", ShortName: "Berlin", Types: []string{"locality", "political"}},
		{LongName: "Berlin", ShortName: "BE", Types: []string{"administrative_area_level_1", "political"}},
		{LongName: countryName(en), ShortName: "DE", Types: []string{"country", "political"}},
	}
}

func toGoogleResult(l Landmark, en bool) gResult {
	comps := []gComponent{{LongName: l.localName(en), ShortName: l.localName(en), Types: l.googleTypes}}
	if l.road != l.Name {
		comps = append(comps, gComponent{LongName: l.road, ShortName: l.road, Types: []string{"route"}})
	}
	comps = append(comps, gComponent{LongName: l.borough, ShortName: l.borough, Types: []string{"sublocality_level_1", "sublocality", "political"}})
	comps = append(comps, cityComponents(en)...)
	comps = append(comps, gComponent{LongName: l.postcode, ShortName: l.postcode, Types: []string{"postal_code"}})
	return gResult{
		AddressComponents: comps,
		FormattedAddress:  GoogleFormattedAddress(l, en),
		Geometry:          geometry(l.Point, "GEOMETRIC_CENTER", 0.0013),
		PlaceID:           "ChIJ" + base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(l.placeID, 10))),
		Types:             l.googleTypes,
	}
}

func berlinResult(en bool) gResult {
	return gResult{
		AddressComponents: cityComponents(en),
		FormattedAddress:  "Berlin, " + countryName(en),
		Geometry:          geometry(domain.LatLng{Lat: 52.5200066, Lon: 13.404954}, "APPROXIMATE", 0.17),
		PlaceID:           "ChIJAVkDPzdOqEcRcDteW0YgIQQ",
		Types:             []string{"locality", "political"},
	}
}

func (d *googleDialect) geocode(w http.ResponseWriter, r *http.Request) {
	q := query(r)
	en := q.Get("language") == "" || english(q.Get("language"))
	results := []gResult{}
	switch {
	case q.Get("latlng") != "":
		p, ok := parseLatLng(q.Get("latlng"), false)
		if !ok {
			googleStatus(w, "geocode", "INVALID_REQUEST", "Invalid request. Invalid 'latlng' parameter.")
			return
		}
		if l, found := nearestLandmark(p); found {
			// Reverse geocoding lists ever coarser results: the place, then the city.
			results = append(results, toGoogleResult(l, en), berlinResult(en))
		}
	case q.Get("address") != "" || q.Get("components") != "":
		country := ""
		for _, c := range strings.Split(q.Get("components"), "|") {
			if v, ok := strings.CutPrefix(c, "country:"); ok {
				country = strings.ToUpper(v)
			}
		}
		if country == "" || country == "DE" {
			for _, l := range searchLandmarks(q.Get("address")) {
				results = append(results, toGoogleResult(l, en))
			}
		}
	default:
		googleStatus(w, "geocode", "INVALID_REQUEST", "Invalid request. Missing the 'address', 'components', 'latlng' or 'place_id' parameter.")
		return
	}
	if len(results) == 0 {
		googleStatus(w, "geocode", "ZERO_RESULTS", "")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": results, "status": "OK"})
}
