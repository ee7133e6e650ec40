package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mobilitycorp/platform/pkg/observability"
)

// HeldInStore lists the vehicles the database holds (postgres.Bookings).
type HeldInStore interface {
	// VehiclesHeld lists the vehicles with an active hold starting before until.
	VehiclesHeld(ctx context.Context, until time.Time) ([]string, error)
	// HeldBefore reports whether an active hold of the vehicle starts before until.
	HeldBefore(ctx context.Context, vehicleID string, until time.Time) (bool, error)
}

// HeldInIndex lists the vehicles the availability index shows as held (adapters/redis.Index).
type HeldInIndex interface {
	HeldVehicles(ctx context.Context) ([]string, error)
}

// HoldReconciler repairs the availability index's held flags from the
// database. Holds are told to the index after their commit, so a crash (or a
// failed Redis call) in between leaves a vehicle shown wrongly until its next
// change; this pass bounds that to one interval.
type HoldReconciler struct {
	store    HeldInStore
	index    HeldInIndex
	holds    VehicleHolds
	interval time.Duration
	lead     time.Duration
	now      func() time.Time
	logger   *slog.Logger
	fixes    *prometheus.CounterVec
}

// NewHoldReconciler returns a reconciler running every interval (default
// 30s); lead is BookingOptions.HoldLead (a reservation holds its vehicle that
// long before it starts). reg may be nil.
func NewHoldReconciler(store HeldInStore, index HeldInIndex, holds VehicleHolds, interval, lead time.Duration,
	reg prometheus.Registerer, logger *slog.Logger) (*HoldReconciler, error) {
	if store == nil || index == nil || holds == nil {
		return nil, errors.New("hold reconciler needs a store, an index and holds")
	}
	if interval <= 0 {
		interval = 30 * time.Second
	}
	if lead <= 0 {
		lead = 15 * time.Minute
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	fixes, err := observability.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "booking_hold_index_fixes_total",
		Help: "Availability index held flags the reconciler corrected from the database, by the flag set (held, free).",
	}, []string{"set"}))
	if err != nil {
		return nil, err
	}
	return &HoldReconciler{store: store, index: index, holds: holds, interval: interval, lead: lead,
		now: func() time.Time { return time.Now().UTC() }, logger: logger, fixes: fixes}, nil
}

// Run reconciles every interval until ctx ends; a failed pass is logged and
// retried at the next.
func (r *HoldReconciler) Run(ctx context.Context) error {
	tick := time.NewTicker(r.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			n, err := r.Reconcile(ctx)
			if err != nil && ctx.Err() == nil {
				r.logger.WarnContext(ctx, "hold reconciliation", slog.Any("error", err))
			}
			if n > 0 {
				r.logger.InfoContext(ctx, "hold reconciliation fixed the availability index", slog.Int("fixes", n))
			}
		}
	}
}

// Reconcile runs one pass and returns how many vehicles it fixed. The index is
// read before the database, so a hold committed in between shows up as held
// in the database (and is marked, which is right). Each difference is
// confirmed against the database once more just before it is fixed, which
// narrows the window in which a concurrent hold or release races the fix;
// what still slips through is repaired by the next pass.
func (r *HoldReconciler) Reconcile(ctx context.Context) (int, error) {
	inIndex, err := r.index.HeldVehicles(ctx)
	if err != nil {
		return 0, fmt.Errorf("index holds: %w", err)
	}
	inStore, err := r.store.VehiclesHeld(ctx, r.now().Add(r.lead))
	if err != nil {
		return 0, fmt.Errorf("database holds: %w", err)
	}
	indexed := make(map[string]bool, len(inIndex))
	for _, id := range inIndex {
		indexed[id] = true
	}
	stored := make(map[string]bool, len(inStore))
	var diff []string
	for _, id := range inStore {
		stored[id] = true
		if !indexed[id] {
			diff = append(diff, id)
		}
	}
	for _, id := range inIndex {
		if !stored[id] {
			diff = append(diff, id)
		}
	}
	fixed := 0
	var errs []error
	for _, id := range diff {
		if ctx.Err() != nil {
			break
		}
		held, err := r.store.HeldBefore(ctx, id, r.now().Add(r.lead))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if held == indexed[id] {
			continue // changed meanwhile, and the index was told
		}
		set, mark := "free", r.holds.MarkFree
		if held {
			set, mark = "held", r.holds.MarkHeld
		}
		if err := mark(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("mark %s %s: %w", id, set, err))
			continue
		}
		r.fixes.WithLabelValues(set).Inc()
		r.logger.InfoContext(ctx, "availability index held flag corrected", slog.String("vehicle_id", id), slog.String("set", set))
		fixed++
	}
	return fixed, errors.Join(errs...)
}
