package consumer

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/kafka"
	"github.com/mobilitycorp/platform/services/booking/internal/app"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
)

// OperatingAreaUpdater keeps the operating areas (app.Availability).
type OperatingAreaUpdater interface {
	UpsertOperatingArea(ctx context.Context, z app.OperatingZone) error
	RemoveOperatingArea(ctx context.Context, zoneID string) error
}

// OperatingAreaRecords applies the zone records of fleet.registry: an active
// zone of the operating kind is set, anything else under a zone key (a
// tombstone, a deactivated zone, a zone of another kind) removes it. Each
// instance reads the whole topic into memory, so its consumer group must be
// its own.
func OperatingAreaRecords(u OperatingAreaUpdater) kafka.Handler {
	return func(ctx context.Context, r *kgo.Record) error {
		kind, id, _ := strings.Cut(string(r.Key), ":")
		if kind != "zone" || id == "" {
			return nil
		}
		if len(r.Value) == 0 {
			return u.RemoveOperatingArea(ctx, id)
		}
		e, err := events.FromRecord(r)
		if err != nil {
			return err
		}
		if e.Type != events.TypeFleetZoneUpsertedV1 {
			return nil
		}
		z, err := events.Decode[events.FleetZoneUpsertedV1](e)
		if err != nil {
			return err
		}
		if !z.Active || !isOperatingKind(z.Kind) {
			return u.RemoveOperatingArea(ctx, id)
		}
		pg := domain.Polygon{lonLatRing(z.Polygon)}
		for _, h := range z.Holes {
			pg = append(pg, lonLatRing(h))
		}
		return permanentIfInvalid(u.UpsertOperatingArea(ctx, app.OperatingZone{ID: id, City: z.City, Polygon: pg}))
	}
}

func isOperatingKind(k string) bool {
	switch k {
	case events.ZoneKindOperating, "operating_area", "operating-area":
		return true
	}
	return false
}

func lonLatRing(ring [][2]float64) []domain.Point {
	out := make([]domain.Point, len(ring))
	for i, p := range ring {
		out[i] = domain.Point{Lat: p[1], Lon: p[0]}
	}
	return out
}

// CatchUp tells when a consumer has handled every record that was in its
// topic when it started: the operating areas are complete then, and
// telemetry may be placed in them (before, a vehicle in a zone not yet read
// would be taken for outside every area).
type CatchUp struct {
	mu      sync.Mutex
	pending map[int32]int64 // partition → end offset still to reach
	done    func()
	once    sync.Once
}

// NewCatchUp reads the current end offsets of topic; done runs once every
// partition was handled up to them (at once when the topic is empty).
func NewCatchUp(ctx context.Context, cfg kafka.Config, topic string, done func()) (*CatchUp, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.ClientID(cfg.ClientID))
	if err != nil {
		return nil, fmt.Errorf("catch-up client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("start offsets of %s: %w", topic, err)
	}
	c := &CatchUp{pending: map[int32]int64{}, done: done}
	var lerr error
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			lerr = o.Err
			return
		}
		start, _ := starts.Lookup(topic, o.Partition)
		if o.Offset > start.Offset {
			c.pending[o.Partition] = o.Offset
		}
	})
	if lerr != nil {
		return nil, fmt.Errorf("offsets of %s: %w", topic, lerr)
	}
	c.check()
	return c, nil
}

// Handled records that the record at offset of partition was handled.
func (c *CatchUp) Handled(partition int32, offset int64) {
	c.mu.Lock()
	if end, ok := c.pending[partition]; ok && offset+1 >= end {
		delete(c.pending, partition)
	}
	c.mu.Unlock()
	c.check()
}

// Skip gives up waiting (e.g. after a timeout: a compacted-away last record
// could otherwise keep a partition pending forever).
func (c *CatchUp) Skip() { c.once.Do(c.done) }

func (c *CatchUp) check() {
	c.mu.Lock()
	n := len(c.pending)
	c.mu.Unlock()
	if n == 0 {
		c.once.Do(c.done)
	}
}

// Wrap returns h reporting each record it finished to c.
func (c *CatchUp) Wrap(h kafka.Handler) kafka.Handler {
	return func(ctx context.Context, r *kgo.Record) error {
		err := h(ctx, r)
		if err == nil || kafka.IsPermanent(err) {
			c.Handled(r.Partition, r.Offset)
		}
		return err
	}
}
