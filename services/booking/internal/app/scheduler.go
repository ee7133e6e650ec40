package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
)

// ExpireDue lapses held reservations nobody started in time
// (ReservationExpiredV1) and frees their vehicles; it returns how many.
func (s *Reservations) ExpireDue(ctx context.Context, limit int) (int, error) {
	now := s.opts.Now()
	ids, err := s.store.DueToExpire(ctx, now, limit)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		var expired bool
		res, err := s.store.UpdateReservation(ctx, id, false, func(r *domain.Reservation) ([]Outgoing, error) {
			expired = false
			if r.Status != domain.ReservationHeld || now.Before(r.ExpiresAt) {
				return nil, nil // started or cancelled meanwhile
			}
			if err := r.Expire(now); err != nil {
				return nil, err
			}
			expired = true
			ev, err := outgoing(events.TopicBookingReservations, r.ID, events.TypeReservationExpiredV1, events.ReservationExpiredV1{
				ReservationID: r.ID, CustomerID: r.CustomerID, VehicleID: r.VehicleID, ExpiredAt: now,
			})
			return []Outgoing{ev}, err
		})
		if err != nil {
			return n, fmt.Errorf("expire reservation %s: %w", id, err)
		}
		if expired {
			n++
			s.metrics.expired.Inc()
			s.index.released(ctx, res.VehicleID)
		}
	}
	return n, nil
}

// MarkUpcoming tells the availability index about reservations starting
// within the lead (booked days ahead, they did not hold the vehicle until now).
func (s *Reservations) MarkUpcoming(ctx context.Context, limit int) (int, error) {
	now := s.opts.Now()
	due, err := s.store.DueToMark(ctx, now.Add(s.opts.HoldLead), limit)
	if err != nil {
		return 0, err
	}
	for _, r := range due {
		s.index.held(ctx, r.VehicleID)
		if err := s.store.MarkedHeld(ctx, r.ID, now); err != nil {
			return 0, err
		}
	}
	return len(due), nil
}

// Scheduler runs booking's periodic duties in every replica; each step is
// safe to run concurrently (rows are re-checked under lock before changing).
type Scheduler struct {
	reservations *Reservations
	trips        *Trips
	interval     time.Duration
	batch        int
	logger       *slog.Logger
}

// NewScheduler returns a scheduler ticking every interval (default 1s).
func NewScheduler(reservations *Reservations, trips *Trips, interval time.Duration, logger *slog.Logger) (*Scheduler, error) {
	if reservations == nil || trips == nil {
		return nil, errors.New("scheduler needs reservations and trips")
	}
	if interval <= 0 {
		interval = time.Second
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Scheduler{reservations: reservations, trips: trips, interval: interval, batch: 200, logger: logger}, nil
}

// Run ticks until ctx ends. A failing step is logged and retried next tick.
func (s *Scheduler) Run(ctx context.Context) error {
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			s.Tick(ctx)
		}
	}
}

// Tick runs every step once: unlock timeouts first (a customer is waiting),
// then expiries, overdue trips, upcoming holds and pending fault reports.
func (s *Scheduler) Tick(ctx context.Context) {
	steps := []struct {
		name string
		run  func(context.Context, int) (int, error)
	}{
		{"unlock timeouts", s.trips.FailUnlockTimeouts},
		{"reservation expiry", s.reservations.ExpireDue},
		{"overdue trips", s.trips.FlagOverdue},
		{"upcoming holds", s.reservations.MarkUpcoming},
		{"fault reports", s.trips.RetryFaultReports},
	}
	for _, st := range steps {
		if ctx.Err() != nil {
			return
		}
		n, err := st.run(ctx, s.batch)
		if err != nil {
			s.logger.WarnContext(ctx, "scheduler: "+st.name, slog.Any("error", err))
		} else if n > 0 {
			s.logger.DebugContext(ctx, "scheduler: "+st.name, slog.Int("count", n))
		}
	}
}
