// Package auth verifies the platform's bearer JWTs and carries the authenticated
// principal through the request context.
//
// Production verifies RS256/ES256 tokens against the identity provider's JWKS;
// development verifies HS256 tokens minted by Signer (the `mobility token` CLI).
// Authenticate turns a valid token into a Principal; RequireRole guards routes.
package auth

import (
	"context"
	"slices"
)

// Role is a coarse permission carried in the token's "roles" claim.
type Role string

// Roles known to the platform.
const (
	RoleCustomer Role = "customer"
	RoleStaff    Role = "staff"
	RoleAdmin    Role = "admin"
	// RoleService identifies another service calling with its own token.
	RoleService Role = "service"
)

// Principal is who made the request, as established by a verified token.
type Principal struct {
	Subject string
	Roles   []Role
}

// Has reports whether p holds role. The only implication is that admin satisfies
// staff: operators with admin rights must never be locked out of staff tooling.
// Nothing else is implied (admin is not a customer or a service, staff is not admin).
func (p Principal) Has(role Role) bool {
	if slices.Contains(p.Roles, role) {
		return true
	}
	return role == RoleStaff && slices.Contains(p.Roles, RoleAdmin)
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p; Authenticate uses it, and so can tests and
// service-internal calls that act on behalf of someone.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal put in ctx by Authenticate or WithPrincipal.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
