package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/observability"
	"github.com/mobilitycorp/platform/pkg/outbox"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

// Applying Stripe's webhook events to our payments.
//
// Stripe tells us about changes we did not cause (it cancels a hold left
// uncaptured for 7 days; staff refund in the dashboard) and confirms the ones
// we did. The ports/webhook Processor hands each stored event to
// HandleStripeEvent inside the transaction that marks it processed, one event
// per PaymentIntent at a time.
//
// Rules, from ports/webhook's package doc:
//   - Per object, the Created of the last applied event is remembered (the
//     processed events of the same data.object.id); an older event is ignored.
//   - Within the same second the payment's state machine decides: events only
//     move a payment forward (authorised → captured, refunds accumulate), never back.
//   - Effects are idempotent: ledger entries and refunds are keyed by Stripe's
//     ids, so a handler run whose commit failed can run again.
//   - What our state machine cannot explain (a capture we did not make, amounts
//     that disagree, a refund failing after it succeeded) is reported as an
//     Anomaly for a human and changes nothing else.
//   - Our own in-flight gateway calls win: while a capture or refund operation
//     of the payment is pending, the worker records its outcome, and a refund
//     the handler cannot yet attribute is retried later.

// Stripe event types the handler acts on; every other type is acknowledged and ignored.
const (
	StripeIntentCanceled          = "payment_intent.canceled"
	StripeIntentSucceeded         = "payment_intent.succeeded"
	StripeIntentCapturableUpdated = "payment_intent.amount_capturable_updated"
	StripeIntentPaymentFailed     = "payment_intent.payment_failed"
	StripeChargeRefunded          = "charge.refunded"
	StripeChargeRefundUpdated     = "charge.refund.updated"
	StripeRefundCreated           = "refund.created"
	StripeRefundUpdated           = "refund.updated"
	StripeRefundFailed            = "refund.failed"
)

// Anomaly kinds.
const (
	AnomalyUnexpectedCapture  = "capture_not_made_by_us"    // captured in Stripe, not by our worker
	AnomalyCaptureMismatch    = "capture_amount_mismatch"   // Stripe captured another amount than we recorded
	AnomalyCaptureOnClosed    = "capture_on_closed_payment" // Stripe captured a payment we consider canceled or failed
	AnomalyHoldMismatch       = "hold_amount_mismatch"      // Stripe holds another amount than we do
	AnomalyHoldCanceled       = "hold_canceled_by_gateway"  // Stripe released a hold before the trip ended
	AnomalyIntentMismatch     = "intent_mismatch"           // metadata names a payment bound to another intent
	AnomalyCurrencyMismatch   = "currency_mismatch"         // the gateway object and our payment disagree on currency
	AnomalyRefundUnrecordable = "refund_not_recordable"     // a gateway refund our state machine refuses
	AnomalyRefundOutcome      = "refund_outcome_mismatch"   // a refund's gateway outcome contradicts ours
)

// Refunds recorded from webhooks: requested by the gateway itself (a refund in
// the Stripe dashboard), with our id derived from the gateway's.
const (
	GatewayRefundRequester = "stripe"
	gatewayRefundIDPrefix  = "stripe_"
	stripeRefundSucceeded  = "succeeded"
	stripeRefundFailed     = "failed"
	stripeRefundCanceled   = "canceled"
	intentCanceledCode     = "intent_canceled"
)

// Anomaly is a gateway fact our state machine does not explain. It needs a
// human: the handler reports it and changes nothing it cannot justify.
type Anomaly struct {
	Kind      string
	EventID   string
	EventType string
	PaymentID string
	IntentID  string
	Detail    string
}

// StripeEvent is one verified, stored Stripe event (ports/webhook.Event without
// the port's wire details; main adapts one to the other).
type StripeEvent struct {
	ID      string
	Type    string
	Created time.Time       // Stripe's event.created, whole seconds
	Object  json.RawMessage // data.object
}

// WebhookStore is what the handler reads and writes in the processor's
// transaction (adapters/postgres.Queries).
type WebhookStore interface {
	// LockPaymentByIntentTx locks the payment bound to a gateway intent; ErrPaymentNotFound when none is.
	LockPaymentByIntentTx(ctx context.Context, tx pgx.Tx, intentID string) (*domain.Payment, error)
	// LockPaymentTx locks a payment by id; ErrPaymentNotFound when there is none.
	LockPaymentTx(ctx context.Context, tx pgx.Tx, id string) (*domain.Payment, error)
	// SavePaymentTx writes the payment's state (status, amounts, intent, failure code).
	SavePaymentTx(ctx context.Context, tx pgx.Tx, p *domain.Payment) error
	// LastAppliedTx is the newest Created among the processed events about objectID.
	LastAppliedTx(ctx context.Context, tx pgx.Tx, objectID string) (time.Time, bool, error)
	// PendingOperationsTx counts the payment's pending operations of the kinds.
	PendingOperationsTx(ctx context.Context, tx pgx.Tx, paymentID string, kinds ...OperationKind) (int, error)
	// RefundByProviderRefTx finds the payment's refund with a gateway id; ok false when none has it.
	RefundByProviderRefTx(ctx context.Context, tx pgx.Tx, paymentID, providerRef string) (*domain.Refund, bool, error)
	// QueuedRefundsTx counts the payment's refunds whose gateway outcome is not recorded yet.
	QueuedRefundsTx(ctx context.Context, tx pgx.Tx, paymentID string) (int, error)
	// CreateRefundTx stores a refund.
	CreateRefundTx(ctx context.Context, tx pgx.Tx, rf *domain.Refund) error
}

// WebhooksOptions tunes the handler; zero values take defaults.
type WebhooksOptions struct {
	Now    func() time.Time
	Logger *slog.Logger
	// OnAnomaly is called for every anomaly after it was logged and counted.
	OnAnomaly func(ctx context.Context, a Anomaly)
	// Registerer receives payments_webhook_anomalies_total; nil means none.
	Registerer prometheus.Registerer
}

// Webhooks applies Stripe events to payments, refunds and the ledger.
type Webhooks struct {
	store     WebhookStore
	ledger    LedgerStore
	opts      WebhooksOptions
	anomalies *prometheus.CounterVec
}

// NewWebhooks wires the handler.
func NewWebhooks(store WebhookStore, ledger LedgerStore, opts WebhooksOptions) (*Webhooks, error) {
	if store == nil || ledger == nil {
		return nil, errors.New("webhooks need a store and a ledger")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	anomalies, err := observability.Register(opts.Registerer, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "payments_webhook_anomalies_total",
		Help: "Gateway facts from Stripe webhooks that our payments do not explain and a human must look at, by kind.",
	}, []string{"kind"}))
	if err != nil {
		return nil, err
	}
	return &Webhooks{store: store, ledger: ledger, opts: opts, anomalies: anomalies}, nil
}

// webhookCaptureKinds are the operations whose gateway call captures: while one
// is pending, a capture Stripe reports is ours and the worker records it.
var webhookCaptureKinds = []OperationKind{OpCapture, OpCharge}

// errRefundInFlight makes the processor retry the event later.
var errRefundInFlight = errors.New("a refund of this payment is in flight; its outcome decides whether this one is ours")

// HandleStripeEvent applies ev in tx. It returns an error only when the event
// must be retried (a database failure, our own refund still in flight);
// events about payments we do not know, stale events and unknown types are
// acknowledged.
func (w *Webhooks) HandleStripeEvent(ctx context.Context, tx pgx.Tx, ev StripeEvent) error {
	switch ev.Type {
	case StripeIntentCanceled, StripeIntentSucceeded, StripeIntentCapturableUpdated, StripeIntentPaymentFailed:
		return w.onIntent(ctx, tx, ev)
	case StripeRefundCreated, StripeRefundUpdated, StripeRefundFailed, StripeChargeRefundUpdated:
		r, err := decodeWebhookRefund(ev.Object)
		if err != nil {
			w.opts.Logger.WarnContext(ctx, "stripe event ignored: undecodable refund", "event_id", ev.ID, "type", ev.Type, "err", err)
			return nil
		}
		return w.onRefund(ctx, tx, ev, r)
	case StripeChargeRefunded:
		return w.onChargeRefunded(ctx, tx, ev)
	default:
		return nil
	}
}

// webhookIntent is the part of a PaymentIntent the handler reads.
type webhookIntent struct {
	ID               string
	Status           IntentStatus
	Amount           domain.Money
	AmountCapturable int64
	AmountReceived   int64
	PaymentID        string // metadata.payment_id, set by our authorisation
	FailureCode      string
}

func decodeWebhookIntent(obj json.RawMessage) (webhookIntent, error) {
	var raw struct {
		ID               string            `json:"id"`
		Object           string            `json:"object"`
		Status           string            `json:"status"`
		Amount           int64             `json:"amount"`
		AmountCapturable int64             `json:"amount_capturable"`
		AmountReceived   int64             `json:"amount_received"`
		Currency         string            `json:"currency"`
		Metadata         map[string]string `json:"metadata"`
		LastPaymentError *struct {
			Code        string `json:"code"`
			DeclineCode string `json:"decline_code"`
		} `json:"last_payment_error"`
	}
	if err := json.Unmarshal(obj, &raw); err != nil {
		return webhookIntent{}, fmt.Errorf("decode payment_intent: %w", err)
	}
	if raw.Object != "payment_intent" || raw.ID == "" {
		return webhookIntent{}, fmt.Errorf("object %q (id %q) is not a payment_intent", raw.Object, raw.ID)
	}
	amount, err := domain.NewMoney(raw.Amount, strings.ToUpper(raw.Currency))
	if err != nil {
		return webhookIntent{}, fmt.Errorf("payment_intent %s: %w", raw.ID, err)
	}
	pi := webhookIntent{ID: raw.ID, Status: IntentStatus(raw.Status), Amount: amount,
		AmountCapturable: raw.AmountCapturable, AmountReceived: raw.AmountReceived, PaymentID: raw.Metadata["payment_id"]}
	if e := raw.LastPaymentError; e != nil {
		pi.FailureCode = e.DeclineCode
		if pi.FailureCode == "" {
			pi.FailureCode = e.Code
		}
	}
	return pi, nil
}

// webhookRefund is the part of a Refund the handler reads.
type webhookRefund struct {
	ID            string
	Amount        domain.Money
	Status        string
	PaymentIntent string
	Reason        string
}

func decodeWebhookRefund(obj json.RawMessage) (webhookRefund, error) {
	var raw struct {
		ID            string          `json:"id"`
		Object        string          `json:"object"`
		Amount        int64           `json:"amount"`
		Currency      string          `json:"currency"`
		Status        string          `json:"status"`
		PaymentIntent json.RawMessage `json:"payment_intent"`
		Reason        *string         `json:"reason"`
	}
	if err := json.Unmarshal(obj, &raw); err != nil {
		return webhookRefund{}, fmt.Errorf("decode refund: %w", err)
	}
	if raw.Object != "refund" || raw.ID == "" {
		return webhookRefund{}, fmt.Errorf("object %q (id %q) is not a refund", raw.Object, raw.ID)
	}
	amount, err := domain.NewMoney(raw.Amount, strings.ToUpper(raw.Currency))
	if err != nil {
		return webhookRefund{}, fmt.Errorf("refund %s: %w", raw.ID, err)
	}
	r := webhookRefund{ID: raw.ID, Amount: amount, Status: raw.Status, PaymentIntent: stripeRef(raw.PaymentIntent)}
	if raw.Reason != nil {
		r.Reason = *raw.Reason
	}
	return r, nil
}

// stripeRef reads a reference field: an id, an expanded object with an id, or null.
func stripeRef(b json.RawMessage) string {
	var s string
	if json.Unmarshal(b, &s) == nil {
		return s
	}
	var obj struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(b, &obj) == nil {
		return obj.ID
	}
	return ""
}

// findPayment locks the payment an intent belongs to: by the intent id we
// stored, else (our authorisation not recorded yet) by metadata.payment_id.
// ok is false when the intent is not one of ours.
func (w *Webhooks) findPayment(ctx context.Context, tx pgx.Tx, ev StripeEvent, intentID, paymentID string) (*domain.Payment, bool, error) {
	p, err := w.store.LockPaymentByIntentTx(ctx, tx, intentID)
	if err == nil {
		return p, true, nil
	}
	if !errors.Is(err, ErrPaymentNotFound) {
		return nil, false, err
	}
	if paymentID != "" {
		p, err = w.store.LockPaymentTx(ctx, tx, paymentID)
		switch {
		case errors.Is(err, ErrPaymentNotFound):
		case err != nil:
			return nil, false, err
		case p.IntentID != "" && p.IntentID != intentID:
			w.anomaly(ctx, ev, p, intentID, AnomalyIntentMismatch,
				fmt.Sprintf("metadata names payment %s, which is bound to intent %s", p.ID, p.IntentID))
			return nil, false, nil
		default:
			return p, true, nil
		}
	}
	w.opts.Logger.InfoContext(ctx, "stripe event about an intent we do not know", "event_id", ev.ID, "type", ev.Type, "intent_id", intentID)
	return nil, false, nil
}

// stale reports whether a newer event about the same object was applied already.
func (w *Webhooks) stale(ctx context.Context, tx pgx.Tx, ev StripeEvent, objectID string) (bool, error) {
	last, ok, err := w.store.LastAppliedTx(ctx, tx, objectID)
	if err != nil {
		return false, err
	}
	if ok && ev.Created.Before(last) {
		w.opts.Logger.InfoContext(ctx, "stale stripe event ignored", "event_id", ev.ID, "type", ev.Type,
			"object_id", objectID, "created", ev.Created, "last_applied", last)
		return true, nil
	}
	return false, nil
}

func (w *Webhooks) onIntent(ctx context.Context, tx pgx.Tx, ev StripeEvent) error {
	pi, err := decodeWebhookIntent(ev.Object)
	if err != nil {
		w.opts.Logger.WarnContext(ctx, "stripe event ignored: undecodable intent", "event_id", ev.ID, "type", ev.Type, "err", err)
		return nil
	}
	// Lock first, then read what was applied: a concurrent handler of the same
	// payment has committed (and marked its event processed) once we hold the lock.
	p, ok, err := w.findPayment(ctx, tx, ev, pi.ID, pi.PaymentID)
	if err != nil || !ok {
		return err
	}
	if stale, err := w.stale(ctx, tx, ev, pi.ID); err != nil || stale {
		return err
	}
	if pi.Amount.Currency != p.Held.Currency {
		w.anomaly(ctx, ev, p, pi.ID, AnomalyCurrencyMismatch,
			fmt.Sprintf("intent in %s, payment in %s", pi.Amount.Currency, p.Held.Currency))
		return nil
	}
	var changed bool
	switch ev.Type {
	case StripeIntentCanceled:
		changed, err = w.intentCanceled(ctx, tx, ev, p, pi)
	case StripeIntentPaymentFailed:
		changed, err = w.intentFailed(ctx, tx, p, pi)
	case StripeIntentCapturableUpdated, StripeIntentSucceeded:
		switch pi.Status {
		case StatusRequiresCapture:
			changed, err = w.intentAuthorised(ctx, tx, ev, p, pi)
		case StatusSucceeded:
			changed, err = w.intentSucceeded(ctx, tx, ev, p, pi)
		}
	}
	if err != nil || !changed {
		return err
	}
	return w.store.SavePaymentTx(ctx, tx, p)
}

// intentCanceled: Stripe released the hold (7 days uncaptured, or canceled in
// the dashboard). A payment still holding funds becomes canceled and its
// ledger hold is voided. A payment whose capture is queued is left to that
// capture: it will fail at the gateway and leave the trip's charge on the
// customer's receivable, which is what must happen to it.
func (w *Webhooks) intentCanceled(ctx context.Context, tx pgx.Tx, ev StripeEvent, p *domain.Payment, pi webhookIntent) (bool, error) {
	switch p.Status {
	case domain.PaymentPendingAuthorisation, domain.PaymentAuthorised:
	default:
		return false, nil
	}
	if p.Status == domain.PaymentAuthorised {
		w.anomaly(ctx, ev, p, pi.ID, AnomalyHoldCanceled,
			"the gateway released the hold before the trip ended; its charge will stay on the receivable")
	}
	if err := p.Canceled(w.opts.Now()); err != nil {
		return false, err
	}
	if p.IntentID == "" {
		p.IntentID = pi.ID
	}
	if p.FailureCode == "" {
		p.FailureCode = intentCanceledCode
	}
	return true, w.voidHold(ctx, tx, p)
}

// intentFailed: the authorisation was declined. Only a payment still waiting
// for its authorisation fails; any later state is newer than this event.
func (w *Webhooks) intentFailed(ctx context.Context, tx pgx.Tx, p *domain.Payment, pi webhookIntent) (bool, error) {
	if p.Status != domain.PaymentPendingAuthorisation {
		return false, nil
	}
	code := pi.FailureCode
	if code == "" {
		code = "payment_failed"
	}
	now := w.opts.Now()
	held := p.Held
	if err := p.Failed(code, now); err != nil {
		return false, err
	}
	p.IntentID = pi.ID
	if err := w.voidHold(ctx, tx, p); err != nil {
		return false, err
	}
	// The same announcement the worker makes for a refusal it receives itself.
	eventType, stage := events.TypePaymentAuthorisationFailedV1, "authorise"
	if p.Kind.IsCharge() {
		eventType, stage = events.TypePaymentFailedV1, "charge"
	}
	failed := events.PaymentFailedV1{PaymentID: p.ID, CustomerID: p.CustomerID, TripID: p.TripID, Amount: eventMoney(held),
		Stage: stage, Code: code, Reason: "declined at the gateway", FailedAt: now}
	if p.Kind == domain.PaymentKindCancellationFee {
		failed.ReservationID = p.Reference
	}
	err := webhookEmit(ctx, tx, p.ID, eventType, failed)
	return err == nil, err
}

// intentAuthorised: the hold is in place. It confirms our authorisation, or
// records it when the gateway answered but our worker has not yet.
func (w *Webhooks) intentAuthorised(ctx context.Context, tx pgx.Tx, ev StripeEvent, p *domain.Payment, pi webhookIntent) (bool, error) {
	held := domain.Money{AmountMinor: pi.AmountCapturable, Currency: pi.Amount.Currency}
	switch p.Status {
	case domain.PaymentPendingAuthorisation:
		if !held.IsPositive() {
			held = pi.Amount
		}
		now := w.opts.Now()
		if err := p.Authorised(pi.ID, held, now); err != nil {
			return false, err
		}
		err := webhookEmit(ctx, tx, p.ID, events.TypePaymentAuthorisedV1, events.PaymentAuthorisedV1{
			PaymentID: p.ID, CustomerID: p.CustomerID, TripID: p.TripID, Amount: eventMoney(held),
			ProviderRef: pi.ID, AuthorisedAt: now})
		return err == nil, err
	case domain.PaymentAuthorised, domain.PaymentCapturePending:
		if held.AmountMinor != p.Held.AmountMinor {
			w.anomaly(ctx, ev, p, pi.ID, AnomalyHoldMismatch,
				fmt.Sprintf("gateway holds %s, we hold %s", held, p.Held))
		}
	}
	return false, nil
}

// intentSucceeded: the intent was captured. It confirms our capture, is left
// to our worker while our capture is queued, and is recorded and flagged when
// nobody here captured it (e.g. a capture in the Stripe dashboard).
func (w *Webhooks) intentSucceeded(ctx context.Context, tx pgx.Tx, ev StripeEvent, p *domain.Payment, pi webhookIntent) (bool, error) {
	received := domain.Money{AmountMinor: pi.AmountReceived, Currency: pi.Amount.Currency}
	switch p.Status {
	case domain.PaymentCaptured:
		if received.AmountMinor != p.Captured.AmountMinor {
			w.anomaly(ctx, ev, p, pi.ID, AnomalyCaptureMismatch,
				fmt.Sprintf("gateway captured %s, we recorded %s", received, p.Captured))
		}
		return false, nil
	case domain.PaymentCanceled, domain.PaymentFailed:
		w.anomaly(ctx, ev, p, pi.ID, AnomalyCaptureOnClosed,
			fmt.Sprintf("gateway captured %s of a %s payment", received, p.Status))
		return false, nil
	}
	pending, err := w.store.PendingOperationsTx(ctx, tx, p.ID, webhookCaptureKinds...)
	if err != nil {
		return false, err
	}
	if pending > 0 {
		return false, nil // our capture: the worker records it from the gateway's answer
	}
	if p.Kind != domain.PaymentKindTrip {
		// A charge's capture is always ours (its operation queued it); without one
		// pending, this is someone else's and the books have no hold to post.
		w.anomaly(ctx, ev, p, pi.ID, AnomalyUnexpectedCapture,
			fmt.Sprintf("gateway captured %s of a %s charge in status %s; not recorded", received, p.Kind, p.Status))
		return false, nil
	}
	now := w.opts.Now()
	if p.Status == domain.PaymentPendingAuthorisation {
		if err := p.Authorised(pi.ID, pi.Amount, now); err != nil {
			return false, err
		}
	}
	if !received.IsPositive() || received.AmountMinor > p.Held.AmountMinor {
		w.anomaly(ctx, ev, p, pi.ID, AnomalyUnexpectedCapture,
			fmt.Sprintf("gateway captured %s of a hold of %s; not recorded", received, p.Held))
		return false, nil
	}
	if p.Status == domain.PaymentAuthorised {
		if err := p.RequestCapture(received, now); err != nil {
			return false, err
		}
	}
	if err := p.CaptureSucceeded(received, now); err != nil {
		return false, err
	}
	if _, _, err := w.ledger.PostHoldTx(ctx, tx, p.ID, received); err != nil {
		return false, fmt.Errorf("post hold of %s: %w", p.ID, err)
	}
	if err := webhookEmit(ctx, tx, p.ID, events.TypePaymentCapturedV1, events.PaymentCapturedV1{
		PaymentID: p.ID, CustomerID: p.CustomerID, TripID: p.TripID, Amount: eventMoney(received),
		ProviderRef: pi.ID, CapturedAt: now}); err != nil {
		return false, err
	}
	w.anomaly(ctx, ev, p, pi.ID, AnomalyUnexpectedCapture,
		fmt.Sprintf("gateway captured %s without a capture of ours; recorded", received))
	return true, nil
}

// onChargeRefunded reads the refunds a charge.refunded event embeds (API
// versions before 2022-11-15 list them in charge.refunds). Newer versions do
// not: their refunds arrive as refund.created / refund.updated events, which
// record them, so the charge event itself changes nothing.
func (w *Webhooks) onChargeRefunded(ctx context.Context, tx pgx.Tx, ev StripeEvent) error {
	var charge struct {
		Object        string          `json:"object"`
		PaymentIntent json.RawMessage `json:"payment_intent"`
		Refunds       *struct {
			Data []json.RawMessage `json:"data"`
		} `json:"refunds"`
	}
	if err := json.Unmarshal(ev.Object, &charge); err != nil || charge.Object != "charge" {
		w.opts.Logger.WarnContext(ctx, "stripe event ignored: undecodable charge", "event_id", ev.ID, "err", err)
		return nil
	}
	if charge.Refunds == nil {
		return nil
	}
	for _, obj := range charge.Refunds.Data {
		r, err := decodeWebhookRefund(obj)
		if err != nil {
			w.opts.Logger.WarnContext(ctx, "embedded refund ignored", "event_id", ev.ID, "err", err)
			continue
		}
		if r.PaymentIntent == "" {
			r.PaymentIntent = stripeRef(charge.PaymentIntent)
		}
		// Embedded refunds are judged as of this event, not by their own events.
		if err := w.applyRefund(ctx, tx, ev, r); err != nil {
			return err
		}
	}
	return nil
}

func (w *Webhooks) onRefund(ctx context.Context, tx pgx.Tx, ev StripeEvent, r webhookRefund) error {
	if r.PaymentIntent == "" {
		return nil // a refund without a PaymentIntent is not one of our payments'
	}
	return w.applyRefund(ctx, tx, ev, r)
}

// applyRefund records a succeeded refund made outside our API exactly once
// (keyed by its gateway id) and flags a gateway outcome that contradicts ours.
// Refunds requested through our API are recorded by the refund worker: while
// one of the payment's refunds is queued, an unknown gateway refund may be that
// one, so the event is retried once the worker has recorded it.
func (w *Webhooks) applyRefund(ctx context.Context, tx pgx.Tx, ev StripeEvent, r webhookRefund) error {
	p, ok, err := w.findPayment(ctx, tx, ev, r.PaymentIntent, "")
	if err != nil || !ok {
		return err
	}
	if ev.Type != StripeChargeRefunded { // embedded refunds are as of the charge event
		if stale, err := w.stale(ctx, tx, ev, r.ID); err != nil || stale {
			return err
		}
	}
	known, found, err := w.store.RefundByProviderRefTx(ctx, tx, p.ID, r.ID)
	if err != nil {
		return err
	}
	switch r.Status {
	case stripeRefundSucceeded:
		if found {
			if known.Status == domain.RefundFailed {
				w.anomaly(ctx, ev, p, r.PaymentIntent, AnomalyRefundOutcome,
					fmt.Sprintf("refund %s (%s) succeeded at the gateway; we recorded it failed", known.ID, r.ID))
			}
			return nil // ours, or recorded by an earlier event
		}
	case stripeRefundFailed, stripeRefundCanceled:
		if found && known.Status == domain.RefundSucceeded {
			w.anomaly(ctx, ev, p, r.PaymentIntent, AnomalyRefundOutcome,
				fmt.Sprintf("refund %s (%s, %s) is %s at the gateway after we recorded it succeeded", known.ID, r.ID, r.Amount, r.Status))
		}
		return nil
	default:
		return nil // pending or requires_action: its outcome follows in refund.updated
	}
	queued, err := w.store.QueuedRefundsTx(ctx, tx, p.ID)
	if err != nil {
		return err
	}
	if queued > 0 {
		return errRefundInFlight
	}
	if r.Amount.Currency != p.Captured.Currency {
		w.anomaly(ctx, ev, p, r.PaymentIntent, AnomalyCurrencyMismatch,
			fmt.Sprintf("refund %s in %s, payment in %s", r.ID, r.Amount.Currency, p.Captured.Currency))
		return nil
	}
	now := w.opts.Now()
	if err := p.RefundSucceeded(r.Amount, now); err != nil {
		w.anomaly(ctx, ev, p, r.PaymentIntent, AnomalyRefundUnrecordable,
			fmt.Sprintf("gateway refund %s of %s: %v", r.ID, r.Amount, err))
		return nil
	}
	rf := &domain.Refund{ID: GatewayRefundID(r.ID), PaymentID: p.ID, CustomerID: p.CustomerID, Amount: r.Amount,
		Status: domain.RefundSucceeded, Reason: r.Reason, RequestedBy: GatewayRefundRequester,
		ProviderRef: r.ID, CreatedAt: now, UpdatedAt: now}
	if err := w.store.CreateRefundTx(ctx, tx, rf); err != nil {
		return err
	}
	entry, err := domain.RefundEntry(RefundOpID(rf.ID), r.Amount) // the reference our own refunds use
	if err != nil {
		return err
	}
	if _, _, err := w.ledger.PostTx(ctx, tx, entry); err != nil {
		return err
	}
	if err := webhookEmit(ctx, tx, p.ID, events.TypePaymentRefundedV1, events.PaymentRefundedV1{
		PaymentID: p.ID, RefundID: rf.ID, CustomerID: p.CustomerID, TripID: p.TripID,
		Amount: eventMoney(r.Amount), Reason: r.Reason, RefundedAt: now}); err != nil {
		return err
	}
	w.opts.Logger.InfoContext(ctx, "gateway refund recorded", "event_id", ev.ID, "payment_id", p.ID,
		"refund_id", rf.ID, "provider_ref", r.ID, "amount", r.Amount.String())
	return w.store.SavePaymentTx(ctx, tx, p)
}

// voidHold releases the ledger hold of a trip payment; charges post none.
func (w *Webhooks) voidHold(ctx context.Context, tx pgx.Tx, p *domain.Payment) error {
	if p.Kind != domain.PaymentKindTrip {
		return nil
	}
	if err := w.ledger.VoidHoldTx(ctx, tx, p.ID); err != nil {
		return fmt.Errorf("void hold of %s: %w", p.ID, err)
	}
	return nil
}

// GatewayRefundID is our id of a refund made at the gateway outside our API.
func GatewayRefundID(providerRef string) string { return gatewayRefundIDPrefix + providerRef }

func (w *Webhooks) anomaly(ctx context.Context, ev StripeEvent, p *domain.Payment, intentID, kind, detail string) {
	a := Anomaly{Kind: kind, EventID: ev.ID, EventType: ev.Type, IntentID: intentID, Detail: detail}
	if p != nil {
		a.PaymentID = p.ID
	}
	w.opts.Logger.ErrorContext(ctx, "payment anomaly: needs a human", "kind", a.Kind, "event_id", a.EventID,
		"type", a.EventType, "payment_id", a.PaymentID, "intent_id", a.IntentID, "detail", a.Detail)
	w.anomalies.WithLabelValues(a.Kind).Inc()
	if w.opts.OnAnomaly != nil {
		w.opts.OnAnomaly(ctx, a)
	}
}

func webhookEmit(ctx context.Context, tx pgx.Tx, paymentID, eventType string, data any) error {
	ev, err := events.New(eventType, events.SourcePayments, paymentID, data)
	if err != nil {
		return err
	}
	return outbox.Enqueue(ctx, tx, events.TopicPaymentsEvents, paymentID, ev)
}
