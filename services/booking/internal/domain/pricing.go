package domain

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Dynamic pricing bounds. Inside [MinMultiplier, MaxMultiplier] staff set a
// multiplier on their own; outside it a second person (an admin) must approve
// (domain.md: "an override beyond that needs a human"). Even an approved
// override stays inside the hard limits, which catch typos such as 25 for 2.5.
const (
	MinMultiplier     Multiplier = 50   // 0.50x
	MaxMultiplier     Multiplier = 250  // 2.50x
	HardMinMultiplier Multiplier = 10   // 0.10x
	HardMaxMultiplier Multiplier = 1000 // 10.00x
	NeutralMultiplier Multiplier = 100  // 1.00x
)

// MaxQuoteMinutes bounds a quote: 30 days, longer than any booking rule allows.
const MaxQuoteMinutes = 30 * 24 * 60

// MultiplierApprovalTTL is how long a pending override waits for an admin;
// after it the request is void and must be made again with current numbers.
const MultiplierApprovalTTL = 24 * time.Hour

// CityKey normalises a city name to the key prices are stored under:
// "Berlin" and " berlin " are the same city, "Frankfurt am Main" becomes
// "frankfurt-am-main". Letters of any script are kept.
func CityKey(name string) (string, error) {
	k := strings.ToLower(strings.Join(strings.Fields(name), "-"))
	if k == "" || len(k) > 64 {
		return "", fmt.Errorf("%w: city %q must be 1 to 64 characters", ErrInvalid, name)
	}
	for _, r := range k {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '-' {
			return "", fmt.Errorf("%w: city %q may hold only letters, digits, spaces and hyphens", ErrInvalid, name)
		}
	}
	return k, nil
}

// Multiplier is a dynamic price factor in hundredths (125 = 1.25x), so that
// prices are computed in integers and a multiplier read back from the
// database is exactly the one that was set.
type Multiplier int64

// ParseMultiplier accepts a factor with at most two decimals.
func ParseMultiplier(f float64) (Multiplier, error) {
	h := math.Round(f * 100)
	if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f*100-h) > 1e-6 {
		return 0, fmt.Errorf("%w: multiplier %v must have at most two decimals", ErrInvalid, f)
	}
	m := Multiplier(h)
	if m < HardMinMultiplier || m > HardMaxMultiplier {
		return 0, fmt.Errorf("%w: multiplier %v is outside the hard limits %v–%v", ErrInvalid, f, HardMinMultiplier, HardMaxMultiplier)
	}
	return m, nil
}

// Float is the factor as a number (1.25).
func (m Multiplier) Float() float64 { return float64(m) / 100 }

func (m Multiplier) String() string { return strconv.FormatFloat(m.Float(), 'f', 2, 64) + "x" }

// MarshalJSON writes the factor as a number (1.25), as the API shows it.
func (m Multiplier) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(m.Float(), 'f', -1, 64)), nil
}

// UnmarshalJSON reads a factor written by MarshalJSON (or a client).
func (m *Multiplier) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("%w: multiplier %s is not a number", ErrInvalid, b)
	}
	v, err := ParseMultiplier(f)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// WithinBounds reports whether staff may set m without an approval.
func (m Multiplier) WithinBounds() bool { return m >= MinMultiplier && m <= MaxMultiplier }

// Apply returns a·m rounded half away from zero to the minor unit.
func (m Multiplier) Apply(a Money) Money {
	v := a.AmountMinor * int64(m)
	if v < 0 {
		return Money{AmountMinor: -((-v + 50) / 100), Currency: a.Currency}
	}
	return Money{AmountMinor: (v + 50) / 100, Currency: a.Currency}
}

// Tariff is the base price of one vehicle type in one city.
type Tariff struct {
	City        string      `json:"city"`
	VehicleType VehicleType `json:"vehicle_type"`
	UnlockFee   Money       `json:"unlock_fee"`
	PerMinute   Money       `json:"per_minute"`
	UpdatedAt   time.Time   `json:"updated_at"`
	UpdatedBy   string      `json:"updated_by,omitempty"`
}

// Validate checks the amounts: non-negative, one currency, a per-minute rate
// above zero (a free minute rate would make every trip cost the unlock fee).
func (t Tariff) Validate() error {
	if _, err := ParseVehicleType(string(t.VehicleType)); err != nil {
		return err
	}
	for _, m := range []Money{t.UnlockFee, t.PerMinute} {
		if _, err := NewMoney(m.AmountMinor, m.Currency); err != nil {
			return err
		}
	}
	switch {
	case t.UnlockFee.Currency != t.PerMinute.Currency:
		return fmt.Errorf("%w: unlock fee in %s but per-minute rate in %s", ErrInvalid, t.UnlockFee.Currency, t.PerMinute.Currency)
	case t.UnlockFee.AmountMinor < 0:
		return fmt.Errorf("%w: unlock fee must not be negative", ErrInvalid)
	case t.PerMinute.AmountMinor <= 0:
		return fmt.Errorf("%w: per-minute rate must be above zero", ErrInvalid)
	}
	return nil
}

// CityPricing holds what a city charges apart from the tariffs: its currency,
// the fines, the reward credit for returning to an under-served bay and the
// fee for cancelling a reservation after its free window.
type CityPricing struct {
	City              string    `json:"city"`
	Currency          string    `json:"currency"`
	WrongLocationFine Money     `json:"wrong_location_fine"`
	LateReturnFine    Money     `json:"late_return_fine"`
	UnderServedReward Money     `json:"under_served_reward"`
	CancellationFee   Money     `json:"cancellation_fee"`
	UpdatedAt         time.Time `json:"updated_at"`
	UpdatedBy         string    `json:"updated_by,omitempty"`
}

// Validate checks that every amount is non-negative and in the city's currency.
func (c CityPricing) Validate() error {
	if _, err := NewMoney(0, c.Currency); err != nil {
		return err
	}
	for name, m := range map[string]Money{
		"wrong-location fine": c.WrongLocationFine, "late-return fine": c.LateReturnFine, "under-served reward": c.UnderServedReward,
		"cancellation fee": c.CancellationFee,
	} {
		if m.Currency != c.Currency {
			return fmt.Errorf("%w: %s is in %q, the city charges in %s", ErrInvalid, name, m.Currency, c.Currency)
		}
		if m.AmountMinor < 0 {
			return fmt.Errorf("%w: %s must not be negative", ErrInvalid, name)
		}
	}
	return nil
}

// PriceTerms are the prices one trip is charged at: a tariff with the
// multiplier of the vehicle's city or zone. The multiplier scales the
// per-minute rate only; the unlock fee is fixed. Trips lock their terms at
// start, so a multiplier changed mid-trip does not change the trip's price.
type PriceTerms struct {
	City          string      `json:"city"`
	VehicleType   VehicleType `json:"vehicle_type"`
	ZoneID        string      `json:"zone_id,omitempty"`
	UnlockFee     Money       `json:"unlock_fee"`
	BasePerMinute Money       `json:"base_per_minute"`
	Multiplier    Multiplier  `json:"multiplier"`
	// PerMinute is BasePerMinute × Multiplier rounded half away from zero to
	// the minor unit, once: the rate shown is the rate charged per minute.
	PerMinute Money `json:"per_minute"`
}

// NewPriceTerms applies m to t.
func NewPriceTerms(t Tariff, zoneID string, m Multiplier) PriceTerms {
	return PriceTerms{
		City: t.City, VehicleType: t.VehicleType, ZoneID: zoneID,
		UnlockFee: t.UnlockFee, BasePerMinute: t.PerMinute, Multiplier: m,
		PerMinute: m.Apply(t.PerMinute),
	}
}

// Total is the price of a trip of minutes billable minutes.
func (p PriceTerms) Total(minutes int64) Money {
	return p.UnlockFee.Plus(p.PerMinute.Times(minutes))
}

// BillableMinutes counts every started minute from start to end: 61 s is two
// minutes, exactly 60 s is one. Once unlocked the first minute has started, so
// a trip ending at its start instant still bills one minute. Sub-second
// timestamps count (60.001 s is two minutes); callers pass the vehicle's
// acknowledged unlock and lock times.
func BillableMinutes(start, end time.Time) (int64, error) {
	if start.IsZero() || end.IsZero() {
		return 0, fmt.Errorf("%w: trip start and end are required", ErrInvalid)
	}
	d := end.Sub(start)
	if d < 0 {
		return 0, fmt.Errorf("%w: trip ends (%s) before it starts (%s)", ErrInvalid, end.Format(time.RFC3339), start.Format(time.RFC3339))
	}
	n := int64((d + time.Minute - 1) / time.Minute)
	return max(n, 1), nil
}

// FinalPrice is what a trip costs once it ended.
type FinalPrice struct {
	Terms   PriceTerms `json:"terms"`
	Minutes int64      `json:"minutes"`
	Total   Money      `json:"total"`
}

// FinalPrice prices a trip from its timestamps: unlock fee + PerMinute ×
// BillableMinutes(start, end).
func (p PriceTerms) FinalPrice(start, end time.Time) (FinalPrice, error) {
	n, err := BillableMinutes(start, end)
	if err != nil {
		return FinalPrice{}, err
	}
	return FinalPrice{Terms: p, Minutes: n, Total: p.Total(n)}, nil
}

// Quote is the expected price of a trip of a planned length.
type Quote struct {
	Terms    PriceTerms `json:"terms"`
	Minutes  int64      `json:"minutes"`
	Total    Money      `json:"total"`
	QuotedAt time.Time  `json:"quoted_at"`
}

// Quote prices minutes of riding at p.
func (p PriceTerms) Quote(minutes int64, at time.Time) (Quote, error) {
	if minutes < 1 || minutes > MaxQuoteMinutes {
		return Quote{}, fmt.Errorf("%w: expected minutes must be between 1 and %d", ErrInvalid, MaxQuoteMinutes)
	}
	return Quote{Terms: p, Minutes: minutes, Total: p.Total(minutes), QuotedAt: at}, nil
}

// MultiplierChangeStatus is where a request to change a multiplier stands.
type MultiplierChangeStatus string

// Statuses of a multiplier change. Applied: within bounds, in force at once.
// Pending: outside bounds, waiting for an admin. Approved: an admin approved
// it and it is in force. Rejected: an admin refused it. Expired: nobody
// decided within MultiplierApprovalTTL.
const (
	ChangeApplied  MultiplierChangeStatus = "applied"
	ChangePending  MultiplierChangeStatus = "pending_approval"
	ChangeApproved MultiplierChangeStatus = "approved"
	ChangeRejected MultiplierChangeStatus = "rejected"
	ChangeExpired  MultiplierChangeStatus = "expired"
)

// ParseMultiplierChangeStatus validates s.
func ParseMultiplierChangeStatus(s string) (MultiplierChangeStatus, error) {
	switch st := MultiplierChangeStatus(s); st {
	case ChangeApplied, ChangePending, ChangeApproved, ChangeRejected, ChangeExpired:
		return st, nil
	}
	return "", fmt.Errorf("%w: status %q is not one of applied, pending_approval, approved, rejected, expired", ErrInvalid, s)
}

// MultiplierChange is one request by staff to set the multiplier of a city
// (ZoneID "") or of one operating-area zone of it.
type MultiplierChange struct {
	ID          string                 `json:"id"`
	City        string                 `json:"city"`
	ZoneID      string                 `json:"zone_id,omitempty"`
	Value       Multiplier             `json:"value"`
	Reason      string                 `json:"reason"`
	Status      MultiplierChangeStatus `json:"status"`
	RequestedBy string                 `json:"requested_by"`
	RequestedAt time.Time              `json:"requested_at"`
	ExpiresAt   time.Time              `json:"expires_at"`
	DecidedBy   string                 `json:"decided_by,omitempty"`
	DecidedAt   *time.Time             `json:"decided_at,omitempty"`
}

// NewMultiplierChange records a request. Within bounds it is applied at once;
// outside them it waits for an admin's approval.
func NewMultiplierChange(id, city, zoneID string, value Multiplier, reason, by string, at time.Time) (MultiplierChange, error) {
	key, err := CityKey(city)
	if err != nil {
		return MultiplierChange{}, err
	}
	if value < HardMinMultiplier || value > HardMaxMultiplier {
		return MultiplierChange{}, fmt.Errorf("%w: multiplier %v is outside the hard limits", ErrInvalid, value)
	}
	if strings.TrimSpace(reason) == "" {
		return MultiplierChange{}, fmt.Errorf("%w: a reason is required", ErrInvalid)
	}
	if by == "" {
		return MultiplierChange{}, fmt.Errorf("%w: the requester is required", ErrInvalid)
	}
	c := MultiplierChange{
		ID: id, City: key, ZoneID: strings.TrimSpace(zoneID), Value: value, Reason: strings.TrimSpace(reason),
		Status: ChangePending, RequestedBy: by, RequestedAt: at, ExpiresAt: at.Add(MultiplierApprovalTTL),
	}
	if value.WithinBounds() {
		c.Status, c.DecidedBy, c.DecidedAt = ChangeApplied, by, &at
	}
	return c, nil
}

// Approve puts a pending override in force. The approver must be someone other
// than the requester: the human in the loop is a second person.
func (c *MultiplierChange) Approve(by string, at time.Time) error {
	if err := c.decidable(by, at); err != nil {
		return err
	}
	c.Status, c.DecidedBy, c.DecidedAt = ChangeApproved, by, &at
	return nil
}

// Reject refuses a pending override.
func (c *MultiplierChange) Reject(by string, at time.Time) error {
	if err := c.decidable(by, at); err != nil {
		return err
	}
	c.Status, c.DecidedBy, c.DecidedAt = ChangeRejected, by, &at
	return nil
}

func (c *MultiplierChange) decidable(by string, at time.Time) error {
	if c.Status == ChangePending && !at.Before(c.ExpiresAt) {
		c.Status = ChangeExpired
	}
	switch {
	case c.Status != ChangePending:
		return fmt.Errorf("%w: multiplier change %s is %s, not pending", ErrConflict, c.ID, c.Status)
	case by == "":
		return fmt.Errorf("%w: the approver is required", ErrInvalid)
	case by == c.RequestedBy:
		return fmt.Errorf("%w: a multiplier override must be decided by someone other than its requester", ErrForbidden)
	}
	return nil
}

// InForce reports whether the change sets the multiplier.
func (c MultiplierChange) InForce() bool {
	return c.Status == ChangeApplied || c.Status == ChangeApproved
}

// MultiplierChangeFilter narrows a listing of multiplier changes; zero fields match all.
type MultiplierChangeFilter struct {
	City   string
	Status MultiplierChangeStatus
}

// MultiplierChangeCursor is the sort key of the last change of a page.
type MultiplierChangeCursor struct {
	RequestedAt time.Time `json:"t"`
	ID          string    `json:"id"`
}

// PriceMultiplier is the multiplier in force for a city or one of its zones.
type PriceMultiplier struct {
	City     string     `json:"city"`
	ZoneID   string     `json:"zone_id,omitempty"`
	Value    Multiplier `json:"value"`
	ChangeID string     `json:"change_id"`
	SetBy    string     `json:"set_by"`
	SetAt    time.Time  `json:"set_at"`
	Approved bool       `json:"approved"` // an out-of-bounds override an admin approved
}

// PriceMultiplierFrom turns a change into the multiplier it sets. A value
// outside the bounds is refused unless an admin approved it.
func PriceMultiplierFrom(c MultiplierChange) (PriceMultiplier, error) {
	if !c.InForce() {
		return PriceMultiplier{}, fmt.Errorf("%w: multiplier change %s is %s", ErrConflict, c.ID, c.Status)
	}
	if !c.Value.WithinBounds() && c.Status != ChangeApproved {
		return PriceMultiplier{}, fmt.Errorf("%w: multiplier %v is outside %v–%v and needs an approval", ErrForbidden, c.Value, MinMultiplier, MaxMultiplier)
	}
	at := c.RequestedAt
	if c.DecidedAt != nil {
		at = *c.DecidedAt
	}
	return PriceMultiplier{
		City: c.City, ZoneID: c.ZoneID, Value: c.Value, ChangeID: c.ID,
		SetBy: c.RequestedBy, SetAt: at, Approved: c.Status == ChangeApproved,
	}, nil
}

// PriceBook is a snapshot of every city's prices, built once and read by
// many requests (availability search prices each result from it).
type PriceBook struct {
	cities      map[string]CityPricing
	tariffs     map[tariffKey]Tariff
	multipliers map[multiplierKey]PriceMultiplier
}

type tariffKey struct {
	city string
	typ  VehicleType
}

type multiplierKey struct{ city, zone string }

// NewPriceBook indexes the rows of the pricing tables.
func NewPriceBook(cities []CityPricing, tariffs []Tariff, multipliers []PriceMultiplier) *PriceBook {
	b := &PriceBook{
		cities:      make(map[string]CityPricing, len(cities)),
		tariffs:     make(map[tariffKey]Tariff, len(tariffs)),
		multipliers: make(map[multiplierKey]PriceMultiplier, len(multipliers)),
	}
	for _, c := range cities {
		b.cities[c.City] = c
	}
	for _, t := range tariffs {
		b.tariffs[tariffKey{t.City, t.VehicleType}] = t
	}
	for _, m := range multipliers {
		b.multipliers[multiplierKey{m.City, m.ZoneID}] = m
	}
	return b
}

// City returns a city's pricing.
func (b *PriceBook) City(city string) (CityPricing, bool) {
	c, ok := b.cities[city]
	return c, ok
}

// Multiplier is the factor in force for a zone of a city: the zone's own,
// else the city's, else 1.00x.
func (b *PriceBook) Multiplier(city, zoneID string) Multiplier {
	if zoneID != "" {
		if m, ok := b.multipliers[multiplierKey{city, zoneID}]; ok {
			return m.Value
		}
	}
	if m, ok := b.multipliers[multiplierKey{city, ""}]; ok {
		return m.Value
	}
	return NeutralMultiplier
}

// Terms returns the current price terms of a vehicle type in a city's zone.
func (b *PriceBook) Terms(city string, t VehicleType, zoneID string) (PriceTerms, error) {
	tr, ok := b.tariffs[tariffKey{city, t}]
	if !ok {
		return PriceTerms{}, fmt.Errorf("%w: no tariff for %s in %q", ErrNotFound, t, city)
	}
	return NewPriceTerms(tr, zoneID, b.Multiplier(city, zoneID)), nil
}
