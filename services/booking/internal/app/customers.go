package app

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mobilitycorp/platform/services/booking/internal/domain"
)

// Actor is the authenticated caller as the ports established it. A customer
// acts only on the customer whose id is its token subject; staff (and
// admins) and other services act on anyone.
type Actor struct {
	ID       string // the token subject
	Customer bool
	Staff    bool // staff or admin
	Admin    bool
	Service  bool // another platform service (a machine, never a human approver)
}

// staffLike reports whether a may act on other customers' data.
func (a Actor) staffLike() bool { return a.Staff || a.Service }

// mayActOn reports whether a may read or change customer id.
func (a Actor) mayActOn(id string) bool { return a.staffLike() || (a.Customer && a.ID == id) }

// CustomerFilter narrows a staff listing of customers.
type CustomerFilter struct {
	LicenceStatus domain.LicenceStatus // "" for any
	Blocked       *bool
}

// CustomerRepository stores customers. Updates run fn on the row read under
// a lock, so concurrent changes of one customer serialise; the audit entries
// fn returns are written in the same transaction.
type CustomerRepository interface {
	// CreateCustomer fails with domain.ErrConflict when the id or the email is taken.
	CreateCustomer(ctx context.Context, c domain.Customer) error
	// Customer fails with domain.ErrNotFound.
	Customer(ctx context.Context, id string) (domain.Customer, error)
	UpdateCustomer(ctx context.Context, id string, fn func(c *domain.Customer) ([]domain.AuditEntry, error)) (domain.Customer, error)
	// Customers lists by id after afterID ("" from the start).
	Customers(ctx context.Context, f CustomerFilter, afterID string, limit int) ([]domain.Customer, error)
}

// Customers is the customer use cases: sign-up, profile, licence, payment
// method, blocking, and the eligibility check reservations rely on.
type Customers struct {
	repo CustomerRepository
	now  func() time.Time
}

// NewCustomers returns the customer service; now nil means time.Now.
func NewCustomers(repo CustomerRepository, now func() time.Time) *Customers {
	if now == nil {
		now = time.Now
	}
	return &Customers{repo: repo, now: func() time.Time { return now().UTC() }}
}

func forbidden(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{domain.ErrForbidden}, a...)...)
}

// SignUp creates a customer. A customer signs up as itself: the id is its
// token subject (an id in the request must equal it). Staff and services may
// sign someone up (support, migration) and must then give the id.
func (s *Customers) SignUp(ctx context.Context, a Actor, in domain.SignUp) (domain.Customer, error) {
	switch {
	case in.ID == "" && a.Customer:
		in.ID = a.ID
	case !a.Customer && !a.staffLike():
		return domain.Customer{}, forbidden("only customers, staff and services sign customers up")
	}
	if !a.staffLike() && in.ID != a.ID {
		return domain.Customer{}, forbidden("a customer signs up as itself: the id must be the token subject %q", a.ID)
	}
	c, err := domain.NewCustomer(in, s.now())
	if err != nil {
		return domain.Customer{}, err
	}
	if err := s.repo.CreateCustomer(ctx, c); err != nil {
		return domain.Customer{}, err
	}
	return c, nil
}

// Get returns a customer to itself or to staff.
func (s *Customers) Get(ctx context.Context, a Actor, id string) (domain.Customer, error) {
	if !a.mayActOn(id) {
		return domain.Customer{}, forbidden("customers see only their own profile")
	}
	return s.repo.Customer(ctx, id)
}

// List lists customers for staff, by id.
func (s *Customers) List(ctx context.Context, a Actor, f CustomerFilter, afterID string, limit int) ([]domain.Customer, error) {
	if !a.staffLike() {
		return nil, forbidden("only staff list customers")
	}
	return s.repo.Customers(ctx, f, afterID, limit)
}

func (s *Customers) update(ctx context.Context, id string, fn func(c *domain.Customer, now time.Time) ([]domain.AuditEntry, error)) (domain.Customer, error) {
	return s.repo.UpdateCustomer(ctx, id, func(c *domain.Customer) ([]domain.AuditEntry, error) {
		return fn(c, s.now())
	})
}

// UpdateProfile changes name, email, country or language; the date of birth
// only staff may correct, since age decides what a customer may rent.
func (s *Customers) UpdateProfile(ctx context.Context, a Actor, id string, p domain.ProfilePatch) (domain.Customer, error) {
	if !a.mayActOn(id) {
		return domain.Customer{}, forbidden("customers change only their own profile")
	}
	if p.DateOfBirth != nil && !a.Staff {
		return domain.Customer{}, forbidden("only staff correct a date of birth")
	}
	return s.update(ctx, id, func(c *domain.Customer, now time.Time) ([]domain.AuditEntry, error) {
		return nil, c.ApplyProfile(p, now)
	})
}

// SubmitLicence records a licence for staff to verify.
func (s *Customers) SubmitLicence(ctx context.Context, a Actor, id string, l domain.LicenceSubmission) (domain.Customer, error) {
	if !a.mayActOn(id) {
		return domain.Customer{}, forbidden("customers submit only their own licence")
	}
	return s.update(ctx, id, func(c *domain.Customer, now time.Time) ([]domain.AuditEntry, error) {
		return nil, c.SubmitLicence(l, now)
	})
}

// ReviewLicence verifies or rejects the pending licence. Only a human (staff)
// reviews, and never their own licence.
func (s *Customers) ReviewLicence(ctx context.Context, a Actor, id string, verify bool, reason string) (domain.Customer, error) {
	switch {
	case !a.Staff:
		return domain.Customer{}, forbidden("only staff review licences")
	case a.ID == id:
		return domain.Customer{}, forbidden("staff do not review their own licence")
	}
	return s.update(ctx, id, func(c *domain.Customer, now time.Time) ([]domain.AuditEntry, error) {
		if err := c.ReviewLicence(verify, reason, a.ID, now); err != nil {
			return nil, err
		}
		action := domain.AuditLicenceRejected
		if verify {
			action = domain.AuditLicenceVerified
		}
		return []domain.AuditEntry{{CustomerID: id, Action: action, Reason: c.Licence.RejectionReason, Actor: a.ID, At: now}}, nil
	})
}

// SetPaymentMethod stores the customer's payment method reference.
func (s *Customers) SetPaymentMethod(ctx context.Context, a Actor, id, ref string) (domain.Customer, error) {
	if !a.mayActOn(id) {
		return domain.Customer{}, forbidden("customers set only their own payment method")
	}
	return s.update(ctx, id, func(c *domain.Customer, now time.Time) ([]domain.AuditEntry, error) {
		return nil, c.SetPaymentMethod(ref, now)
	})
}

// mayBlock: blocking is always human-approved (domain.md), so it takes an
// admin, and a token that is also a service's (a machine) is refused.
func mayBlock(a Actor) error {
	if !a.Admin || a.Service {
		return forbidden("only an admin (a human) blocks or unblocks customers")
	}
	return nil
}

// Block blocks a customer; the admin and the reason are recorded.
func (s *Customers) Block(ctx context.Context, a Actor, id, reason string) (domain.Customer, error) {
	if err := mayBlock(a); err != nil {
		return domain.Customer{}, err
	}
	return s.update(ctx, id, func(c *domain.Customer, now time.Time) ([]domain.AuditEntry, error) {
		if err := c.BlockBy(a.ID, reason, now); err != nil {
			return nil, err
		}
		return []domain.AuditEntry{{CustomerID: id, Action: domain.AuditBlocked, Reason: c.Block.Reason, Actor: a.ID, At: now}}, nil
	})
}

// Unblock lifts a block; the admin and the reason are recorded.
func (s *Customers) Unblock(ctx context.Context, a Actor, id, reason string) (domain.Customer, error) {
	if err := mayBlock(a); err != nil {
		return domain.Customer{}, err
	}
	return s.update(ctx, id, func(c *domain.Customer, now time.Time) ([]domain.AuditEntry, error) {
		if err := c.Unblock(reason, now); err != nil {
			return nil, err
		}
		return []domain.AuditEntry{{CustomerID: id, Action: domain.AuditUnblocked, Reason: strings.TrimSpace(reason), Actor: a.ID, At: now}}, nil
	})
}

// Customer returns a customer for other booking areas (no caller check:
// they act for a caller they authorised), e.g. the payment method to charge.
func (s *Customers) Customer(ctx context.Context, id string) (domain.Customer, error) {
	return s.repo.Customer(ctx, id)
}

// CheckEligible reports whether customer id may rent a vehicle of type t
// starting at `at`: nil, a *domain.IneligibleError (ErrForbidden, with the
// reason), or domain.ErrNotFound. It satisfies EligibilityChecker. Use the
// repository's LockEligibleTx inside a booking transaction to also hold the
// customer against a concurrent block.
func (s *Customers) CheckEligible(ctx context.Context, id string, t domain.VehicleType, at time.Time) error {
	c, err := s.repo.Customer(ctx, id)
	if err != nil {
		return err
	}
	return c.Eligible(t, at)
}
