package auth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mobilitycorp/platform/pkg/httpx/problem"
)

// Realm is the protection space named in WWW-Authenticate challenges.
const Realm = "mobilitycorp"

// Authenticate requires a valid `Authorization: Bearer <jwt>` and puts the token's
// Principal in the request context. Failures get a 401 problem with an RFC 6750
// challenge. A request without bearer credentials gets a bare challenge (RFC 6750
// §3.1: no error code when no authentication was attempted); a bad token gets
// error="invalid_token" and a short error_description.
func (v *Verifier) Authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "Bearer") {
			unauthorized(w, r, "", "bearer token required")
			return
		}
		token = strings.TrimSpace(token)
		if token == "" {
			unauthorized(w, r, "invalid_token", "empty bearer token")
			return
		}
		p, err := v.Verify(r.Context(), token)
		if err != nil {
			unauthorized(w, r, "invalid_token", describe(err))
			return
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

// RequireRole lets a request through when its principal has at least one of roles
// (see Principal.Has for the admin→staff rule): 401 without a principal, 403 otherwise.
// Mount it after Authenticate. It panics when called without roles, a wiring bug
// that would otherwise silently deny (or allow) every request.
func RequireRole(roles ...Role) func(http.Handler) http.Handler {
	if len(roles) == 0 {
		panic("auth.RequireRole: no roles given")
	}
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = string(r)
	}
	detail := "requires role " + strings.Join(names, " or ")
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, ok := FromContext(r.Context())
			if !ok {
				unauthorized(w, r, "", "bearer token required")
				return
			}
			for _, role := range roles {
				if p.Has(role) {
					next.ServeHTTP(w, r)
					return
				}
			}
			w.Header().Set("WWW-Authenticate", challenge("insufficient_scope", detail))
			problem.Write(w, r, problem.Forbidden(detail))
		})
	}
}

func unauthorized(w http.ResponseWriter, r *http.Request, code, detail string) {
	w.Header().Set("WWW-Authenticate", challenge(code, detail))
	problem.Write(w, r, problem.Unauthorized(detail))
}

// challenge renders an RFC 6750 Bearer challenge. Descriptions are fixed strings
// from this package, so they never contain quotes or backslashes.
func challenge(code, description string) string {
	if code == "" {
		return fmt.Sprintf("Bearer realm=%q", Realm)
	}
	return fmt.Sprintf("Bearer realm=%q, error=%q, error_description=%q", Realm, code, description)
}

// describe names why a token was rejected, without echoing token contents.
func describe(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "the token has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "the token is not valid yet"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "the token is not meant for this audience"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "the token has an untrusted issuer"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "the token is malformed"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing), errors.Is(err, jwt.ErrTokenInvalidSubject):
		return "the token lacks a required claim"
	default:
		// Signature, algorithm and unknown-key failures look alike on purpose.
		return "the token signature or algorithm is not accepted"
	}
}
