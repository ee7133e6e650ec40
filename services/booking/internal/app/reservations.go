package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
)

// What reservations and trips need from the other booking areas. They are
// declared here, by their consumer; cmd/booking adapts the customers, fleet,
// availability and pricing services to them.

// EligibilityChecker answers whether a customer may rent a vehicle type (area A).
type EligibilityChecker interface {
	// CheckEligible returns nil when customerID may rent vt at at; an error
	// wrapping domain.ErrForbidden (blocked, too young, no verified licence, no
	// payment method) or domain.ErrNotFound otherwise.
	CheckEligible(ctx context.Context, customerID string, vt domain.VehicleType, at time.Time) error
}

// BookableVehicle is the registry's view of a vehicle.
type BookableVehicle struct {
	ID        string
	Type      domain.VehicleType
	City      string
	InService bool // false: in maintenance or retired
}

// VehicleCatalog looks vehicles up in the fleet registry (area A).
type VehicleCatalog interface {
	// BookableVehicle returns the vehicle or an error wrapping domain.ErrNotFound.
	BookableVehicle(ctx context.Context, vehicleID string) (BookableVehicle, error)
}

// PlaceLocator answers questions about a position against bays and zones (area A).
type PlaceLocator interface {
	// ReturnPlace says which bay (taking vt) contains p, whether it is
	// under-served, and whether zones at p allow ending a rental there.
	ReturnPlace(ctx context.Context, vt domain.VehicleType, p domain.Point) (domain.ReturnPlace, error)
	// InOperatingArea reports whether p lies inside an operating area.
	InOperatingArea(ctx context.Context, p domain.Point) (bool, error)
}

// FaultReporter puts a vehicle into maintenance review (area A).
type FaultReporter interface {
	ReportFault(ctx context.Context, vehicleID, tripID, category, description string) error
}

// VehicleState is the latest telemetry of a vehicle, as the availability index keeps it.
type VehicleState struct {
	Position   domain.Point
	ZoneID     string // the operating area the vehicle is in, if any
	BatteryPct float64
	RangeKm    float64
	PluggedIn  bool
	Online     bool
	ReportedAt time.Time
}

// VehicleStates reads the availability index (area B).
type VehicleStates interface {
	// VehicleState returns the latest state; found is false when the vehicle never reported.
	VehicleState(ctx context.Context, vehicleID string) (state VehicleState, found bool, err error)
}

// VehicleHolds tells the availability index that booking holds or freed a vehicle (area B).
type VehicleHolds interface {
	MarkHeld(ctx context.Context, vehicleID string) error
	MarkFree(ctx context.Context, vehicleID string) error
}

// TripPricing prices trips, fines, rewards and cancellations (area B).
type TripPricing interface {
	// TripTerms are the terms a trip of vt starting now in city (zoneID: where
	// the vehicle stands, for a zone's dynamic multiplier) is charged at. A trip
	// keeps them from its start, so a price change never reaches a running trip.
	TripTerms(ctx context.Context, city string, vt domain.VehicleType, zoneID string) (domain.PriceTerms, error)
	// Fine is the amount of a fine (events.FineWrongLocation, events.FineLateReturn).
	Fine(ctx context.Context, city string, vt domain.VehicleType, reason string) (domain.Money, error)
	// ReturnReward is the credit for returning to an under-served bay.
	ReturnReward(ctx context.Context, city string, vt domain.VehicleType) (domain.Money, error)
	// CancellationFee is charged for a reservation cancelled after the free window.
	CancellationFee(ctx context.Context, city string, vt domain.VehicleType) (domain.Money, error)
}

// Outgoing is an event published through the outbox in the transaction that
// saves the state change it announces.
type Outgoing struct {
	Topic string
	Key   string
	Event events.Event
}

func outgoing(topic, key, eventType string, data any) (Outgoing, error) {
	e, err := events.New(eventType, events.SourceBooking, key, data)
	if err != nil {
		return Outgoing{}, err
	}
	return Outgoing{Topic: topic, Key: key, Event: e}, nil
}

// Caller is who acts: a customer acts on their own reservations and trips
// (subject = customer id); staff, admins and services act on anyone's.
type Caller struct {
	Subject string
	Staff   bool
}

// customerFor resolves whose reservation or trip a request creates.
func (c Caller) customerFor(requested string) (string, error) {
	if c.Staff {
		if requested == "" {
			return "", fmt.Errorf("%w: customer_id is required when staff act for a customer", domain.ErrInvalid)
		}
		return requested, nil
	}
	if requested != "" && requested != c.Subject {
		return "", fmt.Errorf("%w: customers act only on themselves", domain.ErrForbidden)
	}
	return c.Subject, nil
}

// sees reports whether the caller may see customerID's data. Strangers get a
// 404, not a 403: ids of other customers' reservations are not confirmed.
func (c Caller) sees(customerID string) bool { return c.Staff || c.Subject == customerID }

// ReservationPageKey is the keyset position of a reservation list page.
type ReservationPageKey struct {
	CreatedAt time.Time `json:"c"`
	ID        string    `json:"i"`
}

// ReservationStore keeps reservations; every write publishes its events in the
// same transaction.
type ReservationStore interface {
	// CreateReservation inserts r; an overlap with another active hold of the
	// vehicle is an error wrapping domain.ErrConflict.
	CreateReservation(ctx context.Context, r domain.Reservation, out []Outgoing) error
	Reservation(ctx context.Context, id string) (domain.Reservation, error)
	CustomerReservations(ctx context.Context, customerID string, after *ReservationPageKey, limit int) ([]domain.Reservation, error)
	// UpdateReservation runs fn on the locked reservation and saves it with fn's
	// events. growsHold serialises with other writers of the vehicle's holds
	// (needed when the hold's range grows). An overlap is domain.ErrConflict.
	UpdateReservation(ctx context.Context, id string, growsHold bool, fn func(*domain.Reservation) ([]Outgoing, error)) (domain.Reservation, error)
	// HeldBefore reports whether an active hold of the vehicle starts before until.
	HeldBefore(ctx context.Context, vehicleID string, until time.Time) (bool, error)
	// DueToExpire lists held reservations whose start window closed before now.
	DueToExpire(ctx context.Context, now time.Time, limit int) ([]string, error)
	// DueToMark lists held reservations starting before until whose vehicle the
	// availability index has not been told about; MarkedHeld records it was.
	DueToMark(ctx context.Context, until time.Time, limit int) ([]domain.Reservation, error)
	MarkedHeld(ctx context.Context, id string, at time.Time) error
}

// BookingDeps are the other areas' services booking relies on.
type BookingDeps struct {
	Customers EligibilityChecker
	Vehicles  VehicleCatalog
	Places    PlaceLocator
	States    VehicleStates
	Holds     VehicleHolds
	Pricing   TripPricing
	Faults    FaultReporter
}

func (d BookingDeps) validate() error {
	if d.Customers == nil || d.Vehicles == nil || d.Places == nil || d.States == nil || d.Holds == nil || d.Pricing == nil || d.Faults == nil {
		return errors.New("booking needs customers, vehicles, places, states, holds, pricing and faults")
	}
	return nil
}

// BookingOptions configure Reservations and Trips.
type BookingOptions struct {
	Rules domain.BookingRules
	// UnlockTimeout is how long a vehicle has to confirm an unlock (default 10s).
	UnlockTimeout time.Duration
	// HoldLead is how long before its start a reservation marks its vehicle
	// held in the availability index (default 15m).
	HoldLead time.Duration
	// PhotoWindow is how long after a trip ended photos are still accepted (default 30m).
	PhotoWindow time.Duration
	// PhotoMaxBytes caps one photo (default 1 MiB).
	PhotoMaxBytes int64
	Now           func() time.Time
	Logger        *slog.Logger
}

func (o *BookingOptions) setDefaults() error {
	if o.Rules == (domain.BookingRules{}) {
		o.Rules = domain.DefaultBookingRules()
	}
	if err := o.Rules.Validate(); err != nil {
		return err
	}
	if o.UnlockTimeout <= 0 {
		o.UnlockTimeout = 10 * time.Second
	}
	if o.HoldLead <= 0 {
		o.HoldLead = 15 * time.Minute
	}
	if o.PhotoWindow <= 0 {
		o.PhotoWindow = 30 * time.Minute
	}
	if o.PhotoMaxBytes <= 0 {
		o.PhotoMaxBytes = 1 << 20
	}
	if o.Now == nil {
		o.Now = func() time.Time { return time.Now().UTC() }
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Reservations is the reservation use cases.
type Reservations struct {
	store   ReservationStore
	deps    BookingDeps
	opts    BookingOptions
	metrics *Metrics
	index   holdIndex
}

// NewReservations returns the reservation use cases; metrics may be nil.
func NewReservations(store ReservationStore, deps BookingDeps, metrics *Metrics, opts BookingOptions) (*Reservations, error) {
	if store == nil {
		return nil, errors.New("reservations need a store")
	}
	if err := deps.validate(); err != nil {
		return nil, err
	}
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	return &Reservations{store: store, deps: deps, opts: opts, metrics: metrics.orNop(), index: newHoldIndex(store, deps, opts)}, nil
}

func newHoldIndex(store ReservationStore, deps BookingDeps, opts BookingOptions) holdIndex {
	return holdIndex{holds: deps.Holds, store: store, lead: opts.HoldLead, now: opts.Now, logger: opts.Logger}
}

// Rules are the booking rules in force.
func (s *Reservations) Rules() domain.BookingRules { return s.opts.Rules }

// CreateReservation is a booking request.
type CreateReservation struct {
	CustomerID        string // staff only; customers book for themselves
	VehicleID         string
	StartAt           time.Time
	EndAt             time.Time
	PlannedDistanceKm float64
	// RangeOverride books a car/van despite a range shortfall: the human
	// decision on an edge case (staff only).
	RangeOverride bool
}

// Create books a vehicle: the customer must be eligible, the vehicle in
// service (a bike/scooter also online inside an operating area, a car/van with
// enough range), and the time free. Overlaps are refused by the database.
func (s *Reservations) Create(ctx context.Context, caller Caller, cmd CreateReservation) (domain.Reservation, error) {
	res, err := s.create(ctx, caller, cmd)
	s.metrics.reservation(err)
	return res, err
}

func (s *Reservations) create(ctx context.Context, caller Caller, cmd CreateReservation) (domain.Reservation, error) {
	customerID, err := caller.customerFor(cmd.CustomerID)
	if err != nil {
		return domain.Reservation{}, err
	}
	if cmd.RangeOverride && !caller.Staff {
		return domain.Reservation{}, fmt.Errorf("%w: only staff may override the range check", domain.ErrForbidden)
	}
	if cmd.VehicleID == "" {
		return domain.Reservation{}, fmt.Errorf("%w: vehicle_id is required", domain.ErrInvalid)
	}
	v, err := s.deps.Vehicles.BookableVehicle(ctx, cmd.VehicleID)
	if err != nil {
		return domain.Reservation{}, fmt.Errorf("vehicle %s: %w", cmd.VehicleID, err)
	}
	now := s.opts.Now()
	res, err := s.opts.Rules.NewReservation(uuid.Must(uuid.NewV7()).String(), domain.ReservationRequest{
		CustomerID: customerID, VehicleID: v.ID, VehicleType: v.Type, City: v.City,
		StartAt: cmd.StartAt, EndAt: cmd.EndAt, PlannedDistanceKm: cmd.PlannedDistanceKm,
	}, now)
	if err != nil {
		return domain.Reservation{}, err
	}
	if err := s.deps.Customers.CheckEligible(ctx, customerID, v.Type, res.StartAt); err != nil {
		return domain.Reservation{}, err
	}
	if !v.InService {
		return domain.Reservation{}, fmt.Errorf("%w: vehicle %s is not in service (maintenance)", domain.ErrConflict, v.ID)
	}
	if err := s.checkVehicleFit(ctx, v, res.PlannedDistanceKm, cmd.RangeOverride); err != nil {
		return domain.Reservation{}, err
	}
	markNow := !res.StartAt.After(now.Add(s.opts.HoldLead))
	if markNow {
		res.HeldMarkedAt = now
	}
	created, err := outgoing(events.TopicBookingReservations, res.ID, events.TypeReservationCreatedV1, events.ReservationCreatedV1{
		ReservationID: res.ID, CustomerID: res.CustomerID, VehicleID: res.VehicleID,
		VehicleType: events.VehicleType(res.VehicleType), StartAt: res.StartAt, EndAt: res.EndAt,
	})
	if err != nil {
		return domain.Reservation{}, err
	}
	if err := s.store.CreateReservation(ctx, res, []Outgoing{created}); err != nil {
		return domain.Reservation{}, err
	}
	if markNow {
		s.index.held(ctx, res.VehicleID)
	}
	return res, nil
}

// checkVehicleFit applies the vehicle-side rules of a booking: a bike/scooter
// must be online inside an operating area now; a car/van must have the range
// for the planned distance with the margin (unless staff override).
func (s *Reservations) checkVehicleFit(ctx context.Context, v BookableVehicle, plannedKm float64, rangeOverride bool) error {
	state, found, err := s.deps.States.VehicleState(ctx, v.ID)
	if err != nil {
		return fmt.Errorf("vehicle %s state: %w", v.ID, err)
	}
	if v.Type.Micromobility() {
		return vehicleReachable(ctx, s.deps.Places, v.ID, state, found)
	}
	if rangeOverride {
		s.opts.Logger.InfoContext(ctx, "range check overridden by staff", slog.String("vehicle_id", v.ID),
			slog.Float64("planned_km", plannedKm), slog.Float64("range_km", state.RangeKm))
		return nil
	}
	return s.opts.Rules.CheckRange(plannedKm, state.RangeKm, found)
}

// vehicleReachable: a bike/scooter is rentable now only when it is online and
// inside an operating area.
func vehicleReachable(ctx context.Context, places PlaceLocator, vehicleID string, state VehicleState, found bool) error {
	if !found || !state.Online {
		return fmt.Errorf("%w: vehicle %s is offline", domain.ErrConflict, vehicleID)
	}
	in, err := places.InOperatingArea(ctx, state.Position)
	if err != nil {
		return fmt.Errorf("operating area: %w", err)
	}
	if !in {
		return fmt.Errorf("%w: vehicle %s is outside the operating area", domain.ErrConflict, vehicleID)
	}
	return nil
}

// Get returns a reservation the caller may see.
func (s *Reservations) Get(ctx context.Context, caller Caller, id string) (domain.Reservation, error) {
	res, err := s.store.Reservation(ctx, id)
	if err != nil {
		return domain.Reservation{}, err
	}
	if !caller.sees(res.CustomerID) {
		return domain.Reservation{}, fmt.Errorf("reservation %s: %w", id, domain.ErrNotFound)
	}
	return res, nil
}

// List returns a page of a customer's reservations, newest first.
func (s *Reservations) List(ctx context.Context, caller Caller, customerID string, after *ReservationPageKey, limit int) ([]domain.Reservation, error) {
	customerID, err := caller.customerFor(customerID)
	if err != nil {
		return nil, err
	}
	return s.store.CustomerReservations(ctx, customerID, after, limit)
}

// Cancel releases a held reservation: free within the window after booking (or
// when operations cancel, or after a failed unlock), a fee after.
func (s *Reservations) Cancel(ctx context.Context, caller Caller, id, reason string) (domain.Reservation, error) {
	current, err := s.Get(ctx, caller, id)
	if err != nil {
		return domain.Reservation{}, err
	}
	by := domain.CancelledByCustomer
	if caller.Staff {
		by = domain.CancelledByOperations
	}
	now := s.opts.Now()
	// The fee is looked up before the row is locked; the closure re-checks.
	var fee *domain.Money
	if current.Status == domain.ReservationHeld && s.opts.Rules.CancellationFeeDue(current, now, by) {
		f, err := s.deps.Pricing.CancellationFee(ctx, current.City, current.VehicleType)
		if err != nil {
			return domain.Reservation{}, fmt.Errorf("cancellation fee: %w", err)
		}
		if f.AmountMinor > 0 {
			fee = &f
		}
	}
	res, err := s.store.UpdateReservation(ctx, id, false, func(r *domain.Reservation) ([]Outgoing, error) {
		f := fee
		if !s.opts.Rules.CancellationFeeDue(*r, now, by) {
			f = nil
		}
		if err := r.Cancel(now, by, reason, f); err != nil {
			return nil, err
		}
		ev, err := outgoing(events.TopicBookingReservations, r.ID, events.TypeReservationCancelledV1, events.ReservationCancelledV1{
			ReservationID: r.ID, CustomerID: r.CustomerID, VehicleID: r.VehicleID, Reason: reason,
			CancelledBy: by, CancelledAt: now, Fee: eventMoney(f),
		})
		return []Outgoing{ev}, err
	})
	if err != nil {
		return domain.Reservation{}, err
	}
	s.index.released(ctx, res.VehicleID)
	return res, nil
}

// Extend moves the end of a car/van reservation (before or during the rental)
// when the vehicle is free until then.
func (s *Reservations) Extend(ctx context.Context, caller Caller, id string, newEnd time.Time) (domain.Reservation, error) {
	if _, err := s.Get(ctx, caller, id); err != nil {
		return domain.Reservation{}, err
	}
	now := s.opts.Now()
	return s.store.UpdateReservation(ctx, id, true, func(r *domain.Reservation) ([]Outgoing, error) {
		if err := s.opts.Rules.Extend(r, newEnd, now); err != nil {
			return nil, err
		}
		return nil, nil
	})
}

// CancelForPayment cancels a reservation whose pre-authorisation failed (no
// fee: the customer did not choose to cancel). Done or unknown reservations are
// left alone, so a redelivered event changes nothing.
func (s *Reservations) CancelForPayment(ctx context.Context, id, code string) error {
	now := s.opts.Now()
	var changed bool
	res, err := s.store.UpdateReservation(ctx, id, false, func(r *domain.Reservation) ([]Outgoing, error) {
		if r.Status != domain.ReservationHeld {
			return nil, nil
		}
		reason := "payment authorisation failed"
		if code != "" {
			reason += " (" + code + ")"
		}
		if err := r.Cancel(now, domain.CancelledByOperations, reason, nil); err != nil {
			return nil, err
		}
		changed = true
		ev, err := outgoing(events.TopicBookingReservations, r.ID, events.TypeReservationCancelledV1, events.ReservationCancelledV1{
			ReservationID: r.ID, CustomerID: r.CustomerID, VehicleID: r.VehicleID, Reason: reason,
			CancelledBy: domain.CancelledByOperations, CancelledAt: now,
		})
		return []Outgoing{ev}, err
	})
	if errors.Is(err, domain.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if changed {
		s.index.released(ctx, res.VehicleID)
	}
	return nil
}

func eventMoney(m *domain.Money) *events.Money {
	if m == nil {
		return nil
	}
	return &events.Money{AmountMinor: m.AmountMinor, Currency: m.Currency}
}

// holdIndex keeps the availability index in step with the holds after each
// commit. The database is the truth; a missed update only shows a vehicle
// wrongly (a booking attempt then gets 409) until the next change or telemetry.
type holdIndex struct {
	holds  VehicleHolds
	store  ReservationStore
	lead   time.Duration
	now    func() time.Time
	logger *slog.Logger
}

func (h holdIndex) held(ctx context.Context, vehicleID string) {
	if err := h.holds.MarkHeld(context.WithoutCancel(ctx), vehicleID); err != nil {
		h.logger.WarnContext(ctx, "availability index: mark held", slog.String("vehicle_id", vehicleID), slog.Any("error", err))
	}
}

// released frees the vehicle in the index, unless another hold of it starts
// within the lead (a car's next booking).
func (h holdIndex) released(ctx context.Context, vehicleID string) {
	ctx = context.WithoutCancel(ctx)
	soon, err := h.store.HeldBefore(ctx, vehicleID, h.now().Add(h.lead))
	if err != nil {
		h.logger.WarnContext(ctx, "availability index: next hold", slog.String("vehicle_id", vehicleID), slog.Any("error", err))
	}
	if soon {
		h.held(ctx, vehicleID)
		return
	}
	if err := h.holds.MarkFree(ctx, vehicleID); err != nil {
		h.logger.WarnContext(ctx, "availability index: mark free", slog.String("vehicle_id", vehicleID), slog.Any("error", err))
	}
}
