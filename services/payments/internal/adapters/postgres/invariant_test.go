package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	pg "github.com/mobilitycorp/platform/services/payments/internal/adapters/postgres"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

// ledgerModel is the expected ledger, kept in business terms (what each event
// does to which account) independently of the entry builders and of SQL.
type ledgerModel struct {
	posted, pending map[modelKey]int64
}

type modelKey struct {
	account  domain.AccountID
	currency string
}

func (m *ledgerModel) move(currency string, pending bool, deltas ...any) {
	target := m.posted
	if pending {
		target = m.pending
	}
	for i := 0; i < len(deltas); i += 2 {
		target[modelKey{deltas[i].(domain.AccountID), currency}] += deltas[i+1].(int64)
	}
}

type openHold struct {
	reference, customer string
	amount              domain.Money
}

// TestCheckInvariantAfterRandomOperations runs 500 seeded random business
// operations (including replays, which must change nothing), then compares every
// balance with the model and audits the ledger.
func TestCheckInvariantAfterRandomOperations(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(20260101, 42)) // fixed seed: the same 500 operations every run
	customers := []struct{ id, currency string }{
		{"c0", "EUR"}, {"c1", "EUR"}, {"c2", "SEK"}, {"c3", "PLN"}, {"c4", "EUR"}, {"c5", "DKK"},
	}
	m := &ledgerModel{posted: map[modelKey]int64{}, pending: map[modelKey]int64{}}
	var (
		holds   []openHold
		charges []domain.JournalEntry // trip charges not yet reversed
		replays []func() error
		counts  = map[string]int{}
	)
	amount := func(cur string, max int) domain.Money { return money(int64(1+rng.IntN(max)), cur) }
	postNew := func(e domain.JournalEntry, err error) {
		t.Helper()
		e = must(t)(e, err)
		id := post(t, l, e)
		replays = append(replays, func() error {
			got, replayed, err := l.Post(ctx, e)
			if err != nil || !replayed || got != id {
				return fmt.Errorf("replay of %s %s = %d replayed %v err %v, want %d replayed", e.Kind, e.Reference, got, replayed, err, id)
			}
			return nil
		})
	}

	// 500 operations that ran; a draw that finds nothing to act on (no open hold,
	// no credit) is drawn again.
	for i, ops := 0, 0; ops < 500; i++ {
		c := customers[rng.IntN(len(customers))]
		recv, credit, hold := domain.CustomerReceivable(c.id), domain.CustomerCredit(c.id), domain.CustomerHold(c.id)
		ref := fmt.Sprintf("op-%d", i)
		switch n := rng.IntN(100); {
		case n < 18:
			unlock, ride := money(int64(rng.IntN(2))*100, c.currency), amount(c.currency, 5000)
			e, err := domain.TripChargeEntry(c.id, ref, unlock, ride)
			postNew(e, err)
			charges = append(charges, e)
			m.move(c.currency, false, recv, unlock.AmountMinor+ride.AmountMinor,
				domain.AccountRevenueUnlockFees, -unlock.AmountMinor, domain.AccountRevenueRides, -ride.AmountMinor)
			counts["trip_charge"]++
		case n < 30:
			a := amount(c.currency, 5000)
			postNew(domain.CaptureEntry(c.id, ref, a))
			m.move(c.currency, false, domain.AccountGatewayClearing, a.AmountMinor, recv, -a.AmountMinor)
			counts["capture"]++
		case n < 38:
			a := amount(c.currency, 5000)
			postNew(domain.FineEntry(c.id, ref, a))
			m.move(c.currency, false, recv, a.AmountMinor, domain.AccountRevenueFines, -a.AmountMinor)
			counts["fine"]++
		case n < 45:
			a := amount(c.currency, 2000)
			postNew(domain.RefundEntry(ref, a))
			m.move(c.currency, false, domain.AccountRevenueRefunds, a.AmountMinor, domain.AccountGatewayClearing, -a.AmountMinor)
			counts["refund"]++
		case n < 53:
			a := amount(c.currency, 500)
			postNew(domain.GrantCreditEntry(c.id, ref, a))
			m.move(c.currency, false, domain.AccountExpenseRewards, a.AmountMinor, credit, -a.AmountMinor)
			counts["credit_granted"]++
		case n < 60:
			available := -m.posted[modelKey{credit, c.currency}] // a liability: credit balance
			if available <= 0 {
				continue
			}
			a := money(1+rng.Int64N(available), c.currency)
			postNew(domain.ApplyCreditEntry(c.id, ref, a))
			m.move(c.currency, false, credit, a.AmountMinor, recv, -a.AmountMinor)
			counts["credit_applied"]++
		case n < 72:
			a := amount(c.currency, 3000)
			postNew(domain.HoldEntry(c.id, ref, a))
			holds = append(holds, openHold{ref, c.id, a})
			m.move(c.currency, true, hold, a.AmountMinor, domain.AccountGatewayHolds, -a.AmountMinor)
			counts["hold"]++
		case n < 90:
			if len(holds) == 0 {
				continue
			}
			k := rng.IntN(len(holds))
			h := holds[k]
			holds = swapRemove(holds, k)
			cur, held := h.amount.Currency, h.amount.AmountMinor
			m.move(cur, true, domain.CustomerHold(h.customer), -held, domain.AccountGatewayHolds, held)
			if n < 83 {
				a := money(1+rng.Int64N(held), cur)
				id, replayed, err := l.PostHold(ctx, h.reference, a)
				if err != nil || replayed {
					t.Fatalf("post hold %s: %v (replayed %v)", h.reference, err, replayed)
				}
				m.move(cur, false, domain.AccountGatewayClearing, a.AmountMinor, domain.CustomerReceivable(h.customer), -a.AmountMinor)
				replays = append(replays, func() error {
					got, replayed, err := l.PostHold(ctx, h.reference, a)
					if err != nil || !replayed || got != id {
						return fmt.Errorf("replay of hold post %s = %d replayed %v err %v", h.reference, got, replayed, err)
					}
					return nil
				})
				counts["hold_post"]++
			} else {
				if err := l.VoidHold(ctx, h.reference); err != nil {
					t.Fatalf("void hold %s: %v", h.reference, err)
				}
				replays = append(replays, func() error { return l.VoidHold(ctx, h.reference) })
				counts["hold_void"]++
			}
		case n < 96:
			if len(replays) == 0 {
				continue
			}
			if err := replays[rng.IntN(len(replays))](); err != nil {
				t.Fatal(err)
			}
			counts["replay"]++
		default:
			if len(charges) == 0 {
				continue
			}
			k := rng.IntN(len(charges))
			e := charges[k]
			charges = swapRemove(charges, k)
			postNew(domain.ReversalEntry(e))
			for _, ln := range e.Lines {
				m.move(ln.Amount.Currency, false, ln.Account, -ln.Amount.AmountMinor)
			}
			counts["reversal"]++
		}
		ops++
	}
	for _, op := range []string{"trip_charge", "capture", "fine", "refund", "credit_granted", "credit_applied",
		"hold", "hold_post", "hold_void", "replay", "reversal"} {
		if counts[op] == 0 {
			t.Errorf("the sequence never ran %s: change the seed or the weights", op)
		}
	}
	t.Logf("operations: %v", counts)

	keys := map[modelKey]bool{}
	for k := range m.posted {
		keys[k] = true
	}
	for k := range m.pending {
		keys[k] = true
	}
	for k := range keys {
		want := balance{m.posted[k], m.pending[k]}
		if got := balanceOf(t, l, k.account, k.currency); got != want {
			t.Errorf("%s %s = %+v, want %+v", k.account, k.currency, got, want)
		}
	}
	assertClean(t, l)
}

// swapRemove removes element k; order does not matter to the test.
func swapRemove[T any](s []T, k int) []T {
	s[k] = s[len(s)-1]
	return s[:len(s)-1]
}

// corruptionFixture is a small healthy ledger that each case then damages with
// raw SQL, switching off the triggers that would otherwise refuse it.
type corruptionFixture struct {
	fine, charge, hold domain.EntryID
}

func newCorruptionFixture(t *testing.T) (*pg.Ledger, *pgxpool.Pool, corruptionFixture) {
	l, pool := newLedger(t)
	f := corruptionFixture{
		fine:   post(t, l, must(t)(domain.FineEntry("c1", "fine-1", eur(2500)))),
		charge: post(t, l, must(t)(domain.TripChargeEntry("c2", "trip-1", money(1000, "SEK"), money(4000, "SEK")))),
		hold:   post(t, l, must(t)(domain.HoldEntry("c1", "pay-1", eur(1000)))),
	}
	assertClean(t, l)
	return l, pool, f
}

func exec(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func TestCheckInvariantReportsCorruption(t *testing.T) {
	tests := []struct {
		name          string
		corrupt       func(t *testing.T, pool *pgxpool.Pool, f corruptionFixture)
		want          func(f corruptionFixture) pg.Report
		wantOffending func(f corruptionFixture) []domain.EntryID
	}{
		{
			name: "a posted line changed with the append-only trigger disabled",
			corrupt: func(t *testing.T, pool *pgxpool.Pool, f corruptionFixture) {
				exec(t, pool, `ALTER TABLE journal_lines DISABLE TRIGGER journal_lines_append_only`)
				exec(t, pool, `UPDATE journal_lines SET amount_minor = amount_minor + 1 WHERE entry_id = $1 AND line_no = 2`, f.charge)
				exec(t, pool, `ALTER TABLE journal_lines ENABLE TRIGGER journal_lines_append_only`)
			},
			want: func(f corruptionFixture) pg.Report {
				return pg.Report{
					Unbalanced:   []pg.Imbalance{{Entry: f.charge, Sum: money(1, "SEK")}},
					PostedTotals: []domain.Money{money(1, "SEK")},
				}
			},
			wantOffending: func(f corruptionFixture) []domain.EntryID { return []domain.EntryID{f.charge} },
		},
		{
			name: "an unbalanced entry written with the balance trigger disabled",
			corrupt: func(t *testing.T, pool *pgxpool.Pool, f corruptionFixture) {
				exec(t, pool, `ALTER TABLE journal_lines DISABLE TRIGGER journal_lines_balanced`)
				exec(t, pool, `ALTER TABLE journal_entries DISABLE TRIGGER journal_entries_sealed`)
				exec(t, pool, `WITH e AS (INSERT INTO journal_entries (kind, reference, status, line_count)
					VALUES ('fine', 'fine-bad', 'posted', 2) RETURNING id)
					INSERT INTO journal_lines SELECT id, n, a, m, 'EUR' FROM e,
					(VALUES (1, 'customer:c1:receivable', 700), (2, 'revenue:fines', -500)) AS v(n, a, m)`)
				exec(t, pool, `ALTER TABLE journal_lines ENABLE TRIGGER journal_lines_balanced`)
				exec(t, pool, `ALTER TABLE journal_entries ENABLE TRIGGER journal_entries_sealed`)
			},
			want: func(f corruptionFixture) pg.Report {
				return pg.Report{
					Unbalanced:   []pg.Imbalance{{Entry: f.hold + 1, Sum: eur(200)}},
					PostedTotals: []domain.Money{eur(200)},
				}
			},
			wantOffending: func(f corruptionFixture) []domain.EntryID { return []domain.EntryID{f.hold + 1} },
		},
		{
			name: "an orphan line written with every trigger (and so the foreign key) disabled",
			corrupt: func(t *testing.T, pool *pgxpool.Pool, f corruptionFixture) {
				exec(t, pool, `ALTER TABLE journal_lines DISABLE TRIGGER ALL`)
				exec(t, pool, `INSERT INTO journal_lines VALUES (999999, 1, 'revenue:rides', -300, 'EUR')`)
				exec(t, pool, `ALTER TABLE journal_lines ENABLE TRIGGER ALL`)
			},
			want: func(f corruptionFixture) pg.Report {
				return pg.Report{
					Unbalanced:  []pg.Imbalance{{Entry: 999999, Sum: eur(-300)}},
					OrphanLines: []pg.LineRef{{Entry: 999999, LineNo: 1}},
				}
			},
			wantOffending: func(f corruptionFixture) []domain.EntryID { return []domain.EntryID{999999} },
		},
		{
			name: "a line deleted with the append-only trigger disabled",
			corrupt: func(t *testing.T, pool *pgxpool.Pool, f corruptionFixture) {
				exec(t, pool, `ALTER TABLE journal_lines DISABLE TRIGGER journal_lines_append_only`)
				exec(t, pool, `DELETE FROM journal_lines WHERE entry_id = $1 AND line_no = 1`, f.fine)
				exec(t, pool, `ALTER TABLE journal_lines ENABLE TRIGGER journal_lines_append_only`)
			},
			want: func(f corruptionFixture) pg.Report {
				return pg.Report{
					Unbalanced:     []pg.Imbalance{{Entry: f.fine, Sum: eur(-2500)}},
					WrongLineCount: []domain.EntryID{f.fine},
					PostedTotals:   []domain.Money{eur(-2500)},
				}
			},
			wantOffending: func(f corruptionFixture) []domain.EntryID { return []domain.EntryID{f.fine} },
		},
		{
			// The triggers allow pending → posted, so this needs none disabled:
			// only the audit can tell the hold has no hold_post.
			name: "a hold marked posted without its hold_post",
			corrupt: func(t *testing.T, pool *pgxpool.Pool, f corruptionFixture) {
				exec(t, pool, `UPDATE journal_entries SET status = 'posted' WHERE id = $1`, f.hold)
			},
			want: func(f corruptionFixture) pg.Report {
				return pg.Report{HoldMismatches: []string{"pay-1"}}
			},
			wantOffending: func(f corruptionFixture) []domain.EntryID { return nil },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, pool, f := newCorruptionFixture(t)
			tt.corrupt(t, pool, f)
			got, err := l.CheckInvariant(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if want := tt.want(f); !reflect.DeepEqual(got, want) {
				t.Fatalf("report = %+v\nwant     %+v", got, want)
			}
			if got.OK() {
				t.Fatal("OK() = true for a corrupt ledger")
			}
			if off, want := got.Offending(), tt.wantOffending(f); !reflect.DeepEqual(off, want) {
				t.Fatalf("Offending() = %v, want %v", off, want)
			}
		})
	}
}

// CheckInvariant reads a consistent snapshot, so it never reports a false
// imbalance while entries are being posted.
func TestCheckInvariantBesideLiveTraffic(t *testing.T) {
	l, _ := newLedger(t)
	ctx, cancel := context.WithCancel(context.Background())
	fines := make([]domain.JournalEntry, 200)
	for i := range fines {
		fines[i] = must(t)(domain.FineEntry("c1", fmt.Sprintf("fine-%d", i), eur(int64(100+i))))
	}
	done := make(chan error, 1)
	go func() {
		defer close(done)
		for _, e := range fines {
			if _, _, err := l.Post(ctx, e); err != nil {
				done <- err
				return
			}
		}
	}()
	defer func() { cancel(); <-done }() // the poster never outlives the test

	for checks := 0; ; checks++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			if checks == 0 {
				t.Fatal("no audit ran beside the posts")
			}
			assertBalances(t, l, "EUR", map[domain.AccountID]balance{domain.AccountRevenueFines: {posted: -(200*100 + 199*200/2)}})
			assertClean(t, l)
			return
		default:
		}
		r, err := l.CheckInvariant(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !r.OK() {
			t.Fatalf("audit beside live traffic reported %+v", r)
		}
	}
}
