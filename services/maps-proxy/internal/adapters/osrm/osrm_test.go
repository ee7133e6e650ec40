package osrm_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mobilitycorp/platform/services/maps-proxy/internal/adapters/osrm"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/adapters/providerfake"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/app"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/domain"
)

// The client satisfies the ports the use cases consume.
var (
	_ app.RouteProvider  = (*osrm.Client)(nil)
	_ app.MatrixProvider = (*osrm.Client)(nil)
)

var (
	hbf  = domain.LatLng{Lat: 52.5251, Lon: 13.3694}
	alex = domain.LatLng{Lat: 52.5219, Lon: 13.4132}
	ptz  = domain.LatLng{Lat: 52.5096, Lon: 13.3759}
	tor  = domain.LatLng{Lat: 52.5163, Lon: 13.3777}
	tmp  = domain.LatLng{Lat: 52.4755, Lon: 13.4019}
)

func newClient(t *testing.T, cfg osrm.Config) (*osrm.Client, *providerfake.OSRM) {
	t.Helper()
	fake := providerfake.NewOSRM(t)
	cfg.BaseURL = fake.URL()
	return osrm.New(cfg, &http.Client{}), fake
}

func providerError(t *testing.T, err error) *domain.ProviderError {
	t.Helper()
	var pe *domain.ProviderError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v (%T), want *domain.ProviderError", err, err)
	}
	return pe
}

func TestRouteMapsTheAnswer(t *testing.T) {
	t.Parallel()
	c, fake := newClient(t, osrm.Config{})
	req := domain.RouteRequest{From: hbf, To: alex, Waypoints: []domain.LatLng{tor}, Profile: domain.ProfileBike}

	routes, err := c.Route(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	want := providerfake.OSRMRoute(req.Points(), "bike")
	if len(routes) != 1 || routes[0] != want {
		t.Fatalf("routes = %+v, want [%+v]", routes, want)
	}
	// Hbf → Brandenburger Tor → Alex is about 4.4 km by the fake's detour factor.
	if routes[0].DistanceMeters < 4000 || routes[0].DistanceMeters > 5000 {
		t.Fatalf("distance %v m is implausible", routes[0].DistanceMeters)
	}
	pts, err := domain.DecodePolyline(routes[0].Polyline)
	if err != nil || len(pts) != 3 || pts[1].Key() != tor.Key() {
		t.Fatalf("geometry %v, %v; want the three requested points", pts, err)
	}

	got, _ := fake.LastRequest()
	// OSRM wants lon,lat pairs.
	if wantPath := "/route/v1/bike/13.3694,52.5251;13.3777,52.5163;13.4132,52.5219"; got.Path != wantPath {
		t.Fatalf("path = %q, want %q", got.Path, wantPath)
	}
	for k, v := range map[string]string{"overview": "full", "geometries": "polyline", "alternatives": "false", "steps": "false"} {
		if got.Query.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, got.Query.Get(k), v)
		}
	}
	if fake.Calls("route") != 1 || fake.Calls("table") != 0 {
		t.Fatalf("calls route=%d table=%d", fake.Calls("route"), fake.Calls("table"))
	}
}

func TestRouteAlternatives(t *testing.T) {
	t.Parallel()
	c, fake := newClient(t, osrm.Config{})
	routes, err := c.Route(context.Background(), domain.RouteRequest{From: hbf, To: alex, Profile: domain.ProfileFoot, Alternatives: true})
	if err != nil {
		t.Fatal(err)
	}
	if fake.LastQuery().Get("alternatives") != "true" {
		t.Fatalf("alternatives = %q", fake.LastQuery().Get("alternatives"))
	}
	if len(routes) != 2 {
		t.Fatalf("got %d routes, want the route and one alternative", len(routes))
	}
	if routes[0] != providerfake.OSRMRoute([]domain.LatLng{hbf, alex}, "foot") {
		t.Fatalf("first route %+v is not the recommended one", routes[0])
	}
	if routes[1].DistanceMeters <= routes[0].DistanceMeters || routes[1].Polyline == routes[0].Polyline {
		t.Fatalf("alternative %+v does not differ from %+v", routes[1], routes[0])
	}
}

func TestProfileMapping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     osrm.Config
		profile domain.Profile
		want    string
	}{
		{"foot", osrm.Config{}, domain.ProfileFoot, "foot"},
		{"bike", osrm.Config{}, domain.ProfileBike, "bike"},
		{"scooter rides bike lanes", osrm.Config{}, domain.ProfileScooter, "bike"},
		{"car", osrm.Config{}, domain.ProfileCar, "driving"},
		{"override", osrm.Config{Profiles: map[domain.Profile]string{domain.ProfileCar: "car"}}, domain.ProfileCar, "car"},
		{"override keeps other defaults", osrm.Config{Profiles: map[domain.Profile]string{domain.ProfileCar: "car"}}, domain.ProfileScooter, "bike"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, fake := newClient(t, tc.cfg)
			if _, err := c.Route(context.Background(), domain.RouteRequest{From: hbf, To: alex, Profile: tc.profile}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Matrix(context.Background(), domain.MatrixRequest{Sources: []domain.LatLng{hbf}, Destinations: []domain.LatLng{alex}, Profile: tc.profile}); err != nil {
				t.Fatal(err)
			}
			got, _ := fake.LastRequest()
			if want := "/table/v1/" + tc.want + "/"; !strings.HasPrefix(got.Path, want) {
				t.Fatalf("path %q, want prefix %q", got.Path, want)
			}
		})
	}
}

func TestMatrixMapsTheTable(t *testing.T) {
	t.Parallel()
	c, fake := newClient(t, osrm.Config{})
	fake.SetUnreachable(tmp)
	req := domain.MatrixRequest{
		Sources:      []domain.LatLng{hbf, alex},
		Destinations: []domain.LatLng{ptz, tmp, alex},
		Profile:      domain.ProfileCar,
	}
	cells, err := c.Matrix(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(cells) != 2 || len(cells[0]) != 3 || len(cells[1]) != 3 {
		t.Fatalf("shape %d×?, want 2×3: %+v", len(cells), cells)
	}
	for i, src := range req.Sources {
		for j, dst := range req.Destinations {
			want := providerfake.OSRMCell(src, dst, "driving")
			if dst == tmp {
				want = domain.MatrixCell{} // null in the table: unreachable
			}
			if cells[i][j] != want {
				t.Errorf("cell[%d][%d] = %+v, want %+v", i, j, cells[i][j], want)
			}
		}
	}
	if !cells[1][2].Reachable || cells[1][2].DistanceMeters != 0 {
		t.Fatalf("alex→alex = %+v, want reachable at 0 m", cells[1][2])
	}

	got, _ := fake.LastRequest()
	if wantPath := "/table/v1/driving/13.3694,52.5251;13.4132,52.5219;13.3759,52.5096;13.4019,52.4755;13.4132,52.5219"; got.Path != wantPath {
		t.Fatalf("path = %q, want %q", got.Path, wantPath)
	}
	for k, v := range map[string]string{"sources": "0;1", "destinations": "2;3;4", "annotations": "duration,distance"} {
		if got.Query.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, got.Query.Get(k), v)
		}
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	httpDate := func() string { return time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat) }
	tests := []struct {
		name      string
		mode      func() providerfake.Mode
		kind      domain.ErrorKind
		status    int
		code      string
		retryable bool
		// retryAfter bounds the expected Retry-After (inclusive).
		minRetry, maxRetry time.Duration
	}{
		{"no route", providerfake.ModeNoRoute, domain.KindNoRoute, 400, "NoRoute", false, 0, 0},
		{"no segment", code("NoSegment", "Could not find a matching segment for any coordinate."), domain.KindNoRoute, 400, "NoSegment", false, 0, 0},
		{"invalid query", code("InvalidQuery", "Query string malformed close to position 28"), domain.KindInvalidQuery, 400, "InvalidQuery", false, 0, 0},
		{"invalid value", code("InvalidValue", "Invalid coordinate value."), domain.KindInvalidQuery, 400, "InvalidValue", false, 0, 0},
		{"invalid options", code("InvalidOptions", "Number of bearings does not match number of coordinates"), domain.KindInvalidQuery, 400, "InvalidOptions", false, 0, 0},
		{"invalid url", code("InvalidUrl", "URL string malformed close to position 9"), domain.KindInvalidQuery, 400, "InvalidUrl", false, 0, 0},
		{"too big", code("TooBig", "Too many table coordinates"), domain.KindInvalidQuery, 400, "TooBig", false, 0, 0},
		{"unknown code", code("Weird", "something new"), domain.KindInvalidQuery, 400, "Weird", false, 0, 0},
		{"429 seconds", func() providerfake.Mode { return providerfake.ModeRateLimited("30") }, domain.KindRateLimited, 429, "", true, 30 * time.Second, 30 * time.Second},
		{"429 http-date", func() providerfake.Mode { return providerfake.ModeRateLimited(httpDate()) }, domain.KindRateLimited, 429, "", true, 60 * time.Second, 90 * time.Second},
		{"429 without header", func() providerfake.Mode { return providerfake.ModeRateLimited("") }, domain.KindRateLimited, 429, "", true, 0, 0},
		{"500", providerfake.ModeServerError, domain.KindUnavailable, 500, "", true, 0, 0},
		{"503 with retry-after", func() providerfake.Mode { return providerfake.ModeHTTPError(503, "5") }, domain.KindUnavailable, 503, "", true, 5 * time.Second, 5 * time.Second},
		{"403", func() providerfake.Mode { return providerfake.ModeHTTPError(403, "") }, domain.KindDenied, 403, "", true, 0, 0},
		{"404 without json", func() providerfake.Mode { return providerfake.ModeHTTPError(404, "") }, domain.KindInvalidQuery, 404, "", false, 0, 0},
		{"malformed", providerfake.ModeMalformed, domain.KindMalformed, 200, "", true, 0, 0},
	}
	ops := map[string]func(*osrm.Client) error{
		"route": func(c *osrm.Client) error {
			_, err := c.Route(context.Background(), domain.RouteRequest{From: hbf, To: alex, Profile: domain.ProfileFoot})
			return err
		},
		"table": func(c *osrm.Client) error {
			_, err := c.Matrix(context.Background(), domain.MatrixRequest{Sources: []domain.LatLng{hbf}, Destinations: []domain.LatLng{alex}, Profile: domain.ProfileFoot})
			return err
		},
	}
	for _, tc := range tests {
		for opName, op := range ops {
			t.Run(tc.name+"/"+opName, func(t *testing.T) {
				t.Parallel()
				c, fake := newClient(t, osrm.Config{Name: "osrm-eu"})
				fake.SetMode(tc.mode())
				pe := providerError(t, op(c))
				if pe.Provider != "osrm-eu" || pe.Kind != tc.kind || pe.Status != tc.status || pe.Code != tc.code {
					t.Fatalf("got provider=%q kind=%q status=%d code=%q, want %q %q %d %q (%v)",
						pe.Provider, pe.Kind, pe.Status, pe.Code, "osrm-eu", tc.kind, tc.status, tc.code, pe)
				}
				if pe.Retryable() != tc.retryable {
					t.Fatalf("Retryable() = %v, want %v", pe.Retryable(), tc.retryable)
				}
				if pe.RetryAfter < tc.minRetry || pe.RetryAfter > tc.maxRetry {
					t.Fatalf("RetryAfter = %v, want in [%v, %v]", pe.RetryAfter, tc.minRetry, tc.maxRetry)
				}
				if tc.kind == domain.KindNoRoute && !errors.Is(pe, domain.ErrNoRoute) {
					t.Fatalf("%v does not wrap domain.ErrNoRoute", pe)
				}
			})
		}
	}
}

func code(c, msg string) func() providerfake.Mode {
	return func() providerfake.Mode { return providerfake.ModeCode(c, msg) }
}

func TestTimeouts(t *testing.T) {
	t.Parallel()
	route := domain.RouteRequest{From: hbf, To: alex, Profile: domain.ProfileFoot}
	tests := []struct {
		name   string
		client *http.Client
		ctx    func() (context.Context, context.CancelFunc)
		is     error
	}{
		{
			name:   "context deadline",
			client: &http.Client{},
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 100*time.Millisecond)
			},
			is: context.DeadlineExceeded,
		},
		{
			name:   "client timeout",
			client: &http.Client{Timeout: 100 * time.Millisecond},
			ctx:    func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
		},
		{
			name:   "caller cancels",
			client: &http.Client{},
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(50*time.Millisecond, cancel)
				return ctx, cancel
			},
			is: context.Canceled,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := providerfake.NewOSRM(t)
			fake.SetMode(providerfake.ModeTimeout(0)) // hold until the client gives up
			c := osrm.New(osrm.Config{BaseURL: fake.URL()}, tc.client)
			ctx, cancel := tc.ctx()
			defer cancel()

			_, err := c.Route(ctx, route)
			pe := providerError(t, err)
			if pe.Kind != domain.KindTimeout || pe.Provider != "osrm" || !pe.Retryable() {
				t.Fatalf("got %q from %q retryable=%v (%v), want a retryable timeout from osrm", pe.Kind, pe.Provider, pe.Retryable(), pe)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("%v does not wrap %v", err, tc.is)
			}
			// The URL must not leak into errors (it is noise here, a secret elsewhere).
			if strings.Contains(err.Error(), fake.URL()) {
				t.Fatalf("error repeats the URL: %v", err)
			}
		})
	}
}

func TestConnectionRefusedIsUnavailable(t *testing.T) {
	t.Parallel()
	dead := httptest.NewServer(http.NotFoundHandler())
	base := dead.URL
	dead.Close()

	c := osrm.New(osrm.Config{BaseURL: base}, &http.Client{})
	_, err := c.Route(context.Background(), domain.RouteRequest{From: hbf, To: alex})
	pe := providerError(t, err)
	if pe.Kind != domain.KindUnavailable || !pe.Retryable() {
		t.Fatalf("got %q (%v), want retryable unavailable", pe.Kind, pe)
	}
	if strings.Contains(err.Error(), base) {
		t.Fatalf("error repeats the URL: %v", err)
	}
}

// Edge cases the fake does not produce: answers that are well-formed JSON but wrong.
func TestOddAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		op   string
		kind domain.ErrorKind
	}{
		{"ok without routes", `{"code":"Ok","routes":[],"waypoints":[]}`, "route", domain.KindNoRoute},
		{"route without geometry", `{"code":"Ok","routes":[{"distance":1,"duration":1}]}`, "route", domain.KindMalformed},
		{"no code", `{"routes":[]}`, "route", domain.KindMalformed},
		{"table without distances", `{"code":"Ok","durations":[[1]]}`, "table", domain.KindMalformed},
		{"table of the wrong shape", `{"code":"Ok","durations":[[1,2]],"distances":[[1,2]]}`, "table", domain.KindMalformed},
		{"oversized body", `{"code":"Ok","routes":[],"pad":"` + strings.Repeat("x", 8<<20) + `"}`, "route", domain.KindMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(tc.body))
			}))
			t.Cleanup(srv.Close)
			c := osrm.New(osrm.Config{BaseURL: srv.URL}, &http.Client{})
			var err error
			if tc.op == "route" {
				_, err = c.Route(context.Background(), domain.RouteRequest{From: hbf, To: alex})
			} else {
				_, err = c.Matrix(context.Background(), domain.MatrixRequest{Sources: []domain.LatLng{hbf}, Destinations: []domain.LatLng{alex}})
			}
			if pe := providerError(t, err); pe.Kind != tc.kind {
				t.Fatalf("kind %q (%v), want %q", pe.Kind, pe, tc.kind)
			}
			// Truncated JSON would be malformed anyway: the cap must be what stopped it.
			if strings.HasPrefix(tc.name, "oversized") && !strings.Contains(err.Error(), "exceeds 8388608 bytes") {
				t.Fatalf("err %v does not blame the size cap", err)
			}
		})
	}
}

// Every body, success or error, is read to the end and closed, so keep-alive
// connections go back to the pool.
func TestBodiesAreDrainedAndClosed(t *testing.T) {
	t.Parallel()
	fake := providerfake.NewOSRM(t)
	tr := providerfake.NewTrackingTransport(t)
	c := osrm.New(osrm.Config{BaseURL: fake.URL()}, &http.Client{Transport: tr})
	modes := []providerfake.Mode{
		providerfake.ModeOK(), providerfake.ModeNoRoute(), providerfake.ModeRateLimited("1"),
		providerfake.ModeServerError(), providerfake.ModeMalformed(), providerfake.ModeCode("InvalidQuery", "bad"),
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

func TestConfig(t *testing.T) {
	t.Parallel()
	if c := osrm.New(osrm.Config{BaseURL: "http://osrm:5000"}, nil); c.Name() != "osrm" {
		t.Fatalf("default name %q", c.Name())
	}
	tests := []struct {
		base string
		ok   bool
	}{
		{"http://osrm:5000", true},
		{"https://osrm.example.com/base/", true},
		{"", false},
		{"osrm:5000", false},
		{"ftp://osrm", false},
	}
	for _, tc := range tests {
		if err := (osrm.Config{BaseURL: tc.base}).Validate(); (err == nil) != tc.ok {
			t.Errorf("Validate(%q) = %v, want ok=%v", tc.base, err, tc.ok)
		}
	}
	if err := (osrm.Config{BaseURL: "http://osrm:5000", Profiles: map[domain.Profile]string{domain.ProfileCar: ""}}).Validate(); err == nil {
		t.Error("empty profile name accepted")
	}
}
