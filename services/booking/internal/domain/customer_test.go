package domain

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var signUpNow = time.Date(2026, 3, 15, 10, 0, 0, 0, time.UTC)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func validSignUp() SignUp {
	return SignUp{ID: "cust-1", Name: " Ada Lovelace ", Email: "Ada@Example.org", DateOfBirth: day(1990, 12, 10),
		Country: "de", PreferredLanguage: "en-gb"}
}

func TestNewCustomer(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*SignUp)
		wantErr error
	}{
		{"valid", func(*SignUp) {}, nil},
		{"exactly 16 today", func(s *SignUp) { s.DateOfBirth = day(2010, 3, 15) }, nil},
		{"16 tomorrow is too young", func(s *SignUp) { s.DateOfBirth = day(2010, 3, 16) }, ErrForbidden},
		{"born in the future", func(s *SignUp) { s.DateOfBirth = day(2027, 1, 1) }, ErrInvalid},
		{"no date of birth", func(s *SignUp) { s.DateOfBirth = time.Time{} }, ErrInvalid},
		{"older than 130", func(s *SignUp) { s.DateOfBirth = day(1890, 1, 1) }, ErrInvalid},
		{"empty name", func(s *SignUp) { s.Name = "  " }, ErrInvalid},
		{"long name", func(s *SignUp) { s.Name = strings.Repeat("a", 201) }, ErrInvalid},
		{"email with display name", func(s *SignUp) { s.Email = "Ada <ada@example.org>" }, ErrInvalid},
		{"email without domain dot", func(s *SignUp) { s.Email = "ada@localhost" }, ErrInvalid},
		{"email not an address", func(s *SignUp) { s.Email = "ada" }, ErrInvalid},
		{"country of three letters", func(s *SignUp) { s.Country = "DEU" }, ErrInvalid},
		{"language not a tag", func(s *SignUp) { s.PreferredLanguage = "english" }, ErrInvalid},
		{"id with a blank", func(s *SignUp) { s.ID = "a b" }, ErrInvalid},
		{"id too long", func(s *SignUp) { s.ID = strings.Repeat("x", 129) }, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := validSignUp()
			tt.edit(&in)
			c, err := NewCustomer(in, signUpNow)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("NewCustomer: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("NewCustomer = %+v, %v; want %v", c, err, tt.wantErr)
			}
		})
	}
}

func TestNewCustomerNormalises(t *testing.T) {
	c, err := NewCustomer(validSignUp(), signUpNow)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "Ada Lovelace" || c.Email != "ada@example.org" || c.Country != "DE" || c.PreferredLanguage != "en-GB" {
		t.Fatalf("not normalised: %+v", c)
	}
}

func TestAgeAt(t *testing.T) {
	tests := []struct {
		dob, at time.Time
		want    int
	}{
		{day(2008, 6, 1), day(2026, 5, 31), 17},
		{day(2008, 6, 1), day(2026, 6, 1), 18},
		{day(2008, 6, 1), time.Date(2026, 6, 1, 23, 59, 0, 0, time.UTC), 18},
		// Born on 29 February: of age on 1 March in a common year.
		{day(2008, 2, 29), day(2026, 2, 28), 17},
		{day(2008, 2, 29), day(2026, 3, 1), 18},
		{day(2008, 2, 29), day(2028, 2, 29), 20},
	}
	for _, tt := range tests {
		if got := (Customer{DateOfBirth: tt.dob}).AgeAt(tt.at); got != tt.want {
			t.Errorf("born %s, at %s: age %d, want %d", tt.dob.Format(time.DateOnly), tt.at.Format(time.RFC3339), got, tt.want)
		}
	}
}

// eligibleCustomer is 30 years old with a verified category-B licence and a card.
func eligibleCustomer() Customer {
	return Customer{ID: "c1", DateOfBirth: day(1996, 1, 1), PaymentMethod: "pm_card_visa",
		Licence: &Licence{Number: "B072RRE2I55", Country: "DE", Expiry: day(2030, 1, 1), Categories: []string{"AM", "B"},
			Status: LicenceVerified, ReviewedBy: "staff-1"}}
}

func TestEligible(t *testing.T) {
	at := day(2026, 6, 1)
	tests := []struct {
		name    string
		vt      VehicleType
		edit    func(*Customer)
		reason  IneligibleReason // "" means eligible
		errType error
	}{
		{"car: everything in order", Car, func(*Customer) {}, "", nil},
		{"van: everything in order", Van, func(*Customer) {}, "", nil},
		{"scooter without licence", EScooter, func(c *Customer) { c.Licence = nil }, "", nil},
		{"bike at exactly 16", EBike, func(c *Customer) { c.DateOfBirth = day(2010, 6, 1); c.Licence = nil }, "", nil},
		{"bike at 15", EBike, func(c *Customer) { c.DateOfBirth = day(2010, 6, 2) }, ReasonTooYoung, ErrForbidden},
		{"car at 17 with a licence", Car, func(c *Customer) { c.DateOfBirth = day(2008, 6, 2) }, ReasonTooYoung, ErrForbidden},
		{"car at exactly 18", Car, func(c *Customer) { c.DateOfBirth = day(2008, 6, 1) }, "", nil},
		{"blocked", EScooter, func(c *Customer) { c.Block = &Block{Reason: "fraud", By: "admin-1"} }, ReasonBlocked, ErrForbidden},
		{"car without licence", Car, func(c *Customer) { c.Licence = nil }, ReasonLicenceMissing, ErrForbidden},
		{"car with a submitted licence", Car, func(c *Customer) { c.Licence.Status = LicenceSubmitted }, ReasonLicenceNotVerified, ErrForbidden},
		{"van with a rejected licence", Van, func(c *Customer) { c.Licence.Status = LicenceRejected }, ReasonLicenceNotVerified, ErrForbidden},
		{"licence expired the day before", Car, func(c *Customer) { c.Licence.Expiry = day(2026, 5, 31) }, ReasonLicenceExpired, ErrForbidden},
		{"licence expires that day", Car, func(c *Customer) { c.Licence.Expiry = day(2026, 6, 1) }, "", nil},
		{"licence without category B", Van, func(c *Customer) { c.Licence.Categories = []string{"AM", "A"} }, ReasonLicenceCategory, ErrForbidden},
		{"no payment method", EScooter, func(c *Customer) { c.PaymentMethod = "" }, ReasonNoPaymentMethod, ErrForbidden},
		{"blocked beats everything else", Car, func(c *Customer) {
			c.Block = &Block{Reason: "x", By: "a"}
			c.Licence = nil
			c.PaymentMethod = ""
		}, ReasonBlocked, ErrForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := eligibleCustomer()
			tt.edit(&c)
			err := c.Eligible(tt.vt, at)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("Eligible: %v", err)
				}
				return
			}
			var ie *IneligibleError
			if !errors.As(err, &ie) || ie.Reason != tt.reason || !errors.Is(err, tt.errType) {
				t.Fatalf("Eligible = %v; want reason %s (%v)", err, tt.reason, tt.errType)
			}
		})
	}
	if err := eligibleCustomer().Eligible("bus", at); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown vehicle type: %v, want ErrInvalid", err)
	}
}

func TestSubmitAndReviewLicence(t *testing.T) {
	now := day(2026, 3, 1)
	valid := LicenceSubmission{Number: "b072rre2i55", Country: "de", Expiry: day(2030, 1, 1), Categories: []string{"b", "AM", "B"}}
	tests := []struct {
		name string
		edit func(*LicenceSubmission)
		ok   bool
	}{
		{"valid", func(*LicenceSubmission) {}, true},
		{"expires today", func(l *LicenceSubmission) { l.Expiry = now }, true},
		{"expired", func(l *LicenceSubmission) { l.Expiry = day(2026, 2, 28) }, false},
		{"no expiry", func(l *LicenceSubmission) { l.Expiry = time.Time{} }, false},
		{"short number", func(l *LicenceSubmission) { l.Number = "B07" }, false},
		{"number with symbols", func(l *LicenceSubmission) { l.Number = "B07/2RR" }, false},
		{"no categories", func(l *LicenceSubmission) { l.Categories = nil }, false},
		{"bad category", func(l *LicenceSubmission) { l.Categories = []string{"car"} }, false},
		{"bad country", func(l *LicenceSubmission) { l.Country = "Germany" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := valid
			tt.edit(&in)
			c := eligibleCustomer()
			before := *c.Licence
			err := c.SubmitLicence(in, now)
			if tt.ok != (err == nil) {
				t.Fatalf("SubmitLicence = %v, want ok=%v", err, tt.ok)
			}
			if !tt.ok {
				if !errors.Is(err, ErrInvalid) || c.Licence.Number != before.Number || c.Licence.Status != before.Status {
					t.Fatalf("a refused submission changed the licence or is not ErrInvalid: %v %+v", err, c.Licence)
				}
				return
			}
			// A new submission replaces a verified licence and needs review again.
			if c.Licence.Status != LicenceSubmitted || c.Licence.Number != "B072RRE2I55" || c.Licence.Country != "DE" ||
				strings.Join(c.Licence.Categories, ",") != "AM,B" {
				t.Fatalf("licence = %+v", c.Licence)
			}
			if err := c.Eligible(Car, now); !errors.Is(err, ErrForbidden) {
				t.Fatalf("an unreviewed licence allows a car: %v", err)
			}
		})
	}

	t.Run("review", func(t *testing.T) {
		c := eligibleCustomer()
		if err := c.ReviewLicence(true, "", "staff-1", now); !errors.Is(err, ErrConflict) {
			t.Fatalf("reviewing a verified licence: %v, want ErrConflict", err)
		}
		if err := c.SubmitLicence(valid, now); err != nil {
			t.Fatal(err)
		}
		if err := c.ReviewLicence(false, " ", "staff-1", now); !errors.Is(err, ErrInvalid) {
			t.Fatalf("rejection without reason: %v, want ErrInvalid", err)
		}
		if err := c.ReviewLicence(false, "photo unreadable", "staff-1", now); err != nil {
			t.Fatal(err)
		}
		if c.Licence.Status != LicenceRejected || c.Licence.RejectionReason != "photo unreadable" || c.Licence.ReviewedBy != "staff-1" {
			t.Fatalf("licence = %+v", c.Licence)
		}
		if err := c.ReviewLicence(true, "", "staff-2", now); !errors.Is(err, ErrConflict) {
			t.Fatalf("reviewing a rejected licence again: %v, want ErrConflict", err)
		}
		if err := c.SubmitLicence(valid, now); err != nil {
			t.Fatal(err)
		}
		if err := c.ReviewLicence(true, "", "staff-2", now); err != nil {
			t.Fatal(err)
		}
		if c.Licence.Status != LicenceVerified || c.Licence.RejectionReason != "" || c.Eligible(Car, now) != nil {
			t.Fatalf("verified licence = %+v, eligible: %v", c.Licence, c.Eligible(Car, now))
		}
	})
}

func TestBlockUnblock(t *testing.T) {
	now := day(2026, 3, 1)
	c := eligibleCustomer()
	if err := c.Unblock("mistake", now); !errors.Is(err, ErrConflict) {
		t.Fatalf("unblocking an unblocked customer: %v", err)
	}
	if err := c.BlockBy("admin-1", "  ", now); !errors.Is(err, ErrInvalid) {
		t.Fatalf("block without reason: %v", err)
	}
	if err := c.BlockBy("admin-1", "chargebacks", now); err != nil {
		t.Fatal(err)
	}
	if err := c.BlockBy("admin-2", "again", now); !errors.Is(err, ErrConflict) || c.Block.By != "admin-1" {
		t.Fatalf("second block: %v, block %+v", err, c.Block)
	}
	if err := c.Unblock("", now); !errors.Is(err, ErrInvalid) || c.Block == nil {
		t.Fatalf("unblock without reason: %v", err)
	}
	if err := c.Unblock("settled", now); err != nil || c.Block != nil {
		t.Fatalf("unblock: %v, %+v", err, c.Block)
	}
}

func TestSetPaymentMethodAndProfile(t *testing.T) {
	now := day(2026, 3, 1)
	c := eligibleCustomer()
	for _, bad := range []string{"", "card_visa", "pm_", "pm_card visa", "pm_" + strings.Repeat("x", 201)} {
		if err := c.SetPaymentMethod(bad, now); !errors.Is(err, ErrInvalid) {
			t.Errorf("SetPaymentMethod(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	if err := c.SetPaymentMethod("pm_1Q2w3E", now); err != nil || c.PaymentMethod != "pm_1Q2w3E" {
		t.Fatalf("SetPaymentMethod: %v %q", err, c.PaymentMethod)
	}

	name, bad := "Ada King", "not-an-email"
	before := c
	if err := c.ApplyProfile(ProfilePatch{Name: &name, Email: &bad}, now); !errors.Is(err, ErrInvalid) || c.Name != before.Name {
		t.Fatalf("a patch with one bad field must change nothing: %v, %+v", err, c)
	}
	email, lang := "ADA@king.example", "FR"
	if err := c.ApplyProfile(ProfilePatch{Name: &name, Email: &email, PreferredLanguage: &lang}, now); err != nil {
		t.Fatal(err)
	}
	if c.Name != "Ada King" || c.Email != "ada@king.example" || c.PreferredLanguage != "fr" {
		t.Fatalf("profile = %+v", c)
	}
}
