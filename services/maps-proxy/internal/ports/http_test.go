package ports_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/mobilitycorp/platform/pkg/auth"
	"github.com/mobilitycorp/platform/pkg/config"
	"github.com/mobilitycorp/platform/pkg/httpx/problem"
	"github.com/mobilitycorp/platform/pkg/redisx/redistest"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/domain"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/ports"
)

const (
	testIssuer   = "mobilitycorp"
	testAudience = "mobility-api"
)

var testSecret = config.Secret(strings.Repeat("s3cr3t-", 6))

// fakeMaps is a MapsService that answers from its input and records what it was asked.
type fakeMaps struct {
	err      error // returned by every method when set
	noRoutes bool  // Route answers with an empty list
	noPlaces bool  // Geocode and Reverse answer with a nil list

	route   domain.RouteRequest
	matrix  domain.MatrixRequest
	geocode domain.GeocodeRequest
	reverse domain.ReverseRequest
	eta     struct {
		origin  domain.LatLng
		dests   []domain.LatLng
		profile domain.Profile
	}
}

func (f *fakeMaps) Route(_ context.Context, req domain.RouteRequest) (domain.RouteResult, error) {
	f.route = req
	if f.err != nil {
		return domain.RouteResult{}, f.err
	}
	if f.noRoutes {
		return domain.RouteResult{Source: "osrm"}, nil
	}
	return domain.RouteResult{
		Routes: []domain.Route{{DistanceMeters: 3120.5, DurationSeconds: 640, Polyline: domain.EncodePolyline(req.Points())}},
		Source: "osrm",
	}, nil
}

func (f *fakeMaps) Matrix(_ context.Context, req domain.MatrixRequest) (domain.MatrixResult, error) {
	f.matrix = req
	if f.err != nil {
		return domain.MatrixResult{}, f.err
	}
	out := domain.MatrixResult{Cells: make([][]domain.MatrixCell, len(req.Sources))}
	for i := range req.Sources {
		out.Cells[i] = make([]domain.MatrixCell, len(req.Destinations))
		for j := range req.Destinations {
			out.Cells[i][j] = domain.MatrixCell{DistanceMeters: float64(100 * (i + j + 1)), DurationSeconds: 60, Reachable: true, Source: "osrm"}
		}
	}
	out.Cells[0][0] = domain.MatrixCell{Reachable: false, Source: "osrm"}
	return out, nil
}

func (f *fakeMaps) ETA(_ context.Context, origin domain.LatLng, dests []domain.LatLng, p domain.Profile) ([]domain.MatrixCell, error) {
	f.eta.origin, f.eta.dests, f.eta.profile = origin, dests, p
	if f.err != nil {
		return nil, f.err
	}
	out := make([]domain.MatrixCell, len(dests))
	for i := range dests {
		out[i] = domain.NewEstimator().Cell(origin, dests[i], p)
	}
	return out, nil
}

func (f *fakeMaps) Geocode(_ context.Context, req domain.GeocodeRequest) (domain.GeocodeResult, error) {
	f.geocode = req
	return f.places()
}

func (f *fakeMaps) Reverse(_ context.Context, req domain.ReverseRequest) (domain.GeocodeResult, error) {
	f.reverse = req
	return f.places()
}

func (f *fakeMaps) places() (domain.GeocodeResult, error) {
	if f.err != nil {
		return domain.GeocodeResult{}, f.err
	}
	if f.noPlaces {
		return domain.GeocodeResult{Source: "nominatim"}, nil
	}
	return domain.GeocodeResult{Places: []domain.Place{
		{Name: "Alexanderplatz", Address: "Alexanderplatz, 10178 Berlin", Point: domain.LatLng{Lat: 52.5219, Lon: 13.4132}, Country: "DE", Kind: "square"},
		{Name: "Bay Alex North", Point: domain.LatLng{Lat: 52.5231, Lon: 13.4127}}, // no address, country or kind
	}, Source: "gazetteer"}, nil
}

// fixture is a handler wired as in production: the real verifier, the role guard and
// the Redis rate limiter, in front of a fake service.
type fixture struct {
	contract *contract
	signer   *auth.Signer
	verifier *auth.Verifier
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	v, err := auth.NewVerifier(context.Background(), auth.Config{
		HS256Secret: testSecret, Issuer: testIssuer, Audience: testAudience, Leeway: time.Second,
	})
	if err != nil {
		t.Fatalf("verifier: %v", err)
	}
	return &fixture{
		contract: newContract(t),
		signer:   auth.NewHS256Signer(testSecret, testIssuer, testAudience),
		verifier: v,
	}
}

func (fx *fixture) handler(t *testing.T, svc ports.MapsService, limit ports.RateLimitOptions) http.Handler {
	t.Helper()
	rdb, keys := redistest.New(t)
	limit.Keys = keys
	rl, err := ports.NewRateLimiter(rdb, limit)
	if err != nil {
		t.Fatalf("rate limiter: %v", err)
	}
	h, err := ports.NewHandler(svc, ports.HandlerOptions{
		Authenticate: fx.verifier.Authenticate,
		RateLimit:    rl.Middleware,
		MaxBodyBytes: 4 << 10, // small, so a 413 is cheap to provoke
	})
	if err != nil {
		t.Fatalf("handler: %v", err)
	}
	return h
}

func (fx *fixture) token(t *testing.T, subject string, roles ...auth.Role) string {
	t.Helper()
	tok, err := fx.signer.Mint(subject, roles, time.Minute)
	if err != nil {
		t.Fatalf("mint: %v", err)
	}
	return tok
}

func headers(token, contentType string) http.Header {
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	return h
}

func decodeProblem(t *testing.T, body []byte) problem.Problem {
	t.Helper()
	var p problem.Problem
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("problem body %q: %v", body, err)
	}
	return p
}

func pointers(p problem.Problem) []string {
	out := make([]string, 0, len(p.Errors))
	for _, e := range p.Errors {
		out = append(out, e.Pointer)
	}
	slices.Sort(out)
	return out
}

func pointsJSON(n int) string {
	pts := make([]string, n)
	for i := range pts {
		pts[i] = fmt.Sprintf(`{"lat":52.5%d,"lon":13.4}`, i%10)
	}
	return "[" + strings.Join(pts, ",") + "]"
}

const (
	hbf  = `{"lat":52.5251,"lon":13.3694}`
	alex = `{"lat":52.5219,"lon":13.4132}`
)

func TestHandlerOperations(t *testing.T) {
	fx := newFixture(t)
	service := fx.token(t, "svc-booking", auth.RoleService)
	staff := fx.token(t, "staff-anna", auth.RoleStaff)
	admin := fx.token(t, "admin-bo", auth.RoleAdmin)
	customer := fx.token(t, "cust-42", auth.RoleCustomer)

	tests := []struct {
		name        string
		path        string
		token       string
		contentType string // "" means application/json
		body        string
		fake        fakeMaps
		wantStatus  int
		// specValid is the document's verdict on the request: a request the handler
		// rejects must be one the document rejects too, unless only code can tell.
		specValid    bool
		wantType     string   // problem type for error statuses
		wantPointers []string // sorted, for 422 with field errors
		check        func(t *testing.T, body []byte, f *fakeMaps)
	}{
		// --- success, all five operations ---
		{
			name: "geocode with defaults", path: "/v1/geocode", token: service,
			body: `{"query":"  Alexanderplatz "}`, wantStatus: 200, specValid: true,
			check: func(t *testing.T, body []byte, f *fakeMaps) {
				if f.geocode.Query != "Alexanderplatz" || f.geocode.Limit != 5 || f.geocode.Country != "" {
					t.Errorf("service got %+v, want trimmed query and limit 5", f.geocode)
				}
				var res struct {
					Places []map[string]any `json:"places"`
					Source string           `json:"source"`
				}
				mustUnmarshal(t, body, &res)
				if len(res.Places) != 2 || res.Places[0]["name"] != "Alexanderplatz" || res.Source != "gazetteer" {
					t.Errorf("answer %s", body)
				}
				if _, ok := res.Places[1]["kind"]; ok {
					t.Errorf("empty kind should be omitted: %s", body)
				}
			},
		},
		{
			name: "geocode with every member", path: "/v1/geocode", token: staff,
			body: `{"query":"Hbf","language":"de-DE","country":"de","limit":20}`, wantStatus: 200, specValid: true,
			check: func(t *testing.T, _ []byte, f *fakeMaps) {
				want := domain.GeocodeRequest{Query: "Hbf", Language: "de-DE", Country: "DE", Limit: 20}
				if f.geocode != want {
					t.Errorf("service got %+v, want %+v", f.geocode, want)
				}
			},
		},
		{
			name: "geocode finding nothing answers an empty list", path: "/v1/geocode", token: service,
			body: `{"query":"nowhere at all"}`, fake: fakeMaps{noPlaces: true}, wantStatus: 200, specValid: true,
			check: func(t *testing.T, body []byte, _ *fakeMaps) {
				if !strings.Contains(string(body), `"places":[]`) {
					t.Errorf("answer %s, want an empty places array", body)
				}
			},
		},
		{
			name: "reverse", path: "/v1/reverse", token: admin,
			body: `{"point":` + alex + `,"language":"en"}`, wantStatus: 200, specValid: true,
			check: func(t *testing.T, _ []byte, f *fakeMaps) {
				want := domain.ReverseRequest{Point: domain.LatLng{Lat: 52.5219, Lon: 13.4132}, Language: "en"}
				if f.reverse != want {
					t.Errorf("service got %+v, want %+v", f.reverse, want)
				}
			},
		},
		{
			name: "route with every member", path: "/v1/route", token: service,
			body:       `{"from":` + hbf + `,"to":` + alex + `,"waypoints":[{"lat":52.52,"lon":13.39}],"profile":"bike","alternatives":true,"language":"de"}`,
			wantStatus: 200, specValid: true,
			check: func(t *testing.T, body []byte, f *fakeMaps) {
				r := f.route
				if r.Profile != domain.ProfileBike || !r.Alternatives || len(r.Waypoints) != 1 || r.Language != "de" || r.To.Lon != 13.4132 {
					t.Errorf("service got %+v", r)
				}
				var res struct {
					Routes []struct {
						Polyline string `json:"polyline"`
					} `json:"routes"`
				}
				mustUnmarshal(t, body, &res)
				pts, err := domain.DecodePolyline(res.Routes[0].Polyline)
				if err != nil || len(pts) != 3 {
					t.Errorf("polyline %q: %v, %v", res.Routes[0].Polyline, pts, err)
				}
			},
		},
		{
			name: "route defaults to foot", path: "/v1/route", token: service,
			body: `{"from":` + hbf + `,"to":` + alex + `}`, wantStatus: 200, specValid: true,
			check: func(t *testing.T, _ []byte, f *fakeMaps) {
				if f.route.Profile != domain.ProfileFoot || f.route.Waypoints != nil || f.route.Alternatives {
					t.Errorf("service got %+v", f.route)
				}
			},
		},
		{
			name: "matrix", path: "/v1/matrix", token: service,
			body:       `{"sources":[` + hbf + `,` + alex + `],"destinations":` + pointsJSON(3) + `,"profile":"car"}`,
			wantStatus: 200, specValid: true,
			check: func(t *testing.T, body []byte, f *fakeMaps) {
				if f.matrix.Profile != domain.ProfileCar || len(f.matrix.Sources) != 2 || len(f.matrix.Destinations) != 3 {
					t.Errorf("service got %+v", f.matrix)
				}
				var res struct {
					Cells [][]struct {
						Reachable bool `json:"reachable"`
					} `json:"cells"`
				}
				mustUnmarshal(t, body, &res)
				if len(res.Cells) != 2 || len(res.Cells[1]) != 3 || res.Cells[0][0].Reachable || !res.Cells[1][2].Reachable {
					t.Errorf("answer %s", body)
				}
			},
		},
		{
			name: "eta", path: "/v1/eta", token: staff,
			body: `{"origin":` + alex + `,"destinations":` + pointsJSON(4) + `,"profile":"scooter"}`, wantStatus: 200, specValid: true,
			check: func(t *testing.T, body []byte, f *fakeMaps) {
				if f.eta.profile != domain.ProfileScooter || len(f.eta.dests) != 4 || f.eta.origin.Lat != 52.5219 {
					t.Errorf("service got %+v", f.eta)
				}
				var res struct {
					ETAs []struct {
						Source          string  `json:"source"`
						DurationSeconds float64 `json:"duration_seconds"`
					} `json:"etas"`
				}
				mustUnmarshal(t, body, &res)
				if len(res.ETAs) != 4 || res.ETAs[0].Source != domain.SourceEstimate || res.ETAs[0].DurationSeconds <= 0 {
					t.Errorf("answer %s", body)
				}
			},
		},

		// --- authentication and roles ---
		{
			name: "no token", path: "/v1/route", body: `{"from":` + hbf + `,"to":` + alex + `}`,
			wantStatus: 401, wantType: problem.TypePrefix + "unauthorized",
		},
		{
			name: "token not signed by us", path: "/v1/route", token: "eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl",
			body: `{"from":` + hbf + `,"to":` + alex + `}`, wantStatus: 401, specValid: true, wantType: problem.TypePrefix + "unauthorized",
		},
		{
			name: "customer token", path: "/v1/eta", token: customer,
			body: `{"origin":` + alex + `,"destinations":[` + hbf + `]}`, wantStatus: 403, specValid: true, wantType: problem.TypePrefix + "forbidden",
		},

		// --- field validation: 422 with a pointer per invalid member ---
		{
			name: "route latitude out of range", path: "/v1/route", token: service,
			body: `{"from":{"lat":91,"lon":13.4},"to":` + alex + `}`, wantStatus: 422,
			wantType: problem.TypePrefix + "validation", wantPointers: []string{"/from/lat"},
		},
		{
			name: "route every problem at once", path: "/v1/route", token: service,
			body:     `{"from":{"lat":-90.5,"lon":180.1},"waypoints":[` + hbf + `,{"lat":1}],"profile":"plane"}`,
			wantType: problem.TypePrefix + "validation", wantStatus: 422,
			wantPointers: []string{"/from/lat", "/from/lon", "/profile", "/to", "/waypoints/1/lon"},
		},
		{
			name: "route too many waypoints", path: "/v1/route", token: service,
			body:       `{"from":` + hbf + `,"to":` + alex + `,"waypoints":` + pointsJSON(domain.MaxWaypoints+1) + `}`,
			wantStatus: 422, wantType: problem.TypePrefix + "validation", wantPointers: []string{"/waypoints"},
		},
		{
			name: "geocode limit too high", path: "/v1/geocode", token: service,
			body: `{"query":"Alexanderplatz","limit":21}`, wantStatus: 422,
			wantType: problem.TypePrefix + "validation", wantPointers: []string{"/limit"},
		},
		{
			name: "geocode limit zero, short query, bad country and language", path: "/v1/geocode", token: service,
			body: `{"query":"a","limit":0,"country":"DEU","language":"german!"}`, wantStatus: 422,
			wantType: problem.TypePrefix + "validation", wantPointers: []string{"/country", "/language", "/limit", "/query"},
		},
		{
			name: "geocode query of blanks", path: "/v1/geocode", token: service,
			body: `{"query":"    "}`, wantStatus: 422, specValid: true, // only code trims
			wantType: problem.TypePrefix + "validation", wantPointers: []string{"/query"},
		},
		{
			name: "reverse without point", path: "/v1/reverse", token: service,
			body: `{"language":"de"}`, wantStatus: 422,
			wantType: problem.TypePrefix + "validation", wantPointers: []string{"/point"},
		},
		{
			name: "matrix empty sources and bad destination", path: "/v1/matrix", token: service,
			body: `{"sources":[],"destinations":[` + hbf + `,{"lat":52.5,"lon":200}],"profile":"bike"}`, wantStatus: 422,
			wantType: problem.TypePrefix + "validation", wantPointers: []string{"/destinations/1/lon", "/sources"},
		},
		{
			name: "matrix over 625 cells", path: "/v1/matrix", token: service,
			body:       `{"sources":` + pointsJSON(26) + `,"destinations":` + pointsJSON(25) + `}`,
			wantStatus: 422, specValid: true, // the product is beyond what a schema can say
			wantType: problem.TypePrefix + "validation", wantPointers: []string{"/destinations"},
		},
		{
			name: "eta origin without lat and no destinations", path: "/v1/eta", token: service,
			body: `{"origin":{"lon":13.4}}`, wantStatus: 422,
			wantType: problem.TypePrefix + "validation", wantPointers: []string{"/destinations", "/origin/lat"},
		},
		{
			name: "service says invalid input", path: "/v1/route", token: service,
			body: `{"from":` + hbf + `,"to":` + alex + `}`, fake: fakeMaps{err: fmt.Errorf("route: %w: too far apart", domain.ErrInvalidInput)},
			wantStatus: 422, specValid: true, wantType: problem.TypePrefix + "validation", wantPointers: []string{},
		},

		// --- bodies that are not what the operation takes ---
		{
			name: "wrong content type", path: "/v1/geocode", token: service, contentType: "text/plain",
			body: `{"query":"Alexanderplatz"}`, wantStatus: 415, wantType: problem.TypePrefix + "unsupported-media-type",
		},
		{
			name: "malformed JSON", path: "/v1/geocode", token: service,
			body: `{"query":`, wantStatus: 400, wantType: problem.TypePrefix + "bad-request",
		},
		{
			name: "unknown member", path: "/v1/reverse", token: service,
			body: `{"point":{"lat":52.5,"lng":13.4}}`, wantStatus: 400, wantType: problem.TypePrefix + "bad-request",
		},
		{
			name: "member of the wrong type", path: "/v1/route", token: service,
			body: `{"from":{"lat":"52.5","lon":13.4},"to":` + alex + `}`, wantStatus: 400,
			wantType: problem.TypePrefix + "bad-request", wantPointers: []string{"/from/lat"},
		},
		{
			name: "body too large", path: "/v1/matrix", token: service,
			body:       `{"sources":[` + hbf + `],"destinations":` + pointsJSON(200) + `}`,
			wantStatus: 413, specValid: true, wantType: problem.TypePrefix + "payload-too-large",
		},

		// --- answers about the request, and failures ---
		{
			name: "no route", path: "/v1/route", token: service,
			body: `{"from":` + hbf + `,"to":` + alex + `,"profile":"car"}`, fake: fakeMaps{err: fmt.Errorf("osrm: %w", domain.ErrNoRoute)},
			wantStatus: 404, specValid: true, wantType: problem.TypePrefix + "no-route",
		},
		{
			name: "empty route list is no route", path: "/v1/route", token: service,
			body: `{"from":` + hbf + `,"to":` + alex + `}`, fake: fakeMaps{noRoutes: true},
			wantStatus: 404, specValid: true, wantType: problem.TypePrefix + "no-route",
		},
		{
			name: "unexpected error", path: "/v1/matrix", token: service,
			body: `{"sources":[` + hbf + `],"destinations":[` + alex + `]}`, fake: fakeMaps{err: errors.New("db password is hunter2")},
			wantStatus: 500, specValid: true, wantType: problem.TypePrefix + "internal",
			check: func(t *testing.T, body []byte, _ *fakeMaps) {
				if strings.Contains(string(body), "hunter2") {
					t.Errorf("500 leaks the cause: %s", body)
				}
			},
		},
		{
			name: "deadline exceeded", path: "/v1/eta", token: service,
			body: `{"origin":` + alex + `,"destinations":[` + hbf + `]}`, fake: fakeMaps{err: fmt.Errorf("eta: %w", context.DeadlineExceeded)},
			wantStatus: 503, specValid: true, wantType: problem.TypePrefix + "timeout",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := tc.fake
			h := fx.handler(t, &fake, ports.RateLimitOptions{PerMinute: 1000})
			ct := tc.contentType
			if ct == "" {
				ct = "application/json"
			}
			rec, specErr := fx.contract.exchange(t, h, http.MethodPost, tc.path, headers(tc.token, ct), []byte(tc.body))

			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d; body %s", rec.Code, tc.wantStatus, rec.Body)
			}
			if specValid := specErr == nil; specValid != tc.specValid {
				t.Errorf("the spec says the request is valid: %v (%v), want %v", specValid, specErr, tc.specValid)
			}
			if tc.wantStatus >= 400 {
				if ct := rec.Header().Get("Content-Type"); ct != problem.ContentType {
					t.Errorf("Content-Type %q, want %q", ct, problem.ContentType)
				}
				p := decodeProblem(t, rec.Body.Bytes())
				if p.Type != tc.wantType || p.Status != tc.wantStatus || p.Instance != tc.path {
					t.Errorf("problem %+v, want type %s, status %d, instance %s", p, tc.wantType, tc.wantStatus, tc.path)
				}
				if tc.wantPointers != nil && !slices.Equal(pointers(p), tc.wantPointers) {
					t.Errorf("pointers %v, want %v", pointers(p), tc.wantPointers)
				}
			}
			if tc.wantStatus == 401 || tc.wantStatus == 403 {
				if rec.Header().Get("WWW-Authenticate") == "" {
					t.Errorf("no WWW-Authenticate challenge")
				}
			}
			if tc.wantStatus == 200 && rec.Header().Get(ports.HeaderRateLimitRemaining) == "" {
				t.Errorf("no %s header on a limited operation", ports.HeaderRateLimitRemaining)
			}
			if tc.check != nil {
				tc.check(t, rec.Body.Bytes(), &fake)
			}
		})
	}

	// Every operation of the document has been exercised (the 429 and the document
	// itself are in their own tests, which share nothing with this one but the spec).
	for _, id := range fx.contract.operationIDs() {
		if !fx.contract.seen[id] && id != "getOpenAPI" {
			t.Errorf("operation %s is not covered", id)
		}
	}
}

func TestHandlerRateLimited(t *testing.T) {
	fx := newFixture(t)
	h := fx.handler(t, &fakeMaps{}, ports.RateLimitOptions{PerMinute: 2})
	tok := fx.token(t, "svc-hungry", auth.RoleService)
	body := []byte(`{"origin":` + alex + `,"destinations":[` + hbf + `]}`)

	for i, want := range []int{200, 200, 429} {
		rec, specErr := fx.contract.exchange(t, h, http.MethodPost, "/v1/eta", headers(tok, "application/json"), body)
		if specErr != nil {
			t.Fatalf("request %d: the spec rejects a valid request: %v", i, specErr)
		}
		if rec.Code != want {
			t.Fatalf("request %d: status %d, want %d; body %s", i, rec.Code, want, rec.Body)
		}
		if want != 429 {
			continue
		}
		p := decodeProblem(t, rec.Body.Bytes())
		if p.Type != problem.TypePrefix+"rate-limited" {
			t.Errorf("problem type %q", p.Type)
		}
		// 2 per minute: the next request is allowed about 30 s later.
		if ra := rec.Header().Get(ports.HeaderRetryAfter); ra == "" || ra == "0" || len(ra) > 2 {
			t.Errorf("Retry-After %q, want 1..30 seconds", ra)
		}
		if got := rec.Header().Get(ports.HeaderRateLimitRemaining); got != "0" {
			t.Errorf("RateLimit-Remaining %q, want 0", got)
		}
	}
}

func TestOpenAPIDocumentIsServed(t *testing.T) {
	fx := newFixture(t)
	h := fx.handler(t, &fakeMaps{}, ports.RateLimitOptions{})
	// No token: the contract is public.
	rec, specErr := fx.contract.exchange(t, h, http.MethodGet, "/openapi.yaml", http.Header{}, nil)
	if specErr != nil {
		t.Fatalf("the spec rejects its own download: %v", specErr)
	}
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/yaml" {
		t.Fatalf("status %d, Content-Type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	doc, err := openapi3.NewLoader().LoadFromData(rec.Body.Bytes())
	if err != nil {
		t.Fatalf("load served document: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("served document is invalid: %v", err)
	}
	if doc.Paths.Find("/v1/route") == nil {
		t.Fatalf("served document lacks /v1/route")
	}
}

// TestContractCatchesDrift shows the response validation is not vacuous: answers that
// differ from the document in the ways handlers drift are rejected.
func TestContractCatchesDrift(t *testing.T) {
	c := newContract(t)
	req, err := http.NewRequest(http.MethodPost, "/v1/route", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		t.Fatal(err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route}
	jsonCT := http.Header{"Content-Type": {"application/json"}}
	problemJSON := http.Header{"Content-Type": {problem.ContentType}}
	tests := []struct {
		name   string
		status int
		header http.Header
		body   string
	}{
		{"valid answer (control)", 200, jsonCT, `{"routes":[{"distance_meters":1,"duration_seconds":1,"polyline":"_p~iF~ps|U"}],"source":"osrm"}`},
		{"null routes", 200, jsonCT, `{"routes":null,"source":"osrm"}`},
		{"no routes", 200, jsonCT, `{"routes":[],"source":"osrm"}`},
		{"missing source", 200, jsonCT, `{"routes":[{"distance_meters":1,"duration_seconds":1,"polyline":""}]}`},
		{"renamed member", 200, jsonCT, `{"routes":[{"distanceMeters":1,"duration_seconds":1,"polyline":""}],"source":"osrm"}`},
		{"negative duration", 200, jsonCT, `{"routes":[{"distance_meters":1,"duration_seconds":-1,"polyline":""}],"source":"osrm"}`},
		{"problem as plain JSON", 404, jsonCT, `{"type":"about:blank","title":"Not Found","status":404}`},
		{"problem without title", 404, problemJSON, `{"type":"about:blank","status":404}`},
		{"undocumented status", 418, problemJSON, `{"type":"about:blank","title":"teapot","status":418}`},
		{"429 without Retry-After", 429, problemJSON, `{"type":"about:blank","title":"Too Many Requests","status":429}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := c.validateResponse(in, tc.status, tc.header, []byte(tc.body))
			if control := strings.HasPrefix(tc.name, "valid"); control != (err == nil) {
				t.Fatalf("validation error = %v, want an error: %v", err, !control)
			}
		})
	}
}

func TestNewHandlerRejectsMissingWiring(t *testing.T) {
	fx := newFixture(t)
	tests := []struct {
		name string
		svc  ports.MapsService
		opts ports.HandlerOptions
	}{
		{"no service", nil, ports.HandlerOptions{Authenticate: fx.verifier.Authenticate}},
		{"no authentication", &fakeMaps{}, ports.HandlerOptions{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if h, err := ports.NewHandler(tc.svc, tc.opts); err == nil || h != nil {
				t.Fatalf("NewHandler = %v, %v; want an error", h, err)
			}
		})
	}
}

func mustUnmarshal(t *testing.T, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("answer %s: %v", body, err)
	}
}
