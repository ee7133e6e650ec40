package providerfake

import (
	"slices"
	"strings"

	"github.com/mobilitycorp/platform/services/maps-proxy/internal/domain"
)

// Landmark is one of the real Berlin places the Nominatim and Google fakes know.
// Coordinates are the places' real centroids; OSM and place ids are illustrative.
type Landmark struct {
	Name    string // local (German) name
	NameEN  string // English name; equals Name when there is none
	Point   domain.LatLng
	Aliases []string // other spellings a search matches, lower case

	category, typ, addresstype string // Nominatim class, type, addresstype
	placeRank                  int
	importance                 float64
	osmType                    string
	osmID, placeID             int64
	road, suburb, borough      string
	postcode                   string
	googleTypes                []string
}

// reverseRadiusMeters is how close a point must be to a landmark for reverse geocoding to find it.
const reverseRadiusMeters = 150

// landmarks is the fakes' gazetteer, most important first.
func landmarks() []Landmark {
	return []Landmark{
		{
			Name: "Brandenburger Tor", NameEN: "Brandenburg Gate",
			Point:    domain.LatLng{Lat: 52.5162746, Lon: 13.3777041},
			Aliases:  []string{"brandenburg gate"},
			category: "tourism", typ: "attraction", addresstype: "tourism", placeRank: 30, importance: 0.6326,
			osmType: "way", osmID: 518071791, placeID: 132603386,
			road: "Pariser Platz", suburb: "Mitte", borough: "Mitte", postcode: "10117",
			googleTypes: []string{"tourist_attraction", "point_of_interest", "establishment"},
		},
		{
			Name: "Berlin Hauptbahnhof", NameEN: "Berlin Central Station",
			Point:    domain.LatLng{Lat: 52.5250839, Lon: 13.369402},
			Aliases:  []string{"hauptbahnhof", "berlin hbf", "central station"},
			category: "railway", typ: "station", addresstype: "railway", placeRank: 30, importance: 0.5818,
			osmType: "node", osmID: 3856100103, placeID: 132188945,
			road: "Europaplatz", suburb: "Moabit", borough: "Mitte", postcode: "10557",
			googleTypes: []string{"train_station", "transit_station", "point_of_interest", "establishment"},
		},
		{
			Name: "Berliner Fernsehturm", NameEN: "Berlin TV Tower",
			Point:    domain.LatLng{Lat: 52.5208182, Lon: 13.4094046},
			Aliases:  []string{"fernsehturm", "tv tower"},
			category: "man_made", typ: "tower", addresstype: "man_made", placeRank: 30, importance: 0.5701,
			osmType: "way", osmID: 25016193, placeID: 131829611,
			road: "Panoramastraße", suburb: "Mitte", borough: "Mitte", postcode: "10178",
			googleTypes: []string{"tourist_attraction", "point_of_interest", "establishment"},
		},
		{
			Name: "Alexanderplatz", NameEN: "Alexanderplatz",
			Point:    domain.LatLng{Lat: 52.5219184, Lon: 13.4132147},
			Aliases:  []string{"alex"},
			category: "place", typ: "square", addresstype: "square", placeRank: 25, importance: 0.5456,
			osmType: "way", osmID: 4067975, placeID: 131982204,
			road: "Alexanderplatz", suburb: "Mitte", borough: "Mitte", postcode: "10178",
			googleTypes: []string{"route"},
		},
		{
			Name: "Potsdamer Platz", NameEN: "Potsdamer Platz",
			Point:    domain.LatLng{Lat: 52.5096488, Lon: 13.3759441},
			category: "place", typ: "square", addresstype: "square", placeRank: 25, importance: 0.5289,
			osmType: "way", osmID: 23835306, placeID: 132409217,
			road: "Potsdamer Platz", suburb: "Tiergarten", borough: "Mitte", postcode: "10785",
			googleTypes: []string{"route"},
		},
		{
			Name: "Checkpoint Charlie", NameEN: "Checkpoint Charlie",
			Point:    domain.LatLng{Lat: 52.5075459, Lon: 13.3903685},
			category: "tourism", typ: "attraction", addresstype: "tourism", placeRank: 30, importance: 0.5037,
			osmType: "node", osmID: 1585848869, placeID: 131475033,
			road: "Friedrichstraße", suburb: "Kreuzberg", borough: "Friedrichshain-Kreuzberg", postcode: "10969",
			googleTypes: []string{"tourist_attraction", "point_of_interest", "establishment"},
		},
		{
			Name: "Tempelhofer Feld", NameEN: "Tempelhof Field",
			Point:    domain.LatLng{Lat: 52.4754719, Lon: 13.4018898},
			Aliases:  []string{"tempelhof"},
			category: "leisure", typ: "park", addresstype: "leisure", placeRank: 24, importance: 0.4812,
			osmType: "relation", osmID: 2658232, placeID: 159735478,
			road: "Tempelhofer Damm", suburb: "Tempelhof", borough: "Tempelhof-Schöneberg", postcode: "12101",
			googleTypes: []string{"park", "point_of_interest", "establishment"},
		},
	}
}

// Landmarks lists the places the Nominatim and Google fakes can find, most
// important first. A search matches a landmark when, case-insensitively, the query
// contains its name, English name or an alias, or is part of one of them.
func Landmarks() []Landmark { return landmarks() }

// searchLandmarks returns the landmarks a free-text query matches, most important first.
func searchLandmarks(q string) []Landmark {
	q = strings.ToLower(strings.TrimSpace(q))
	if len(q) < 2 {
		return nil
	}
	var out []Landmark
	for _, l := range landmarks() {
		names := append([]string{strings.ToLower(l.Name), strings.ToLower(l.NameEN)}, l.Aliases...)
		if slices.ContainsFunc(names, func(n string) bool { return strings.Contains(q, n) || strings.Contains(n, q) }) {
			out = append(out, l)
		}
	}
	return out
}

// nearestLandmark is the closest landmark within reverseRadiusMeters of p.
func nearestLandmark(p domain.LatLng) (Landmark, bool) {
	var best Landmark
	bestD := float64(reverseRadiusMeters)
	found := false
	for _, l := range landmarks() {
		if d := domain.HaversineMeters(p, l.Point); d <= bestD {
			best, bestD, found = l, d, true
		}
	}
	return best, found
}

// english reports whether an accept-language / language value asks for English first.
func english(lang string) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(lang)), "en")
}

func (l Landmark) localName(en bool) string {
	if en {
		return l.NameEN
	}
	return l.Name
}

func countryName(en bool) string {
	if en {
		return "Germany"
	}
	return "Deutschland"
}
