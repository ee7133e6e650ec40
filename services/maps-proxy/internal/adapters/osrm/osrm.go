// Package osrm calls an OSRM server's HTTP API v1 (route and table services) and
// maps its answers and failures onto the domain.
package osrm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mobilitycorp/platform/services/maps-proxy/internal/adapters/upstream"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/domain"
)

// Config configures the client.
type Config struct {
	// BaseURL is the server root, e.g. "http://osrm.internal:5000".
	BaseURL string
	// Profiles maps our profiles to the server's profile path segment; missing
	// entries fall back to DefaultProfiles.
	Profiles map[domain.Profile]string
	// Name is the provider name in errors and results; default "osrm".
	Name string
}

// DefaultProfiles are the names of OSRM's stock profiles. Scooters ride bike lanes.
func DefaultProfiles() map[domain.Profile]string {
	return map[domain.Profile]string{
		domain.ProfileFoot:    "foot",
		domain.ProfileBike:    "bike",
		domain.ProfileScooter: "bike",
		domain.ProfileCar:     "driving",
	}
}

// Validate reports a configuration the client cannot work with.
func (c Config) Validate() error {
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("osrm: base URL %q must be an absolute http(s) URL", c.BaseURL)
	}
	for p, name := range c.Profiles {
		if name == "" || strings.Contains(name, "/") {
			return fmt.Errorf("osrm: profile name %q for %s is not a path segment", name, p)
		}
	}
	return nil
}

// Client implements the app's RouteProvider and MatrixProvider over OSRM.
type Client struct {
	cfg  Config
	base string
	up   upstream.Caller
}

// userAgent identifies us to the server operator.
const userAgent = "MobilityCorp-maps-proxy/1.0"

// defaultTimeout bounds a call when the caller passes no client; callers should
// still set per-request deadlines on the context.
const defaultTimeout = 10 * time.Second

// New builds a client; hc nil means a client with a 10 s timeout.
func New(cfg Config, hc *http.Client) *Client {
	if cfg.Name == "" {
		cfg.Name = "osrm"
	}
	profiles := DefaultProfiles()
	for p, name := range cfg.Profiles {
		profiles[p] = name
	}
	cfg.Profiles = profiles
	if hc == nil {
		hc = &http.Client{Timeout: defaultTimeout}
	}
	return &Client{
		cfg:  cfg,
		base: strings.TrimRight(cfg.BaseURL, "/"),
		up:   upstream.Caller{Provider: cfg.Name, HTTP: hc, UserAgent: userAgent},
	}
}

// Name is the provider name.
func (c *Client) Name() string { return c.cfg.Name }

func (c *Client) profile(p domain.Profile) string {
	if name, ok := c.cfg.Profiles[p]; ok {
		return name
	}
	return c.cfg.Profiles[domain.ProfileFoot]
}

// coords renders points in OSRM's lon,lat;lon,lat order.
func coords(pts []domain.LatLng) string {
	var b strings.Builder
	for i, p := range pts {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(strconv.FormatFloat(p.Lon, 'f', -1, 64))
		b.WriteByte(',')
		b.WriteString(strconv.FormatFloat(p.Lat, 'f', -1, 64))
	}
	return b.String()
}

// envelope is the part every OSRM answer has.
type envelope struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type routeResponse struct {
	envelope
	Routes []struct {
		Geometry string   `json:"geometry"`
		Distance *float64 `json:"distance"`
		Duration *float64 `json:"duration"`
	} `json:"routes"`
}

// Route asks the route service for the route through req's points.
func (c *Client) Route(ctx context.Context, req domain.RouteRequest) ([]domain.Route, error) {
	q := url.Values{}
	q.Set("overview", "full")
	q.Set("geometries", "polyline")
	q.Set("alternatives", strconv.FormatBool(req.Alternatives))
	q.Set("steps", "false")
	u := c.base + "/route/v1/" + url.PathEscape(c.profile(req.Profile)) + "/" + coords(req.Points()) + "?" + q.Encode()

	var out routeResponse
	if err := c.call(ctx, "route", u, &out); err != nil {
		return nil, err
	}
	if len(out.Routes) == 0 {
		return nil, c.up.Fail(domain.KindNoRoute, http.StatusOK, out.Code, fmt.Errorf("route: %w", domain.ErrNoRoute))
	}
	routes := make([]domain.Route, 0, len(out.Routes))
	for i, r := range out.Routes {
		if r.Distance == nil || r.Duration == nil || r.Geometry == "" {
			return nil, c.up.Fail(domain.KindMalformed, http.StatusOK, out.Code, fmt.Errorf("route: route %d lacks distance, duration or geometry", i))
		}
		routes = append(routes, domain.Route{DistanceMeters: *r.Distance, DurationSeconds: *r.Duration, Polyline: r.Geometry})
	}
	return routes, nil
}

type tableResponse struct {
	envelope
	Durations [][]*float64 `json:"durations"`
	Distances [][]*float64 `json:"distances"`
}

// Matrix asks the table service for durations and distances from every source to
// every destination. Coordinates are sent as sources followed by destinations.
func (c *Client) Matrix(ctx context.Context, req domain.MatrixRequest) ([][]domain.MatrixCell, error) {
	n, m := len(req.Sources), len(req.Destinations)
	if n == 0 || m == 0 {
		return nil, c.up.Fail(domain.KindInvalidQuery, 0, "", errors.New("table: sources and destinations must not be empty"))
	}
	idx := func(from, count int) string {
		s := make([]string, count)
		for i := range s {
			s[i] = strconv.Itoa(from + i)
		}
		return strings.Join(s, ";")
	}
	q := url.Values{}
	q.Set("sources", idx(0, n))
	q.Set("destinations", idx(n, m))
	q.Set("annotations", "duration,distance")
	pts := append(append(make([]domain.LatLng, 0, n+m), req.Sources...), req.Destinations...)
	u := c.base + "/table/v1/" + url.PathEscape(c.profile(req.Profile)) + "/" + coords(pts) + "?" + q.Encode()

	var out tableResponse
	if err := c.call(ctx, "table", u, &out); err != nil {
		return nil, err
	}
	if !shaped(out.Durations, n, m) || !shaped(out.Distances, n, m) {
		return nil, c.up.Fail(domain.KindMalformed, http.StatusOK, out.Code,
			fmt.Errorf("table: want %d×%d durations and distances", n, m))
	}
	cells := make([][]domain.MatrixCell, n)
	for i := range cells {
		cells[i] = make([]domain.MatrixCell, m)
		for j := range cells[i] {
			dur, dist := out.Durations[i][j], out.Distances[i][j]
			// OSRM writes null where it found no route.
			if dur == nil || dist == nil {
				continue
			}
			cells[i][j] = domain.MatrixCell{DistanceMeters: *dist, DurationSeconds: *dur, Reachable: true}
		}
	}
	return cells, nil
}

func shaped(rows [][]*float64, n, m int) bool {
	if len(rows) != n {
		return false
	}
	for _, r := range rows {
		if len(r) != m {
			return false
		}
	}
	return true
}

// call GETs u and decodes an "Ok" answer into out; everything else becomes a
// *domain.ProviderError.
func (c *Client) call(ctx context.Context, endpoint, u string, out interface{ head() envelope }) error {
	r, err := c.up.Get(ctx, endpoint, u)
	if err != nil {
		return err
	}
	// Throttling and outages come from whatever fronts OSRM and rarely carry JSON.
	if r.Status == http.StatusTooManyRequests || r.Status >= 500 ||
		r.Status == http.StatusUnauthorized || r.Status == http.StatusForbidden {
		return c.up.StatusError(endpoint, r)
	}
	if err := json.Unmarshal(r.Body, out); err != nil {
		if r.Status >= 400 {
			return c.up.StatusError(endpoint, r)
		}
		return c.up.Fail(domain.KindMalformed, r.Status, "", fmt.Errorf("%s: decode: %w", endpoint, err))
	}
	env := out.head()
	if env.Code == "Ok" && r.Status < 300 {
		return nil
	}
	if env.Code == "" {
		if r.Status >= 400 {
			return c.up.StatusError(endpoint, r)
		}
		return c.up.Fail(domain.KindMalformed, r.Status, "", fmt.Errorf("%s: answer has no code", endpoint))
	}
	return c.codeError(endpoint, r.Status, env)
}

// head lets call read the code of any response type that embeds envelope.
func (e envelope) head() envelope { return e }

// codeError maps OSRM's response codes (docs: "Responses" / "Code").
func (c *Client) codeError(endpoint string, status int, env envelope) *domain.ProviderError {
	msg := env.Message
	if msg == "" {
		msg = env.Code
	}
	switch env.Code {
	case "NoRoute", "NoSegment", "NoTable", "NoMatch", "NoTrips":
		// NoSegment: a point is too far from any road for this profile — for the
		// caller as final as no route at all.
		return c.up.Fail(domain.KindNoRoute, status, env.Code, fmt.Errorf("%s: %w: %s", endpoint, domain.ErrNoRoute, msg))
	case "InvalidUrl", "InvalidService", "InvalidVersion", "InvalidOptions", "InvalidQuery",
		"InvalidValue", "TooBig", "NotImplemented", "ProfileNotFound":
		return c.up.Fail(domain.KindInvalidQuery, status, env.Code, fmt.Errorf("%s: %s", endpoint, msg))
	case "DisabledDataset":
		return c.up.Fail(domain.KindUnavailable, status, env.Code, fmt.Errorf("%s: %s", endpoint, msg))
	default:
		kind := domain.KindUnavailable
		if status >= 400 && status < 500 {
			kind = domain.KindInvalidQuery
		}
		return c.up.Fail(kind, status, env.Code, fmt.Errorf("%s: unexpected code: %s", endpoint, msg))
	}
}
