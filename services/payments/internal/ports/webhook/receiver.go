package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mobilitycorp/platform/pkg/config"
	"github.com/mobilitycorp/platform/pkg/httpx"
	"github.com/mobilitycorp/platform/pkg/httpx/problem"
)

// DefaultMaxBodyBytes caps a webhook body. Stripe events are a few KiB; the cap keeps
// an unauthenticated caller from making us buffer and hash megabytes.
const DefaultMaxBodyBytes = 256 << 10

// ReceiverOptions configures a Receiver; zero values mean the defaults.
type ReceiverOptions struct {
	// Secrets are the endpoint signing secrets (whsec_...); a signature made with any
	// of them is accepted. At least one is required.
	Secrets []config.Secret
	// Tolerance bounds |now − signed timestamp| (default DefaultTolerance).
	Tolerance time.Duration
	// MaxBodyBytes caps the body (413 past it; default DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// Now is the clock the timestamp is checked against (default time.Now).
	Now func() time.Time
	// Logger receives rejections and storage failures; nil discards them.
	Logger *slog.Logger
}

// Receiver is the POST /v1/webhooks/stripe handler. It is not behind our bearer
// authentication: the signature is Stripe's authentication.
type Receiver struct {
	pool     *pgxpool.Pool
	verifier *Verifier
	maxBody  int64
	logger   *slog.Logger
}

// NewReceiver stores verified events in the webhook_events table of pool's database.
func NewReceiver(pool *pgxpool.Pool, opts ReceiverOptions) (*Receiver, error) {
	if pool == nil {
		return nil, errors.New("webhook: receiver needs a pool")
	}
	v, err := NewVerifier(opts.Secrets, opts.Tolerance, opts.Now)
	if err != nil {
		return nil, err
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Receiver{pool: pool, verifier: v, maxBody: opts.MaxBodyBytes, logger: opts.Logger}, nil
}

// Mount adds POST Path to r.
func (rc *Receiver) Mount(r chi.Router) { r.Method(http.MethodPost, Path, rc) }

type ack struct {
	Received bool `json:"received"`
}

// ServeHTTP verifies, stores and acknowledges one event. It answers 200 for a new
// event and for a redelivered one alike, once the row is committed; processing
// happens later in the Processor.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The signature covers the exact bytes, so the body is read raw, and capped, first.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, rc.maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			problem.Write(w, r, problem.New(http.StatusRequestEntityTooLarge, "payload-too-large", "",
				fmt.Sprintf("request body exceeds %d bytes", tooLarge.Limit)))
			return
		}
		problem.Write(w, r, problem.BadRequest("request body could not be read"))
		return
	}

	if err := rc.verifier.Verify(r.Header.Get(SignatureHeader), body); err != nil {
		rc.logger.WarnContext(r.Context(), "stripe webhook rejected", slog.Any("error", err))
		detail := ErrInvalidSignature.Error()
		if errors.Is(err, ErrTimestampOutsideTolerance) {
			detail = ErrTimestampOutsideTolerance.Error()
		}
		problem.Write(w, r, problem.BadRequest(detail))
		return
	}

	ev, err := parseEnvelope(body)
	if err != nil {
		// Signed by Stripe yet unusable: a bug on one side; 400 keeps it visible in Stripe's dashboard.
		rc.logger.ErrorContext(r.Context(), "stripe webhook malformed", slog.Any("error", err))
		problem.Write(w, r, problem.BadRequest("malformed Stripe event: "+err.Error()))
		return
	}

	var objectID *string
	if id := ev.ObjectID(); id != "" {
		objectID = &id
	}
	var apiVersion *string
	if ev.APIVersion != "" {
		apiVersion = &ev.APIVersion
	}
	tag, err := rc.pool.Exec(r.Context(), `
		INSERT INTO webhook_events (event_id, type, created, livemode, api_version, object_id, ordering_key, payload)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (event_id) DO NOTHING`,
		ev.ID, ev.Type, ev.Created, ev.Livemode, apiVersion, objectID, ev.orderingKey(), json.RawMessage(body))
	if err != nil {
		// Not acknowledged: Stripe will deliver it again.
		problem.WriteError(w, r, fmt.Errorf("store stripe event %s: %w", ev.ID, err))
		rc.logger.ErrorContext(r.Context(), "stripe webhook not stored", slog.String("event_id", ev.ID), slog.Any("error", err))
		return
	}
	if tag.RowsAffected() == 0 {
		rc.logger.DebugContext(r.Context(), "stripe webhook redelivered", slog.String("event_id", ev.ID))
	}
	httpx.WriteJSON(w, http.StatusOK, ack{Received: true})
}
