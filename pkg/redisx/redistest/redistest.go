// Package redistest gives each test a key prefix of its own on the real Redis
// (REDISTEST_URL, default redis://127.0.0.1:6379/0) and deletes its keys afterwards.
// An unreachable server fails the test.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mobilitycorp/platform/pkg/config"
	"github.com/mobilitycorp/platform/pkg/redisx"
)

// URL is the Redis server tests use.
func URL() string {
	if u := os.Getenv("REDISTEST_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// New returns a client and a unique key prefix; every key under the prefix is removed on cleanup.
func New(t testing.TB) (*redis.Client, redisx.Keys) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err := redisx.Open(ctx, redisx.Config{URL: config.Secret(URL())})
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	keys := redisx.Keys("test:" + hex.EncodeToString(b) + ":")
	t.Cleanup(func() {
		defer client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := client.Scan(ctx, 0, keys.Prefix()+"*", 500).Iterator()
		for iter.Next(ctx) {
			client.Del(ctx, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("redistest: cleanup: %v", err)
		}
	})
	return client, keys
}
