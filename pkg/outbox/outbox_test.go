package outbox_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/inbox"
	"github.com/mobilitycorp/platform/pkg/kafka"
	"github.com/mobilitycorp/platform/pkg/kafka/kafkatest"
	"github.com/mobilitycorp/platform/pkg/outbox"
)

var errKilled = errors.New("relay killed")

// Acceptance: an outbox event whose relay is killed between commit and
// publish is published after restart, and a consumer that de-duplicates on
// ce_id applies its effect exactly once.
func TestEventSurvivesRelayKilledAndIsAppliedOnce(t *testing.T) {
	tests := []struct {
		name string
		// dying wraps the real producer into the first relay's publisher,
		// which kills that relay (cancels its context) at some point.
		dying      func(p *kafka.Producer, kill context.CancelFunc) outbox.Publisher
		wantCopies int64
	}{
		{
			name: "killed after publishing, before marking",
			dying: func(p *kafka.Producer, kill context.CancelFunc) outbox.Publisher {
				return publisherFunc(func(ctx context.Context, recs ...*kgo.Record) error {
					if err := p.Produce(ctx, recs...); err != nil {
						return err
					}
					kill()
					return errKilled
				})
			},
			wantCopies: 2, // the restarted relay publishes it again
		},
		{
			name: "killed before publishing",
			dying: func(_ *kafka.Producer, kill context.CancelFunc) outbox.Publisher {
				return publisherFunc(func(context.Context, ...*kgo.Record) error {
					kill()
					return errKilled
				})
			},
			wantCopies: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool := newDB(t)
			cfg := kafkatest.New(t, kafka.TopicSpec{Name: events.TopicBookingTrips, Partitions: 1})
			producer := newProducer(t, cfg)
			ctx := context.Background()

			// The state change and its event commit together.
			e := endTrip(t, pool, "trip-1", 612)

			// The first relay dies while relaying it.
			dyingCtx, kill := context.WithCancel(ctx)
			dying := newRelay(t, pool, tt.dying(producer, kill), outbox.RelayOptions{})
			_, waitDying := start(t, dyingCtx, dying.Run)
			waitDying()
			if n := count(t, pool, "SELECT count(*) FROM outbox WHERE event_id = $1 AND published_at IS NULL", e.ID); n != 1 {
				t.Fatalf("after the kill the row must still be unpublished; %d such rows", n)
			}

			// A fresh relay publishes it.
			restarted := newRelay(t, pool, producer, outbox.RelayOptions{})
			stopRelay, _ := start(t, ctx, restarted.Run)
			eventually(t, "the row is marked published", func() bool {
				return count(t, pool, "SELECT count(*) FROM outbox WHERE event_id = $1 AND published_at IS NOT NULL", e.ID) == 1
			})
			stopRelay()
			if got := kafkatest.Total(t, cfg, events.TopicBookingTrips); got != tt.wantCopies {
				t.Fatalf("topic holds %d copies, want %d", got, tt.wantCopies)
			}
			for _, r := range kafkatest.Records(t, cfg, events.TopicBookingTrips, int(tt.wantCopies)) {
				if got := (kafka.HeaderCarrier{Headers: &r.Headers}).Get(events.HeaderID); got != e.ID {
					t.Errorf("copy has ce_id %q, want %q", got, e.ID)
				}
			}

			// A consumer de-duplicating on ce_id applies the charge once.
			var deliveries atomic.Int64
			consumer, err := kafka.NewConsumer(cfg, kafka.ConsumerOptions{
				Group:  "billing",
				Topics: []string{events.TopicBookingTrips},
				DLQ:    producer,
				Handler: func(ctx context.Context, r *kgo.Record) error {
					e, err := events.FromRecord(r)
					if err != nil {
						return err
					}
					trip, err := events.Decode[events.TripEndedV1](e)
					if err != nil {
						return err
					}
					err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
						first, err := inbox.Claim(ctx, tx, "billing", e.ID)
						if err != nil || !first {
							return err
						}
						_, err = tx.Exec(ctx, "INSERT INTO charges (trip_id, amount_minor) VALUES ($1, $2)", trip.TripID, trip.Price.AmountMinor)
						return err
					})
					if err == nil {
						deliveries.Add(1)
					}
					return err
				},
			}, testLogger(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			stopConsumer, _ := start(t, ctx, consumer.Run)
			eventually(t, "every copy delivered", func() bool { return deliveries.Load() == tt.wantCopies })
			stopConsumer()

			if n := count(t, pool, "SELECT count(*) FROM charges WHERE trip_id = 'trip-1' AND amount_minor = 612"); n != 1 {
				t.Errorf("charge applied %d times, want exactly once", n)
			}
			if n := count(t, pool, "SELECT count(*) FROM trips WHERE id = 'trip-1' AND state = 'ended'"); n != 1 {
				t.Errorf("the state change is missing")
			}
			if n := kafkatest.Total(t, cfg, kafka.DLQName(events.TopicBookingTrips)); n != 0 {
				t.Errorf("%d records dead-lettered, want none", n)
			}
		})
	}
}
