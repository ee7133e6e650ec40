package httpapi

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/mobilitycorp/platform/services/payments/internal/app"
	"github.com/mobilitycorp/platform/services/payments/internal/ports/webhook"
)

// StripeEvents adapts the use case to the webhook Processor: app cannot name
// webhook.Event (the webhook package builds on app's types), so the event is
// handed over field by field.
func StripeEvents(h *app.Webhooks) webhook.Handler { return stripeEvents{h} }

type stripeEvents struct{ h *app.Webhooks }

func (s stripeEvents) HandleStripeEvent(ctx context.Context, tx pgx.Tx, ev webhook.Event) error {
	return s.h.HandleStripeEvent(ctx, tx, app.StripeEvent{ID: ev.ID, Type: ev.Type, Created: ev.Created, Object: ev.Object})
}
