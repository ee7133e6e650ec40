package redisx_test

import (
	"context"
	"testing"

	"github.com/mobilitycorp/platform/pkg/redisx/redistest"
)

func TestIsolatedPrefixes(t *testing.T) {
	ctx := context.Background()
	c1, k1 := redistest.New(t)
	c2, k2 := redistest.New(t)
	if k1 == k2 {
		t.Fatal("two tests got the same prefix")
	}
	if err := c1.Set(ctx, k1.Key("vehicle", "v1"), "a", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got := k1.Key("vehicle", "v1"); got != k1.Prefix()+"vehicle:v1" {
		t.Fatalf("key = %q", got)
	}
	if n := c2.Exists(ctx, k2.Key("vehicle", "v1")).Val(); n != 0 {
		t.Fatalf("prefix %s sees a key of %s", k2, k1)
	}
	if v := c2.Get(ctx, k1.Key("vehicle", "v1")).Val(); v != "a" {
		t.Fatalf("same server, got %q", v)
	}
}
