package domain

// ReturnPlace is what the fleet registry says about where a vehicle ended.
type ReturnPlace struct {
	BayID       string // the bay whose polygon contains the position and takes the vehicle's type; "" outside any
	UnderServed bool   // the bay is marked under-served: returning there earns a reward
	// EndingAllowed is false when a zone at the position forbids ending a
	// bike/scooter rental there (no-parking, outside the operating area).
	EndingAllowed bool
}

// ReturnCheck is the immediate (first-tier) outcome of a return, recorded on
// the trip. The AI photo check comes later and elsewhere.
type ReturnCheck struct {
	InBay         bool
	BayID         string
	EndingAllowed bool
	PluggedIn     *bool // cars/vans only
	Photos        int
	WrongLocation bool // fined
	Reward        bool // returned to an under-served bay
	Accepted      bool // provisionally accepted: every immediate check passed
	Problems      []string
}

// Return problems, as recorded and reported.
const (
	ReturnOutsideBay     = "outside_bay"
	ReturnZoneForbids    = "zone_forbids_ending"
	ReturnNotPluggedIn   = "not_plugged_in"
	ReturnNoPhoto        = "no_photo"
	ReturnPositionMissed = "position_unknown"
)

// CheckReturn applies the return rules: inside a bay that takes the type; a
// bike/scooter also in a zone where ending is allowed; a car/van plugged in; at
// least one photo. Being outside a bay (or in a forbidden zone) is the wrong
// location, which is fined; the trip ends regardless. positionKnown is false
// when neither telemetry nor the app gave a position: the vehicle cannot be
// shown to be in a bay.
func CheckReturn(vt VehicleType, place ReturnPlace, positionKnown, pluggedIn bool, photos int) ReturnCheck {
	c := ReturnCheck{Photos: photos, BayID: place.BayID, InBay: place.BayID != "", EndingAllowed: place.EndingAllowed}
	if !positionKnown {
		c.InBay, c.BayID, c.EndingAllowed = false, "", false
		c.Problems = append(c.Problems, ReturnPositionMissed)
	}
	if !c.InBay {
		c.Problems = append(c.Problems, ReturnOutsideBay)
	}
	if vt.Micromobility() {
		if !c.EndingAllowed {
			c.Problems = append(c.Problems, ReturnZoneForbids)
		}
		c.WrongLocation = !c.InBay || !c.EndingAllowed
	} else {
		c.WrongLocation = !c.InBay
		plugged := pluggedIn
		c.PluggedIn = &plugged
		if !pluggedIn {
			c.Problems = append(c.Problems, ReturnNotPluggedIn)
		}
	}
	if photos < 1 {
		c.Problems = append(c.Problems, ReturnNoPhoto)
	}
	c.Reward = !c.WrongLocation && place.UnderServed && positionKnown
	c.Accepted = len(c.Problems) == 0
	return c
}
