// Command maps-proxy answers geocoding, routes, ETAs and matrices in front of external map providers.
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mobilitycorp/platform/pkg/config"
	"github.com/mobilitycorp/platform/pkg/service"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/adapters/cache"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/adapters/gazetteer"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/adapters/google"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/adapters/nominatim"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/adapters/osrm"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/adapters/quota"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/app"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/domain"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/ports"
)

// build is the version, set at link time (-ldflags "-X main.build=...").
var build = "dev"

const (
	serviceName = "maps-proxy"
	envPrefix   = "MAPS_"
	defaultAddr = "127.0.0.1:8085"
	defaultDB   = "mobility_maps"
)

func main() {
	if err := run(context.Background(), os.Stdout, nil); err != nil {
		fmt.Fprintln(os.Stderr, serviceName+":", err)
		os.Exit(1)
	}
}

// run wires the service by hand and blocks until SIGINT/SIGTERM or a fatal error.
// environ nil means the process environment (tests pass their own).
func run(ctx context.Context, stdout io.Writer, environ map[string]string) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	// 1. Configuration: fixed local defaults, overridden by MAPS_* variables.
	cfg := Config{Base: service.Defaults(defaultAddr, defaultDB)}
	cfg.Google.Policy.CacheTTL = -1 // Google's terms limit storing its content: off unless configured
	if err := config.LoadFrom(envPrefix, environ, &cfg); err != nil {
		return fmt.Errorf("load config: %w", err)
	}

	// 2. Infrastructure: logger, telemetry, PostgreSQL + migrations, Redis, Kafka, auth.
	infra, err := service.Start(ctx, service.Options{
		Name:      serviceName,
		Version:   build,
		EnvPrefix: envPrefix,
		Stdout:    stdout,
	}, cfg.Base, cfg)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}

	// 3. Adapters, use cases and the HTTP API.
	handler, workers, err := wire(cfg, infra)
	if err != nil {
		infra.Close(ctx)
		return err
	}

	// 4. Serve until the signal, then shut down in order.
	return infra.Run(ctx, handler, workers...)
}

// wire builds the adapters (provider clients, the gazetteer fed by fleet.registry,
// the two-tier cache, quotas), the use cases and the HTTP API on the platform router.
func wire(cfg Config, infra *service.Infra) (http.Handler, []service.Worker, error) {
	reg := infra.Telemetry.Registry
	gaz, err := gazetteer.New(gazetteer.Options{
		Registry: &gazetteer.RegistryOptions{Kafka: cfg.Kafka, DLQ: infra.Producer, GroupPrefix: serviceName + "-gazetteer", Registerer: reg},
		Logger:   infra.Logger,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("gazetteer: %w", err)
	}
	twoTier, err := cache.New(infra.Redis, infra.Keys, cache.Options{Size: cfg.MemoryCacheEntries, Logger: infra.Logger, Registerer: reg})
	if err != nil {
		return nil, nil, fmt.Errorf("cache: %w", err)
	}
	quotas, err := quota.New(infra.Redis, infra.Keys, quota.Options{Logger: infra.Logger, Registerer: reg})
	if err != nil {
		return nil, nil, fmt.Errorf("quota: %w", err)
	}

	opts := providerChains(cfg, &http.Client{Transport: upstreamTransport()})
	opts.Gazetteer, opts.Cache, opts.Quota = gaz, twoTier, quotas
	opts.Estimator, opts.Registerer, opts.Logger = domain.NewEstimator(), reg, infra.Logger
	svc, err := app.NewService(opts)
	if err != nil {
		return nil, nil, fmt.Errorf("maps service: %w", err)
	}

	limiter, err := ports.NewRateLimiter(infra.Redis, ports.RateLimitOptions{
		PerMinute: cfg.RateLimitPerMinute, LeaseSize: cfg.rateLimitLease(), Keys: infra.Keys, Logger: infra.Logger,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("rate limiter: %w", err)
	}
	router := infra.Router() // platform middleware, /livez, /readyz, /metrics
	err = ports.Mount(router, svc, ports.HandlerOptions{Authenticate: infra.Verifier.Authenticate, RateLimit: limiter.Middleware, Logger: infra.Logger})
	if err != nil {
		return nil, nil, fmt.Errorf("mount api: %w", err)
	}
	return router, []service.Worker{gaz.Run}, nil
}

// providerChains builds the ordered provider lists and their policies from config.
func providerChains(cfg Config, hc *http.Client) app.Options {
	var (
		osrmClient      = osrm.New(osrm.Config{BaseURL: cfg.OSRM.URL}, hc)
		nominatimClient = nominatim.New(nominatim.Config{BaseURL: cfg.Nominatim.URL, UserAgent: cfg.Nominatim.UserAgent, Email: cfg.Nominatim.Email}, hc)
		googleClient    = google.New(google.Config{BaseURL: cfg.Google.URL, APIKey: cfg.Google.APIKey}, hc)
	)
	opts := app.Options{Policies: map[string]app.ProviderPolicy{
		osrmClient.Name():      cfg.OSRM.Policy.policy(),
		nominatimClient.Name(): cfg.Nominatim.Policy.policy(),
		googleClient.Name():    cfg.Google.Policy.policy(),
	}}
	for _, name := range cfg.RouteProviders {
		switch name {
		case "osrm":
			opts.Routers = append(opts.Routers, osrmClient)
		case "google":
			opts.Routers = append(opts.Routers, googleClient)
		}
	}
	for _, name := range cfg.MatrixProviders {
		switch name {
		case "osrm":
			opts.Matrices = append(opts.Matrices, osrmClient)
		case "google":
			opts.Matrices = append(opts.Matrices, googleClient)
		}
	}
	for _, name := range cfg.GeocodeProviders {
		switch name {
		case "nominatim":
			opts.Geocoders = append(opts.Geocoders, nominatimClient)
		case "google":
			opts.Geocoders = append(opts.Geocoders, googleClient)
		}
	}
	return opts
}

// upstreamTransport is shared by all provider clients; per-call timeouts come from each provider's policy.
func upstreamTransport() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	t.ResponseHeaderTimeout = 10 * time.Second
	return t
}
