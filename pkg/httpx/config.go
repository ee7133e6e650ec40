// Package httpx is the platform's HTTP server toolkit: a chi router with the standard
// middleware chain (request id, panic recovery, tracing, RED metrics, access log,
// request timeout, body limit), JSON helpers that answer with RFC 9457 problems,
// liveness/readiness probes, and a server lifecycle with graceful shutdown.
package httpx

import (
	"errors"
	"fmt"
	"time"
)

// Config is the HTTP server part of a service config.
//
// Addr has no envDefault on purpose: every service listens on its own fixed port. Seed
// the struct with DefaultConfig before loading; the env library keeps a pre-set value
// for a field without envDefault unless HTTP_ADDR is set:
//
//	cfg := Config{HTTP: httpx.DefaultConfig("127.0.0.1:8081")}
//	err := config.Load("BOOKING_", &cfg) // BOOKING_HTTP_ADDR still overrides
type Config struct {
	Addr              string        `env:"HTTP_ADDR"`
	ReadHeaderTimeout time.Duration `env:"HTTP_READ_HEADER_TIMEOUT" envDefault:"5s"`
	ReadTimeout       time.Duration `env:"HTTP_READ_TIMEOUT" envDefault:"15s"`
	WriteTimeout      time.Duration `env:"HTTP_WRITE_TIMEOUT" envDefault:"30s"`
	IdleTimeout       time.Duration `env:"HTTP_IDLE_TIMEOUT" envDefault:"120s"`
	// RequestTimeout is the deadline put on every request's context.
	RequestTimeout time.Duration `env:"HTTP_REQUEST_TIMEOUT" envDefault:"10s"`
	MaxBodyBytes   int64         `env:"HTTP_MAX_BODY_BYTES" envDefault:"1048576"`
	// DrainDelay is how long readiness fails before the listener closes, so load
	// balancers stop routing here first. 0 suits local runs; a few seconds suit Kubernetes.
	DrainDelay time.Duration `env:"HTTP_DRAIN_DELAY" envDefault:"0s"`
	// ShutdownTimeout bounds the wait for in-flight requests after the listener closes.
	ShutdownTimeout time.Duration `env:"HTTP_SHUTDOWN_TIMEOUT" envDefault:"20s"`
}

// DefaultConfig returns the defaults of the env tags with the service's own address.
func DefaultConfig(addr string) Config {
	return Config{
		Addr:              addr,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		RequestTimeout:    10 * time.Second,
		MaxBodyBytes:      1 << 20,
		ShutdownTimeout:   20 * time.Second,
	}
}

// Validate implements config.Validator.
func (c Config) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("HTTP_ADDR is required (seed the config with httpx.DefaultConfig)"))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"HTTP_READ_HEADER_TIMEOUT", c.ReadHeaderTimeout},
		{"HTTP_READ_TIMEOUT", c.ReadTimeout},
		{"HTTP_WRITE_TIMEOUT", c.WriteTimeout},
		{"HTTP_IDLE_TIMEOUT", c.IdleTimeout},
		{"HTTP_REQUEST_TIMEOUT", c.RequestTimeout},
		{"HTTP_SHUTDOWN_TIMEOUT", c.ShutdownTimeout},
	} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %s", d.name, d.v))
		}
	}
	if c.DrainDelay < 0 {
		errs = append(errs, fmt.Errorf("HTTP_DRAIN_DELAY must not be negative, got %s", c.DrainDelay))
	}
	if c.MaxBodyBytes <= 0 {
		errs = append(errs, fmt.Errorf("HTTP_MAX_BODY_BYTES must be positive, got %d", c.MaxBodyBytes))
	}
	// A handler still running when the write deadline passes has its response dropped;
	// the request deadline must fire first so the client gets an answer.
	if c.RequestTimeout > 0 && c.WriteTimeout > 0 && c.RequestTimeout >= c.WriteTimeout {
		errs = append(errs, fmt.Errorf("HTTP_REQUEST_TIMEOUT (%s) must be shorter than HTTP_WRITE_TIMEOUT (%s)", c.RequestTimeout, c.WriteTimeout))
	}
	return errors.Join(errs...)
}
