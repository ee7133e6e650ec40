package httpapi

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/mobilitycorp/platform/pkg/auth"
	"github.com/mobilitycorp/platform/pkg/httpx"
	"github.com/mobilitycorp/platform/pkg/httpx/problem"
	"github.com/mobilitycorp/platform/pkg/idempotency"
	"github.com/mobilitycorp/platform/services/payments/internal/app"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

const maxReasonLen = 500

// subject is the authenticated caller (Authenticate ran before every handler).
func subject(r *http.Request) string {
	p, _ := auth.FromContext(r.Context())
	return p.Subject
}

// idempotencyKey is the client's key as sent (the middleware checked it).
func idempotencyKey(r *http.Request) string {
	return strings.Trim(strings.TrimSpace(r.Header.Get(idempotency.KeyHeader)), `"`)
}

// requestRefund: POST /v1/payments/{id}/refunds (staff, service).
func (h *handlers) requestRefund(w http.ResponseWriter, r *http.Request) {
	var body refundRequestJSON
	if err := httpx.DecodeJSON(r, &body); err != nil {
		h.writeError(w, r, err)
		return
	}
	var fields []problem.FieldError
	body.Reason = strings.TrimSpace(body.Reason)
	if body.Reason == "" || len(body.Reason) > maxReasonLen {
		fields = append(fields, problem.FieldError{Pointer: "/reason", Detail: "must have 1 to 500 characters"})
	}
	var amount domain.Money
	if body.Amount != nil {
		fields = append(fields, checkPositiveMoney("/amount", *body.Amount)...)
		amount = body.Amount.domain()
	}
	if len(fields) > 0 {
		problem.Write(w, r, problem.Validation("the refund request is invalid", fields...))
		return
	}
	rf, err := h.money.RequestRefund(r.Context(), app.RefundRequest{PaymentID: chi.URLParam(r, "id"), Amount: amount,
		Reason: body.Reason, RequestedBy: subject(r), IdempotencyKey: idempotencyKey(r)})
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/refunds/"+rf.ID)
	httpx.WriteJSON(w, http.StatusCreated, refund(rf))
}

// getRefund: GET /v1/refunds/{id}; another customer's refund is not found.
func (h *handlers) getRefund(w http.ResponseWriter, r *http.Request) {
	rf, err := h.reads.Refund(r.Context(), chi.URLParam(r, "id"))
	if err == nil && !viewerOf(r).owns(rf.CustomerID) {
		err = app.ErrRefundNotFound
	}
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, refund(rf))
}

// listRefunds: GET /v1/refunds?status=pending_approval (staff).
func (h *handlers) listRefunds(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("status") != string(domain.RefundPendingApproval) {
		problem.Write(w, r, problem.BadRequest("status must be pending_approval"))
		return
	}
	cursor, limit, err := pageParams(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	rs, next, err := h.reads.PendingRefundsPage(r.Context(), cursor, limit)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, refundListJSON{Items: refunds(rs), NextCursor: next})
}

// approveRefund: POST /v1/refunds/{id}/approve (staff, not the requester).
func (h *handlers) approveRefund(w http.ResponseWriter, r *http.Request) {
	rf, err := h.money.ApproveRefund(r.Context(), chi.URLParam(r, "id"), subject(r))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, refund(rf))
}

// rejectRefund: POST /v1/refunds/{id}/reject (staff, not the requester).
func (h *handlers) rejectRefund(w http.ResponseWriter, r *http.Request) {
	var body rejectRequestJSON
	if err := httpx.DecodeJSON(r, &body); err != nil {
		h.writeError(w, r, err)
		return
	}
	body.Reason = strings.TrimSpace(body.Reason)
	if body.Reason == "" || len(body.Reason) > maxReasonLen {
		problem.Write(w, r, problem.Validation("the rejection is invalid",
			problem.FieldError{Pointer: "/reason", Detail: "must have 1 to 500 characters"}))
		return
	}
	rf, err := h.money.RejectRefund(r.Context(), chi.URLParam(r, "id"), subject(r), body.Reason)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, refund(rf))
}

// maxAmountMinor bounds amounts from clients: 1,000,000.00 is far above any
// refund, fine or credit, and far below the ledger's limits.
const maxAmountMinor = 100_000_000

func checkPositiveMoney(pointer string, m moneyJSON) []problem.FieldError {
	var fields []problem.FieldError
	if m.AmountMinor < 1 || m.AmountMinor > maxAmountMinor {
		fields = append(fields, problem.FieldError{Pointer: pointer + "/amount_minor", Detail: "must be from 1 to 100000000"})
	}
	if _, err := domain.NewMoney(m.AmountMinor, m.Currency); err != nil {
		fields = append(fields, problem.FieldError{Pointer: pointer + "/currency", Detail: "must be an ISO 4217 code in upper case"})
	}
	return fields
}
