package http

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/mobilitycorp/platform/pkg/auth"
	"github.com/mobilitycorp/platform/pkg/httpx"
	"github.com/mobilitycorp/platform/pkg/httpx/problem"
	"github.com/mobilitycorp/platform/services/booking/internal/app"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
)

// VehicleLocator tells where a vehicle is and of what type (app.Availability),
// for quotes by vehicle.
type VehicleLocator interface {
	State(ctx context.Context, vehicleID string) (domain.LiveState, error)
}

// PricingHandler serves quotes (anyone authenticated), tariffs and city
// pricing (staff), and multipliers (staff request, admins decide overrides).
type PricingHandler struct {
	svc      *app.Pricing
	vehicles VehicleLocator
	idem     func(http.Handler) http.Handler
}

// NewPricingHandler returns the handler; idempotency is the Idempotency-Key
// middleware (required) put on the POSTs that change prices.
func NewPricingHandler(svc *app.Pricing, vehicles VehicleLocator, idempotency func(http.Handler) http.Handler) *PricingHandler {
	return &PricingHandler{svc: svc, vehicles: vehicles, idem: idempotency}
}

// Mount adds the routes to r, which must authenticate.
func (h *PricingHandler) Mount(r chi.Router) {
	r.Post("/v1/quotes", h.quote)

	read := r.With(auth.RequireRole(auth.RoleStaff, auth.RoleService))
	read.Get("/v1/tariffs/{city}", h.getCity)
	read.Get("/v1/tariffs/{city}/{type}", h.getTariff)
	read.Get("/v1/multipliers/{city}", h.multipliers)
	read.Get("/v1/multiplier-changes", h.listChanges)
	read.Get("/v1/multiplier-changes/{id}", h.getChange)

	staff := r.With(auth.RequireRole(auth.RoleStaff))
	staff.Put("/v1/tariffs/{city}", h.putCity)
	staff.Put("/v1/tariffs/{city}/{type}", h.putTariff)
	staff.With(h.idem).Post("/v1/multiplier-changes", h.requestChange)

	admin := r.With(auth.RequireRole(auth.RoleAdmin), h.idem)
	admin.Post("/v1/multiplier-changes/{id}/approve", h.approve)
	admin.Post("/v1/multiplier-changes/{id}/reject", h.reject)
}

type quoteRequest struct {
	VehicleID       string             `json:"vehicle_id"`
	VehicleType     domain.VehicleType `json:"vehicle_type"`
	City            string             `json:"city"`
	ZoneID          string             `json:"zone_id"`
	ExpectedMinutes int64              `json:"expected_minutes"`
}

type quoteJSON struct {
	VehicleID       string             `json:"vehicle_id,omitempty"`
	VehicleType     domain.VehicleType `json:"vehicle_type"`
	City            string             `json:"city"`
	ZoneID          string             `json:"zone_id,omitempty"`
	UnlockFee       domain.Money       `json:"unlock_fee"`
	BasePerMinute   domain.Money       `json:"base_per_minute"`
	Multiplier      domain.Multiplier  `json:"multiplier"`
	PerMinute       domain.Money       `json:"per_minute"`
	ExpectedMinutes int64              `json:"expected_minutes"`
	Total           domain.Money       `json:"total"`
	QuotedAt        time.Time          `json:"quoted_at"`
}

// quote prices a planned trip: of a vehicle (its type, city and zone come
// from the availability index) or of a type in a city (and zone).
func (h *PricingHandler) quote(w http.ResponseWriter, r *http.Request) {
	var in quoteRequest
	if err := httpx.DecodeJSON(r, &in); err != nil {
		writeError(w, r, err)
		return
	}
	if in.VehicleID != "" {
		if in.VehicleType != "" || in.City != "" || in.ZoneID != "" {
			writeError(w, r, problem.Validation("give either vehicle_id or vehicle_type and city",
				problem.FieldError{Pointer: "/vehicle_id", Detail: "excludes vehicle_type, city and zone_id"}))
			return
		}
		st, err := h.vehicles.State(r.Context(), in.VehicleID)
		if err != nil {
			writeError(w, r, err)
			return
		}
		if st.City == "" || st.VehicleType == "" {
			writeError(w, r, fmt.Errorf("%w: vehicle %s is outside every operating area", domain.ErrPrecondition, in.VehicleID))
			return
		}
		in.VehicleType, in.City, in.ZoneID = st.VehicleType, st.City, st.ZoneID
	} else if in.VehicleType == "" || in.City == "" {
		writeError(w, r, problem.Validation("vehicle_type and city are required without vehicle_id",
			problem.FieldError{Pointer: "/vehicle_type", Detail: "required with city"}))
		return
	}
	q, err := h.svc.Quote(r.Context(), in.VehicleType, in.City, in.ZoneID, in.ExpectedMinutes)
	if err != nil {
		writeError(w, r, err)
		return
	}
	t := q.Terms
	httpx.WriteJSON(w, http.StatusOK, quoteJSON{
		VehicleID: in.VehicleID, VehicleType: t.VehicleType, City: t.City, ZoneID: t.ZoneID,
		UnlockFee: t.UnlockFee, BasePerMinute: t.BasePerMinute, Multiplier: t.Multiplier, PerMinute: t.PerMinute,
		ExpectedMinutes: q.Minutes, Total: q.Total, QuotedAt: q.QuotedAt,
	})
}

type cityPricingJSON struct {
	domain.CityPricing
	Tariffs []domain.Tariff `json:"tariffs"`
}

func (h *PricingHandler) getCity(w http.ResponseWriter, r *http.Request) {
	c, ts, err := h.svc.City(r.Context(), chi.URLParam(r, "city"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	if ts == nil {
		ts = []domain.Tariff{}
	}
	httpx.WriteJSON(w, http.StatusOK, cityPricingJSON{CityPricing: c, Tariffs: ts})
}

type cityPricingRequest struct {
	Currency          string       `json:"currency"`
	WrongLocationFine domain.Money `json:"wrong_location_fine"`
	LateReturnFine    domain.Money `json:"late_return_fine"`
	UnderServedReward domain.Money `json:"under_served_reward"`
	CancellationFee   domain.Money `json:"cancellation_fee"`
}

func (h *PricingHandler) putCity(w http.ResponseWriter, r *http.Request) {
	var in cityPricingRequest
	if err := httpx.DecodeJSON(r, &in); err != nil {
		writeError(w, r, err)
		return
	}
	c, err := h.svc.PutCity(r.Context(), principal(r).Subject, domain.CityPricing{
		City: chi.URLParam(r, "city"), Currency: in.Currency, WrongLocationFine: in.WrongLocationFine,
		LateReturnFine: in.LateReturnFine, UnderServedReward: in.UnderServedReward, CancellationFee: in.CancellationFee,
	})
	if err != nil {
		writeError(w, r, err)
		return
	}
	_, ts, err := h.svc.City(r.Context(), c.City)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if ts == nil {
		ts = []domain.Tariff{}
	}
	httpx.WriteJSON(w, http.StatusOK, cityPricingJSON{CityPricing: c, Tariffs: ts})
}

func pathVehicleType(r *http.Request) (domain.VehicleType, error) {
	t, err := domain.ParseVehicleType(chi.URLParam(r, "type"))
	if err != nil {
		return "", problem.Validation(err.Error(), problem.FieldError{Pointer: "/type", Detail: "not a vehicle type"})
	}
	return t, nil
}

func (h *PricingHandler) getTariff(w http.ResponseWriter, r *http.Request) {
	t, err := pathVehicleType(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	tr, err := h.svc.Tariff(r.Context(), chi.URLParam(r, "city"), t)
	if err != nil {
		writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, tr)
}

type tariffRequest struct {
	UnlockFee domain.Money `json:"unlock_fee"`
	PerMinute domain.Money `json:"per_minute"`
}

func (h *PricingHandler) putTariff(w http.ResponseWriter, r *http.Request) {
	t, err := pathVehicleType(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var in tariffRequest
	if err := httpx.DecodeJSON(r, &in); err != nil {
		writeError(w, r, err)
		return
	}
	tr, err := h.svc.PutTariff(r.Context(), principal(r).Subject, domain.Tariff{
		City: chi.URLParam(r, "city"), VehicleType: t, UnlockFee: in.UnlockFee, PerMinute: in.PerMinute,
	})
	if err != nil {
		writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, tr)
}

type multipliersJSON struct {
	City  string                   `json:"city"`
	Items []domain.PriceMultiplier `json:"items"`
}

func (h *PricingHandler) multipliers(w http.ResponseWriter, r *http.Request) {
	ms, err := h.svc.Multipliers(r.Context(), chi.URLParam(r, "city"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	if ms == nil {
		ms = []domain.PriceMultiplier{}
	}
	city, _ := domain.CityKey(chi.URLParam(r, "city"))
	httpx.WriteJSON(w, http.StatusOK, multipliersJSON{City: city, Items: ms})
}

type multiplierChangeRequest struct {
	City   string   `json:"city"`
	ZoneID string   `json:"zone_id"`
	Value  *float64 `json:"value"`
	Reason string   `json:"reason"`
}

// requestChange answers 201 when the multiplier is in force at once, and 202
// when it waits for an admin's approval.
func (h *PricingHandler) requestChange(w http.ResponseWriter, r *http.Request) {
	var in multiplierChangeRequest
	if err := httpx.DecodeJSON(r, &in); err != nil {
		writeError(w, r, err)
		return
	}
	if in.Value == nil {
		writeError(w, r, problem.Validation("value is required", problem.FieldError{Pointer: "/value", Detail: "required"}))
		return
	}
	value, err := domain.ParseMultiplier(*in.Value)
	if err != nil {
		writeError(w, r, problem.Validation(err.Error(), problem.FieldError{Pointer: "/value", Detail: "two decimals, within the hard limits"}))
		return
	}
	c, err := h.svc.RequestMultiplier(r.Context(), principal(r).Subject, in.City, in.ZoneID, value, in.Reason)
	if err != nil {
		writeError(w, r, err)
		return
	}
	status := http.StatusCreated
	if c.Status == domain.ChangePending {
		status = http.StatusAccepted
	}
	w.Header().Set("Location", "/v1/multiplier-changes/"+c.ID)
	httpx.WriteJSON(w, status, c)
}

type multiplierChangesJSON struct {
	Items      []domain.MultiplierChange `json:"items"`
	NextCursor string                    `json:"next_cursor,omitempty"`
}

func (h *PricingHandler) listChanges(w http.ResponseWriter, r *http.Request) {
	var after domain.MultiplierChangeCursor
	limit, hasCursor, err := pageParams(r, &after)
	if err != nil {
		writeError(w, r, err)
		return
	}
	f := domain.MultiplierChangeFilter{City: r.URL.Query().Get("city")}
	if s := r.URL.Query().Get("status"); s != "" {
		if f.Status, err = domain.ParseMultiplierChangeStatus(s); err != nil {
			writeError(w, r, err)
			return
		}
	}
	var cursor *domain.MultiplierChangeCursor
	if hasCursor {
		cursor = &after
	}
	// One more than asked tells whether another page follows.
	cs, err := h.svc.ListMultiplierChanges(r.Context(), f, cursor, limit+1)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := multiplierChangesJSON{Items: cs}
	if len(cs) > limit {
		out.Items = cs[:limit]
		last := cs[limit-1]
		out.NextCursor = nextCursor(domain.MultiplierChangeCursor{RequestedAt: last.RequestedAt, ID: last.ID})
	}
	if out.Items == nil {
		out.Items = []domain.MultiplierChange{}
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

func (h *PricingHandler) getChange(w http.ResponseWriter, r *http.Request) {
	c, err := h.svc.MultiplierChange(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, c)
}

func (h *PricingHandler) approve(w http.ResponseWriter, r *http.Request) {
	c, err := h.svc.ApproveMultiplier(r.Context(), principal(r).Subject, chi.URLParam(r, "id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, c)
}

func (h *PricingHandler) reject(w http.ResponseWriter, r *http.Request) {
	c, err := h.svc.RejectMultiplier(r.Context(), principal(r).Subject, chi.URLParam(r, "id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, c)
}
