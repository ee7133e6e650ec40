package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mobilitycorp/platform/pkg/auth"
	"github.com/mobilitycorp/platform/pkg/config"
	"github.com/mobilitycorp/platform/pkg/httpx/problem"
)

const (
	issuer   = "mobilitycorp"
	audience = "mobility-api"
	secret   = config.Secret("dev-secret-0123456789abcdef-0123456789")
)

// claims returns valid claims for sub/roles; mods adjust them per test case.
func claims(sub string, roles []auth.Role, mods ...func(*auth.Claims)) auth.Claims {
	now := time.Now()
	c := auth.Claims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer:    issuer,
		Subject:   sub,
		Audience:  jwt.ClaimStrings{audience},
		ExpiresAt: jwt.NewNumericDate(now.Add(5 * time.Minute)),
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		ID:        "jti-" + sub,
	}}
	for _, r := range roles {
		c.Roles = append(c.Roles, string(r))
	}
	for _, m := range mods {
		m(&c)
	}
	return c
}

func sign(t *testing.T, method jwt.SigningMethod, key any, kid string, c auth.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", method.Alg(), err)
	}
	return s
}

func hs256(t *testing.T, c auth.Claims) string {
	return sign(t, jwt.SigningMethodHS256, []byte(secret.Reveal()), "", c)
}

func newHS256Verifier(t *testing.T) *auth.Verifier {
	t.Helper()
	v, err := auth.NewVerifier(t.Context(), auth.Config{HS256Secret: secret, Issuer: issuer, Audience: audience, Leeway: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// routes mounts /me (any authenticated principal; echoes the subject) and /staff.
func routes(v *auth.Verifier) http.Handler {
	me := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := auth.FromContext(r.Context())
		if !ok {
			http.Error(w, "no principal", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte(p.Subject))
	})
	mux := http.NewServeMux()
	mux.Handle("/me", v.Authenticate(me))
	mux.Handle("/staff", v.Authenticate(auth.RequireRole(auth.RoleStaff)(me)))
	return mux
}

type want struct {
	status    int
	body      string // exact body on success
	challenge string // exact WWW-Authenticate, when set
	problem   string // problem type slug on failure
}

func do(t *testing.T, h http.Handler, path, authorization string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func check(t *testing.T, rec *httptest.ResponseRecorder, w want) {
	t.Helper()
	if rec.Code != w.status {
		t.Fatalf("status = %d, want %d (body %s)", rec.Code, w.status, rec.Body)
	}
	if w.challenge != "" {
		if got := rec.Header().Get("WWW-Authenticate"); got != w.challenge {
			t.Fatalf("WWW-Authenticate = %q, want %q", got, w.challenge)
		}
	}
	if w.status < 400 {
		if rec.Body.String() != w.body {
			t.Fatalf("body = %q, want %q", rec.Body, w.body)
		}
		return
	}
	if ct := rec.Header().Get("Content-Type"); ct != problem.ContentType {
		t.Fatalf("Content-Type = %q, want %q", ct, problem.ContentType)
	}
	var p problem.Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("decode problem: %v", err)
	}
	if p.Status != w.status || p.Type != problem.TypePrefix+w.problem {
		t.Fatalf("problem = %+v, want status %d type %s", p, w.status, w.problem)
	}
	if w.status == http.StatusUnauthorized && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), `Bearer realm="mobilitycorp"`) {
		t.Fatalf("401 without Bearer challenge: %q", rec.Header().Get("WWW-Authenticate"))
	}
}

func invalidToken(desc string) string {
	return `Bearer realm="mobilitycorp", error="invalid_token", error_description="` + desc + `"`
}

func TestAuthenticateHS256(t *testing.T) {
	v := newHS256Verifier(t)
	h := routes(v)
	minted, err := auth.NewHS256Signer(secret, issuer, audience).Mint("cli-user", []auth.Role{auth.RoleCustomer}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	customer := []auth.Role{auth.RoleCustomer}
	unauthorized := func(desc string) want {
		return want{status: http.StatusUnauthorized, problem: "unauthorized", challenge: invalidToken(desc)}
	}

	tests := []struct {
		name          string
		path          string
		authorization string
		want          want
	}{
		{"valid", "/me", "Bearer " + hs256(t, claims("cust-1", customer)), want{status: http.StatusOK, body: "cust-1"}},
		{"scheme is case-insensitive", "/me", "bearer " + hs256(t, claims("cust-1", customer)), want{status: http.StatusOK, body: "cust-1"}},
		{"minted by the dev signer", "/me", "Bearer " + minted, want{status: http.StatusOK, body: "cli-user"}},
		{"expired within leeway", "/me", "Bearer " + hs256(t, claims("cust-1", customer, func(c *auth.Claims) {
			c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-10 * time.Second))
		})), want{status: http.StatusOK, body: "cust-1"}},
		{"expired", "/me", "Bearer " + hs256(t, claims("cust-1", customer, func(c *auth.Claims) {
			c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-2 * time.Minute))
		})), unauthorized("the token has expired")},
		{"no exp", "/me", "Bearer " + hs256(t, claims("cust-1", customer, func(c *auth.Claims) { c.ExpiresAt = nil })),
			unauthorized("the token lacks a required claim")},
		{"not yet valid", "/me", "Bearer " + hs256(t, claims("cust-1", customer, func(c *auth.Claims) {
			c.NotBefore = jwt.NewNumericDate(time.Now().Add(5 * time.Minute))
		})), unauthorized("the token is not valid yet")},
		{"no subject", "/me", "Bearer " + hs256(t, claims("", customer)), unauthorized("the token lacks a required claim")},
		{"signed with another secret", "/me",
			"Bearer " + sign(t, jwt.SigningMethodHS256, []byte("another-secret-0123456789abcdef-xyz"), "", claims("cust-1", customer)),
			unauthorized("the token signature or algorithm is not accepted")},
		{"HS512 with the right secret", "/me",
			"Bearer " + sign(t, jwt.SigningMethodHS512, []byte(secret.Reveal()), "", claims("cust-1", customer)),
			unauthorized("the token signature or algorithm is not accepted")},
		{"alg none", "/me",
			"Bearer " + sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", claims("cust-1", customer)),
			unauthorized("the token signature or algorithm is not accepted")},
		{"wrong audience", "/me", "Bearer " + hs256(t, claims("cust-1", customer, func(c *auth.Claims) {
			c.Audience = jwt.ClaimStrings{"other-api"}
		})), unauthorized("the token is not meant for this audience")},
		{"wrong issuer", "/me", "Bearer " + hs256(t, claims("cust-1", customer, func(c *auth.Claims) { c.Issuer = "evil" })),
			unauthorized("the token has an untrusted issuer")},
		{"garbage", "/me", "Bearer not.a.jwt", unauthorized("the token is malformed")},
		{"empty bearer", "/me", "Bearer ", unauthorized("empty bearer token")},
		{"missing header", "/me", "", want{status: http.StatusUnauthorized, problem: "unauthorized", challenge: `Bearer realm="mobilitycorp"`}},
		{"basic scheme", "/me", "Basic dXNlcjpwYXNz", want{status: http.StatusUnauthorized, problem: "unauthorized", challenge: `Bearer realm="mobilitycorp"`}},
		{"customer on staff route", "/staff", "Bearer " + hs256(t, claims("cust-1", customer)), want{status: http.StatusForbidden, problem: "forbidden",
			challenge: `Bearer realm="mobilitycorp", error="insufficient_scope", error_description="requires role staff"`}},
		{"service on staff route", "/staff", "Bearer " + hs256(t, claims("svc", []auth.Role{auth.RoleService})), want{status: http.StatusForbidden, problem: "forbidden"}},
		{"no roles on staff route", "/staff", "Bearer " + hs256(t, claims("nobody", nil)), want{status: http.StatusForbidden, problem: "forbidden"}},
		{"staff on staff route", "/staff", "Bearer " + hs256(t, claims("staff-1", []auth.Role{auth.RoleStaff})), want{status: http.StatusOK, body: "staff-1"}},
		{"admin on staff route", "/staff", "Bearer " + hs256(t, claims("admin-1", []auth.Role{auth.RoleAdmin})), want{status: http.StatusOK, body: "admin-1"}},
		{"expired staff on staff route", "/staff", "Bearer " + hs256(t, claims("staff-1", []auth.Role{auth.RoleStaff}, func(c *auth.Claims) {
			c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Hour))
		})), unauthorized("the token has expired")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			check(t, do(t, h, tc.path, tc.authorization), tc.want)
		})
	}
}

func TestRequireRoleWithoutPrincipal(t *testing.T) {
	ran := false
	h := auth.RequireRole(auth.RoleCustomer)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { ran = true }))
	check(t, do(t, h, "/x", ""), want{status: http.StatusUnauthorized, problem: "unauthorized", challenge: `Bearer realm="mobilitycorp"`})
	if ran {
		t.Fatal("handler ran without a principal")
	}
}

func TestRequireRoleAnyOf(t *testing.T) {
	h := auth.RequireRole(auth.RoleStaff, auth.RoleService)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	tests := []struct {
		role auth.Role
		want int
	}{
		{auth.RoleService, http.StatusNoContent},
		{auth.RoleStaff, http.StatusNoContent},
		{auth.RoleAdmin, http.StatusNoContent},
		{auth.RoleCustomer, http.StatusForbidden},
	}
	for _, tc := range tests {
		t.Run(string(tc.role), func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/x", nil)
			req = req.WithContext(auth.WithPrincipal(req.Context(), auth.Principal{Subject: "s", Roles: []auth.Role{tc.role}}))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("status = %d, want %d", rec.Code, tc.want)
			}
		})
	}
}

func TestPrincipalHas(t *testing.T) {
	tests := []struct {
		name  string
		roles []auth.Role
		role  auth.Role
		want  bool
	}{
		{"own role", []auth.Role{auth.RoleCustomer}, auth.RoleCustomer, true},
		{"admin satisfies staff", []auth.Role{auth.RoleAdmin}, auth.RoleStaff, true},
		{"admin is not customer", []auth.Role{auth.RoleAdmin}, auth.RoleCustomer, false},
		{"admin is not service", []auth.Role{auth.RoleAdmin}, auth.RoleService, false},
		{"staff is not admin", []auth.Role{auth.RoleStaff}, auth.RoleAdmin, false},
		{"customer is not staff", []auth.Role{auth.RoleCustomer}, auth.RoleStaff, false},
		{"no roles", nil, auth.RoleCustomer, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := (auth.Principal{Subject: "s", Roles: tc.roles}).Has(tc.role); got != tc.want {
				t.Fatalf("Has(%s) = %v, want %v", tc.role, got, tc.want)
			}
		})
	}
}

func TestContextRoundTrip(t *testing.T) {
	if _, ok := auth.FromContext(context.Background()); ok {
		t.Fatal("empty context has a principal")
	}
	p := auth.Principal{Subject: "u1", Roles: []auth.Role{auth.RoleStaff}}
	got, ok := auth.FromContext(auth.WithPrincipal(context.Background(), p))
	if !ok || got.Subject != "u1" || !got.Has(auth.RoleStaff) {
		t.Fatalf("FromContext = %+v, %v", got, ok)
	}
}

func TestVerifyReturnsPrincipal(t *testing.T) {
	v := newHS256Verifier(t)
	p, err := v.Verify(t.Context(), hs256(t, claims("u9", []auth.Role{auth.RoleCustomer, "future-role"})))
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "u9" || len(p.Roles) != 2 || !p.Has(auth.RoleCustomer) || p.Has(auth.RoleStaff) {
		t.Fatalf("principal = %+v", p)
	}
	_, err = v.Verify(t.Context(), "x.y.z")
	if !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("err = %v, want ErrInvalidToken", err)
	}
}

func TestSignerMint(t *testing.T) {
	s := auth.NewHS256Signer(secret, issuer, audience)
	a, err := s.Mint("u1", []auth.Role{auth.RoleStaff, auth.RoleCustomer}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Mint("u1", []auth.Role{auth.RoleStaff, auth.RoleCustomer}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	parse := func(tok string) auth.Claims {
		var c auth.Claims
		if _, err := jwt.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return []byte(secret.Reveal()), nil },
			jwt.WithValidMethods([]string{"HS256"})); err != nil {
			t.Fatal(err)
		}
		return c
	}
	ca, cb := parse(a), parse(b)
	if ca.ID == "" || ca.ID == cb.ID {
		t.Fatalf("jti not random: %q, %q", ca.ID, cb.ID)
	}
	if ca.Issuer != issuer || len(ca.Audience) != 1 || ca.Audience[0] != audience || ca.Subject != "u1" ||
		strings.Join(ca.Roles, ",") != "staff,customer" || ca.IssuedAt == nil || ca.NotBefore == nil {
		t.Fatalf("claims = %+v", ca)
	}
	if ttl := ca.ExpiresAt.Sub(ca.IssuedAt.Time); ttl != time.Hour {
		t.Fatalf("exp - iat = %v, want 1h", ttl)
	}

	errs := []struct {
		name   string
		signer *auth.Signer
		sub    string
		ttl    time.Duration
		want   string
	}{
		{"short secret", auth.NewHS256Signer("too-short", issuer, audience), "u1", time.Hour, "at least 32 bytes"},
		{"no subject", s, "", time.Hour, "subject is required"},
		{"zero ttl", s, "u1", 0, "ttl must be positive"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.signer.Mint(tc.sub, nil, tc.ttl); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want containing %q", err, tc.want)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    auth.Config
		wantErr string
	}{
		{
			name: "hs256 with defaults",
			env:  map[string]string{"AUTH_HS256_SECRET": secret.Reveal()},
			want: auth.Config{HS256Secret: secret, Issuer: "mobilitycorp", Audience: "mobility-api", Leeway: 30 * time.Second},
		},
		{
			name: "jwks",
			env:  map[string]string{"AUTH_JWKS_URL": "https://idp.example/.well-known/jwks.json", "AUTH_LEEWAY": "5s"},
			want: auth.Config{JWKSURL: "https://idp.example/.well-known/jwks.json", Issuer: "mobilitycorp", Audience: "mobility-api", Leeway: 5 * time.Second},
		},
		{name: "neither", env: map[string]string{}, wantErr: "one of AUTH_JWKS_URL or AUTH_HS256_SECRET is required"},
		{name: "both", env: map[string]string{"AUTH_JWKS_URL": "https://idp.example/jwks", "AUTH_HS256_SECRET": secret.Reveal()}, wantErr: "mutually exclusive"},
		{name: "short secret", env: map[string]string{"AUTH_HS256_SECRET": "0123456789abcdef0123456789abcde"}, wantErr: "at least 32 bytes"},
		{name: "relative jwks url", env: map[string]string{"AUTH_JWKS_URL": "/jwks.json"}, wantErr: "absolute http(s) URL"},
		{name: "negative leeway", env: map[string]string{"AUTH_HS256_SECRET": secret.Reveal(), "AUTH_LEEWAY": "-1s"}, wantErr: "must not be negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got auth.Config
			err := config.LoadFrom("", tc.env, &got)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestConfigValidateRequiresIssuerAndAudience(t *testing.T) {
	// The env loader applies defaults to empty values, so check struct literals directly.
	err := auth.Config{HS256Secret: secret}.Validate()
	if err == nil || !strings.Contains(err.Error(), "AUTH_ISSUER is required") || !strings.Contains(err.Error(), "AUTH_AUDIENCE is required") {
		t.Fatalf("err = %v", err)
	}
}

func TestNewVerifierRejectsInvalidConfig(t *testing.T) {
	if _, err := auth.NewVerifier(t.Context(), auth.Config{HS256Secret: "short", Issuer: issuer, Audience: audience}); err == nil {
		t.Fatal("NewVerifier accepted a short secret")
	}
}
