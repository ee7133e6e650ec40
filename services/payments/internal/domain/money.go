// Package domain holds the payments vocabulary: money in integer minor units, the
// payment lifecycle mirroring Stripe's PaymentIntent statuses, and the double-entry
// ledger rules. It knows nothing of HTTP, SQL, Kafka or any gateway's wire format.
package domain

import (
	"errors"
	"fmt"
	"regexp"
)

// Money is an amount in the currency's minor unit (cents for EUR). Amounts are
// never floats: every sum must be exact to the cent.
type Money struct {
	AmountMinor int64  `json:"amount_minor"`
	Currency    string `json:"currency"` // ISO 4217, upper case
}

var currencyCode = regexp.MustCompile(`^[A-Z]{3}$`)

// ErrCurrencyMismatch is returned when two amounts of different currencies meet.
var ErrCurrencyMismatch = errors.New("currency mismatch")

// NewMoney validates the currency code.
func NewMoney(amountMinor int64, currency string) (Money, error) {
	if !currencyCode.MatchString(currency) {
		return Money{}, fmt.Errorf("currency %q is not an ISO 4217 code", currency)
	}
	return Money{AmountMinor: amountMinor, Currency: currency}, nil
}

// Add returns m + o; both must share a currency.
func (m Money) Add(o Money) (Money, error) {
	if m.Currency != o.Currency {
		return Money{}, fmt.Errorf("%w: %s + %s", ErrCurrencyMismatch, m.Currency, o.Currency)
	}
	return Money{AmountMinor: m.AmountMinor + o.AmountMinor, Currency: m.Currency}, nil
}

// Sub returns m − o; both must share a currency.
func (m Money) Sub(o Money) (Money, error) {
	return m.Add(Money{AmountMinor: -o.AmountMinor, Currency: o.Currency})
}

// Neg returns −m.
func (m Money) Neg() Money { return Money{AmountMinor: -m.AmountMinor, Currency: m.Currency} }

// IsPositive reports m > 0.
func (m Money) IsPositive() bool { return m.AmountMinor > 0 }

func (m Money) String() string {
	sign, v := "", m.AmountMinor
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%02d %s", sign, v/100, v%100, m.Currency)
}
