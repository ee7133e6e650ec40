package app

import (
	"math"
	"testing"

	"github.com/mobilitycorp/platform/services/maps-proxy/internal/domain"
)

func TestCellCodecRoundTrip(t *testing.T) {
	tests := []domain.MatrixCell{
		{DistanceMeters: 1234.5678, DurationSeconds: 98.7, Reachable: true, Source: "osrm"},
		{Source: "google"},
		{DistanceMeters: math.MaxFloat64, DurationSeconds: math.SmallestNonzeroFloat64, Reachable: true, Source: domain.SourceEstimate},
		{Reachable: true},
	}
	for _, want := range tests {
		got, err := decodeCell(encodeCell(want))
		if err != nil || got != want {
			t.Fatalf("round trip %+v -> %+v, %v", want, got, err)
		}
	}
	for _, bad := range [][]byte{nil, []byte(`{"reachable":true}`), make([]byte, cellHeaderSize)} {
		if _, err := decodeCell(bad); err == nil {
			t.Fatalf("decoded %q", bad)
		}
	}
}
