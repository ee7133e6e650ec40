package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/inbox"
	"github.com/mobilitycorp/platform/pkg/outbox"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

// The trip → hold → capture flow.
//
// Event handlers (OnTripStarted, OnTripEnded) never call the gateway: in one
// transaction they claim the event id in the inbox, change the payment, write
// the ledger and queue a gateway operation in payment_operations. The worker
// (ProcessDue, RunOperations) then runs due operations against the Gateway with
// the operation id as idempotency key and, only after the gateway answered,
// writes the outcome (payment state, ledger, outbox event, operation done) in
// one transaction. A crash between the two replays the call under the same key.
//
// Hold policy (kept simple on purpose): e-bikes and e-scooters hold 10.00 EUR,
// cars and vans 50.00 EUR. TripStartedV1 carries no price estimate, so there
// is nothing better to use yet. Holds are in EUR; a trip priced in another
// currency is refused (ErrCurrencyMismatch).
//
// A final price above the hold: the hold is captured in full, the whole price
// is charged to the customer's receivable (trip_charge), and the remainder
// stays open on customer:<id>:receivable. No follow-up charge is made yet.

// Consumer names for the inbox.
const (
	ConsumerTripStarted = "payments.trip-started"
	ConsumerTripEnded   = "payments.trip-ended"
)

// Hold amounts (minor units, EUR).
const (
	HoldCurrency       = "EUR"
	HoldMicromobility  = 10_00
	HoldCarOrVan       = 50_00
	defaultBatchSize   = 32
	defaultPollEvery   = time.Second
	defaultBackoffBase = time.Second
	defaultBackoffMax  = 5 * time.Minute
)

// OperationKind is a gateway call the worker makes.
type OperationKind string

const (
	OpAuthorise OperationKind = "authorise"
	OpCapture   OperationKind = "capture"
	OpCancel    OperationKind = "cancel"
)

// Operation is one queued gateway call. ID is deterministic ("capture:<trip>")
// and is the gateway idempotency key.
type Operation struct {
	ID        string
	PaymentID string
	Kind      OperationKind
	Amount    domain.Money
	Attempts  int // including the current one, once claimed
	LastError string
}

var (
	// ErrPaymentExists is returned by Create when the payment (or its trip's) exists.
	ErrPaymentExists = errors.New("payment already exists")
	// ErrPaymentNotFound is returned when no payment has the id.
	ErrPaymentNotFound = errors.New("payment not found")
	// ErrOperationNotPending is returned when an operation is no longer pending.
	ErrOperationNotPending = errors.New("operation is not pending")
)

// PaymentStore keeps payments and the operation queue (adapters/postgres.Payments).
type PaymentStore interface {
	// Begin runs fn in one transaction.
	Begin(ctx context.Context, fn func(tx pgx.Tx) error) error
	Create(ctx context.Context, tx pgx.Tx, p *domain.Payment) error
	Get(ctx context.Context, id string) (*domain.Payment, error)
	// Update locks the payment, runs fn in the transaction and saves the payment.
	Update(ctx context.Context, id string, fn func(tx pgx.Tx, p *domain.Payment) error) error
	EnqueueTx(ctx context.Context, tx pgx.Tx, op Operation) (bool, error)
	ClaimDue(ctx context.Context, limit int) ([]Operation, error)
	DoneTx(ctx context.Context, tx pgx.Tx, id string) error
	FailTx(ctx context.Context, tx pgx.Tx, id, reason string) error
	RetryLater(ctx context.Context, id, reason string, backoff time.Duration) error
}

// LedgerStore is the part of the ledger the flows write (adapters/postgres.Ledger).
type LedgerStore interface {
	PostTx(ctx context.Context, tx pgx.Tx, e domain.JournalEntry) (domain.EntryID, bool, error)
	PostHoldTx(ctx context.Context, tx pgx.Tx, reference string, amount domain.Money) (domain.EntryID, bool, error)
	VoidHoldTx(ctx context.Context, tx pgx.Tx, reference string) error
}

// PaymentMethodRef is the saved card to charge for a customer.
type PaymentMethodRef struct {
	CustomerRef   string // gateway customer, may be empty
	PaymentMethod string // e.g. "pm_..."
}

// PaymentMethodResolver finds the card on file of a customer.
type PaymentMethodResolver func(ctx context.Context, customerID string) (PaymentMethodRef, error)

// FlowsOptions tunes the worker; zero values take defaults.
type FlowsOptions struct {
	BatchSize int           // operations claimed per ProcessDue
	PollEvery time.Duration // RunOperations' sleep when nothing was due
	// Backoff is the delay before attempt n+1 after attempt n (n ≥ 1) did not
	// complete; default exponential from 1s, capped at 5 min.
	Backoff func(attempt int) time.Duration
	Now     func() time.Time
	Logger  *slog.Logger
}

// Flows runs the trip payment flow.
type Flows struct {
	store   PaymentStore
	ledger  LedgerStore
	gateway Gateway
	methods PaymentMethodResolver
	opts    FlowsOptions
}

// NewFlows wires the flow.
func NewFlows(store PaymentStore, ledger LedgerStore, gateway Gateway, methods PaymentMethodResolver, opts FlowsOptions) *Flows {
	if opts.BatchSize <= 0 {
		opts.BatchSize = defaultBatchSize
	}
	if opts.PollEvery <= 0 {
		opts.PollEvery = defaultPollEvery
	}
	if opts.Backoff == nil {
		opts.Backoff = ExponentialBackoff(defaultBackoffBase, defaultBackoffMax)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Flows{store: store, ledger: ledger, gateway: gateway, methods: methods, opts: opts}
}

// ExponentialBackoff returns base·2^(attempt−1), capped at limit.
func ExponentialBackoff(base, limit time.Duration) func(int) time.Duration {
	return func(attempt int) time.Duration {
		d := base
		for i := 1; i < attempt && d < limit; i++ {
			d *= 2
		}
		return min(d, limit)
	}
}

// PaymentID is the payment of a trip (one per trip).
func PaymentID(tripID string) string { return "pay_" + tripID }

// AuthoriseOpID and CaptureOpID are the deterministic operation ids of a trip.
func AuthoriseOpID(tripID string) string { return "authorise:" + tripID }
func CaptureOpID(tripID string) string   { return "capture:" + tripID }

// HoldFor is the amount held at the start of a trip on vt.
func HoldFor(vt events.VehicleType) domain.Money {
	switch vt {
	case events.VehicleCar, events.VehicleVan:
		return domain.Money{AmountMinor: HoldCarOrVan, Currency: HoldCurrency}
	default:
		return domain.Money{AmountMinor: HoldMicromobility, Currency: HoldCurrency}
	}
}

// OnTripStarted creates the trip's payment, records the pending hold in the
// ledger and queues its authorisation, in one transaction. A redelivered event
// (same id) or a second event for the same trip changes nothing.
func (f *Flows) OnTripStarted(ctx context.Context, ev events.Event) error {
	if ev.Type != events.TypeTripStartedV1 {
		return fmt.Errorf("on trip started: unexpected event type %q", ev.Type)
	}
	t, err := events.Decode[events.TripStartedV1](ev)
	if err != nil {
		return err
	}
	if t.TripID == "" {
		return fmt.Errorf("trip started event %s has no trip id", ev.ID)
	}
	hold := HoldFor(t.VehicleType)
	p, err := domain.NewPayment(PaymentID(t.TripID), t.CustomerID, t.TripID, hold, f.opts.Now())
	if err != nil {
		return fmt.Errorf("trip %s: %w", t.TripID, err)
	}
	holdEntry, err := domain.HoldEntry(t.CustomerID, p.ID, hold)
	if err != nil {
		return fmt.Errorf("trip %s: %w", t.TripID, err)
	}
	return f.store.Begin(ctx, func(tx pgx.Tx) error {
		first, err := inbox.Claim(ctx, tx, ConsumerTripStarted, ev.ID)
		if err != nil || !first {
			return err
		}
		if err := f.store.Create(ctx, tx, p); errors.Is(err, ErrPaymentExists) {
			return nil // another event for this trip created it: keep the claim only
		} else if err != nil {
			return err
		}
		if _, _, err := f.ledger.PostTx(ctx, tx, holdEntry); err != nil {
			return err
		}
		_, err = f.store.EnqueueTx(ctx, tx, Operation{
			ID: AuthoriseOpID(t.TripID), PaymentID: p.ID, Kind: OpAuthorise, Amount: hold})
		return err
	})
}

// OnTripEnded requests the capture of the trip's final price and queues it, in
// one transaction; the gateway is called later by the worker, so the trip end
// never waits for it. If the authorisation has not completed yet, the capture
// waits in the queue. A redelivered event changes nothing. A trip whose start
// has not been processed yet fails with ErrPaymentNotFound (redeliver later).
func (f *Flows) OnTripEnded(ctx context.Context, ev events.Event) error {
	if ev.Type != events.TypeTripEndedV1 {
		return fmt.Errorf("on trip ended: unexpected event type %q", ev.Type)
	}
	t, err := events.Decode[events.TripEndedV1](ev)
	if err != nil {
		return err
	}
	price, err := domain.NewMoney(t.Price.AmountMinor, t.Price.Currency)
	if err != nil {
		return fmt.Errorf("trip %s price: %w", t.TripID, err)
	}
	if price.AmountMinor < 0 {
		return fmt.Errorf("trip %s: negative price %s", t.TripID, price)
	}
	errDuplicate := errors.New("duplicate")
	err = f.store.Update(ctx, PaymentID(t.TripID), func(tx pgx.Tx, p *domain.Payment) error {
		first, err := inbox.Claim(ctx, tx, ConsumerTripEnded, ev.ID)
		if err != nil {
			return err
		}
		if !first {
			return errDuplicate // roll back: nothing to save
		}
		if price.Currency != p.Held.Currency {
			return fmt.Errorf("trip %s: %w: price in %s, hold in %s", t.TripID, domain.ErrCurrencyMismatch, price.Currency, p.Held.Currency)
		}
		if p.Status == domain.PaymentAuthorised {
			if err := p.RequestCapture(price, f.opts.Now()); err != nil {
				return err
			}
		}
		_, err = f.store.EnqueueTx(ctx, tx, Operation{
			ID: CaptureOpID(t.TripID), PaymentID: p.ID, Kind: OpCapture, Amount: price})
		return err
	})
	if errors.Is(err, errDuplicate) {
		return nil
	}
	return err
}

func (f *Flows) run(ctx context.Context, op Operation) error {
	p, err := f.store.Get(ctx, op.PaymentID)
	if err != nil {
		return err
	}
	switch op.Kind {
	case OpAuthorise:
		return f.authorise(ctx, op, p)
	case OpCapture:
		return f.capture(ctx, op, p)
	default:
		return f.store.Update(ctx, op.PaymentID, func(tx pgx.Tx, _ *domain.Payment) error {
			return f.store.FailTx(ctx, tx, op.ID, "unsupported operation kind "+string(op.Kind))
		})
	}
}

func (f *Flows) authorise(ctx context.Context, op Operation, p *domain.Payment) error {
	if p.Status != domain.PaymentPendingAuthorisation { // already resolved: a replayed operation
		return f.store.Update(ctx, p.ID, func(tx pgx.Tx, _ *domain.Payment) error { return f.store.DoneTx(ctx, tx, op.ID) })
	}
	pm, err := f.methods(ctx, p.CustomerID)
	if err != nil {
		return fmt.Errorf("payment method of %s: %w", p.CustomerID, err)
	}
	intent, gerr := f.gateway.Authorise(ctx, AuthoriseRequest{
		IdempotencyKey: op.ID,
		CustomerRef:    pm.CustomerRef,
		PaymentMethod:  pm.PaymentMethod,
		Amount:         op.Amount,
		Description:    "Trip " + p.TripID,
		Metadata:       map[string]string{"trip_id": p.TripID, "payment_id": p.ID},
	})
	if gerr != nil {
		if IsRetryable(gerr) {
			return gerr
		}
		return f.store.Update(ctx, p.ID, func(tx pgx.Tx, p *domain.Payment) error {
			if p.Status != domain.PaymentPendingAuthorisation {
				return f.store.DoneTx(ctx, tx, op.ID)
			}
			code := failureCode(gerr)
			now := f.opts.Now()
			if err := p.Failed(code, now); err != nil {
				return err
			}
			p.IntentID = intent.ID // a decline still creates an intent; keep it for support
			if err := f.ledger.VoidHoldTx(ctx, tx, p.ID); err != nil {
				return err
			}
			if err := f.emit(ctx, tx, p.ID, events.TypePaymentFailedV1, events.PaymentFailedV1{
				PaymentID: p.ID, CustomerID: p.CustomerID, TripID: p.TripID, Amount: eventMoney(op.Amount),
				Stage: "authorise", Code: code, Reason: gerr.Error(), FailedAt: now}); err != nil {
				return err
			}
			return f.store.FailTx(ctx, tx, op.ID, gerr.Error())
		})
	}
	return f.store.Update(ctx, p.ID, func(tx pgx.Tx, p *domain.Payment) error {
		if p.Status != domain.PaymentPendingAuthorisation {
			return f.store.DoneTx(ctx, tx, op.ID)
		}
		now := f.opts.Now()
		if err := p.Authorised(intent.ID, intent.Amount, now); err != nil {
			return err
		}
		if err := f.emit(ctx, tx, p.ID, events.TypePaymentAuthorisedV1, events.PaymentAuthorisedV1{
			PaymentID: p.ID, CustomerID: p.CustomerID, TripID: p.TripID, Amount: eventMoney(intent.Amount),
			ProviderRef: intent.ID, AuthorisedAt: now}); err != nil {
			return err
		}
		return f.store.DoneTx(ctx, tx, op.ID)
	})
}

func (f *Flows) capture(ctx context.Context, op Operation, p *domain.Payment) error {
	switch p.Status {
	case domain.PaymentPendingAuthorisation:
		return waitError{"waiting for authorisation of " + p.ID}
	case domain.PaymentCaptured, domain.PaymentCanceled:
		return f.store.Update(ctx, p.ID, func(tx pgx.Tx, _ *domain.Payment) error { return f.store.DoneTx(ctx, tx, op.ID) })
	case domain.PaymentFailed:
		// Nothing to capture: the charge stays open on the customer's receivable.
		return f.store.Update(ctx, p.ID, func(tx pgx.Tx, p *domain.Payment) error {
			if err := f.charge(ctx, tx, p, op.Amount); err != nil {
				return err
			}
			return f.store.FailTx(ctx, tx, op.ID, "payment "+string(p.Status)+" ("+p.FailureCode+"): charge left on the receivable")
		})
	}
	if !op.Amount.IsPositive() {
		return f.cancel(ctx, op, p)
	}
	split, err := p.SplitCapture(op.Amount)
	if err != nil {
		return err
	}
	intent, gerr := f.gateway.Capture(ctx, op.ID, p.IntentID, split.FromHold)
	if gerr != nil {
		if IsRetryable(gerr) {
			return gerr
		}
		return f.store.Update(ctx, p.ID, func(tx pgx.Tx, p *domain.Payment) error {
			now := f.opts.Now()
			if p.Status == domain.PaymentAuthorised {
				if err := p.RequestCapture(op.Amount, now); err != nil {
					return err
				}
			}
			code := failureCode(gerr)
			if err := p.Failed(code, now); err != nil {
				return err
			}
			if err := f.charge(ctx, tx, p, op.Amount); err != nil {
				return err
			}
			if err := f.ledger.VoidHoldTx(ctx, tx, p.ID); err != nil {
				return err
			}
			if err := f.emit(ctx, tx, p.ID, events.TypePaymentFailedV1, events.PaymentFailedV1{
				PaymentID: p.ID, CustomerID: p.CustomerID, TripID: p.TripID, Amount: eventMoney(op.Amount),
				Stage: "capture", Code: code, Reason: gerr.Error(), FailedAt: now}); err != nil {
				return err
			}
			return f.store.FailTx(ctx, tx, op.ID, gerr.Error())
		})
	}
	return f.store.Update(ctx, p.ID, func(tx pgx.Tx, p *domain.Payment) error {
		now := f.opts.Now()
		if p.Status == domain.PaymentAuthorised {
			if err := p.RequestCapture(op.Amount, now); err != nil {
				return err
			}
		}
		if p.Status != domain.PaymentCapturePending {
			return f.store.DoneTx(ctx, tx, op.ID) // resolved meanwhile
		}
		if err := f.charge(ctx, tx, p, op.Amount); err != nil {
			return err
		}
		if _, _, err := f.ledger.PostHoldTx(ctx, tx, p.ID, split.FromHold); err != nil {
			return err
		}
		if err := p.CaptureSucceeded(split.FromHold, now); err != nil {
			return err
		}
		if err := f.emit(ctx, tx, p.ID, events.TypePaymentCapturedV1, events.PaymentCapturedV1{
			PaymentID: p.ID, CustomerID: p.CustomerID, TripID: p.TripID, Amount: eventMoney(split.FromHold),
			ProviderRef: intent.ID, CapturedAt: now}); err != nil {
			return err
		}
		return f.store.DoneTx(ctx, tx, op.ID)
	})
}

// cancel releases the hold of a trip that cost nothing.
func (f *Flows) cancel(ctx context.Context, op Operation, p *domain.Payment) error {
	if _, gerr := f.gateway.Cancel(ctx, op.ID, p.IntentID); gerr != nil {
		if IsRetryable(gerr) {
			return gerr
		}
		return fmt.Errorf("cancel %s: %w", p.IntentID, gerr) // left queued for a human to look at
	}
	return f.store.Update(ctx, p.ID, func(tx pgx.Tx, p *domain.Payment) error {
		if p.Status != domain.PaymentAuthorised && p.Status != domain.PaymentCapturePending {
			return f.store.DoneTx(ctx, tx, op.ID)
		}
		if err := p.Canceled(f.opts.Now()); err != nil {
			return err
		}
		if err := f.ledger.VoidHoldTx(ctx, tx, p.ID); err != nil {
			return err
		}
		return f.store.DoneTx(ctx, tx, op.ID)
	})
}

// charge posts the trip's price to the customer's receivable (trip_charge,
// reference trip id). The unlock fee is not broken out by TripEndedV1, so the
// whole price is ride revenue.
func (f *Flows) charge(ctx context.Context, tx pgx.Tx, p *domain.Payment, price domain.Money) error {
	if !price.IsPositive() {
		return nil
	}
	e, err := domain.TripChargeEntry(p.CustomerID, p.TripID, domain.Money{Currency: price.Currency}, price)
	if err != nil {
		return err
	}
	_, _, err = f.ledger.PostTx(ctx, tx, e)
	return err
}

func (f *Flows) emit(ctx context.Context, tx pgx.Tx, paymentID, eventType string, data any) error {
	ev, err := events.New(eventType, events.SourcePayments, paymentID, data)
	if err != nil {
		return err
	}
	return outbox.Enqueue(ctx, tx, events.TopicPaymentsEvents, paymentID, ev)
}

func eventMoney(m domain.Money) events.Money {
	return events.Money{AmountMinor: m.AmountMinor, Currency: m.Currency}
}

// failureCode is the most specific code of a gateway refusal.
func failureCode(err error) string {
	var ge *GatewayError
	if !errors.As(err, &ge) {
		return "error"
	}
	switch {
	case ge.DeclineCode != "":
		return ge.DeclineCode
	case ge.Code != "":
		return ge.Code
	}
	return string(ge.Kind)
}
