package providerfake

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/mobilitycorp/platform/services/maps-proxy/internal/domain"
)

// DetourFactor is street distance ÷ great-circle distance in every fake's answers.
const DetourFactor = 1.25

// AlternativeFactor is how much longer and slower the fakes' alternative route is.
const AlternativeFactor = 1.2

// SpeedMPS is the fakes' average speed for an OSRM profile or a Google mode; false
// for names neither provider would know.
func SpeedMPS(profile string) (float64, bool) {
	switch profile {
	case "foot", "walking":
		return 5 / 3.6, true
	case "bike", "bicycle", "cycling", "bicycling":
		return 15 / 3.6, true
	case "driving", "car":
		return 36 / 3.6, true
	default:
		return 0, false
	}
}

// rawLeg is the unrounded distance and duration between two points.
func rawLeg(a, b domain.LatLng, speed float64) (dist, dur float64) {
	d := domain.HaversineMeters(a, b) * DetourFactor
	return d, d / speed
}

func rawPath(pts []domain.LatLng, speed float64) (dist, dur float64) {
	for i := 1; i < len(pts); i++ {
		d, t := rawLeg(pts[i-1], pts[i], speed)
		dist += d
		dur += t
	}
	return dist, dur
}

// round1 rounds to one decimal, as OSRM prints distances and durations.
func round1(v float64) float64 { return math.Round(v*10) / 10 }

// OSRMRoute is the first route the OSRM fake answers for pts under profile, as the
// adapter should map it: distance and duration rounded to 0.1 like OSRM, geometry
// the encoded polyline of the requested points.
func OSRMRoute(pts []domain.LatLng, profile string) domain.Route {
	speed, _ := SpeedMPS(profile)
	d, t := rawPath(pts, speed)
	return domain.Route{DistanceMeters: round1(d), DurationSeconds: round1(t), Polyline: domain.EncodePolyline(pts)}
}

// OSRMCell is the OSRM fake's table cell from one point to another (Source empty).
func OSRMCell(from, to domain.LatLng, profile string) domain.MatrixCell {
	speed, _ := SpeedMPS(profile)
	d, t := rawLeg(from, to, speed)
	return domain.MatrixCell{DistanceMeters: round1(d), DurationSeconds: round1(t), Reachable: true}
}

// GoogleRoute is the first route the Google fake answers for pts (origin, via
// waypoints, destination) under mode, as the adapter should map it: whole metres
// and seconds summed over legs.
func GoogleRoute(pts []domain.LatLng, mode string) domain.Route {
	speed, _ := SpeedMPS(mode)
	d, t := rawPath(pts, speed)
	return domain.Route{DistanceMeters: math.Round(d), DurationSeconds: math.Round(t), Polyline: domain.EncodePolyline(pts)}
}

// GoogleCell is the Google fake's distance matrix element (Source empty).
func GoogleCell(from, to domain.LatLng, mode string) domain.MatrixCell {
	speed, _ := SpeedMPS(mode)
	d, t := rawLeg(from, to, speed)
	return domain.MatrixCell{DistanceMeters: math.Round(d), DurationSeconds: math.Round(t), Reachable: true}
}

// alternativePath bends the straight line between two points through a point
// about 220 m north of their midpoint, so the alternative's geometry differs.
func alternativePath(a, b domain.LatLng) []domain.LatLng {
	mid := domain.LatLng{Lat: (a.Lat+b.Lat)/2 + 0.002, Lon: (a.Lon + b.Lon) / 2}
	return []domain.LatLng{a, mid, b}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// parseLatLng parses "lat,lng" (Google) or, with lonFirst, "lon,lat" (OSRM).
func parseLatLng(s string, lonFirst bool) (domain.LatLng, bool) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), ",")
	if !ok {
		return domain.LatLng{}, false
	}
	x, err1 := strconv.ParseFloat(strings.TrimSpace(a), 64)
	y, err2 := strconv.ParseFloat(strings.TrimSpace(b), 64)
	if err1 != nil || err2 != nil {
		return domain.LatLng{}, false
	}
	p := domain.LatLng{Lat: x, Lon: y}
	if lonFirst {
		p = domain.LatLng{Lat: y, Lon: x}
	}
	if p.Validate() != nil {
		return domain.LatLng{}, false
	}
	return p, true
}

// fmtCoord prints a coordinate with 7 decimals, as Nominatim does.
func fmtCoord(v float64) string { return strconv.FormatFloat(v, 'f', 7, 64) }

// round6 rounds to 6 decimals, as OSRM prints waypoint locations.
func round6(v float64) float64 { return math.Round(v*1e6) / 1e6 }
