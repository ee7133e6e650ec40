package gazetteer

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/kafka"
	"github.com/mobilitycorp/platform/services/maps-proxy/internal/domain"
)

// Entity kinds of events.RegistryKey that the gazetteer keeps.
const (
	registryBay  = "bay"
	registryZone = "zone"
)

func instanceID() string { return strings.ToLower(rand.Text()[:12]) }

// Run follows the fleet registry until ctx ends, keeping the bays current, and then
// returns nil. It reads the compacted topic from its start on every run, so the
// index is complete once it has caught up; until then bays are missing, not wrong.
// Without registry options it returns nil at once. A Gazetteer runs once.
func (g *Gazetteer) Run(ctx context.Context) error {
	if g.registry == nil {
		g.logger.InfoContext(ctx, "gazetteer: no fleet registry configured, built-in places only")
		return nil
	}
	if !g.running.CompareAndSwap(false, true) {
		return errors.New("gazetteer: Run called twice")
	}
	c, err := kafka.NewConsumer(g.registry.Kafka, kafka.ConsumerOptions{
		Group:   g.group,
		Topics:  []string{events.TopicFleetRegistry},
		Handler: g.HandleRecord,
		DLQ:     g.registry.DLQ,
	}, g.logger, g.registry.Registerer)
	if err != nil {
		return fmt.Errorf("gazetteer: fleet registry consumer: %w", err)
	}
	g.logger.InfoContext(ctx, "gazetteer: following the fleet registry", slog.String("group", g.group))
	if err := c.Run(ctx); err != nil {
		return fmt.Errorf("gazetteer: fleet registry consumer: %w", err)
	}
	return nil
}

// HandleRecord applies one fleet registry record (a kafka.Handler). Bays and zones
// are kept; vehicles and unknown kinds are skipped. A record without value is a
// tombstone and removes its entity, and so does an inactive bay. Records that are not
// valid events, or bays without a name or a valid point, fail with kafka.Permanent
// errors, so the consumer dead-letters them instead of retrying.
func (g *Gazetteer) HandleRecord(_ context.Context, r *kgo.Record) error {
	kind, id, _ := strings.Cut(string(r.Key), ":")
	if (kind != registryBay && kind != registryZone) || id == "" {
		return nil
	}
	if len(r.Value) == 0 {
		g.remove(kind, id)
		return nil
	}
	e, err := events.FromRecord(r)
	if err != nil {
		return err
	}
	switch e.Type {
	case events.TypeFleetBayUpsertedV1:
		bay, err := events.Decode[events.FleetBayUpsertedV1](e)
		if err != nil {
			return err
		}
		return g.upsertBay(id, bay)
	case events.TypeFleetZoneUpsertedV1:
		z, err := events.Decode[events.FleetZoneUpsertedV1](e)
		if err != nil {
			return err
		}
		g.upsertZone(id, z)
		return nil
	default:
		// A newer version of the type is read by a newer gazetteer; this one keeps
		// what it had rather than dead-lettering a valid record.
		g.logger.Debug("gazetteer: skipping registry event", slog.String("type", e.Type), slog.String("key", string(r.Key)))
		return nil
	}
}

func (g *Gazetteer) upsertBay(id string, bay events.FleetBayUpsertedV1) error {
	pt := domain.LatLng{Lat: bay.Lat, Lon: bay.Lon}
	if err := pt.Validate(); err != nil {
		return kafka.Permanent(fmt.Errorf("bay %s: %w", id, err))
	}
	if strings.TrimSpace(bay.Name) == "" {
		return kafka.Permanent(fmt.Errorf("bay %s has no name", id))
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if !bay.Active {
		delete(g.bays, id)
		return nil
	}
	e := newEntry(domain.Place{Name: bay.Name, Point: pt, Kind: registryBay}, []string{bay.Name}, "")
	e.zoneID = bay.ZoneID
	g.bays[id] = e
	return nil
}

func (g *Gazetteer) upsertZone(id string, z events.FleetZoneUpsertedV1) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !z.Active {
		delete(g.zones, id)
		return
	}
	g.zones[id] = zone{name: z.Name, city: z.City}
}

func (g *Gazetteer) remove(kind, id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch kind {
	case registryBay:
		delete(g.bays, id)
	case registryZone:
		delete(g.zones, id)
	}
}
