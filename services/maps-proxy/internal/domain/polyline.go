package domain

import (
	"fmt"

	"github.com/twpayne/go-polyline"
)

// EncodePolyline encodes points in Google's encoded polyline format (precision 5),
// the format OSRM and Google return and map SDKs draw.
func EncodePolyline(pts []LatLng) string {
	coords := make([][]float64, len(pts))
	for i, p := range pts {
		coords[i] = []float64{p.Lat, p.Lon}
	}
	return string(polyline.EncodeCoords(coords))
}

// DecodePolyline is the inverse of EncodePolyline.
func DecodePolyline(s string) ([]LatLng, error) {
	coords, rest, err := polyline.DecodeCoords([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("decode polyline: %w", err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("decode polyline: %d trailing bytes", len(rest))
	}
	pts := make([]LatLng, len(coords))
	for i, c := range coords {
		pts[i] = LatLng{Lat: c[0], Lon: c[1]}
	}
	return pts, nil
}
