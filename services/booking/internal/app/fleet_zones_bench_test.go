package app

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mobilitycorp/platform/services/booking/internal/domain"
)

// benchZones lays out cities cities of 0.3° × 0.4°, each with an operating
// area and perCity small zones (no-parking, slow, no-ride-through) inside.
func benchZones(cities, perCity int) []domain.Zone {
	rnd := rand.New(rand.NewPCG(1, 2))
	rect := func(lat, lon, dLat, dLon float64) domain.Polygon {
		return domain.Polygon{{{Lat: lat, Lon: lon}, {Lat: lat, Lon: lon + dLon}, {Lat: lat + dLat, Lon: lon + dLon},
			{Lat: lat + dLat, Lon: lon}, {Lat: lat, Lon: lon}}}
	}
	kinds := []domain.ZoneKind{domain.ZoneNoParking, domain.ZoneSlow, domain.ZoneNoRideThrough}
	var zs []domain.Zone
	for c := range cities {
		lat, lon := 40+float64(c%10)*1.5, -5+float64(c/10)*2
		zs = append(zs, domain.Zone{ID: fmt.Sprintf("op-%d", c), Kind: domain.ZoneOperatingArea, Active: true, Polygon: rect(lat, lon, 0.3, 0.4)})
		for i := range perCity {
			k := kinds[i%3]
			z := domain.Zone{ID: fmt.Sprintf("z-%d-%d", c, i), Kind: k, Active: true,
				Polygon: rect(lat+rnd.Float64()*0.29, lon+rnd.Float64()*0.39, 0.005, 0.008)}
			if k == domain.ZoneSlow {
				z.MaxSpeedKmh = 10
			}
			zs = append(zs, z)
		}
	}
	return zs
}

// The zone index answers "which zones hold this point" for every telemetry
// message and return check; it must stay far below a millisecond.
func BenchmarkZonesAt(b *testing.B) {
	for _, n := range []struct{ cities, perCity int }{{27, 100}, {100, 300}} {
		zs := benchZones(n.cities, n.perCity)
		f := &Fleet{}
		f.zones.Store(newZoneIndex(zs, "bench"))
		rnd := rand.New(rand.NewPCG(3, 4))
		pts := make([]domain.Point, 4096)
		for i := range pts {
			c := rnd.IntN(n.cities)
			pts[i] = domain.Point{Lat: 40 + float64(c%10)*1.5 + rnd.Float64()*0.3, Lon: -5 + float64(c/10)*2 + rnd.Float64()*0.4}
		}
		b.Run(fmt.Sprintf("zones=%d", len(zs)), func(b *testing.B) {
			ctx := context.Background()
			in := 0
			for i := 0; b.Loop(); i++ {
				if ok, _ := f.InOperatingArea(ctx, pts[i%len(pts)]); ok {
					in++
				}
				_ = f.ZonesAt(pts[(i+1)%len(pts)])
			}
			if in == 0 {
				b.Fatal("no point inside an operating area")
			}
		})
	}
}

func TestZoneIndexMatchesALinearScan(t *testing.T) {
	zs := benchZones(12, 60)
	ix := newZoneIndex(zs, "")
	rnd := rand.New(rand.NewPCG(5, 6))
	for range 5000 {
		p := domain.Point{Lat: 39.9 + rnd.Float64()*14, Lon: -5.1 + rnd.Float64()*3}
		var want []string
		for _, z := range zs {
			if z.Polygon.Contains(p) {
				want = append(want, z.ID)
			}
		}
		slices.Sort(want) // the index answers in id order
		var got []string
		for _, z := range ix.at(p) {
			got = append(got, z.ID)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("at %v: index %v, scan %v", p, got, want)
		}
	}
}
