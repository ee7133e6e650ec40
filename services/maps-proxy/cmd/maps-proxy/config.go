package main

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mobilitycorp/platform/pkg/config"
	"github.com/mobilitycorp/platform/pkg/service"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/app"
)

// Config is the maps-proxy configuration; every variable carries the MAPS_ prefix.
// With no provider listed (the default) routes, ETAs and matrices come from the
// estimator and geocoding from the gazetteer, so development needs no network.
type Config struct {
	service.Base

	// Ordered fallback chains per capability, e.g. MAPS_ROUTE_PROVIDERS=osrm,google.
	RouteProviders   []string `env:"ROUTE_PROVIDERS" envSeparator:","`
	MatrixProviders  []string `env:"MATRIX_PROVIDERS" envSeparator:","`
	GeocodeProviders []string `env:"GEOCODE_PROVIDERS" envSeparator:","`

	OSRM      OSRMConfig      `envPrefix:"OSRM_"`
	Nominatim NominatimConfig `envPrefix:"NOMINATIM_"`
	Google    GoogleConfig    `envPrefix:"GOOGLE_"`

	RateLimitPerMinute int `env:"RATE_LIMIT_PER_MINUTE" envDefault:"600"`
	// RateLimitLease is how many requests a replica takes from a caller's shared
	// budget per Redis round trip; 0 means 1 % of the per-minute budget (at least 1).
	RateLimitLease     int `env:"RATE_LIMIT_LEASE" envDefault:"0"`
	MemoryCacheEntries int `env:"MEMORY_CACHE_ENTRIES" envDefault:"10000"`
}

// PolicyConfig is one provider's usage policy (MAPS_<PROVIDER>_*).
type PolicyConfig struct {
	Timeout        time.Duration `env:"TIMEOUT" envDefault:"2s"`
	MaxConcurrency int64         `env:"MAX_CONCURRENCY" envDefault:"32"`
	DailyQuota     int64         `env:"DAILY_QUOTA" envDefault:"0"` // 0 = unlimited
	// CacheTTL follows the provider's terms: 0 = no limit, negative = never store.
	CacheTTL time.Duration `env:"CACHE_TTL"`
}

func (p PolicyConfig) policy() app.ProviderPolicy {
	return app.ProviderPolicy{Timeout: p.Timeout, MaxConcurrency: p.MaxConcurrency, DailyQuota: p.DailyQuota, CacheTTL: p.CacheTTL}
}

// OSRMConfig points at an OSRM HTTP API v1 server (self-hosted: answers may be cached).
type OSRMConfig struct {
	URL    string `env:"URL"`
	Policy PolicyConfig
}

// NominatimConfig points at a Nominatim server; its usage policy asks for an identifying User-Agent.
type NominatimConfig struct {
	URL       string `env:"URL"`
	UserAgent string `env:"USER_AGENT" envDefault:"mobilitycorp-maps-proxy/1.0"`
	Email     string `env:"EMAIL"`
	Policy    PolicyConfig
}

// GoogleConfig holds the Google Maps Platform key; by default nothing Google
// returns is stored (its terms limit caching), set MAPS_GOOGLE_CACHE_TTL to change that.
type GoogleConfig struct {
	URL    string        `env:"URL" envDefault:"https://maps.googleapis.com"`
	APIKey config.Secret `env:"API_KEY"`
	Policy PolicyConfig
}

// Validate implements config.Validator.
func (c *Config) Validate() error {
	var errs []error
	check := func(capability string, names []string, allowed ...string) {
		for _, n := range names {
			if !slices.Contains(allowed, n) {
				errs = append(errs, fmt.Errorf("%s_PROVIDERS: %q is not one of %v", capability, n, allowed))
			}
		}
	}
	check("ROUTE", c.RouteProviders, "osrm", "google")
	check("MATRIX", c.MatrixProviders, "osrm", "google")
	check("GEOCODE", c.GeocodeProviders, "nominatim", "google")
	uses := func(name string) bool {
		return slices.Contains(c.RouteProviders, name) || slices.Contains(c.MatrixProviders, name) || slices.Contains(c.GeocodeProviders, name)
	}
	if uses("osrm") && c.OSRM.URL == "" {
		errs = append(errs, errors.New("OSRM_URL is required when osrm is a provider"))
	}
	if uses("nominatim") && c.Nominatim.URL == "" {
		errs = append(errs, errors.New("NOMINATIM_URL is required when nominatim is a provider"))
	}
	if uses("google") && c.Google.APIKey == "" {
		errs = append(errs, errors.New("GOOGLE_API_KEY is required when google is a provider"))
	}
	if c.RateLimitPerMinute < 1 {
		errs = append(errs, errors.New("RATE_LIMIT_PER_MINUTE must be at least 1"))
	}
	if c.RateLimitLease < 0 {
		errs = append(errs, errors.New("RATE_LIMIT_LEASE must not be negative"))
	}
	return errors.Join(errs...)
}

// rateLimitLease resolves the lease size: explicit, or 1 % of the per-minute budget.
func (c *Config) rateLimitLease() int {
	if c.RateLimitLease > 0 {
		return c.RateLimitLease
	}
	return max(1, c.RateLimitPerMinute/100)
}
