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

// requestedBy names booking as the sender of vehicle commands.
const requestedBy = "booking"

// Adjustment is a fine or reward booking issued for a trip.
type Adjustment struct {
	ID       string
	TripID   string
	Kind     string // AdjustmentFine or AdjustmentReward
	Reason   string
	Amount   domain.Money
	IssuedAt time.Time
}

// Adjustment kinds.
const (
	AdjustmentFine   = "fine"
	AdjustmentReward = "reward"
)

// TripChange is what an update of a trip saves besides the trip and its hold.
type TripChange struct {
	Out         []Outgoing
	Adjustments []Adjustment
}

// TripStore keeps trips with their holds; every write publishes its events in
// the same transaction.
type TripStore interface {
	// StartTrip saves a new trip with its hold in one transaction. With walkUp
	// set, that hold is inserted; otherwise reservation reservationID is locked
	// and begin updates it. An overlapping hold or a second active trip of the
	// customer is an error wrapping domain.ErrConflict.
	StartTrip(ctx context.Context, walkUp *domain.Reservation, reservationID string,
		begin func(hold *domain.Reservation) (domain.Trip, []Outgoing, error)) (domain.Trip, error)
	Trip(ctx context.Context, id string) (domain.Trip, error)
	// UpdateTrip runs fn on the locked trip and its hold and saves both with
	// fn's events and adjustments. growsHold serialises with other writers of
	// the vehicle's holds.
	UpdateTrip(ctx context.Context, id string, growsHold bool,
		fn func(t *domain.Trip, hold *domain.Reservation) (TripChange, error)) (domain.Trip, error)
	// TripByCommand returns the id of the trip an unlock or lock command
	// belongs to, or an error wrapping domain.ErrNotFound.
	TripByCommand(ctx context.Context, commandID string) (string, error)
	Adjustments(ctx context.Context, tripID string) ([]Adjustment, error)
	PhotoKeys(ctx context.Context, tripID string) ([]string, error)
	// AddPhoto records a photo of a trip; added is false when the same content
	// was uploaded before. out (called with the trip, locked) gives the events
	// of a newly added photo.
	AddPhoto(ctx context.Context, p Photo, out func(t domain.Trip) ([]Outgoing, error)) (stored Photo, added bool, err error)
	// AddFeedback stores a trip's feedback; a second one is domain.ErrConflict.
	AddFeedback(ctx context.Context, f Feedback) error
	// FaultReported records that a feedback's fault reached the fleet registry.
	FaultReported(ctx context.Context, tripID string, at time.Time) error
	// PendingFaults lists feedback whose fault report has not gone through yet.
	PendingFaults(ctx context.Context, limit int) ([]Feedback, error)
	// RecordCapture adds a captured payment to a trip once per event id
	// (marking it settled); an unknown trip is ignored.
	RecordCapture(ctx context.Context, eventID, tripID string, amountMinor int64, at time.Time) error
	// DueUnlockTimeouts lists unlocking trips whose unlock deadline passed.
	DueUnlockTimeouts(ctx context.Context, now time.Time, limit int) ([]string, error)
	// DueOverdue lists active, not yet flagged trips past their booked end.
	DueOverdue(ctx context.Context, now time.Time, limit int) ([]string, error)
}

// Trips is the trip use cases: start (unlock), end (lock and return checks),
// photos, feedback and the reactions to vehicle and payment events.
type Trips struct {
	store        TripStore
	reservations ReservationStore
	photos       PhotoStore
	deps         BookingDeps
	opts         BookingOptions
	metrics      *Metrics
	index        holdIndex
}

// NewTrips returns the trip use cases; metrics may be nil.
func NewTrips(store TripStore, reservations ReservationStore, photos PhotoStore, deps BookingDeps, metrics *Metrics, opts BookingOptions) (*Trips, error) {
	if store == nil || reservations == nil || photos == nil {
		return nil, errors.New("trips need a trip store, a reservation store and a photo store")
	}
	if err := deps.validate(); err != nil {
		return nil, err
	}
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	return &Trips{store: store, reservations: reservations, photos: photos, deps: deps, opts: opts,
		metrics: metrics.orNop(), index: newHoldIndex(reservations, deps, opts)}, nil
}

// StartTrip asks for a trip: from a reservation, or walk-up (bikes/scooters).
type StartTrip struct {
	ReservationID string
	VehicleID     string // walk-up
	CustomerID    string // staff only
	// AllowConcurrent lets this customer have this trip besides an active
	// one (staff only).
	AllowConcurrent bool
}

// Start checks the customer and vehicle, holds the vehicle, creates the trip in
// state unlocking and sends the unlock command, all in one transaction. The
// trip becomes active when the vehicle confirms (OnCommandAck) and fails if it
// does not in time; only then is TripStartedV1 (and so a payment hold) emitted.
func (s *Trips) Start(ctx context.Context, caller Caller, cmd StartTrip) (domain.Trip, error) {
	if cmd.AllowConcurrent && !caller.Staff {
		return domain.Trip{}, fmt.Errorf("%w: only staff may allow a customer more than one active trip", domain.ErrForbidden)
	}
	now := s.opts.Now()
	tripID := uuid.Must(uuid.NewV7()).String()
	commandID := uuid.Must(uuid.NewV7()).String()
	var (
		walkUp  *domain.Reservation
		vehicle BookableVehicle
		state   VehicleState
	)
	reservationID := cmd.ReservationID
	if reservationID != "" {
		res, err := s.reservations.Reservation(ctx, reservationID)
		if err != nil {
			return domain.Trip{}, err
		}
		if !caller.sees(res.CustomerID) || res.WalkUp || (caller.Staff && cmd.CustomerID != "" && cmd.CustomerID != res.CustomerID) {
			return domain.Trip{}, fmt.Errorf("reservation %s: %w", reservationID, domain.ErrNotFound)
		}
		if vehicle, state, err = s.checkStart(ctx, res.CustomerID, res.VehicleID, now); err != nil {
			return domain.Trip{}, err
		}
	} else {
		if cmd.VehicleID == "" {
			return domain.Trip{}, fmt.Errorf("%w: reservation_id or vehicle_id is required", domain.ErrInvalid)
		}
		customerID, err := caller.customerFor(cmd.CustomerID)
		if err != nil {
			return domain.Trip{}, err
		}
		if vehicle, state, err = s.checkStart(ctx, customerID, cmd.VehicleID, now); err != nil {
			return domain.Trip{}, err
		}
		hold, err := s.opts.Rules.NewWalkUpHold(uuid.Must(uuid.NewV7()).String(), customerID, vehicle.ID, vehicle.Type, vehicle.City, now)
		if err != nil {
			return domain.Trip{}, err
		}
		hold.TripID, hold.HeldMarkedAt = tripID, now
		walkUp = &hold
	}
	terms, err := s.lockTerms(ctx, vehicle, state)
	if err != nil {
		return domain.Trip{}, err
	}
	trip, err := s.store.StartTrip(ctx, walkUp, reservationID, func(hold *domain.Reservation) (domain.Trip, []Outgoing, error) {
		if !hold.WalkUp {
			if err := s.opts.Rules.BeginTrip(hold, tripID, now); err != nil {
				return domain.Trip{}, nil, err
			}
		}
		t := domain.NewTrip(tripID, *hold, commandID, now, s.opts.UnlockTimeout, cmd.AllowConcurrent, &terms)
		unlock, err := outgoing(events.TopicVehicleCommands, t.VehicleID, events.TypeVehicleCommandIssuedV1, events.VehicleCommandIssuedV1{
			CommandID: commandID, VehicleID: t.VehicleID, Kind: events.CommandUnlock, TripID: t.ID,
			RequestedBy: requestedBy, IssuedAt: now, ExpiresAt: t.UnlockExpiresAt,
		})
		return t, []Outgoing{unlock}, err
	})
	if err != nil {
		return domain.Trip{}, err
	}
	s.index.held(ctx, trip.VehicleID)
	return trip, nil
}

// checkStart applies the rules at unlock time: the customer is (still)
// eligible and the vehicle in service; a bike/scooter online inside an
// operating area. It returns the vehicle and its latest state.
func (s *Trips) checkStart(ctx context.Context, customerID, vehicleID string, now time.Time) (BookableVehicle, VehicleState, error) {
	v, err := s.deps.Vehicles.BookableVehicle(ctx, vehicleID)
	if err != nil {
		return BookableVehicle{}, VehicleState{}, fmt.Errorf("vehicle %s: %w", vehicleID, err)
	}
	if err := s.deps.Customers.CheckEligible(ctx, customerID, v.Type, now); err != nil {
		return BookableVehicle{}, VehicleState{}, err
	}
	if !v.InService {
		return BookableVehicle{}, VehicleState{}, fmt.Errorf("%w: vehicle %s is not in service (maintenance)", domain.ErrConflict, v.ID)
	}
	state, found, err := s.deps.States.VehicleState(ctx, v.ID)
	if err != nil {
		return BookableVehicle{}, VehicleState{}, fmt.Errorf("vehicle %s state: %w", v.ID, err)
	}
	if v.Type.Micromobility() {
		if err := vehicleReachable(ctx, s.deps.Places, v.ID, state, found); err != nil {
			return BookableVehicle{}, VehicleState{}, err
		}
	}
	return v, state, nil
}

// lockTerms fetches the prices a trip starting now keeps to its end: the
// vehicle's city tariff with the dynamic multiplier of the zone it stands in.
func (s *Trips) lockTerms(ctx context.Context, v BookableVehicle, st VehicleState) (domain.PriceTerms, error) {
	terms, err := s.deps.Pricing.TripTerms(ctx, v.City, v.Type, st.ZoneID)
	if errors.Is(err, domain.ErrNotFound) {
		// A city without a tariff is set-up work for staff, not a missing resource.
		return domain.PriceTerms{}, fmt.Errorf("%w: no tariff for a %s in %q: %v", domain.ErrPrecondition, v.Type, v.City, err)
	}
	if err != nil {
		return domain.PriceTerms{}, fmt.Errorf("price terms: %w", err)
	}
	return terms, nil
}

// TripView is a trip as its customer sees it: state, duration, running (or final) price.
type TripView struct {
	Trip        domain.Trip
	Duration    time.Duration
	Price       *domain.Money
	PriceFinal  bool
	Adjustments []Adjustment
}

// Get returns a trip with its duration and current price.
func (s *Trips) Get(ctx context.Context, caller Caller, id string) (TripView, error) {
	t, err := s.visible(ctx, caller, id)
	if err != nil {
		return TripView{}, err
	}
	now := s.opts.Now()
	v := TripView{Trip: t, Duration: t.Duration(now)}
	switch t.State {
	case domain.TripEnded:
		v.Price, v.PriceFinal = t.Price, true
	case domain.TripActive:
		// A running price is informative: a pricing hiccup must not hide the trip.
		p, err := t.PriceAt(now)
		if err != nil {
			s.opts.Logger.WarnContext(ctx, "running price", slog.String("trip_id", t.ID), slog.Any("error", err))
		} else {
			v.Price = &p
		}
	}
	if v.Adjustments, err = s.store.Adjustments(ctx, t.ID); err != nil {
		return TripView{}, err
	}
	return v, nil
}

func (s *Trips) visible(ctx context.Context, caller Caller, id string) (domain.Trip, error) {
	t, err := s.store.Trip(ctx, id)
	if err != nil {
		return domain.Trip{}, err
	}
	if !caller.sees(t.CustomerID) {
		return domain.Trip{}, fmt.Errorf("trip %s: %w", id, domain.ErrNotFound)
	}
	return t, nil
}

// OnCommandAck applies a vehicle's answer to a command booking sent. An
// executed unlock starts the trip (TripStartedV1); any other answer fails it and
// frees the vehicle. An unlock confirmed after the trip already failed (timeout)
// is answered with a lock, so no vehicle stays open without a trip. Acks of
// commands booking did not send are ignored; redeliveries change nothing.
func (s *Trips) OnCommandAck(ctx context.Context, ack events.VehicleCommandAckedV1) error {
	tripID, err := s.store.TripByCommand(ctx, ack.CommandID)
	if errors.Is(err, domain.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	now := s.opts.Now()
	var start *domain.Point
	if ack.Kind == events.CommandUnlock && ack.Outcome == events.CommandExecuted {
		if st, found, err := s.deps.States.VehicleState(ctx, ack.VehicleID); err == nil && found {
			start = &st.Position
		}
	}
	var freed, activated bool
	var alerts []string
	t, err := s.store.UpdateTrip(ctx, tripID, false, func(t *domain.Trip, hold *domain.Reservation) (TripChange, error) {
		freed, activated, alerts = false, false, nil
		switch ack.CommandID {
		case t.UnlockCommandID:
			return s.unlockAnswered(t, hold, ack, now, start, &freed, &activated, &alerts)
		case t.LockCommandID:
			t.LockOutcome = string(ack.Outcome)
			if ack.Outcome != events.CommandExecuted {
				alerts = append(alerts, AlertLockFailed)
			}
		}
		return TripChange{}, nil
	})
	if err != nil {
		return err
	}
	if activated {
		s.metrics.unlocks.WithLabelValues(string(events.CommandExecuted)).Inc()
	}
	if freed {
		s.metrics.unlocks.WithLabelValues(string(ack.Outcome)).Inc()
		s.index.released(ctx, t.VehicleID)
	}
	for _, a := range alerts {
		s.metrics.alert(a)
		s.opts.Logger.WarnContext(ctx, "ops alert: "+a, slog.String("trip_id", t.ID), slog.String("vehicle_id", t.VehicleID),
			slog.String("command_id", ack.CommandID), slog.String("outcome", string(ack.Outcome)), slog.String("reason", ack.Reason))
	}
	return nil
}

func (s *Trips) unlockAnswered(t *domain.Trip, hold *domain.Reservation, ack events.VehicleCommandAckedV1, now time.Time,
	start *domain.Point, freed, activated *bool, alerts *[]string) (TripChange, error) {
	executed := ack.Outcome == events.CommandExecuted
	switch {
	case t.State == domain.TripUnlocking && executed:
		if err := t.Activate(ack.AckedAt, now, start); err != nil {
			return TripChange{}, err
		}
		*activated = true
		ev := events.TripStartedV1{
			TripID: t.ID, CustomerID: t.CustomerID, VehicleID: t.VehicleID,
			VehicleType: events.VehicleType(t.VehicleType), StartedAt: t.StartedAt,
		}
		if !t.WalkUp {
			ev.ReservationID = t.ReservationID
		}
		if start != nil {
			ev.StartLat, ev.StartLon = start.Lat, start.Lon
		}
		started, err := outgoing(events.TopicBookingTrips, t.ID, events.TypeTripStartedV1, ev)
		return TripChange{Out: []Outgoing{started}}, err
	case t.State == domain.TripUnlocking:
		reason := "vehicle answered unlock: " + string(ack.Outcome)
		if ack.Reason != "" {
			reason += " (" + ack.Reason + ")"
		}
		if err := t.Fail(reason, now); err != nil {
			return TripChange{}, err
		}
		hold.TripFailed(now)
		*freed = true
		return TripChange{}, nil
	case t.State == domain.TripFailed && executed && t.LockCommandID == "":
		// The vehicle opened after we gave up on it: close it again.
		*alerts = append(*alerts, AlertLateUnlock)
		lock, err := s.lockCommand(t, now)
		return TripChange{Out: []Outgoing{lock}}, err
	}
	return TripChange{}, nil
}

// lockCommand sets a new lock command on t and returns it for the outbox.
func (s *Trips) lockCommand(t *domain.Trip, now time.Time) (Outgoing, error) {
	t.LockCommandID = uuid.Must(uuid.NewV7()).String()
	return outgoing(events.TopicVehicleCommands, t.VehicleID, events.TypeVehicleCommandIssuedV1, events.VehicleCommandIssuedV1{
		CommandID: t.LockCommandID, VehicleID: t.VehicleID, Kind: events.CommandLock, TripID: t.ID,
		RequestedBy: requestedBy, IssuedAt: now, ExpiresAt: now.Add(lockCommandTTL),
	})
}

// lockCommandTTL: a lock is harmless late, so the vehicle may act on it for a while.
const lockCommandTTL = 10 * time.Minute

// FailUnlockTimeouts fails the trips whose vehicle did not confirm the unlock
// in time and frees their vehicles; TripStartedV1 is never emitted for them, so
// payments never holds money. It returns how many failed.
func (s *Trips) FailUnlockTimeouts(ctx context.Context, limit int) (int, error) {
	now := s.opts.Now()
	ids, err := s.store.DueUnlockTimeouts(ctx, now, limit)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		var failed bool
		t, err := s.store.UpdateTrip(ctx, id, false, func(t *domain.Trip, hold *domain.Reservation) (TripChange, error) {
			failed = false
			if t.State != domain.TripUnlocking || now.Before(t.UnlockExpiresAt) {
				return TripChange{}, nil // answered meanwhile
			}
			if err := t.Fail("no unlock confirmation from the vehicle within "+s.opts.UnlockTimeout.String(), now); err != nil {
				return TripChange{}, err
			}
			hold.TripFailed(now)
			failed = true
			return TripChange{}, nil
		})
		if err != nil {
			return n, fmt.Errorf("unlock timeout of trip %s: %w", id, err)
		}
		if failed {
			n++
			s.metrics.unlocks.WithLabelValues("timeout").Inc()
			s.opts.Logger.WarnContext(ctx, "unlock timed out: trip failed, vehicle freed",
				slog.String("trip_id", t.ID), slog.String("vehicle_id", t.VehicleID))
			s.index.released(ctx, t.VehicleID)
		}
	}
	return n, nil
}

// EndTrip is the customer's end request.
type EndTrip struct {
	// Position is where the app says the vehicle is; telemetry wins when known.
	Position *domain.Point
}

// End ends an active trip: lock command, return checks (bay, zone, plug, photo),
// final price, a wrong-location fine or an under-served-bay reward. The trip
// always ends, whatever the checks say: a customer is never trapped.
func (s *Trips) End(ctx context.Context, caller Caller, id string, cmd EndTrip) (TripView, error) {
	t, err := s.visible(ctx, caller, id)
	if err != nil {
		return TripView{}, err
	}
	if t.State != domain.TripActive {
		return TripView{}, fmt.Errorf("%w: trip %s is %s, only an active trip can end", domain.ErrConflict, t.ID, t.State)
	}
	now := s.opts.Now()
	st, found, err := s.deps.States.VehicleState(ctx, t.VehicleID)
	if err != nil {
		return TripView{}, fmt.Errorf("vehicle %s state: %w", t.VehicleID, err)
	}
	pos, known := st.Position, found
	if !found && cmd.Position != nil {
		if err := cmd.Position.Validate(); err != nil {
			return TripView{}, err
		}
		pos, known = *cmd.Position, true
	}
	var place domain.ReturnPlace
	if known {
		if place, err = s.deps.Places.ReturnPlace(ctx, t.VehicleType, pos); err != nil {
			return TripView{}, fmt.Errorf("return place: %w", err)
		}
	}
	check := domain.CheckReturn(t.VehicleType, place, known, found && st.PluggedIn, t.Photos)
	price, err := t.PriceAt(now)
	if err != nil {
		return TripView{}, fmt.Errorf("trip price: %w", err)
	}
	var fine, reward *domain.Money
	if check.WrongLocation {
		f, err := s.deps.Pricing.Fine(ctx, t.City, t.VehicleType, events.FineWrongLocation)
		if err != nil {
			return TripView{}, fmt.Errorf("wrong-location fine: %w", err)
		}
		fine = &f
	}
	if check.Reward {
		r, err := s.deps.Pricing.ReturnReward(ctx, t.City, t.VehicleType)
		if err != nil {
			return TripView{}, fmt.Errorf("return reward: %w", err)
		}
		reward = &r
	}
	keys, err := s.store.PhotoKeys(ctx, t.ID)
	if err != nil {
		return TripView{}, err
	}
	var endPos *domain.Point
	if known {
		endPos = &pos
	}
	ended, err := s.store.UpdateTrip(ctx, id, false, func(t *domain.Trip, hold *domain.Reservation) (TripChange, error) {
		lock, err := s.lockCommand(t, now)
		if err != nil {
			return TripChange{}, err
		}
		if err := t.End(now, domain.EndByCustomer, endPos, &check, price, t.LockCommandID); err != nil {
			return TripChange{}, err
		}
		hold.Complete(t.EndedAt)
		ch := TripChange{Out: []Outgoing{lock}}
		if err := s.endEvents(t, &ch); err != nil {
			return TripChange{}, err
		}
		returned, err := outgoing(events.TopicBookingReturns, t.ID, events.TypeReturnCheckedV1, events.ReturnCheckedV1{
			TripID: t.ID, CustomerID: t.CustomerID, VehicleID: t.VehicleID, VehicleType: events.VehicleType(t.VehicleType),
			BayID: check.BayID, InBay: check.InBay, EndingAllowed: check.EndingAllowed, PluggedIn: check.PluggedIn,
			Photos: check.Photos, Accepted: check.Accepted, Problems: check.Problems, CheckedAt: now,
		})
		if err != nil {
			return TripChange{}, err
		}
		ch.Out = append(ch.Out, returned)
		if len(keys) > 0 {
			photos, err := outgoing(events.TopicBookingReturns, t.ID, events.TypeReturnPhotosSubmittedV1, events.ReturnPhotosSubmittedV1{
				TripID: t.ID, CustomerID: t.CustomerID, VehicleID: t.VehicleID, PhotoKeys: keys, SubmittedAt: now,
			})
			if err != nil {
				return TripChange{}, err
			}
			ch.Out = append(ch.Out, photos)
		}
		if fine != nil && fine.AmountMinor > 0 {
			if err := s.adjust(t, &ch, AdjustmentFine, events.FineWrongLocation, *fine, now); err != nil {
				return TripChange{}, err
			}
		}
		if reward != nil && reward.AmountMinor > 0 {
			if err := s.adjust(t, &ch, AdjustmentReward, "under_served_bay", *reward, now); err != nil {
				return TripChange{}, err
			}
		}
		return ch, nil
	})
	if err != nil {
		return TripView{}, err
	}
	s.index.released(ctx, ended.VehicleID)
	adjustments, err := s.store.Adjustments(ctx, ended.ID)
	if err != nil {
		return TripView{}, err
	}
	return TripView{Trip: ended, Duration: ended.Duration(now), Price: ended.Price, PriceFinal: true, Adjustments: adjustments}, nil
}

// endEvents adds TripEndedV1 for an ended trip.
func (s *Trips) endEvents(t *domain.Trip, ch *TripChange) error {
	ev := events.TripEndedV1{
		TripID: t.ID, CustomerID: t.CustomerID, VehicleID: t.VehicleID, VehicleType: events.VehicleType(t.VehicleType),
		StartedAt: t.StartedAt, EndedAt: t.EndedAt, DurationSeconds: int64(t.Duration(t.EndedAt) / time.Second),
		Price: events.Money{AmountMinor: t.Price.AmountMinor, Currency: t.Price.Currency},
	}
	if t.EndPosition != nil {
		ev.EndLat, ev.EndLon = t.EndPosition.Lat, t.EndPosition.Lon
	}
	if t.Return != nil {
		ev.BayID, ev.EndedInBay = t.Return.BayID, t.Return.InBay
	}
	ended, err := outgoing(events.TopicBookingTrips, t.ID, events.TypeTripEndedV1, ev)
	if err != nil {
		return err
	}
	ch.Out = append(ch.Out, ended)
	return nil
}

// adjust issues a fine (FineIssuedV1) or reward (RewardGrantedV1) for t.
func (s *Trips) adjust(t *domain.Trip, ch *TripChange, kind, reason string, amount domain.Money, now time.Time) error {
	a := Adjustment{ID: uuid.Must(uuid.NewV7()).String(), TripID: t.ID, Kind: kind, Reason: reason, Amount: amount, IssuedAt: now}
	money := events.Money{AmountMinor: amount.AmountMinor, Currency: amount.Currency}
	var out Outgoing
	var err error
	if kind == AdjustmentFine {
		out, err = outgoing(events.TopicBookingTrips, t.ID, events.TypeFineIssuedV1, events.FineIssuedV1{
			FineID: a.ID, CustomerID: t.CustomerID, TripID: t.ID, Reason: reason, Amount: money, IssuedAt: now})
	} else {
		bay := ""
		if t.Return != nil {
			bay = t.Return.BayID
		}
		out, err = outgoing(events.TopicBookingTrips, t.ID, events.TypeRewardGrantedV1, events.RewardGrantedV1{
			RewardID: a.ID, CustomerID: t.CustomerID, TripID: t.ID, BayID: bay, Amount: money,
			Reason: "returned to an under-served bay", GrantedAt: now})
	}
	if err != nil {
		return err
	}
	ch.Out = append(ch.Out, out)
	ch.Adjustments = append(ch.Adjustments, a)
	return nil
}

// EndForPayment ends a trip whose payment hold was refused: the vehicle is
// locked and the trip priced up to now (payments keeps what is owed), without
// return fines. A trip still unlocking fails. Done or unknown trips are left
// alone, so a redelivered event changes nothing.
func (s *Trips) EndForPayment(ctx context.Context, tripID, code string) error {
	t, err := s.store.Trip(ctx, tripID)
	if errors.Is(err, domain.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if t.State != domain.TripActive && t.State != domain.TripUnlocking {
		return nil
	}
	now := s.opts.Now()
	var price domain.Money
	if t.State == domain.TripActive {
		if price, err = t.PriceAt(now); err != nil {
			return fmt.Errorf("trip price: %w", err)
		}
	}
	var changed bool
	ended, err := s.store.UpdateTrip(ctx, tripID, false, func(t *domain.Trip, hold *domain.Reservation) (TripChange, error) {
		changed = false
		switch t.State {
		case domain.TripUnlocking:
			if err := t.Fail("payment authorisation failed", now); err != nil {
				return TripChange{}, err
			}
			hold.TripFailed(now)
			changed = true
			return TripChange{}, nil
		case domain.TripActive:
			lock, err := s.lockCommand(t, now)
			if err != nil {
				return TripChange{}, err
			}
			if err := t.End(now, domain.EndPaymentDeclined, nil, nil, price, t.LockCommandID); err != nil {
				return TripChange{}, err
			}
			hold.Complete(t.EndedAt)
			changed = true
			ch := TripChange{Out: []Outgoing{lock}}
			return ch, s.endEvents(t, &ch)
		}
		return TripChange{}, nil
	})
	if err != nil {
		return err
	}
	if changed {
		s.opts.Logger.WarnContext(ctx, "trip ended: payment authorisation failed", slog.String("trip_id", tripID), slog.String("code", code))
		s.index.released(ctx, ended.VehicleID)
	}
	return nil
}

// OnPaymentCaptured marks a trip settled (once per event).
func (s *Trips) OnPaymentCaptured(ctx context.Context, eventID, tripID string, amountMinor int64, at time.Time) error {
	return s.store.RecordCapture(ctx, eventID, tripID, amountMinor, at)
}

// FlagOverdue detects active trips past their limit: TripOverdueV1, a late
// fine (FineIssuedV1), an ops alert; the vehicle's hold is kept open so nobody
// books a vehicle that has not come back (if the next booking already starts,
// operations are alerted instead). It returns how many trips were flagged.
func (s *Trips) FlagOverdue(ctx context.Context, limit int) (int, error) {
	now := s.opts.Now()
	ids, err := s.store.DueOverdue(ctx, now, limit)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		flagged, err := s.flagOverdue(ctx, id, now)
		if err != nil {
			return n, fmt.Errorf("overdue trip %s: %w", id, err)
		}
		if flagged {
			n++
		}
	}
	return n, nil
}

func (s *Trips) flagOverdue(ctx context.Context, id string, now time.Time) (bool, error) {
	t, err := s.store.Trip(ctx, id)
	if err != nil {
		return false, err
	}
	fine, err := s.deps.Pricing.Fine(ctx, t.City, t.VehicleType, events.FineLateReturn)
	if err != nil {
		return false, fmt.Errorf("late fine: %w", err)
	}
	update := func(keepOpen bool) (domain.Trip, bool, error) {
		var flagged bool
		t, err := s.store.UpdateTrip(ctx, id, keepOpen, func(t *domain.Trip, hold *domain.Reservation) (TripChange, error) {
			flagged = t.MarkOverdue(now)
			if !flagged {
				return TripChange{}, nil
			}
			if keepOpen {
				hold.KeepOpen()
			}
			overdue, err := outgoing(events.TopicBookingTrips, t.ID, events.TypeTripOverdueV1, events.TripOverdueV1{
				TripID: t.ID, CustomerID: t.CustomerID, VehicleID: t.VehicleID, VehicleType: events.VehicleType(t.VehicleType),
				StartedAt: t.StartedAt, DueAt: t.BookedEndAt, DetectedAt: now,
			})
			if err != nil {
				return TripChange{}, err
			}
			ch := TripChange{Out: []Outgoing{overdue}}
			if fine.AmountMinor > 0 {
				if err := s.adjust(t, &ch, AdjustmentFine, events.FineLateReturn, fine, now); err != nil {
					return TripChange{}, err
				}
			}
			return ch, nil
		})
		return t, flagged, err
	}
	t, flagged, err := update(true)
	if errors.Is(err, domain.ErrConflict) {
		// The vehicle is booked right after: the next customer is at risk.
		s.metrics.alert(AlertOverdueBlocksNext)
		s.opts.Logger.WarnContext(ctx, "ops alert: overdue trip's vehicle is booked next", slog.String("trip_id", id))
		t, flagged, err = update(false)
	}
	if err != nil || !flagged {
		return false, err
	}
	s.metrics.overdue.WithLabelValues(string(t.VehicleType)).Inc()
	s.metrics.alert(AlertTripOverdue)
	s.opts.Logger.WarnContext(ctx, "ops alert: trip overdue", slog.String("trip_id", t.ID), slog.String("customer_id", t.CustomerID),
		slog.String("vehicle_id", t.VehicleID), slog.String("vehicle_type", string(t.VehicleType)), slog.Time("due_at", t.BookedEndAt))
	return true, nil
}
