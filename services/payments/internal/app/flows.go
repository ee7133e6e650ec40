package app

import (
	"cmp"
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
// At the trip's end its whole price is charged to the customer's receivable
// (trip_charge) and available credit pays for it first (credits.go); the rest
// is what the capture takes. A rest above the hold: if the card allows
// incremental authorisation, the hold is raised to the rest first and all of
// it is captured; otherwise the hold is captured in full and the remainder is
// queued as a separate charge (kind trip_remainder, charges.go), in the
// capture's transaction.

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
	// Payment is the operation's payment as ClaimDue read it (no lock: the
	// flows re-read it under lock before writing), which saves a read per
	// run; nil means run reads it.
	Payment *domain.Payment
}

var (
	// ErrPaymentExists is returned by Create when the payment (or its trip's) exists.
	ErrPaymentExists = errors.New("payment already exists")
	// ErrPaymentNotFound is returned when no payment has the id.
	ErrPaymentNotFound = errors.New("payment not found")
	// ErrOperationNotPending is returned when an operation is no longer pending.
	ErrOperationNotPending = errors.New("operation is not pending")
)

// PaymentStore keeps payments, their refunds, customers' credits and the
// operation queue (adapters/postgres.Payments).
type PaymentStore interface {
	RefundStore
	CreditStore
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
	// PostTxWithBalance is PostTx that also reads the posted balance of
	// account in currency, in the same round trip.
	PostTxWithBalance(ctx context.Context, tx pgx.Tx, e domain.JournalEntry, account domain.AccountID, currency string) (domain.EntryID, bool, domain.Money, error)
	PostHoldTx(ctx context.Context, tx pgx.Tx, reference string, amount domain.Money) (domain.EntryID, bool, error)
	// PostExpectedHoldTx is PostHoldTx for a caller that knows the hold: one
	// round trip when the stored hold is pending with exactly its lines.
	PostExpectedHoldTx(ctx context.Context, tx pgx.Tx, hold domain.JournalEntry, amount domain.Money) (domain.EntryID, bool, error)
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
	// RefundApprovalThreshold: a refund above this amount (minor units of the
	// payment's currency) waits for a second member of staff. Zero means
	// DefaultRefundApprovalThreshold; negative means every refund does.
	RefundApprovalThreshold int64
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
	if opts.RefundApprovalThreshold == 0 {
		opts.RefundApprovalThreshold = DefaultRefundApprovalThreshold
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

// OnTripEnded charges the trip's final price to the customer, applies their
// credit, and requests and queues the capture of the rest, in one transaction;
// the gateway is called later by the worker, so the trip end never waits for
// it. If the authorisation has not completed yet, the capture waits in the
// queue. A redelivered event changes nothing. A trip whose start has not been
// processed yet fails with ErrPaymentNotFound (redeliver later).
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
		credit, err := f.charge(ctx, tx, p, price)
		if err != nil {
			return err
		}
		due := price
		if credit.IsPositive() { // most customers have none: no lock, no second read
			if due, err = f.applyCreditTx(ctx, tx, p, price); err != nil {
				return err
			}
		}
		if p.Status == domain.PaymentAuthorised {
			if err := p.RequestCapture(due, f.opts.Now()); err != nil {
				return err
			}
		}
		_, err = f.store.EnqueueTx(ctx, tx, Operation{
			ID: CaptureOpID(t.TripID), PaymentID: p.ID, Kind: OpCapture, Amount: due})
		return err
	})
	if errors.Is(err, errDuplicate) {
		return nil
	}
	return err
}

func (f *Flows) run(ctx context.Context, op Operation) error {
	p := op.Payment
	if p == nil || p.ID != op.PaymentID {
		var err error
		if p, err = f.store.Get(ctx, op.PaymentID); err != nil {
			return err
		}
	}
	switch op.Kind {
	case OpAuthorise:
		return f.authorise(ctx, op, p)
	case OpCapture:
		return f.capture(ctx, op, p)
	case OpCharge:
		return f.runCharge(ctx, op, p)
	case OpRefund:
		return f.runRefund(ctx, op, p)
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
	if gerr != nil && !IsRetryable(gerr) {
		recovered, err := f.recoverAuthorisation(ctx, cmp.Or(intent.ID, p.IntentID), op.Amount, gerr)
		if err != nil {
			return err
		}
		if recovered != nil {
			intent, gerr = *recovered, nil
		}
	}
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
			if err := f.emit(ctx, tx, p.ID, events.TypePaymentAuthorisationFailedV1, events.PaymentFailedV1{
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
	case domain.PaymentCaptured:
		return f.store.Update(ctx, p.ID, func(tx pgx.Tx, _ *domain.Payment) error { return f.store.DoneTx(ctx, tx, op.ID) })
	case domain.PaymentCanceled:
		// The hold was released before the trip was priced (e.g. the gateway let an
		// uncaptured hold expire): the price, already on the receivable since the
		// trip ended, is collected by a separate charge of the whole amount.
		return f.store.Update(ctx, p.ID, func(tx pgx.Tx, p *domain.Payment) error {
			if op.Amount.IsPositive() {
				charge, err := domain.NewCharge(ChargeID(domain.PaymentKindTripRemainder, p.TripID), domain.PaymentKindTripRemainder,
					p.TripID, p.CustomerID, p.TripID, "hold released before capture", op.Amount, f.opts.Now())
				if err != nil {
					return err
				}
				if err := f.queueChargeTx(ctx, tx, charge, nil); err != nil {
					return err
				}
			}
			return f.store.DoneTx(ctx, tx, op.ID)
		})
	case domain.PaymentFailed:
		// Nothing to capture: the trip's charge, posted at its end, stays open on the receivable.
		return f.store.Update(ctx, p.ID, func(tx pgx.Tx, p *domain.Payment) error {
			return f.store.FailTx(ctx, tx, op.ID, "payment "+string(p.Status)+" ("+p.FailureCode+"): charge left on the receivable")
		})
	}
	if !op.Amount.IsPositive() {
		return f.cancel(ctx, op, p)
	}
	taken, intent, gerr, err := f.captureAtGateway(ctx, op, p)
	if err != nil {
		return err
	}
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
		// The ledger's hold is the one placed at the start; an increment's
		// extra is captured without a hold entry, settling the receivable too.
		fromHold := domain.Money{AmountMinor: min(taken.AmountMinor, p.Held.AmountMinor), Currency: taken.Currency}
		if err := f.postHoldTx(ctx, tx, p, fromHold); err != nil {
			return err
		}
		if extra := taken.AmountMinor - fromHold.AmountMinor; extra > 0 {
			e, err := domain.CaptureEntry(p.CustomerID, op.ID, domain.Money{AmountMinor: extra, Currency: taken.Currency})
			if err != nil {
				return err
			}
			if _, _, err := f.ledger.PostTx(ctx, tx, e); err != nil {
				return err
			}
			if err := p.HoldIncremented(taken, now); err != nil {
				return err
			}
		}
		if err := p.CaptureSucceeded(taken, now); err != nil {
			return err
		}
		if err := f.emit(ctx, tx, p.ID, events.TypePaymentCapturedV1, events.PaymentCapturedV1{
			PaymentID: p.ID, CustomerID: p.CustomerID, TripID: p.TripID, Amount: eventMoney(taken),
			ProviderRef: intent.ID, CapturedAt: now, Kind: string(domain.PaymentKindTrip)}); err != nil {
			return err
		}
		if rest := op.Amount.AmountMinor - taken.AmountMinor; rest > 0 {
			// Already on the receivable (trip_charge): the charge only collects it.
			remainder, err := domain.NewCharge(ChargeID(domain.PaymentKindTripRemainder, p.TripID), domain.PaymentKindTripRemainder,
				p.TripID, p.CustomerID, p.TripID, "", domain.Money{AmountMinor: rest, Currency: taken.Currency}, now)
			if err != nil {
				return err
			}
			if err := f.queueChargeTx(ctx, tx, remainder, nil); err != nil {
				return err
			}
		}
		return f.store.DoneTx(ctx, tx, op.ID)
	})
}

// captureAtGateway captures op.Amount from the trip's hold when the hold
// covers it or can be incremented to, else the whole hold (the caller charges
// the rest separately); taken is what it captured. gerr is the gateway's
// refusal of the capture; err any other failure (the operation is retried).
func (f *Flows) captureAtGateway(ctx context.Context, op Operation, p *domain.Payment) (taken domain.Money, intent Intent, gerr, err error) {
	taken = op.Amount
	if op.Amount.AmountMinor > p.Held.AmountMinor {
		taken = p.Held
		in, err := f.gateway.GetIntent(ctx, p.IntentID)
		if err != nil {
			return taken, Intent{}, nil, fmt.Errorf("intent %s before capture above the hold: %w", p.IntentID, err)
		}
		switch {
		case in.Status == StatusSucceeded && in.Amount.Currency == op.Amount.Currency &&
			(in.AmountReceived == op.Amount.AmountMinor || in.AmountReceived == p.Held.AmountMinor):
			// An earlier attempt captured and its write was lost.
			return domain.Money{AmountMinor: in.AmountReceived, Currency: op.Amount.Currency}, in, nil, nil
		case in.Status == StatusRequiresCapture && in.IncrementalAuth:
			if in.Amount.AmountMinor < op.Amount.AmountMinor {
				inc, ierr := f.gateway.IncrementAuthorisation(ctx, op.ID+":increment", p.IntentID, op.Amount)
				switch {
				case ierr == nil:
					in = inc
				case IsRetryable(ierr):
					return taken, Intent{}, nil, ierr
				default:
					f.opts.Logger.WarnContext(ctx, "incremental authorisation refused: capturing the hold, charging the rest",
						"payment_id", p.ID, "intent_id", p.IntentID, "err", ierr)
				}
			}
			if in.Amount.AmountMinor >= op.Amount.AmountMinor {
				taken = op.Amount
			}
		}
	}
	intent, gerr = f.gateway.Capture(ctx, op.ID, p.IntentID, taken)
	if gerr != nil && !IsRetryable(gerr) {
		recovered, err := f.recoverCapture(ctx, p.IntentID, taken, gerr)
		if err != nil {
			return taken, Intent{}, nil, err
		}
		if recovered != nil {
			return taken, *recovered, nil, nil
		}
	}
	return taken, intent, gerr, nil
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
// reference trip id) when the trip ends, and returns the customer's available
// credit in the price's currency, read in the same round trip without a lock
// (applyCreditTx reads it again under the customer's lock before spending).
// The unlock fee is not broken out by TripEndedV1, so the whole price is ride
// revenue. A free trip posts nothing and needs no credit (zero).
func (f *Flows) charge(ctx context.Context, tx pgx.Tx, p *domain.Payment, price domain.Money) (credit domain.Money, err error) {
	if !price.IsPositive() {
		return domain.Money{Currency: price.Currency}, nil
	}
	e, err := domain.TripChargeEntry(p.CustomerID, p.TripID, domain.Money{Currency: price.Currency}, price)
	if err != nil {
		return domain.Money{}, err
	}
	_, _, posted, err := f.ledger.PostTxWithBalance(ctx, tx, e, domain.CustomerCredit(p.CustomerID), price.Currency)
	// The credit account is a liability: a credit (negative) balance is what we owe.
	return posted.Neg(), err
}

// postHoldTx posts amount of the payment's hold in tx: in one round trip when
// the ledger's hold is the one OnTripStarted placed for what the gateway
// authorised (the usual case); otherwise the ledger's hold decides.
func (f *Flows) postHoldTx(ctx context.Context, tx pgx.Tx, p *domain.Payment, amount domain.Money) error {
	hold, err := domain.HoldEntry(p.CustomerID, p.ID, p.Held)
	if err != nil {
		_, _, err = f.ledger.PostHoldTx(ctx, tx, p.ID, amount)
		return err
	}
	_, _, err = f.ledger.PostExpectedHoldTx(ctx, tx, hold, amount)
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
