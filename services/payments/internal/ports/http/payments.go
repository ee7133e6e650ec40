package httpapi

import (
	"net/http"
	"slices"

	"github.com/go-chi/chi/v5"

	"github.com/mobilitycorp/platform/pkg/httpx"
	"github.com/mobilitycorp/platform/pkg/httpx/problem"
	"github.com/mobilitycorp/platform/services/payments/internal/app"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

var (
	paymentStatuses = []domain.PaymentStatus{domain.PaymentPendingAuthorisation, domain.PaymentAuthorised,
		domain.PaymentCapturePending, domain.PaymentCaptured, domain.PaymentCanceled, domain.PaymentFailed}
	paymentKinds = []domain.PaymentKind{domain.PaymentKindTrip, domain.PaymentKindFine,
		domain.PaymentKindCancellationFee, domain.PaymentKindTripRemainder}
)

// listPayments: GET /v1/payments. A customer lists only their own.
func (h *handlers) listPayments(w http.ResponseWriter, r *http.Request) {
	cursor, limit, err := pageParams(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	f := app.PaymentFilter{CustomerID: q.Get("customer_id"), Status: domain.PaymentStatus(q.Get("status")),
		Kind: domain.PaymentKind(q.Get("kind")), Cursor: cursor, Limit: limit}
	if f.Status != "" && !slices.Contains(paymentStatuses, f.Status) {
		problem.Write(w, r, problem.BadRequest("status is not a payment status"))
		return
	}
	if f.Kind != "" && !slices.Contains(paymentKinds, f.Kind) {
		problem.Write(w, r, problem.BadRequest("kind is not a payment kind"))
		return
	}
	v := viewerOf(r)
	if !v.seesAll {
		if f.CustomerID != "" && f.CustomerID != v.subject {
			problem.Write(w, r, problem.Forbidden("customers see only their own payments"))
			return
		}
		f.CustomerID = v.subject
	}
	ps, next, err := h.reads.ListPayments(r.Context(), f)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	out := paymentListJSON{Items: make([]paymentJSON, len(ps)), NextCursor: next}
	for i := range ps {
		out.Items[i] = payment(&ps[i])
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

// ownPayment reads a payment the viewer may see; another customer's is not found.
func (h *handlers) ownPayment(r *http.Request, id string) (*domain.Payment, error) {
	p, err := h.reads.Payment(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if !viewerOf(r).owns(p.CustomerID) {
		return nil, app.ErrPaymentNotFound
	}
	return p, nil
}

// getPayment: GET /v1/payments/{id}, with its ledger entries and refunds.
func (h *handlers) getPayment(w http.ResponseWriter, r *http.Request) {
	p, err := h.ownPayment(r, chi.URLParam(r, "id"))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	rs, err := h.reads.RefundsOf(r.Context(), []string{p.ID})
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	es, err := h.reads.Entries(r.Context(), app.LedgerReferences(p, rs))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	out := paymentDetailJSON{Payment: payment(p), LedgerEntries: make([]entryJSON, len(es)), Refunds: refunds(rs)}
	for i, e := range es {
		out.LedgerEntries[i] = entry(e)
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

// getBalance: GET /v1/customers/{id}/balance. A customer asks only for their own.
func (h *handlers) getBalance(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if !viewerOf(r).owns(id) {
		problem.Write(w, r, problem.Forbidden("customers see only their own balance"))
		return
	}
	bs, err := h.reads.CustomerBalances(r.Context(), id)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, balance(id, bs))
}

// getReceipt: GET /v1/trips/{trip_id}/receipt.
func (h *handlers) getReceipt(w http.ResponseWriter, r *http.Request) {
	tripID := chi.URLParam(r, "trip_id")
	ctx := r.Context()
	p, err := h.reads.TripPayment(ctx, tripID)
	if err == nil && !viewerOf(r).owns(p.CustomerID) {
		err = app.ErrPaymentNotFound
	}
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	charges, err := h.reads.TripCharges(ctx, p.CustomerID, tripID)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	ids := []string{p.ID}
	for _, c := range charges {
		ids = append(ids, c.ID)
	}
	rs, err := h.reads.RefundsOf(ctx, ids)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	es, err := h.reads.Entries(ctx, []string{tripID})
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, receipt(app.BuildReceipt(p, charges, es, rs)))
}
