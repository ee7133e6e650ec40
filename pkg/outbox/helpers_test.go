package outbox_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/kafka"
	"github.com/mobilitycorp/platform/pkg/outbox"
	"github.com/mobilitycorp/platform/pkg/postgres"
	"github.com/mobilitycorp/platform/pkg/postgres/pgtest"
)

// A service's own state: trips it ends, and the charges a consumer applies.
func serviceTables() postgres.MigrationSet {
	return postgres.MigrationSet{Name: "outboxtest", FS: fstest.MapFS{
		"00001_trips.sql": {Data: []byte(`-- +goose Up
CREATE TABLE trips (id TEXT PRIMARY KEY, state TEXT NOT NULL);
CREATE TABLE charges (trip_id TEXT NOT NULL, amount_minor BIGINT NOT NULL);
-- +goose Down
DROP TABLE charges;
DROP TABLE trips;
`)},
	}}
}

func newDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	return pgtest.New(t, serviceTables())
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// publisherFunc adapts a function to outbox.Publisher, to wrap a real producer.
type publisherFunc func(ctx context.Context, recs ...*kgo.Record) error

func (f publisherFunc) Produce(ctx context.Context, recs ...*kgo.Record) error {
	return f(ctx, recs...)
}

func newProducer(t testing.TB, cfg kafka.Config) *kafka.Producer {
	t.Helper()
	p, err := kafka.NewProducer(cfg, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func newRelay(t testing.TB, pool *pgxpool.Pool, pub outbox.Publisher, opts outbox.RelayOptions) *outbox.Relay {
	t.Helper()
	if opts.PollInterval == 0 {
		opts.PollInterval = 20 * time.Millisecond
	}
	r, err := outbox.NewRelay(pool, pub, testLogger(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// start runs fn in a goroutine owned by the test, with a context derived
// from parent. stop cancels it and waits; wait only waits (for a run that
// ends by itself because parent was cancelled). Both fail the test if fn
// returned an error; cleanup stops it too.
func start(t testing.TB, parent context.Context, fn func(context.Context) error) (stop, wait func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(parent)
	errc := make(chan error, 1)
	go func() { errc <- fn(ctx) }()
	var once sync.Once
	wait = func() {
		once.Do(func() {
			select {
			case err := <-errc:
				if err != nil {
					t.Errorf("run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("run did not stop within 30s")
			}
		})
	}
	stop = func() {
		cancel()
		wait()
	}
	t.Cleanup(stop)
	return stop, wait
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func count(t testing.TB, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// endTrip changes state and enqueues its event in one transaction.
func endTrip(t testing.TB, pool *pgxpool.Pool, tripID string, priceMinor int64, opts ...outbox.EnqueueOption) events.Event {
	t.Helper()
	ctx := context.Background()
	e, err := events.New(events.TypeTripEndedV1, events.SourceBooking, tripID, events.TripEndedV1{
		TripID: tripID, CustomerID: "c-1", VehicleID: "v-1", Price: events.Money{AmountMinor: priceMinor, Currency: "EUR"},
	})
	if err != nil {
		t.Fatal(err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO trips (id, state) VALUES ($1, 'ended') ON CONFLICT (id) DO UPDATE SET state = 'ended'", tripID); err != nil {
			return err
		}
		return outbox.Enqueue(ctx, tx, events.TopicBookingTrips, tripID, e, opts...)
	})
	if err != nil {
		t.Fatalf("end trip: %v", err)
	}
	return e
}
