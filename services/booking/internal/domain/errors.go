package domain

import "errors"

// Error classes the ports map to HTTP statuses (and problem types). Wrap them with
// fmt.Errorf("...: %w", ErrX) so the message says what exactly went wrong.
var (
	ErrInvalid      = errors.New("invalid")      // 400/422: the request breaks a rule of its own
	ErrNotFound     = errors.New("not found")    // 404
	ErrConflict     = errors.New("conflict")     // 409: the state of the world forbids it (overlap, already active)
	ErrForbidden    = errors.New("forbidden")    // 403: this customer may not (age, licence, blocked)
	ErrPrecondition = errors.New("precondition") // 422: e.g. not enough range for the planned trip
)
