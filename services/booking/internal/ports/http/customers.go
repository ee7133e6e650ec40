package http

import (
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/mobilitycorp/platform/pkg/auth"
	"github.com/mobilitycorp/platform/pkg/httpx"
	"github.com/mobilitycorp/platform/pkg/httpx/problem"
	"github.com/mobilitycorp/platform/services/booking/internal/app"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
)

// CustomersHandler serves /v1/customers. A customer's id is its token
// subject: customers sign up as themselves and act only on themselves; staff
// and services act on anyone; only admins block.
type CustomersHandler struct {
	svc  *app.Customers
	idem func(http.Handler) http.Handler
}

// NewCustomersHandler returns the handler; idempotency is the
// Idempotency-Key middleware put on the POSTs (optional keys: none of them
// moves money or vehicles, but a retried sign-up can then be replayed).
func NewCustomersHandler(svc *app.Customers, idempotency func(http.Handler) http.Handler) *CustomersHandler {
	return &CustomersHandler{svc: svc, idem: idempotency}
}

// Mount adds the routes to r, which must authenticate.
func (h *CustomersHandler) Mount(r chi.Router) {
	r.With(auth.RequireRole(auth.RoleStaff, auth.RoleService)).Get("/v1/customers", h.list)
	r.With(h.idem).Post("/v1/customers", h.signUp)
	r.Get("/v1/customers/{id}", h.get)
	r.Patch("/v1/customers/{id}", h.patch)
	r.With(h.idem).Post("/v1/customers/{id}/licence", h.submitLicence)
	r.With(auth.RequireRole(auth.RoleStaff), h.idem).Post("/v1/customers/{id}/licence/verify", h.reviewLicence)
	r.Put("/v1/customers/{id}/payment-method", h.setPaymentMethod)
	admin := r.With(auth.RequireRole(auth.RoleAdmin), h.idem)
	admin.Post("/v1/customers/{id}/block", h.block)
	admin.Post("/v1/customers/{id}/unblock", h.unblock)
}

// customerActor is the caller in app terms.
func customerActor(r *http.Request) app.Actor {
	p := principal(r)
	return app.Actor{ID: p.Subject, Customer: p.Has(auth.RoleCustomer), Staff: p.Has(auth.RoleStaff),
		Admin: p.Has(auth.RoleAdmin), Service: p.Has(auth.RoleService)}
}

type licenceJSON struct {
	Number          string     `json:"number"`
	Country         string     `json:"country"`
	Expiry          string     `json:"expiry"`
	Categories      []string   `json:"categories"`
	Status          string     `json:"status"`
	SubmittedAt     time.Time  `json:"submitted_at"`
	ReviewedAt      *time.Time `json:"reviewed_at,omitempty"`
	ReviewedBy      string     `json:"reviewed_by,omitempty"`
	RejectionReason string     `json:"rejection_reason,omitempty"`
}

type blockJSON struct {
	Reason string    `json:"reason"`
	By     string    `json:"by,omitempty"`
	At     time.Time `json:"at"`
}

type customerJSON struct {
	ID                string       `json:"id"`
	Name              string       `json:"name"`
	Email             string       `json:"email"`
	DateOfBirth       string       `json:"date_of_birth"`
	Country           string       `json:"country"`
	PreferredLanguage string       `json:"preferred_language"`
	Licence           *licenceJSON `json:"licence,omitempty"`
	PaymentMethod     string       `json:"payment_method,omitempty"`
	Blocked           bool         `json:"blocked"`
	Block             *blockJSON   `json:"block,omitempty"`
	CreatedAt         time.Time    `json:"created_at"`
	UpdatedAt         time.Time    `json:"updated_at"`
}

// toCustomerJSON renders c; who reviewed or blocked is staff's business,
// so a customer sees the decision and its reason, not the person.
func toCustomerJSON(c domain.Customer, staff bool) customerJSON {
	out := customerJSON{ID: c.ID, Name: c.Name, Email: c.Email, DateOfBirth: c.DateOfBirth.Format(time.DateOnly),
		Country: c.Country, PreferredLanguage: c.PreferredLanguage, PaymentMethod: c.PaymentMethod,
		Blocked: c.Block != nil, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
	if l := c.Licence; l != nil {
		out.Licence = &licenceJSON{Number: l.Number, Country: l.Country, Expiry: l.Expiry.Format(time.DateOnly),
			Categories: l.Categories, Status: string(l.Status), SubmittedAt: l.SubmittedAt,
			RejectionReason: l.RejectionReason}
		if !l.ReviewedAt.IsZero() {
			at := l.ReviewedAt
			out.Licence.ReviewedAt = &at
		}
		if staff {
			out.Licence.ReviewedBy = l.ReviewedBy
		}
	}
	if b := c.Block; b != nil {
		out.Block = &blockJSON{Reason: b.Reason, At: b.At}
		if staff {
			out.Block.By = b.By
		}
	}
	return out
}

func (h *CustomersHandler) reply(w http.ResponseWriter, r *http.Request, status int, c domain.Customer, err error) {
	if err != nil {
		writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, status, toCustomerJSON(c, isStaff(principal(r))))
}

// parseDateMember reads a YYYY-MM-DD member; empty is a zero time (the domain
// reports what is missing).
func parseDateMember(pointer, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, problem.Validation(pointer[1:]+" must be a date (YYYY-MM-DD)",
			problem.FieldError{Pointer: pointer, Detail: "not a YYYY-MM-DD date"})
	}
	return t, nil
}

type signUpRequest struct {
	ID                string `json:"id,omitempty"`
	Name              string `json:"name"`
	Email             string `json:"email"`
	DateOfBirth       string `json:"date_of_birth"`
	Country           string `json:"country"`
	PreferredLanguage string `json:"preferred_language"`
}

func (h *CustomersHandler) signUp(w http.ResponseWriter, r *http.Request) {
	var body signUpRequest
	if err := httpx.DecodeJSON(r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	dob, err := parseDateMember("/date_of_birth", body.DateOfBirth)
	if err != nil {
		writeError(w, r, err)
		return
	}
	c, err := h.svc.SignUp(r.Context(), customerActor(r), domain.SignUp{ID: body.ID, Name: body.Name, Email: body.Email,
		DateOfBirth: dob, Country: body.Country, PreferredLanguage: body.PreferredLanguage})
	if err == nil {
		w.Header().Set("Location", "/v1/customers/"+c.ID)
	}
	h.reply(w, r, http.StatusCreated, c, err)
}

func (h *CustomersHandler) get(w http.ResponseWriter, r *http.Request) {
	c, err := h.svc.Get(r.Context(), customerActor(r), chi.URLParam(r, "id"))
	h.reply(w, r, http.StatusOK, c, err)
}

type customerPageJSON struct {
	Items      []customerJSON `json:"items"`
	NextCursor string         `json:"next_cursor,omitempty"`
}

type registryCursor struct {
	ID string `json:"id"`
}

func (h *CustomersHandler) list(w http.ResponseWriter, r *http.Request) {
	var after registryCursor
	limit, _, err := pageParams(r, &after)
	if err != nil {
		writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	var f app.CustomerFilter
	switch s := q.Get("licence_status"); s {
	case "", string(domain.LicenceSubmitted), string(domain.LicenceVerified), string(domain.LicenceRejected):
		f.LicenceStatus = domain.LicenceStatus(s)
	default:
		writeError(w, r, problem.Validation("licence_status must be submitted, verified or rejected",
			problem.FieldError{Pointer: "/licence_status", Detail: "unknown status"}))
		return
	}
	if f.Blocked, err = queryBool(q.Get("blocked"), "blocked"); err != nil {
		writeError(w, r, err)
		return
	}
	cs, err := h.svc.List(r.Context(), customerActor(r), f, after.ID, limit+1)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := customerPageJSON{Items: []customerJSON{}}
	if len(cs) > limit {
		cs = cs[:limit]
		out.NextCursor = nextCursor(registryCursor{ID: cs[limit-1].ID})
	}
	for _, c := range cs {
		out.Items = append(out.Items, toCustomerJSON(c, true))
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

// queryBool reads an optional boolean query parameter.
func queryBool(s, name string) (*bool, error) {
	if s == "" {
		return nil, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return nil, problem.Validation(name+" must be true or false", problem.FieldError{Pointer: "/" + name, Detail: "not a boolean"})
	}
	return &b, nil
}

type profilePatchRequest struct {
	Name              *string `json:"name"`
	Email             *string `json:"email"`
	Country           *string `json:"country"`
	PreferredLanguage *string `json:"preferred_language"`
	DateOfBirth       *string `json:"date_of_birth"`
}

func (h *CustomersHandler) patch(w http.ResponseWriter, r *http.Request) {
	var body profilePatchRequest
	if err := httpx.DecodeJSON(r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	p := domain.ProfilePatch{Name: body.Name, Email: body.Email, Country: body.Country, PreferredLanguage: body.PreferredLanguage}
	if body.DateOfBirth != nil {
		dob, err := parseDateMember("/date_of_birth", *body.DateOfBirth)
		if err != nil {
			writeError(w, r, err)
			return
		}
		p.DateOfBirth = &dob
	}
	c, err := h.svc.UpdateProfile(r.Context(), customerActor(r), chi.URLParam(r, "id"), p)
	h.reply(w, r, http.StatusOK, c, err)
}

type licenceRequest struct {
	Number     string   `json:"number"`
	Country    string   `json:"country"`
	Expiry     string   `json:"expiry"`
	Categories []string `json:"categories"`
}

func (h *CustomersHandler) submitLicence(w http.ResponseWriter, r *http.Request) {
	var body licenceRequest
	if err := httpx.DecodeJSON(r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	expiry, err := parseDateMember("/expiry", body.Expiry)
	if err != nil {
		writeError(w, r, err)
		return
	}
	c, err := h.svc.SubmitLicence(r.Context(), customerActor(r), chi.URLParam(r, "id"),
		domain.LicenceSubmission{Number: body.Number, Country: body.Country, Expiry: expiry, Categories: body.Categories})
	h.reply(w, r, http.StatusOK, c, err)
}

type licenceReviewRequest struct {
	Decision string `json:"decision"` // "verify" or "reject"
	Reason   string `json:"reason,omitempty"`
}

func (h *CustomersHandler) reviewLicence(w http.ResponseWriter, r *http.Request) {
	var body licenceReviewRequest
	if err := httpx.DecodeJSON(r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	if body.Decision != "verify" && body.Decision != "reject" {
		writeError(w, r, problem.Validation("decision must be verify or reject",
			problem.FieldError{Pointer: "/decision", Detail: "must be verify or reject"}))
		return
	}
	c, err := h.svc.ReviewLicence(r.Context(), customerActor(r), chi.URLParam(r, "id"), body.Decision == "verify", body.Reason)
	h.reply(w, r, http.StatusOK, c, err)
}

type paymentMethodRequest struct {
	PaymentMethod string `json:"payment_method"`
}

func (h *CustomersHandler) setPaymentMethod(w http.ResponseWriter, r *http.Request) {
	var body paymentMethodRequest
	if err := httpx.DecodeJSON(r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	c, err := h.svc.SetPaymentMethod(r.Context(), customerActor(r), chi.URLParam(r, "id"), body.PaymentMethod)
	h.reply(w, r, http.StatusOK, c, err)
}

type customerReasonRequest struct {
	Reason string `json:"reason"`
}

func (h *CustomersHandler) block(w http.ResponseWriter, r *http.Request) {
	var body customerReasonRequest
	if err := httpx.DecodeJSON(r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	c, err := h.svc.Block(r.Context(), customerActor(r), chi.URLParam(r, "id"), body.Reason)
	h.reply(w, r, http.StatusOK, c, err)
}

func (h *CustomersHandler) unblock(w http.ResponseWriter, r *http.Request) {
	var body customerReasonRequest
	if err := httpx.DecodeJSON(r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	c, err := h.svc.Unblock(r.Context(), customerActor(r), chi.URLParam(r, "id"), body.Reason)
	h.reply(w, r, http.StatusOK, c, err)
}
