package domain

import (
	"fmt"
	"regexp"
)

// Money is an amount in the currency's minor unit (cents for EUR); never a float.
type Money struct {
	AmountMinor int64  `json:"amount_minor"`
	Currency    string `json:"currency"` // ISO 4217, upper case
}

var currencyCode = regexp.MustCompile(`^[A-Z]{3}$`)

// NewMoney validates the currency code.
func NewMoney(amountMinor int64, currency string) (Money, error) {
	if !currencyCode.MatchString(currency) {
		return Money{}, fmt.Errorf("%w: currency %q is not an ISO 4217 code", ErrInvalid, currency)
	}
	return Money{AmountMinor: amountMinor, Currency: currency}, nil
}

// Plus returns m + o. Amounts of different currencies never meet in booking (a
// city has one currency), so a mismatch is a programming error and panics.
func (m Money) Plus(o Money) Money {
	if m.Currency != o.Currency && m.AmountMinor != 0 && o.AmountMinor != 0 {
		panic(fmt.Sprintf("money: %s + %s", m.Currency, o.Currency))
	}
	c := m.Currency
	if c == "" {
		c = o.Currency
	}
	return Money{AmountMinor: m.AmountMinor + o.AmountMinor, Currency: c}
}

// Times returns m·n.
func (m Money) Times(n int64) Money {
	return Money{AmountMinor: m.AmountMinor * n, Currency: m.Currency}
}

// Scale returns m·f rounded half away from zero to the minor unit; f is a
// pricing multiplier, bounded by the caller.
func (m Money) Scale(f float64) Money {
	v := float64(m.AmountMinor) * f
	if v < 0 {
		return Money{AmountMinor: -int64(-v + 0.5), Currency: m.Currency}
	}
	return Money{AmountMinor: int64(v + 0.5), Currency: m.Currency}
}

func (m Money) String() string {
	sign, v := "", m.AmountMinor
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%02d %s", sign, v/100, v%100, m.Currency)
}
