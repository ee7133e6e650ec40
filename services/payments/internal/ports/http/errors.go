package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/mobilitycorp/platform/pkg/httpx/problem"
	"github.com/mobilitycorp/platform/services/payments/internal/app"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

// writeError answers err as a problem: the use cases' sentinel errors map to
// 4xx, a *problem.Problem passes as is, anything else is a logged 500.
func (h *handlers) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if p := problemFor(err); p != nil {
		problem.Write(w, r, p)
		return
	}
	var p *problem.Problem
	if !errors.As(err, &p) {
		h.logger.ErrorContext(r.Context(), "payments api", slog.String("path", r.URL.Path), slog.Any("error", err))
	}
	problem.WriteError(w, r, err)
}

func problemFor(err error) *problem.Problem {
	switch {
	case errors.Is(err, app.ErrPaymentNotFound):
		return problem.NotFound("no such payment")
	case errors.Is(err, app.ErrRefundNotFound):
		return problem.NotFound("no such refund")
	case errors.Is(err, app.ErrOperationNotFound):
		return problem.NotFound("no such operation")
	case errors.Is(err, app.ErrInvalidCursor):
		return problem.BadRequest("cursor is not one this service issued")
	case errors.Is(err, domain.ErrSelfApproval):
		return problem.New(http.StatusForbidden, "self-approval", "", "a refund must be decided by someone other than its requester")
	case errors.Is(err, domain.ErrRefundNotPending):
		return problem.Conflict("refund-not-pending", "the refund is no longer waiting for approval")
	case errors.Is(err, domain.ErrNothingToRefund):
		return problem.Conflict("nothing-to-refund", "everything captured is refunded or reserved by other refunds")
	case errors.Is(err, domain.ErrRefundTooLarge):
		return problem.New(http.StatusUnprocessableEntity, "refund-too-large", "", "the amount exceeds what is left to refund")
	case errors.Is(err, domain.ErrCurrencyMismatch):
		return problem.Validation("the currency differs from the payment's",
			problem.FieldError{Pointer: "/amount/currency", Detail: "must be the payment's currency"})
	case errors.Is(err, domain.ErrInvalidTransition):
		return problem.Conflict("payment-state", "the payment is not in a state that allows this (e.g. not captured)")
	case errors.Is(err, app.ErrIdempotencyKeyReused):
		return problem.New(http.StatusUnprocessableEntity, "idempotency-key-mismatch", "Idempotency-Key reused",
			"this Idempotency-Key was already used for a different request")
	case errors.Is(err, app.ErrOperationNotDead):
		return problem.Conflict("operation-not-dead", "the operation is not dead")
	case errors.Is(err, app.ErrInvalidRequest):
		return problem.Validation(err.Error())
	}
	return nil
}

// pageParams reads cursor and limit (default 50, at most 200).
func pageParams(r *http.Request) (cursor string, limit int, err error) {
	q := r.URL.Query()
	cursor, limit = q.Get("cursor"), defaultLimit
	if len(cursor) > 1024 {
		return "", 0, problem.BadRequest("cursor is too long")
	}
	if s := q.Get("limit"); s != "" {
		n, perr := strconv.Atoi(s)
		if perr != nil || n < 1 || n > maxLimit {
			return "", 0, problem.BadRequest("limit must be an integer from 1 to " + strconv.Itoa(maxLimit))
		}
		limit = n
	}
	return cursor, limit, nil
}
