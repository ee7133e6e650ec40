package domain

import (
	"fmt"
	"math"
)

// Point is a WGS84 position.
type Point struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// Validate checks the ranges.
func (p Point) Validate() error {
	if math.IsNaN(p.Lat) || math.IsNaN(p.Lon) || p.Lat < -90 || p.Lat > 90 || p.Lon < -180 || p.Lon > 180 {
		return fmt.Errorf("%w: point (%v, %v) is outside lat [-90, 90] / lon [-180, 180]", ErrInvalid, p.Lat, p.Lon)
	}
	return nil
}

const earthRadiusM = 6_371_008.8

// DistanceM is the great-circle (haversine) distance in metres.
func DistanceM(a, b Point) float64 {
	φ1, φ2 := a.Lat*math.Pi/180, b.Lat*math.Pi/180
	dφ, dλ := φ2-φ1, (b.Lon-a.Lon)*math.Pi/180
	h := math.Sin(dφ/2)*math.Sin(dφ/2) + math.Cos(φ1)*math.Cos(φ2)*math.Sin(dλ/2)*math.Sin(dλ/2)
	return 2 * earthRadiusM * math.Asin(math.Min(1, math.Sqrt(h)))
}

// Polygon is a GeoJSON polygon: an outer ring then optional holes, each ring a
// closed list of points (first == last). At city scale a planar test on lon/lat
// is accurate to centimetres, so containment needs no projection.
type Polygon [][]Point

// Validate checks GeoJSON's rules: at least one ring, each closed with ≥ 4 positions.
func (pg Polygon) Validate() error {
	if len(pg) == 0 {
		return fmt.Errorf("%w: polygon has no ring", ErrInvalid)
	}
	for i, ring := range pg {
		if len(ring) < 4 {
			return fmt.Errorf("%w: polygon ring %d has %d positions, needs at least 4", ErrInvalid, i, len(ring))
		}
		if ring[0] != ring[len(ring)-1] {
			return fmt.Errorf("%w: polygon ring %d is not closed (first position must equal the last)", ErrInvalid, i)
		}
		for _, p := range ring {
			if err := p.Validate(); err != nil {
				return err
			}
		}
	}
	return nil
}

// Contains reports whether p lies inside the outer ring and outside every hole
// (even-odd ray casting; a point exactly on an edge may fall either way).
func (pg Polygon) Contains(p Point) bool {
	if len(pg) == 0 || !inRing(pg[0], p) {
		return false
	}
	for _, hole := range pg[1:] {
		if inRing(hole, p) {
			return false
		}
	}
	return true
}

func inRing(ring []Point, p Point) bool {
	in := false
	for i, j := 0, len(ring)-1; i < len(ring); j, i = i, i+1 {
		a, b := ring[i], ring[j]
		if (a.Lat > p.Lat) != (b.Lat > p.Lat) &&
			p.Lon < (b.Lon-a.Lon)*(p.Lat-a.Lat)/(b.Lat-a.Lat)+a.Lon {
			in = !in
		}
	}
	return in
}

// Centroid is the mean of the outer ring's distinct vertices: good enough to
// place a bay on a map or search around it.
func (pg Polygon) Centroid() Point {
	if len(pg) == 0 || len(pg[0]) < 2 {
		return Point{}
	}
	ring := pg[0][:len(pg[0])-1]
	var c Point
	for _, p := range ring {
		c.Lat += p.Lat
		c.Lon += p.Lon
	}
	n := float64(len(ring))
	return Point{Lat: c.Lat / n, Lon: c.Lon / n}
}
