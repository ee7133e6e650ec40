package http

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/mobilitycorp/platform/pkg/auth"
	"github.com/mobilitycorp/platform/pkg/httpx"
	"github.com/mobilitycorp/platform/pkg/httpx/problem"
	"github.com/mobilitycorp/platform/services/booking/internal/app"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
)

// ReservationsHandler serves /v1/reservations.
type ReservationsHandler struct {
	svc  *app.Reservations
	idem func(http.Handler) http.Handler
}

// NewReservationsHandler returns the handler; idempotency is the
// Idempotency-Key middleware (required) put on every POST.
func NewReservationsHandler(svc *app.Reservations, idempotency func(http.Handler) http.Handler) *ReservationsHandler {
	return &ReservationsHandler{svc: svc, idem: idempotency}
}

// Mount adds the routes to r, which must authenticate.
func (h *ReservationsHandler) Mount(r chi.Router) {
	r.With(h.idem).Post("/v1/reservations", h.create)
	r.Get("/v1/reservations", h.list)
	r.Get("/v1/reservations/{id}", h.get)
	r.With(h.idem).Post("/v1/reservations/{id}/cancel", h.cancel)
	r.With(h.idem).Post("/v1/reservations/{id}/extend", h.extend)
}

// caller is the acting principal in app terms: staff, admins and services act
// for anyone; customers for themselves.
func caller(r *http.Request) (app.Caller, error) {
	p := principal(r)
	if p.Subject == "" {
		return app.Caller{}, problem.Unauthorized("no authenticated principal")
	}
	if !isStaff(p) && !p.Has(auth.RoleCustomer) {
		return app.Caller{}, problem.Forbidden("requires role customer, staff or service")
	}
	return app.Caller{Subject: p.Subject, Staff: isStaff(p)}, nil
}

// writeBookingError adds the numbers of a range shortfall to its problem,
// so the app can show them (and staff can decide on an override).
func writeBookingError(w http.ResponseWriter, r *http.Request, err error) {
	var short *domain.RangeShortfall
	if errors.As(err, &short) {
		p := problem.New(http.StatusUnprocessableEntity, "insufficient-range", "Not enough range for the planned trip", short.Error()).
			With("planned_distance_km", short.PlannedKm).
			With("required_range_km", short.RequiredKm).
			With("range_margin", short.Margin).
			With("range_known", short.Known)
		if short.Known {
			p = p.With("estimated_range_km", short.RangeKm)
		}
		problem.Write(w, r, p)
		return
	}
	writeError(w, r, err)
}

type reservationJSON struct {
	ID                    string        `json:"id"`
	CustomerID            string        `json:"customer_id"`
	VehicleID             string        `json:"vehicle_id"`
	VehicleType           string        `json:"vehicle_type"`
	City                  string        `json:"city,omitempty"`
	Status                string        `json:"status"`
	StartAt               time.Time     `json:"start_at"`
	EndAt                 time.Time     `json:"end_at"`
	OpenEnded             bool          `json:"open_ended"`
	ExpiresAt             time.Time     `json:"expires_at"`
	FreeCancellationUntil time.Time     `json:"free_cancellation_until"`
	PlannedDistanceKm     *float64      `json:"planned_distance_km,omitempty"`
	CreatedAt             time.Time     `json:"created_at"`
	ClosedAt              *time.Time    `json:"closed_at,omitempty"`
	CancelledBy           string        `json:"cancelled_by,omitempty"`
	CancelReason          string        `json:"cancel_reason,omitempty"`
	CancellationFee       *domain.Money `json:"cancellation_fee,omitempty"`
	TripID                string        `json:"trip_id,omitempty"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func toReservationJSON(res domain.Reservation, rules domain.BookingRules) reservationJSON {
	j := reservationJSON{
		ID: res.ID, CustomerID: res.CustomerID, VehicleID: res.VehicleID, VehicleType: string(res.VehicleType),
		City: res.City, Status: string(res.Status), StartAt: res.StartAt, EndAt: res.EndAt,
		OpenEnded: res.VehicleType.Micromobility(), ExpiresAt: res.ExpiresAt,
		FreeCancellationUntil: rules.FreeCancellationUntil(res), CreatedAt: res.CreatedAt, ClosedAt: optTime(res.ClosedAt),
		CancelledBy: res.CancelledBy, CancelReason: res.CancelReason, CancellationFee: res.CancelFee, TripID: res.TripID,
	}
	if res.PlannedDistanceKm > 0 {
		j.PlannedDistanceKm = &res.PlannedDistanceKm
	}
	return j
}

type createReservationJSON struct {
	VehicleID         string     `json:"vehicle_id"`
	CustomerID        string     `json:"customer_id,omitempty"`
	StartAt           *time.Time `json:"start_at,omitempty"`
	EndAt             *time.Time `json:"end_at,omitempty"`
	PlannedDistanceKm *float64   `json:"planned_distance_km,omitempty"`
	RangeOverride     bool       `json:"range_override,omitempty"`
}

func (h *ReservationsHandler) create(w http.ResponseWriter, r *http.Request) {
	c, err := caller(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var in createReservationJSON
	if err := httpx.DecodeJSON(r, &in); err != nil {
		writeError(w, r, err)
		return
	}
	if in.VehicleID == "" {
		writeError(w, r, problem.Validation("vehicle_id is required", problem.FieldError{Pointer: "/vehicle_id", Detail: "required"}))
		return
	}
	cmd := app.CreateReservation{CustomerID: in.CustomerID, VehicleID: in.VehicleID, RangeOverride: in.RangeOverride}
	if in.StartAt != nil {
		cmd.StartAt = in.StartAt.UTC()
	}
	if in.EndAt != nil {
		cmd.EndAt = in.EndAt.UTC()
	}
	if in.PlannedDistanceKm != nil {
		cmd.PlannedDistanceKm = *in.PlannedDistanceKm
	}
	res, err := h.svc.Create(r.Context(), c, cmd)
	if err != nil {
		writeBookingError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/reservations/"+res.ID)
	httpx.WriteJSON(w, http.StatusCreated, toReservationJSON(res, h.svc.Rules()))
}

func (h *ReservationsHandler) get(w http.ResponseWriter, r *http.Request) {
	c, err := caller(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	res, err := h.svc.Get(r.Context(), c, chi.URLParam(r, "id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, toReservationJSON(res, h.svc.Rules()))
}

type reservationPageJSON struct {
	Items      []reservationJSON `json:"items"`
	NextCursor string            `json:"next_cursor,omitempty"`
}

// list serves GET /v1/reservations: a customer's own (?mine is implied for
// customers); staff name the customer with ?customer_id=.
func (h *ReservationsHandler) list(w http.ResponseWriter, r *http.Request) {
	c, err := caller(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var after app.ReservationPageKey
	limit, hasCursor, err := pageParams(r, &after)
	if err != nil {
		writeError(w, r, err)
		return
	}
	customerID := r.URL.Query().Get("customer_id")
	if c.Staff && customerID == "" && r.URL.Query().Has("mine") {
		customerID = c.Subject // staff listing their own bookings
	}
	var cursor *app.ReservationPageKey
	if hasCursor {
		cursor = &after
	}
	// One more than asked tells whether another page follows.
	items, err := h.svc.List(r.Context(), c, customerID, cursor, limit+1)
	if err != nil {
		writeError(w, r, err)
		return
	}
	page := reservationPageJSON{Items: []reservationJSON{}}
	if len(items) > limit {
		items = items[:limit]
		last := items[len(items)-1]
		page.NextCursor = nextCursor(app.ReservationPageKey{CreatedAt: last.CreatedAt, ID: last.ID})
	}
	for _, res := range items {
		page.Items = append(page.Items, toReservationJSON(res, h.svc.Rules()))
	}
	httpx.WriteJSON(w, http.StatusOK, page)
}

type cancelReservationJSON struct {
	Reason string `json:"reason,omitempty"`
}

func (h *ReservationsHandler) cancel(w http.ResponseWriter, r *http.Request) {
	c, err := caller(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var in cancelReservationJSON
	if err := decodeOptionalJSON(r, &in); err != nil {
		writeError(w, r, err)
		return
	}
	if len(in.Reason) > 500 {
		writeError(w, r, problem.Validation("reason is at most 500 characters", problem.FieldError{Pointer: "/reason", Detail: "too long"}))
		return
	}
	res, err := h.svc.Cancel(r.Context(), c, chi.URLParam(r, "id"), in.Reason)
	if err != nil {
		writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, toReservationJSON(res, h.svc.Rules()))
}

type extendReservationJSON struct {
	EndAt *time.Time `json:"end_at"`
}

func (h *ReservationsHandler) extend(w http.ResponseWriter, r *http.Request) {
	c, err := caller(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var in extendReservationJSON
	if err := httpx.DecodeJSON(r, &in); err != nil {
		writeError(w, r, err)
		return
	}
	if in.EndAt == nil {
		writeError(w, r, problem.Validation("end_at is required", problem.FieldError{Pointer: "/end_at", Detail: "required"}))
		return
	}
	res, err := h.svc.Extend(r.Context(), c, chi.URLParam(r, "id"), in.EndAt.UTC())
	if err != nil {
		writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, toReservationJSON(res, h.svc.Rules()))
}

// decodeOptionalJSON decodes a body when there is one: an empty body (also
// one sent chunked, without a length) means the defaults.
func decodeOptionalJSON(r *http.Request, dst any) error {
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	br := bufio.NewReader(r.Body)
	if _, err := br.Peek(1); err == io.EOF {
		return nil
	}
	r.Body = struct {
		io.Reader
		io.Closer
	}{br, r.Body}
	return httpx.DecodeJSON(r, dst)
}
