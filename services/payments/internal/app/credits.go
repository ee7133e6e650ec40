package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/inbox"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

// Credits: rewards (booking's RewardGrantedV1) and staff goodwill add to the
// customer's credit (credit_granted: Dr expense:rewards, Cr customer credit).
// When a trip ends, available credit pays for it first (credit_applied,
// reference the trip id) and only the rest is captured at the gateway; a
// trip the credit covers entirely releases its hold.
//
// Grants are idempotent on their id (the reward id). Spending takes the
// customer's credit lock and reads the balance under it, so two trips ending
// at once never spend the same credit; a grant committing meanwhile is simply
// spent by the next trip.

// ConsumerRewardGranted is the inbox consumer of RewardGrantedV1.
const ConsumerRewardGranted = "payments.reward-granted"

// ErrCreditNotFound is returned when no credit grant has the id.
var ErrCreditNotFound = errors.New("credit not found")

// CreditStore keeps credit grants and the customer's credit lock
// (adapters/postgres.Payments); the balance is read from the ledger.
type CreditStore interface {
	// LockCustomerTx holds the customer's credit lock until tx ends.
	LockCustomerTx(ctx context.Context, tx pgx.Tx, customerID string) error
	// CreateCreditTx stores a grant; false when its id exists (nothing written).
	CreateCreditTx(ctx context.Context, tx pgx.Tx, c *domain.Credit) (bool, error)
	// CreditTx reads a grant; ErrCreditNotFound when there is none.
	CreditTx(ctx context.Context, tx pgx.Tx, id string) (*domain.Credit, error)
	// CreditBalanceTx is the customer's available credit in currency (≥ 0).
	CreditBalanceTx(ctx context.Context, tx pgx.Tx, customerID, currency string) (domain.Money, error)
}

// CreditGrant is a staff member's goodwill credit (the REST call).
type CreditGrant struct {
	CustomerID string
	Amount     domain.Money
	Reason     string
	TripID     string // the trip it makes up for, if any
	GrantedBy  string // staff subject
	// IdempotencyKey, when set, makes the grant replayable: the same staff
	// member and key grant once.
	IdempotencyKey string
}

// CreditID is the id of a staff grant: derived from granter and key when the
// client sent one, random otherwise.
func CreditID(grantedBy, idempotencyKey string) string {
	if idempotencyKey == "" {
		return "cr_" + strings.ToLower(rand.Text())
	}
	sum := sha256.Sum256([]byte(grantedBy + "\x00" + idempotencyKey))
	return "cr_" + hex.EncodeToString(sum[:16])
}

// GrantCredit adds a staff credit to the customer's balance. A replay (same
// staff member and idempotency key) returns the first grant.
func (f *Flows) GrantCredit(ctx context.Context, g CreditGrant) (*domain.Credit, error) {
	c := &domain.Credit{ID: CreditID(g.GrantedBy, g.IdempotencyKey), CustomerID: g.CustomerID, Amount: g.Amount,
		Source: domain.CreditStaff, Reason: g.Reason, TripID: g.TripID, GrantedBy: g.GrantedBy, GrantedAt: f.opts.Now()}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	var out *domain.Credit
	err := f.store.Begin(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = f.grantTx(ctx, tx, c)
		return err
	})
	return out, err
}

// OnRewardGranted turns a reward into credit, once per reward id.
func (f *Flows) OnRewardGranted(ctx context.Context, ev events.Event) error {
	if ev.Type != events.TypeRewardGrantedV1 {
		return fmt.Errorf("on reward granted: unexpected event type %q", ev.Type)
	}
	rw, err := events.Decode[events.RewardGrantedV1](ev)
	if err != nil {
		return err
	}
	c := &domain.Credit{ID: rw.RewardID, CustomerID: rw.CustomerID,
		Amount: domain.Money{AmountMinor: rw.Amount.AmountMinor, Currency: rw.Amount.Currency},
		Source: domain.CreditReward, Reason: rw.Reason, TripID: rw.TripID, BayID: rw.BayID, GrantedAt: rw.GrantedAt}
	if c.GrantedAt.IsZero() {
		c.GrantedAt = f.opts.Now()
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("reward %q in event %s: %w", rw.RewardID, ev.ID, err)
	}
	return f.store.Begin(ctx, func(tx pgx.Tx) error {
		first, err := inbox.Claim(ctx, tx, ConsumerRewardGranted, ev.ID)
		if err != nil || !first {
			return err
		}
		_, err = f.grantTx(ctx, tx, c)
		return err
	})
}

// grantTx stores the grant, posts it and announces it, in tx; an existing
// grant with the same id is returned as is (ErrIdempotencyKeyReused if its
// terms differ).
func (f *Flows) grantTx(ctx context.Context, tx pgx.Tx, c *domain.Credit) (*domain.Credit, error) {
	created, err := f.store.CreateCreditTx(ctx, tx, c)
	if err != nil {
		return nil, err
	}
	if !created {
		existing, err := f.store.CreditTx(ctx, tx, c.ID)
		if err != nil {
			return nil, err
		}
		if existing.CustomerID != c.CustomerID || existing.Amount != c.Amount {
			return nil, fmt.Errorf("%w: credit %s is %s for %s", ErrIdempotencyKeyReused, existing.ID, existing.Amount, existing.CustomerID)
		}
		return existing, nil
	}
	entry, err := domain.GrantCreditEntry(c.CustomerID, c.ID, c.Amount)
	if err != nil {
		return nil, err
	}
	if _, _, err := f.ledger.PostTx(ctx, tx, entry); err != nil {
		return nil, err
	}
	if err := f.emit(ctx, tx, c.CustomerID, events.TypeCreditGrantedV1, events.CreditGrantedV1{
		CreditID: c.ID, CustomerID: c.CustomerID, TripID: c.TripID, Amount: eventMoney(c.Amount), Source: string(c.Source),
		Reason: c.Reason, GrantedBy: c.GrantedBy, GrantedAt: c.GrantedAt}); err != nil {
		return nil, err
	}
	return c, nil
}

// applyCreditTx spends the customer's available credit on the trip's price in
// tx and returns what is left to capture. The first balance read takes no
// lock, so customers without credit (nearly all) never wait on each other.
func (f *Flows) applyCreditTx(ctx context.Context, tx pgx.Tx, p *domain.Payment, price domain.Money) (domain.Money, error) {
	if !price.IsPositive() {
		return price, nil
	}
	available, err := f.store.CreditBalanceTx(ctx, tx, p.CustomerID, price.Currency)
	if err != nil || !available.IsPositive() {
		return price, err
	}
	if err := f.store.LockCustomerTx(ctx, tx, p.CustomerID); err != nil {
		return price, err
	}
	// Read again under the lock: a trip that ended meanwhile may have spent it.
	if available, err = f.store.CreditBalanceTx(ctx, tx, p.CustomerID, price.Currency); err != nil {
		return price, err
	}
	applied := domain.CreditToApply(available, price)
	if !applied.IsPositive() {
		return price, nil
	}
	entry, err := domain.ApplyCreditEntry(p.CustomerID, p.TripID, applied)
	if err != nil {
		return price, err
	}
	if _, _, err := f.ledger.PostTx(ctx, tx, entry); err != nil {
		return price, err
	}
	if err := f.emit(ctx, tx, p.ID, events.TypeCreditAppliedV1, events.CreditAppliedV1{
		PaymentID: p.ID, CustomerID: p.CustomerID, TripID: p.TripID, Amount: eventMoney(applied),
		AppliedAt: f.opts.Now()}); err != nil {
		return price, err
	}
	return price.Sub(applied)
}
