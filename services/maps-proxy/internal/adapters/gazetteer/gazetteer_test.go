package gazetteer_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"testing"

	"github.com/mobilitycorp/platform/services/maps-proxy/internal/adapters/gazetteer"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/app"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/domain"
)

// The gazetteer is one of the app's geocoders.
var _ app.Geocoder = (*gazetteer.Gazetteer)(nil)

func newGazetteer(t *testing.T, opts gazetteer.Options) *gazetteer.Gazetteer {
	t.Helper()
	g, err := gazetteer.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return g
}

func names(ps []domain.Place) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	return out
}

func TestGeocode(t *testing.T) {
	g := newGazetteer(t, gazetteer.Options{})
	if g.Name() != "gazetteer" || g.Name() != domain.SourceGazetteer {
		t.Fatalf("Name() = %q", g.Name())
	}
	tests := []struct {
		name      string
		req       domain.GeocodeRequest
		wantFirst string // "" means no result
		wantKind  string
		wantCount int // 0 means do not check
	}{
		{"exact name, lower case", domain.GeocodeRequest{Query: "alexanderplatz"}, "Alexanderplatz", "square", 0},
		{"alias", domain.GeocodeRequest{Query: "Hauptbahnhof"}, "Berlin Hauptbahnhof", "station", 0},
		{"alias, upper case", domain.GeocodeRequest{Query: "HBF"}, "Berlin Hauptbahnhof", "station", 0},
		{"umlaut typed plain", domain.GeocodeRequest{Query: "schoneberg"}, "Schöneberg", "district", 0},
		{"umlaut transliterated", domain.GeocodeRequest{Query: "Schoeneberg"}, "Schöneberg", "district", 0},
		{"umlaut and eszett", domain.GeocodeRequest{Query: "SIEGESSÄULE"}, "Siegessäule", "landmark", 0},
		{"eszett spelled ss", domain.GeocodeRequest{Query: "grosser stern"}, "Siegessäule", "landmark", 0},
		{"word inside a hyphenated name", domain.GeocodeRequest{Query: "Gedachtniskirche"}, "Kaiser-Wilhelm-Gedächtniskirche", "landmark", 0},
		{"apostrophe", domain.GeocodeRequest{Query: "Ku'damm"}, "Kurfürstendamm", "street", 0},
		{"prefix while typing", domain.GeocodeRequest{Query: "Kurfuerstend"}, "Kurfürstendamm", "street", 0},
		{"name beats a longer name with the word", domain.GeocodeRequest{Query: "Charlottenburg"}, "Charlottenburg", "district", 0},
		{"all words count", domain.GeocodeRequest{Query: "Schloss Charlottenburg"}, "Schloss Charlottenburg", "landmark", 0},
		{"address word helps, not alone", domain.GeocodeRequest{Query: "Alexanderplatz 10178"}, "Alexanderplatz", "square", 0},
		{"English name in English", domain.GeocodeRequest{Query: "Brandenburg Gate", Language: "en-GB"}, "Brandenburg Gate", "landmark", 0},
		{"English query in German", domain.GeocodeRequest{Query: "Brandenburg Gate", Language: "de"}, "Brandenburger Tor", "landmark", 0},
		{"limit", domain.GeocodeRequest{Query: "Berlin", Limit: 3}, "", "", 3},
		{"country elsewhere", domain.GeocodeRequest{Query: "Alexanderplatz", Country: "fr"}, "", "", 0},
		{"country matching, either case", domain.GeocodeRequest{Query: "Alexanderplatz", Country: "de"}, "Alexanderplatz", "square", 0},
		{"nothing like it", domain.GeocodeRequest{Query: "Xyzzy Plugh"}, "", "", 0},
		{"address alone is no match", domain.GeocodeRequest{Query: "10178"}, "", "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.req.Limit == 0 {
				tc.req.Limit = 5
			}
			got, err := g.Geocode(context.Background(), tc.req)
			if err != nil {
				t.Fatalf("Geocode: %v", err)
			}
			if got == nil {
				t.Fatalf("nil answer; want an empty list at least")
			}
			if len(got) > tc.req.Limit {
				t.Errorf("%d places for limit %d", len(got), tc.req.Limit)
			}
			if tc.wantCount != 0 && len(got) != tc.wantCount {
				t.Errorf("%d places %v, want %d", len(got), names(got), tc.wantCount)
			}
			switch {
			case tc.wantFirst == "" && tc.wantCount == 0 && len(got) != 0:
				t.Errorf("got %v, want nothing", names(got))
			case tc.wantFirst != "" && (len(got) == 0 || got[0].Name != tc.wantFirst || got[0].Kind != tc.wantKind):
				t.Errorf("got %v, want %s (%s) first", got, tc.wantFirst, tc.wantKind)
			}
		})
	}
}

func TestGeocodeRejectsInvalidRequests(t *testing.T) {
	g := newGazetteer(t, gazetteer.Options{})
	tests := []domain.GeocodeRequest{
		{Query: "Alexanderplatz", Limit: 0},
		{Query: "Alexanderplatz", Limit: domain.MaxGeocodeLimit + 1},
		{Query: "A", Limit: 5},
		{Query: "Alexanderplatz", Limit: 5, Country: "DEU"},
	}
	for _, req := range tests {
		_, err := g.Geocode(context.Background(), req)
		var pe *domain.ProviderError
		if !errors.As(err, &pe) || pe.Kind != domain.KindInvalidQuery || pe.Provider != "gazetteer" || !errors.Is(err, domain.ErrInvalidInput) {
			t.Errorf("Geocode(%+v) error = %v, want an invalid_query ProviderError wrapping ErrInvalidInput", req, err)
		}
	}
}

func TestReverse(t *testing.T) {
	g := newGazetteer(t, gazetteer.Options{})
	gate := domain.LatLng{Lat: 52.51627, Lon: 13.37770}
	tests := []struct {
		name      string
		g         *gazetteer.Gazetteer
		req       domain.ReverseRequest
		wantFirst []string // a prefix of the answer's names
		wantMax   int
	}{
		{"at the gate, nearest first", g, domain.ReverseRequest{Point: gate}, []string{"Brandenburger Tor", "Pariser Platz"}, 5},
		{"in English", g, domain.ReverseRequest{Point: gate, Language: "en"}, []string{"Brandenburg Gate"}, 5},
		{"nothing within 500 m", g, domain.ReverseRequest{Point: domain.LatLng{Lat: 52.45, Lon: 13.55}}, nil, 0},
		{"far away", g, domain.ReverseRequest{Point: domain.LatLng{Lat: -33.86, Lon: 151.21}}, nil, 0},
		// Hauptbahnhof is about 250 m from this point: in with 300 m, out with 200 m.
		{"radius includes", newGazetteer(t, gazetteer.Options{ReverseRadiusMeters: 300}),
			domain.ReverseRequest{Point: domain.LatLng{Lat: 52.5251, Lon: 13.3731}}, []string{"Berlin Hauptbahnhof"}, 1},
		{"radius excludes", newGazetteer(t, gazetteer.Options{ReverseRadiusMeters: 200}),
			domain.ReverseRequest{Point: domain.LatLng{Lat: 52.5251, Lon: 13.3731}}, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.g.Reverse(context.Background(), tc.req)
			if err != nil {
				t.Fatalf("Reverse: %v", err)
			}
			if got == nil || len(got) > tc.wantMax || len(got) < len(tc.wantFirst) {
				t.Fatalf("got %v, want at most %d starting with %v", names(got), tc.wantMax, tc.wantFirst)
			}
			if n := names(got)[:len(tc.wantFirst)]; !slices.Equal(n, tc.wantFirst) {
				t.Errorf("got %v, want it to start with %v", names(got), tc.wantFirst)
			}
			for i := 1; i < len(got); i++ {
				if domain.HaversineMeters(tc.req.Point, got[i].Point) < domain.HaversineMeters(tc.req.Point, got[i-1].Point) {
					t.Errorf("not nearest first: %v", names(got))
				}
			}
		})
	}
	_, err := g.Reverse(context.Background(), domain.ReverseRequest{Point: domain.LatLng{Lat: 91}})
	if !errors.Is(err, domain.ErrInvalidInput) {
		t.Errorf("Reverse(lat 91) error = %v, want ErrInvalidInput", err)
	}
}

// TestBuiltinPlaces checks the shipped data: about forty real Berlin places, each
// inside Berlin's bounds (BER just south of them) and each found first by its own name.
func TestBuiltinPlaces(t *testing.T) {
	data, err := os.ReadFile("places.json")
	if err != nil {
		t.Fatal(err)
	}
	var places []struct {
		Name    string  `json:"name"`
		Lat     float64 `json:"lat"`
		Lon     float64 `json:"lon"`
		Country string  `json:"country"`
	}
	if err := json.Unmarshal(data, &places); err != nil {
		t.Fatal(err)
	}
	if len(places) < 40 {
		t.Fatalf("%d built-in places, want at least 40", len(places))
	}
	g := newGazetteer(t, gazetteer.Options{})
	seen := map[string]bool{}
	for _, p := range places {
		if seen[p.Name] {
			t.Errorf("%s twice", p.Name)
		}
		seen[p.Name] = true
		if p.Lat < 52.33 || p.Lat > 52.68 || p.Lon < 13.08 || p.Lon > 13.77 || p.Country != "DE" {
			t.Errorf("%s at %v,%v (%s) is not in Berlin", p.Name, p.Lat, p.Lon, p.Country)
		}
		got, err := g.Geocode(context.Background(), domain.GeocodeRequest{Query: p.Name, Limit: 1})
		if err != nil || len(got) != 1 || got[0].Name != p.Name {
			t.Errorf("Geocode(%q) = %v, %v; want the place itself", p.Name, names(got), err)
		}
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts gazetteer.Options
	}{
		{"negative radius", gazetteer.Options{ReverseRadiusMeters: -1}},
		{"registry without brokers", gazetteer.Options{Registry: &gazetteer.RegistryOptions{}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if g, err := gazetteer.New(tc.opts); err == nil || g != nil {
				t.Fatalf("New = %v, %v; want an error", g, err)
			}
		})
	}
}

func TestRunWithoutRegistryReturns(t *testing.T) {
	g := newGazetteer(t, gazetteer.Options{})
	if err := g.Run(context.Background()); err != nil {
		t.Fatalf("Run = %v, want nil at once", err)
	}
}
