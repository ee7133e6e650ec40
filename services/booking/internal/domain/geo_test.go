package domain

import (
	"errors"
	"math"
	"testing"
)

func square(minLat, minLon, maxLat, maxLon float64) []Point {
	return []Point{{minLat, minLon}, {minLat, maxLon}, {maxLat, maxLon}, {maxLat, minLon}, {minLat, minLon}}
}

func TestPolygonContains(t *testing.T) {
	withHole := Polygon{square(52.50, 13.40, 52.51, 13.42), square(52.504, 13.408, 52.506, 13.412)}
	tests := []struct {
		name string
		p    Point
		want bool
	}{
		{"inside outer ring", Point{52.502, 13.402}, true},
		{"inside the hole", Point{52.505, 13.41}, false},
		{"north of the polygon", Point{52.52, 13.41}, false},
		{"west of the polygon", Point{52.505, 13.39}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := withHole.Contains(tt.p); got != tt.want {
				t.Fatalf("Contains(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestPolygonValidate(t *testing.T) {
	tests := []struct {
		name string
		pg   Polygon
		ok   bool
	}{
		{"closed square", Polygon{square(52.5, 13.4, 52.51, 13.42)}, true},
		{"no ring", Polygon{}, false},
		{"open ring", Polygon{square(52.5, 13.4, 52.51, 13.42)[:4]}, false},
		{"too few positions", Polygon{{{52.5, 13.4}, {52.6, 13.4}, {52.5, 13.4}}}, false},
		{"latitude out of range", Polygon{square(89.5, 13.4, 91, 13.42)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.pg.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
		})
	}
}

func TestDistanceM(t *testing.T) {
	// Brandenburg Gate → Alexanderplatz is about 2.5 km as the crow flies.
	d := DistanceM(Point{52.5163, 13.3777}, Point{52.5219, 13.4132})
	if math.Abs(d-2_480) > 60 {
		t.Fatalf("distance = %.0f m, want about 2480 m", d)
	}
	if DistanceM(Point{52.5, 13.4}, Point{52.5, 13.4}) != 0 {
		t.Fatal("distance to itself is not zero")
	}
}

func TestMoneyScaleRoundsHalfAwayFromZero(t *testing.T) {
	tests := []struct {
		m    int64
		f    float64
		want int64
	}{{25, 1.5, 38}, {25, 0.5, 13}, {100, 2.5, 250}, {-25, 1.5, -38}, {33, 1, 33}}
	for _, tt := range tests {
		if got := (Money{tt.m, "EUR"}).Scale(tt.f).AmountMinor; got != tt.want {
			t.Errorf("%d × %v = %d, want %d", tt.m, tt.f, got, tt.want)
		}
	}
}
