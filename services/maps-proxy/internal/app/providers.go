// Package app holds the maps-proxy's use cases: route, matrix, ETA, geocode and
// reverse geocode over an ordered chain of providers per capability, with caching,
// quotas, concurrency limits, circuit breakers and the estimator as last resort.
package app

import (
	"context"

	"github.com/mobilitycorp/platform/services/maps-proxy/internal/domain"
)

// The interfaces below are what the use cases consume; adapters implement them.
// Every failure an adapter returns is a *domain.ProviderError.

// RouteProvider computes routes (OSRM route service, Google Directions).
type RouteProvider interface {
	Name() string
	Route(ctx context.Context, req domain.RouteRequest) ([]domain.Route, error)
}

// MatrixProvider computes travel matrices (OSRM table service, Google Distance Matrix).
// The result is indexed [source][destination]; cells' Source is filled in by the app.
type MatrixProvider interface {
	Name() string
	Matrix(ctx context.Context, req domain.MatrixRequest) ([][]domain.MatrixCell, error)
}

// Geocoder searches places by text and by point (Nominatim, Google Geocoding, the gazetteer).
type Geocoder interface {
	Name() string
	Geocode(ctx context.Context, req domain.GeocodeRequest) ([]domain.Place, error)
	Reverse(ctx context.Context, req domain.ReverseRequest) ([]domain.Place, error)
}
