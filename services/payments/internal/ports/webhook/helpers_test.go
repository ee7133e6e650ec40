package webhook_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mobilitycorp/platform/pkg/config"
	"github.com/mobilitycorp/platform/pkg/postgres/pgtest"
	"github.com/mobilitycorp/platform/services/payments/internal/ports/webhook"
)

const (
	oldSecret = "whsec_old_0123456789abcdef"
	newSecret = "whsec_new_fedcba9876543210"
)

// fixedNow is the receiver's clock in tests that need exact timestamps.
func fixedNow() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) }

// newDB returns a migrated database with an effects table the test handler writes
// to, so a test can see which handler writes committed.
func newDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool := pgtest.New(t, webhook.Migrations())
	if _, err := pool.Exec(context.Background(),
		"CREATE TABLE effects (event_id TEXT PRIMARY KEY, attempt INT NOT NULL)"); err != nil {
		t.Fatalf("create effects: %v", err)
	}
	return pool
}

// newRouter mounts a receiver accepting both rotation secrets.
func newRouter(t *testing.T, pool *pgxpool.Pool, now func() time.Time, secrets ...string) http.Handler {
	t.Helper()
	if len(secrets) == 0 {
		secrets = []string{oldSecret, newSecret}
	}
	ss := make([]config.Secret, len(secrets))
	for i, s := range secrets {
		ss[i] = config.Secret(s)
	}
	rc, err := webhook.NewReceiver(pool, webhook.ReceiverOptions{Secrets: ss, Now: now})
	if err != nil {
		t.Fatalf("NewReceiver: %v", err)
	}
	r := chi.NewRouter()
	rc.Mount(r)
	return r
}

func post(h http.Handler, header string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, webhook.Path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	if header != "" {
		req.Header.Set(webhook.SignatureHeader, header)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// deliver posts body signed now with the new secret and requires a 200.
func deliver(t *testing.T, h http.Handler, body []byte) {
	t.Helper()
	if rec := post(h, webhook.Sign(newSecret, time.Now(), body), body); rec.Code != http.StatusOK {
		t.Fatalf("deliver: status %d, body %s", rec.Code, rec.Body)
	}
}

// eventBody is a Stripe event envelope around object (a JSON object).
func eventBody(id, typ string, created time.Time, object string) []byte {
	return fmt.Appendf(nil, `{
  "id": %q,
  "object": "event",
  "api_version": "2025-03-31.basil",
  "created": %d,
  "data": {"object": %s},
  "livemode": false,
  "pending_webhooks": 1,
  "request": {"id": null, "idempotency_key": null},
  "type": %q
}`, id, created.Unix(), object, typ)
}

func piObject(id, status string) string {
	return fmt.Sprintf(`{"id": %q, "object": "payment_intent", "amount": 1250, "amount_capturable": 0,
		"amount_received": 1250, "currency": "eur", "status": %q, "capture_method": "manual",
		"customer": "cus_1", "payment_method": "pm_1", "latest_charge": "ch_1", "created": 1767225600,
		"metadata": {"trip_id": "trip_1"}, "last_payment_error": null}`, id, status)
}

func chargeObject(id, paymentIntent string) string {
	return fmt.Sprintf(`{"id": %q, "object": "charge", "amount": 1250, "amount_refunded": 1250,
		"currency": "eur", "refunded": true, "payment_intent": %q}`, id, paymentIntent)
}

func countEvents(t *testing.T, pool *pgxpool.Pool, where string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM webhook_events WHERE "+where).Scan(&n); err != nil {
		t.Fatalf("count events: %v", err)
	}
	return n
}

type eventRow struct {
	Type        string
	Created     time.Time
	OrderingKey string
	PayloadID   string
	ReceivedAt  time.Time
	Processed   bool
	Attempts    int
	LastError   *string
}

func readEvent(t *testing.T, pool *pgxpool.Pool, id string) eventRow {
	t.Helper()
	var r eventRow
	err := pool.QueryRow(context.Background(), `
		SELECT type, created, ordering_key, payload->>'id', received_at, processed_at IS NOT NULL, attempts, last_error
		FROM webhook_events WHERE event_id = $1`, id).
		Scan(&r.Type, &r.Created, &r.OrderingKey, &r.PayloadID, &r.ReceivedAt, &r.Processed, &r.Attempts, &r.LastError)
	if err != nil {
		t.Fatalf("read event %s: %v", id, err)
	}
	return r
}

func countEffects(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM effects").Scan(&n); err != nil {
		t.Fatalf("count effects: %v", err)
	}
	return n
}

// countingHandler records every call and writes one effects row per event in the
// handler's transaction; a write surviving a failed attempt would make the retry
// hit the primary key.
type countingHandler struct {
	failFirst map[string]int // event id → how many leading calls fail
	delay     time.Duration  // time spent per call, to make processors overlap

	mu          sync.Mutex
	calls       []webhook.Event
	perEvent    map[string]int
	inflight    int
	maxInflight int
	inflightPI  map[string]int // payment intent → calls in progress
	overlaps    int            // calls that started while another of the same payment ran
}

func newCountingHandler() *countingHandler {
	return &countingHandler{failFirst: map[string]int{}, perEvent: map[string]int{}, inflightPI: map[string]int{}}
}

func (h *countingHandler) HandleStripeEvent(ctx context.Context, tx pgx.Tx, ev webhook.Event) error {
	h.mu.Lock()
	h.calls = append(h.calls, ev)
	h.perEvent[ev.ID]++
	n := h.perEvent[ev.ID]
	h.inflight++
	h.maxInflight = max(h.maxInflight, h.inflight)
	pi := ev.PaymentIntentID()
	if h.inflightPI[pi] > 0 {
		h.overlaps++
	}
	h.inflightPI[pi]++
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.inflight--
		h.inflightPI[pi]--
		h.mu.Unlock()
	}()

	if _, err := tx.Exec(ctx, "INSERT INTO effects (event_id, attempt) VALUES ($1, $2)", ev.ID, ev.Attempt); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	if h.delay > 0 {
		time.Sleep(h.delay)
	}
	if n <= h.failFirst[ev.ID] {
		return fmt.Errorf("ledger unavailable (call %d)", n)
	}
	return nil
}

// order is the sequence of event ids handed to the handler.
func (h *countingHandler) order() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := make([]string, len(h.calls))
	for i, c := range h.calls {
		ids[i] = c.ID
	}
	return ids
}

// attempts is the Event.Attempt of every call, in order.
func (h *countingHandler) attempts() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	as := make([]int, len(h.calls))
	for i, c := range h.calls {
		as[i] = c.Attempt
	}
	return as
}

func (h *countingHandler) callsOf(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.perEvent[id]
}

func newProcessor(t *testing.T, pool *pgxpool.Pool, h webhook.Handler, opts webhook.ProcessorOptions) *webhook.Processor {
	t.Helper()
	p, err := webhook.NewProcessor(pool, h, opts)
	if err != nil {
		t.Fatalf("NewProcessor: %v", err)
	}
	return p
}

// drain calls ProcessNext until no event is due.
func drain(t *testing.T, p *webhook.Processor) {
	t.Helper()
	for range 1000 {
		ok, err := p.ProcessNext(context.Background())
		if err != nil {
			t.Fatalf("ProcessNext: %v", err)
		}
		if !ok {
			return
		}
	}
	t.Fatal("ProcessNext never ran out of events")
}

// run starts the processors' Run loops; cleanup cancels them, waits for them to
// return and requires that they returned nil.
func run(t *testing.T, ps ...*webhook.Processor) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, len(ps))
	for _, p := range ps {
		wg.Go(func() { errs <- p.Run(ctx) })
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("Run returned %v after cancel, want nil", err)
			}
		}
	})
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
