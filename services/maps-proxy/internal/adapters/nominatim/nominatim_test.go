package nominatim_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mobilitycorp/platform/services/maps-proxy/internal/adapters/nominatim"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/adapters/providerfake"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/app"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/domain"
)

var _ app.Geocoder = (*nominatim.Client)(nil)

func newClient(t *testing.T, cfg nominatim.Config) (*nominatim.Client, *providerfake.Nominatim) {
	t.Helper()
	fake := providerfake.NewNominatim(t)
	cfg.BaseURL = fake.URL()
	return nominatim.New(cfg, &http.Client{}), fake
}

func providerError(t *testing.T, err error) *domain.ProviderError {
	t.Helper()
	var pe *domain.ProviderError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v (%T), want *domain.ProviderError", err, err)
	}
	return pe
}

func TestGeocodeMapsResults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		req  domain.GeocodeRequest
		want []domain.Place
	}{
		{
			name: "german, case-insensitive",
			req:  domain.GeocodeRequest{Query: "aLeXaNdErPlAtZ", Language: "de", Country: "DE", Limit: 5},
			want: []domain.Place{{
				Name:    "Alexanderplatz",
				Address: "Alexanderplatz, Mitte, Berlin, 10178, Deutschland",
				Point:   domain.LatLng{Lat: 52.5219184, Lon: 13.4132147},
				Country: "DE",
				Kind:    "place/square",
			}},
		},
		{
			name: "english",
			req:  domain.GeocodeRequest{Query: "Brandenburg Gate, Berlin", Language: "en", Limit: 5},
			want: []domain.Place{{
				Name:    "Brandenburg Gate",
				Address: "Brandenburg Gate, Pariser Platz, Mitte, Berlin, 10117, Germany",
				Point:   domain.LatLng{Lat: 52.5162746, Lon: 13.3777041},
				Country: "DE",
				Kind:    "tourism/attraction",
			}},
		},
		{
			name: "limit",
			req:  domain.GeocodeRequest{Query: "Berlin", Limit: 2},
			want: []domain.Place{
				{Name: "Berlin Hauptbahnhof", Address: "Berlin Hauptbahnhof, Europaplatz, Moabit, Mitte, Berlin, 10557, Deutschland",
					Point: domain.LatLng{Lat: 52.5250839, Lon: 13.369402}, Country: "DE", Kind: "railway/station"},
				{Name: "Berliner Fernsehturm", Address: "Berliner Fernsehturm, Panoramastraße, Mitte, Berlin, 10178, Deutschland",
					Point: domain.LatLng{Lat: 52.5208182, Lon: 13.4094046}, Country: "DE", Kind: "man_made/tower"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, fake := newClient(t, nominatim.Config{})
			got, err := c.Geocode(context.Background(), tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d places %+v, want %d", len(got), got, len(tc.want))
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("place %d = %+v\nwant %+v", i, got[i], tc.want[i])
				}
			}
			if fake.Calls("search") != 1 {
				t.Fatalf("search calls = %d", fake.Calls("search"))
			}
		})
	}
}

func TestGeocodeSendsParameters(t *testing.T) {
	t.Parallel()
	c, fake := newClient(t, nominatim.Config{UserAgent: "MobilityCorp-maps-proxy/test", Email: "maps-ops@mobilitycorp.example"})
	_, err := c.Geocode(context.Background(), domain.GeocodeRequest{Query: "Potsdamer Platz", Language: "de", Country: "DE", Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := fake.LastRequest()
	if got.Path != "/search" {
		t.Fatalf("path %q", got.Path)
	}
	want := map[string]string{
		"q": "Potsdamer Platz", "format": "jsonv2", "limit": "3", "accept-language": "de",
		"countrycodes": "de", "addressdetails": "1", "email": "maps-ops@mobilitycorp.example",
	}
	for k, v := range want {
		if got.Query.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, got.Query.Get(k), v)
		}
	}
	// The usage policy wants an identifying agent with a contact.
	if ua := got.Header.Get("User-Agent"); ua != "MobilityCorp-maps-proxy/test (maps-ops@mobilitycorp.example)" || ua != c.UserAgent() {
		t.Fatalf("User-Agent = %q (client says %q)", ua, c.UserAgent())
	}
}

func TestDefaultUserAgentIsAccepted(t *testing.T) {
	t.Parallel()
	c, fake := newClient(t, nominatim.Config{})
	if _, err := c.Geocode(context.Background(), domain.GeocodeRequest{Query: "Tempelhofer Feld", Limit: 1}); err != nil {
		t.Fatal(err)
	}
	got, _ := fake.LastRequest()
	if ua := got.Header.Get("User-Agent"); ua != nominatim.DefaultUserAgent {
		t.Fatalf("User-Agent = %q, want %q", ua, nominatim.DefaultUserAgent)
	}
	if c.Name() != "nominatim" {
		t.Fatalf("default name %q", c.Name())
	}
}

func TestReverse(t *testing.T) {
	t.Parallel()
	c, fake := newClient(t, nominatim.Config{})
	// A few metres from the Brandenburger Tor.
	got, err := c.Reverse(context.Background(), domain.ReverseRequest{Point: domain.LatLng{Lat: 52.51628, Lon: 13.37775}, Language: "en"})
	if err != nil {
		t.Fatal(err)
	}
	want := domain.Place{
		Name:    "Brandenburg Gate",
		Address: "Brandenburg Gate, Pariser Platz, Mitte, Berlin, 10117, Germany",
		Point:   domain.LatLng{Lat: 52.5162746, Lon: 13.3777041},
		Country: "DE",
		Kind:    "tourism/attraction",
	}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("got %+v, want [%+v]", got, want)
	}
	req, _ := fake.LastRequest()
	for k, v := range map[string]string{"lat": "52.51628", "lon": "13.37775", "format": "jsonv2", "accept-language": "en"} {
		if req.Query.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, req.Query.Get(k), v)
		}
	}
	if req.Path != "/reverse" || fake.Calls("reverse") != 1 {
		t.Fatalf("path %q, reverse calls %d", req.Path, fake.Calls("reverse"))
	}
}

func TestNothingFound(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		call func(*nominatim.Client) error
	}{
		{"unknown place", func(c *nominatim.Client) error {
			_, err := c.Geocode(context.Background(), domain.GeocodeRequest{Query: "Atlantis", Limit: 5})
			return err
		}},
		{"country bias excludes Berlin", func(c *nominatim.Client) error {
			_, err := c.Geocode(context.Background(), domain.GeocodeRequest{Query: "Alexanderplatz", Country: "FR", Limit: 5})
			return err
		}},
		{"reverse in the Grunewald: Unable to geocode", func(c *nominatim.Client) error {
			_, err := c.Reverse(context.Background(), domain.ReverseRequest{Point: domain.LatLng{Lat: 52.47, Lon: 13.25}})
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, _ := newClient(t, nominatim.Config{Name: "osm-geocoder"})
			pe := providerError(t, tc.call(c))
			if pe.Kind != domain.KindZeroResults || pe.Provider != "osm-geocoder" || pe.Retryable() || pe.Status != 200 {
				t.Fatalf("got kind=%q provider=%q retryable=%v status=%d (%v)", pe.Kind, pe.Provider, pe.Retryable(), pe.Status, pe)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	httpDate := func() string { return time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat) }
	tests := []struct {
		name               string
		mode               func() providerfake.Mode
		kind               domain.ErrorKind
		status             int
		retryable          bool
		minRetry, maxRetry time.Duration
	}{
		{"no results mode", providerfake.ModeNoRoute, domain.KindZeroResults, 200, false, 0, 0},
		{"bad parameter", func() providerfake.Mode { return providerfake.ModeCode("", "Parameter 'lat' must be a number.") }, domain.KindInvalidQuery, 400, false, 0, 0},
		{"429 seconds", func() providerfake.Mode { return providerfake.ModeRateLimited("2") }, domain.KindRateLimited, 429, true, 2 * time.Second, 2 * time.Second},
		{"429 http-date", func() providerfake.Mode { return providerfake.ModeRateLimited(httpDate()) }, domain.KindRateLimited, 429, true, 60 * time.Second, 90 * time.Second},
		{"blocked", func() providerfake.Mode { return providerfake.ModeHTTPError(403, "") }, domain.KindDenied, 403, true, 0, 0},
		{"500", providerfake.ModeServerError, domain.KindUnavailable, 500, true, 0, 0},
		{"502", func() providerfake.Mode { return providerfake.ModeHTTPError(502, "") }, domain.KindUnavailable, 502, true, 0, 0},
		{"404", func() providerfake.Mode { return providerfake.ModeHTTPError(404, "") }, domain.KindInvalidQuery, 404, false, 0, 0},
		{"malformed", providerfake.ModeMalformed, domain.KindMalformed, 200, true, 0, 0},
	}
	ops := map[string]func(*nominatim.Client) error{
		"search": func(c *nominatim.Client) error {
			_, err := c.Geocode(context.Background(), domain.GeocodeRequest{Query: "Alexanderplatz", Limit: 1})
			return err
		},
		"reverse": func(c *nominatim.Client) error {
			_, err := c.Reverse(context.Background(), domain.ReverseRequest{Point: domain.LatLng{Lat: 52.5219, Lon: 13.4132}})
			return err
		},
	}
	for _, tc := range tests {
		for opName, op := range ops {
			t.Run(tc.name+"/"+opName, func(t *testing.T) {
				t.Parallel()
				c, fake := newClient(t, nominatim.Config{})
				fake.SetMode(tc.mode())
				pe := providerError(t, op(c))
				if pe.Provider != "nominatim" || pe.Kind != tc.kind || pe.Status != tc.status {
					t.Fatalf("got provider=%q kind=%q status=%d, want nominatim %q %d (%v)", pe.Provider, pe.Kind, pe.Status, tc.kind, tc.status, pe)
				}
				if pe.Retryable() != tc.retryable {
					t.Fatalf("Retryable() = %v, want %v", pe.Retryable(), tc.retryable)
				}
				if pe.RetryAfter < tc.minRetry || pe.RetryAfter > tc.maxRetry {
					t.Fatalf("RetryAfter = %v, want in [%v, %v]", pe.RetryAfter, tc.minRetry, tc.maxRetry)
				}
			})
		}
	}
}

func TestTimeouts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		client *http.Client
		ctx    func() (context.Context, context.CancelFunc)
	}{
		{"context deadline", &http.Client{}, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 100*time.Millisecond)
		}},
		{"client timeout", &http.Client{Timeout: 100 * time.Millisecond}, func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := providerfake.NewNominatim(t)
			fake.SetMode(providerfake.ModeTimeout(0))
			c := nominatim.New(nominatim.Config{BaseURL: fake.URL()}, tc.client)
			ctx, cancel := tc.ctx()
			defer cancel()
			_, err := c.Geocode(ctx, domain.GeocodeRequest{Query: "Alexanderplatz", Limit: 1})
			if pe := providerError(t, err); pe.Kind != domain.KindTimeout || !pe.Retryable() {
				t.Fatalf("got %q (%v), want retryable timeout", pe.Kind, pe)
			}
			if strings.Contains(err.Error(), "Alexanderplatz") {
				t.Fatalf("error repeats the request URL: %v", err)
			}
		})
	}
}

func TestOddAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		status  int
		body    string
		reverse bool
		kind    domain.ErrorKind
	}{
		{"lat not a number", 200, `[{"lat":"north","lon":"13.4","display_name":"x"}]`, false, domain.KindMalformed},
		{"object without error", 200, `{"lat":"52.5","lon":"13.4"}`, false, domain.KindMalformed},
		{"legacy search error string", 200, `{"error":"Unable to geocode"}`, false, domain.KindZeroResults},
		{"reverse error object", 400, `{"error":{"code":400,"message":"Need coordinates or OSM object to lookup."}}`, true, domain.KindInvalidQuery},
		{"reverse without coordinates", 200, `{"display_name":"somewhere"}`, true, domain.KindMalformed},
		{"oversized", 200, `[` + strings.Repeat(`{"lat":"1","lon":"1"},`, 400_000) + `{}]`, false, domain.KindMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			t.Cleanup(srv.Close)
			c := nominatim.New(nominatim.Config{BaseURL: srv.URL}, &http.Client{})
			var err error
			if tc.reverse {
				_, err = c.Reverse(context.Background(), domain.ReverseRequest{Point: domain.LatLng{Lat: 52.5, Lon: 13.4}})
			} else {
				_, err = c.Geocode(context.Background(), domain.GeocodeRequest{Query: "somewhere", Limit: 5})
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
	fake := providerfake.NewNominatim(t)
	tr := providerfake.NewTrackingTransport(t)
	c := nominatim.New(nominatim.Config{BaseURL: fake.URL()}, &http.Client{Transport: tr})
	modes := []providerfake.Mode{
		providerfake.ModeOK(), providerfake.ModeNoRoute(), providerfake.ModeRateLimited("1"),
		providerfake.ModeServerError(), providerfake.ModeMalformed(), providerfake.ModeCode("InvalidQuery", "bad"),
	}
	for _, m := range modes {
		fake.SetMode(m)
		_, err := c.Geocode(context.Background(), domain.GeocodeRequest{Query: "Alexanderplatz", Limit: 1})
		if m.String() != "ok" && err == nil {
			t.Fatalf("mode %v: no error", m)
		}
	}
	if o, e, cl := tr.Opened.Load(), tr.EOF.Load(), tr.Closed.Load(); o != int32(len(modes)) || e != o || cl != o {
		t.Fatalf("%d bodies: %d read to EOF, %d closed", o, e, cl)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cfg nominatim.Config
		ok  bool
	}{
		{nominatim.Config{BaseURL: "https://nominatim.openstreetmap.org"}, true},
		{nominatim.Config{BaseURL: "https://nominatim.openstreetmap.org", Email: "ops@example.com"}, true},
		{nominatim.Config{BaseURL: "https://nominatim.openstreetmap.org", Email: "ops"}, false},
		{nominatim.Config{}, false},
	}
	for _, tc := range tests {
		if err := tc.cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("Validate(%+v) = %v, want ok=%v", tc.cfg, err, tc.ok)
		}
	}
}
