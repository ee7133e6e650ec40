// Package idempotency makes unsafe HTTP requests retry-safe with the Idempotency-Key
// header (draft-ietf-httpapi-idempotency-key-header), recording responses in the
// idempotency_keys table of Postgres.
//
// The first request with a key runs the handler and stores its response; a retry
// with the same key and the same request gets that response replayed (with
// Idempotent-Replayed: true); the same key on a different request is a 422; a retry
// while the first is still running is a 409. Keys are scoped per principal, so mount
// the middleware after auth.Authenticate.
package idempotency

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mobilitycorp/platform/pkg/auth"
	"github.com/mobilitycorp/platform/pkg/httpx/problem"
)

// Header names.
const (
	KeyHeader      = "Idempotency-Key"
	ReplayedHeader = "Idempotent-Replayed"
)

// MaxKeyLen is the longest accepted key.
const MaxKeyLen = 255

// AnonymousScope is the scope of requests without an authenticated principal.
const AnonymousScope = "anonymous"

// Options configure Middleware; zero values take the documented defaults.
type Options struct {
	// TTL is how long a completed response is replayed (default 24h).
	TTL time.Duration
	// LockTimeout is how long an in_progress record is honoured; after it the record
	// counts as abandoned (a crashed instance) and a retry takes it over (default 1m).
	// Keep it above the longest handler run, or a slow request may run twice.
	LockTimeout time.Duration
	// Required rejects requests without a key with 400.
	Required bool
	// Methods the middleware applies to (default POST, PATCH); others pass through.
	Methods []string
	// Scope names the key's owner (default: the auth principal's subject, else
	// "anonymous"), so equal keys from different clients never collide.
	Scope func(*http.Request) string
	// MaxBodyBytes caps the request body read for the fingerprint (default 1 MiB);
	// larger bodies get 413.
	MaxBodyBytes int64
	// Logger receives storage failures (default slog.Default()).
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.TTL <= 0 {
		o.TTL = 24 * time.Hour
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = time.Minute
	}
	if len(o.Methods) == 0 {
		o.Methods = []string{http.MethodPost, http.MethodPatch}
	} else {
		o.Methods = slices.Clone(o.Methods)
		for i, m := range o.Methods {
			o.Methods[i] = strings.ToUpper(m)
		}
	}
	if o.Scope == nil {
		o.Scope = principalScope
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

func principalScope(r *http.Request) string {
	if p, ok := auth.FromContext(r.Context()); ok && p.Subject != "" {
		return p.Subject
	}
	return AnonymousScope
}

// claimAttempts bounds the claim/read loop, which repeats only when a record
// vanished (released or expired) between the two statements.
const claimAttempts = 3

// dbTimeout bounds bookkeeping after the handler ran; it runs even if the client left.
const dbTimeout = 5 * time.Second

// Middleware applies Idempotency-Key semantics to the configured methods.
func Middleware(pool *pgxpool.Pool, opts Options) func(http.Handler) http.Handler {
	opts = opts.withDefaults()
	return func(next http.Handler) http.Handler {
		return &handler{next: next, store: store{pool: pool}, opts: opts}
	}
}

type handler struct {
	next  http.Handler
	store store
	opts  Options
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !slices.Contains(h.opts.Methods, r.Method) {
		h.next.ServeHTTP(w, r)
		return
	}
	values := r.Header.Values(KeyHeader)
	if len(values) == 0 {
		if h.opts.Required {
			problem.Write(w, r, problem.New(http.StatusBadRequest, "idempotency-key-missing", "Idempotency-Key required",
				"this endpoint requires an Idempotency-Key header"))
			return
		}
		h.next.ServeHTTP(w, r)
		return
	}
	key, err := parseKey(values)
	if err != nil {
		problem.Write(w, r, problem.New(http.StatusBadRequest, "idempotency-key-invalid", "Invalid Idempotency-Key", err.Error()))
		return
	}
	body, err := readBody(w, r, h.opts.MaxBodyBytes)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			problem.Write(w, r, problem.New(http.StatusRequestEntityTooLarge, "payload-too-large", "",
				fmt.Sprintf("request bodies are limited to %d bytes", tooLarge.Limit)))
			return
		}
		problem.Write(w, r, problem.BadRequest("the request body could not be read"))
		return
	}
	req := request{
		scope:  h.opts.Scope(r),
		key:    key,
		method: r.Method,
		path:   r.URL.Path,
		hash:   fingerprint(r, body),
	}
	if req.scope == "" {
		req.scope = AnonymousScope
	}

	ctx := r.Context()
	for range claimAttempts {
		lockedUntil, claimed, err := h.store.claim(ctx, req, h.opts.LockTimeout, h.opts.TTL)
		if err != nil {
			h.unavailable(w, r, err)
			return
		}
		if claimed {
			h.run(w, r, req, lockedUntil)
			return
		}
		rec, found, err := h.store.get(ctx, req.scope, req.key)
		if err != nil {
			h.unavailable(w, r, err)
			return
		}
		if !found || rec.expired {
			continue
		}
		switch {
		case !bytes.Equal(rec.hash, req.hash):
			problem.Write(w, r, problem.New(http.StatusUnprocessableEntity, "idempotency-key-mismatch", "Idempotency-Key reused",
				"this Idempotency-Key was already used for a different request"))
		case rec.state == stateInProgress:
			inUse(w, r)
		default:
			replay(w, rec)
		}
		return
	}
	inUse(w, r)
}

// run executes the handler as the owner of the key and records the outcome.
func (h *handler) run(w http.ResponseWriter, r *http.Request, req request, lockedUntil time.Time) {
	rw := &recorder{ResponseWriter: w}
	finished := false
	defer func() {
		// A panic (or Goexit) leaves no response to replay: free the key so the client
		// can retry, and let the panic carry on to the server's recovery unchanged.
		if !finished {
			h.release(r, req, lockedUntil)
		}
	}()
	h.next.ServeHTTP(rw, r)
	finished = true

	status, headers := rw.result()
	if status >= http.StatusInternalServerError {
		// Server errors are not final answers; a retry must run the handler again.
		h.release(r, req, lockedUntil)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), dbTimeout)
	defer cancel()
	if err := h.store.complete(ctx, req, lockedUntil, status, headers, rw.body.Bytes()); err != nil {
		h.opts.Logger.ErrorContext(ctx, "idempotency: response not recorded", "error", err, "key", req.key, "path", req.path)
	}
}

func (h *handler) release(r *http.Request, req request, lockedUntil time.Time) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), dbTimeout)
	defer cancel()
	if err := h.store.release(ctx, req, lockedUntil); err != nil {
		// The record stays in_progress until LockTimeout, then a retry takes it over.
		h.opts.Logger.ErrorContext(ctx, "idempotency: key not released", "error", err, "key", req.key, "path", req.path)
	}
}

// unavailable refuses to run the handler when duplicates cannot be ruled out.
func (h *handler) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	h.opts.Logger.ErrorContext(r.Context(), "idempotency: store unavailable", "error", err, "path", r.URL.Path)
	w.Header().Set("Retry-After", "1")
	problem.Write(w, r, problem.New(http.StatusServiceUnavailable, "idempotency-unavailable", "",
		"the request could not be checked for duplicates; retry later"))
}

// inUse answers a retry that arrives while the first request is still running.
// Retry-After is short: most handlers finish well within a second.
func inUse(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", "1")
	problem.Write(w, r, problem.Conflict("idempotency-key-in-use",
		"a request with this Idempotency-Key is still being processed"))
}

func replay(w http.ResponseWriter, rec record) {
	for k, v := range rec.headers {
		w.Header()[k] = v
	}
	w.Header().Set(ReplayedHeader, "true")
	w.WriteHeader(rec.status)
	_, _ = w.Write(rec.body)
}

// fingerprint binds a key to one request: method, path with query, and body.
// Fields are length-prefixed so no two different requests hash alike.
func fingerprint(r *http.Request, body []byte) []byte {
	h := sha256.New()
	for _, part := range [][]byte{[]byte(r.Method), []byte(r.URL.RequestURI()), body} {
		fmt.Fprintf(h, "%d:", len(part))
		h.Write(part)
	}
	return h.Sum(nil)
}

// readBody reads the whole body for the fingerprint and puts it back for the handler.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	var buf bytes.Buffer
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		return nil, err
	}
	r.Body = readCloser{bytes.NewReader(buf.Bytes())}
	return buf.Bytes(), nil
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// parseKey accepts the draft's Structured Field string ("...") and, for clients that
// send it bare, the unquoted form; both name the same key.
func parseKey(values []string) (string, error) {
	if len(values) != 1 {
		return "", errors.New("send exactly one Idempotency-Key header")
	}
	key := strings.TrimSpace(values[0])
	if strings.HasPrefix(key, `"`) {
		var err error
		if key, err = unquote(key); err != nil {
			return "", err
		}
	}
	if key == "" || len(key) > MaxKeyLen {
		return "", fmt.Errorf("the key must be 1 to %d characters long", MaxKeyLen)
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return "", errors.New("the key must consist of printable ASCII characters")
		}
	}
	return key, nil
}

// unquote decodes an RFC 8941 sf-string.
func unquote(s string) (string, error) {
	if len(s) < 2 || s[len(s)-1] != '"' {
		return "", errors.New("unterminated quoted key")
	}
	var b strings.Builder
	for i := 1; i < len(s)-1; i++ {
		c := s[i]
		switch c {
		case '\\':
			i++
			if i == len(s)-1 || (s[i] != '"' && s[i] != '\\') {
				return "", errors.New("invalid escape in quoted key")
			}
			c = s[i]
		case '"':
			return "", errors.New("unescaped quote in key")
		}
		b.WriteByte(c)
	}
	return b.String(), nil
}
