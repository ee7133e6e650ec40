// Package google calls the Google Maps Platform web services that answer JSON
// with a top-level status (Directions, Distance Matrix, Geocoding) and maps their
// answers and failures onto the domain. The API key travels in the query string,
// so no error this package returns ever contains a request URL, and upstream
// messages are masked too.
package google

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

	"github.com/mobilitycorp/platform/pkg/config"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/adapters/upstream"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/domain"
)

// Config configures the client.
type Config struct {
	// BaseURL is the API root; default DefaultBaseURL.
	BaseURL string
	// APIKey is the Maps Platform key (server key, restricted to these APIs).
	APIKey config.Secret
	// Name is the provider name in errors and results; default "google".
	Name string
}

// DefaultBaseURL is Google's endpoint for the Maps web services.
const DefaultBaseURL = "https://maps.googleapis.com"

// Validate reports a configuration the client cannot work with. Its messages
// never contain the key.
func (c Config) Validate() error {
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("google: base URL %q must be an absolute http(s) URL", c.BaseURL)
		}
	}
	if c.APIKey.Reveal() == "" {
		return errors.New("google: API key is required")
	}
	return nil
}

// Client implements the app's RouteProvider, MatrixProvider and Geocoder over Google.
type Client struct {
	cfg  Config
	base string
	// up masks the key, its Secret, in every error it builds.
	up upstream.Caller
}

const (
	// defaultTimeout bounds a call when the caller passes no client.
	defaultTimeout = 10 * time.Second
	userAgent      = "MobilityCorp-maps-proxy/1.0"
)

// New builds a client; hc nil means a client with a 10 s timeout.
func New(cfg Config, hc *http.Client) *Client {
	if cfg.Name == "" {
		cfg.Name = "google"
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if hc == nil {
		hc = &http.Client{Timeout: defaultTimeout}
	}
	return &Client{
		cfg:  cfg,
		base: strings.TrimRight(cfg.BaseURL, "/"),
		up: upstream.Caller{
			Provider:  cfg.Name,
			HTTP:      hc,
			UserAgent: userAgent,
			Secret:    cfg.APIKey.Reveal(),
		},
	}
}

// Name is the provider name.
func (c *Client) Name() string { return c.cfg.Name }

// travelMode maps profiles to Google's modes; scooters ride bike lanes.
func travelMode(p domain.Profile) string {
	switch p {
	case domain.ProfileBike, domain.ProfileScooter:
		return "bicycling"
	case domain.ProfileCar:
		return "driving"
	default:
		return "walking"
	}
}

func latLng(p domain.LatLng) string {
	return strconv.FormatFloat(p.Lat, 'f', -1, 64) + "," + strconv.FormatFloat(p.Lon, 'f', -1, 64)
}

// status is the envelope of every answer.
type status struct {
	Status       string `json:"status"`
	ErrorMessage string `json:"error_message"`
}

func (s status) head() status { return s }

type value struct {
	Value *float64 `json:"value"`
}

type directionsResponse struct {
	status
	Routes []struct {
		OverviewPolyline struct {
			Points string `json:"points"`
		} `json:"overview_polyline"`
		Legs []struct {
			Distance value `json:"distance"`
			Duration value `json:"duration"`
		} `json:"legs"`
	} `json:"routes"`
}

// Route asks the Directions API. Waypoints are sent as via: points, so they shape
// the route without splitting it into legs; distance and duration sum the legs.
func (c *Client) Route(ctx context.Context, req domain.RouteRequest) ([]domain.Route, error) {
	q := url.Values{}
	q.Set("origin", latLng(req.From))
	q.Set("destination", latLng(req.To))
	if len(req.Waypoints) > 0 {
		via := make([]string, len(req.Waypoints))
		for i, p := range req.Waypoints {
			via[i] = "via:" + latLng(p)
		}
		q.Set("waypoints", strings.Join(via, "|"))
	}
	q.Set("mode", travelMode(req.Profile))
	if req.Alternatives {
		q.Set("alternatives", "true")
	}
	if req.Language != "" {
		q.Set("language", req.Language)
	}
	var out directionsResponse
	if err := c.call(ctx, "directions", "/maps/api/directions/json", q, &out, false); err != nil {
		return nil, err
	}
	if len(out.Routes) == 0 {
		return nil, c.up.Fail(domain.KindNoRoute, http.StatusOK, out.Status, fmt.Errorf("directions: %w", domain.ErrNoRoute))
	}
	routes := make([]domain.Route, 0, len(out.Routes))
	for i, r := range out.Routes {
		if len(r.Legs) == 0 || r.OverviewPolyline.Points == "" {
			return nil, c.up.Fail(domain.KindMalformed, http.StatusOK, out.Status, fmt.Errorf("directions: route %d lacks legs or geometry", i))
		}
		var rt domain.Route
		for j, leg := range r.Legs {
			if leg.Distance.Value == nil || leg.Duration.Value == nil {
				return nil, c.up.Fail(domain.KindMalformed, http.StatusOK, out.Status, fmt.Errorf("directions: route %d leg %d lacks distance or duration", i, j))
			}
			rt.DistanceMeters += *leg.Distance.Value
			rt.DurationSeconds += *leg.Duration.Value
		}
		rt.Polyline = r.OverviewPolyline.Points
		routes = append(routes, rt)
	}
	return routes, nil
}

// Distance Matrix limits per request (standard plan).
const (
	maxMatrixDimension = 25
	maxMatrixElements  = 100
)

type matrixResponse struct {
	status
	Rows []struct {
		Elements []struct {
			Status   string `json:"status"`
			Distance value  `json:"distance"`
			Duration value  `json:"duration"`
		} `json:"elements"`
	} `json:"rows"`
}

// Matrix asks the Distance Matrix API. Google answers at most 25 origins, 25
// destinations and 100 elements per request, so bigger matrices are split into
// blocks fetched one after another (a 25×25 matrix takes 7 requests; Google
// bills per element either way). Any failing block fails the whole matrix.
func (c *Client) Matrix(ctx context.Context, req domain.MatrixRequest) ([][]domain.MatrixCell, error) {
	n, m := len(req.Sources), len(req.Destinations)
	if n == 0 || m == 0 {
		return nil, c.up.Fail(domain.KindInvalidQuery, 0, "", errors.New("distancematrix: sources and destinations must not be empty"))
	}
	cells := make([][]domain.MatrixCell, n)
	for i := range cells {
		cells[i] = make([]domain.MatrixCell, m)
	}
	mode := travelMode(req.Profile)
	for d0 := 0; d0 < m; d0 += maxMatrixDimension {
		d1 := min(d0+maxMatrixDimension, m)
		rows := max(1, min(maxMatrixDimension, maxMatrixElements/(d1-d0)))
		for o0 := 0; o0 < n; o0 += rows {
			o1 := min(o0+rows, n)
			if err := c.matrixBlock(ctx, req.Sources[o0:o1], req.Destinations[d0:d1], mode, cells, o0, d0); err != nil {
				return nil, err
			}
		}
	}
	return cells, nil
}

// matrixBlock fetches one block and writes it into cells at (row, col).
func (c *Client) matrixBlock(ctx context.Context, origins, dests []domain.LatLng, mode string, cells [][]domain.MatrixCell, row, col int) error {
	join := func(pts []domain.LatLng) string {
		s := make([]string, len(pts))
		for i, p := range pts {
			s[i] = latLng(p)
		}
		return strings.Join(s, "|")
	}
	q := url.Values{}
	q.Set("origins", join(origins))
	q.Set("destinations", join(dests))
	q.Set("mode", mode)
	var out matrixResponse
	if err := c.call(ctx, "distancematrix", "/maps/api/distancematrix/json", q, &out, false); err != nil {
		return err
	}
	if len(out.Rows) != len(origins) {
		return c.up.Fail(domain.KindMalformed, http.StatusOK, out.Status, fmt.Errorf("distancematrix: %d rows for %d origins", len(out.Rows), len(origins)))
	}
	for i, r := range out.Rows {
		if len(r.Elements) != len(dests) {
			return c.up.Fail(domain.KindMalformed, http.StatusOK, out.Status, fmt.Errorf("distancematrix: row %d has %d elements for %d destinations", i, len(r.Elements), len(dests)))
		}
		for j, e := range r.Elements {
			// NOT_FOUND, ZERO_RESULTS, MAX_ROUTE_LENGTH_EXCEEDED: this pair has no route.
			if e.Status != "OK" {
				continue
			}
			if e.Distance.Value == nil || e.Duration.Value == nil {
				return c.up.Fail(domain.KindMalformed, http.StatusOK, out.Status, fmt.Errorf("distancematrix: element %d,%d lacks distance or duration", i, j))
			}
			cells[row+i][col+j] = domain.MatrixCell{DistanceMeters: *e.Distance.Value, DurationSeconds: *e.Duration.Value, Reachable: true}
		}
	}
	return nil
}

type geocodeResponse struct {
	status
	Results []struct {
		AddressComponents []struct {
			LongName  string   `json:"long_name"`
			ShortName string   `json:"short_name"`
			Types     []string `json:"types"`
		} `json:"address_components"`
		FormattedAddress string `json:"formatted_address"`
		Geometry         struct {
			Location *struct {
				Lat float64 `json:"lat"`
				Lng float64 `json:"lng"`
			} `json:"location"`
		} `json:"geometry"`
		Types []string `json:"types"`
	} `json:"results"`
}

// regionCode turns an ISO 3166-1 code into the ccTLD Google's region bias expects.
func regionCode(country string) string {
	if c := strings.ToLower(country); c != "gb" {
		return c
	}
	return "uk"
}

// Geocode searches free text: biased to Country's region and restricted to it by
// the country component filter.
func (c *Client) Geocode(ctx context.Context, req domain.GeocodeRequest) ([]domain.Place, error) {
	q := url.Values{}
	q.Set("address", req.Query)
	if req.Language != "" {
		q.Set("language", req.Language)
	}
	if req.Country != "" {
		q.Set("region", regionCode(req.Country))
		q.Set("components", "country:"+strings.ToUpper(req.Country))
	}
	places, err := c.geocode(ctx, q)
	if err != nil {
		return nil, err
	}
	// Google has no limit parameter.
	if req.Limit > 0 && len(places) > req.Limit {
		places = places[:req.Limit]
	}
	return places, nil
}

// Reverse lists what Google finds at a point, most specific first.
func (c *Client) Reverse(ctx context.Context, req domain.ReverseRequest) ([]domain.Place, error) {
	q := url.Values{}
	q.Set("latlng", latLng(req.Point))
	if req.Language != "" {
		q.Set("language", req.Language)
	}
	return c.geocode(ctx, q)
}

func (c *Client) geocode(ctx context.Context, q url.Values) ([]domain.Place, error) {
	var out geocodeResponse
	if err := c.call(ctx, "geocode", "/maps/api/geocode/json", q, &out, true); err != nil {
		return nil, err
	}
	if len(out.Results) == 0 {
		return nil, c.up.Fail(domain.KindZeroResults, http.StatusOK, out.Status, errors.New("geocode: nothing found"))
	}
	places := make([]domain.Place, 0, len(out.Results))
	for i, r := range out.Results {
		if r.Geometry.Location == nil {
			return nil, c.up.Fail(domain.KindMalformed, http.StatusOK, out.Status, fmt.Errorf("geocode: result %d lacks a location", i))
		}
		p := domain.Place{
			Address: r.FormattedAddress,
			Point:   domain.LatLng{Lat: r.Geometry.Location.Lat, Lon: r.Geometry.Location.Lng},
		}
		// The first component is the most specific: the place's own name.
		if len(r.AddressComponents) > 0 {
			p.Name = r.AddressComponents[0].LongName
		} else {
			p.Name, _, _ = strings.Cut(r.FormattedAddress, ",")
		}
		for _, ac := range r.AddressComponents {
			for _, t := range ac.Types {
				if t == "country" {
					p.Country = strings.ToUpper(ac.ShortName)
				}
			}
		}
		if len(r.Types) > 0 {
			p.Kind = r.Types[0]
		}
		places = append(places, p)
	}
	return places, nil
}

// call GETs path with q plus the key and decodes an OK answer into out;
// everything else becomes a *domain.ProviderError without the key in it.
func (c *Client) call(ctx context.Context, endpoint, path string, q url.Values, out interface{ head() status }, geocoding bool) error {
	q.Set("key", c.up.Secret)
	r, err := c.up.Get(ctx, endpoint, c.base+path+"?"+q.Encode())
	if err != nil {
		return err
	}
	if r.Status == http.StatusTooManyRequests || r.Status >= 500 {
		return c.up.StatusError(endpoint, r)
	}
	if err := json.Unmarshal(r.Body, out); err != nil {
		if r.Status >= 400 {
			return c.up.StatusError(endpoint, r)
		}
		return c.up.Fail(domain.KindMalformed, r.Status, "", fmt.Errorf("%s: decode: %s", endpoint, c.up.Mask(err.Error())))
	}
	st := out.head()
	switch {
	case st.Status == "OK" && r.Status < 300:
		return nil
	case st.Status == "" && r.Status >= 400:
		return c.up.StatusError(endpoint, r)
	case st.Status == "":
		return c.up.Fail(domain.KindMalformed, r.Status, "", fmt.Errorf("%s: answer has no status", endpoint))
	}
	return c.statusError(endpoint, r, st, geocoding)
}

// statusError maps Google's top-level status codes.
func (c *Client) statusError(endpoint string, r upstream.Response, st status, geocoding bool) *domain.ProviderError {
	msg := st.Status
	if st.ErrorMessage != "" {
		msg = c.up.Mask(st.ErrorMessage)
	}
	err := fmt.Errorf("%s: %s", endpoint, msg)
	kind := domain.KindUnavailable
	switch st.Status {
	case "ZERO_RESULTS", "NOT_FOUND":
		if geocoding {
			kind = domain.KindZeroResults
		} else {
			kind, err = domain.KindNoRoute, fmt.Errorf("%s: %w: %s", endpoint, domain.ErrNoRoute, msg)
		}
	case "OVER_QUERY_LIMIT", "OVER_DAILY_LIMIT":
		pe := c.up.Fail(domain.KindRateLimited, r.Status, st.Status, err)
		pe.RetryAfter = upstream.ParseRetryAfter(r.Header.Get("Retry-After"), time.Now())
		return pe
	case "REQUEST_DENIED":
		kind = domain.KindDenied
	case "INVALID_REQUEST", "MAX_WAYPOINTS_EXCEEDED", "MAX_ROUTE_LENGTH_EXCEEDED",
		"MAX_DIMENSIONS_EXCEEDED", "MAX_ELEMENTS_EXCEEDED":
		kind = domain.KindInvalidQuery
	case "UNKNOWN_ERROR":
		kind = domain.KindUnavailable
	}
	return c.up.Fail(kind, r.Status, st.Status, err)
}
