// Package redisx opens the go-redis client and names keys under a prefix, so that
// services (and tests) can share one Redis without colliding.
package redisx

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mobilitycorp/platform/pkg/config"
)

// Config is the Redis part of a service config.
type Config struct {
	URL       config.Secret `env:"REDIS_URL" envDefault:"redis://127.0.0.1:6379/0"`
	KeyPrefix string        `env:"REDIS_KEY_PREFIX"`
}

// Validate implements config.Validator.
func (c Config) Validate() error {
	if c.URL == "" {
		return errors.New("REDIS_URL is required")
	}
	return nil
}

// Open returns a client that answered PING.
func Open(ctx context.Context, cfg Config) (*redis.Client, error) {
	opts, err := redis.ParseURL(cfg.URL.Reveal())
	if err != nil {
		return nil, fmt.Errorf("parse redis url: %w", err)
	}
	client := redis.NewClient(opts)
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := client.Ping(pingCtx).Err(); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("ping redis: %w", err)
	}
	return client, nil
}

// Keys builds key names under a prefix: Keys("booking:").Key("vehicle", id) = "booking:vehicle:<id>".
type Keys string

// Key joins parts with ":" under the prefix.
func (k Keys) Key(parts ...string) string { return string(k) + strings.Join(parts, ":") }

// Prefix returns the raw prefix, for SCAN patterns.
func (k Keys) Prefix() string { return string(k) }
