package app

import (
	"encoding/binary"
	"errors"
	"math"

	"github.com/mobilitycorp/platform/services/maps-proxy/internal/domain"
)

// Matrix cells are the most numerous cache entries (up to 625 per request), so
// they use a fixed binary layout rather than JSON: about 10× faster to decode and
// a third of the size in Redis.
//
//	[0]     format (1)
//	[1]     flags: bit 0 = reachable
//	[2:10]  distance in metres, float64 little-endian
//	[10:18] duration in seconds, float64 little-endian
//	[18:]   source
const (
	cellFormat     = 1
	cellHeaderSize = 18
)

func encodeCell(c domain.MatrixCell) []byte {
	b := make([]byte, cellHeaderSize, cellHeaderSize+len(c.Source))
	b[0] = cellFormat
	if c.Reachable {
		b[1] = 1
	}
	binary.LittleEndian.PutUint64(b[2:], math.Float64bits(c.DistanceMeters))
	binary.LittleEndian.PutUint64(b[10:], math.Float64bits(c.DurationSeconds))
	return append(b, c.Source...)
}

func decodeCell(b []byte) (domain.MatrixCell, error) {
	if len(b) < cellHeaderSize || b[0] != cellFormat {
		return domain.MatrixCell{}, errors.New("not an encoded matrix cell")
	}
	return domain.MatrixCell{
		Reachable:       b[1]&1 == 1,
		DistanceMeters:  math.Float64frombits(binary.LittleEndian.Uint64(b[2:])),
		DurationSeconds: math.Float64frombits(binary.LittleEndian.Uint64(b[10:])),
		Source:          string(b[cellHeaderSize:]),
	}, nil
}
