package events

import "time"

// Booking event types: reservations on TopicBookingReservations, trips on
// TopicBookingTrips, return photos on TopicBookingReturns.
const (
	TypeReservationCreatedV1    = "com.mobilitycorp.booking.reservation.created.v1"
	TypeReservationCancelledV1  = "com.mobilitycorp.booking.reservation.cancelled.v1"
	TypeReservationExpiredV1    = "com.mobilitycorp.booking.reservation.expired.v1"
	TypeTripStartedV1           = "com.mobilitycorp.booking.trip.started.v1"
	TypeTripEndedV1             = "com.mobilitycorp.booking.trip.ended.v1"
	TypeReturnPhotosSubmittedV1 = "com.mobilitycorp.booking.return.photos-submitted.v1"
	TypeFineIssuedV1            = "com.mobilitycorp.booking.fine.issued.v1"
	TypeRewardGrantedV1         = "com.mobilitycorp.booking.reward.granted.v1"
	TypeTripOverdueV1           = "com.mobilitycorp.booking.trip.overdue.v1"
	TypeReturnCheckedV1         = "com.mobilitycorp.booking.return.checked.v1"
)

// ReservationCreatedV1: a customer holds a vehicle from StartAt until EndAt.
type ReservationCreatedV1 struct {
	ReservationID string      `json:"reservation_id"`
	CustomerID    string      `json:"customer_id"`
	VehicleID     string      `json:"vehicle_id"`
	VehicleType   VehicleType `json:"vehicle_type"`
	BayID         string      `json:"bay_id,omitempty"` // pick-up bay of cars and vans
	StartAt       time.Time   `json:"start_at"`
	EndAt         time.Time   `json:"end_at"`
	// Deposit is the amount payments pre-authorises, if any.
	Deposit *Money `json:"deposit,omitempty"`
}

// ReservationCancelledV1: the customer or operations released the vehicle.
type ReservationCancelledV1 struct {
	ReservationID string    `json:"reservation_id"`
	CustomerID    string    `json:"customer_id"`
	VehicleID     string    `json:"vehicle_id"`
	Reason        string    `json:"reason,omitempty"`
	CancelledBy   string    `json:"cancelled_by"` // "customer" or "operations"
	CancelledAt   time.Time `json:"cancelled_at"`
	// Fee is the cancellation fee payments charges; nil (or zero) when the
	// cancellation is free (within 10 minutes of booking, or by operations).
	Fee *Money `json:"fee,omitempty"`
}

// ReservationExpiredV1: no trip started before the reservation ended.
type ReservationExpiredV1 struct {
	ReservationID string    `json:"reservation_id"`
	CustomerID    string    `json:"customer_id"`
	VehicleID     string    `json:"vehicle_id"`
	ExpiredAt     time.Time `json:"expired_at"`
}

// TripStartedV1: the vehicle was unlocked for a customer.
type TripStartedV1 struct {
	TripID        string      `json:"trip_id"`
	ReservationID string      `json:"reservation_id,omitempty"` // empty for walk-up rentals
	CustomerID    string      `json:"customer_id"`
	VehicleID     string      `json:"vehicle_id"`
	VehicleType   VehicleType `json:"vehicle_type"`
	StartLat      float64     `json:"start_lat"`
	StartLon      float64     `json:"start_lon"`
	BayID         string      `json:"bay_id,omitempty"`
	StartedAt     time.Time   `json:"started_at"`
}

// TripEndedV1: the vehicle was locked and the trip priced.
type TripEndedV1 struct {
	TripID          string      `json:"trip_id"`
	CustomerID      string      `json:"customer_id"`
	VehicleID       string      `json:"vehicle_id"`
	VehicleType     VehicleType `json:"vehicle_type"`
	StartedAt       time.Time   `json:"started_at"`
	EndedAt         time.Time   `json:"ended_at"`
	DurationSeconds int64       `json:"duration_seconds"`
	DistanceMeters  int64       `json:"distance_meters"`
	Price           Money       `json:"price"`
	EndLat          float64     `json:"end_lat"`
	EndLon          float64     `json:"end_lon"`
	BayID           string      `json:"bay_id,omitempty"`
	// EndedInBay is false for a return outside a bay, which costs a fee.
	EndedInBay bool `json:"ended_in_bay"`
}

// ReturnPhotosSubmittedV1: the customer uploaded the end-of-trip photos.
type ReturnPhotosSubmittedV1 struct {
	TripID      string    `json:"trip_id"`
	CustomerID  string    `json:"customer_id"`
	VehicleID   string    `json:"vehicle_id"`
	PhotoKeys   []string  `json:"photo_keys"` // object-storage keys
	SubmittedAt time.Time `json:"submitted_at"`
}

// Fine reasons of FineIssuedV1.
const (
	FineWrongLocation = "wrong_location"
	FineLateReturn    = "late_return"
	FineDamage        = "damage"
)

// FineIssuedV1 (on TopicBookingTrips, key trip id): booking fined a customer
// for a trip; payments charges it as a separate payment.
type FineIssuedV1 struct {
	FineID     string    `json:"fine_id"`
	CustomerID string    `json:"customer_id"`
	TripID     string    `json:"trip_id"`
	Reason     string    `json:"reason"` // FineWrongLocation, FineLateReturn, FineDamage, ...
	Amount     Money     `json:"amount"`
	IssuedAt   time.Time `json:"issued_at"`
}

// RewardGrantedV1 (on TopicBookingTrips, key trip id): a customer earned a
// credit, e.g. for returning to an under-served bay; payments applies it to the
// customer's next trip.
type RewardGrantedV1 struct {
	RewardID   string    `json:"reward_id"`
	CustomerID string    `json:"customer_id"`
	TripID     string    `json:"trip_id,omitempty"`
	BayID      string    `json:"bay_id,omitempty"`
	Amount     Money     `json:"amount"`
	Reason     string    `json:"reason,omitempty"`
	GrantedAt  time.Time `json:"granted_at"`
}

// TripOverdueV1 (on TopicBookingTrips, key trip id): an active trip passed its
// limit (12 h for bikes/scooters, the booked end for cars/vans); the customer is
// notified, a late fine follows as FineIssuedV1, operations are alerted.
type TripOverdueV1 struct {
	TripID      string      `json:"trip_id"`
	CustomerID  string      `json:"customer_id"`
	VehicleID   string      `json:"vehicle_id"`
	VehicleType VehicleType `json:"vehicle_type"`
	StartedAt   time.Time   `json:"started_at"`
	DueAt       time.Time   `json:"due_at"` // the limit that passed
	DetectedAt  time.Time   `json:"detected_at"`
}

// ReturnCheckedV1 (on TopicBookingReturns, key trip id): the immediate return
// checks at trip end (bay geofence, zone, plug-in state, photos). Accepted is the
// provisional verdict; the AI photo check follows on genai.photo-checks.
type ReturnCheckedV1 struct {
	TripID        string      `json:"trip_id"`
	CustomerID    string      `json:"customer_id"`
	VehicleID     string      `json:"vehicle_id"`
	VehicleType   VehicleType `json:"vehicle_type"`
	BayID         string      `json:"bay_id,omitempty"`
	InBay         bool        `json:"in_bay"`
	EndingAllowed bool        `json:"ending_allowed"`
	PluggedIn     *bool       `json:"plugged_in,omitempty"` // cars and vans
	Photos        int         `json:"photos"`
	Accepted      bool        `json:"accepted"`
	Problems      []string    `json:"problems,omitempty"`
	CheckedAt     time.Time   `json:"checked_at"`
}
