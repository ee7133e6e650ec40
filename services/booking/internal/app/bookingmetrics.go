package app

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mobilitycorp/platform/pkg/observability"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
)

// Metrics are the reservation and trip counters; operations alert on
// booking_ops_alerts_total.
type Metrics struct {
	reservations *prometheus.CounterVec
	unlocks      *prometheus.CounterVec
	overdue      *prometheus.CounterVec
	alerts       *prometheus.CounterVec
	expired      prometheus.Counter
}

// Ops alert kinds (booking_ops_alerts_total{kind}).
const (
	AlertTripOverdue       = "trip_overdue"
	AlertOverdueBlocksNext = "overdue_blocks_next_booking"
	AlertLockFailed        = "lock_failed"
	AlertLateUnlock        = "late_unlock_relocked"
)

// NewMetrics registers the counters with reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	var m Metrics
	var err error
	if m.reservations, err = observability.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "booking_reservation_attempts_total",
		Help: "Reservation attempts by outcome: created, conflict (vehicle taken), forbidden, invalid, precondition, error.",
	}, []string{"outcome"})); err != nil {
		return nil, err
	}
	if m.unlocks, err = observability.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "booking_trip_unlocks_total",
		Help: "Trip unlock outcomes: executed, rejected, failed, expired (by the vehicle) or timeout (no answer in time).",
	}, []string{"outcome"})); err != nil {
		return nil, err
	}
	if m.overdue, err = observability.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "booking_trips_overdue_total",
		Help: "Trips detected past their limit (12 h, or a car's booked end).",
	}, []string{"vehicle_type"})); err != nil {
		return nil, err
	}
	if m.alerts, err = observability.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "booking_ops_alerts_total",
		Help: "Situations operations must look at, by kind.",
	}, []string{"kind"})); err != nil {
		return nil, err
	}
	if m.expired, err = observability.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "booking_reservations_expired_total",
		Help: "Unstarted reservations that lapsed.",
	})); err != nil {
		return nil, err
	}
	return &m, nil
}

func (m *Metrics) orNop() *Metrics {
	if m != nil {
		return m
	}
	nop, _ := NewMetrics(nil) // unregistered collectors cannot fail
	return nop
}

func (m *Metrics) reservation(err error) {
	outcome := "created"
	switch {
	case err == nil:
	case errors.Is(err, domain.ErrConflict):
		outcome = "conflict"
	case errors.Is(err, domain.ErrForbidden):
		outcome = "forbidden"
	case errors.Is(err, domain.ErrPrecondition):
		outcome = "precondition"
	case errors.Is(err, domain.ErrInvalid), errors.Is(err, domain.ErrNotFound):
		outcome = "invalid"
	default:
		outcome = "error"
	}
	m.reservations.WithLabelValues(outcome).Inc()
}

func (m *Metrics) alert(kind string) { m.alerts.WithLabelValues(kind).Inc() }
