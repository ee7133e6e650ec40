package providerfake

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mobilitycorp/platform/services/maps-proxy/internal/domain"
)

// Nominatim fakes Nominatim's /search and /reverse with format=jsonv2 over the
// Landmarks gazetteer. Like the public instance it refuses requests without an
// identifying User-Agent (empty or Go's default) with HTTP 403, honours limit,
// countrycodes (only "de" has places), accept-language ("en…" gives English
// names, anything else German) and addressdetails, and answers reverse with the
// landmark within 150 m or {"error":"Unable to geocode"}.
type Nominatim struct {
	*Server
}

// NewNominatim starts a Nominatim fake that stops when t ends.
func NewNominatim(t testing.TB) *Nominatim {
	t.Helper()
	mk := func(*Server) dialect { return nominatimDialect{} }
	return &Nominatim{Server: newServer(t, mk, "search", "reverse")}
}

type nominatimDialect struct{}

const osmLicence = "Data © OpenStreetMap contributors, ODbL 1.0. http://osm.org/copyright"

func (nominatimDialect) kind(r *http.Request) string {
	switch strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/"), ".php") {
	case "search":
		return "search"
	case "reverse":
		return "reverse"
	default:
		return ""
	}
}

func (nominatimDialect) admit(w http.ResponseWriter, r *http.Request) bool {
	// The usage policy requires an identifying User-Agent; stock library agents are blocked.
	ua := r.Header.Get("User-Agent")
	if ua == "" || strings.HasPrefix(ua, "Go-http-client/") {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte("<html><body><h1>Access blocked</h1><p>See the usage policy: " +
			"https://operations.osmfoundation.org/policies/nominatim/</p></body></html>"))
		return false
	}
	return true
}

func (nominatimDialect) malformed() string { return `[{"place_id":132603386,"licence":"Data` }

func nominatimError(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": status, "message": message}})
}

func (nominatimDialect) noRoute(w http.ResponseWriter, _ *http.Request, kind string) {
	if kind == "reverse" {
		writeJSON(w, http.StatusOK, map[string]string{"error": "Unable to geocode"})
		return
	}
	writeJSON(w, http.StatusOK, []any{})
}

func (nominatimDialect) code(w http.ResponseWriter, _ *http.Request, _ string, m Mode) {
	nominatimError(w, http.StatusBadRequest, m.message)
}

func (nominatimDialect) rateLimited(w http.ResponseWriter, _ *http.Request, _ string, m Mode) {
	writeHTTPError(w, m)
}

// nominatimPlace is one jsonv2 result, fields in Nominatim's order.
type nominatimPlace struct {
	PlaceID     int64             `json:"place_id"`
	Licence     string            `json:"licence"`
	OSMType     string            `json:"osm_type"`
	OSMID       int64             `json:"osm_id"`
	Lat         string            `json:"lat"`
	Lon         string            `json:"lon"`
	Category    string            `json:"category"`
	Type        string            `json:"type"`
	PlaceRank   int               `json:"place_rank"`
	Importance  float64           `json:"importance"`
	Addresstype string            `json:"addresstype"`
	Name        string            `json:"name"`
	DisplayName string            `json:"display_name"`
	Address     map[string]string `json:"address,omitempty"`
	Boundingbox [4]string         `json:"boundingbox"`
}

// NominatimDisplayName is the display_name the Nominatim fake gives a landmark.
func NominatimDisplayName(l Landmark, english bool) string {
	parts := []string{l.localName(english)}
	if l.road != l.Name {
		parts = append(parts, l.road)
	}
	parts = append(parts, l.suburb)
	if l.borough != l.suburb {
		parts = append(parts, l.borough)
	}
	parts = append(parts, "Berlin", l.postcode, countryName(english))
	return strings.Join(parts, ", ")
}

func toNominatim(l Landmark, en, details bool) nominatimPlace {
	p := nominatimPlace{
		PlaceID: l.placeID, Licence: osmLicence, OSMType: l.osmType, OSMID: l.osmID,
		Lat: fmtCoord(l.Point.Lat), Lon: fmtCoord(l.Point.Lon),
		Category: l.category, Type: l.typ, PlaceRank: l.placeRank, Importance: l.importance,
		Addresstype: l.addresstype, Name: l.localName(en), DisplayName: NominatimDisplayName(l, en),
		Boundingbox: [4]string{
			fmtCoord(l.Point.Lat - 0.0005), fmtCoord(l.Point.Lat + 0.0005),
			fmtCoord(l.Point.Lon - 0.0008), fmtCoord(l.Point.Lon + 0.0008),
		},
	}
	if details {
		p.Address = map[string]string{
			l.addresstype:    l.localName(en),
			"road":           l.road,
			"suburb":         l.suburb,
			"borough":        l.borough,
			"city":           "Berlin",
			"ISO3166-2-lvl4": "DE-BE",
			"postcode":       l.postcode,
			"country":        countryName(en),
			"country_code":   "de",
		}
	}
	return p
}

func (d nominatimDialect) ok(w http.ResponseWriter, r *http.Request, kind string) {
	q := query(r)
	if f := q.Get("format"); f != "jsonv2" {
		nominatimError(w, http.StatusBadRequest, "fake supports only format=jsonv2, got "+strconv.Quote(f))
		return
	}
	en := english(q.Get("accept-language"))
	switch kind {
	case "search":
		d.search(w, q.Get("q"), q.Get("limit"), q.Get("countrycodes"), en, q.Get("addressdetails") == "1")
	case "reverse":
		lat, err1 := strconv.ParseFloat(q.Get("lat"), 64)
		lon, err2 := strconv.ParseFloat(q.Get("lon"), 64)
		pt := domain.LatLng{Lat: lat, Lon: lon}
		if err1 != nil || err2 != nil || pt.Validate() != nil {
			nominatimError(w, http.StatusBadRequest, "Need coordinates or OSM object to lookup.")
			return
		}
		l, found := nearestLandmark(pt)
		if !found {
			d.noRoute(w, r, kind)
			return
		}
		// Reverse includes the address unless addressdetails=0.
		writeJSON(w, http.StatusOK, toNominatim(l, en, q.Get("addressdetails") != "0"))
	default:
		nominatimError(w, http.StatusNotFound, "Unknown endpoint "+r.URL.Path)
	}
}

func (nominatimDialect) search(w http.ResponseWriter, query, limit, countries string, en, details bool) {
	if strings.TrimSpace(query) == "" {
		nominatimError(w, http.StatusBadRequest, "Nominatim needs a query in the q parameter.")
		return
	}
	n := 10
	if limit != "" {
		v, err := strconv.Atoi(limit)
		if err != nil {
			nominatimError(w, http.StatusBadRequest, "Integer parameter 'limit' expected.")
			return
		}
		n = max(1, min(v, 40))
	}
	out := []nominatimPlace{}
	if countries == "" || slices.Contains(strings.Split(strings.ToLower(strings.ReplaceAll(countries, " ", "")), ","), "de") {
		for _, l := range searchLandmarks(query) {
			if len(out) == n {
				break
			}
			out = append(out, toNominatim(l, en, details))
		}
	}
	writeJSON(w, http.StatusOK, out)
}
