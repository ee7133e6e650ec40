package auth

import (
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mobilitycorp/platform/pkg/config"
)

// Signer mints HS256 tokens for development (`mobility token --role customer --sub <id>`).
// Production tokens come from the identity provider, never from a Signer.
type Signer struct {
	secret   config.Secret
	issuer   string
	audience string
}

// NewHS256Signer returns a Signer whose tokens a Verifier configured with the same
// secret, issuer and audience accepts. The secret is checked when minting.
func NewHS256Signer(secret config.Secret, issuer, audience string) *Signer {
	return &Signer{secret: secret, issuer: issuer, audience: audience}
}

// Mint returns a signed token for subject with roles, valid for ttl from now and
// carrying a random jti.
func (s *Signer) Mint(subject string, roles []Role, ttl time.Duration) (string, error) {
	switch {
	case len(s.secret.Reveal()) < MinHS256SecretLen:
		return "", fmt.Errorf("mint token: secret must be at least %d bytes", MinHS256SecretLen)
	case subject == "":
		return "", errors.New("mint token: subject is required")
	case ttl <= 0:
		return "", errors.New("mint token: ttl must be positive")
	}
	now := time.Now()
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = string(r)
	}
	claims := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.issuer,
			Subject:   subject,
			Audience:  jwt.ClaimStrings{s.audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        rand.Text(),
		},
		Roles: names,
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(s.secret.Reveal()))
	if err != nil {
		return "", fmt.Errorf("mint token: %w", err)
	}
	return signed, nil
}
