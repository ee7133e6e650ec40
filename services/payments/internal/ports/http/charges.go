package httpapi

import (
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/httpx"
	"github.com/mobilitycorp/platform/pkg/httpx/problem"
	"github.com/mobilitycorp/platform/services/payments/internal/app"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

var (
	fineIDPattern     = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,200}$`)
	customerIDPattern = regexp.MustCompile(`^[^:\s]{1,128}$`)
)

func checkCustomerID(id string) []problem.FieldError {
	if !customerIDPattern.MatchString(id) {
		return []problem.FieldError{{Pointer: "/customer_id", Detail: "must have 1 to 128 characters without colons or blanks"}}
	}
	return nil
}

// chargeFine: POST /v1/fines (staff, service). The fine goes through the same
// use case as booking's FineIssuedV1, so a fine id is charged once whichever
// way it arrives.
func (h *handlers) chargeFine(w http.ResponseWriter, r *http.Request) {
	var body fineRequestJSON
	if err := httpx.DecodeJSON(r, &body); err != nil {
		h.writeError(w, r, err)
		return
	}
	var fields []problem.FieldError
	if !fineIDPattern.MatchString(body.FineID) {
		fields = append(fields, problem.FieldError{Pointer: "/fine_id", Detail: "must have 1 to 200 letters, digits or ._:-"})
	}
	fields = append(fields, checkCustomerID(body.CustomerID)...)
	if len(body.TripID) > 256 {
		fields = append(fields, problem.FieldError{Pointer: "/trip_id", Detail: "must have at most 256 characters"})
	}
	body.Reason = strings.TrimSpace(body.Reason)
	if body.Reason == "" || len(body.Reason) > 200 {
		fields = append(fields, problem.FieldError{Pointer: "/reason", Detail: "must have 1 to 200 characters"})
	}
	if body.Amount == nil {
		fields = append(fields, problem.FieldError{Pointer: "/amount", Detail: "is required"})
	} else {
		fields = append(fields, checkPositiveMoney("/amount", *body.Amount)...)
	}
	if len(fields) > 0 {
		problem.Write(w, r, problem.Validation("the fine is invalid", fields...))
		return
	}
	amount := body.Amount.domain()
	ev, err := events.New(events.TypeFineIssuedV1, events.SourcePayments, body.FineID, events.FineIssuedV1{
		FineID: body.FineID, CustomerID: body.CustomerID, TripID: body.TripID, Reason: body.Reason,
		Amount: events.Money{AmountMinor: amount.AmountMinor, Currency: amount.Currency}, IssuedAt: time.Now().UTC()})
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	if err := h.money.OnFineIssued(ctx, ev); err != nil {
		h.writeError(w, r, err)
		return
	}
	p, err := h.reads.Payment(ctx, app.ChargeID(domain.PaymentKindFine, body.FineID))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if p.CustomerID != body.CustomerID || (app.ChargeAmount(p) != amount && p.Status != domain.PaymentCanceled) {
		problem.Write(w, r, problem.Conflict("fine-exists",
			"fine "+body.FineID+" was charged before with other terms"))
		return
	}
	w.Header().Set("Location", "/v1/payments/"+p.ID)
	httpx.WriteJSON(w, http.StatusCreated, payment(p))
}

// grantCredit: POST /v1/credits (staff).
func (h *handlers) grantCredit(w http.ResponseWriter, r *http.Request) {
	var body creditRequestJSON
	if err := httpx.DecodeJSON(r, &body); err != nil {
		h.writeError(w, r, err)
		return
	}
	fields := checkCustomerID(body.CustomerID)
	body.Reason = strings.TrimSpace(body.Reason)
	if body.Reason == "" || len(body.Reason) > maxReasonLen {
		fields = append(fields, problem.FieldError{Pointer: "/reason", Detail: "must have 1 to 500 characters"})
	}
	if len(body.TripID) > 256 {
		fields = append(fields, problem.FieldError{Pointer: "/trip_id", Detail: "must have at most 256 characters"})
	}
	if body.Amount == nil {
		fields = append(fields, problem.FieldError{Pointer: "/amount", Detail: "is required"})
	} else {
		fields = append(fields, checkPositiveMoney("/amount", *body.Amount)...)
	}
	if len(fields) > 0 {
		problem.Write(w, r, problem.Validation("the credit is invalid", fields...))
		return
	}
	c, err := h.money.GrantCredit(r.Context(), app.CreditGrant{CustomerID: body.CustomerID, Amount: body.Amount.domain(),
		Reason: body.Reason, TripID: body.TripID, GrantedBy: subject(r), IdempotencyKey: idempotencyKey(r)})
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusCreated, credit(c))
}

// listOperations: GET /v1/operations?status=dead (staff).
func (h *handlers) listOperations(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("status") != "dead" {
		problem.Write(w, r, problem.BadRequest("status must be dead"))
		return
	}
	cursor, limit, err := pageParams(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	ops, next, err := h.reads.DeadOperationsPage(r.Context(), cursor, limit)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	out := operationListJSON{Items: make([]deadOperationJSON, len(ops)), NextCursor: next}
	for i, op := range ops {
		out.Items[i] = deadOperationJSON{ID: op.ID, PaymentID: op.PaymentID, Kind: string(op.Kind), Amount: money(op.Amount),
			Attempts: op.Attempts, Failures: op.Failures, LastError: op.LastError,
			CreatedAt: op.CreatedAt.UTC(), DeadAt: op.DeadAt.UTC()}
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

// requeueOperation: POST /v1/operations/{id}/requeue (staff).
func (h *handlers) requeueOperation(w http.ResponseWriter, r *http.Request) {
	if err := h.ops.RequeueDead(r.Context(), chi.URLParam(r, "id")); err != nil {
		h.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
