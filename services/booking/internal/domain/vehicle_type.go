package domain

import "fmt"

// VehicleType is the kind of vehicle rented, spelt as the public API spells it.
type VehicleType string

// The four vehicle types of the fleet.
const (
	EScooter VehicleType = "escooter"
	EBike    VehicleType = "ebike"
	Car      VehicleType = "car"
	Van      VehicleType = "van"
)

// VehicleTypes lists every type, in a stable order.
func VehicleTypes() []VehicleType { return []VehicleType{EScooter, EBike, Car, Van} }

// ParseVehicleType validates s.
func ParseVehicleType(s string) (VehicleType, error) {
	switch t := VehicleType(s); t {
	case EScooter, EBike, Car, Van:
		return t, nil
	}
	return "", fmt.Errorf("%w: vehicle type %q is not one of escooter, ebike, car, van", ErrInvalid, s)
}

// Micromobility reports whether t is a bike or scooter: booked at most 30 minutes
// ahead, open-ended trips, age 16+, ended only in permitted zones.
func (t VehicleType) Micromobility() bool { return t == EScooter || t == EBike }

// NeedsLicence reports whether renting t needs a verified driving licence (and age 18+).
func (t VehicleType) NeedsLicence() bool { return t == Car || t == Van }
