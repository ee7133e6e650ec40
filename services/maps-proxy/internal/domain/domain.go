// Package domain holds the maps-proxy's vocabulary: points, profiles, routes,
// matrices and places, their validation and normalisation, the provider error
// taxonomy, and the built-in estimator used when no provider can answer.
// It knows nothing of HTTP, Redis or any provider's wire format.
package domain

import (
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"
)

// Profile is how the traveller moves.
type Profile string

const (
	ProfileFoot    Profile = "foot"
	ProfileBike    Profile = "bike"
	ProfileScooter Profile = "scooter"
	ProfileCar     Profile = "car"
)

// Profiles lists every valid profile.
func Profiles() []Profile { return []Profile{ProfileFoot, ProfileBike, ProfileScooter, ProfileCar} }

// ParseProfile validates s; the empty string means foot (the booking app's default).
func ParseProfile(s string) (Profile, error) {
	if s == "" {
		return ProfileFoot, nil
	}
	for _, p := range Profiles() {
		if string(p) == s {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: profile %q is not one of foot, bike, scooter, car", ErrInvalidInput, s)
}

// LatLng is a WGS84 point in degrees.
type LatLng struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// Validate checks ranges and rejects NaN/Inf.
func (p LatLng) Validate() error {
	if math.IsNaN(p.Lat) || math.IsNaN(p.Lon) || math.IsInf(p.Lat, 0) || math.IsInf(p.Lon, 0) {
		return fmt.Errorf("%w: coordinates must be finite numbers", ErrInvalidInput)
	}
	if p.Lat < -90 || p.Lat > 90 {
		return fmt.Errorf("%w: lat %v outside [-90, 90]", ErrInvalidInput, p.Lat)
	}
	if p.Lon < -180 || p.Lon > 180 {
		return fmt.Errorf("%w: lon %v outside [-180, 180]", ErrInvalidInput, p.Lon)
	}
	return nil
}

// Rounded snaps the point to 4 decimal places (about 11 m of latitude), the
// resolution of cache keys: two requests a few metres apart share an answer.
func (p LatLng) Rounded() LatLng {
	return LatLng{Lat: math.Round(p.Lat*1e4) / 1e4, Lon: math.Round(p.Lon*1e4) / 1e4}
}

// Key is the rounded point as text, for cache keys.
func (p LatLng) Key() string {
	r := p.Rounded()
	return fmt.Sprintf("%.4f,%.4f", r.Lat, r.Lon)
}

// Source names what produced an answer: a provider's name, or one of these.
const (
	SourceEstimate  = "estimate"  // the built-in great-circle estimator
	SourceGazetteer = "gazetteer" // the local gazetteer of bays and places
)

// RouteRequest asks for a route from From to To through Waypoints.
type RouteRequest struct {
	From         LatLng
	To           LatLng
	Waypoints    []LatLng
	Profile      Profile
	Alternatives bool
	Language     string
}

// Points returns From, the waypoints and To in order.
func (r RouteRequest) Points() []LatLng {
	pts := make([]LatLng, 0, len(r.Waypoints)+2)
	pts = append(pts, r.From)
	pts = append(pts, r.Waypoints...)
	return append(pts, r.To)
}

// MaxWaypoints bounds a route request.
const MaxWaypoints = 23

// Validate checks every point and the waypoint count.
func (r RouteRequest) Validate() error {
	if len(r.Waypoints) > MaxWaypoints {
		return fmt.Errorf("%w: at most %d waypoints", ErrInvalidInput, MaxWaypoints)
	}
	for _, p := range r.Points() {
		if err := p.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// Route is one way from the first point to the last.
type Route struct {
	DistanceMeters  float64 `json:"distance_meters"`
	DurationSeconds float64 `json:"duration_seconds"`
	// Polyline is the geometry in Google's encoded polyline format (precision 5).
	Polyline string `json:"polyline"`
}

// RouteResult is the answer to a RouteRequest; the first route is the recommended one.
type RouteResult struct {
	Routes []Route `json:"routes"`
	Source string  `json:"source"`
}

// MatrixRequest asks for travel between every source and every destination.
type MatrixRequest struct {
	Sources      []LatLng
	Destinations []LatLng
	Profile      Profile
}

// MaxMatrixCells bounds sources × destinations.
const MaxMatrixCells = 625

// Validate checks the points and the size.
func (r MatrixRequest) Validate() error {
	if len(r.Sources) == 0 || len(r.Destinations) == 0 {
		return fmt.Errorf("%w: sources and destinations must not be empty", ErrInvalidInput)
	}
	if len(r.Sources)*len(r.Destinations) > MaxMatrixCells {
		return fmt.Errorf("%w: at most %d cells (sources × destinations)", ErrInvalidInput, MaxMatrixCells)
	}
	for _, p := range append(append([]LatLng{}, r.Sources...), r.Destinations...) {
		if err := p.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// MatrixCell is the travel from one source to one destination.
type MatrixCell struct {
	DistanceMeters  float64 `json:"distance_meters"`
	DurationSeconds float64 `json:"duration_seconds"`
	Reachable       bool    `json:"reachable"`
	Source          string  `json:"source"`
}

// MatrixResult holds Cells[source][destination].
type MatrixResult struct {
	Cells [][]MatrixCell `json:"cells"`
}

// GeocodeRequest is a free-text search.
type GeocodeRequest struct {
	Query    string
	Language string // BCP 47, e.g. "de"
	Country  string // ISO 3166-1 alpha-2 bias, e.g. "DE"
	Limit    int
}

// MaxGeocodeLimit bounds results per search.
const MaxGeocodeLimit = 20

// Validate checks the query and the limit.
func (r GeocodeRequest) Validate() error {
	if n := utf8.RuneCountInString(r.Query); n < 2 || n > 256 {
		return fmt.Errorf("%w: query must be 2 to 256 characters", ErrInvalidInput)
	}
	if r.Limit < 1 || r.Limit > MaxGeocodeLimit {
		return fmt.Errorf("%w: limit must be 1 to %d", ErrInvalidInput, MaxGeocodeLimit)
	}
	if r.Country != "" && len(r.Country) != 2 {
		return fmt.Errorf("%w: country must be an ISO 3166-1 alpha-2 code", ErrInvalidInput)
	}
	return nil
}

// ReverseRequest asks what is at a point.
type ReverseRequest struct {
	Point    LatLng
	Language string
}

// Place is a geocoding result.
type Place struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Point   LatLng `json:"point"`
	Country string `json:"country,omitempty"` // ISO 3166-1 alpha-2
	Kind    string `json:"kind,omitempty"`    // e.g. bay, street, poi
}

// GeocodeResult is the answer to a geocode or reverse request.
type GeocodeResult struct {
	Places []Place `json:"places"`
	Source string  `json:"source"`
}

// ErrInvalidInput marks a request the caller must fix (HTTP 400/422).
var ErrInvalidInput = errors.New("invalid input")

// ErrNoRoute means the points are valid but not connected for the profile; it is
// an answer, not a failure, so no fallback provider is asked.
var ErrNoRoute = errors.New("no route between the points")

// ErrorKind classifies a provider failure so the chain can decide what to do next.
type ErrorKind string

const (
	KindNoRoute      ErrorKind = "no_route"      // OSRM NoRoute, Google ZERO_RESULTS/NOT_FOUND on routes
	KindZeroResults  ErrorKind = "zero_results"  // geocoding found nothing
	KindInvalidQuery ErrorKind = "invalid_query" // OSRM InvalidQuery, Google INVALID_REQUEST: our request was wrong
	KindRateLimited  ErrorKind = "rate_limited"  // HTTP 429, Google OVER_QUERY_LIMIT
	KindDenied       ErrorKind = "denied"        // Google REQUEST_DENIED, HTTP 401/403: key or billing problem
	KindUnavailable  ErrorKind = "unavailable"   // HTTP 5xx, connection refused, circuit open, quota spent
	KindTimeout      ErrorKind = "timeout"       // no answer in time
	KindMalformed    ErrorKind = "malformed"     // an answer we cannot parse
)

// ProviderError is what adapters return for every upstream failure. It never
// contains the provider's key or the full request URL.
type ProviderError struct {
	Provider   string
	Kind       ErrorKind
	Status     int           // upstream HTTP status, 0 if none
	Code       string        // upstream code, e.g. "NoRoute", "OVER_QUERY_LIMIT"
	RetryAfter time.Duration // from Retry-After, when given
	Err        error
}

func (e *ProviderError) Error() string {
	msg := fmt.Sprintf("%s: %s", e.Provider, e.Kind)
	if e.Code != "" {
		msg += " (" + e.Code + ")"
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *ProviderError) Unwrap() error { return e.Err }

// Retryable reports whether another provider (or a later attempt) may succeed:
// true for rate limits, outages, timeouts, malformed answers and denied keys;
// false for answers about the request itself (no route, zero results, invalid query).
func (e *ProviderError) Retryable() bool {
	switch e.Kind {
	case KindNoRoute, KindZeroResults, KindInvalidQuery:
		return false
	default:
		return true
	}
}
