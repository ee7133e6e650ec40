// Package sandbox is an in-process payment gateway with Stripe's semantics: the
// development default and the state machine behind the wire fake (stripefake).
//
// It models PaymentIntents with manual capture (authorise → requires_capture →
// capture → succeeded, or cancel → canceled), refunds, incremental
// authorisation, customers and Stripe's test payment methods, and Stripe's
// idempotency: the same key with the same parameters returns the saved result
// without acting again, the same key with other parameters fails with
// KindIdempotency, a key still executing fails with idempotency_key_in_use, and
// keys expire after KeyTTL. Failures before execution (validation, outages) are
// not saved, so a retry with the same key acts.
//
// Every error is an *app.GatewayError whose Err is an *ErrorDetail; the HTTP
// status and codes are those Stripe would answer. Snapshot accessors (Intents,
// Refunds, Captures, ...) let tests assert what happened, e.g. "captured once".
package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mobilitycorp/platform/services/payments/internal/app"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

// Window is a period [From, To) in which every call fails with KindUnavailable.
type Window struct {
	From, To time.Time
}

func (w Window) contains(t time.Time) bool { return !t.Before(w.From) && t.Before(w.To) }

// Options configures a Gateway; the zero value is a fast, always-up sandbox
// with DefaultPaymentMethods and the wall clock.
type Options struct {
	// Latency delays every call (before it acts) to make timeouts and in-flight
	// keys observable. The wait ends early when the caller's context does, and
	// then nothing happens.
	Latency time.Duration
	// Outages are windows (by Now) in which calls fail like a Stripe 503.
	Outages []Window
	// Now is the clock for outages, key expiry and timestamps; nil means time.Now.
	Now func() time.Time
	// PaymentMethods are added to DefaultPaymentMethods; an entry with a default's
	// ID replaces it.
	PaymentMethods []PaymentMethod
}

// IntentRecord is the sandbox's full view of an intent. Intent.AmountRefunded
// is the sum of the intent's refunds.
type IntentRecord struct {
	app.Intent
	ChargeID          string // the authorisation's charge, "ch_..."
	Captures          int    // successful captures; replays do not count
	Increments        int    // successful incremental authorisations
	IncrementAttempts int    // Stripe allows at most 10, declines included
	Description       string
	Metadata          map[string]string
	CanceledAt        time.Time
}

// RefundRecord is the sandbox's full view of a refund.
type RefundRecord struct {
	app.Refund
	ChargeID  string
	Reason    string
	CreatedAt time.Time
}

// CustomerRecord is a customer and the payment methods attached to it.
type CustomerRecord struct {
	ID             string
	Email          string
	Name           string
	PaymentMethods []string
	CreatedAt      time.Time
}

// IntentUpdate changes an intent's descriptive fields, as POST /v1/payment_intents/{id}.
type IntentUpdate struct {
	Description *string
	// Metadata is merged into the intent's; an empty value deletes the key.
	Metadata map[string]string
}

// Gateway implements app.Gateway in memory. It is safe for concurrent use.
type Gateway struct {
	latency time.Duration
	outages []Window
	now     func() time.Time
	methods map[string]PaymentMethod

	mu            sync.Mutex
	down          bool
	customers     map[string]*CustomerRecord
	customerOrder []string
	intents       map[string]*IntentRecord
	intentOrder   []string
	refunds       map[string]*RefundRecord
	refundOrder   []string
	keys          *keyStore
	replays       int
}

var _ app.Gateway = (*Gateway)(nil)

// New builds a sandbox.
func New(opts Options) *Gateway {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	methods := map[string]PaymentMethod{}
	for _, m := range append(DefaultPaymentMethods(), opts.PaymentMethods...) {
		methods[m.ID] = m
	}
	return &Gateway{
		latency:   opts.Latency,
		outages:   slices.Clone(opts.Outages),
		now:       now,
		methods:   methods,
		customers: map[string]*CustomerRecord{},
		intents:   map[string]*IntentRecord{},
		refunds:   map[string]*RefundRecord{},
		keys:      newKeyStore(),
	}
}

// SetDown switches a runtime outage on or off: while down every call fails with
// KindUnavailable (HTTP 503) and acts on nothing.
func (g *Gateway) SetDown(down bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.down = down
}

// CreateCustomer creates a customer, "cus_...".
func (g *Gateway) CreateCustomer(ctx context.Context, idempotencyKey, email, name string) (string, error) {
	fp := fingerprint("create_customer", map[string]string{"email": email, "name": name})
	r := g.mutate(ctx, idempotencyKey, fp, func(now time.Time) result {
		if email != "" && !strings.Contains(email, "@") {
			return result{err: invalidParam("email_invalid", "email", "Invalid email address: %s", email)}
		}
		c := &CustomerRecord{ID: newID("cus_"), Email: email, Name: name, CreatedAt: now.UTC().Truncate(time.Second)}
		g.customers[c.ID] = c
		g.customerOrder = append(g.customerOrder, c.ID)
		return result{customer: c.ID}
	})
	return r.customer, r.error()
}

// AttachPaymentMethod attaches a known payment method to a customer. Stripe's
// test ids are templates, so one may be attached to any number of customers.
func (g *Gateway) AttachPaymentMethod(ctx context.Context, idempotencyKey, customerRef, paymentMethod string) error {
	if ge := firstError(app.CheckID("payment method", paymentMethod), app.CheckID("customer", customerRef)); ge != nil {
		return ge
	}
	fp := fingerprint("attach_payment_method", []string{customerRef, paymentMethod})
	r := g.mutate(ctx, idempotencyKey, fp, func(time.Time) result {
		if _, ok := g.methods[paymentMethod]; !ok {
			return result{err: noSuch(http.StatusNotFound, "payment_method", "PaymentMethod", paymentMethod)}
		}
		c, ok := g.customers[customerRef]
		if !ok {
			return result{err: noSuch(http.StatusBadRequest, "customer", "customer", customerRef)}
		}
		if !slices.Contains(c.PaymentMethods, paymentMethod) {
			c.PaymentMethods = append(c.PaymentMethods, paymentMethod)
		}
		return result{}
	})
	return r.error()
}

// Authorise creates and confirms an intent with manual capture. A good payment
// method leaves it in requires_capture with the whole amount capturable. A
// decline leaves it in requires_payment_method and is returned together with
// the error (as Stripe embeds the intent in the card error), so its id can be
// recorded.
func (g *Gateway) Authorise(ctx context.Context, req app.AuthoriseRequest) (app.Intent, error) {
	if ge := app.CheckMoney(req.Amount); ge != nil {
		return app.Intent{}, ge
	}
	params := req
	params.IdempotencyKey = ""
	fp := fingerprint("authorise", params)
	r := g.mutate(ctx, req.IdempotencyKey, fp, func(now time.Time) result { return g.authorise(req, now) })
	return r.intent, r.error()
}

func (g *Gateway) authorise(req app.AuthoriseRequest, now time.Time) result {
	if ge := validateAuthorise(req); ge != nil {
		return result{err: ge}
	}
	pm, ok := g.methods[req.PaymentMethod]
	if !ok {
		return result{err: noSuch(http.StatusBadRequest, "payment_method", "PaymentMethod", req.PaymentMethod)}
	}
	if req.CustomerRef != "" {
		if _, ok := g.customers[req.CustomerRef]; !ok {
			return result{err: noSuch(http.StatusBadRequest, "customer", "customer", req.CustomerRef)}
		}
	}
	rec := &IntentRecord{
		Intent: app.Intent{
			ID:            newID("pi_"),
			Status:        app.StatusRequiresCapture,
			Amount:        req.Amount,
			CustomerRef:   req.CustomerRef,
			PaymentMethod: req.PaymentMethod,
			CreatedAt:     now.UTC().Truncate(time.Second), // Stripe timestamps are whole seconds
		},
		ChargeID:    newID("ch_"),
		Description: req.Description,
		Metadata:    maps.Clone(req.Metadata),
	}
	g.intents[rec.ID] = rec
	g.intentOrder = append(g.intentOrder, rec.ID)
	if pm.declines() {
		rec.Status = app.StatusRequiresPaymentMethod
		rec.LastErrorCode = lastErrorCode(pm.Code, pm.DeclineCode)
		return result{intent: rec.Intent, err: cardError(pm)}
	}
	rec.AmountCapturable = req.Amount.AmountMinor
	rec.IncrementalAuth = pm.IncrementalAuth
	return result{intent: rec.Intent}
}

// minimumCharge is Stripe's smallest chargeable amount for the currencies we
// operate in; others only need to be positive.
func minimumCharge(currency string) (int64, bool) {
	switch currency {
	case "EUR", "USD", "CHF":
		return 50, true
	case "GBP":
		return 30, true
	}
	return 0, false
}

func validateAuthorise(req app.AuthoriseRequest) *app.GatewayError {
	if req.PaymentMethod == "" {
		return invalidParam("parameter_missing", "payment_method", "Missing required param: payment_method.")
	}
	if req.Amount.AmountMinor <= 0 {
		return invalidParam("parameter_invalid_integer", "amount", "This value must be greater than or equal to 1.")
	}
	if least, ok := minimumCharge(req.Amount.Currency); ok && req.Amount.AmountMinor < least {
		return invalidParam("amount_too_small", "amount", "Amount must be at least %s", domain.Money{AmountMinor: least, Currency: req.Amount.Currency})
	}
	return validateMetadata(req.Metadata)
}

// validateMetadata applies Stripe's metadata limits.
func validateMetadata(md map[string]string) *app.GatewayError {
	if len(md) > 50 {
		return invalidParam("", "metadata", "Invalid metadata: metadata can have up to 50 keys, but you passed in %d keys.", len(md))
	}
	for k, v := range md {
		switch {
		case k == "" || len(k) > 40 || strings.ContainsAny(k, "[]"):
			return invalidParam("", "metadata", "Invalid metadata: keys must be 1 to 40 characters without square brackets, got %q.", k)
		case len(v) > 500:
			return invalidParam("", "metadata", "Invalid metadata: values can be up to 500 characters long (key %q).", k)
		}
	}
	return nil
}

// IncrementAuthorisation raises the hold to amount, the new total. Stripe allows
// it only in requires_capture, for cards that support it, to a higher amount,
// with at most 10 attempts.
func (g *Gateway) IncrementAuthorisation(ctx context.Context, idempotencyKey, intentID string, amount domain.Money) (app.Intent, error) {
	if ge := firstError(app.CheckID("intent id", intentID), app.CheckMoney(amount)); ge != nil {
		return app.Intent{}, ge
	}
	fp := fingerprint("increment_authorization", []any{intentID, amount})
	r := g.mutate(ctx, idempotencyKey, fp, func(time.Time) result {
		if amount.AmountMinor <= 0 {
			return result{err: invalidParam("parameter_invalid_integer", "amount", "This value must be greater than or equal to 1.")}
		}
		rec, ok := g.intents[intentID]
		if !ok {
			return result{err: noSuch(http.StatusNotFound, "intent", "payment_intent", intentID)}
		}
		if rec.Status != app.StatusRequiresCapture {
			return result{err: invalidState("payment_intent_unexpected_state", "",
				"This PaymentIntent's amount could not be updated because it has a status of %s. Incremental authorizations require a status of requires_capture.", rec.Status)}
		}
		if !rec.IncrementalAuth {
			return result{err: invalidState("", "", "This PaymentIntent is not eligible for incremental authorizations.")}
		}
		if amount.Currency != rec.Amount.Currency {
			return result{err: invalidState("", "amount", "Currency %s does not match the PaymentIntent's currency %s.", amount.Currency, rec.Amount.Currency)}
		}
		if rec.IncrementAttempts >= 10 {
			return result{err: invalidState("", "", "This PaymentIntent has reached the maximum of 10 incremental authorization attempts.")}
		}
		if amount.AmountMinor <= rec.Amount.AmountMinor {
			return result{err: invalidState("", "amount", "The amount (%d) must be greater than the currently authorized amount (%d).", amount.AmountMinor, rec.Amount.AmountMinor)}
		}
		rec.IncrementAttempts++
		rec.Increments++
		rec.Amount = amount
		rec.AmountCapturable = amount.AmountMinor
		return result{intent: rec.Intent}
	})
	return r.intent, r.error()
}

// Capture captures amount of a requires_capture intent; the rest of the hold is released.
func (g *Gateway) Capture(ctx context.Context, idempotencyKey, intentID string, amount domain.Money) (app.Intent, error) {
	if ge := firstError(app.CheckID("intent id", intentID), app.CheckMoney(amount)); ge != nil {
		return app.Intent{}, ge
	}
	fp := fingerprint("capture", []any{intentID, amount})
	r := g.mutate(ctx, idempotencyKey, fp, func(time.Time) result {
		if amount.AmountMinor <= 0 {
			return result{err: invalidParam("parameter_invalid_integer", "amount_to_capture", "This value must be greater than or equal to 1.")}
		}
		rec, ok := g.intents[intentID]
		if !ok {
			return result{err: noSuch(http.StatusNotFound, "intent", "payment_intent", intentID)}
		}
		if rec.Status != app.StatusRequiresCapture {
			return result{err: invalidState("payment_intent_unexpected_state", "",
				"This PaymentIntent could not be captured because it has a status of %s. Only a PaymentIntent with one of the following statuses may be captured: requires_capture.", rec.Status)}
		}
		if amount.Currency != rec.Amount.Currency {
			return result{err: invalidState("", "amount_to_capture", "Currency %s does not match the PaymentIntent's currency %s.", amount.Currency, rec.Amount.Currency)}
		}
		if amount.AmountMinor > rec.AmountCapturable {
			return result{err: invalidState("amount_too_large", "amount_to_capture",
				"The amount to capture (%d) is greater than the amount capturable (%d).", amount.AmountMinor, rec.AmountCapturable)}
		}
		rec.Status = app.StatusSucceeded
		rec.AmountReceived = amount.AmountMinor
		rec.AmountCapturable = 0
		rec.Captures++
		return result{intent: rec.Intent}
	})
	return r.intent, r.error()
}

// cancelable reports the statuses Stripe lets you cancel from.
func cancelable(s app.IntentStatus) bool {
	switch s {
	case app.StatusRequiresPaymentMethod, app.StatusRequiresCapture, app.StatusRequiresConfirmation,
		app.StatusRequiresAction, app.StatusProcessing:
		return true
	}
	return false
}

// Cancel releases the whole hold.
func (g *Gateway) Cancel(ctx context.Context, idempotencyKey, intentID string) (app.Intent, error) {
	if ge := app.CheckID("intent id", intentID); ge != nil {
		return app.Intent{}, ge
	}
	fp := fingerprint("cancel", intentID)
	r := g.mutate(ctx, idempotencyKey, fp, func(now time.Time) result {
		rec, ok := g.intents[intentID]
		if !ok {
			return result{err: noSuch(http.StatusNotFound, "intent", "payment_intent", intentID)}
		}
		if !cancelable(rec.Status) {
			return result{err: invalidState("payment_intent_unexpected_state", "",
				"You cannot cancel this PaymentIntent because it has a status of %s. Only a PaymentIntent with one of the following statuses may be canceled: requires_payment_method, requires_capture, requires_confirmation, requires_action, processing.", rec.Status)}
		}
		rec.Status = app.StatusCanceled
		rec.AmountCapturable = 0
		rec.CanceledAt = now.UTC().Truncate(time.Second)
		return result{intent: rec.Intent}
	})
	return r.intent, r.error()
}

// Refund returns amount of a succeeded intent, at most received − refunded.
func (g *Gateway) Refund(ctx context.Context, idempotencyKey, intentID string, amount domain.Money, reason string) (app.Refund, error) {
	if ge := firstError(app.CheckID("intent id", intentID), app.CheckMoney(amount)); ge != nil {
		return app.Refund{}, ge
	}
	fp := fingerprint("refund", []any{intentID, amount, reason})
	r := g.mutate(ctx, idempotencyKey, fp, func(now time.Time) result {
		if amount.AmountMinor <= 0 {
			return result{err: invalidParam("parameter_invalid_integer", "amount", "This value must be greater than or equal to 1.")}
		}
		rec, ok := g.intents[intentID]
		if !ok {
			return result{err: noSuch(http.StatusBadRequest, "payment_intent", "payment_intent", intentID)}
		}
		if rec.Status != app.StatusSucceeded {
			return result{err: invalidState("payment_intent_unexpected_state", "payment_intent",
				"This PaymentIntent (%s) does not have a successful charge to refund; its status is %s.", intentID, rec.Status)}
		}
		if amount.Currency != rec.Amount.Currency {
			return result{err: invalidState("", "amount", "Currency %s does not match the PaymentIntent's currency %s.", amount.Currency, rec.Amount.Currency)}
		}
		remaining := rec.AmountReceived - rec.AmountRefunded
		if remaining == 0 {
			return result{err: invalidState("charge_already_refunded", "", "Charge %s has already been refunded.", rec.ChargeID)}
		}
		if amount.AmountMinor > remaining {
			return result{err: invalidState("amount_too_large", "amount",
				"Refund amount (%s) is greater than unrefunded amount on charge (%s)", amount, domain.Money{AmountMinor: remaining, Currency: amount.Currency})}
		}
		rec.AmountRefunded += amount.AmountMinor
		ref := &RefundRecord{
			Refund:    app.Refund{ID: newID("re_"), IntentID: intentID, Amount: amount, Status: "succeeded"},
			ChargeID:  rec.ChargeID,
			Reason:    reason,
			CreatedAt: now.UTC().Truncate(time.Second),
		}
		g.refunds[ref.ID] = ref
		g.refundOrder = append(g.refundOrder, ref.ID)
		return result{refund: ref.Refund}
	})
	return r.refund, r.error()
}

// UpdateIntent changes an intent's description and metadata (not part of
// app.Gateway; the wire fake serves POST /v1/payment_intents/{id} with it).
func (g *Gateway) UpdateIntent(ctx context.Context, idempotencyKey, intentID string, u IntentUpdate) (app.Intent, error) {
	if ge := app.CheckID("intent id", intentID); ge != nil {
		return app.Intent{}, ge
	}
	fp := fingerprint("update_intent", []any{intentID, u})
	r := g.mutate(ctx, idempotencyKey, fp, func(time.Time) result {
		rec, ok := g.intents[intentID]
		if !ok {
			return result{err: noSuch(http.StatusNotFound, "intent", "payment_intent", intentID)}
		}
		merged := maps.Clone(rec.Metadata)
		if merged == nil {
			merged = map[string]string{}
		}
		for k, v := range u.Metadata {
			if v == "" {
				delete(merged, k)
			} else {
				merged[k] = v
			}
		}
		if ge := validateMetadata(merged); ge != nil {
			return result{err: ge}
		}
		rec.Metadata = merged
		if u.Description != nil {
			rec.Description = *u.Description
		}
		return result{intent: rec.Intent}
	})
	return r.intent, r.error()
}

// GetIntent returns the intent's current state.
func (g *Gateway) GetIntent(ctx context.Context, intentID string) (app.Intent, error) {
	if ge := app.CheckID("intent id", intentID); ge != nil {
		return app.Intent{}, ge
	}
	if ge := g.admit(ctx); ge != nil {
		return app.Intent{}, ge
	}
	if err := g.wait(ctx); err != nil {
		return app.Intent{}, unavailable(err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	rec, ok := g.intents[intentID]
	if !ok {
		return app.Intent{}, noSuch(http.StatusNotFound, "intent", "payment_intent", intentID)
	}
	return rec.Intent, nil
}

// mutate runs one state-changing call with Stripe's idempotency: admit (outage),
// look the key up (replay, mismatch, in use), mark it in flight, wait the
// latency, execute under the lock and save the result unless it failed before
// executing.
func (g *Gateway) mutate(ctx context.Context, key, fp string, exec func(now time.Time) result) result {
	if ge := app.CheckIdempotencyKey(key); ge != nil {
		return result{err: ge}
	}
	if ge := g.admit(ctx); ge != nil {
		return result{err: ge}
	}

	g.mu.Lock()
	if e, ok := g.keys.get(key, g.now()); ok {
		defer g.mu.Unlock()
		switch {
		case e.inFlight:
			return result{err: keyInUse(key)}
		case e.fingerprint != fp:
			return result{err: keyMismatch(key)}
		default:
			g.replays++
			return e.res.copy()
		}
	}
	g.keys.begin(key, fp)
	g.mu.Unlock()

	if err := g.wait(ctx); err != nil {
		g.mu.Lock()
		g.keys.abort(key)
		g.mu.Unlock()
		return result{err: unavailable(err)}
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	res := exec(now)
	if d, ok := detail(res.err); ok && d.Unsaved {
		g.keys.abort(key)
	} else {
		g.keys.save(key, res, now)
	}
	return res.copy()
}

// admit fails calls the sandbox would not even receive: the caller already gave
// up, or an outage (SetDown or a window) is on.
func (g *Gateway) admit(ctx context.Context) *app.GatewayError {
	if err := ctx.Err(); err != nil {
		return unavailable(err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if g.down || slices.ContainsFunc(g.outages, func(w Window) bool { return w.contains(now) }) {
		return unavailable(nil)
	}
	return nil
}

// wait sleeps the configured latency; it returns the context's error if the
// caller gives up first.
func (g *Gateway) wait(ctx context.Context) error {
	if g.latency <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(g.latency)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Intents returns every intent in creation order.
func (g *Gateway) Intents() []IntentRecord {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]IntentRecord, 0, len(g.intentOrder))
	for _, id := range g.intentOrder {
		out = append(out, g.intents[id].clone())
	}
	return out
}

// Intent returns one intent; false if unknown.
func (g *Gateway) Intent(id string) (IntentRecord, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	rec, ok := g.intents[id]
	if !ok {
		return IntentRecord{}, false
	}
	return rec.clone(), true
}

// Captures is how many times the intent was captured (0 if unknown). Replays of
// a capture do not count, so 1 means "captured exactly once".
func (g *Gateway) Captures(intentID string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if rec, ok := g.intents[intentID]; ok {
		return rec.Captures
	}
	return 0
}

// Refunds returns every refund in creation order.
func (g *Gateway) Refunds() []RefundRecord {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]RefundRecord, 0, len(g.refundOrder))
	for _, id := range g.refundOrder {
		out = append(out, *g.refunds[id])
	}
	return out
}

// RefundByID returns one refund; false if unknown.
func (g *Gateway) RefundByID(id string) (RefundRecord, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r, ok := g.refunds[id]
	if !ok {
		return RefundRecord{}, false
	}
	return *r, true
}

// Customers returns every customer in creation order.
func (g *Gateway) Customers() []CustomerRecord {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]CustomerRecord, 0, len(g.customerOrder))
	for _, id := range g.customerOrder {
		out = append(out, g.customers[id].clone())
	}
	return out
}

// Customer returns one customer; false if unknown.
func (g *Gateway) Customer(id string) (CustomerRecord, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	c, ok := g.customers[id]
	if !ok {
		return CustomerRecord{}, false
	}
	return c.clone(), true
}

// PaymentMethod returns a known payment method; false if unknown.
func (g *Gateway) PaymentMethod(id string) (PaymentMethod, bool) {
	m, ok := g.methods[id] // never written after New
	return m, ok
}

// Replays is how many calls were answered from a saved idempotent result.
func (g *Gateway) Replays() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.replays
}

// InFlight is how many idempotency keys are executing right now.
func (g *Gateway) InFlight() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.keys.inFlight()
}

func (r *IntentRecord) clone() IntentRecord {
	c := *r
	c.Metadata = maps.Clone(r.Metadata)
	return c
}

func (c *CustomerRecord) clone() CustomerRecord {
	out := *c
	out.PaymentMethods = slices.Clone(c.PaymentMethods)
	return out
}

// lastErrorCode is what app.Intent.LastErrorCode carries: the decline code when
// the issuer gave one, else the error code.
func lastErrorCode(code, declineCode string) string {
	if declineCode != "" {
		return declineCode
	}
	return code
}

// fingerprint identifies an operation and its parameters; encoding/json sorts
// map keys, so equal parameters give equal fingerprints.
func fingerprint(op string, params any) string {
	// Only strings, numbers, pointers to them, maps and slices are passed in,
	// which encoding/json cannot fail on.
	b, _ := json.Marshal(params)
	return op + "\x00" + string(b)
}

func detail(ge *app.GatewayError) (*ErrorDetail, bool) {
	if ge == nil {
		return nil, false
	}
	d, ok := ge.Err.(*ErrorDetail)
	return d, ok
}

func firstError(errs ...*app.GatewayError) *app.GatewayError {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// newID returns prefix + 24 random base62 characters. Random, not counted: the
// sandbox forgets everything on restart, but the service's database does not, and
// reused ids would collide with rows from an earlier run.
func newID(prefix string) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 24)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return prefix + string(b)
}
