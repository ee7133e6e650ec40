// Package problem writes HTTP errors as RFC 9457 problem details
// (Content-Type: application/problem+json).
package problem

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
)

// ContentType is the media type of RFC 9457 problem details.
const ContentType = "application/problem+json"

// TypePrefix starts every problem type URI of the platform; the slug names the problem.
const TypePrefix = "urn:mobilitycorp:problem:"

// Problem is an RFC 9457 problem details object. It is also an error, so domain and
// application code can return one and the HTTP edge writes it unchanged.
type Problem struct {
	Type     string         `json:"type"`
	Title    string         `json:"title"`
	Status   int            `json:"status"`
	Detail   string         `json:"detail,omitempty"`
	Instance string         `json:"instance,omitempty"`
	Errors   []FieldError   `json:"errors,omitempty"`
	Ext      map[string]any `json:"-"` // extension members, merged at the top level
}

// FieldError points at one invalid input member (JSON Pointer in Pointer).
type FieldError struct {
	Pointer string `json:"pointer"`
	Detail  string `json:"detail"`
}

// New returns a problem of the given status; slug "" means about:blank with the status text as title.
func New(status int, slug, title, detail string) *Problem {
	p := &Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail}
	if slug != "" {
		p.Type = TypePrefix + slug
	}
	if title != "" {
		p.Title = title
	}
	return p
}

// With returns a copy with an extension member added.
func (p *Problem) With(key string, value any) *Problem {
	c := *p
	c.Ext = maps.Clone(p.Ext)
	if c.Ext == nil {
		c.Ext = map[string]any{}
	}
	c.Ext[key] = value
	return &c
}

func (p *Problem) Error() string {
	if p.Detail != "" {
		return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail)
	}
	return fmt.Sprintf("%d %s", p.Status, p.Title)
}

// MarshalJSON puts extension members beside the standard ones.
func (p *Problem) MarshalJSON() ([]byte, error) {
	type plain Problem
	base, err := json.Marshal((*plain)(p))
	if err != nil || len(p.Ext) == 0 {
		return base, err
	}
	m := map[string]any{}
	for k, v := range p.Ext {
		m[k] = v
	}
	if err := json.Unmarshal(base, &m); err != nil {
		return nil, err
	}
	return json.Marshal(m)
}

// Common problems.
func BadRequest(detail string) *Problem { return New(http.StatusBadRequest, "bad-request", "", detail) }
func Validation(detail string, fields ...FieldError) *Problem {
	p := New(http.StatusUnprocessableEntity, "validation", "Request failed validation", detail)
	p.Errors = fields
	return p
}
func Unauthorized(detail string) *Problem {
	return New(http.StatusUnauthorized, "unauthorized", "", detail)
}
func Forbidden(detail string) *Problem { return New(http.StatusForbidden, "forbidden", "", detail) }
func NotFound(detail string) *Problem  { return New(http.StatusNotFound, "not-found", "", detail) }
func Conflict(slug, detail string) *Problem {
	return New(http.StatusConflict, slug, "", detail)
}
func TooManyRequests(detail string) *Problem {
	return New(http.StatusTooManyRequests, "rate-limited", "", detail)
}

// Write sends p; Instance defaults to the request path.
func Write(w http.ResponseWriter, r *http.Request, p *Problem) {
	if p.Instance == "" && r != nil {
		c := *p
		c.Instance = r.URL.Path
		p = &c
	}
	body, err := json.Marshal(p)
	if err != nil {
		body = []byte(`{"type":"about:blank","title":"Internal Server Error","status":500}`)
		p = &Problem{Status: http.StatusInternalServerError}
	}
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	_, _ = w.Write(body)
}

// Timeout reports that the request ran out of time; clients may retry.
func Timeout(detail string) *Problem {
	return New(http.StatusServiceUnavailable, "timeout", "", detail)
}

// WriteError writes err as a problem: a *Problem anywhere in its chain is sent as is;
// an expired context deadline (the router's request timeout) becomes a retryable 503;
// anything else becomes a 500 whose detail does not leak internals.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	var p *Problem
	if errors.As(err, &p) {
		Write(w, r, p)
		return
	}
	if errors.Is(err, context.DeadlineExceeded) {
		Write(w, r, Timeout("the request did not complete in time"))
		return
	}
	Write(w, r, New(http.StatusInternalServerError, "internal", "", "an unexpected error occurred; it has been logged"))
}
