package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mobilitycorp/platform/pkg/auth"
)

// idp is a fake identity provider: an RSA and an EC P-256 signing key published as
// an RFC 7517 JWK Set.
type idp struct {
	rsa     *rsa.PrivateKey
	ec      *ecdsa.PrivateKey
	fetches atomic.Int64
}

func newIDP(t *testing.T) *idp {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &idp{rsa: rk, ec: ek}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwks renders the public keys by hand, as an identity provider would publish them.
func (p *idp) jwks(t *testing.T) []byte {
	t.Helper()
	point, err := p.ec.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]any{"keys": []map[string]string{
		{"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256",
			"n": b64(p.rsa.N.Bytes()), "e": b64(big.NewInt(int64(p.rsa.E)).Bytes())},
		{"kty": "EC", "kid": "ec-1", "use": "sig", "alg": "ES256", "crv": "P-256",
			"x": b64(point[1:33]), "y": b64(point[33:65])},
	}}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (p *idp) handler(t *testing.T) http.Handler {
	body := p.jwks(t)
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		p.fetches.Add(1)
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(body)
	})
}

func jwksConfig(url string) auth.Config {
	return auth.Config{JWKSURL: url, Issuer: issuer, Audience: audience, Leeway: 30 * time.Second}
}

func TestAuthenticateJWKS(t *testing.T) {
	p := newIDP(t)
	srv := httptest.NewServer(p.handler(t))
	t.Cleanup(srv.Close)
	v, err := auth.NewVerifier(t.Context(), jwksConfig(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	if n := p.fetches.Load(); n != 1 {
		t.Fatalf("JWKS fetched %d times at startup, want 1", n)
	}
	h := routes(v)

	otherRSA, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	// The classic alg-confusion attack: HMAC keyed with the RSA public key the verifier trusts.
	rsaPublicDER, err := x509.MarshalPKIXPublicKey(&p.rsa.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	customer := []auth.Role{auth.RoleCustomer}
	rejected := want{status: http.StatusUnauthorized, problem: "unauthorized",
		challenge: invalidToken("the token signature or algorithm is not accepted")}

	tests := []struct {
		name  string
		path  string
		token string
		want  want
	}{
		{"RS256", "/me", sign(t, jwt.SigningMethodRS256, p.rsa, "rsa-1", claims("cust-rs", customer)), want{status: http.StatusOK, body: "cust-rs"}},
		{"ES256", "/me", sign(t, jwt.SigningMethodES256, p.ec, "ec-1", claims("cust-es", customer)), want{status: http.StatusOK, body: "cust-es"}},
		{"RS256 without kid", "/me", sign(t, jwt.SigningMethodRS256, p.rsa, "", claims("cust-nokid", customer)), want{status: http.StatusOK, body: "cust-nokid"}},
		{"ES256 admin on staff route", "/staff", sign(t, jwt.SigningMethodES256, p.ec, "ec-1", claims("admin-1", []auth.Role{auth.RoleAdmin})), want{status: http.StatusOK, body: "admin-1"}},
		{"RS256 customer on staff route", "/staff", sign(t, jwt.SigningMethodRS256, p.rsa, "rsa-1", claims("cust-rs", customer)), want{status: http.StatusForbidden, problem: "forbidden"}},
		{"unknown kid", "/me", sign(t, jwt.SigningMethodRS256, otherRSA, "rsa-2", claims("cust-1", customer)), rejected},
		{"known kid, foreign key", "/me", sign(t, jwt.SigningMethodRS256, otherRSA, "rsa-1", claims("cust-1", customer)), rejected},
		{"kid of another key type", "/me", sign(t, jwt.SigningMethodRS256, p.rsa, "ec-1", claims("cust-1", customer)), rejected},
		{"HS256 keyed with the RSA public key", "/me", sign(t, jwt.SigningMethodHS256, rsaPublicDER, "rsa-1", claims("cust-1", customer)), rejected},
		{"HS256 with the dev secret", "/me", hs256(t, claims("cust-1", customer)), rejected},
		{"RS512 by the trusted key", "/me", sign(t, jwt.SigningMethodRS512, p.rsa, "rsa-1", claims("cust-1", customer)), rejected},
		{"alg none", "/me", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "rsa-1", claims("cust-1", customer)), rejected},
		{"expired RS256", "/me", sign(t, jwt.SigningMethodRS256, p.rsa, "rsa-1", claims("cust-1", customer, func(c *auth.Claims) {
			c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Hour))
		})), want{status: http.StatusUnauthorized, problem: "unauthorized", challenge: invalidToken("the token has expired")}},
		{"RS256 wrong audience", "/me", sign(t, jwt.SigningMethodRS256, p.rsa, "rsa-1", claims("cust-1", customer, func(c *auth.Claims) {
			c.Audience = jwt.ClaimStrings{"payments-internal"}
		})), want{status: http.StatusUnauthorized, problem: "unauthorized", challenge: invalidToken("the token is not meant for this audience")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			check(t, do(t, h, tc.path, "Bearer "+tc.token), tc.want)
		})
	}
}

func TestNewVerifierFailsOnUnreachableJWKS(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	if _, err := auth.NewVerifier(t.Context(), jwksConfig(srv.URL)); err == nil {
		t.Fatal("NewVerifier succeeded without a key set")
	}
}

// handlerTransport serves requests in memory, so the JWKS client runs inside a synctest bubble.
type handlerTransport struct{ h http.Handler }

func (tr handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	tr.h.ServeHTTP(rec, req)
	return rec.Result(), nil
}

// TestJWKSRefreshStopsWithContext proves the background refresh runs and ends with
// ctx: synctest.Test fails if any goroutine of the bubble is still alive at the end.
func TestJWKSRefreshStopsWithContext(t *testing.T) {
	p := newIDP(t)
	h := p.handler(t)
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// Signed inside the bubble: its fake clock starts in 2000.
		token := sign(t, jwt.SigningMethodES256, p.ec, "ec-1", claims("cust-1", nil))
		v, err := auth.NewVerifierWithClient(ctx, jwksConfig("http://idp.test/jwks.json"), &http.Client{Transport: handlerTransport{h}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(ctx, token); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2*time.Hour + time.Minute) // fake clock: two hourly refreshes
		synctest.Wait()
		if n := p.fetches.Load(); n != 3 {
			t.Fatalf("JWKS fetched %d times, want 3 (startup + 2 refreshes)", n)
		}
		cancel()
		synctest.Wait()
	})
}
