package google_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mobilitycorp/platform/pkg/config"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/adapters/google"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/adapters/providerfake"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/app"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/domain"
)

var (
	_ app.RouteProvider  = (*google.Client)(nil)
	_ app.MatrixProvider = (*google.Client)(nil)
	_ app.Geocoder       = (*google.Client)(nil)
)

// apiKey has characters that query-escape differently, so masking must catch both forms.
const apiKey = "AIzaSyTest/key+4711=secret"

var (
	hbf  = domain.LatLng{Lat: 52.5251, Lon: 13.3694}
	alex = domain.LatLng{Lat: 52.5219, Lon: 13.4132}
	ptz  = domain.LatLng{Lat: 52.5096, Lon: 13.3759}
	tor  = domain.LatLng{Lat: 52.5163, Lon: 13.3777}
	tmp  = domain.LatLng{Lat: 52.4755, Lon: 13.4019}
)

func newClient(t *testing.T, name string) (*google.Client, *providerfake.Google) {
	t.Helper()
	fake := providerfake.NewGoogle(t, apiKey)
	return google.New(google.Config{BaseURL: fake.URL(), APIKey: config.Secret(apiKey), Name: name}, &http.Client{}), fake
}

func providerError(t *testing.T, err error) *domain.ProviderError {
	t.Helper()
	var pe *domain.ProviderError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v (%T), want *domain.ProviderError", err, err)
	}
	return pe
}

func wantQuery(t *testing.T, got url.Values, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, got.Get(k), v)
		}
	}
}

func TestRouteMapsTheAnswer(t *testing.T) {
	t.Parallel()
	c, fake := newClient(t, "")
	req := domain.RouteRequest{From: hbf, To: alex, Waypoints: []domain.LatLng{tor, ptz}, Profile: domain.ProfileScooter, Language: "de"}
	routes, err := c.Route(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	want := providerfake.GoogleRoute(req.Points(), "bicycling")
	if len(routes) != 1 || routes[0] != want {
		t.Fatalf("routes = %+v, want [%+v]", routes, want)
	}
	pts, err := domain.DecodePolyline(routes[0].Polyline)
	if err != nil || len(pts) != 4 || pts[2].Key() != ptz.Key() {
		t.Fatalf("geometry %v, %v", pts, err)
	}
	got, _ := fake.LastRequest()
	if got.Path != "/maps/api/directions/json" {
		t.Fatalf("path %q", got.Path)
	}
	// Google wants lat,lng; via: keeps waypoints from splitting the route into legs.
	wantQuery(t, got.Query, map[string]string{
		"origin": "52.5251,13.3694", "destination": "52.5219,13.4132",
		"waypoints": "via:52.5163,13.3777|via:52.5096,13.3759",
		"mode":      "bicycling", "language": "de", "key": apiKey, "alternatives": "",
	})
}

func TestRouteSumsLegs(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"status":"OK","routes":[{"overview_polyline":{"points":"_p~iF~ps|U"},
			"legs":[{"distance":{"text":"1.2 km","value":1200},"duration":{"text":"5 mins","value":300}},
			        {"distance":{"text":"0.8 km","value":800},"duration":{"text":"2 mins","value":120}}]}]}`)
	}))
	t.Cleanup(srv.Close)
	c := google.New(google.Config{BaseURL: srv.URL, APIKey: apiKey}, &http.Client{})
	routes, err := c.Route(context.Background(), domain.RouteRequest{From: hbf, To: alex})
	if err != nil {
		t.Fatal(err)
	}
	if want := (domain.Route{DistanceMeters: 2000, DurationSeconds: 420, Polyline: "_p~iF~ps|U"}); len(routes) != 1 || routes[0] != want {
		t.Fatalf("routes = %+v, want [%+v]", routes, want)
	}
}

func TestRouteAlternatives(t *testing.T) {
	t.Parallel()
	c, fake := newClient(t, "")
	routes, err := c.Route(context.Background(), domain.RouteRequest{From: hbf, To: alex, Profile: domain.ProfileCar, Alternatives: true})
	if err != nil {
		t.Fatal(err)
	}
	wantQuery(t, fake.LastQuery(), map[string]string{"alternatives": "true", "mode": "driving"})
	if len(routes) != 2 || routes[0] != providerfake.GoogleRoute([]domain.LatLng{hbf, alex}, "driving") {
		t.Fatalf("routes = %+v", routes)
	}
	if routes[1].DurationSeconds <= routes[0].DurationSeconds || routes[1].Polyline == routes[0].Polyline {
		t.Fatalf("alternative %+v does not differ from %+v", routes[1], routes[0])
	}
}

func TestTravelModes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		profile domain.Profile
		want    string
	}{
		{domain.ProfileFoot, "walking"},
		{domain.ProfileBike, "bicycling"},
		{domain.ProfileScooter, "bicycling"},
		{domain.ProfileCar, "driving"},
	}
	for _, tc := range tests {
		t.Run(string(tc.profile), func(t *testing.T) {
			t.Parallel()
			c, fake := newClient(t, "")
			routes, err := c.Route(context.Background(), domain.RouteRequest{From: hbf, To: alex, Profile: tc.profile})
			if err != nil {
				t.Fatal(err)
			}
			if fake.LastQuery().Get("mode") != tc.want || routes[0] != providerfake.GoogleRoute([]domain.LatLng{hbf, alex}, tc.want) {
				t.Fatalf("mode %q, route %+v", fake.LastQuery().Get("mode"), routes[0])
			}
			if _, err := c.Matrix(context.Background(), domain.MatrixRequest{Sources: []domain.LatLng{hbf}, Destinations: []domain.LatLng{alex}, Profile: tc.profile}); err != nil {
				t.Fatal(err)
			}
			if fake.LastQuery().Get("mode") != tc.want {
				t.Fatalf("matrix mode %q", fake.LastQuery().Get("mode"))
			}
		})
	}
}

func TestMatrixMapsElements(t *testing.T) {
	t.Parallel()
	c, fake := newClient(t, "")
	fake.SetUnreachable(tmp)
	req := domain.MatrixRequest{Sources: []domain.LatLng{hbf, alex}, Destinations: []domain.LatLng{ptz, tmp, alex}, Profile: domain.ProfileFoot}
	cells, err := c.Matrix(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	for i, src := range req.Sources {
		for j, dst := range req.Destinations {
			want := providerfake.GoogleCell(src, dst, "walking")
			if dst == tmp {
				want = domain.MatrixCell{} // ZERO_RESULTS element
			}
			if cells[i][j] != want {
				t.Errorf("cell[%d][%d] = %+v, want %+v", i, j, cells[i][j], want)
			}
		}
	}
	got, _ := fake.LastRequest()
	if got.Path != "/maps/api/distancematrix/json" {
		t.Fatalf("path %q", got.Path)
	}
	wantQuery(t, got.Query, map[string]string{
		"origins":      "52.5251,13.3694|52.5219,13.4132",
		"destinations": "52.5096,13.3759|52.4755,13.4019|52.5219,13.4132",
		"mode":         "walking", "key": apiKey,
	})
}

func TestMatrixWithoutRoutesIsAnAnswer(t *testing.T) {
	t.Parallel()
	c, fake := newClient(t, "")
	fake.SetMode(providerfake.ModeNoRoute()) // every element ZERO_RESULTS
	cells, err := c.Matrix(context.Background(), domain.MatrixRequest{Sources: []domain.LatLng{hbf}, Destinations: []domain.LatLng{alex, ptz}})
	if err != nil {
		t.Fatal(err)
	}
	if len(cells) != 1 || len(cells[0]) != 2 || cells[0][0].Reachable || cells[0][1].Reachable {
		t.Fatalf("cells = %+v, want 1×2 unreachable", cells)
	}
}

// Google answers at most 25×25 and 100 elements per request; the fake enforces it.
func TestMatrixIsSplitIntoGoogleSizedBlocks(t *testing.T) {
	t.Parallel()
	grid := func(n int, lat0 float64) []domain.LatLng {
		pts := make([]domain.LatLng, n)
		for i := range pts {
			pts[i] = domain.LatLng{Lat: lat0 + float64(i)*0.003, Lon: 13.30 + float64(i%7)*0.011}
		}
		return pts
	}
	tests := []struct {
		n, m, calls int
	}{
		{1, 1, 1},
		{4, 25, 1},
		{12, 10, 2},
		{25, 25, 7},
		{2, 30, 2},
		{60, 10, 6},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%dx%d", tc.n, tc.m), func(t *testing.T) {
			t.Parallel()
			c, fake := newClient(t, "")
			req := domain.MatrixRequest{Sources: grid(tc.n, 52.45), Destinations: grid(tc.m, 52.50), Profile: domain.ProfileBike}
			cells, err := c.Matrix(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if fake.Calls("distancematrix") != tc.calls {
				t.Fatalf("%d requests, want %d", fake.Calls("distancematrix"), tc.calls)
			}
			for i := range req.Sources {
				for j := range req.Destinations {
					if want := providerfake.GoogleCell(req.Sources[i], req.Destinations[j], "bicycling"); cells[i][j] != want {
						t.Fatalf("cell[%d][%d] = %+v, want %+v", i, j, cells[i][j], want)
					}
				}
			}
		})
	}
}

func TestGeocode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		req   domain.GeocodeRequest
		want  []domain.Place
		query map[string]string
	}{
		{
			name: "english by default",
			req:  domain.GeocodeRequest{Query: "alexanderplatz", Limit: 5},
			want: []domain.Place{{Name: "Alexanderplatz", Address: "Alexanderplatz, 10178 Berlin, Germany",
				Point: domain.LatLng{Lat: 52.5219184, Lon: 13.4132147}, Country: "DE", Kind: "route"}},
			query: map[string]string{"address": "alexanderplatz", "language": "", "region": "", "components": "", "key": apiKey},
		},
		{
			name: "german with country restriction",
			req:  domain.GeocodeRequest{Query: "Brandenburger Tor", Language: "de", Country: "DE", Limit: 5},
			want: []domain.Place{{Name: "Brandenburger Tor", Address: "Brandenburger Tor, Pariser Platz, 10117 Berlin, Deutschland",
				Point: domain.LatLng{Lat: 52.5162746, Lon: 13.3777041}, Country: "DE", Kind: "tourist_attraction"}},
			query: map[string]string{"address": "Brandenburger Tor", "language": "de", "region": "de", "components": "country:DE"},
		},
		{
			name: "limit applied client-side",
			req:  domain.GeocodeRequest{Query: "Berlin", Limit: 1},
			want: []domain.Place{{Name: "Berlin Central Station", Address: "Berlin Central Station, Europaplatz, 10557 Berlin, Germany",
				Point: domain.LatLng{Lat: 52.5250839, Lon: 13.369402}, Country: "DE", Kind: "train_station"}},
			query: map[string]string{"address": "Berlin"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, fake := newClient(t, "")
			got, err := c.Geocode(context.Background(), tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("place %d = %+v\nwant %+v", i, got[i], tc.want[i])
				}
			}
			req, _ := fake.LastRequest()
			if req.Path != "/maps/api/geocode/json" {
				t.Fatalf("path %q", req.Path)
			}
			wantQuery(t, req.Query, tc.query)
		})
	}
}

func TestReverse(t *testing.T) {
	t.Parallel()
	c, fake := newClient(t, "")
	got, err := c.Reverse(context.Background(), domain.ReverseRequest{Point: domain.LatLng{Lat: 52.52505, Lon: 13.3694}, Language: "de"})
	if err != nil {
		t.Fatal(err)
	}
	want := []domain.Place{
		{Name: "Berlin Hauptbahnhof", Address: "Berlin Hauptbahnhof, Europaplatz, 10557 Berlin, Deutschland",
			Point: domain.LatLng{Lat: 52.5250839, Lon: 13.369402}, Country: "DE", Kind: "train_station"},
		{Name: "Berlin", Address: "Berlin, Deutschland", Point: domain.LatLng{Lat: 52.5200066, Lon: 13.404954}, Country: "DE", Kind: "locality"},
	}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	wantQuery(t, fake.LastQuery(), map[string]string{"latlng": "52.52505,13.3694", "language": "de", "key": apiKey, "address": ""})
	if fake.Calls("geocode") != 1 {
		t.Fatalf("geocode calls %d", fake.Calls("geocode"))
	}
}

func TestStatusMapping(t *testing.T) {
	t.Parallel()
	httpDate := func() string { return time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat) }
	status := func(s string) func() providerfake.Mode {
		return func() providerfake.Mode { return providerfake.ModeCode(s, "fake says "+s) }
	}
	type want struct {
		kind      domain.ErrorKind
		retryable bool
	}
	noRoute, zero := want{domain.KindNoRoute, false}, want{domain.KindZeroResults, false}
	tests := []struct {
		name               string
		mode               func() providerfake.Mode
		route, geocode     want // ZERO_RESULTS means different things to routes and geocoding
		status             int
		code               string
		minRetry, maxRetry time.Duration
	}{
		{"ZERO_RESULTS", providerfake.ModeNoRoute, noRoute, zero, 200, "ZERO_RESULTS", 0, 0},
		{"NOT_FOUND", status("NOT_FOUND"), noRoute, zero, 200, "NOT_FOUND", 0, 0},
		{"OVER_QUERY_LIMIT", func() providerfake.Mode { return providerfake.ModeRateLimited("") }, want{domain.KindRateLimited, true}, want{domain.KindRateLimited, true}, 200, "OVER_QUERY_LIMIT", 0, 0},
		{"OVER_QUERY_LIMIT with Retry-After", func() providerfake.Mode { return providerfake.ModeRateLimited("12") }, want{domain.KindRateLimited, true}, want{domain.KindRateLimited, true}, 200, "OVER_QUERY_LIMIT", 12 * time.Second, 12 * time.Second},
		{"OVER_DAILY_LIMIT", status("OVER_DAILY_LIMIT"), want{domain.KindRateLimited, true}, want{domain.KindRateLimited, true}, 200, "OVER_DAILY_LIMIT", 0, 0},
		{"REQUEST_DENIED", status("REQUEST_DENIED"), want{domain.KindDenied, true}, want{domain.KindDenied, true}, 200, "REQUEST_DENIED", 0, 0},
		{"INVALID_REQUEST", status("INVALID_REQUEST"), want{domain.KindInvalidQuery, false}, want{domain.KindInvalidQuery, false}, 200, "INVALID_REQUEST", 0, 0},
		{"MAX_WAYPOINTS_EXCEEDED", status("MAX_WAYPOINTS_EXCEEDED"), want{domain.KindInvalidQuery, false}, want{domain.KindInvalidQuery, false}, 200, "MAX_WAYPOINTS_EXCEEDED", 0, 0},
		{"MAX_ROUTE_LENGTH_EXCEEDED", status("MAX_ROUTE_LENGTH_EXCEEDED"), want{domain.KindInvalidQuery, false}, want{domain.KindInvalidQuery, false}, 200, "MAX_ROUTE_LENGTH_EXCEEDED", 0, 0},
		{"MAX_DIMENSIONS_EXCEEDED", status("MAX_DIMENSIONS_EXCEEDED"), want{domain.KindInvalidQuery, false}, want{domain.KindInvalidQuery, false}, 200, "MAX_DIMENSIONS_EXCEEDED", 0, 0},
		{"MAX_ELEMENTS_EXCEEDED", status("MAX_ELEMENTS_EXCEEDED"), want{domain.KindInvalidQuery, false}, want{domain.KindInvalidQuery, false}, 200, "MAX_ELEMENTS_EXCEEDED", 0, 0},
		{"UNKNOWN_ERROR", status("UNKNOWN_ERROR"), want{domain.KindUnavailable, true}, want{domain.KindUnavailable, true}, 200, "UNKNOWN_ERROR", 0, 0},
		{"HTTP 429 seconds", func() providerfake.Mode { return providerfake.ModeHTTPError(429, "30") }, want{domain.KindRateLimited, true}, want{domain.KindRateLimited, true}, 429, "", 30 * time.Second, 30 * time.Second},
		{"HTTP 429 http-date", func() providerfake.Mode { return providerfake.ModeHTTPError(429, httpDate()) }, want{domain.KindRateLimited, true}, want{domain.KindRateLimited, true}, 429, "", 60 * time.Second, 90 * time.Second},
		{"HTTP 500", providerfake.ModeServerError, want{domain.KindUnavailable, true}, want{domain.KindUnavailable, true}, 500, "", 0, 0},
		{"HTTP 403 without body status", func() providerfake.Mode { return providerfake.ModeHTTPError(403, "") }, want{domain.KindDenied, true}, want{domain.KindDenied, true}, 403, "", 0, 0},
		{"malformed", providerfake.ModeMalformed, want{domain.KindMalformed, true}, want{domain.KindMalformed, true}, 200, "", 0, 0},
	}
	ops := []struct {
		name      string
		geocoding bool
		call      func(*google.Client) error
	}{
		{"directions", false, func(c *google.Client) error {
			_, err := c.Route(context.Background(), domain.RouteRequest{From: hbf, To: alex})
			return err
		}},
		{"geocode", true, func(c *google.Client) error {
			_, err := c.Geocode(context.Background(), domain.GeocodeRequest{Query: "Alexanderplatz", Limit: 1})
			return err
		}},
		{"reverse", true, func(c *google.Client) error {
			_, err := c.Reverse(context.Background(), domain.ReverseRequest{Point: alex})
			return err
		}},
		{"distancematrix", false, func(c *google.Client) error {
			_, err := c.Matrix(context.Background(), domain.MatrixRequest{Sources: []domain.LatLng{hbf}, Destinations: []domain.LatLng{alex}})
			return err
		}},
	}
	for _, tc := range tests {
		for _, op := range ops {
			if op.name == "distancematrix" && tc.name == "ZERO_RESULTS" {
				continue // element-level there: see TestMatrixWithoutRoutesIsAnAnswer
			}
			t.Run(tc.name+"/"+op.name, func(t *testing.T) {
				t.Parallel()
				c, fake := newClient(t, "google-eu")
				fake.SetMode(tc.mode())
				err := op.call(c)
				pe := providerError(t, err)
				w := tc.route
				if op.geocoding {
					w = tc.geocode
				}
				if pe.Provider != "google-eu" || pe.Kind != w.kind || pe.Status != tc.status || pe.Code != tc.code || pe.Retryable() != w.retryable {
					t.Fatalf("got provider=%q kind=%q status=%d code=%q retryable=%v, want google-eu %q %d %q %v (%v)",
						pe.Provider, pe.Kind, pe.Status, pe.Code, pe.Retryable(), w.kind, tc.status, tc.code, w.retryable, pe)
				}
				if pe.RetryAfter < tc.minRetry || pe.RetryAfter > tc.maxRetry {
					t.Fatalf("RetryAfter = %v, want in [%v, %v]", pe.RetryAfter, tc.minRetry, tc.maxRetry)
				}
				if w.kind == domain.KindNoRoute && !errors.Is(err, domain.ErrNoRoute) {
					t.Fatalf("%v does not wrap domain.ErrNoRoute", err)
				}
				if strings.Contains(fmt.Sprintf("%+v", err), apiKey) {
					t.Fatalf("key leaked: %v", err)
				}
			})
		}
	}
}

func TestWrongOrMissingKeyIsDenied(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		key  config.Secret
		msg  string
	}{
		{"wrong", "AIzaSyWrongKey", "The provided API key is invalid."},
		{"missing", "", "You must use an API key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := providerfake.NewGoogle(t, apiKey)
			c := google.New(google.Config{BaseURL: fake.URL(), APIKey: tc.key}, &http.Client{})
			_, err := c.Geocode(context.Background(), domain.GeocodeRequest{Query: "Alexanderplatz", Limit: 1})
			pe := providerError(t, err)
			if pe.Kind != domain.KindDenied || pe.Code != "REQUEST_DENIED" || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %q %q: %v", pe.Kind, pe.Code, err)
			}
			if tc.key != "" && strings.Contains(err.Error(), tc.key.Reveal()) {
				t.Fatalf("key leaked: %v", err)
			}
		})
	}
}

// assertNoKey checks every rendering of err and of each error in its chain.
func assertNoKey(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("want an error")
	}
	forms := []string{apiKey, url.QueryEscape(apiKey), url.PathEscape(apiKey)}
	for e := err; e != nil; e = errors.Unwrap(e) {
		for _, s := range []string{e.Error(), fmt.Sprintf("%v", e), fmt.Sprintf("%+v", e), fmt.Sprintf("%#v", e)} {
			for _, f := range forms {
				if strings.Contains(s, f) {
					t.Fatalf("key %q leaked in %q", f, s)
				}
			}
		}
	}
}

func TestKeyNeverLeaks(t *testing.T) {
	t.Parallel()
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()

	// A redirect whose Location cannot be parsed: net/http quotes the Location,
	// key and all, inside the error it returns.
	badRedirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "http://%zz/maps?key="+r.URL.Query().Get("key"))
		w.WriteHeader(http.StatusFound)
	}))
	t.Cleanup(badRedirect.Close)

	geocode := func(c *google.Client, ctx context.Context) error {
		_, err := c.Geocode(ctx, domain.GeocodeRequest{Query: "Alexanderplatz", Limit: 1})
		return err
	}
	tests := []struct {
		name    string
		setup   func(t *testing.T) (base string, hc *http.Client)
		ctx     func() (context.Context, context.CancelFunc)
		kind    domain.ErrorKind
		is      error
		matcher func(err error) bool
	}{
		{
			name:  "connection refused",
			setup: func(*testing.T) (string, *http.Client) { return deadURL, &http.Client{} },
			kind:  domain.KindUnavailable,
		},
		{
			name: "context deadline",
			setup: func(t *testing.T) (string, *http.Client) {
				fake := providerfake.NewGoogle(t, apiKey)
				fake.SetMode(providerfake.ModeTimeout(0))
				return fake.URL(), &http.Client{}
			},
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 100*time.Millisecond)
			},
			kind: domain.KindTimeout,
			is:   context.DeadlineExceeded,
		},
		{
			name: "client timeout",
			setup: func(t *testing.T) (string, *http.Client) {
				fake := providerfake.NewGoogle(t, apiKey)
				fake.SetMode(providerfake.ModeTimeout(0))
				return fake.URL(), &http.Client{Timeout: 100 * time.Millisecond}
			},
			kind: domain.KindTimeout,
		},
		{
			name:  "unparsable redirect",
			setup: func(*testing.T) (string, *http.Client) { return badRedirect.URL, &http.Client{} },
			kind:  domain.KindUnavailable,
		},
		{
			name: "upstream message quoting the key",
			setup: func(t *testing.T) (string, *http.Client) {
				fake := providerfake.NewGoogle(t, apiKey)
				fake.SetMode(providerfake.ModeCode("REQUEST_DENIED", "API key "+apiKey+" ("+url.QueryEscape(apiKey)+") is not authorized"))
				return fake.URL(), &http.Client{}
			},
			kind: domain.KindDenied,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			base, hc := tc.setup(t)
			c := google.New(google.Config{BaseURL: base, APIKey: apiKey}, hc)
			ctx, cancel := context.WithCancel(context.Background())
			if tc.ctx != nil {
				ctx, cancel = tc.ctx()
			}
			defer cancel()
			err := geocode(c, ctx)
			pe := providerError(t, err)
			if pe.Kind != tc.kind || pe.Provider != "google" {
				t.Fatalf("got %q from %q (%v), want %q", pe.Kind, pe.Provider, err, tc.kind)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("%v does not wrap %v", err, tc.is)
			}
			assertNoKey(t, err)
		})
	}
}

func TestValidateNeverShowsTheKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cfg google.Config
		ok  bool
	}{
		{google.Config{APIKey: apiKey}, true},
		{google.Config{BaseURL: "http://127.0.0.1:9", APIKey: apiKey}, true},
		{google.Config{}, false},
		{google.Config{BaseURL: "maps.googleapis.com", APIKey: apiKey}, false},
	}
	for _, tc := range tests {
		err := tc.cfg.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("Validate(%v) = %v, want ok=%v", tc.cfg.BaseURL, err, tc.ok)
		}
		if err != nil && strings.Contains(err.Error(), apiKey) {
			t.Fatalf("key leaked: %v", err)
		}
	}
	if c := google.New(google.Config{APIKey: apiKey}, nil); c.Name() != "google" {
		t.Fatalf("default name %q", c.Name())
	}
}

func TestOddAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		body   string
		op     string
		kind   domain.ErrorKind
	}{
		{"OK without routes", 200, `{"status":"OK","routes":[]}`, "route", domain.KindNoRoute},
		{"leg without value", 200, `{"status":"OK","routes":[{"overview_polyline":{"points":"a"},"legs":[{"distance":{"text":"1 km"}}]}]}`, "route", domain.KindMalformed},
		{"no status", 200, `{"routes":[]}`, "route", domain.KindMalformed},
		{"rows of the wrong count", 200, `{"status":"OK","rows":[]}`, "matrix", domain.KindMalformed},
		{"element without value", 200, `{"status":"OK","rows":[{"elements":[{"status":"OK"}]}]}`, "matrix", domain.KindMalformed},
		{"result without location", 200, `{"status":"OK","results":[{"formatted_address":"x"}]}`, "geocode", domain.KindMalformed},
		{"400 without json", 400, `Bad Request`, "geocode", domain.KindInvalidQuery},
		{"403 with a status", 403, `{"status":"REQUEST_DENIED","error_message":"billing disabled","results":[]}`, "geocode", domain.KindDenied},
		{"unknown status", 200, `{"status":"SOMETHING_NEW","results":[]}`, "geocode", domain.KindUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			t.Cleanup(srv.Close)
			c := google.New(google.Config{BaseURL: srv.URL, APIKey: apiKey}, &http.Client{})
			var err error
			switch tc.op {
			case "route":
				_, err = c.Route(context.Background(), domain.RouteRequest{From: hbf, To: alex})
			case "matrix":
				_, err = c.Matrix(context.Background(), domain.MatrixRequest{Sources: []domain.LatLng{hbf}, Destinations: []domain.LatLng{alex}})
			default:
				_, err = c.Geocode(context.Background(), domain.GeocodeRequest{Query: "x y", Limit: 1})
			}
			if pe := providerError(t, err); pe.Kind != tc.kind {
				t.Fatalf("kind %q (%v), want %q", pe.Kind, pe, tc.kind)
			}
		})
	}
}

// Every body, success or error, is read to the end and closed.
func TestBodiesAreDrainedAndClosed(t *testing.T) {
	t.Parallel()
	fake := providerfake.NewGoogle(t, apiKey)
	tr := providerfake.NewTrackingTransport(t)
	c := google.New(google.Config{BaseURL: fake.URL(), APIKey: apiKey}, &http.Client{Transport: tr})
	modes := []providerfake.Mode{
		providerfake.ModeOK(), providerfake.ModeNoRoute(), providerfake.ModeRateLimited("1"),
		providerfake.ModeServerError(), providerfake.ModeMalformed(), providerfake.ModeHTTPError(429, ""),
	}
	for _, m := range modes {
		fake.SetMode(m)
		_, err := c.Route(context.Background(), domain.RouteRequest{From: hbf, To: alex})
		if m.String() != "ok" && err == nil {
			t.Fatalf("mode %v: no error", m)
		}
	}
	if o, e, cl := tr.Opened.Load(), tr.EOF.Load(), tr.Closed.Load(); o != int32(len(modes)) || e != o || cl != o {
		t.Fatalf("%d bodies: %d read to EOF, %d closed", o, e, cl)
	}
}
