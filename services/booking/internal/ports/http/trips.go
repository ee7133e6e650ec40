package http

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/mobilitycorp/platform/pkg/httpx"
	"github.com/mobilitycorp/platform/pkg/httpx/problem"
	"github.com/mobilitycorp/platform/services/booking/internal/app"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
)

// TripsHandler serves /v1/trips.
type TripsHandler struct {
	svc           *app.Trips
	idem          func(http.Handler) http.Handler
	photoMaxBytes int64
}

// NewTripsHandler returns the handler; idempotency is the Idempotency-Key
// middleware (required) put on the POSTs that move vehicles or money.
// photoMaxBytes caps one uploaded photo.
func NewTripsHandler(svc *app.Trips, idempotency func(http.Handler) http.Handler, photoMaxBytes int64) *TripsHandler {
	return &TripsHandler{svc: svc, idem: idempotency, photoMaxBytes: photoMaxBytes}
}

// Mount adds the routes to r, which must authenticate. Photo uploads need no
// Idempotency-Key: a photo is stored once per content.
func (h *TripsHandler) Mount(r chi.Router) {
	r.With(h.idem).Post("/v1/trips", h.start)
	r.Get("/v1/trips/{id}", h.get)
	r.With(h.idem).Post("/v1/trips/{id}/end", h.end)
	r.Post("/v1/trips/{id}/photos", h.photo)
	r.With(h.idem).Post("/v1/trips/{id}/feedback", h.feedback)
}

type returnJSON struct {
	InBay         bool     `json:"in_bay"`
	BayID         string   `json:"bay_id,omitempty"`
	EndingAllowed bool     `json:"ending_allowed"`
	PluggedIn     *bool    `json:"plugged_in,omitempty"`
	Photos        int      `json:"photos"`
	WrongLocation bool     `json:"wrong_location"`
	Reward        bool     `json:"reward"`
	Accepted      bool     `json:"accepted"`
	Problems      []string `json:"problems"`
}

type adjustmentJSON struct {
	ID       string       `json:"id"`
	Reason   string       `json:"reason"`
	Amount   domain.Money `json:"amount"`
	IssuedAt time.Time    `json:"issued_at"`
}

type tripJSON struct {
	ID              string           `json:"id"`
	ReservationID   string           `json:"reservation_id,omitempty"`
	CustomerID      string           `json:"customer_id"`
	VehicleID       string           `json:"vehicle_id"`
	VehicleType     string           `json:"vehicle_type"`
	State           string           `json:"state"`
	RequestedAt     time.Time        `json:"requested_at"`
	UnlockExpiresAt time.Time        `json:"unlock_expires_at"`
	StartedAt       *time.Time       `json:"started_at,omitempty"`
	BookedEndAt     *time.Time       `json:"booked_end_at,omitempty"`
	EndedAt         *time.Time       `json:"ended_at,omitempty"`
	DurationSeconds int64            `json:"duration_seconds"`
	Price           *domain.Money    `json:"price,omitempty"`
	PriceFinal      bool             `json:"price_final"`
	FailureReason   string           `json:"failure_reason,omitempty"`
	EndReason       string           `json:"end_reason,omitempty"`
	StartPosition   *domain.Point    `json:"start_position,omitempty"`
	EndPosition     *domain.Point    `json:"end_position,omitempty"`
	Return          *returnJSON      `json:"return,omitempty"`
	Photos          int              `json:"photos"`
	Overdue         bool             `json:"overdue"`
	Settled         bool             `json:"settled"`
	Fines           []adjustmentJSON `json:"fines"`
	Rewards         []adjustmentJSON `json:"rewards"`
}

func toTripJSON(v app.TripView) tripJSON {
	t := v.Trip
	j := tripJSON{
		ID: t.ID, CustomerID: t.CustomerID, VehicleID: t.VehicleID, VehicleType: string(t.VehicleType),
		State: string(t.State), RequestedAt: t.RequestedAt, UnlockExpiresAt: t.UnlockExpiresAt,
		StartedAt: optTime(t.StartedAt), EndedAt: optTime(t.EndedAt), DurationSeconds: int64(v.Duration / time.Second),
		Price: v.Price, PriceFinal: v.PriceFinal, FailureReason: t.FailReason, EndReason: t.EndReason,
		StartPosition: t.StartPosition, EndPosition: t.EndPosition, Photos: t.Photos,
		Overdue: !t.OverdueAt.IsZero(), Settled: !t.SettledAt.IsZero(),
		Fines: []adjustmentJSON{}, Rewards: []adjustmentJSON{},
	}
	if !t.WalkUp {
		j.ReservationID = t.ReservationID
	}
	if t.State == domain.TripUnlocking || t.State == domain.TripActive {
		j.BookedEndAt = optTime(t.BookedEndAt)
	}
	if c := t.Return; c != nil {
		j.Return = &returnJSON{InBay: c.InBay, BayID: c.BayID, EndingAllowed: c.EndingAllowed, PluggedIn: c.PluggedIn,
			Photos: c.Photos, WrongLocation: c.WrongLocation, Reward: c.Reward, Accepted: c.Accepted,
			Problems: append([]string{}, c.Problems...)}
	}
	for _, a := range v.Adjustments {
		aj := adjustmentJSON{ID: a.ID, Reason: a.Reason, Amount: a.Amount, IssuedAt: a.IssuedAt}
		if a.Kind == app.AdjustmentFine {
			j.Fines = append(j.Fines, aj)
		} else {
			j.Rewards = append(j.Rewards, aj)
		}
	}
	return j
}

type startTripJSON struct {
	ReservationID   string `json:"reservation_id,omitempty"`
	VehicleID       string `json:"vehicle_id,omitempty"`
	CustomerID      string `json:"customer_id,omitempty"`
	AllowConcurrent bool   `json:"allow_concurrent,omitempty"`
}

// start answers 202: the trip is unlocking; GET it to see the outcome.
func (h *TripsHandler) start(w http.ResponseWriter, r *http.Request) {
	c, err := caller(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var in startTripJSON
	if err := httpx.DecodeJSON(r, &in); err != nil {
		writeError(w, r, err)
		return
	}
	if (in.ReservationID == "") == (in.VehicleID == "") {
		writeError(w, r, problem.Validation("give either reservation_id or vehicle_id (walk-up)"))
		return
	}
	t, err := h.svc.Start(r.Context(), c, app.StartTrip{ReservationID: in.ReservationID, VehicleID: in.VehicleID,
		CustomerID: in.CustomerID, AllowConcurrent: in.AllowConcurrent})
	if err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/trips/"+t.ID)
	httpx.WriteJSON(w, http.StatusAccepted, toTripJSON(app.TripView{Trip: t}))
}

func (h *TripsHandler) get(w http.ResponseWriter, r *http.Request) {
	c, err := caller(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	v, err := h.svc.Get(r.Context(), c, chi.URLParam(r, "id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, toTripJSON(v))
}

type endTripJSON struct {
	Position *domain.Point `json:"position,omitempty"`
}

func (h *TripsHandler) end(w http.ResponseWriter, r *http.Request) {
	c, err := caller(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var in endTripJSON
	if err := decodeOptionalJSON(r, &in); err != nil {
		writeError(w, r, err)
		return
	}
	v, err := h.svc.End(r.Context(), c, chi.URLParam(r, "id"), app.EndTrip{Position: in.Position})
	if err != nil {
		writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, toTripJSON(v))
}

type photoJSON struct {
	Key         string    `json:"key"`
	SHA256      string    `json:"sha256"`
	ContentType string    `json:"content_type"`
	SizeBytes   int64     `json:"size_bytes"`
	UploadedAt  time.Time `json:"uploaded_at"`
}

// photo accepts one image as a multipart/form-data part (field "photo", or
// the first file) or as the raw body with an image/* Content-Type. 201 for a
// new photo, 200 when the same content was uploaded before.
func (h *TripsHandler) photo(w http.ResponseWriter, r *http.Request) {
	c, err := caller(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	data, declared, err := h.readPhoto(w, r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	p, added, err := h.svc.AddPhoto(r.Context(), c, chi.URLParam(r, "id"), photoType(data, declared), data)
	if err != nil {
		writeError(w, r, err)
		return
	}
	status := http.StatusOK
	if added {
		status = http.StatusCreated
	}
	httpx.WriteJSON(w, status, photoJSON{Key: p.Key, SHA256: p.SHA256, ContentType: p.ContentType, SizeBytes: p.SizeBytes, UploadedAt: p.UploadedAt})
}

// multipartSlack is room for part headers and boundaries around a photo.
const multipartSlack = 16 << 10

func (h *TripsHandler) readPhoto(w http.ResponseWriter, r *http.Request) ([]byte, string, error) {
	tooLarge := problem.New(http.StatusRequestEntityTooLarge, "payload-too-large", "",
		fmt.Sprintf("a photo is at most %d bytes", h.photoMaxBytes))
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return nil, "", problem.New(http.StatusUnsupportedMediaType, "unsupported-media-type", "",
			"send the photo as multipart/form-data (field \"photo\") or as the body with an image/* Content-Type")
	}
	body := http.MaxBytesReader(w, r.Body, h.photoMaxBytes+multipartSlack)
	readAll := func(rd io.Reader) ([]byte, error) {
		var buf bytes.Buffer
		n, err := buf.ReadFrom(io.LimitReader(rd, h.photoMaxBytes+1))
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return nil, tooLarge
		case err != nil:
			return nil, problem.BadRequest("the photo could not be read")
		case n > h.photoMaxBytes:
			return nil, tooLarge
		}
		return buf.Bytes(), nil
	}
	switch {
	case strings.HasPrefix(mt, "image/"):
		data, err := readAll(body)
		return data, mt, err
	case mt == "multipart/form-data":
		r.Body = body
		mr, err := r.MultipartReader()
		if err != nil {
			return nil, "", problem.BadRequest("malformed multipart body")
		}
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				return nil, "", problem.Validation("no photo in the multipart body (field \"photo\")",
					problem.FieldError{Pointer: "/photo", Detail: "required"})
			}
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, "", tooLarge
			}
			if err != nil {
				return nil, "", problem.BadRequest("malformed multipart body")
			}
			if part.FormName() == "photo" || part.FileName() != "" {
				data, err := readAll(part)
				return data, part.Header.Get("Content-Type"), err
			}
		}
	}
	return nil, "", problem.New(http.StatusUnsupportedMediaType, "unsupported-media-type", "",
		"send the photo as multipart/form-data (field \"photo\") or as the body with an image/* Content-Type")
}

// photoType trusts the bytes over the label: JPEG, PNG and WebP are sniffed;
// HEIC, which the sniffer does not know, is taken as declared.
func photoType(data []byte, declared string) string {
	sniffed := http.DetectContentType(data)
	if strings.HasPrefix(sniffed, "image/") {
		return sniffed
	}
	if d := strings.ToLower(strings.TrimSpace(declared)); d == "image/heic" && len(data) > 12 && string(data[4:8]) == "ftyp" {
		return d
	}
	return sniffed
}

type faultJSON struct {
	Category    string `json:"category"`
	Description string `json:"description,omitempty"`
}

type feedbackJSON struct {
	Rating  int        `json:"rating,omitempty"`
	Comment string     `json:"comment,omitempty"`
	Fault   *faultJSON `json:"fault,omitempty"`
}

type feedbackOutJSON struct {
	TripID          string     `json:"trip_id"`
	Rating          int        `json:"rating,omitempty"`
	Comment         string     `json:"comment,omitempty"`
	Fault           *faultJSON `json:"fault,omitempty"`
	FaultReportedAt *time.Time `json:"fault_reported_at,omitempty"`
	CreatedAt       time.Time  `json:"created_at"`
}

func (h *TripsHandler) feedback(w http.ResponseWriter, r *http.Request) {
	c, err := caller(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var in feedbackJSON
	if err := httpx.DecodeJSON(r, &in); err != nil {
		writeError(w, r, err)
		return
	}
	if len(in.Comment) > 2000 || (in.Fault != nil && len(in.Fault.Description) > 2000) {
		writeError(w, r, problem.Validation("comments and fault descriptions are at most 2000 characters"))
		return
	}
	f := app.Feedback{Rating: in.Rating, Comment: in.Comment}
	if in.Fault != nil {
		if in.Fault.Category == "" {
			writeError(w, r, problem.Validation("a fault needs a category", problem.FieldError{Pointer: "/fault/category", Detail: "required"}))
			return
		}
		f.FaultCategory, f.FaultDescription = in.Fault.Category, in.Fault.Description
	}
	f, err = h.svc.AddFeedback(r.Context(), c, chi.URLParam(r, "id"), f)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := feedbackOutJSON{TripID: f.TripID, Rating: f.Rating, Comment: f.Comment,
		FaultReportedAt: optTime(f.FaultReportedAt), CreatedAt: f.CreatedAt}
	if f.FaultCategory != "" {
		out.Fault = &faultJSON{Category: f.FaultCategory, Description: f.FaultDescription}
	}
	httpx.WriteJSON(w, http.StatusCreated, out)
}
