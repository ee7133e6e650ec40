package domain_test

import (
	"errors"
	"math"
	"testing"

	"github.com/mobilitycorp/platform/services/maps-proxy/internal/domain"
)

func TestHaversineKnownDistance(t *testing.T) {
	// Berlin Hauptbahnhof → Alexanderplatz is about 2.9 km as the crow flies.
	hbf := domain.LatLng{Lat: 52.5251, Lon: 13.3694}
	alex := domain.LatLng{Lat: 52.5219, Lon: 13.4132}
	if d := domain.HaversineMeters(hbf, alex); d < 2900 || d > 3050 {
		t.Fatalf("distance %v m, want about 2,980 m", d)
	}
	if d := domain.HaversineMeters(hbf, hbf); d != 0 {
		t.Fatalf("distance to itself %v", d)
	}
}

func TestEstimatorIsSlowerOnFootThanByCar(t *testing.T) {
	e := domain.NewEstimator()
	a, b := domain.LatLng{Lat: 52.52, Lon: 13.40}, domain.LatLng{Lat: 52.50, Lon: 13.45}
	footD, footT := e.Leg(a, b, domain.ProfileFoot)
	carD, carT := e.Leg(a, b, domain.ProfileCar)
	if footT <= carT || footD <= 0 || carD < footD {
		t.Fatalf("foot %v m/%v s, car %v m/%v s", footD, footT, carD, carT)
	}
	r := e.Route(domain.RouteRequest{From: a, To: b, Waypoints: []domain.LatLng{{Lat: 52.51, Lon: 13.42}}, Profile: domain.ProfileBike})
	pts, err := domain.DecodePolyline(r.Polyline)
	if err != nil || len(pts) != 3 {
		t.Fatalf("polyline %q -> %v, %v", r.Polyline, pts, err)
	}
	if math.Abs(pts[1].Lat-52.51) > 1e-5 {
		t.Fatalf("waypoint lost: %v", pts)
	}
}

func TestValidation(t *testing.T) {
	ok := domain.LatLng{Lat: 52.5, Lon: 13.4}
	tests := []struct {
		name string
		err  error
	}{
		{"lat out of range", domain.LatLng{Lat: 91, Lon: 0}.Validate()},
		{"nan", domain.LatLng{Lat: math.NaN(), Lon: 0}.Validate()},
		{"too many waypoints", domain.RouteRequest{From: ok, To: ok, Waypoints: make([]domain.LatLng, domain.MaxWaypoints+1)}.Validate()},
		{"empty matrix", domain.MatrixRequest{Sources: []domain.LatLng{ok}}.Validate()},
		{"matrix too big", domain.MatrixRequest{Sources: make([]domain.LatLng, 26), Destinations: make([]domain.LatLng, 25)}.Validate()},
		{"short query", domain.GeocodeRequest{Query: "a", Limit: 1}.Validate()},
		{"limit", domain.GeocodeRequest{Query: "Alexanderplatz", Limit: 0}.Validate()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !errors.Is(tc.err, domain.ErrInvalidInput) {
				t.Fatalf("err = %v, want ErrInvalidInput", tc.err)
			}
		})
	}
	if _, err := domain.ParseProfile("hoverboard"); !errors.Is(err, domain.ErrInvalidInput) {
		t.Fatalf("profile err = %v", err)
	}
}

func TestRoundedKeyIsAbout10Metres(t *testing.T) {
	a := domain.LatLng{Lat: 52.520012, Lon: 13.404954}
	b := domain.LatLng{Lat: 52.520031, Lon: 13.404981} // about 3 m away
	c := domain.LatLng{Lat: 52.520300, Lon: 13.404954} // about 32 m away
	if a.Key() != b.Key() {
		t.Fatalf("%s != %s", a.Key(), b.Key())
	}
	if a.Key() == c.Key() {
		t.Fatalf("points 32 m apart share key %s", a.Key())
	}
}
