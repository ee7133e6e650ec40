package domain

import (
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Customer is a person who rents vehicles. Its id is the subject of the
// customer's bearer token, so a token names exactly one customer.
type Customer struct {
	ID                string
	Name              string
	Email             string // lower case: one mailbox, one account
	DateOfBirth       time.Time
	Country           string // ISO 3166-1 alpha-2, upper case
	PreferredLanguage string // BCP 47 language[-REGION], e.g. "de" or "en-GB"
	Licence           *Licence
	PaymentMethod     string // opaque reference payments charges, e.g. "pm_card_visa"
	Block             *Block // nil unless blocked
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// LicenceStatus is where a submitted driving licence stands.
type LicenceStatus string

// Licence statuses: a submission waits for staff, who verify or reject it.
const (
	LicenceSubmitted LicenceStatus = "submitted"
	LicenceVerified  LicenceStatus = "verified"
	LicenceRejected  LicenceStatus = "rejected"
)

// Licence is a driving licence as submitted and reviewed.
type Licence struct {
	Number          string
	Country         string    // issuing country, ISO 3166-1 alpha-2
	Expiry          time.Time // last valid day (a date, UTC midnight)
	Categories      []string  // EU categories, e.g. "AM", "B", "BE"
	Status          LicenceStatus
	SubmittedAt     time.Time
	ReviewedAt      time.Time // zero until reviewed
	ReviewedBy      string
	RejectionReason string
}

// Block records who blocked a customer, when and why: blocking is always a
// human decision, so the decision is kept with its author.
type Block struct {
	Reason string
	By     string
	At     time.Time
}

// Age limits of the business rules.
const (
	MinAgeMicromobility = 16
	MinAgeCarVan        = 18
	maxAge              = 130
)

// LicenceCategoryCarVan is the EU category that covers the fleet's cars and
// vans (both ≤ 3.5 t).
const LicenceCategoryCarVan = "B"

var (
	countryCode   = regexp.MustCompile(`^[A-Z]{2}$`)
	languageTag   = regexp.MustCompile(`^[a-z]{2,3}(-[A-Z]{2})?$`)
	customerID    = regexp.MustCompile(`^[^\s:]{1,128}$`)
	paymentMethod = regexp.MustCompile(`^pm_[A-Za-z0-9_]{1,200}$`)
	licenceNumber = regexp.MustCompile(`^[A-Z0-9][A-Z0-9 -]{3,30}[A-Z0-9]$`)
	// The categories of Directive 2006/126/EC, plus the national T and L that
	// several member states issue.
	licenceCategories = []string{"AM", "A1", "A2", "A", "B1", "B", "BE", "C1", "C1E", "C", "CE", "D1", "D1E", "D", "DE", "T", "L"}
)

// ValidateCustomerID checks an id (a token subject): 1–128 characters without blanks or colons.
func ValidateCustomerID(id string) error {
	if !customerID.MatchString(id) {
		return fmt.Errorf("%w: customer id must have 1 to 128 characters without blanks or colons", ErrInvalid)
	}
	return nil
}

// SignUp is what a new customer gives.
type SignUp struct {
	ID                string
	Name              string
	Email             string
	DateOfBirth       time.Time
	Country           string
	PreferredLanguage string
}

// NewCustomer validates a sign-up at now. People under 16 cannot rent
// anything, and we do not keep data of children we cannot serve.
func NewCustomer(in SignUp, now time.Time) (Customer, error) {
	c := Customer{ID: in.ID, CreatedAt: now, UpdatedAt: now}
	var errs []error
	if err := ValidateCustomerID(in.ID); err != nil {
		errs = append(errs, err)
	}
	var err error
	if c.Name, err = normaliseName(in.Name); err != nil {
		errs = append(errs, err)
	}
	if c.Email, err = NormaliseEmail(in.Email); err != nil {
		errs = append(errs, err)
	}
	if c.Country, err = normaliseCountry(in.Country, "country"); err != nil {
		errs = append(errs, err)
	}
	if c.PreferredLanguage, err = normaliseLanguage(in.PreferredLanguage); err != nil {
		errs = append(errs, err)
	}
	if c.DateOfBirth, err = validateBirth(in.DateOfBirth, now); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return Customer{}, errors.Join(errs...)
	}
	if c.AgeAt(now) < MinAgeMicromobility {
		return Customer{}, fmt.Errorf("%w: customers must be at least %d years old", ErrForbidden, MinAgeMicromobility)
	}
	return c, nil
}

func normaliseName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if n := utf8.RuneCountInString(s); n < 1 || n > 200 {
		return "", fmt.Errorf("%w: name must have 1 to 200 characters", ErrInvalid)
	}
	return s, nil
}

// NormaliseEmail validates a bare address (no display name) and lower-cases it.
func NormaliseEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || len(s) > 254 || !strings.Contains(s[strings.LastIndexByte(s, '@'):], ".") {
		return "", fmt.Errorf("%w: email %q is not a valid address", ErrInvalid, s)
	}
	return strings.ToLower(s), nil
}

func normaliseCountry(s, field string) (string, error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	if !countryCode.MatchString(s) {
		return "", fmt.Errorf("%w: %s must be an ISO 3166-1 alpha-2 code such as DE", ErrInvalid, field)
	}
	return s, nil
}

func normaliseLanguage(s string) (string, error) {
	s = strings.TrimSpace(s)
	if lang, region, ok := strings.Cut(s, "-"); ok {
		s = strings.ToLower(lang) + "-" + strings.ToUpper(region)
	} else {
		s = strings.ToLower(s)
	}
	if !languageTag.MatchString(s) {
		return "", fmt.Errorf("%w: preferred_language must be a BCP 47 tag such as de or en-GB", ErrInvalid)
	}
	return s, nil
}

// Date truncates t to its UTC calendar day: dates of birth and licence expiry
// are days, not instants.
func Date(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func validateBirth(dob, now time.Time) (time.Time, error) {
	dob = Date(dob)
	if dob.IsZero() || dob.After(now) || dob.Before(Date(now).AddDate(-maxAge, 0, 0)) {
		return time.Time{}, fmt.Errorf("%w: date_of_birth must be a past date within %d years", ErrInvalid, maxAge)
	}
	return dob, nil
}

// AgeAt is the customer's age in whole years on the UTC day of at. Someone
// born on 29 February comes of age on 1 March in common years.
func (c Customer) AgeAt(at time.Time) int {
	day := Date(at)
	years := day.Year() - c.DateOfBirth.Year()
	if day.Before(c.DateOfBirth.AddDate(years, 0, 0)) {
		years--
	}
	return years
}

// ProfilePatch changes a profile; nil fields stay as they are.
type ProfilePatch struct {
	Name              *string
	Email             *string
	Country           *string
	PreferredLanguage *string
	DateOfBirth       *time.Time // staff only: corrections after an identity check
}

// ApplyProfile validates and applies p at now.
func (c *Customer) ApplyProfile(p ProfilePatch, now time.Time) error {
	next := *c
	var errs []error
	var err error
	if p.Name != nil {
		if next.Name, err = normaliseName(*p.Name); err != nil {
			errs = append(errs, err)
		}
	}
	if p.Email != nil {
		if next.Email, err = NormaliseEmail(*p.Email); err != nil {
			errs = append(errs, err)
		}
	}
	if p.Country != nil {
		if next.Country, err = normaliseCountry(*p.Country, "country"); err != nil {
			errs = append(errs, err)
		}
	}
	if p.PreferredLanguage != nil {
		if next.PreferredLanguage, err = normaliseLanguage(*p.PreferredLanguage); err != nil {
			errs = append(errs, err)
		}
	}
	if p.DateOfBirth != nil {
		if next.DateOfBirth, err = validateBirth(*p.DateOfBirth, now); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	next.UpdatedAt = now
	*c = next
	return nil
}

// LicenceSubmission is a licence as the customer types it in.
type LicenceSubmission struct {
	Number     string
	Country    string
	Expiry     time.Time
	Categories []string
}

// SubmitLicence replaces any earlier licence with a new submission that staff
// must verify: a new document is never trusted on the strength of an old one.
func (c *Customer) SubmitLicence(in LicenceSubmission, now time.Time) error {
	l := Licence{Status: LicenceSubmitted, SubmittedAt: now}
	var errs []error
	l.Number = strings.ToUpper(strings.TrimSpace(in.Number))
	if !licenceNumber.MatchString(l.Number) {
		errs = append(errs, fmt.Errorf("%w: licence number must have 5 to 32 letters, digits, blanks or dashes", ErrInvalid))
	}
	var err error
	if l.Country, err = normaliseCountry(in.Country, "licence country"); err != nil {
		errs = append(errs, err)
	}
	l.Expiry = Date(in.Expiry)
	if in.Expiry.IsZero() || l.Expiry.Before(Date(now)) {
		errs = append(errs, fmt.Errorf("%w: licence expiry must be today or later", ErrInvalid))
	}
	if len(in.Categories) == 0 || len(in.Categories) > 20 {
		errs = append(errs, fmt.Errorf("%w: licence needs 1 to 20 categories", ErrInvalid))
	}
	for _, cat := range in.Categories {
		cat = strings.ToUpper(strings.TrimSpace(cat))
		if !slices.Contains(licenceCategories, cat) {
			errs = append(errs, fmt.Errorf("%w: licence category %q is not an EU category such as B or AM", ErrInvalid, cat))
			continue
		}
		if !slices.Contains(l.Categories, cat) {
			l.Categories = append(l.Categories, cat)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	slices.Sort(l.Categories)
	c.Licence = &l
	c.UpdatedAt = now
	return nil
}

// ReviewLicence records staff's decision on the pending submission. A
// rejection needs a reason the customer can act on.
func (c *Customer) ReviewLicence(verify bool, reason, reviewer string, now time.Time) error {
	if c.Licence == nil || c.Licence.Status != LicenceSubmitted {
		return fmt.Errorf("%w: customer %s has no licence waiting for review", ErrConflict, c.ID)
	}
	reason = strings.TrimSpace(reason)
	if !verify && (reason == "" || utf8.RuneCountInString(reason) > 500) {
		return fmt.Errorf("%w: a rejection needs a reason of 1 to 500 characters", ErrInvalid)
	}
	if verify && utf8.RuneCountInString(reason) > 500 {
		return fmt.Errorf("%w: reason must have at most 500 characters", ErrInvalid)
	}
	l := *c.Licence
	l.Status, l.ReviewedAt, l.ReviewedBy, l.RejectionReason = LicenceRejected, now, reviewer, reason
	if verify {
		l.Status, l.RejectionReason = LicenceVerified, ""
	}
	c.Licence = &l
	c.UpdatedAt = now
	return nil
}

// SetPaymentMethod stores the reference of a payment method payments
// created with the provider (e.g. "pm_card_visa"); booking never sees card data.
func (c *Customer) SetPaymentMethod(ref string, now time.Time) error {
	ref = strings.TrimSpace(ref)
	if !paymentMethod.MatchString(ref) {
		return fmt.Errorf("%w: payment method must be a provider reference such as pm_card_visa", ErrInvalid)
	}
	c.PaymentMethod = ref
	c.UpdatedAt = now
	return nil
}

func blockReason(reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" || utf8.RuneCountInString(reason) > 500 {
		return "", fmt.Errorf("%w: reason must have 1 to 500 characters", ErrInvalid)
	}
	return reason, nil
}

// BlockBy blocks the customer; blocking a blocked customer is a conflict, so
// the first decision and its author are never overwritten.
func (c *Customer) BlockBy(admin, reason string, now time.Time) error {
	reason, err := blockReason(reason)
	if err != nil {
		return err
	}
	if c.Block != nil {
		return fmt.Errorf("%w: customer %s is already blocked", ErrConflict, c.ID)
	}
	c.Block = &Block{Reason: reason, By: admin, At: now}
	c.UpdatedAt = now
	return nil
}

// Unblock lifts a block; the reason is kept in the audit trail.
func (c *Customer) Unblock(reason string, now time.Time) error {
	if _, err := blockReason(reason); err != nil {
		return err
	}
	if c.Block == nil {
		return fmt.Errorf("%w: customer %s is not blocked", ErrConflict, c.ID)
	}
	c.Block = nil
	c.UpdatedAt = now
	return nil
}

// IneligibleReason says why a customer may not rent a vehicle type.
type IneligibleReason string

// Reasons for IneligibleError.
const (
	ReasonBlocked            IneligibleReason = "blocked"
	ReasonTooYoung           IneligibleReason = "too_young"
	ReasonLicenceMissing     IneligibleReason = "licence_missing"
	ReasonLicenceNotVerified IneligibleReason = "licence_not_verified"
	ReasonLicenceExpired     IneligibleReason = "licence_expired"
	ReasonLicenceCategory    IneligibleReason = "licence_category"
	ReasonNoPaymentMethod    IneligibleReason = "no_payment_method"
)

// IneligibleError is a refused eligibility check; it is ErrForbidden, and
// Reason tells the client what to fix.
type IneligibleError struct {
	CustomerID string
	Reason     IneligibleReason
	Detail     string
}

func (e *IneligibleError) Error() string {
	return fmt.Sprintf("customer %s may not book: %s", e.CustomerID, e.Detail)
}

// Unwrap returns the error class the ports map to a status.
func (e *IneligibleError) Unwrap() error { return ErrForbidden }

// Eligible checks that the customer may rent t at `at` (the start of the
// rental): not blocked, old enough (16 for bikes and scooters, 18 for cars
// and vans), for cars and vans a verified category-B licence valid on that
// day, and a payment method to pre-authorise against.
func (c Customer) Eligible(t VehicleType, at time.Time) error {
	refuse := func(r IneligibleReason, format string, a ...any) error {
		return &IneligibleError{CustomerID: c.ID, Reason: r, Detail: fmt.Sprintf(format, a...)}
	}
	if _, err := ParseVehicleType(string(t)); err != nil {
		return err
	}
	if c.Block != nil {
		return refuse(ReasonBlocked, "the account is blocked")
	}
	minAge := MinAgeMicromobility
	if t.NeedsLicence() {
		minAge = MinAgeCarVan
	}
	if c.AgeAt(at) < minAge {
		return refuse(ReasonTooYoung, "renting a %s needs an age of at least %d", t, minAge)
	}
	if t.NeedsLicence() {
		switch l := c.Licence; {
		case l == nil:
			return refuse(ReasonLicenceMissing, "renting a %s needs a driving licence; none was submitted", t)
		case l.Status != LicenceVerified:
			return refuse(ReasonLicenceNotVerified, "renting a %s needs a verified driving licence; it is %s", t, l.Status)
		case Date(at).After(l.Expiry):
			return refuse(ReasonLicenceExpired, "the driving licence expired on %s", l.Expiry.Format(time.DateOnly))
		case !slices.Contains(l.Categories, LicenceCategoryCarVan):
			return refuse(ReasonLicenceCategory, "renting a %s needs licence category %s", t, LicenceCategoryCarVan)
		}
	}
	if c.PaymentMethod == "" {
		return refuse(ReasonNoPaymentMethod, "no payment method is on file")
	}
	return nil
}

// AuditAction names a recorded human decision about a customer.
type AuditAction string

// Audited actions.
const (
	AuditBlocked         AuditAction = "blocked"
	AuditUnblocked       AuditAction = "unblocked"
	AuditLicenceVerified AuditAction = "licence_verified"
	AuditLicenceRejected AuditAction = "licence_rejected"
)

// AuditEntry is one decision, kept for as long as the customer exists.
type AuditEntry struct {
	CustomerID string
	Action     AuditAction
	Reason     string
	Actor      string
	At         time.Time
}
