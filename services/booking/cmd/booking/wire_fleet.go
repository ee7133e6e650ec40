package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/mobilitycorp/platform/pkg/idempotency"
	"github.com/mobilitycorp/platform/pkg/service"
	"github.com/mobilitycorp/platform/services/booking/internal/adapters/postgres"
	"github.com/mobilitycorp/platform/services/booking/internal/app"
	bhttp "github.com/mobilitycorp/platform/services/booking/internal/ports/http"
)

// FleetConfig configures customers and the fleet registry (area A); names
// get the BOOKING_ prefix.
type FleetConfig struct {
	// ZoneRefresh is how soon a zone change made through another instance
	// is in force here (this instance's own changes apply at once).
	ZoneRefresh time.Duration `env:"FLEET_ZONE_REFRESH" envDefault:"10s"`
	// MaintenanceSweep is how often maintenance changes the availability
	// index missed (it was down) are pushed again.
	MaintenanceSweep time.Duration `env:"FLEET_MAINTENANCE_SWEEP" envDefault:"5s"`
}

// FleetParts is what wireFleet built.
type FleetParts struct {
	// Customers serves sign-up and profiles; for area C it is the
	// app.EligibilityChecker, and Customer(ctx, id) gives the payment method.
	Customers *app.Customers
	// CustomerStore's LockEligibleTx checks eligibility inside a booking
	// transaction and holds the customer against a concurrent block.
	CustomerStore *postgres.Customers
	// Fleet is the registry; for area C it is the app.VehicleCatalog,
	// app.PlaceLocator and app.FaultReporter.
	Fleet *app.Fleet

	CustomersHTTP *bhttp.CustomersHandler
	FleetHTTP     *bhttp.FleetHandler
	// Workers: the zone index refresh and the maintenance sweeper; pass them to infra.Run.
	Workers []service.Worker
}

// Mount adds the customers and fleet routes to r, which must authenticate.
func (p *FleetParts) Mount(r chi.Router) {
	p.CustomersHTTP.Mount(r)
	p.FleetHTTP.Mount(r)
}

// wireFleet builds area A on infra. maintenance is told when vehicles go in
// and out of service (area B's *app.Availability); nil keeps the changes
// pending in the database until one is wired. The zone index is loaded
// before it returns, so the first request already sees every zone.
func wireFleet(ctx context.Context, cfg FleetConfig, infra *service.Infra, maintenance app.MaintenanceListener) (*FleetParts, error) {
	logger := infra.Logger.With(slog.String("area", "fleet"))
	customerStore := postgres.NewCustomers(infra.DB)
	customers := app.NewCustomers(customerStore, nil)
	fleet := app.NewFleet(postgres.NewFleet(infra.DB), app.FleetOptions{
		Listener:         maintenance,
		ZoneRefresh:      cfg.ZoneRefresh,
		MaintenanceSweep: cfg.MaintenanceSweep,
		Logger:           logger,
	})
	if err := fleet.RefreshZones(ctx); err != nil {
		return nil, fmt.Errorf("fleet: load zones: %w", err)
	}
	// Fleet POSTs register vehicles, bays and zones: a key is required.
	// Customer POSTs move neither money nor vehicles: a key is optional
	// (with one, a retried sign-up replays). PATCH and PUT set state and are
	// idempotent by themselves.
	required := idempotency.Middleware(infra.DB, idempotency.Options{
		Required: true, Methods: []string{http.MethodPost}, Logger: logger})
	optional := idempotency.Middleware(infra.DB, idempotency.Options{
		Methods: []string{http.MethodPost}, Logger: logger})
	return &FleetParts{
		Customers:     customers,
		CustomerStore: customerStore,
		Fleet:         fleet,
		CustomersHTTP: bhttp.NewCustomersHandler(customers, optional),
		FleetHTTP:     bhttp.NewFleetHandler(fleet, required),
		Workers:       []service.Worker{fleet.RunZoneRefresh, fleet.RunMaintenanceSync},
	}, nil
}
