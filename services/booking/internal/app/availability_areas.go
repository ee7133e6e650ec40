package app

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/mobilitycorp/platform/services/booking/internal/domain"
)

// OperatingAreas holds the operating-area zones of every city in memory, as
// the fleet registry defines them, so that each position report is placed in
// an area without a lookup. Reads take no lock: writers publish a new
// immutable snapshot.
type OperatingAreas struct {
	mu    sync.Mutex // serialises writers
	snap  atomic.Pointer[[]operatingArea]
	epoch atomic.Uint64 // bumped by every change
	ready chan struct{}
	once  sync.Once
}

type operatingArea struct {
	id, city string
	polygon  domain.Polygon
	box      AreaBox
}

// AreaBox is a latitude/longitude bounding box.
type AreaBox struct {
	SW, NE domain.Point
}

func (b AreaBox) contains(p domain.Point) bool {
	return p.Lat >= b.SW.Lat && p.Lat <= b.NE.Lat && p.Lon >= b.SW.Lon && p.Lon <= b.NE.Lon
}

// Union is the smallest box holding b and o.
func (b AreaBox) Union(o AreaBox) AreaBox {
	return AreaBox{
		SW: domain.Point{Lat: min(b.SW.Lat, o.SW.Lat), Lon: min(b.SW.Lon, o.SW.Lon)},
		NE: domain.Point{Lat: max(b.NE.Lat, o.NE.Lat), Lon: max(b.NE.Lon, o.NE.Lon)},
	}
}

// AreaBoxOf is the bounding box of a polygon's outer ring.
func AreaBoxOf(pg domain.Polygon) AreaBox {
	if len(pg) == 0 || len(pg[0]) == 0 {
		return AreaBox{}
	}
	b := AreaBox{SW: pg[0][0], NE: pg[0][0]}
	for _, p := range pg[0] {
		b = b.Union(AreaBox{SW: p, NE: p})
	}
	return b
}

// NewOperatingAreas returns an empty set, not yet ready.
func NewOperatingAreas() *OperatingAreas {
	a := &OperatingAreas{ready: make(chan struct{})}
	a.snap.Store(&[]operatingArea{})
	return a
}

// Upsert sets an operating area; city must be a CityKey. It returns the
// box of the previous definition, if any.
func (a *OperatingAreas) Upsert(id, city string, pg domain.Polygon) (old AreaBox, existed bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	cur := *a.snap.Load()
	next := make([]operatingArea, 0, len(cur)+1)
	for _, z := range cur {
		if z.id == id {
			old, existed = z.box, true
			continue
		}
		next = append(next, z)
	}
	next = append(next, operatingArea{id: id, city: city, polygon: pg, box: AreaBoxOf(pg)})
	// Sorted by id, so that where areas overlap the same one always wins.
	slices.SortFunc(next, func(x, y operatingArea) int { return cmp.Compare(x.id, y.id) })
	a.snap.Store(&next)
	a.epoch.Add(1)
	return old, existed
}

// Remove deletes an area and returns its box.
func (a *OperatingAreas) Remove(id string) (old AreaBox, existed bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	cur := *a.snap.Load()
	next := make([]operatingArea, 0, len(cur))
	for _, z := range cur {
		if z.id == id {
			old, existed = z.box, true
			continue
		}
		next = append(next, z)
	}
	a.snap.Store(&next)
	a.epoch.Add(1)
	return old, existed
}

// Epoch changes whenever an area does.
func (a *OperatingAreas) Epoch() uint64 { return a.epoch.Load() }

// Locate returns the operating area containing p (the first by zone id
// where areas overlap).
func (a *OperatingAreas) Locate(p domain.Point) domain.AreaMatch {
	for _, z := range *a.snap.Load() {
		if z.box.contains(p) && z.polygon.Contains(p) {
			return domain.AreaMatch{Inside: true, City: z.city, ZoneID: z.id}
		}
	}
	return domain.AreaMatch{}
}

// Len is the number of areas.
func (a *OperatingAreas) Len() int { return len(*a.snap.Load()) }

// MarkReady records that the registry has been read up to its end, so a
// position outside every known area really is outside.
func (a *OperatingAreas) MarkReady() { a.once.Do(func() { close(a.ready) }) }

// Ready is closed once MarkReady was called.
func (a *OperatingAreas) Ready() <-chan struct{} { return a.ready }
