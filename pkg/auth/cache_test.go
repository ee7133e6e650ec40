package auth_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mobilitycorp/platform/pkg/auth"
	"github.com/mobilitycorp/platform/pkg/config"
)

// A verified token is cached, but expiry is checked on every use: the cache must
// never keep an expired token alive, and a tampered copy is a different key.
func TestVerifiedCacheHonoursExpiry(t *testing.T) {
	const secret config.Secret = "0123456789abcdef0123456789abcdef-cache"
	v, err := auth.NewVerifier(context.Background(), auth.Config{HS256Secret: secret, Issuer: "mobilitycorp", Audience: "mobility-api", Leeway: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	auth.SetClock(v, func() time.Time { return now })
	tok, err := auth.NewHS256Signer(secret, "mobilitycorp", "mobility-api").Mint("c-1", []auth.Role{auth.RoleCustomer}, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // second call is served from the cache
		p, err := v.Verify(context.Background(), tok)
		if err != nil || p.Subject != "c-1" || !p.Has(auth.RoleCustomer) {
			t.Fatalf("call %d: %+v, %v", i, p, err)
		}
	}
	if _, err := v.Verify(context.Background(), tok[:len(tok)-2]+"xx"); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("tampered signature accepted: %v", err)
	}
	now = now.Add(32 * time.Second) // past exp + leeway, within the cache TTL
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("expired token served from cache: %v", err)
	}
}
