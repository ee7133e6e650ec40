package domain

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
)

// The double-entry ledger.
//
// Sign convention: a line's amount is a DEBIT when positive and a CREDIT when
// negative, so every entry sums to zero per currency and a balance is the plain
// sum of an account's lines. Asset and expense accounts therefore carry positive
// (debit) balances; liability and revenue accounts carry negative (credit) ones.
//
// Chart of accounts (AccountID scheme):
//
//	customer:<id>:receivable  asset      what the customer owes us (trip charges, fines) until captured
//	customer:<id>:credit      liability  reward credits we owe the customer; applied to a later trip
//	customer:<id>:hold        memo       funds authorised on the customer's card, not yet captured
//	gateway:holds             memo       counter-account of every customer hold
//	gateway:clearing          asset      captured cash at the payment gateway, not yet paid out to us
//	revenue:rides             revenue    per-minute ride charges
//	revenue:unlock_fees       revenue    unlock fees
//	revenue:fines             revenue    late and wrong-place fines
//	revenue:refunds           contra-revenue  money given back (debit balance, reduces revenue)
//	expense:rewards           expense    reward credits granted (marketing cost of rebalancing the fleet)
//
// The memo pair (customer hold / gateway holds) records pre-authorisations: they
// are not money yet, so they live in their own accounts and net to zero once the
// hold is posted or voided. The liability for all credits is the sum of the
// customer:*:credit accounts; there is no separate aggregate account to keep in step.
//
// Events and their entries (Dr = positive line, Cr = negative line):
//
//	trip_charge     Dr customer receivable        Cr revenue:unlock_fees, revenue:rides
//	fine            Dr customer receivable        Cr revenue:fines
//	capture         Dr gateway:clearing           Cr customer receivable
//	refund          Dr revenue:refunds            Cr gateway:clearing
//	credit_granted  Dr expense:rewards            Cr customer credit
//	credit_applied  Dr customer credit            Cr customer receivable
//	hold (pending)  Dr customer hold              Cr gateway:holds
//	hold_post       Cr customer hold, Dr gateway:holds (the whole hold is released)
//	                Dr gateway:clearing, Cr customer receivable (the captured part)
//	reversal        every line of a posted entry, negated (corrections are new entries)

// AccountID names a ledger account; see the chart of accounts above.
type AccountID string

// System accounts.
const (
	AccountGatewayClearing   AccountID = "gateway:clearing"
	AccountGatewayHolds      AccountID = "gateway:holds"
	AccountRevenueRides      AccountID = "revenue:rides"
	AccountRevenueUnlockFees AccountID = "revenue:unlock_fees"
	AccountRevenueFines      AccountID = "revenue:fines"
	AccountRevenueRefunds    AccountID = "revenue:refunds"
	AccountExpenseRewards    AccountID = "expense:rewards"
)

// Suffixes of the per-customer accounts.
const (
	customerPrefix    = "customer:"
	suffixReceivable  = "receivable"
	suffixCredit      = "credit"
	suffixHold        = "hold"
	maxCustomerIDSize = 128
)

// CustomerReceivable is what the customer owes us.
func CustomerReceivable(customerID string) AccountID {
	return customerAccount(customerID, suffixReceivable)
}

// CustomerCredit is the reward credit we owe the customer.
func CustomerCredit(customerID string) AccountID {
	return customerAccount(customerID, suffixCredit)
}

// CustomerHold is the amount authorised (held) on the customer's card.
func CustomerHold(customerID string) AccountID { return customerAccount(customerID, suffixHold) }

func customerAccount(customerID, suffix string) AccountID {
	return AccountID(customerPrefix + customerID + ":" + suffix)
}

// Customer returns the customer id of a per-customer account.
func (a AccountID) Customer() (string, bool) {
	rest, ok := strings.CutPrefix(string(a), customerPrefix)
	if !ok {
		return "", false
	}
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return "", false
	}
	return rest[:i], true
}

// Validate reports whether a belongs to the chart of accounts.
func (a AccountID) Validate() error {
	switch a {
	case AccountGatewayClearing, AccountGatewayHolds, AccountRevenueRides, AccountRevenueUnlockFees,
		AccountRevenueFines, AccountRevenueRefunds, AccountExpenseRewards:
		return nil
	}
	id, ok := a.Customer()
	if !ok {
		return fmt.Errorf("account %q is not in the chart of accounts", a)
	}
	if err := validCustomerID(id); err != nil {
		return fmt.Errorf("account %q: %w", a, err)
	}
	switch strings.TrimPrefix(string(a), customerPrefix+id+":") {
	case suffixReceivable, suffixCredit, suffixHold:
		return nil
	}
	return fmt.Errorf("account %q is not in the chart of accounts", a)
}

// validCustomerID keeps the account scheme unambiguous: the id may not contain
// the separator, and blanks or control characters would make accounts look alike.
func validCustomerID(id string) error {
	if id == "" || len(id) > maxCustomerIDSize {
		return fmt.Errorf("customer id must have 1 to %d bytes", maxCustomerIDSize)
	}
	if strings.ContainsFunc(id, func(r rune) bool { return r == ':' || unicode.IsSpace(r) || !unicode.IsPrint(r) }) {
		return fmt.Errorf("customer id %q contains a colon, a blank or a control character", id)
	}
	return nil
}

// EntryKind is the business event an entry records. (Kind, Reference) is unique,
// so a redelivered event can never post twice.
type EntryKind string

const (
	KindTripCharge    EntryKind = "trip_charge"
	KindCapture       EntryKind = "capture"
	KindRefund        EntryKind = "refund"
	KindFine          EntryKind = "fine"
	KindCreditGranted EntryKind = "credit_granted"
	KindCreditApplied EntryKind = "credit_applied"
	KindHold          EntryKind = "hold"      // a pending pre-authorisation
	KindHoldPost      EntryKind = "hold_post" // captures (part of) the hold with the same reference
	KindReversal      EntryKind = "reversal"  // negates a posted entry
)

func (k EntryKind) valid() bool {
	switch k {
	case KindTripCharge, KindCapture, KindRefund, KindFine, KindCreditGranted, KindCreditApplied,
		KindHold, KindHoldPost, KindReversal:
		return true
	}
	return false
}

// EntryStatus: posted entries make up the books; pending entries (holds) only
// count in pending balances; voided entries count nowhere.
type EntryStatus string

const (
	EntryPending EntryStatus = "pending"
	EntryPosted  EntryStatus = "posted"
	EntryVoided  EntryStatus = "voided"
)

// CanBecome reports whether an entry may move from s to t: only a pending
// entry changes, once, to posted or voided. Everything else is append-only.
func (s EntryStatus) CanBecome(t EntryStatus) bool {
	return s == EntryPending && (t == EntryPosted || t == EntryVoided)
}

// EntryID identifies a stored entry; zero until the entry is stored.
type EntryID int64

// Line is one leg of an entry: positive amounts debit, negative amounts credit.
type Line struct {
	Account AccountID
	Amount  Money
}

// JournalEntry is one balanced business event.
type JournalEntry struct {
	ID        EntryID // assigned by the store
	Kind      EntryKind
	Reference string // operation, trip or payment id; unique per kind
	Lines     []Line
	Status    EntryStatus
	CreatedAt time.Time // assigned by the store
}

// Limits that keep every per-currency sum far from int64 overflow
// (maxLines × maxLineMinor < 2^63) and references index-friendly.
const (
	maxLines         = 1000
	maxLineMinor     = 1_000_000_000_000_000 // 10^13 EUR: no real line comes close
	maxReferenceSize = 256
)

var (
	// ErrInvalidEntry is returned for an entry that breaks a ledger rule.
	ErrInvalidEntry = errors.New("invalid journal entry")
	// ErrUnbalanced is returned when an entry's lines do not sum to zero in a currency.
	ErrUnbalanced = errors.New("journal entry does not balance")
	// ErrHoldResolved is returned when a hold was already posted or voided.
	ErrHoldResolved = errors.New("hold already resolved")
	// ErrExceedsHold is returned when posting more than was held.
	ErrExceedsHold = errors.New("amount exceeds the hold")
)

// Validate checks an entry about to be posted: a known kind, a reference, status
// pending or posted, at least two lines on valid accounts, no zero line, and the
// lines summing to zero in each currency (several currencies may meet in one
// entry, as long as each balances on its own).
func (e JournalEntry) Validate() error {
	if !e.Kind.valid() {
		return fmt.Errorf("%w: unknown kind %q", ErrInvalidEntry, e.Kind)
	}
	if e.Reference == "" || len(e.Reference) > maxReferenceSize {
		return fmt.Errorf("%w: reference must have 1 to %d bytes", ErrInvalidEntry, maxReferenceSize)
	}
	if e.Status != EntryPending && e.Status != EntryPosted {
		return fmt.Errorf("%w: a new entry is pending or posted, not %q", ErrInvalidEntry, e.Status)
	}
	if len(e.Lines) < 2 || len(e.Lines) > maxLines {
		return fmt.Errorf("%w: needs 2 to %d lines, has %d", ErrInvalidEntry, maxLines, len(e.Lines))
	}
	sums := make(map[string]int64, 1)
	for i, l := range e.Lines {
		if err := l.Account.Validate(); err != nil {
			return fmt.Errorf("%w: line %d: %w", ErrInvalidEntry, i, err)
		}
		if _, err := NewMoney(l.Amount.AmountMinor, l.Amount.Currency); err != nil {
			return fmt.Errorf("%w: line %d: %w", ErrInvalidEntry, i, err)
		}
		if l.Amount.AmountMinor == 0 {
			return fmt.Errorf("%w: line %d (%s) is zero", ErrInvalidEntry, i, l.Account)
		}
		if l.Amount.AmountMinor > maxLineMinor || l.Amount.AmountMinor < -maxLineMinor {
			return fmt.Errorf("%w: line %d amount %s is out of range", ErrInvalidEntry, i, l.Amount)
		}
		sums[l.Amount.Currency] += l.Amount.AmountMinor
	}
	currencies := make([]string, 0, len(sums))
	for c := range sums {
		currencies = append(currencies, c)
	}
	slices.Sort(currencies) // deterministic error text
	for _, c := range currencies {
		if sums[c] != 0 {
			return fmt.Errorf("%w: %s off by %s", ErrUnbalanced, c, Money{AmountMinor: sums[c], Currency: c})
		}
	}
	return nil
}

// NewEntry builds and validates an entry.
func NewEntry(kind EntryKind, reference string, status EntryStatus, lines ...Line) (JournalEntry, error) {
	e := JournalEntry{Kind: kind, Reference: reference, Status: status, Lines: lines}
	if err := e.Validate(); err != nil {
		return JournalEntry{}, err
	}
	return e, nil
}

// positive rejects the zero and negative amounts that no business event carries.
func positive(what string, m Money) error {
	if !m.IsPositive() {
		return fmt.Errorf("%w: %s must be positive, got %s", ErrInvalidEntry, what, m)
	}
	return nil
}

// TripChargeEntry charges a finished trip to the customer: the unlock fee and the
// per-minute ride fee are separate revenue lines. Either may be zero (a free
// unlock promotion), not both. Reference: the trip id, so a trip is charged once.
func TripChargeEntry(customerID, tripID string, unlockFee, rideFee Money) (JournalEntry, error) {
	if unlockFee.AmountMinor < 0 || rideFee.AmountMinor < 0 {
		return JournalEntry{}, fmt.Errorf("%w: negative fee (unlock %s, ride %s)", ErrInvalidEntry, unlockFee, rideFee)
	}
	total, err := unlockFee.Add(rideFee)
	if err != nil {
		return JournalEntry{}, err
	}
	if err := positive("trip charge", total); err != nil {
		return JournalEntry{}, err
	}
	lines := []Line{{CustomerReceivable(customerID), total}}
	if unlockFee.IsPositive() {
		lines = append(lines, Line{AccountRevenueUnlockFees, unlockFee.Neg()})
	}
	if rideFee.IsPositive() {
		lines = append(lines, Line{AccountRevenueRides, rideFee.Neg()})
	}
	return NewEntry(KindTripCharge, tripID, EntryPosted, lines...)
}

// FineEntry charges a fine (late or wrong-place return) to the customer.
func FineEntry(customerID, fineID string, amount Money) (JournalEntry, error) {
	if err := positive("fine", amount); err != nil {
		return JournalEntry{}, err
	}
	return NewEntry(KindFine, fineID, EntryPosted,
		Line{CustomerReceivable(customerID), amount},
		Line{AccountRevenueFines, amount.Neg()})
}

// CaptureEntry records cash captured without a prior hold (e.g. a fine charged
// off-session, or a trip's cost above its hold): the receivable is settled and
// the cash sits in gateway clearing. Reference: our capture operation id.
func CaptureEntry(customerID, operationID string, amount Money) (JournalEntry, error) {
	if err := positive("capture", amount); err != nil {
		return JournalEntry{}, err
	}
	return NewEntry(KindCapture, operationID, EntryPosted,
		Line{AccountGatewayClearing, amount},
		Line{CustomerReceivable(customerID), amount.Neg()})
}

// RefundEntry gives captured cash back: it leaves gateway clearing and reduces
// revenue through the contra-revenue account. Reference: our refund operation id.
func RefundEntry(operationID string, amount Money) (JournalEntry, error) {
	if err := positive("refund", amount); err != nil {
		return JournalEntry{}, err
	}
	return NewEntry(KindRefund, operationID, EntryPosted,
		Line{AccountRevenueRefunds, amount},
		Line{AccountGatewayClearing, amount.Neg()})
}

// GrantCreditEntry grants a reward credit (e.g. for returning to an under-served
// bay): a marketing expense and a liability towards the customer.
func GrantCreditEntry(customerID, rewardID string, amount Money) (JournalEntry, error) {
	if err := positive("credit", amount); err != nil {
		return JournalEntry{}, err
	}
	return NewEntry(KindCreditGranted, rewardID, EntryPosted,
		Line{AccountExpenseRewards, amount},
		Line{CustomerCredit(customerID), amount.Neg()})
}

// ApplyCreditEntry spends credit on a trip: the liability shrinks and so does what
// the customer owes. Reference: the trip id (one application per trip). The
// caller caps amount at the available credit and the trip's charge; the entry
// cannot see balances.
func ApplyCreditEntry(customerID, tripID string, amount Money) (JournalEntry, error) {
	if err := positive("applied credit", amount); err != nil {
		return JournalEntry{}, err
	}
	return NewEntry(KindCreditApplied, tripID, EntryPosted,
		Line{CustomerCredit(customerID), amount},
		Line{CustomerReceivable(customerID), amount.Neg()})
}

// HoldEntry records a pre-authorisation as a pending entry on the memo accounts.
// Reference: the payment (or authorisation operation) id; the hold_post that
// later captures it carries the same reference.
func HoldEntry(customerID, reference string, amount Money) (JournalEntry, error) {
	if err := positive("hold", amount); err != nil {
		return JournalEntry{}, err
	}
	return NewEntry(KindHold, reference, EntryPending,
		Line{CustomerHold(customerID), amount},
		Line{AccountGatewayHolds, amount.Neg()})
}

// HoldTerms returns the customer and the amount of a hold entry.
func HoldTerms(hold JournalEntry) (customerID string, held Money, err error) {
	if hold.Kind != KindHold || len(hold.Lines) != 2 {
		return "", Money{}, fmt.Errorf("%w: entry %d (%s) is not a hold", ErrInvalidEntry, hold.ID, hold.Kind)
	}
	for _, l := range hold.Lines {
		if id, ok := l.Account.Customer(); ok && l.Account == CustomerHold(id) && l.Amount.IsPositive() {
			return id, l.Amount, nil
		}
	}
	return "", Money{}, fmt.Errorf("%w: hold %s has no customer hold line", ErrInvalidEntry, hold.Reference)
}

// PostHoldEntry captures amount (0 < amount ≤ held) of a pending hold. The whole
// hold is released from the memo accounts (the gateway releases the rest of the
// authorisation) and the captured part moves from the receivable to gateway
// clearing. Storing it must also move the hold to posted, in one transaction.
func PostHoldEntry(hold JournalEntry, amount Money) (JournalEntry, error) {
	customerID, held, err := HoldTerms(hold)
	if err != nil {
		return JournalEntry{}, err
	}
	if hold.Status != EntryPending {
		return JournalEntry{}, fmt.Errorf("%w: hold %s is %s", ErrHoldResolved, hold.Reference, hold.Status)
	}
	if amount.Currency != held.Currency {
		return JournalEntry{}, fmt.Errorf("%w: post %s of a hold in %s", ErrCurrencyMismatch, amount.Currency, held.Currency)
	}
	if err := positive("posted amount (void the hold instead)", amount); err != nil {
		return JournalEntry{}, err
	}
	if amount.AmountMinor > held.AmountMinor {
		return JournalEntry{}, fmt.Errorf("%w: post %s of %s", ErrExceedsHold, amount, held)
	}
	return NewEntry(KindHoldPost, hold.Reference, EntryPosted,
		Line{CustomerHold(customerID), held.Neg()},
		Line{AccountGatewayHolds, held},
		Line{AccountGatewayClearing, amount},
		Line{CustomerReceivable(customerID), amount.Neg()})
}

// VoidHold releases a pending hold without capture; it returns the hold as it
// must be stored (status voided). A voided entry counts in no balance.
func VoidHold(hold JournalEntry) (JournalEntry, error) {
	if _, _, err := HoldTerms(hold); err != nil {
		return JournalEntry{}, err
	}
	if !hold.Status.CanBecome(EntryVoided) {
		return JournalEntry{}, fmt.Errorf("%w: hold %s is %s", ErrHoldResolved, hold.Reference, hold.Status)
	}
	hold.Status = EntryVoided
	return hold, nil
}

// ReversalEntry negates a posted entry, the only way to correct the books. Its
// reference is derived from the original, so an entry is reversed at most once.
// Holds are resolved with PostHoldEntry or VoidHold instead.
func ReversalEntry(e JournalEntry) (JournalEntry, error) {
	if e.Status != EntryPosted {
		return JournalEntry{}, fmt.Errorf("%w: only a posted entry can be reversed, %s %s is %s", ErrInvalidEntry, e.Kind, e.Reference, e.Status)
	}
	if e.Kind == KindHold || e.Kind == KindHoldPost {
		return JournalEntry{}, fmt.Errorf("%w: %s entries are not reversed (refund or void instead)", ErrInvalidEntry, e.Kind)
	}
	lines := make([]Line, len(e.Lines))
	for i, l := range e.Lines {
		lines[i] = Line{Account: l.Account, Amount: l.Amount.Neg()}
	}
	return NewEntry(KindReversal, string(e.Kind)+":"+e.Reference, EntryPosted, lines...)
}
