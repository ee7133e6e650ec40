package ports

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mobilitycorp/platform/pkg/httpx/problem"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/domain"
)

// The wire types below are the JSON of api/openapi.yaml. They are separate from the
// domain types so that the contract changes only on purpose: required members are
// pointers (a missing lat must not read as 0), and answers never carry null arrays.

// defaultGeocodeLimit is the documented default of GeocodeRequest.limit.
const defaultGeocodeLimit = 5

// maxFieldErrors bounds a 422's errors list: a 625-point matrix of garbage would
// otherwise produce a problem larger than the request.
const maxFieldErrors = 50

var (
	languagePattern = regexp.MustCompile(`^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$`)
	countryPattern  = regexp.MustCompile(`^[A-Za-z]{2}$`)
)

const maxLanguageLen = 35

type pointJSON struct {
	Lat *float64 `json:"lat"`
	Lon *float64 `json:"lon"`
}

type geocodeRequestJSON struct {
	Query    *string `json:"query"`
	Language string  `json:"language"`
	Country  string  `json:"country"`
	Limit    *int    `json:"limit"`
}

type reverseRequestJSON struct {
	Point    *pointJSON `json:"point"`
	Language string     `json:"language"`
}

type routeRequestJSON struct {
	From         *pointJSON  `json:"from"`
	To           *pointJSON  `json:"to"`
	Waypoints    []pointJSON `json:"waypoints"`
	Profile      string      `json:"profile"`
	Alternatives bool        `json:"alternatives"`
	Language     string      `json:"language"`
}

type matrixRequestJSON struct {
	Sources      []pointJSON `json:"sources"`
	Destinations []pointJSON `json:"destinations"`
	Profile      string      `json:"profile"`
}

type etaRequestJSON struct {
	Origin       *pointJSON  `json:"origin"`
	Destinations []pointJSON `json:"destinations"`
	Profile      string      `json:"profile"`
}

// etaRequest carries the arguments of MapsService.ETA.
type etaRequest struct {
	Origin       domain.LatLng
	Destinations []domain.LatLng
	Profile      domain.Profile
}

// fieldErrors collects every invalid member of a request, so that a client fixes
// them in one round trip rather than one per request.
type fieldErrors []problem.FieldError

func (f *fieldErrors) add(pointer, format string, args ...any) {
	if len(*f) < maxFieldErrors {
		*f = append(*f, problem.FieldError{Pointer: pointer, Detail: fmt.Sprintf(format, args...)})
	}
}

func (f *fieldErrors) point(pointer string, p *pointJSON) domain.LatLng {
	if p == nil {
		f.add(pointer, "is required")
		return domain.LatLng{}
	}
	var out domain.LatLng
	switch {
	case p.Lat == nil:
		f.add(pointer+"/lat", "is required")
	case *p.Lat < -90 || *p.Lat > 90:
		f.add(pointer+"/lat", "must be between -90 and 90")
	default:
		out.Lat = *p.Lat
	}
	switch {
	case p.Lon == nil:
		f.add(pointer+"/lon", "is required")
	case *p.Lon < -180 || *p.Lon > 180:
		f.add(pointer+"/lon", "must be between -180 and 180")
	default:
		out.Lon = *p.Lon
	}
	return out
}

func (f *fieldErrors) points(pointer string, ps []pointJSON, minItems, maxItems int) []domain.LatLng {
	switch {
	case len(ps) < minItems && ps == nil:
		f.add(pointer, "is required")
	case len(ps) < minItems:
		f.add(pointer, "must have at least %d item(s)", minItems)
	case len(ps) > maxItems:
		f.add(pointer, "must have at most %d items", maxItems)
	}
	out := make([]domain.LatLng, len(ps))
	for i := range ps {
		out[i] = f.point(pointer+"/"+strconv.Itoa(i), &ps[i])
	}
	return out
}

func (f *fieldErrors) profile(pointer, s string) domain.Profile {
	p, err := domain.ParseProfile(s)
	if err != nil {
		f.add(pointer, "must be one of foot, bike, scooter, car")
	}
	return p
}

func (f *fieldErrors) language(pointer, s string) string {
	if s != "" && (len(s) > maxLanguageLen || !languagePattern.MatchString(s)) {
		f.add(pointer, "must be a BCP 47 language tag such as de or en-GB")
	}
	return s
}

func (f *fieldErrors) problem() error {
	if len(*f) == 0 {
		return nil
	}
	detail := "the request has 1 invalid member"
	if len(*f) > 1 {
		detail = fmt.Sprintf("the request has %d invalid members", len(*f))
	}
	return problem.Validation(detail, *f...)
}

func (in geocodeRequestJSON) domainRequest() (domain.GeocodeRequest, error) {
	var f fieldErrors
	req := domain.GeocodeRequest{
		Language: f.language("/language", in.Language),
		Country:  strings.ToUpper(in.Country),
		Limit:    defaultGeocodeLimit,
	}
	if in.Query == nil {
		f.add("/query", "is required")
	} else {
		// Surrounding blanks are typing noise; they must not make "a " a valid query.
		req.Query = strings.TrimSpace(*in.Query)
		if n := utf8.RuneCountInString(req.Query); n < 2 || n > 256 {
			f.add("/query", "must be 2 to 256 characters")
		}
	}
	if in.Country != "" && !countryPattern.MatchString(in.Country) {
		f.add("/country", "must be an ISO 3166-1 alpha-2 code such as DE")
	}
	if in.Limit != nil {
		req.Limit = *in.Limit
		if req.Limit < 1 || req.Limit > domain.MaxGeocodeLimit {
			f.add("/limit", "must be 1 to %d", domain.MaxGeocodeLimit)
		}
	}
	return req, f.problem()
}

func (in reverseRequestJSON) domainRequest() (domain.ReverseRequest, error) {
	var f fieldErrors
	req := domain.ReverseRequest{
		Point:    f.point("/point", in.Point),
		Language: f.language("/language", in.Language),
	}
	return req, f.problem()
}

func (in routeRequestJSON) domainRequest() (domain.RouteRequest, error) {
	var f fieldErrors
	req := domain.RouteRequest{
		From:         f.point("/from", in.From),
		To:           f.point("/to", in.To),
		Waypoints:    f.points("/waypoints", in.Waypoints, 0, domain.MaxWaypoints),
		Profile:      f.profile("/profile", in.Profile),
		Alternatives: in.Alternatives,
		Language:     f.language("/language", in.Language),
	}
	if len(req.Waypoints) == 0 {
		req.Waypoints = nil // the domain's "no waypoints"
	}
	return req, f.problem()
}

func (in matrixRequestJSON) domainRequest() (domain.MatrixRequest, error) {
	var f fieldErrors
	req := domain.MatrixRequest{
		Sources:      f.points("/sources", in.Sources, 1, domain.MaxMatrixCells),
		Destinations: f.points("/destinations", in.Destinations, 1, domain.MaxMatrixCells),
		Profile:      f.profile("/profile", in.Profile),
	}
	// The schema bounds each list; only code can bound their product.
	if n := len(in.Sources) * len(in.Destinations); n > domain.MaxMatrixCells {
		f.add("/destinations", "sources × destinations is %d cells, at most %d are allowed", n, domain.MaxMatrixCells)
	}
	return req, f.problem()
}

func (in etaRequestJSON) domainRequest() (etaRequest, error) {
	var f fieldErrors
	req := etaRequest{
		Origin:       f.point("/origin", in.Origin),
		Destinations: f.points("/destinations", in.Destinations, 1, domain.MaxMatrixCells),
		Profile:      f.profile("/profile", in.Profile),
	}
	return req, f.problem()
}

type latLngJSON struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

type placeJSON struct {
	Name    string     `json:"name"`
	Address string     `json:"address"`
	Point   latLngJSON `json:"point"`
	Country string     `json:"country,omitempty"`
	Kind    string     `json:"kind,omitempty"`
}

type placesResponseJSON struct {
	Places []placeJSON `json:"places"`
	Source string      `json:"source"`
}

type routeJSON struct {
	DistanceMeters  float64 `json:"distance_meters"`
	DurationSeconds float64 `json:"duration_seconds"`
	Polyline        string  `json:"polyline"`
}

type routeResponseJSON struct {
	Routes []routeJSON `json:"routes"`
	Source string      `json:"source"`
}

type cellJSON struct {
	DistanceMeters  float64 `json:"distance_meters"`
	DurationSeconds float64 `json:"duration_seconds"`
	Reachable       bool    `json:"reachable"`
	Source          string  `json:"source"`
}

type matrixResponseJSON struct {
	Cells [][]cellJSON `json:"cells"`
}

type etaResponseJSON struct {
	ETAs []cellJSON `json:"etas"`
}

func placesResponse(res domain.GeocodeResult) placesResponseJSON {
	out := placesResponseJSON{Places: make([]placeJSON, len(res.Places)), Source: res.Source}
	for i, p := range res.Places {
		out.Places[i] = placeJSON{
			Name:    p.Name,
			Address: p.Address,
			Point:   latLngJSON(p.Point),
			Country: p.Country,
			Kind:    p.Kind,
		}
	}
	return out
}

func routeResponse(res domain.RouteResult) routeResponseJSON {
	out := routeResponseJSON{Routes: make([]routeJSON, len(res.Routes)), Source: res.Source}
	for i, r := range res.Routes {
		out.Routes[i] = routeJSON(r)
	}
	return out
}

func cells(in []domain.MatrixCell) []cellJSON {
	out := make([]cellJSON, len(in))
	for i, c := range in {
		out[i] = cellJSON(c)
	}
	return out
}

func matrixResponse(res domain.MatrixResult) matrixResponseJSON {
	out := matrixResponseJSON{Cells: make([][]cellJSON, len(res.Cells))}
	for i, row := range res.Cells {
		out.Cells[i] = cells(row)
	}
	return out
}
