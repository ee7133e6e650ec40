// Package upstream is the HTTP plumbing the provider adapters (osrm, nominatim,
// google) share: one capped GET that always drains and closes the body, and the
// mapping of transport failures and bare HTTP statuses onto *domain.ProviderError.
// Each adapter keeps what is specific to its provider (URLs, answer envelopes,
// provider codes); only what must behave the same for all of them lives here, so
// a fix to the body cap, the timeout classification or the secret masking reaches
// every provider at once.
package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mobilitycorp/platform/services/maps-proxy/internal/domain"
)

const (
	// MaxBodyBytes caps what Get reads: a full-overview route, a 25×25 table or a
	// page of geocoding results is far below 1 MiB, so anything bigger is a
	// misbehaving upstream, not an answer.
	MaxBodyBytes = 8 << 20
	// DrainLimit bounds how much of an unread body Get discards so the connection
	// can be reused without reading an endless stream.
	DrainLimit = 64 << 10
	// MaxRetryAfter keeps a bogus Retry-After from parking callers for days.
	MaxRetryAfter = time.Hour
)

// redactedMark replaces the secret wherever it appears in an error message.
const redactedMark = "[redacted]"

// Response is an upstream answer whose body has been read in full (up to
// MaxBodyBytes) and whose connection is already released.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Caller performs the GETs of one provider and builds its errors. The zero
// value is not usable: HTTP must be set. A Caller is safe for concurrent use as
// long as its fields are not changed.
type Caller struct {
	// Provider is the name put into every *domain.ProviderError.
	Provider string
	// HTTP sends the requests.
	HTTP *http.Client
	// UserAgent is sent with every request; providers' usage policies ask for one
	// that identifies the application.
	UserAgent string
	// Secret is masked in every error message Caller builds, raw and in its
	// query- and path-escaped forms, because it travels in the request URL (an
	// API key) and net/http likes to quote that URL. Empty means nothing to mask;
	// errors then keep their full chain for errors.As.
	Secret string
}

// Get performs one GET of rawURL and reads the whole (capped) body. endpoint
// names the call in error messages instead of the URL. A non-nil error is always
// a *domain.ProviderError; HTTP error statuses are returned in Response, not as
// errors, because only the adapter knows whether its provider puts a usable
// answer into an error status.
func (c *Caller) Get(ctx context.Context, endpoint, rawURL string) (Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return Response{}, c.Fail(domain.KindUnavailable, 0, "", fmt.Errorf("%s: build request: %w", endpoint, c.scrub(err)))
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.UserAgent)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return Response{}, c.transportError(ctx, endpoint, err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, DrainLimit))
		_ = resp.Body.Close()
	}()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes+1))
	if err != nil {
		return Response{}, c.transportError(ctx, endpoint, err)
	}
	if len(body) > MaxBodyBytes {
		return Response{}, c.Fail(domain.KindMalformed, resp.StatusCode, "",
			fmt.Errorf("%s: response body exceeds %d bytes", endpoint, MaxBodyBytes))
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// transportError classifies a failure to get an answer at all. The
// classification looks at the cause without net/http's URL wrapper; only the
// scrubbed copy of the cause goes into the returned error.
func (c *Caller) transportError(ctx context.Context, endpoint string, err error) *domain.ProviderError {
	err = withoutURL(err)
	kind := domain.KindUnavailable
	var nerr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &nerr) && nerr.Timeout():
		kind = domain.KindTimeout
	case errors.Is(err, context.Canceled), ctx.Err() != nil:
		// The caller stopped waiting: to the chain that is "no answer in time";
		// errors.Is(err, context.Canceled) still tells the two apart.
		kind = domain.KindTimeout
	}
	return c.Fail(kind, 0, "", fmt.Errorf("%s: %w", endpoint, c.scrub(err)))
}

// StatusError classifies an HTTP status that carries no usable provider answer.
// Rate limits and outages carry the upstream's Retry-After.
func (c *Caller) StatusError(endpoint string, r Response) *domain.ProviderError {
	err := fmt.Errorf("%s: HTTP %d", endpoint, r.Status)
	switch {
	case r.Status == http.StatusTooManyRequests:
		pe := c.Fail(domain.KindRateLimited, r.Status, "", err)
		pe.RetryAfter = ParseRetryAfter(r.Header.Get("Retry-After"), time.Now())
		return pe
	case r.Status >= 500:
		pe := c.Fail(domain.KindUnavailable, r.Status, "", err)
		pe.RetryAfter = ParseRetryAfter(r.Header.Get("Retry-After"), time.Now())
		return pe
	case r.Status == http.StatusUnauthorized || r.Status == http.StatusForbidden:
		return c.Fail(domain.KindDenied, r.Status, "", err)
	case r.Status >= 400:
		return c.Fail(domain.KindInvalidQuery, r.Status, "", err)
	default:
		return c.Fail(domain.KindMalformed, r.Status, "", err)
	}
}

// Fail builds the provider error for this Caller's provider. err is used as
// given: messages that may quote upstream text should go through Mask first.
func (c *Caller) Fail(kind domain.ErrorKind, status int, code string, err error) *domain.ProviderError {
	return &domain.ProviderError{Provider: c.Provider, Kind: kind, Status: status, Code: code, Err: err}
}

// Mask replaces Secret in s, raw and query- or path-escaped, so that upstream
// messages that echo the request (decode errors, error_message fields) can be
// put into errors safely.
func (c *Caller) Mask(s string) string {
	if c.Secret == "" {
		return s
	}
	for _, form := range []string{c.Secret, url.QueryEscape(c.Secret), url.PathEscape(c.Secret)} {
		s = strings.ReplaceAll(s, form, redactedMark)
	}
	return s
}

// scrub drops net/http's URL wrapper and, when there is a Secret, hides the
// cause behind a masked copy of its message.
func (c *Caller) scrub(err error) error {
	err = withoutURL(err)
	if c.Secret == "" {
		return err
	}
	return &redactedError{msg: c.Mask(err.Error()), err: err}
}

// withoutURL drops net/http's *url.Error wrapper, whose message repeats the full
// request URL; the underlying cause stays in the chain for errors.Is/As.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// redactedError carries an underlying error's message with the secret masked.
// It has no Unwrap, so nothing can reach the unmasked error through the chain;
// Is delegates so errors.Is(err, context.DeadlineExceeded) and friends still work.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }

func (e *redactedError) Is(target error) bool { return errors.Is(e.err, target) }

// ParseRetryAfter reads Retry-After as delay-seconds or an HTTP-date (RFC 9110
// §10.2.3), capped at MaxRetryAfter; 0 when absent, unparsable or in the past.
// now is a parameter so dates can be tested without a clock.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return min(time.Duration(min(secs, int64(MaxRetryAfter/time.Second)))*time.Second, MaxRetryAfter)
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, MaxRetryAfter)
		}
	}
	return 0
}
