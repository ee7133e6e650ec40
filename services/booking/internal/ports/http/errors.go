// Package http is booking's public REST API (/v1). Each area (customers, fleet,
// availability, pricing, reservations, trips) has its own file with a handler
// type and a Mount method; this file holds what they share: domain errors as
// RFC 9457 problems, the caller's identity, and cursor pagination.
package http

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/mobilitycorp/platform/pkg/auth"
	"github.com/mobilitycorp/platform/pkg/httpx/problem"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
)

// writeError maps domain error classes to problems; anything else is a 500
// that pkg/httpx/problem logs without leaking internals.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	var p *problem.Problem
	switch {
	case errors.As(err, &p):
	case errors.Is(err, domain.ErrNotFound):
		p = problem.NotFound(err.Error())
	case errors.Is(err, domain.ErrConflict):
		p = problem.Conflict("conflict", err.Error())
	case errors.Is(err, domain.ErrForbidden):
		p = problem.Forbidden(err.Error())
	case errors.Is(err, domain.ErrPrecondition):
		p = problem.New(http.StatusUnprocessableEntity, "precondition-failed", "", err.Error())
	case errors.Is(err, domain.ErrInvalid):
		p = problem.Validation(err.Error())
	default:
		problem.WriteError(w, r, err)
		return
	}
	problem.Write(w, r, p)
}

// principal is the authenticated caller; routes are mounted behind
// auth.Authenticate, so a missing principal is a wiring bug.
func principal(r *http.Request) auth.Principal {
	p, _ := auth.FromContext(r.Context())
	return p
}

// isStaff reports whether the caller may act on other customers' data.
func isStaff(p auth.Principal) bool { return p.Has(auth.RoleStaff) || p.Has(auth.RoleService) }

// Page limits.
const (
	defaultPageLimit = 20
	maxPageLimit     = 100
)

// pageParams reads ?limit= and ?cursor=; the cursor is opaque to clients (a
// base64url JSON of the last row's sort key), decoded into after.
func pageParams(r *http.Request, after any) (limit int, hasCursor bool, err error) {
	limit = defaultPageLimit
	if s := r.URL.Query().Get("limit"); s != "" {
		n, perr := strconv.Atoi(s)
		if perr != nil || n < 1 || n > maxPageLimit {
			return 0, false, problem.Validation(fmt.Sprintf("limit must be an integer between 1 and %d", maxPageLimit),
				problem.FieldError{Pointer: "/limit", Detail: "out of range"})
		}
		limit = n
	}
	c := r.URL.Query().Get("cursor")
	if c == "" {
		return limit, false, nil
	}
	raw, derr := base64.RawURLEncoding.DecodeString(c)
	if derr != nil || json.Unmarshal(raw, after) != nil {
		return 0, false, problem.Validation("cursor is not one this API issued", problem.FieldError{Pointer: "/cursor", Detail: "malformed"})
	}
	return limit, true, nil
}

// nextCursor encodes the sort key of the last row returned.
func nextCursor(last any) string {
	raw, err := json.Marshal(last)
	if err != nil {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(raw)
}
