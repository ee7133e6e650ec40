package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/mobilitycorp/platform/pkg/config"
	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/kafka"
	"github.com/mobilitycorp/platform/pkg/service"
	"github.com/mobilitycorp/platform/services/booking/internal/adapters/photos"
	"github.com/mobilitycorp/platform/services/booking/internal/adapters/postgres"
	bredis "github.com/mobilitycorp/platform/services/booking/internal/adapters/redis"
	"github.com/mobilitycorp/platform/services/booking/internal/app"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
	"github.com/mobilitycorp/platform/services/booking/internal/ports/consumer"
	bhttp "github.com/mobilitycorp/platform/services/booking/internal/ports/http"
)

// TripsConfig configures reservations, trips and returns (area C); names get
// the BOOKING_ prefix.
type TripsConfig struct {
	// UnlockTimeout is how long a vehicle has to confirm an unlock before the
	// trip fails (nothing is charged, the vehicle is freed).
	UnlockTimeout time.Duration `env:"UNLOCK_TIMEOUT" envDefault:"10s"`
	// ReservationGrace: an unstarted car/van reservation expires this long after its start.
	ReservationGrace time.Duration `env:"RESERVATION_GRACE_PERIOD" envDefault:"15m"`
	// FreeCancellation: cancelling is free this long after booking.
	FreeCancellation time.Duration `env:"FREE_CANCELLATION_WINDOW" envDefault:"10m"`
	// RangeMargin: a car/van needs range ≥ planned distance × (1 + margin).
	RangeMargin float64 `env:"RANGE_MARGIN" envDefault:"0.2"`
	// HoldLead: a reservation hides its vehicle from search this long before it starts.
	HoldLead time.Duration `env:"HOLD_LEAD" envDefault:"15m"`
	// SchedulerInterval paces expiries, unlock timeouts and overdue detection.
	SchedulerInterval time.Duration `env:"SCHEDULER_INTERVAL" envDefault:"1s"`
	// PhotosStore chooses where return photos go: local (a directory,
	// development) or s3 (an S3-compatible bucket, production).
	PhotosStore string `env:"PHOTOS_STORE" envDefault:"local"`
	// PhotosDir is the local store's directory. Empty means
	// mobility/booking-photos in the system's temporary directory.
	PhotosDir string `env:"PHOTOS_DIR"`
	// The s3 store: endpoint URL (its scheme chooses TLS), bucket, region,
	// credentials, and path-style addressing (most self-hosted servers).
	S3Endpoint        string        `env:"S3_ENDPOINT"`
	S3Bucket          string        `env:"S3_BUCKET"`
	S3Region          string        `env:"S3_REGION"`
	S3AccessKeyID     string        `env:"S3_ACCESS_KEY_ID"`
	S3SecretAccessKey config.Secret `env:"S3_SECRET_ACCESS_KEY"`
	S3PathStyle       bool          `env:"S3_PATH_STYLE" envDefault:"false"`
	// HoldReconcileInterval paces the repair of the availability index's
	// held flags from the database (after a crash between commit and index update).
	HoldReconcileInterval time.Duration `env:"HOLD_RECONCILE_INTERVAL" envDefault:"30s"`
	// PhotoMaxBytes caps one photo; the HTTP body limit caps it too.
	PhotoMaxBytes int64 `env:"PHOTO_MAX_BYTES" envDefault:"8388608"`
	// PhotoWindow: photos are accepted this long after a trip ended.
	PhotoWindow time.Duration `env:"PHOTO_WINDOW" envDefault:"30m"`
	// Consumer groups of vehicle.command-acks and payments.events.
	CommandAcksGroup string `env:"COMMAND_ACKS_CONSUMER_GROUP" envDefault:"booking-command-acks"`
	PaymentsGroup    string `env:"PAYMENTS_CONSUMER_GROUP" envDefault:"booking-payments"`
}

// Validate implements config.Validator.
func (c TripsConfig) Validate() error {
	var errs []error
	for name, d := range map[string]time.Duration{
		"UNLOCK_TIMEOUT": c.UnlockTimeout, "RESERVATION_GRACE_PERIOD": c.ReservationGrace,
		"HOLD_LEAD": c.HoldLead, "SCHEDULER_INTERVAL": c.SchedulerInterval, "PHOTO_WINDOW": c.PhotoWindow,
		"HOLD_RECONCILE_INTERVAL": c.HoldReconcileInterval,
	} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %s", name, d))
		}
	}
	if c.FreeCancellation < 0 {
		errs = append(errs, fmt.Errorf("FREE_CANCELLATION_WINDOW must not be negative, got %s", c.FreeCancellation))
	}
	if c.RangeMargin < 0 || c.RangeMargin > 2 {
		errs = append(errs, fmt.Errorf("RANGE_MARGIN must be within [0, 2], got %v", c.RangeMargin))
	}
	switch c.PhotosStore {
	case "local":
	case "s3":
		if c.S3Endpoint == "" || c.S3Bucket == "" {
			errs = append(errs, errors.New("PHOTOS_STORE=s3 needs S3_ENDPOINT and S3_BUCKET"))
		}
	default:
		errs = append(errs, fmt.Errorf("PHOTOS_STORE must be local or s3, got %q", c.PhotosStore))
	}
	if c.PhotoMaxBytes <= 0 {
		errs = append(errs, fmt.Errorf("PHOTO_MAX_BYTES must be positive, got %d", c.PhotoMaxBytes))
	}
	return errors.Join(errs...)
}

func (c TripsConfig) rules() domain.BookingRules {
	r := domain.DefaultBookingRules()
	r.CarGrace, r.FreeCancelWindow, r.RangeMargin = c.ReservationGrace, c.FreeCancellation, c.RangeMargin
	return r
}

// photoStore is the configured store of return photos.
func (c TripsConfig) photoStore() (app.PhotoStore, error) {
	if c.PhotosStore == "s3" {
		return photos.NewS3(photos.S3Config{
			Endpoint: c.S3Endpoint, Bucket: c.S3Bucket, Region: c.S3Region,
			AccessKeyID: c.S3AccessKeyID, SecretAccessKey: c.S3SecretAccessKey.Reveal(), PathStyle: c.S3PathStyle,
		})
	}
	dir := c.PhotosDir
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "mobility", "booking-photos")
	}
	return photos.NewLocalDir(dir)
}

// TripsParts is what wireTrips built.
type TripsParts struct {
	Reservations     *app.Reservations
	Trips            *app.Trips
	ReservationsHTTP *bhttp.ReservationsHandler
	TripsHTTP        *bhttp.TripsHandler
	// Workers: the scheduler, the hold reconciler and the vehicle.command-acks
	// and payments.events consumers.
	Workers []service.Worker
}

// Mount adds the reservation and trip routes to r, which must authenticate.
func (p *TripsParts) Mount(r chi.Router) {
	p.ReservationsHTTP.Mount(r)
	p.TripsHTTP.Mount(r)
}

// wireTrips builds area C on infra over the other areas' services (deps).
// maxBodyBytes is the server's body limit, which also bounds a photo upload.
func wireTrips(cfg TripsConfig, infra *service.Infra, kafkaCfg kafka.Config, deps app.BookingDeps,
	idem func(http.Handler) http.Handler, maxBodyBytes int64) (*TripsParts, error) {
	if kafkaCfg.ClientID == "" {
		kafkaCfg.ClientID = infra.Name
	}
	logger := infra.Logger.With(slog.String("area", "trips"))
	reg := infra.Telemetry.Registry
	metrics, err := app.NewMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("trips: %w", err)
	}
	store := postgres.NewBookings(infra.DB)
	photoStore, err := cfg.photoStore()
	if err != nil {
		return nil, fmt.Errorf("trips: %w", err)
	}
	// A multipart photo needs room for its part headers within the body limit.
	photoMax := min(cfg.PhotoMaxBytes, maxBodyBytes-16<<10)
	opts := app.BookingOptions{
		Rules: cfg.rules(), UnlockTimeout: cfg.UnlockTimeout, HoldLead: cfg.HoldLead,
		PhotoWindow: cfg.PhotoWindow, PhotoMaxBytes: photoMax, Logger: logger,
	}
	reservations, err := app.NewReservations(store, deps, metrics, opts)
	if err != nil {
		return nil, fmt.Errorf("trips: %w", err)
	}
	trips, err := app.NewTrips(store, store, photoStore, deps, metrics, opts)
	if err != nil {
		return nil, fmt.Errorf("trips: %w", err)
	}
	scheduler, err := app.NewScheduler(reservations, trips, cfg.SchedulerInterval, logger)
	if err != nil {
		return nil, fmt.Errorf("trips: %w", err)
	}
	reconciler, err := app.NewHoldReconciler(store, bredis.NewIndex(infra.Redis, infra.Keys), deps.Holds,
		cfg.HoldReconcileInterval, cfg.HoldLead, reg, logger)
	if err != nil {
		return nil, fmt.Errorf("trips: %w", err)
	}
	acks, err := kafka.NewConsumer(kafkaCfg, kafka.ConsumerOptions{
		Group: cfg.CommandAcksGroup, Topics: []string{events.TopicVehicleCommandAcks},
		Handler: consumer.CommandAcks(trips), DLQ: infra.Producer,
	}, logger, reg)
	if err != nil {
		return nil, fmt.Errorf("trips: command acks consumer: %w", err)
	}
	payments, err := kafka.NewConsumer(kafkaCfg, kafka.ConsumerOptions{
		Group: cfg.PaymentsGroup, Topics: []string{events.TopicPaymentsEvents},
		Handler: consumer.PaymentEvents(trips, reservations), DLQ: infra.Producer,
	}, logger, reg)
	if err != nil {
		acks.Close()
		return nil, fmt.Errorf("trips: payments consumer: %w", err)
	}
	return &TripsParts{
		Reservations:     reservations,
		Trips:            trips,
		ReservationsHTTP: bhttp.NewReservationsHandler(reservations, idem),
		TripsHTTP:        bhttp.NewTripsHandler(trips, idem, photoMax),
		Workers:          []service.Worker{scheduler.Run, reconciler.Run, acks.Run, payments.Run},
	}, nil
}
