package webhook_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mobilitycorp/platform/services/payments/internal/ports/webhook"
)

func TestProcessorRetriesFailedEventWithBackoff(t *testing.T) {
	pool := newDB(t)
	h := newCountingHandler()
	h.failFirst["evt_1"] = 2
	p := newProcessor(t, pool, h, webhook.ProcessorOptions{RetryBackoff: 300 * time.Millisecond})
	deliver(t, newRouter(t, pool, nil), eventBody("evt_1", "payment_intent.succeeded", time.Now(), piObject("pi_1", "succeeded")))
	ctx := context.Background()

	// secondsUntilRetry is how far the next attempt is scheduled, by the database clock.
	secondsUntilRetry := func() float64 {
		var s float64
		if err := pool.QueryRow(ctx, "SELECT EXTRACT(EPOCH FROM next_attempt_at - now())::float8 FROM webhook_events WHERE event_id = 'evt_1'").Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	processNext := func() bool {
		ok, err := p.ProcessNext(ctx)
		if err != nil {
			t.Fatalf("ProcessNext: %v", err)
		}
		return ok
	}

	// Attempt 1 fails: recorded, its write rolled back, retry scheduled after the backoff.
	if !processNext() {
		t.Fatal("first ProcessNext found no event")
	}
	row := readEvent(t, pool, "evt_1")
	if row.Processed || row.Attempts != 1 || row.LastError == nil || *row.LastError != "ledger unavailable (call 1)" {
		t.Fatalf("after a failure: %+v, want unprocessed, 1 attempt, last error of call 1", row)
	}
	if n := countEffects(t, pool); n != 0 {
		t.Fatalf("%d effects after a failed attempt, want 0 (rolled back)", n)
	}
	if s := secondsUntilRetry(); s < 0.2 || s > 0.4 {
		t.Fatalf("first retry in %.3fs, want ≈0.3s", s)
	}
	if processNext() {
		t.Fatal("event retried before its backoff elapsed")
	}

	// Attempt 2 fails once due; the backoff doubles.
	eventually(t, 5*time.Second, "second attempt", processNext)
	row = readEvent(t, pool, "evt_1")
	if row.Processed || row.Attempts != 2 || *row.LastError != "ledger unavailable (call 2)" {
		t.Fatalf("after two failures: %+v", row)
	}
	if s := secondsUntilRetry(); s < 0.5 || s > 0.8 {
		t.Fatalf("second retry in %.3fs, want ≈0.6s (doubled)", s)
	}

	// Attempt 3 succeeds: processed, counted, effect committed once.
	eventually(t, 5*time.Second, "third attempt", processNext)
	row = readEvent(t, pool, "evt_1")
	if !row.Processed || row.Attempts != 3 {
		t.Fatalf("after success: %+v, want processed after 3 attempts", row)
	}
	if n := countEffects(t, pool); n != 1 {
		t.Fatalf("%d effects, want 1", n)
	}
	if attempts := h.attempts(); !slices.Equal(attempts, []int{1, 2, 3}) {
		t.Fatalf("handler saw attempts %v, want [1 2 3]", attempts)
	}
	if processNext() {
		t.Fatal("a processed event was claimed again")
	}
}

func TestProcessorRunRetriesUntilSuccess(t *testing.T) {
	pool := newDB(t)
	h := newCountingHandler()
	h.failFirst["evt_1"] = 1
	run(t, newProcessor(t, pool, h, webhook.ProcessorOptions{
		PollInterval: 20 * time.Millisecond, RetryBackoff: 50 * time.Millisecond,
	}))
	deliver(t, newRouter(t, pool, nil), eventBody("evt_1", "payment_intent.succeeded", time.Now(), piObject("pi_1", "succeeded")))

	eventually(t, 10*time.Second, "evt_1 processed", func() bool { return countEvents(t, pool, "processed_at IS NOT NULL") == 1 })
	if row := readEvent(t, pool, "evt_1"); row.Attempts != 2 {
		t.Fatalf("attempts = %d, want 2", row.Attempts)
	}
	if n := h.callsOf("evt_1"); n != 2 {
		t.Fatalf("handler called %d times, want 2", n)
	}
}

func TestProcessorWakesOnNotification(t *testing.T) {
	pool := newDB(t)
	h := newCountingHandler()
	// Polling alone would take an hour: only the insert's NOTIFY can wake it in time.
	run(t, newProcessor(t, pool, h, webhook.ProcessorOptions{PollInterval: time.Hour}))
	rcv := newRouter(t, pool, nil)

	for _, id := range []string{"evt_1", "evt_2"} {
		deliver(t, rcv, eventBody(id, "payment_intent.created", time.Now(), piObject("pi_"+id, "requires_capture")))
		eventually(t, 5*time.Second, id+" handled", func() bool { return h.callsOf(id) == 1 })
		time.Sleep(100 * time.Millisecond) // let the processor go back to waiting
	}
}

func TestReplayedEventIsHandledOnce(t *testing.T) {
	tests := []struct {
		name           string
		processBetween bool // the replay arrives after the first copy was processed
	}{
		{"replay before processing", false},
		{"replay after processing", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool := newDB(t)
			h := newCountingHandler()
			p := newProcessor(t, pool, h, webhook.ProcessorOptions{})
			rcv := newRouter(t, pool, nil)
			body := eventBody("evt_1", "payment_intent.succeeded", time.Now(), piObject("pi_1", "succeeded"))

			deliver(t, rcv, body)
			first := readEvent(t, pool, "evt_1")
			if tt.processBetween {
				drain(t, p)
			}
			// Stripe signs each delivery afresh: same body, new timestamp.
			rec := post(rcv, webhook.Sign(oldSecret, time.Now().Add(time.Second), body), body)
			if rec.Code != http.StatusOK {
				t.Fatalf("replay: status %d, want 200", rec.Code)
			}
			if got := readEvent(t, pool, "evt_1"); !got.ReceivedAt.Equal(first.ReceivedAt) {
				t.Fatalf("replay changed the stored event: received_at %s → %s", first.ReceivedAt, got.ReceivedAt)
			}
			drain(t, p)

			if n := h.callsOf("evt_1"); n != 1 {
				t.Fatalf("handler ran %d times, want 1", n)
			}
			if n := countEvents(t, pool, "true"); n != 1 {
				t.Fatalf("%d rows, want 1", n)
			}
			if row := readEvent(t, pool, "evt_1"); !row.Processed || row.Attempts != 1 {
				t.Fatalf("row %+v, want processed after 1 attempt", row)
			}
		})
	}
}

// Events are delivered newest first; the handler must see each payment's events in
// created order.
func TestProcessorAppliesEventsOfAPaymentInCreatedOrder(t *testing.T) {
	t0 := time.Now().Truncate(time.Second)
	type delivery struct {
		id, typ string
		created time.Time
		object  string
	}
	tests := []struct {
		name      string
		deliver   []delivery // in delivery order
		failFirst map[string]int
		// wantBeforeRetry is the handling order until the failed events are due again
		// (nil: no failures); wantOrder is the whole order.
		wantBeforeRetry []string
		wantOrder       []string
	}{
		{
			name: "same payment intent, newer delivered first",
			deliver: []delivery{
				{"evt_b", "payment_intent.succeeded", t0.Add(5 * time.Second), piObject("pi_1", "succeeded")},
				{"evt_a", "payment_intent.amount_capturable_updated", t0, piObject("pi_1", "requires_capture")},
			},
			wantOrder: []string{"evt_a", "evt_b"},
		},
		{
			name: "charge.refunded delivered before the payment_intent.succeeded it follows",
			deliver: []delivery{
				{"evt_refund", "charge.refunded", t0.Add(10 * time.Second), chargeObject("ch_1", "pi_1")},
				{"evt_success", "payment_intent.succeeded", t0, piObject("pi_1", "succeeded")},
			},
			wantOrder: []string{"evt_success", "evt_refund"},
		},
		{
			// created has whole seconds: arrival decides, not the event id.
			name: "same second: arrival order",
			deliver: []delivery{
				{"evt_y", "payment_intent.created", t0, piObject("pi_1", "requires_payment_method")},
				{"evt_x", "payment_intent.requires_action", t0, piObject("pi_1", "requires_action")},
			},
			wantOrder: []string{"evt_y", "evt_x"},
		},
		{
			name: "failing older event holds back newer events of its payment only",
			deliver: []delivery{
				{"evt_b", "payment_intent.succeeded", t0.Add(5 * time.Second), piObject("pi_1", "succeeded")},
				{"evt_a", "payment_intent.amount_capturable_updated", t0, piObject("pi_1", "requires_capture")},
				{"evt_c", "payment_intent.succeeded", t0.Add(time.Second), piObject("pi_2", "succeeded")},
			},
			failFirst:       map[string]int{"evt_a": 1},
			wantBeforeRetry: []string{"evt_a", "evt_c"},
			wantOrder:       []string{"evt_a", "evt_c", "evt_a", "evt_b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool := newDB(t)
			h := newCountingHandler()
			for id, n := range tt.failFirst {
				h.failFirst[id] = n
			}
			p := newProcessor(t, pool, h, webhook.ProcessorOptions{RetryBackoff: 100 * time.Millisecond})
			rcv := newRouter(t, pool, nil)
			for _, d := range tt.deliver {
				deliver(t, rcv, eventBody(d.id, d.typ, d.created, d.object))
			}

			drain(t, p)
			if tt.wantBeforeRetry != nil {
				if got := h.order(); !slices.Equal(got, tt.wantBeforeRetry) {
					t.Fatalf("before the retry handled %v, want %v", got, tt.wantBeforeRetry)
				}
				eventually(t, 5*time.Second, "all events processed", func() bool {
					drain(t, p)
					return countEvents(t, pool, "processed_at IS NULL") == 0
				})
			}
			if got := h.order(); !slices.Equal(got, tt.wantOrder) {
				t.Fatalf("handled %v, want %v", got, tt.wantOrder)
			}
			if n := countEvents(t, pool, "processed_at IS NULL"); n != 0 {
				t.Fatalf("%d events left unprocessed", n)
			}
		})
	}
}

func TestConcurrentProcessorsNeverHandleAnEventTwice(t *testing.T) {
	const (
		// Few payments for three processors: without the one-event-per-payment rule
		// a processor would soon pick a payment's next event while its previous runs.
		payments         = 4
		eventsPerPayment = 30
		total            = payments * eventsPerPayment
	)
	pool := newDB(t)
	h := newCountingHandler()
	h.delay = 2 * time.Millisecond

	// Deliver all events in a shuffled order before the processors start, so they compete.
	t0 := time.Now().Truncate(time.Second)
	type ev struct {
		id, pi  string
		created time.Time
	}
	var evs []ev
	for pi := range payments {
		for i := range eventsPerPayment {
			evs = append(evs, ev{fmt.Sprintf("evt_%02d_%02d", pi, i), fmt.Sprintf("pi_%02d", pi), t0.Add(time.Duration(i) * time.Second)})
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
	rcv := newRouter(t, pool, nil)
	createdOf := map[string]time.Time{}
	paymentOf := map[string]string{}
	for _, e := range evs {
		deliver(t, rcv, eventBody(e.id, "payment_intent.processing", e.created, piObject(e.pi, "processing")))
		createdOf[e.id], paymentOf[e.id] = e.created, e.pi
	}

	opts := webhook.ProcessorOptions{PollInterval: 20 * time.Millisecond}
	run(t, newProcessor(t, pool, h, opts), newProcessor(t, pool, h, opts), newProcessor(t, pool, h, opts))
	eventually(t, 60*time.Second, "all events processed", func() bool {
		return countEvents(t, pool, "processed_at IS NOT NULL") == total
	})

	order := h.order()
	if len(order) != total {
		t.Fatalf("handler called %d times for %d events", len(order), total)
	}
	for id := range createdOf {
		if n := h.callsOf(id); n != 1 {
			t.Errorf("%s handled %d times, want 1", id, n)
		}
	}
	if n := countEvents(t, pool, "attempts <> 1"); n != 0 {
		t.Errorf("%d events needed more than one attempt", n)
	}
	if n := countEffects(t, pool); n != total {
		t.Errorf("%d effects, want %d", n, total)
	}
	last := map[string]time.Time{}
	for _, id := range order {
		pi := paymentOf[id]
		if prev, ok := last[pi]; ok && createdOf[id].Before(prev) {
			t.Errorf("%s (created %s) handled after a newer event of %s", id, createdOf[id], pi)
		}
		last[pi] = createdOf[id]
	}
	h.mu.Lock()
	maxInflight, overlaps := h.maxInflight, h.overlaps
	h.mu.Unlock()
	if overlaps != 0 {
		t.Errorf("%d handler calls overlapped another of the same payment", overlaps)
	}
	// Without overlap the test would prove nothing about concurrent claims.
	if maxInflight < 2 {
		t.Fatalf("at most %d handler call at a time: processors never ran concurrently", maxInflight)
	}
}

// handlerFunc adapts a function to webhook.Handler.
type handlerFunc func(ctx context.Context, tx pgx.Tx, ev webhook.Event) error

func (f handlerFunc) HandleStripeEvent(ctx context.Context, tx pgx.Tx, ev webhook.Event) error {
	return f(ctx, tx, ev)
}

// A failure whose text PostgreSQL cannot store (NUL, invalid UTF-8) is still recorded,
// so it backs off like any other instead of being retried at once.
func TestProcessorRecordsUnstorableErrorText(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		wantErr string
	}{
		{"NUL and invalid UTF-8", errors.New("bad\x00byte \xff"), "bad\uFFFDbyte \uFFFD"},
		{"very long", errors.New(strings.Repeat("é", 3000)), strings.Repeat("é", 1000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool := newDB(t)
			p := newProcessor(t, pool, handlerFunc(func(context.Context, pgx.Tx, webhook.Event) error { return tt.err }),
				webhook.ProcessorOptions{RetryBackoff: time.Hour})
			deliver(t, newRouter(t, pool, nil), eventBody("evt_1", "charge.failed", time.Now(), chargeObject("ch_1", "pi_1")))

			drain(t, p)

			row := readEvent(t, pool, "evt_1")
			if row.Processed || row.Attempts != 1 || row.LastError == nil || *row.LastError != tt.wantErr {
				t.Fatalf("row %+v, want unprocessed after 1 attempt with the sanitised error", row)
			}
		})
	}
}
