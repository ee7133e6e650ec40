package domain

import (
	"errors"
	"fmt"
	"time"
)

// CreditSource is why a customer got a credit.
type CreditSource string

const (
	CreditReward CreditSource = "reward" // returned to an under-served bay
	CreditStaff  CreditSource = "staff"  // goodwill granted by staff
)

// Credit is one grant of credit to a customer. The balance lives in the ledger
// (customer:<id>:credit); a credit is applied to the customer's next trips.
type Credit struct {
	ID         string // the reward id, or the staff request's id
	CustomerID string
	Amount     Money
	Source     CreditSource
	Reason     string
	TripID     string
	BayID      string
	GrantedBy  string // staff subject; empty for rewards
	GrantedAt  time.Time
}

// Validate checks a credit about to be granted.
func (c Credit) Validate() error {
	if c.ID == "" || c.CustomerID == "" {
		return errors.New("a credit needs an id and a customer")
	}
	if _, err := NewMoney(c.Amount.AmountMinor, c.Amount.Currency); err != nil {
		return err
	}
	if !c.Amount.IsPositive() {
		return fmt.Errorf("credit must be positive, got %s", c.Amount)
	}
	switch c.Source {
	case CreditReward:
	case CreditStaff:
		if c.GrantedBy == "" {
			return errors.New("a staff credit needs the granting staff member")
		}
	default:
		return fmt.Errorf("unknown credit source %q", c.Source)
	}
	return nil
}

// CreditToApply is how much of available credit pays for a charge of price:
// all of the price if the credit covers it, else all of the credit.
func CreditToApply(available, price Money) Money {
	if available.Currency != price.Currency || !available.IsPositive() || !price.IsPositive() {
		return Money{Currency: price.Currency}
	}
	return Money{AmountMinor: min(available.AmountMinor, price.AmountMinor), Currency: price.Currency}
}
