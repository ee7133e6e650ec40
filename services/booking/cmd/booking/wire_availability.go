package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/kafka"
	"github.com/mobilitycorp/platform/pkg/service"
	"github.com/mobilitycorp/platform/services/booking/internal/adapters/postgres"
	bredis "github.com/mobilitycorp/platform/services/booking/internal/adapters/redis"
	"github.com/mobilitycorp/platform/services/booking/internal/app"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
	"github.com/mobilitycorp/platform/services/booking/internal/ports/consumer"
	bhttp "github.com/mobilitycorp/platform/services/booking/internal/ports/http"
)

// AvailabilityConfig configures availability and pricing (area B); names
// get the BOOKING_ prefix.
type AvailabilityConfig struct {
	// ConsumerGroup applies telemetry, status and vehicle-registry records to
	// the shared Redis index: one group for all instances.
	ConsumerGroup string `env:"AVAILABILITY_CONSUMER_GROUP" envDefault:"booking-availability"`
	// AreasGroupPrefix starts the per-instance group that reads every
	// operating-area zone into memory (a random instance id follows).
	AreasGroupPrefix string `env:"AVAILABILITY_AREAS_GROUP_PREFIX" envDefault:"booking-availability-areas"`
	// AreasReadyTimeout bounds the wait for the registry to be read before
	// telemetry is applied anyway.
	AreasReadyTimeout time.Duration `env:"AVAILABILITY_AREAS_READY_TIMEOUT" envDefault:"30s"`
	// MaxReportAge hides vehicles silent for longer (gone without an offline status).
	MaxReportAge time.Duration `env:"AVAILABILITY_MAX_REPORT_AGE" envDefault:"15m"`
	// PricingRefresh is how soon a price change made through another
	// instance is in force here.
	PricingRefresh time.Duration `env:"PRICING_REFRESH_INTERVAL" envDefault:"5s"`
}

// AvailabilityParts is what wireAvailability built.
type AvailabilityParts struct {
	// Availability is the index's app service. Area A calls SetMaintenance
	// (it satisfies app.MaintenanceListener); area C calls MarkHeld/MarkFree
	// (app.VehicleHolds) after a hold commits or ends.
	Availability *app.Availability
	// Pricing prices quotes, trips, fines, rewards and cancellations.
	Pricing *app.Pricing
	// VehicleStates and TripPricing adapt the two to area C's interfaces.
	VehicleStates app.VehicleStates
	TripPricing   app.TripPricing

	AvailabilityHTTP *bhttp.AvailabilityHandler
	PricingHTTP      *bhttp.PricingHandler
	// Workers: price-book refresh, the operating-area follower and the
	// telemetry/status/registry consumer; pass them to infra.Run.
	Workers []service.Worker
}

// Mount adds both areas' routes to r, which must authenticate.
func (p *AvailabilityParts) Mount(r chi.Router) {
	p.AvailabilityHTTP.Mount(r)
	p.PricingHTTP.Mount(r)
}

// wireAvailability builds area B on infra. kafkaCfg is cfg.Base.Kafka;
// idem is the required Idempotency-Key middleware shared by the handlers.
func wireAvailability(cfg AvailabilityConfig, infra *service.Infra, kafkaCfg kafka.Config, idem func(http.Handler) http.Handler) (*AvailabilityParts, error) {
	if kafkaCfg.ClientID == "" {
		kafkaCfg.ClientID = infra.Name
	}
	logger := infra.Logger.With(slog.String("area", "availability"))
	pricing := app.NewPricing(postgres.NewPricingStore(infra.DB), app.PricingOptions{Refresh: cfg.PricingRefresh, Logger: logger})
	areas := app.NewOperatingAreas()
	avail := app.NewAvailability(bredis.NewIndex(infra.Redis, infra.Keys), areas, pricing,
		app.AvailabilityOptions{MaxReportAge: cfg.MaxReportAge, Logger: logger})
	reg := infra.Telemetry.Registry

	followAreas := func(ctx context.Context) error {
		cu, err := consumer.NewCatchUp(ctx, kafkaCfg, events.TopicFleetRegistry, areas.MarkReady)
		if err != nil {
			return fmt.Errorf("availability: %w", err)
		}
		group := cfg.AreasGroupPrefix + "." + strings.ToLower(rand.Text()[:12])
		c, err := kafka.NewConsumer(kafkaCfg, kafka.ConsumerOptions{
			Group: group, Topics: []string{events.TopicFleetRegistry},
			Handler: cu.Wrap(consumer.OperatingAreaRecords(avail)), DLQ: infra.Producer,
		}, logger, reg)
		if err != nil {
			return fmt.Errorf("availability: operating areas consumer: %w", err)
		}
		// A registry whose last record was compacted away never reports its
		// end; after the timeout telemetry is applied with what was read.
		timer := time.AfterFunc(cfg.AreasReadyTimeout, func() {
			select {
			case <-areas.Ready():
			default:
				logger.Warn("availability: operating areas not fully read in time, applying telemetry anyway", slog.Int("areas", areas.Len()))
				cu.Skip()
			}
		})
		defer timer.Stop()
		return c.Run(ctx)
	}

	applyRecords := func(ctx context.Context) error {
		// Before the areas are read, every vehicle would look outside all of them.
		select {
		case <-areas.Ready():
		case <-ctx.Done():
			return nil
		}
		logger.InfoContext(ctx, "availability: operating areas read", slog.Int("areas", areas.Len()))
		c, err := kafka.NewConsumer(kafkaCfg, kafka.ConsumerOptions{
			Group: cfg.ConsumerGroup, Topics: consumer.AvailabilityTopics,
			Handler: consumer.AvailabilityRecords(avail), DLQ: infra.Producer,
		}, logger, reg)
		if err != nil {
			return fmt.Errorf("availability: telemetry consumer: %w", err)
		}
		return c.Run(ctx)
	}

	return &AvailabilityParts{
		Availability:     avail,
		Pricing:          pricing,
		VehicleStates:    vehicleStates{avail},
		TripPricing:      tripPricing{pricing},
		AvailabilityHTTP: bhttp.NewAvailabilityHandler(avail),
		PricingHTTP:      bhttp.NewPricingHandler(pricing, avail, idem),
		Workers:          []service.Worker{pricing.Run, followAreas, applyRecords},
	}, nil
}

// vehicleStates adapts the availability index to area C's app.VehicleStates.
type vehicleStates struct{ a *app.Availability }

func (v vehicleStates) VehicleState(ctx context.Context, vehicleID string) (app.VehicleState, bool, error) {
	st, err := v.a.State(ctx, vehicleID)
	if errors.Is(err, domain.ErrNotFound) {
		return app.VehicleState{}, false, nil
	}
	if err != nil {
		return app.VehicleState{}, false, err
	}
	out := app.VehicleState{ZoneID: st.ZoneID, BatteryPct: st.BatteryPct, RangeKm: st.RangeKm, PluggedIn: st.PluggedIn, Online: st.Online, ReportedAt: st.ReportedAt}
	if st.Position != nil {
		out.Position = *st.Position
	}
	return out, true, nil
}

// tripPricing adapts Pricing to area C's app.TripPricing. Fines, rewards
// and fees are per city; the vehicle type does not change them.
type tripPricing struct{ p *app.Pricing }

func (t tripPricing) TripTerms(ctx context.Context, city string, vt domain.VehicleType, zoneID string) (domain.PriceTerms, error) {
	return t.p.Terms(ctx, vt, city, zoneID)
}

func (t tripPricing) Fine(ctx context.Context, city string, _ domain.VehicleType, reason string) (domain.Money, error) {
	switch reason {
	case events.FineWrongLocation:
		return t.p.WrongLocationFine(ctx, city)
	case events.FineLateReturn:
		return t.p.LateReturnFine(ctx, city)
	}
	return domain.Money{}, fmt.Errorf("%w: no fine amount for reason %q", domain.ErrInvalid, reason)
}

func (t tripPricing) ReturnReward(ctx context.Context, city string, _ domain.VehicleType) (domain.Money, error) {
	return t.p.UnderServedReward(ctx, city)
}

func (t tripPricing) CancellationFee(ctx context.Context, city string, _ domain.VehicleType) (domain.Money, error) {
	return t.p.CancellationFee(ctx, city)
}
