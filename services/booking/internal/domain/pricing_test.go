package domain

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func eur(minor int64) Money { return Money{AmountMinor: minor, Currency: "EUR"} }

func TestCityKey(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"Berlin", "berlin", true},
		{"  berlin ", "berlin", true},
		{"Frankfurt am Main", "frankfurt-am-main", true},
		{"München", "münchen", true},
		{"", "", false},
		{"ber/lin", "", false},
		{"x'; DROP TABLE tariffs;--", "", false},
	}
	for _, tt := range tests {
		got, err := CityKey(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("CityKey(%q) = %q, %v; want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("CityKey(%q) error %v is not ErrInvalid", tt.in, err)
		}
	}
}

func TestParseMultiplier(t *testing.T) {
	tests := []struct {
		in     float64
		want   Multiplier
		ok     bool
		within bool
	}{
		{1, 100, true, true},
		{0.5, 50, true, true},
		{2.5, 250, true, true},
		{0.49, 49, true, false},
		{2.51, 251, true, false},
		{1.255, 0, false, false}, // three decimals
		{0.05, 0, false, false},  // below the hard limit even with approval
		{25, 0, false, false},    // a typo for 2.5
	}
	for _, tt := range tests {
		got, err := ParseMultiplier(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseMultiplier(%v) = %v, %v; want %v ok=%v", tt.in, got, err, tt.want, tt.ok)
			continue
		}
		if tt.ok && got.WithinBounds() != tt.within {
			t.Errorf("%v.WithinBounds() = %v, want %v", got, got.WithinBounds(), tt.within)
		}
	}
	var m Multiplier
	if err := json.Unmarshal([]byte("1.25"), &m); err != nil || m != 125 {
		t.Fatalf("unmarshal 1.25 = %v, %v", m, err)
	}
	if b, _ := json.Marshal(m); string(b) != "1.25" {
		t.Fatalf("marshal = %s, want 1.25", b)
	}
}

func TestMultiplierApplyRoundsHalfAwayFromZero(t *testing.T) {
	tests := []struct {
		amount int64
		m      Multiplier
		want   int64
	}{
		{25, 150, 38}, // 37.5 → 38
		{25, 50, 13},  // 12.5 → 13
		{33, 133, 44}, // 43.89 → 44
		{30, 125, 38}, // 37.5 → 38
		{-25, 150, -38},
		{0, 250, 0},
	}
	for _, tt := range tests {
		if got := tt.m.Apply(eur(tt.amount)).AmountMinor; got != tt.want {
			t.Errorf("%d × %v = %d, want %d", tt.amount, tt.m, got, tt.want)
		}
	}
}

func TestBillableMinutesCountsStartedMinutes(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		d    time.Duration
		want int64
		ok   bool
	}{
		{"ends at its start", 0, 1, true},
		{"one second", time.Second, 1, true},
		{"exactly a minute", time.Minute, 1, true},
		{"a minute and a millisecond", time.Minute + time.Millisecond, 2, true},
		{"61 seconds", 61 * time.Second, 2, true},
		{"17 minutes 0 seconds", 17 * time.Minute, 17, true},
		{"12 hours", 12 * time.Hour, 720, true},
		{"end before start", -time.Second, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := BillableMinutes(t0, t0.Add(tt.d))
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("BillableMinutes(+%s) = %d, %v; want %d ok=%v", tt.d, got, err, tt.want, tt.ok)
			}
		})
	}
	if _, err := BillableMinutes(time.Time{}, t0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("zero start: %v, want ErrInvalid", err)
	}
}

func TestFinalPriceAndQuote(t *testing.T) {
	tariff := Tariff{City: "berlin", VehicleType: EScooter, UnlockFee: eur(100), PerMinute: eur(25)}
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		m         Multiplier
		d         time.Duration
		perMinute int64
		total     int64
	}{
		// 1.00 + 0.25 × 17
		{"neutral, 17 minutes", 100, 17 * time.Minute, 25, 525},
		// 17 minutes 1 second bills 18 minutes.
		{"neutral, one second into minute 18", 100, 17*time.Minute + time.Second, 25, 550},
		// 0.25 × 1.5 = 0.375 → 0.38 per minute, rounded once: 1.00 + 0.38 × 10
		{"surge 1.5x rounds the rate once", 150, 10 * time.Minute, 38, 480},
		{"discount 0.5x", 50, 4 * time.Minute, 13, 152},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			terms := NewPriceTerms(tariff, "", tt.m)
			fp, err := terms.FinalPrice(t0, t0.Add(tt.d))
			if err != nil {
				t.Fatal(err)
			}
			if terms.PerMinute.AmountMinor != tt.perMinute || fp.Total != eur(tt.total) {
				t.Fatalf("per minute %d, total %v; want %d, %v", terms.PerMinute.AmountMinor, fp.Total, tt.perMinute, eur(tt.total))
			}
			if terms.UnlockFee != eur(100) {
				t.Fatalf("unlock fee %v changed by the multiplier", terms.UnlockFee)
			}
		})
	}
	q, err := NewPriceTerms(tariff, "", 100).Quote(20, t0)
	if err != nil || q.Total != eur(600) {
		t.Fatalf("quote 20 min = %v, %v; want 6.00 EUR", q.Total, err)
	}
	for _, n := range []int64{0, -1, MaxQuoteMinutes + 1} {
		if _, err := NewPriceTerms(tariff, "", 100).Quote(n, t0); !errors.Is(err, ErrInvalid) {
			t.Errorf("quote %d minutes: %v, want ErrInvalid", n, err)
		}
	}
}

func TestTariffValidate(t *testing.T) {
	ok := Tariff{City: "berlin", VehicleType: Car, UnlockFee: eur(100), PerMinute: eur(45)}
	tests := []struct {
		name string
		mod  func(*Tariff)
		ok   bool
	}{
		{"valid", func(*Tariff) {}, true},
		{"free unlock", func(t *Tariff) { t.UnlockFee = eur(0) }, true},
		{"negative unlock fee", func(t *Tariff) { t.UnlockFee = eur(-1) }, false},
		{"zero per minute", func(t *Tariff) { t.PerMinute = eur(0) }, false},
		{"mixed currencies", func(t *Tariff) { t.PerMinute = Money{45, "PLN"} }, false},
		{"bad currency", func(t *Tariff) { t.UnlockFee, t.PerMinute = Money{1, "eur"}, Money{1, "eur"} }, false},
		{"unknown type", func(t *Tariff) { t.VehicleType = "tram" }, false},
	}
	for _, tt := range tests {
		tr := ok
		tt.mod(&tr)
		if err := tr.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestCityPricingValidate(t *testing.T) {
	ok := CityPricing{City: "berlin", Currency: "EUR", WrongLocationFine: eur(2500), LateReturnFine: eur(3000), UnderServedReward: eur(200), CancellationFee: eur(300)}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := ok
	bad.LateReturnFine = Money{3000, "USD"}
	if err := bad.Validate(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("fine in another currency: %v", err)
	}
	bad = ok
	bad.UnderServedReward = eur(-1)
	if err := bad.Validate(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("negative reward: %v", err)
	}
}

func TestMultiplierChangeNeedsASecondPersonOutsideBounds(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	in, err := NewMultiplierChange("c1", "Berlin", "", 200, "concert", "staff-1", t0)
	if err != nil || in.Status != ChangeApplied || in.City != "berlin" {
		t.Fatalf("within bounds: %+v, %v; want applied at once", in, err)
	}
	if _, err := PriceMultiplierFrom(in); err != nil {
		t.Fatalf("applied change has no multiplier: %v", err)
	}

	tests := []struct {
		name   string
		decide func(c *MultiplierChange) error
		want   error
		status MultiplierChangeStatus
	}{
		{"requester approves own override", func(c *MultiplierChange) error { return c.Approve("staff-1", t0.Add(time.Minute)) }, ErrForbidden, ChangePending},
		{"another person approves", func(c *MultiplierChange) error { return c.Approve("admin-1", t0.Add(time.Minute)) }, nil, ChangeApproved},
		{"another person rejects", func(c *MultiplierChange) error { return c.Reject("admin-1", t0.Add(time.Minute)) }, nil, ChangeRejected},
		{"approval after expiry", func(c *MultiplierChange) error { return c.Approve("admin-1", t0.Add(MultiplierApprovalTTL)) }, ErrConflict, ChangeExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewMultiplierChange("c2", "berlin", "z1", 300, "storm", "staff-1", t0)
			if err != nil || c.Status != ChangePending {
				t.Fatalf("out of bounds: %+v, %v; want pending", c, err)
			}
			if _, err := PriceMultiplierFrom(c); !errors.Is(err, ErrConflict) {
				t.Fatalf("pending change gave a multiplier: %v", err)
			}
			err = tt.decide(&c)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) || c.Status != tt.status {
				t.Fatalf("decide: %v, status %s; want %v, %s", err, c.Status, tt.want, tt.status)
			}
			m, err := PriceMultiplierFrom(c)
			if tt.status == ChangeApproved && (err != nil || m.Value != 300 || !m.Approved) {
				t.Fatalf("approved override: %+v, %v", m, err)
			}
			if tt.status != ChangeApproved && err == nil {
				t.Fatalf("%s change put a multiplier in force", c.Status)
			}
			if err := c.Approve("admin-2", t0.Add(2*time.Minute)); tt.status != ChangePending && !errors.Is(err, ErrConflict) {
				t.Fatalf("second decision on a %s change: %v, want ErrConflict", tt.status, err)
			}
		})
	}

	// An out-of-bounds value forged as "applied" (never approved) is still refused.
	forged := MultiplierChange{ID: "c3", City: "berlin", Value: 300, Status: ChangeApplied, RequestedBy: "staff-1", RequestedAt: t0}
	if _, err := PriceMultiplierFrom(forged); !errors.Is(err, ErrForbidden) {
		t.Fatalf("unapproved override: %v, want ErrForbidden", err)
	}
	if _, err := NewMultiplierChange("c4", "berlin", "", 200, " ", "staff-1", t0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("no reason: %v", err)
	}
}

func TestPriceBookPicksZoneThenCityThenNeutral(t *testing.T) {
	book := NewPriceBook(
		[]CityPricing{{City: "berlin", Currency: "EUR"}},
		[]Tariff{{City: "berlin", VehicleType: EBike, UnlockFee: eur(100), PerMinute: eur(20)}},
		[]PriceMultiplier{{City: "berlin", Value: 120}, {City: "berlin", ZoneID: "mitte", Value: 200}},
	)
	tests := []struct {
		zone string
		want Multiplier
	}{{"mitte", 200}, {"spandau", 120}, {"", 120}}
	for _, tt := range tests {
		terms, err := book.Terms("berlin", EBike, tt.zone)
		if err != nil || terms.Multiplier != tt.want || terms.PerMinute != tt.want.Apply(eur(20)) {
			t.Errorf("zone %q: %+v, %v; want multiplier %v", tt.zone, terms, err, tt.want)
		}
	}
	if m := NewPriceBook(nil, nil, nil).Multiplier("paris", ""); m != NeutralMultiplier {
		t.Errorf("no multiplier set: %v, want 1.00x", m)
	}
	if _, err := book.Terms("berlin", Van, ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing tariff: %v, want ErrNotFound", err)
	}
}

func TestLiveStateAvailable(t *testing.T) {
	avail := LiveState{VehicleID: "v1", VehicleType: EBike, Position: &Point{52.5, 13.4}, Online: true, Registered: true, InOperatingArea: true}
	if !avail.Available() {
		t.Fatal("a registered, online, free vehicle inside an operating area is not available")
	}
	tests := []struct {
		name string
		mod  func(*LiveState)
	}{
		{"reserved or in a trip", func(s *LiveState) { s.Held = true }},
		{"in maintenance", func(s *LiveState) { s.Maintenance = true }},
		{"offline", func(s *LiveState) { s.Online = false }},
		{"outside every operating area", func(s *LiveState) { s.InOperatingArea = false }},
		{"not in the fleet registry", func(s *LiveState) { s.Registered = false }},
		{"retired", func(s *LiveState) { s.Retired = true }},
		{"no position yet", func(s *LiveState) { s.Position = nil }},
	}
	for _, tt := range tests {
		s := avail
		tt.mod(&s)
		if s.Available() {
			t.Errorf("%s: still available", tt.name)
		}
	}
}

func TestSearchQueryNormalize(t *testing.T) {
	c := Point{Lat: 52.52, Lon: 13.4}
	q := SearchQuery{Center: c}
	if err := q.Normalize(); err != nil || q.RadiusM != DefaultSearchRadiusM || q.Limit != DefaultSearchLimit {
		t.Fatalf("defaults: %+v, %v", q, err)
	}
	bad := []SearchQuery{
		{Center: Point{Lat: 91, Lon: 0}},
		{Center: c, RadiusM: MaxSearchRadiusM + 1},
		{Center: c, RadiusM: -1},
		{Center: c, Limit: MaxSearchLimit + 1},
		{Center: c, MinBatteryPct: 101},
		{Center: c, MinBatteryPct: -1},
		{Center: c, MinRangeKm: -0.5},
		{Center: c, VehicleType: "tram"},
	}
	for _, b := range bad {
		if err := b.Normalize(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", b, err)
		}
	}
	ok := SearchQuery{Center: c, RadiusM: MaxSearchRadiusM, Limit: MaxSearchLimit, VehicleType: Van, MinBatteryPct: 100}
	if err := ok.Normalize(); err != nil {
		t.Fatalf("limits themselves: %v", err)
	}
}
