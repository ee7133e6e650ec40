package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/mobilitycorp/platform/pkg/config"
)

// MinHS256SecretLen is the shortest accepted HS256 secret: HMAC-SHA256 keys shorter
// than the hash output (RFC 7518 §3.2) are brute-forceable.
const MinHS256SecretLen = 32

// Config selects how tokens are verified. Exactly one of JWKSURL (production,
// RS256/ES256 keys published by the identity provider) or HS256Secret (development)
// must be set.
type Config struct {
	JWKSURL     string        `env:"AUTH_JWKS_URL"`
	HS256Secret config.Secret `env:"AUTH_HS256_SECRET"`
	Issuer      string        `env:"AUTH_ISSUER" envDefault:"mobilitycorp"`
	Audience    string        `env:"AUTH_AUDIENCE" envDefault:"mobility-api"`
	// Leeway absorbs clock skew between the issuer and this service for exp, nbf and iat.
	Leeway time.Duration `env:"AUTH_LEEWAY" envDefault:"30s"`
}

// Validate implements config.Validator.
func (c Config) Validate() error {
	var errs []error
	switch {
	case c.JWKSURL == "" && c.HS256Secret == "":
		errs = append(errs, errors.New("one of AUTH_JWKS_URL or AUTH_HS256_SECRET is required"))
	case c.JWKSURL != "" && c.HS256Secret != "":
		// Accepting both would let a leaked development secret mint production tokens.
		errs = append(errs, errors.New("AUTH_JWKS_URL and AUTH_HS256_SECRET are mutually exclusive"))
	case c.JWKSURL != "":
		if u, err := url.Parse(c.JWKSURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, errors.New("AUTH_JWKS_URL must be an absolute http(s) URL"))
		}
	case len(c.HS256Secret.Reveal()) < MinHS256SecretLen:
		errs = append(errs, fmt.Errorf("AUTH_HS256_SECRET must be at least %d bytes", MinHS256SecretLen))
	}
	if c.Issuer == "" {
		errs = append(errs, errors.New("AUTH_ISSUER is required"))
	}
	if c.Audience == "" {
		errs = append(errs, errors.New("AUTH_AUDIENCE is required"))
	}
	if c.Leeway < 0 {
		errs = append(errs, errors.New("AUTH_LEEWAY must not be negative"))
	}
	return errors.Join(errs...)
}

// Claims is the payload of a platform token: the registered claims plus roles.
type Claims struct {
	jwt.RegisteredClaims
	Roles []string `json:"roles,omitempty"`
}

// ErrInvalidToken is wrapped by every error Verify returns.
var ErrInvalidToken = errors.New("invalid token")

// JWKS client tuning. Unknown kids trigger a rate-limited refetch; RateLimitWaitMax
// bounds how long such a request (and its refetch) may hold up the caller.
const (
	jwksHTTPTimeout     = 10 * time.Second
	jwksRefreshInterval = time.Hour
	jwksUnknownKIDWait  = 5 * time.Second
)

// Verifier checks bearer tokens. It is safe for concurrent use.
type Verifier struct {
	parser  *jwt.Parser
	keyfunc func(ctx context.Context) jwt.Keyfunc
	leeway  time.Duration
	now     func() time.Time
	// verified caches tokens that passed verification, keyed by the exact token
	// string: a hit skips the signature check and claim decoding (most of the cost
	// of an authenticated request) while expiry is still checked on every use.
	verified *lru.Cache[string, verifiedToken]
}

// verifiedToken is a cached verification result.
type verifiedToken struct {
	principal  Principal
	validUntil time.Time // min(exp + leeway, cached at + verifiedCacheTTL)
}

const (
	verifiedCacheSize = 10_000
	// verifiedCacheTTL bounds how long a cached result outlives a key removed from
	// the JWKS (rotation after a compromise).
	verifiedCacheTTL = time.Minute
)

// NewVerifier builds a Verifier from cfg. In JWKS mode it fetches the key set once
// (failing fast on a wrong URL) and refreshes it in a goroutine that ends with ctx:
// pass the service's lifetime context.
func NewVerifier(ctx context.Context, cfg Config) (*Verifier, error) {
	return newVerifier(ctx, cfg, &http.Client{Timeout: jwksHTTPTimeout})
}

// newVerifier takes the JWKS HTTP client so tests can serve keys without a network.
func newVerifier(ctx context.Context, cfg Config, client *http.Client) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("auth config: %w", err)
	}
	cache, err := lru.New[string, verifiedToken](verifiedCacheSize)
	if err != nil {
		return nil, fmt.Errorf("verified token cache: %w", err)
	}
	v := &Verifier{leeway: cfg.Leeway, now: time.Now, verified: cache}
	// The accepted algorithms are pinned per mode: the token's own "alg" header is
	// attacker-controlled, so trusting it enables alg=none and RS256→HS256 confusion.
	opts := []jwt.ParserOption{
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(func() time.Time { return v.now() }),
	}
	if cfg.HS256Secret != "" {
		secret := []byte(cfg.HS256Secret.Reveal())
		v.parser = jwt.NewParser(append(opts, jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}))...)
		v.keyfunc = func(context.Context) jwt.Keyfunc {
			return func(*jwt.Token) (any, error) { return secret, nil }
		}
		return v, nil
	}

	failFast := false
	kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{cfg.JWKSURL}, keyfunc.Override{
		Client:                    client,
		HTTPTimeout:               jwksHTTPTimeout,
		NoErrorReturnFirstHTTPReq: &failFast,
		RateLimitWaitMax:          jwksUnknownKIDWait,
		RefreshInterval:           jwksRefreshInterval,
	})
	if err != nil {
		return nil, fmt.Errorf("load jwks %s: %w", cfg.JWKSURL, err)
	}
	v.parser = jwt.NewParser(append(opts, jwt.WithValidMethods([]string{
		jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg(),
	}))...)
	v.keyfunc = kf.KeyfuncCtx
	return v, nil
}

// Verify checks token's signature, algorithm, issuer, audience and validity window
// and returns the principal it names. Errors wrap ErrInvalidToken and the jwt cause.
func (v *Verifier) Verify(ctx context.Context, token string) (Principal, error) {
	now := v.now()
	if hit, ok := v.verified.Get(token); ok {
		if now.Before(hit.validUntil) {
			return hit.principal, nil
		}
		v.verified.Remove(token)
	}
	var claims Claims
	if _, err := v.parser.ParseWithClaims(token, &claims, v.keyfunc(ctx)); err != nil {
		return Principal{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if claims.Subject == "" {
		return Principal{}, fmt.Errorf("%w: %w", ErrInvalidToken, jwt.ErrTokenInvalidSubject)
	}
	p := Principal{Subject: claims.Subject, Roles: make([]Role, 0, len(claims.Roles))}
	for _, r := range claims.Roles {
		p.Roles = append(p.Roles, Role(r))
	}
	validUntil := now.Add(verifiedCacheTTL)
	if exp := claims.ExpiresAt.Add(v.leeway); exp.Before(validUntil) {
		validUntil = exp
	}
	v.verified.Add(token, verifiedToken{principal: p, validUntil: validUntil})
	return p, nil
}
