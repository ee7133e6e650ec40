package providerfake_test

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mobilitycorp/platform/services/maps-proxy/internal/adapters/providerfake"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/domain"
)

// get fetches url with an identifying User-Agent and decodes the JSON body.
func get(t *testing.T, url string, out any) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", "providerfake-test/1.0 (test@example.com)")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("%s: %v in %s", url, err, body)
		}
	}
	return resp.StatusCode
}

func keys(m map[string]any) string { return strings.Join(slices.Sorted(maps.Keys(m)), ",") }

func TestOSRMRouteWireShape(t *testing.T) {
	t.Parallel()
	f := providerfake.NewOSRM(t)
	var body map[string]any
	status := get(t, f.URL()+"/route/v1/foot/13.3694,52.5251;13.4132,52.5219?overview=full&geometries=polyline&alternatives=false&steps=false", &body)
	if status != 200 || body["code"] != "Ok" {
		t.Fatalf("status %d body %v", status, body)
	}
	if got := keys(body); got != "code,routes,waypoints" {
		t.Fatalf("top-level keys %s", got)
	}
	route := body["routes"].([]any)[0].(map[string]any)
	if got := keys(route); got != "distance,duration,geometry,legs,weight,weight_name" {
		t.Fatalf("route keys %s", got)
	}
	// Hbf → Alex is about 2,980 m as the crow flies.
	if d := route["distance"].(float64); math.Abs(d-2980*providerfake.DetourFactor) > 60 {
		t.Fatalf("distance %v", d)
	}
	if dur, d := route["duration"].(float64), route["distance"].(float64); math.Abs(dur-d/(5/3.6)) > 0.2 {
		t.Fatalf("duration %v for %v m on foot", dur, d)
	}
	if route["weight_name"] != "routability" {
		t.Fatalf("weight_name %v", route["weight_name"])
	}
	leg := route["legs"].([]any)[0].(map[string]any)
	if got := keys(leg); got != "distance,duration,steps,summary,weight" {
		t.Fatalf("leg keys %s", got)
	}
	wp := body["waypoints"].([]any)[0].(map[string]any)
	if got := keys(wp); got != "distance,hint,location,name" {
		t.Fatalf("waypoint keys %s", got)
	}
	// Locations are [lon, lat] like everything in OSRM.
	if loc := wp["location"].([]any); loc[0].(float64) != 13.3694 || loc[1].(float64) != 52.5251 {
		t.Fatalf("location %v", loc)
	}
	pts, err := domain.DecodePolyline(route["geometry"].(string))
	if err != nil || len(pts) != 2 || pts[0].Key() != "52.5251,13.3694" {
		t.Fatalf("geometry %v %v", pts, err)
	}
}

func TestOSRMTableWireShape(t *testing.T) {
	t.Parallel()
	f := providerfake.NewOSRM(t)
	island := domain.LatLng{Lat: 52.4755, Lon: 13.4019}
	f.SetUnreachable(island)
	var body struct {
		Code         string       `json:"code"`
		Durations    [][]*float64 `json:"durations"`
		Distances    [][]*float64 `json:"distances"`
		Sources      []any        `json:"sources"`
		Destinations []any        `json:"destinations"`
	}
	// Literal ';' as in OSRM's docs: Go's url.ParseQuery would drop these pairs.
	status := get(t, f.URL()+"/table/v1/driving/13.3694,52.5251;13.4132,52.5219;13.4019,52.4755?sources=0&destinations=1;2&annotations=duration,distance", &body)
	if status != 200 || body.Code != "Ok" || len(body.Sources) != 1 || len(body.Destinations) != 2 {
		t.Fatalf("status %d body %+v", status, body)
	}
	if body.Durations[0][0] == nil || body.Distances[0][0] == nil || body.Durations[0][1] != nil || body.Distances[0][1] != nil {
		t.Fatalf("want [[x, null]]: durations %v distances %v", body.Durations, body.Distances)
	}
	want := providerfake.OSRMCell(domain.LatLng{Lat: 52.5251, Lon: 13.3694}, domain.LatLng{Lat: 52.5219, Lon: 13.4132}, "driving")
	if *body.Distances[0][0] != want.DistanceMeters || *body.Durations[0][0] != want.DurationSeconds {
		t.Fatalf("cell %v/%v, want %+v", *body.Distances[0][0], *body.Durations[0][0], want)
	}
	if f.Calls("table") != 1 || f.Calls("route") != 0 || f.TotalCalls() != 1 {
		t.Fatalf("calls table=%d route=%d total=%d", f.Calls("table"), f.Calls("route"), f.TotalCalls())
	}
	if f.LastQuery().Get("destinations") != "1;2" {
		t.Fatalf("recorded destinations %q", f.LastQuery().Get("destinations"))
	}
}

func TestOSRMRejectsWhatOSRMRejects(t *testing.T) {
	t.Parallel()
	f := providerfake.NewOSRM(t)
	tests := []struct {
		path, code string
	}{
		{"/route/v1/foot/13.3694,52.5251", "InvalidOptions"},             // one coordinate
		{"/route/v1/foot/52.5251,213.3694;13.4,52.5", "InvalidQuery"},    // lon out of range
		{"/route/v1/hovercraft/13.3694,52.5251;13.4,52.5", "InvalidUrl"}, // unknown profile
		{"/route/v1/foot/13.3694,52.5251;13.4,52.5?geometries=wkt", "InvalidOptions"},
	}
	for _, tc := range tests {
		var body map[string]string
		if status := get(t, f.URL()+tc.path, &body); status != 400 || body["code"] != tc.code || body["message"] == "" {
			t.Errorf("%s: %d %v, want 400 %s", tc.path, status, body, tc.code)
		}
	}
}

func TestNominatimWireShape(t *testing.T) {
	t.Parallel()
	f := providerfake.NewNominatim(t)
	var results []map[string]any
	if status := get(t, f.URL()+"/search?q=POTSDAMER+platz&format=jsonv2&addressdetails=1&limit=5", &results); status != 200 || len(results) != 1 {
		t.Fatalf("status %d results %v", status, results)
	}
	r := results[0]
	if got := keys(r); got != "address,addresstype,boundingbox,category,display_name,importance,lat,licence,lon,name,osm_id,osm_type,place_id,place_rank,type" {
		t.Fatalf("keys %s", got)
	}
	// Nominatim sends coordinates and bounding boxes as strings.
	if r["lat"] != "52.5096488" || r["lon"] != "13.3759441" {
		t.Fatalf("lat/lon %#v %#v", r["lat"], r["lon"])
	}
	if bb, ok := r["boundingbox"].([]any); !ok || len(bb) != 4 {
		t.Fatalf("boundingbox %#v", r["boundingbox"])
	} else if _, ok := bb[0].(string); !ok {
		t.Fatalf("boundingbox entries are %T, want string", bb[0])
	}
	if _, ok := r["place_id"].(float64); !ok {
		t.Fatalf("place_id is %T, want a number", r["place_id"])
	}
	if addr := r["address"].(map[string]any); addr["country_code"] != "de" || addr["postcode"] != "10785" {
		t.Fatalf("address %v", addr)
	}

	// Without addressdetails there is no address; countrycodes filters.
	var bare []map[string]any
	get(t, f.URL()+"/search?q=Potsdamer+Platz&format=jsonv2", &bare)
	if _, has := bare[0]["address"]; has {
		t.Fatalf("address without addressdetails: %v", bare[0])
	}
	var none []any
	if get(t, f.URL()+"/search?q=Potsdamer+Platz&format=jsonv2&countrycodes=fr,it", &none); len(none) != 0 {
		t.Fatalf("countrycodes=fr,it found %v", none)
	}

	var rev map[string]any
	get(t, f.URL()+"/reverse?lat=52.47&lon=13.25&format=jsonv2", &rev)
	if rev["error"] != "Unable to geocode" {
		t.Fatalf("reverse in the Grunewald: %v", rev)
	}
	if f.Calls("search") != 3 || f.Calls("reverse") != 1 {
		t.Fatalf("calls search=%d reverse=%d", f.Calls("search"), f.Calls("reverse"))
	}
}

func TestNominatimBlocksAnonymousAgents(t *testing.T) {
	t.Parallel()
	f := providerfake.NewNominatim(t)
	resp, err := http.Get(f.URL() + "/search?q=Alexanderplatz&format=jsonv2") // Go's default agent
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d, want 403", resp.StatusCode)
	}
	if r, _ := f.LastRequest(); !strings.HasPrefix(r.Header.Get("User-Agent"), "Go-http-client/") {
		t.Fatalf("recorded agent %q", r.Header.Get("User-Agent"))
	}
}

func TestGoogleKeyCheck(t *testing.T) {
	t.Parallel()
	f := providerfake.NewGoogle(t, "right-key")
	tests := []struct {
		query, status, msg string
	}{
		{"address=Alexanderplatz", "REQUEST_DENIED", "You must use an API key"},
		{"address=Alexanderplatz&key=wrong", "REQUEST_DENIED", "The provided API key is invalid."},
		{"address=Alexanderplatz&key=right-key", "OK", ""},
	}
	for _, tc := range tests {
		var body map[string]any
		if get(t, f.URL()+"/maps/api/geocode/json?"+tc.query, &body); body["status"] != tc.status {
			t.Fatalf("%s: status %v", tc.query, body["status"])
		}
		if msg, _ := body["error_message"].(string); !strings.HasPrefix(msg, tc.msg) || (tc.msg == "") != (msg == "") {
			t.Fatalf("%s: error_message %q", tc.query, msg)
		}
		if _, ok := body["results"].([]any); !ok {
			t.Fatalf("%s: results missing: %v", tc.query, body)
		}
	}
	if f.Calls("geocode") != 3 {
		t.Fatalf("refused requests must count too: %d", f.Calls("geocode"))
	}
}

func TestGoogleWireShapes(t *testing.T) {
	t.Parallel()
	f := providerfake.NewGoogle(t, "k")
	var dir struct {
		Status            string           `json:"status"`
		GeocodedWaypoints []map[string]any `json:"geocoded_waypoints"`
		Routes            []struct {
			Legs []struct {
				Distance struct {
					Text  string `json:"text"`
					Value int    `json:"value"`
				} `json:"distance"`
				Duration struct {
					Text  string `json:"text"`
					Value int    `json:"value"`
				} `json:"duration"`
				StartLocation map[string]float64 `json:"start_location"`
			} `json:"legs"`
			OverviewPolyline struct {
				Points string `json:"points"`
			} `json:"overview_polyline"`
		} `json:"routes"`
	}
	get(t, f.URL()+"/maps/api/directions/json?origin=52.5251,13.3694&destination=52.5219,13.4132&waypoints=via:52.5163,13.3777|52.5096,13.3759&mode=walking&key=k", &dir)
	if dir.Status != "OK" || len(dir.GeocodedWaypoints) != 4 || len(dir.Routes) != 1 {
		t.Fatalf("directions %+v", dir)
	}
	// The stopover splits the route into two legs; the via point does not.
	if legs := dir.Routes[0].Legs; len(legs) != 2 || legs[0].Distance.Value <= 0 || !strings.HasSuffix(legs[0].Distance.Text, "km") ||
		legs[0].StartLocation["lat"] != 52.5251 || legs[0].StartLocation["lng"] != 13.3694 {
		t.Fatalf("legs %+v", legs)
	}

	var m struct {
		Status string   `json:"status"`
		Origin []string `json:"origin_addresses"`
		Rows   []struct {
			Elements []map[string]any `json:"elements"`
		} `json:"rows"`
	}
	get(t, f.URL()+"/maps/api/distancematrix/json?origins=52.5251,13.3694|Atlantis&destinations=52.5219,13.4132&mode=driving&key=k", &m)
	if m.Status != "OK" || len(m.Rows) != 2 || m.Rows[0].Elements[0]["status"] != "OK" || m.Rows[1].Elements[0]["status"] != "NOT_FOUND" {
		t.Fatalf("matrix %+v", m)
	}
	if m.Origin[0] != "Berlin Central Station, Europaplatz, 10557 Berlin, Germany" {
		t.Fatalf("origin address %q", m.Origin[0])
	}

	many := strings.Repeat("52.5,13.4|", 10) + "52.5,13.4"
	var tooMany map[string]any
	get(t, f.URL()+"/maps/api/distancematrix/json?origins="+many+"&destinations="+strings.Repeat("52.51,13.41|", 9)+"52.51,13.41&key=k", &tooMany)
	if tooMany["status"] != "MAX_ELEMENTS_EXCEEDED" {
		t.Fatalf("11×10 elements: %v", tooMany["status"])
	}

	var geo struct {
		Status  string `json:"status"`
		Results []struct {
			FormattedAddress string `json:"formatted_address"`
			Geometry         struct {
				Location     map[string]float64 `json:"location"`
				LocationType string             `json:"location_type"`
			} `json:"geometry"`
			AddressComponents []map[string]any `json:"address_components"`
			PlaceID           string           `json:"place_id"`
		} `json:"results"`
	}
	get(t, f.URL()+"/maps/api/geocode/json?address=tempelhofer+feld&language=de&key=k", &geo)
	if geo.Status != "OK" || len(geo.Results) != 1 || geo.Results[0].FormattedAddress != "Tempelhofer Feld, Tempelhofer Damm, 12101 Berlin, Deutschland" ||
		geo.Results[0].Geometry.Location["lat"] != 52.4754719 || geo.Results[0].PlaceID == "" || len(geo.Results[0].AddressComponents) < 5 {
		t.Fatalf("geocode %+v", geo)
	}
	get(t, f.URL()+"/maps/api/geocode/json?address=tempelhofer+feld&components=country:FR&key=k", &geo)
	if geo.Status != "ZERO_RESULTS" {
		t.Fatalf("country:FR status %q", geo.Status)
	}
}

func TestModesQueueThenFallBack(t *testing.T) {
	t.Parallel()
	f := providerfake.NewOSRM(t)
	f.SetMode(providerfake.ModeNoRoute())
	f.QueueModes(providerfake.ModeServerError(), providerfake.ModeOK())
	url := f.URL() + "/route/v1/bike/13.3694,52.5251;13.4132,52.5219"
	var statuses []int
	for range 3 {
		statuses = append(statuses, get(t, url, nil))
	}
	if statuses[0] != 500 || statuses[1] != 200 || statuses[2] != 400 {
		t.Fatalf("statuses %v, want [500 200 400]", statuses)
	}
	if f.Calls("route") != 3 {
		t.Fatalf("calls %d", f.Calls("route"))
	}
}

func TestSlowModeAnswersAfterTheDelay(t *testing.T) {
	t.Parallel()
	f := providerfake.NewOSRM(t)
	f.SetMode(providerfake.ModeTimeout(10 * time.Millisecond))
	var body map[string]any
	if status := get(t, f.URL()+"/route/v1/bike/13.3694,52.5251;13.4132,52.5219", &body); status != 200 || body["code"] != "Ok" {
		t.Fatalf("status %d body %v", status, body)
	}
}

// A request held by ModeTimeout does not outlive the fake: Close releases it and
// waits for the handler, so nothing leaks past the test.
func TestCloseReleasesHeldRequests(t *testing.T) {
	t.Parallel()
	f := providerfake.NewGoogle(t, "k")
	f.SetMode(providerfake.ModeTimeout(time.Hour))

	done := make(chan int, 1)
	go func() {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, f.URL()+"/maps/api/geocode/json?address=x&key=k", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- -1
			return
		}
		_ = resp.Body.Close()
		done <- resp.StatusCode
	}()
	for f.InFlight() == 0 {
		time.Sleep(time.Millisecond)
	}
	f.Close() // must return although the handler was told to wait an hour
	if n := f.InFlight(); n != 0 {
		t.Fatalf("%d handlers still running after Close", n)
	}
	if status := <-done; status != http.StatusServiceUnavailable && status != -1 {
		t.Fatalf("held request got %d", status)
	}
}

func TestHelpersMatchTheProfileSpeeds(t *testing.T) {
	t.Parallel()
	a, b := domain.LatLng{Lat: 52.5251, Lon: 13.3694}, domain.LatLng{Lat: 52.5219, Lon: 13.4132}
	foot := providerfake.OSRMCell(a, b, "foot")
	car := providerfake.GoogleCell(a, b, "driving")
	if foot.DurationSeconds <= car.DurationSeconds*5 || !foot.Reachable || !car.Reachable {
		t.Fatalf("foot %+v vs car %+v", foot, car)
	}
	if _, ok := providerfake.SpeedMPS("hovercraft"); ok {
		t.Fatal("unknown profile has a speed")
	}
	if got := len(providerfake.Landmarks()); got < 5 {
		t.Fatalf("%d landmarks", got)
	}
}
