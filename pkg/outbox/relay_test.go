package outbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/kafka"
	"github.com/mobilitycorp/platform/pkg/kafka/kafkatest"
	"github.com/mobilitycorp/platform/pkg/outbox"
)

func TestEnqueueStoresEventHeadersAndTraceContext(t *testing.T) {
	pool := newDB(t)
	ctx := context.Background()
	prop := propagation.TraceContext{}
	tp := sdktrace.NewTracerProvider()
	spanCtx, span := tp.Tracer("test").Start(ctx, "end trip")
	defer span.End()

	e := endTrip(t, pool, "trip-7", 990, outbox.WithPropagator(prop))

	var (
		topic, key, eventID string
		headers             map[string]string
		payload             []byte
	)
	err := pool.QueryRow(ctx, "SELECT topic, record_key, event_id, headers, payload FROM outbox").
		Scan(&topic, &key, &eventID, &headers, &payload)
	if err != nil {
		t.Fatal(err)
	}
	if topic != events.TopicBookingTrips || key != "trip-7" || eventID != e.ID || string(payload) != string(e.Data) {
		t.Errorf("row = %s %s %s %s", topic, key, eventID, payload)
	}
	for k, want := range map[string]string{
		"ce_specversion": "1.0", "ce_id": e.ID, "ce_type": events.TypeTripEndedV1, "ce_source": events.SourceBooking,
		"ce_subject": "trip-7", "content-type": "application/json",
	} {
		if headers[k] != want {
			t.Errorf("stored header %s = %q, want %q", k, headers[k], want)
		}
	}
	// endTrip ran without a span: no trace context is stored.
	if _, ok := headers["traceparent"]; ok {
		t.Errorf("traceparent stored without a span: %v", headers)
	}

	// With a span, its context is stored.
	e2, err := events.New(events.TypeTripEndedV1, events.SourceBooking, "trip-8", map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return outbox.Enqueue(spanCtx, tx, events.TopicBookingTrips, "trip-8", e2, outbox.WithPropagator(prop))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, "SELECT headers FROM outbox WHERE event_id = $1", e2.ID).Scan(&headers); err != nil {
		t.Fatal(err)
	}
	if tid := span.SpanContext().TraceID().String(); !strings.Contains(headers["traceparent"], tid) {
		t.Errorf("traceparent = %q, want trace %s", headers["traceparent"], tid)
	}

	// A rolled back transaction leaves no event.
	e3, _ := events.New(events.TypeTripEndedV1, events.SourceBooking, "trip-9", nil)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := outbox.Enqueue(ctx, tx, events.TopicBookingTrips, "trip-9", e3); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool, "SELECT count(*) FROM outbox WHERE event_id = $1", e3.ID); n != 0 {
		t.Errorf("rolled back event is in the outbox")
	}

	// Invalid input and a duplicate event id are refused.
	tests := []struct {
		name  string
		topic string
		e     events.Event
	}{
		{"no topic", "", e3},
		{"no event id", events.TopicBookingTrips, events.Event{Type: "t", Source: "s"}},
		{"same event twice", events.TopicBookingTrips, e},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				return outbox.Enqueue(ctx, tx, tt.topic, "k", tt.e)
			})
			if err == nil {
				t.Fatal("Enqueue succeeded, want an error")
			}
		})
	}
}

// The trace that enqueued an event continues in the consumer, through the
// relay (whose own context has no span).
func TestTraceContinuesThroughRelay(t *testing.T) {
	pool := newDB(t)
	cfg := kafkatest.New(t, kafka.TopicSpec{Name: events.TopicBookingTrips, Partitions: 1})
	producer := newProducer(t, cfg)
	prop := propagation.TraceContext{}
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("test").Start(context.Background(), "end trip")
	span.End()
	e, err := events.New(events.TypeTripEndedV1, events.SourceBooking, "trip-1", map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return outbox.Enqueue(ctx, tx, events.TopicBookingTrips, "trip-1", e, outbox.WithPropagator(prop))
	}); err != nil {
		t.Fatal(err)
	}
	stop, _ := start(t, context.Background(), newRelay(t, pool, producer, outbox.RelayOptions{}).Run)
	rec := kafkatest.Records(t, cfg, events.TopicBookingTrips, 1)[0]
	stop()
	got := trace.SpanContextFromContext(prop.Extract(context.Background(), kafka.HeaderCarrier{Headers: &rec.Headers}))
	if got.TraceID() != span.SpanContext().TraceID() || got.SpanID() != span.SpanContext().SpanID() {
		t.Errorf("record carries %v, want the enqueuing span %v", got, span.SpanContext())
	}
	if ev, err := events.FromRecord(rec); err != nil || ev.ID != e.ID || ev.Subject != "trip-1" {
		t.Errorf("relayed record is not the event: %+v, %v", ev, err)
	}
}

// Two relays compete: only one publishes at a time; when it stops the other
// takes over; per key the events arrive in commit order, each once.
func TestCompetingRelaysKeepOrderPerKey(t *testing.T) {
	pool := newDB(t)
	cfg := kafkatest.New(t, kafka.TopicSpec{Name: events.TopicBookingTrips, Partitions: 3})
	producer := newProducer(t, cfg)
	ctx := context.Background()

	var inFlight atomic.Int32
	var overlapped atomic.Bool
	var mu sync.Mutex
	published := map[string]int{}
	relayed := func(name string) outbox.Publisher {
		return publisherFunc(func(ctx context.Context, recs ...*kgo.Record) error {
			if inFlight.Add(1) > 1 {
				overlapped.Store(true)
			}
			defer inFlight.Add(-1)
			mu.Lock()
			published[name] += len(recs)
			mu.Unlock()
			return producer.Produce(ctx, recs...)
		})
	}
	publishedBy := func(name string) int {
		mu.Lock()
		defer mu.Unlock()
		return published[name]
	}
	opts := outbox.RelayOptions{BatchSize: 7} // many batches
	stopA, _ := start(t, ctx, newRelay(t, pool, relayed("a"), opts).Run)
	stopB, _ := start(t, ctx, newRelay(t, pool, relayed("b"), opts).Run)
	stops := map[string]func(){"a": stopA, "b": stopB}

	const keys, perPhase = 5, 20
	// enqueue commits seq from..from+perPhase-1 for every key; keys run
	// concurrently, each key's events are committed in order.
	enqueue := func(from int) {
		var wg sync.WaitGroup
		for k := range keys {
			wg.Go(func() {
				key := fmt.Sprintf("trip-%d", k)
				for seq := from; seq < from+perPhase; seq++ {
					e, err := events.New(events.TypeTripEndedV1, events.SourceBooking, key, map[string]int{"seq": seq})
					if err != nil {
						t.Error(err)
						return
					}
					if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
						return outbox.Enqueue(ctx, tx, events.TopicBookingTrips, key, e)
					}); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	allPublished := func() bool {
		return count(t, pool, "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
	}

	enqueue(0)
	eventually(t, "phase 1 published", allPublished)
	active, standby := "a", "b"
	if publishedBy("b") > 0 {
		active, standby = "b", "a"
	}
	if publishedBy(standby) != 0 {
		t.Fatalf("both relays published: %v", published)
	}
	stops[active]()

	enqueue(perPhase)
	eventually(t, "phase 2 published by the standby", allPublished)
	if publishedBy(standby) == 0 {
		t.Error("the standby never took over")
	}
	if overlapped.Load() {
		t.Error("two relays published at the same time")
	}

	total := keys * 2 * perPhase
	if got := kafkatest.Total(t, cfg, events.TopicBookingTrips); got != int64(total) {
		t.Errorf("topic holds %d records, want %d (each event once)", got, total)
	}
	seqs := map[string][]int{}
	for _, r := range kafkatest.Records(t, cfg, events.TopicBookingTrips, total) {
		var data struct{ Seq int }
		if err := json.Unmarshal(r.Value, &data); err != nil {
			t.Fatal(err)
		}
		seqs[string(r.Key)] = append(seqs[string(r.Key)], data.Seq)
	}
	for k := range keys {
		key := fmt.Sprintf("trip-%d", k)
		got := seqs[key]
		for i, s := range got {
			if s != i {
				t.Errorf("key %s: events arrived as %v, want 0..%d in order", key, got, 2*perPhase-1)
				break
			}
		}
		if len(got) != 2*perPhase {
			t.Errorf("key %s: %d events, want %d", key, len(got), 2*perPhase)
		}
	}
}

// When the active relay's connection dies, its lock goes with it and a relay
// (the standby, or itself reconnected) continues.
func TestRelayLockMovesOnConnectionLoss(t *testing.T) {
	pool := newDB(t)
	cfg := kafkatest.New(t, kafka.TopicSpec{Name: events.TopicBookingTrips, Partitions: 1})
	producer := newProducer(t, cfg)
	ctx := context.Background()
	start(t, ctx, newRelay(t, pool, producer, outbox.RelayOptions{}).Run)
	start(t, ctx, newRelay(t, pool, producer, outbox.RelayOptions{}).Run)

	holder := func() int {
		var pid int
		err := pool.QueryRow(ctx, "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())").Scan(&pid)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0
		}
		if err != nil {
			t.Fatal(err)
		}
		return pid
	}
	endTrip(t, pool, "trip-1", 100)
	eventually(t, "first event published", func() bool { return kafkatest.Total(t, cfg, events.TopicBookingTrips) == 1 })
	// Kill only after the row is marked: a kill between publish and mark would
	// (correctly) publish it again, which is another test's subject.
	eventually(t, "first event marked", func() bool {
		var pending int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM outbox WHERE published_at IS NULL").Scan(&pending); err != nil {
			t.Fatal(err)
		}
		return pending == 0
	})
	first := holder()
	if first == 0 {
		t.Fatal("no relay holds the lock")
	}
	if _, err := pool.Exec(ctx, "SELECT pg_terminate_backend($1)", first); err != nil {
		t.Fatal(err)
	}
	eventually(t, "another session holds the lock", func() bool { h := holder(); return h != 0 && h != first })
	endTrip(t, pool, "trip-2", 200)
	eventually(t, "second event published", func() bool { return kafkatest.Total(t, cfg, events.TopicBookingTrips) == 2 })
}

// New rows wake the relay through NOTIFY: with a one-minute poll interval an
// event is still published within the test's deadline.
func TestRelayWakesOnNotify(t *testing.T) {
	pool := newDB(t)
	cfg := kafkatest.New(t, kafka.TopicSpec{Name: events.TopicBookingTrips, Partitions: 1})
	producer := newProducer(t, cfg)
	endTrip(t, pool, "trip-1", 100)
	start(t, context.Background(), newRelay(t, pool, producer, outbox.RelayOptions{PollInterval: time.Minute}).Run)
	eventually(t, "the first event (found by the initial read)", func() bool {
		return kafkatest.Total(t, cfg, events.TopicBookingTrips) == 1
	})
	// After lingering briefly the relay is idle, waiting up to a minute unless notified.
	time.Sleep(time.Second)
	endTrip(t, pool, "trip-2", 200)
	eventually(t, "the second event (found through NOTIFY)", func() bool {
		return kafkatest.Total(t, cfg, events.TopicBookingTrips) == 2
	})
}

// A failing publisher (Kafka down) does not lose rows: the relay keeps its
// lock and retries; the lag gauge shows the backlog meanwhile.
func TestRelayRetriesFailedPublishAndReportsLag(t *testing.T) {
	pool := newDB(t)
	cfg := kafkatest.New(t, kafka.TopicSpec{Name: events.TopicBookingTrips, Partitions: 1})
	producer := newProducer(t, cfg)
	ctx := context.Background()
	reg := prometheus.NewRegistry()

	var down atomic.Bool
	down.Store(true)
	var failures atomic.Int32
	pub := publisherFunc(func(ctx context.Context, recs ...*kgo.Record) error {
		if down.Load() {
			failures.Add(1)
			return errors.New("kafka unavailable")
		}
		return producer.Produce(ctx, recs...)
	})
	e := endTrip(t, pool, "trip-1", 100)
	if _, err := pool.Exec(ctx, "UPDATE outbox SET created_at = now() - interval '1 hour'"); err != nil {
		t.Fatal(err)
	}
	start(t, ctx, newRelay(t, pool, pub, outbox.RelayOptions{Registerer: reg}).Run)

	eventually(t, "a few failed attempts", func() bool { return failures.Load() >= 3 })
	if lag := gauge(t, reg, "outbox_lag_seconds"); lag < 3600 {
		t.Errorf("outbox_lag_seconds = %v while an hour-old row waits, want ≥ 3600", lag)
	}
	if n := count(t, pool, "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL"); n != 0 {
		t.Fatalf("%d rows marked published while publishing fails", n)
	}
	down.Store(false)
	eventually(t, "published once Kafka is back", func() bool {
		return count(t, pool, "SELECT count(*) FROM outbox WHERE event_id = $1 AND published_at IS NOT NULL", e.ID) == 1
	})
	eventually(t, "lag back to 0", func() bool { return gauge(t, reg, "outbox_lag_seconds") == 0 })
	if got := kafkatest.Total(t, cfg, events.TopicBookingTrips); got != 1 {
		t.Errorf("topic holds %d records, want 1", got)
	}
	if got := counterValue(t, reg, "outbox_published_total", events.TopicBookingTrips); got != 1 {
		t.Errorf("outbox_published_total = %v, want 1", got)
	}
}

func TestRelayPrunesPublishedRowsAfterRetention(t *testing.T) {
	pool := newDB(t)
	cfg := kafkatest.New(t, kafka.TopicSpec{Name: events.TopicBookingTrips, Partitions: 1})
	producer := newProducer(t, cfg)
	ctx := context.Background()
	old := endTrip(t, pool, "trip-old", 1)
	recent := endTrip(t, pool, "trip-recent", 2)
	waiting := endTrip(t, pool, "trip-waiting", 3)
	// old was published long ago, recent just now; waiting is old but unpublished.
	if _, err := pool.Exec(ctx, `
		UPDATE outbox SET published_at = CASE event_id WHEN $1 THEN now() - interval '5 hours' ELSE now() END,
		                  created_at = now() - interval '6 hours'
		WHERE event_id IN ($1, $2);
	`, old.ID, recent.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "UPDATE outbox SET created_at = now() - interval '6 hours' WHERE event_id = $1", waiting.ID); err != nil {
		t.Fatal(err)
	}
	start(t, ctx, newRelay(t, pool, producer, outbox.RelayOptions{Retention: time.Hour}).Run)
	eventually(t, "the waiting row published", func() bool {
		return count(t, pool, "SELECT count(*) FROM outbox WHERE event_id = $1 AND published_at IS NOT NULL", waiting.ID) == 1
	})
	eventually(t, "the expired row pruned", func() bool {
		return count(t, pool, "SELECT count(*) FROM outbox WHERE event_id = $1", old.ID) == 0
	})
	if n := count(t, pool, "SELECT count(*) FROM outbox WHERE event_id IN ($1, $2)", recent.ID, waiting.ID); n != 2 {
		t.Errorf("%d of the recent and waiting rows kept, want 2", n)
	}
	if got := kafkatest.Total(t, cfg, events.TopicBookingTrips); got != 1 {
		t.Errorf("topic holds %d records, want only the waiting one", got)
	}
}

func gauge(t testing.TB, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	m := metric(t, g, name)
	if m == nil {
		return -1
	}
	return m.GetGauge().GetValue()
}

func counterValue(t testing.TB, g prometheus.Gatherer, name, topic string) float64 {
	t.Helper()
	m := metric(t, g, name, "topic", topic)
	if m == nil {
		return 0
	}
	return m.GetCounter().GetValue()
}

// metric finds the series of name whose labels include labelPairs (name, value, ...).
func metric(t testing.TB, g prometheus.Gatherer, name string, labelPairs ...string) *dto.Metric {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labelPairs); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					if l.GetName() == labelPairs[i] && l.GetValue() == labelPairs[i+1] {
						found = true
					}
				}
				if !found {
					continue series
				}
			}
			return m
		}
	}
	return nil
}

// Only the first row of a backlog notifies: a notifying commit serialises on a
// cluster-wide lock, and the relay keeps looking while older rows wait.
func TestEnqueueNotifiesOnlyWithoutOlderUnpublishedRows(t *testing.T) {
	pool := newDB(t)
	ctx := context.Background()
	listener, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Release()
	if _, err := listener.Exec(ctx, "LISTEN mobility_outbox"); err != nil {
		t.Fatal(err)
	}
	defer listener.Exec(ctx, "UNLISTEN *") //nolint:errcheck // the pool resets the connection otherwise
	notified := func() bool {
		wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		_, err := listener.Conn().WaitForNotification(wctx)
		return err == nil
	}

	endTrip(t, pool, "trip-1", 100)
	if !notified() {
		t.Fatal("the first row did not notify")
	}
	endTrip(t, pool, "trip-2", 200)
	endTrip(t, pool, "trip-3", 300)
	if notified() {
		t.Fatal("a row behind an unpublished one notified")
	}
	if _, err := pool.Exec(ctx, "UPDATE outbox SET published_at = now()"); err != nil {
		t.Fatal(err)
	}
	endTrip(t, pool, "trip-4", 400)
	if !notified() {
		t.Fatal("the first row after the backlog was published did not notify")
	}
	// Far behind (beyond the look-back) an unpublished row does not silence it.
	if _, err := pool.Exec(ctx, "SELECT setval(pg_get_serial_sequence('outbox', 'id'), 100000)"); err != nil {
		t.Fatal(err)
	}
	endTrip(t, pool, "trip-5", 500)
	if !notified() {
		t.Fatal("a row far beyond the unpublished one did not notify")
	}
}

// A row whose insert saw an older unpublished row (so it did not notify) and
// that commits after the relay published that row is still relayed promptly:
// the relay keeps polling for a while after publishing, long before its poll
// interval (a minute here) is up.
func TestRelayFindsRowsThatDidNotNotify(t *testing.T) {
	pool := newDB(t)
	cfg := kafkatest.New(t, kafka.TopicSpec{Name: events.TopicBookingTrips, Partitions: 1})
	producer := newProducer(t, cfg)
	ctx := context.Background()

	publishing, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	pub := publisherFunc(func(ctx context.Context, recs ...*kgo.Record) error {
		if calls.Add(1) == 1 {
			close(publishing)
			<-release
		}
		return producer.Produce(ctx, recs...)
	})
	endTrip(t, pool, "trip-old", 100)
	start(t, ctx, newRelay(t, pool, pub, outbox.RelayOptions{PollInterval: time.Minute}).Run)
	<-publishing // the relay found the old row and blocks publishing it
	e, err := events.New(events.TypeTripEndedV1, events.SourceBooking, "trip-late", map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	if err := outbox.Enqueue(ctx, tx, events.TopicBookingTrips, "trip-late", e); err != nil {
		t.Fatal(err)
	}
	close(release)
	eventually(t, "the older row marked published", func() bool {
		return count(t, pool, "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL") == 1
	})
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second) // far below the minute
	for kafkatest.Total(t, cfg, events.TopicBookingTrips) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the row that did not notify was not relayed within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := count(t, pool, "SELECT count(*) FROM outbox WHERE published_at IS NULL"); n != 0 {
		t.Errorf("%d rows left unpublished", n)
	}
}
