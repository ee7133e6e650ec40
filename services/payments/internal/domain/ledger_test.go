package domain_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

// ledgerMoney keeps these tests independent of helpers in other test files.
func ledgerMoney(minor int64, currency string) domain.Money {
	return domain.Money{AmountMinor: minor, Currency: currency}
}

func line(account domain.AccountID, minor int64, currency string) domain.Line {
	return domain.Line{Account: account, Amount: ledgerMoney(minor, currency)}
}

func TestJournalEntryValidate(t *testing.T) {
	recv := domain.CustomerReceivable("c1")
	tests := []struct {
		name    string
		entry   domain.JournalEntry
		wantErr error // nil: valid
	}{
		{
			name: "balanced two lines",
			entry: domain.JournalEntry{Kind: domain.KindFine, Reference: "f1", Status: domain.EntryPosted,
				Lines: []domain.Line{line(recv, 500, "EUR"), line(domain.AccountRevenueFines, -500, "EUR")}},
		},
		{
			name: "balanced three lines",
			entry: domain.JournalEntry{Kind: domain.KindTripCharge, Reference: "t1", Status: domain.EntryPosted,
				Lines: []domain.Line{line(recv, 612, "EUR"), line(domain.AccountRevenueUnlockFees, -100, "EUR"), line(domain.AccountRevenueRides, -512, "EUR")}},
		},
		{
			name: "unbalanced",
			entry: domain.JournalEntry{Kind: domain.KindFine, Reference: "f1", Status: domain.EntryPosted,
				Lines: []domain.Line{line(recv, 500, "EUR"), line(domain.AccountRevenueFines, -499, "EUR")}},
			wantErr: domain.ErrUnbalanced,
		},
		{
			name: "zero line",
			entry: domain.JournalEntry{Kind: domain.KindFine, Reference: "f1", Status: domain.EntryPosted,
				Lines: []domain.Line{line(recv, 500, "EUR"), line(domain.AccountRevenueFines, -500, "EUR"), line(domain.AccountRevenueRides, 0, "EUR")}},
			wantErr: domain.ErrInvalidEntry,
		},
		{
			name: "single line",
			entry: domain.JournalEntry{Kind: domain.KindFine, Reference: "f1", Status: domain.EntryPosted,
				Lines: []domain.Line{line(recv, 500, "EUR")}},
			wantErr: domain.ErrInvalidEntry,
		},
		{
			name:    "no lines",
			entry:   domain.JournalEntry{Kind: domain.KindFine, Reference: "f1", Status: domain.EntryPosted},
			wantErr: domain.ErrInvalidEntry,
		},
		{
			name: "mixed currencies each balanced",
			entry: domain.JournalEntry{Kind: domain.KindReversal, Reference: "x", Status: domain.EntryPosted,
				Lines: []domain.Line{
					line(recv, 500, "EUR"), line(domain.AccountRevenueFines, -500, "EUR"),
					line(domain.CustomerReceivable("c2"), 4000, "SEK"), line(domain.AccountRevenueFines, -4000, "SEK"),
				}},
		},
		{
			name: "mixed currencies summing to zero only across currencies",
			entry: domain.JournalEntry{Kind: domain.KindReversal, Reference: "x", Status: domain.EntryPosted,
				Lines: []domain.Line{line(recv, 500, "EUR"), line(domain.AccountRevenueFines, -500, "SEK")}},
			wantErr: domain.ErrUnbalanced,
		},
		{
			name: "mixed currencies one balanced one not",
			entry: domain.JournalEntry{Kind: domain.KindReversal, Reference: "x", Status: domain.EntryPosted,
				Lines: []domain.Line{
					line(recv, 500, "EUR"), line(domain.AccountRevenueFines, -500, "EUR"),
					line(recv, 10, "SEK"), line(domain.AccountRevenueFines, -9, "SEK"),
				}},
			wantErr: domain.ErrUnbalanced,
		},
		{
			name: "unknown account",
			entry: domain.JournalEntry{Kind: domain.KindFine, Reference: "f1", Status: domain.EntryPosted,
				Lines: []domain.Line{line("cash:drawer", 500, "EUR"), line(domain.AccountRevenueFines, -500, "EUR")}},
			wantErr: domain.ErrInvalidEntry,
		},
		{
			name: "bad currency code",
			entry: domain.JournalEntry{Kind: domain.KindFine, Reference: "f1", Status: domain.EntryPosted,
				Lines: []domain.Line{line(recv, 500, "eur"), line(domain.AccountRevenueFines, -500, "eur")}},
			wantErr: domain.ErrInvalidEntry,
		},
		{
			name: "amount out of range",
			entry: domain.JournalEntry{Kind: domain.KindFine, Reference: "f1", Status: domain.EntryPosted,
				Lines: []domain.Line{line(recv, 1<<62, "EUR"), line(domain.AccountRevenueFines, -(1 << 62), "EUR")}},
			wantErr: domain.ErrInvalidEntry,
		},
		{
			name: "missing reference",
			entry: domain.JournalEntry{Kind: domain.KindFine, Status: domain.EntryPosted,
				Lines: []domain.Line{line(recv, 500, "EUR"), line(domain.AccountRevenueFines, -500, "EUR")}},
			wantErr: domain.ErrInvalidEntry,
		},
		{
			name: "unknown kind",
			entry: domain.JournalEntry{Kind: "gift", Reference: "f1", Status: domain.EntryPosted,
				Lines: []domain.Line{line(recv, 500, "EUR"), line(domain.AccountRevenueFines, -500, "EUR")}},
			wantErr: domain.ErrInvalidEntry,
		},
		{
			name: "new entry cannot be voided",
			entry: domain.JournalEntry{Kind: domain.KindFine, Reference: "f1", Status: domain.EntryVoided,
				Lines: []domain.Line{line(recv, 500, "EUR"), line(domain.AccountRevenueFines, -500, "EUR")}},
			wantErr: domain.ErrInvalidEntry,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.entry.Validate()
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Validate() = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestAccountID(t *testing.T) {
	tests := []struct {
		account      domain.AccountID
		wantValid    bool
		wantCustomer string
	}{
		{domain.CustomerReceivable("c-1"), true, "c-1"},
		{domain.CustomerCredit("c-1"), true, "c-1"},
		{domain.CustomerHold("c-1"), true, "c-1"},
		{domain.AccountGatewayClearing, true, ""},
		{domain.AccountRevenueRefunds, true, ""},
		{domain.CustomerReceivable(""), false, ""},
		{domain.CustomerReceivable("a:b"), false, "a:b"},
		{domain.CustomerReceivable("a b"), false, "a b"},
		{domain.CustomerReceivable(strings.Repeat("x", 129)), false, strings.Repeat("x", 129)},
		{"customer:c-1:wallet", false, "c-1"},
		{"revenue:gifts", false, ""},
	}
	for _, tt := range tests {
		t.Run(string(tt.account), func(t *testing.T) {
			if err := tt.account.Validate(); (err == nil) != tt.wantValid {
				t.Fatalf("Validate() = %v, want valid %v", err, tt.wantValid)
			}
			if id, _ := tt.account.Customer(); id != tt.wantCustomer {
				t.Fatalf("Customer() = %q, want %q", id, tt.wantCustomer)
			}
		})
	}
}

func TestBusinessEventEntries(t *testing.T) {
	eur := func(minor int64) domain.Money { return ledgerMoney(minor, "EUR") }
	hold, err := domain.HoldEntry("c1", "pay-1", eur(1000))
	if err != nil {
		t.Fatal(err)
	}
	type build func() (domain.JournalEntry, error)
	tests := []struct {
		name       string
		build      build
		wantKind   domain.EntryKind
		wantRef    string
		wantStatus domain.EntryStatus
		wantLines  []domain.Line
	}{
		{
			name:     "trip charge splits unlock fee and ride",
			build:    func() (domain.JournalEntry, error) { return domain.TripChargeEntry("c1", "trip-1", eur(100), eur(512)) },
			wantKind: domain.KindTripCharge, wantRef: "trip-1", wantStatus: domain.EntryPosted,
			wantLines: []domain.Line{
				line(domain.CustomerReceivable("c1"), 612, "EUR"),
				line(domain.AccountRevenueUnlockFees, -100, "EUR"),
				line(domain.AccountRevenueRides, -512, "EUR"),
			},
		},
		{
			name:     "trip charge with a free unlock has no unlock line",
			build:    func() (domain.JournalEntry, error) { return domain.TripChargeEntry("c1", "trip-2", eur(0), eur(300)) },
			wantKind: domain.KindTripCharge, wantRef: "trip-2", wantStatus: domain.EntryPosted,
			wantLines: []domain.Line{
				line(domain.CustomerReceivable("c1"), 300, "EUR"),
				line(domain.AccountRevenueRides, -300, "EUR"),
			},
		},
		{
			name:     "fine",
			build:    func() (domain.JournalEntry, error) { return domain.FineEntry("c1", "fine-1", eur(2500)) },
			wantKind: domain.KindFine, wantRef: "fine-1", wantStatus: domain.EntryPosted,
			wantLines: []domain.Line{
				line(domain.CustomerReceivable("c1"), 2500, "EUR"),
				line(domain.AccountRevenueFines, -2500, "EUR"),
			},
		},
		{
			name:     "capture",
			build:    func() (domain.JournalEntry, error) { return domain.CaptureEntry("c1", "cap-1", eur(612)) },
			wantKind: domain.KindCapture, wantRef: "cap-1", wantStatus: domain.EntryPosted,
			wantLines: []domain.Line{
				line(domain.AccountGatewayClearing, 612, "EUR"),
				line(domain.CustomerReceivable("c1"), -612, "EUR"),
			},
		},
		{
			name:     "refund",
			build:    func() (domain.JournalEntry, error) { return domain.RefundEntry("ref-1", eur(200)) },
			wantKind: domain.KindRefund, wantRef: "ref-1", wantStatus: domain.EntryPosted,
			wantLines: []domain.Line{
				line(domain.AccountRevenueRefunds, 200, "EUR"),
				line(domain.AccountGatewayClearing, -200, "EUR"),
			},
		},
		{
			name:     "credit granted",
			build:    func() (domain.JournalEntry, error) { return domain.GrantCreditEntry("c1", "rw-1", eur(150)) },
			wantKind: domain.KindCreditGranted, wantRef: "rw-1", wantStatus: domain.EntryPosted,
			wantLines: []domain.Line{
				line(domain.AccountExpenseRewards, 150, "EUR"),
				line(domain.CustomerCredit("c1"), -150, "EUR"),
			},
		},
		{
			name:     "credit applied",
			build:    func() (domain.JournalEntry, error) { return domain.ApplyCreditEntry("c1", "trip-3", eur(150)) },
			wantKind: domain.KindCreditApplied, wantRef: "trip-3", wantStatus: domain.EntryPosted,
			wantLines: []domain.Line{
				line(domain.CustomerCredit("c1"), 150, "EUR"),
				line(domain.CustomerReceivable("c1"), -150, "EUR"),
			},
		},
		{
			name:     "hold is pending",
			build:    func() (domain.JournalEntry, error) { return hold, nil },
			wantKind: domain.KindHold, wantRef: "pay-1", wantStatus: domain.EntryPending,
			wantLines: []domain.Line{
				line(domain.CustomerHold("c1"), 1000, "EUR"),
				line(domain.AccountGatewayHolds, -1000, "EUR"),
			},
		},
		{
			name:     "posting less than the hold releases it all and captures the part",
			build:    func() (domain.JournalEntry, error) { return domain.PostHoldEntry(hold, eur(612)) },
			wantKind: domain.KindHoldPost, wantRef: "pay-1", wantStatus: domain.EntryPosted,
			wantLines: []domain.Line{
				line(domain.CustomerHold("c1"), -1000, "EUR"),
				line(domain.AccountGatewayHolds, 1000, "EUR"),
				line(domain.AccountGatewayClearing, 612, "EUR"),
				line(domain.CustomerReceivable("c1"), -612, "EUR"),
			},
		},
		{
			name: "reversal negates every line",
			build: func() (domain.JournalEntry, error) {
				e, err := domain.FineEntry("c1", "fine-9", eur(2500))
				if err != nil {
					return e, err
				}
				return domain.ReversalEntry(e)
			},
			wantKind: domain.KindReversal, wantRef: "fine:fine-9", wantStatus: domain.EntryPosted,
			wantLines: []domain.Line{
				line(domain.CustomerReceivable("c1"), -2500, "EUR"),
				line(domain.AccountRevenueFines, 2500, "EUR"),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := tt.build()
			if err != nil {
				t.Fatal(err)
			}
			if e.Kind != tt.wantKind || e.Reference != tt.wantRef || e.Status != tt.wantStatus {
				t.Fatalf("entry = %s %q %s, want %s %q %s", e.Kind, e.Reference, e.Status, tt.wantKind, tt.wantRef, tt.wantStatus)
			}
			if !slices.Equal(e.Lines, tt.wantLines) {
				t.Fatalf("lines = %v\nwant   %v", e.Lines, tt.wantLines)
			}
			if err := e.Validate(); err != nil {
				t.Fatalf("built entry does not validate: %v", err)
			}
		})
	}
}

func TestBusinessEventEntriesRejectBadInput(t *testing.T) {
	eur := func(minor int64) domain.Money { return ledgerMoney(minor, "EUR") }
	hold, err := domain.HoldEntry("c1", "pay-1", eur(1000))
	if err != nil {
		t.Fatal(err)
	}
	posted := hold
	posted.Status = domain.EntryPosted
	voided, err := domain.VoidHold(hold)
	if err != nil {
		t.Fatal(err)
	}
	fine, err := domain.FineEntry("c1", "fine-1", eur(100))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		build   func() (domain.JournalEntry, error)
		wantErr error
	}{
		{"zero trip", func() (domain.JournalEntry, error) { return domain.TripChargeEntry("c1", "t", eur(0), eur(0)) }, domain.ErrInvalidEntry},
		{"negative ride fee", func() (domain.JournalEntry, error) { return domain.TripChargeEntry("c1", "t", eur(100), eur(-1)) }, domain.ErrInvalidEntry},
		{"fees in two currencies", func() (domain.JournalEntry, error) {
			return domain.TripChargeEntry("c1", "t", eur(100), ledgerMoney(100, "SEK"))
		}, domain.ErrCurrencyMismatch},
		{"customer id with a colon", func() (domain.JournalEntry, error) { return domain.FineEntry("c:1", "f", eur(100)) }, domain.ErrInvalidEntry},
		{"empty trip id", func() (domain.JournalEntry, error) { return domain.TripChargeEntry("c1", "", eur(100), eur(1)) }, domain.ErrInvalidEntry},
		{"negative capture", func() (domain.JournalEntry, error) { return domain.CaptureEntry("c1", "op", eur(-5)) }, domain.ErrInvalidEntry},
		{"zero refund", func() (domain.JournalEntry, error) { return domain.RefundEntry("op", eur(0)) }, domain.ErrInvalidEntry},
		{"zero credit", func() (domain.JournalEntry, error) { return domain.GrantCreditEntry("c1", "rw", eur(0)) }, domain.ErrInvalidEntry},
		{"zero hold", func() (domain.JournalEntry, error) { return domain.HoldEntry("c1", "p", eur(0)) }, domain.ErrInvalidEntry},
		{"post more than held", func() (domain.JournalEntry, error) { return domain.PostHoldEntry(hold, eur(1001)) }, domain.ErrExceedsHold},
		{"post zero", func() (domain.JournalEntry, error) { return domain.PostHoldEntry(hold, eur(0)) }, domain.ErrInvalidEntry},
		{"post in another currency", func() (domain.JournalEntry, error) {
			return domain.PostHoldEntry(hold, ledgerMoney(500, "SEK"))
		}, domain.ErrCurrencyMismatch},
		{"post a posted hold", func() (domain.JournalEntry, error) { return domain.PostHoldEntry(posted, eur(500)) }, domain.ErrHoldResolved},
		{"post a voided hold", func() (domain.JournalEntry, error) { return domain.PostHoldEntry(voided, eur(500)) }, domain.ErrHoldResolved},
		{"post something that is not a hold", func() (domain.JournalEntry, error) { return domain.PostHoldEntry(fine, eur(50)) }, domain.ErrInvalidEntry},
		{"void a posted hold", func() (domain.JournalEntry, error) { return domain.VoidHold(posted) }, domain.ErrHoldResolved},
		{"void twice", func() (domain.JournalEntry, error) { return domain.VoidHold(voided) }, domain.ErrHoldResolved},
		{"void a fine", func() (domain.JournalEntry, error) { return domain.VoidHold(fine) }, domain.ErrInvalidEntry},
		{"reverse a hold", func() (domain.JournalEntry, error) { return domain.ReversalEntry(posted) }, domain.ErrInvalidEntry},
		{"reverse a pending entry", func() (domain.JournalEntry, error) { return domain.ReversalEntry(hold) }, domain.ErrInvalidEntry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.build()
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestVoidHold(t *testing.T) {
	hold, err := domain.HoldEntry("c1", "pay-1", ledgerMoney(1000, "EUR"))
	if err != nil {
		t.Fatal(err)
	}
	voided, err := domain.VoidHold(hold)
	if err != nil {
		t.Fatal(err)
	}
	if voided.Status != domain.EntryVoided || hold.Status != domain.EntryPending {
		t.Fatalf("voided status %s (original %s), want voided (original pending)", voided.Status, hold.Status)
	}
	if !slices.Equal(voided.Lines, hold.Lines) {
		t.Fatal("voiding must not change the hold's lines")
	}
}

func TestEntryStatusTransitions(t *testing.T) {
	statuses := []domain.EntryStatus{domain.EntryPending, domain.EntryPosted, domain.EntryVoided}
	for _, from := range statuses {
		for _, to := range statuses {
			want := from == domain.EntryPending && to != domain.EntryPending
			if got := from.CanBecome(to); got != want {
				t.Errorf("%s.CanBecome(%s) = %v, want %v", from, to, got, want)
			}
		}
	}
}
