package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/mobilitycorp/platform/services/booking/internal/domain"
)

// PricingStore persists prices (adapters/postgres.PricingStore).
type PricingStore interface {
	PriceBook(ctx context.Context) (*domain.PriceBook, error)
	City(ctx context.Context, city string) (domain.CityPricing, []domain.Tariff, error)
	Tariff(ctx context.Context, city string, t domain.VehicleType) (domain.Tariff, error)
	UpdateCity(ctx context.Context, city string, update func(c *domain.CityPricing, exists bool) error) (domain.CityPricing, error)
	UpdateTariff(ctx context.Context, city string, t domain.VehicleType, update func(tr *domain.Tariff, currency string, exists bool) error) (domain.Tariff, error)
	CreateMultiplierChange(ctx context.Context, c domain.MultiplierChange) error
	DecideMultiplierChange(ctx context.Context, id string, decide func(c *domain.MultiplierChange) error) (domain.MultiplierChange, error)
	MultiplierChange(ctx context.Context, id string) (domain.MultiplierChange, error)
	ListMultiplierChanges(ctx context.Context, f domain.MultiplierChangeFilter, after *domain.MultiplierChangeCursor, limit int) ([]domain.MultiplierChange, error)
	Multipliers(ctx context.Context, city string) ([]domain.PriceMultiplier, error)
}

// PricingOptions configure Pricing; zero values take the defaults.
type PricingOptions struct {
	// Refresh is how often Run reloads the price book, so that a change made
	// through another instance is in force here within that time (default 5s).
	// Changes made through this instance are in force here at once.
	Refresh time.Duration
	Logger  *slog.Logger
	Now     func() time.Time
}

// Pricing prices trips: tariffs per city and vehicle type, the dynamic
// multiplier, fines and rewards. Reads (search results, quotes, final
// prices) are served from an in-memory price book, never a query per call.
type Pricing struct {
	store   PricingStore
	book    atomic.Pointer[domain.PriceBook]
	refresh time.Duration
	logger  *slog.Logger
	now     func() time.Time
}

// NewPricing returns the pricing service; call Load (or Run) before serving.
func NewPricing(store PricingStore, opts PricingOptions) *Pricing {
	if opts.Refresh <= 0 {
		opts.Refresh = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Pricing{store: store, refresh: opts.Refresh, logger: opts.Logger, now: opts.Now}
}

// Load replaces the price book with the stored prices.
func (p *Pricing) Load(ctx context.Context) error {
	b, err := p.store.PriceBook(ctx)
	if err != nil {
		return err
	}
	p.book.Store(b)
	return nil
}

// Run reloads the price book every Refresh until ctx ends. A failed reload
// keeps the last book (prices change rarely; stale for seconds beats none).
func (p *Pricing) Run(ctx context.Context) error {
	t := time.NewTicker(p.refresh)
	defer t.Stop()
	for {
		if err := p.Load(ctx); err != nil && ctx.Err() == nil {
			p.logger.WarnContext(ctx, "pricing: reload price book", slog.Any("error", err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Book returns the current price book, loading it on first use.
func (p *Pricing) Book(ctx context.Context) (*domain.PriceBook, error) {
	if b := p.book.Load(); b != nil {
		return b, nil
	}
	if err := p.Load(ctx); err != nil {
		return nil, err
	}
	return p.book.Load(), nil
}

// Terms returns the price terms a trip of t starting now in city (a city name
// or key) and zone is charged at. Trips should keep them from their start and
// price the end with PriceTerms.FinalPrice, so a later multiplier change does
// not reach a running trip.
func (p *Pricing) Terms(ctx context.Context, t domain.VehicleType, city, zoneID string) (domain.PriceTerms, error) {
	key, err := domain.CityKey(city)
	if err != nil {
		return domain.PriceTerms{}, err
	}
	if _, err := domain.ParseVehicleType(string(t)); err != nil {
		return domain.PriceTerms{}, err
	}
	b, err := p.Book(ctx)
	if err != nil {
		return domain.PriceTerms{}, err
	}
	return b.Terms(key, t, zoneID)
}

// Quote prices a planned trip of minutes at the current terms.
func (p *Pricing) Quote(ctx context.Context, t domain.VehicleType, city, zoneID string, minutes int64) (domain.Quote, error) {
	terms, err := p.Terms(ctx, t, city, zoneID)
	if err != nil {
		return domain.Quote{}, err
	}
	return terms.Quote(minutes, p.now().UTC())
}

// FinalPrice prices a trip from its timestamps at the current terms; a trip
// that kept its terms from its start calls PriceTerms.FinalPrice instead.
func (p *Pricing) FinalPrice(ctx context.Context, t domain.VehicleType, city, zoneID string, start, end time.Time) (domain.FinalPrice, error) {
	terms, err := p.Terms(ctx, t, city, zoneID)
	if err != nil {
		return domain.FinalPrice{}, err
	}
	return terms.FinalPrice(start, end)
}

// CityPricing returns a city's currency, fines and reward credit from the
// price book: what trips use for the wrong-location and late-return fines and
// the under-served-bay reward.
func (p *Pricing) CityPricing(ctx context.Context, city string) (domain.CityPricing, error) {
	key, err := domain.CityKey(city)
	if err != nil {
		return domain.CityPricing{}, err
	}
	b, err := p.Book(ctx)
	if err != nil {
		return domain.CityPricing{}, err
	}
	c, ok := b.City(key)
	if !ok {
		return domain.CityPricing{}, fmt.Errorf("%w: no pricing for city %q", domain.ErrNotFound, city)
	}
	return c, nil
}

// WrongLocationFine is the fine for a return outside a bay (or a permitted zone).
func (p *Pricing) WrongLocationFine(ctx context.Context, city string) (domain.Money, error) {
	c, err := p.CityPricing(ctx, city)
	return c.WrongLocationFine, err
}

// LateReturnFine is the fine for a trip past its limit (12 h, or a car's booked end).
func (p *Pricing) LateReturnFine(ctx context.Context, city string) (domain.Money, error) {
	c, err := p.CityPricing(ctx, city)
	return c.LateReturnFine, err
}

// UnderServedReward is the credit for returning to a bay marked under-served.
func (p *Pricing) UnderServedReward(ctx context.Context, city string) (domain.Money, error) {
	c, err := p.CityPricing(ctx, city)
	return c.UnderServedReward, err
}

// CancellationFee is charged for a reservation cancelled after its free window.
func (p *Pricing) CancellationFee(ctx context.Context, city string) (domain.Money, error) {
	c, err := p.CityPricing(ctx, city)
	return c.CancellationFee, err
}

// City returns a city's pricing and tariffs as stored (staff views read the
// database, not the cached book).
func (p *Pricing) City(ctx context.Context, city string) (domain.CityPricing, []domain.Tariff, error) {
	key, err := domain.CityKey(city)
	if err != nil {
		return domain.CityPricing{}, nil, err
	}
	return p.store.City(ctx, key)
}

// PutCity creates a city's pricing or changes its fines and reward; a city's
// currency is fixed once set.
func (p *Pricing) PutCity(ctx context.Context, by string, in domain.CityPricing) (domain.CityPricing, error) {
	key, err := domain.CityKey(in.City)
	if err != nil {
		return domain.CityPricing{}, err
	}
	in.City, in.UpdatedBy, in.UpdatedAt = key, by, p.now().UTC()
	if err := in.Validate(); err != nil {
		return domain.CityPricing{}, err
	}
	out, err := p.store.UpdateCity(ctx, key, func(c *domain.CityPricing, _ bool) error {
		*c = in
		return nil
	})
	if err != nil {
		return domain.CityPricing{}, err
	}
	p.reload(ctx)
	return out, nil
}

// Tariff returns one stored tariff.
func (p *Pricing) Tariff(ctx context.Context, city string, t domain.VehicleType) (domain.Tariff, error) {
	key, err := domain.CityKey(city)
	if err != nil {
		return domain.Tariff{}, err
	}
	return p.store.Tariff(ctx, key, t)
}

// PutTariff sets a tariff of a city that has pricing; its amounts must be in
// the city's currency.
func (p *Pricing) PutTariff(ctx context.Context, by string, in domain.Tariff) (domain.Tariff, error) {
	key, err := domain.CityKey(in.City)
	if err != nil {
		return domain.Tariff{}, err
	}
	in.City, in.UpdatedBy, in.UpdatedAt = key, by, p.now().UTC()
	if err := in.Validate(); err != nil {
		return domain.Tariff{}, err
	}
	out, err := p.store.UpdateTariff(ctx, key, in.VehicleType, func(tr *domain.Tariff, currency string, _ bool) error {
		if in.UnlockFee.Currency != currency {
			return fmt.Errorf("%w: %s charges in %s, the tariff is in %s", domain.ErrInvalid, key, currency, in.UnlockFee.Currency)
		}
		*tr = in
		return nil
	})
	if err != nil {
		return domain.Tariff{}, err
	}
	p.reload(ctx)
	return out, nil
}

// RequestMultiplier asks to set the multiplier of a city (zoneID "") or of an
// operating-area zone. Within 0.5x–2.5x it is in force at once; outside, it
// waits as pending_approval for an admin other than by.
func (p *Pricing) RequestMultiplier(ctx context.Context, by, city, zoneID string, value domain.Multiplier, reason string) (domain.MultiplierChange, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return domain.MultiplierChange{}, fmt.Errorf("change id: %w", err)
	}
	c, err := domain.NewMultiplierChange(id.String(), city, zoneID, value, reason, by, p.now().UTC())
	if err != nil {
		return domain.MultiplierChange{}, err
	}
	if err := p.store.CreateMultiplierChange(ctx, c); err != nil {
		return domain.MultiplierChange{}, err
	}
	if c.InForce() {
		p.reload(ctx)
	}
	return c, nil
}

// ApproveMultiplier puts a pending override in force; by must not be its requester.
func (p *Pricing) ApproveMultiplier(ctx context.Context, by, id string) (domain.MultiplierChange, error) {
	c, err := p.store.DecideMultiplierChange(ctx, id, func(c *domain.MultiplierChange) error {
		return c.Approve(by, p.now().UTC())
	})
	if err != nil {
		return domain.MultiplierChange{}, err
	}
	p.reload(ctx)
	return c, nil
}

// RejectMultiplier refuses a pending override.
func (p *Pricing) RejectMultiplier(ctx context.Context, by, id string) (domain.MultiplierChange, error) {
	return p.store.DecideMultiplierChange(ctx, id, func(c *domain.MultiplierChange) error {
		return c.Reject(by, p.now().UTC())
	})
}

// MultiplierChange returns one change request.
func (p *Pricing) MultiplierChange(ctx context.Context, id string) (domain.MultiplierChange, error) {
	return p.store.MultiplierChange(ctx, id)
}

// ListMultiplierChanges lists change requests newest first.
func (p *Pricing) ListMultiplierChanges(ctx context.Context, f domain.MultiplierChangeFilter, after *domain.MultiplierChangeCursor, limit int) ([]domain.MultiplierChange, error) {
	if f.City != "" {
		key, err := domain.CityKey(f.City)
		if err != nil {
			return nil, err
		}
		f.City = key
	}
	return p.store.ListMultiplierChanges(ctx, f, after, limit)
}

// Multipliers lists the multipliers in force in a city.
func (p *Pricing) Multipliers(ctx context.Context, city string) ([]domain.PriceMultiplier, error) {
	key, err := domain.CityKey(city)
	if err != nil {
		return nil, err
	}
	return p.store.Multipliers(ctx, key)
}

// reload puts a committed change in force on this instance at once; if the
// reload fails, Run picks the change up at its next tick.
func (p *Pricing) reload(ctx context.Context) {
	if err := p.Load(ctx); err != nil && !errors.Is(err, context.Canceled) {
		p.logger.WarnContext(ctx, "pricing: reload after change", slog.Any("error", err))
	}
}
