package domain

import (
	"errors"
	"testing"
	"time"
)

var fleetNow = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func TestNewVehicle(t *testing.T) {
	tests := []struct {
		name    string
		v       Vehicle
		wantErr bool
	}{
		{"car with plate", Vehicle{Type: Car, Model: "ID.3", Plate: "b-mc 1234", RangeKm: 400, HomeCity: "Berlin"}, false},
		{"scooter with serial", Vehicle{Type: EScooter, Model: "Ninebot G30", Serial: "sn-0001", RangeKm: 40, HomeCity: "berlin"}, false},
		{"car without plate", Vehicle{Type: Car, Model: "ID.3", RangeKm: 400, HomeCity: "berlin"}, true},
		{"car with a serial too", Vehicle{Type: Van, Model: "eTransit", Plate: "B-MC-1", Serial: "X1", RangeKm: 300, HomeCity: "berlin"}, true},
		{"bike with a plate", Vehicle{Type: EBike, Model: "Cowboy", Plate: "B-1", Serial: "SN1", RangeKm: 60, HomeCity: "berlin"}, true},
		{"bike without serial", Vehicle{Type: EBike, Model: "Cowboy", RangeKm: 60, HomeCity: "berlin"}, true},
		{"zero range", Vehicle{Type: EBike, Model: "Cowboy", Serial: "SN1", HomeCity: "berlin"}, true},
		{"unknown type", Vehicle{Type: "bus", Model: "X", Plate: "B-1", RangeKm: 100, HomeCity: "berlin"}, true},
		{"no model", Vehicle{Type: EBike, Serial: "SN1", RangeKm: 60, HomeCity: "berlin"}, true},
		{"no city", Vehicle{Type: EBike, Model: "Cowboy", Serial: "SN1", RangeKm: 60}, true},
		{"bad status", Vehicle{Type: EBike, Model: "Cowboy", Serial: "SN1", RangeKm: 60, HomeCity: "berlin", Status: "broken"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVehicle(tt.v, fleetNow)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("NewVehicle = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v.Status != VehicleAvailable || v.HomeCity != "berlin" {
				t.Fatalf("defaults: %+v", v)
			}
		})
	}
	v, _ := NewVehicle(Vehicle{Type: Car, Model: "ID.3", Plate: " b-mc   1234 ", RangeKm: 400, HomeCity: "berlin"}, fleetNow)
	if v.Plate != "B-MC 1234" {
		t.Fatalf("plate not normalised: %q", v.Plate)
	}
}

func TestVehicleApply(t *testing.T) {
	maint, avail, retired := VehicleMaintenance, VehicleAvailable, VehicleRetired
	note, rng, plate := "brake fault", 380, ""
	base, err := NewVehicle(Vehicle{ID: "v1", Type: Car, Model: "ID.3", Plate: "B-MC-1", RangeKm: 400, HomeCity: "berlin"}, fleetNow)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		start       VehicleStatus
		patch       VehiclePatch
		wantStatus  VehicleStatus
		wantChanged bool
		wantErr     error
	}{
		{"to maintenance with a note", VehicleAvailable, VehiclePatch{Status: &maint, MaintenanceNote: &note}, VehicleMaintenance, true, nil},
		{"range only", VehicleAvailable, VehiclePatch{RangeKm: &rng}, VehicleAvailable, false, nil},
		{"back to available", VehicleMaintenance, VehiclePatch{Status: &avail}, VehicleAvailable, true, nil},
		{"retire", VehicleMaintenance, VehiclePatch{Status: &retired}, VehicleRetired, true, nil},
		{"retired is final", VehicleRetired, VehiclePatch{Status: &avail}, VehicleRetired, false, ErrConflict},
		{"plate cannot be removed from a car", VehicleAvailable, VehiclePatch{Plate: &plate}, VehicleAvailable, false, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := base
			v.Status = tt.start
			v.MaintenanceNote = "old note"
			if tt.start == VehicleAvailable {
				v.MaintenanceNote = ""
			}
			changed, err := v.Apply(tt.patch, "staff-1", fleetNow.Add(time.Hour))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Apply = %v, want %v", err, tt.wantErr)
			}
			if v.Status != tt.wantStatus || changed != tt.wantChanged {
				t.Fatalf("status %s changed %v, want %s %v", v.Status, changed, tt.wantStatus, tt.wantChanged)
			}
			if err == nil && v.Status == VehicleAvailable && v.MaintenanceNote != "" {
				t.Fatalf("available vehicle keeps a maintenance note %q", v.MaintenanceNote)
			}
			if err == nil && v.UpdatedBy != "staff-1" {
				t.Fatalf("UpdatedBy = %q", v.UpdatedBy)
			}
		})
	}
}

// box is a closed rectangle in Berlin-sized coordinates.
func box(minLat, minLon, maxLat, maxLon float64) Polygon {
	return Polygon{square(minLat, minLon, maxLat, maxLon)}
}

func TestBayValidate(t *testing.T) {
	good := Bay{Name: "Alexanderplatz", City: "berlin", Polygon: box(52.52, 13.41, 52.5205, 13.4108), Capacity: 10,
		VehicleTypes: []VehicleType{Car, EBike}, Chargers: 4}
	tests := []struct {
		name string
		edit func(*Bay)
		ok   bool
	}{
		{"valid", func(*Bay) {}, true},
		{"bikes only, no chargers", func(b *Bay) { b.VehicleTypes = []VehicleType{EBike, EScooter}; b.Chargers = 0 }, true},
		{"cars need a charger", func(b *Bay) { b.Chargers = 0 }, false},
		{"vans need a charger", func(b *Bay) { b.VehicleTypes = []VehicleType{Van}; b.Chargers = 0 }, false},
		{"more chargers than places", func(b *Bay) { b.Chargers = 11 }, false},
		{"no capacity", func(b *Bay) { b.Capacity = 0 }, false},
		{"no types", func(b *Bay) { b.VehicleTypes = nil }, false},
		{"unknown type", func(b *Bay) { b.VehicleTypes = []VehicleType{"tram"} }, false},
		{"open polygon", func(b *Bay) { b.Polygon = Polygon{b.Polygon[0][:4]} }, false},
		{"polygon of 2 degrees", func(b *Bay) { b.Polygon = box(52, 13, 54, 13.1) }, false},
		{"flat polygon", func(b *Bay) {
			b.Polygon = Polygon{{{52.5, 13.4}, {52.5, 13.5}, {52.5, 13.45}, {52.5, 13.4}}}
		}, false},
		{"bad city", func(b *Bay) { b.City = "Ber lin!" }, false},
		{"no name", func(b *Bay) { b.Name = " " }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := good
			tt.edit(&b)
			got, err := NewBay(b, fleetNow)
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrInvalid)) {
				t.Fatalf("NewBay = %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && !got.Active {
				t.Fatal("new bay is not active")
			}
		})
	}
}

func TestZoneValidate(t *testing.T) {
	area := box(52.4, 13.3, 52.6, 13.5)
	tests := []struct {
		name string
		z    Zone
		ok   bool
	}{
		{"operating area", Zone{Name: "Berlin", City: "Berlin", Kind: ZoneOperatingArea, Polygon: area}, true},
		{"slow zone with cap", Zone{Name: "Mitte", City: "berlin", Kind: ZoneSlow, MaxSpeedKmh: 10, Polygon: area}, true},
		{"slow zone without cap", Zone{Name: "Mitte", City: "berlin", Kind: ZoneSlow, Polygon: area}, false},
		{"slow zone faster than scooters", Zone{Name: "Mitte", City: "berlin", Kind: ZoneSlow, MaxSpeedKmh: 30, Polygon: area}, false},
		{"cap on a no-parking zone", Zone{Name: "Park", City: "berlin", Kind: ZoneNoParking, MaxSpeedKmh: 10, Polygon: area}, false},
		{"unknown kind", Zone{Name: "X", City: "berlin", Kind: "no-go", Polygon: area}, false},
		{"no polygon", Zone{Name: "X", City: "berlin", Kind: ZoneNoRideThrough}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			z, err := NewZone(tt.z, fleetNow)
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrInvalid)) {
				t.Fatalf("NewZone = %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && (z.City != "berlin" || !z.Active) {
				t.Fatalf("zone = %+v", z)
			}
		})
	}
	z, _ := NewZone(Zone{Name: "Mitte", City: "berlin", Kind: ZoneSlow, MaxSpeedKmh: 10, Polygon: area}, fleetNow)
	zero := 0
	if err := z.Apply(ZonePatch{MaxSpeedKmh: &zero}, "staff", fleetNow); !errors.Is(err, ErrInvalid) || z.MaxSpeedKmh != 10 {
		t.Fatalf("removing a slow zone's cap: %v, %+v", err, z)
	}
}

func TestCheckReturnLocation(t *testing.T) {
	// An operating area over central Berlin with a no-parking park, a
	// no-ride-through square and a slow zone inside it.
	zone := func(id string, k ZoneKind, pg Polygon) Zone {
		return Zone{ID: id, Name: id, City: "berlin", Kind: k, Polygon: pg, Active: true, MaxSpeedKmh: map[bool]int{true: 10}[k == ZoneSlow]}
	}
	operating := zone("op", ZoneOperatingArea, box(52.40, 13.30, 52.60, 13.50))
	park := zone("park", ZoneNoParking, box(52.50, 13.35, 52.52, 13.38))
	square := zone("square", ZoneNoRideThrough, box(52.53, 13.40, 52.54, 13.41))
	slow := zone("slow", ZoneSlow, box(52.50, 13.35, 52.55, 13.45))
	all := []Zone{operating, park, square, slow}
	zonesAt := func(p Point) []Zone {
		var out []Zone
		for _, z := range all {
			if z.Polygon.Contains(p) {
				out = append(out, z)
			}
		}
		return out
	}
	bay := func(id string, pg Polygon, types ...VehicleType) Bay {
		return Bay{ID: id, Name: id, City: "berlin", Polygon: pg, Capacity: 5, VehicleTypes: types, Chargers: 2, Active: true}
	}
	bikeBay := bay("bikes", box(52.450, 13.450, 52.451, 13.451), EBike, EScooter)
	carBay := bay("cars", box(52.460, 13.460, 52.461, 13.461), Car, Van)
	bigBay := bay("big", box(52.470, 13.470, 52.472, 13.472), EBike)
	smallBay := bay("small", box(52.4705, 13.4705, 52.4710, 13.4710), EBike)
	parkBay := bay("park-bay", box(52.510, 13.360, 52.511, 13.361), EScooter)
	suburbBay := bay("suburb", box(52.700, 13.700, 52.701, 13.701), Car)
	inactive := bay("closed", box(52.450, 13.450, 52.451, 13.451), EBike)
	inactive.Active = false
	bays := []Bay{bikeBay, carBay, bigBay, smallBay, parkBay, suburbBay, inactive}

	tests := []struct {
		name       string
		t          VehicleType
		p          Point
		wantBay    string
		wantReason string // "" means ending allowed
		wantOK     bool
	}{
		{"scooter in its bay", EScooter, Point{52.4505, 13.4505}, "bikes", "", true},
		{"car in its bay", Car, Point{52.4605, 13.4605}, "cars", "", true},
		{"car in a bike bay", Car, Point{52.4505, 13.4505}, "", "", false},
		{"bike outside any bay", EBike, Point{52.45, 13.42}, "", "", false},
		{"overlapping bays: the smaller wins", EBike, Point{52.4707, 13.4707}, "small", "", true},
		{"bike in a no-parking park, no bay", EBike, Point{52.505, 13.36}, "", "no_parking_zone", false},
		{"scooter in a bay inside the no-parking park", EScooter, Point{52.5105, 13.3605}, "park-bay", "", true},
		{"scooter on a no-ride-through square", EScooter, Point{52.535, 13.405}, "", "no_ride_through_zone", false},
		{"scooter outside the operating area", EScooter, Point{52.70, 13.40}, "", "outside_operating_area", false},
		{"car in a suburban bay outside the operating area", Car, Point{52.7005, 13.7005}, "suburb", "", true},
		{"slow zone does not forbid ending", EBike, Point{52.545, 13.44}, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := CheckReturnLocation(tt.t, tt.p, bays, zonesAt(tt.p))
			gotBay := ""
			if r.Bay != nil {
				gotBay = r.Bay.ID
			}
			if gotBay != tt.wantBay || r.InBay != (tt.wantBay != "") {
				t.Fatalf("bay = %q (in %v), want %q", gotBay, r.InBay, tt.wantBay)
			}
			if r.Ending.Allowed != (tt.wantReason == "") || r.Ending.Reason != tt.wantReason {
				t.Fatalf("ending = %+v, want reason %q", r.Ending, tt.wantReason)
			}
			if r.OK() != tt.wantOK {
				t.Fatalf("OK() = %v, want %v", r.OK(), tt.wantOK)
			}
		})
	}
}

func TestZoneHelpers(t *testing.T) {
	zs := []Zone{
		{Kind: ZoneSlow, MaxSpeedKmh: 15, Active: true},
		{Kind: ZoneSlow, MaxSpeedKmh: 8, Active: true},
		{Kind: ZoneSlow, MaxSpeedKmh: 5, Active: false},
	}
	if got := SpeedLimitKmh(zs); got != 8 {
		t.Fatalf("SpeedLimitKmh = %d, want 8 (inactive zones do not count)", got)
	}
	if InOperatingArea(zs) || InOperatingArea([]Zone{{Kind: ZoneOperatingArea}}) {
		t.Fatal("no active operating area, yet InOperatingArea")
	}
	if !InOperatingArea([]Zone{{Kind: ZoneOperatingArea, Active: true}}) {
		t.Fatal("active operating area not recognised")
	}
	pg := box(52.52, 13.40, 52.53, 13.42)
	if r := pg.RadiusM(); r < 700 || r > 1000 {
		t.Fatalf("RadiusM = %.0f, want about 850 m", r)
	}
}
