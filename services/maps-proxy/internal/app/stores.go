package app

import (
	"context"
	"time"
)

// Layer names the cache tier that answered a lookup.
type Layer string

const (
	LayerMemory Layer = "memory" // this replica's in-process LRU
	LayerRedis  Layer = "redis"  // the Redis shared by every replica
)

// Hit is one cached value and the tier it came from.
type Hit struct {
	Value []byte
	Layer Layer
}

// Cache stores encoded answers under normalised keys. Implementations never fail a
// request: a broken backend is a miss on read and a no-op on write. Returned byte
// slices are shared and must not be modified.
type Cache interface {
	Get(ctx context.Context, key string) ([]byte, Layer, bool)
	// GetMany looks up many keys in one round trip (matrix cells); missing keys are
	// absent from the map. It returns the layer per key so hits are counted by tier.
	GetMany(ctx context.Context, keys []string) map[string]Hit
	// Set stores value for ttl; ttl <= 0 stores nothing.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration)
	// SetMany stores every entry for ttl in one round trip; ttl <= 0 stores nothing.
	SetMany(ctx context.Context, entries map[string][]byte, ttl time.Duration)
}

// Quota counts upstream calls per provider per UTC day.
type Quota interface {
	// Take counts one call against provider's budget for today and reports whether
	// it is within limit (limit 0 means unlimited: counted, always allowed) and the
	// count so far. On a storage error it returns allowed=true with the error.
	Take(ctx context.Context, provider string, limit int64) (allowed bool, used int64, err error)
}
