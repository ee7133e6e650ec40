package app_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mobilitycorp/platform/pkg/events"
	pg "github.com/mobilitycorp/platform/services/payments/internal/adapters/postgres"
	"github.com/mobilitycorp/platform/services/payments/internal/app"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

func TestFineIsChargedOnce(t *testing.T) {
	fx := newFixture(t, nil)
	ctx := context.Background()
	ev := fineIssued(t, "fine-1", "cust-f", "trip-f", events.FineWrongLocation, 25_00)
	for range 3 { // redelivered
		fx.ok(t, fx.flows.OnFineIssued(ctx, ev))
	}
	// Another event for the same fine (booking re-published it) charges nothing more.
	fx.ok(t, fx.flows.OnFineIssued(ctx, fineIssued(t, "fine-1", "cust-f", "trip-f", events.FineWrongLocation, 25_00)))
	if posted, _ := fx.balance(t, domain.CustomerReceivable("cust-f")); posted != 25_00 {
		t.Fatalf("receivable before the charge = %d, want the fine owed", posted)
	}
	fx.drain(t)

	p := fx.get(t, app.ChargeID(domain.PaymentKindFine, "fine-1"))
	if p.Kind != domain.PaymentKindFine || p.Status != domain.PaymentCaptured || p.Captured != eurMoney(25_00) ||
		p.Reference != "fine-1" || p.TripID != "trip-f" || p.Reason != events.FineWrongLocation {
		t.Fatalf("fine charge: %+v", p)
	}
	if n := len(fx.gw.Intents()); n != 1 {
		t.Fatalf("intents = %d, want 1", n)
	}
	if n := fx.gw.Captures(p.IntentID); n != 1 {
		t.Fatalf("captures = %d, want 1", n)
	}
	charged := outboxData[events.FineChargedV1](t, fx, events.TypeFineChargedV1)
	if len(charged) != 1 || charged[0].FineID != "fine-1" || charged[0].Amount.AmountMinor != 25_00 || charged[0].ProviderRef != p.IntentID {
		t.Fatalf("FineChargedV1 = %+v", charged)
	}
	if n := fx.outboxCount(t, events.TypePaymentCapturedV1); n != 0 {
		t.Fatalf("PaymentCapturedV1 = %d, want 0 (a fine is announced as FineChargedV1)", n)
	}
	fx.assertInvariant(t)
	for account, want := range map[domain.AccountID]int64{
		domain.CustomerReceivable("cust-f"): 0,
		domain.AccountRevenueFines:          -25_00,
		domain.AccountGatewayClearing:       25_00,
	} {
		if posted, _ := fx.balance(t, account); posted != want {
			t.Errorf("%s = %d, want %d", account, posted, want)
		}
	}
	charges, err := fx.store.Charges(ctx, "cust-f")
	fx.ok(t, err)
	if len(charges) != 1 || charges[0].ID != p.ID {
		t.Fatalf("Charges(cust-f) = %+v", charges)
	}
}

func TestCancellationFee(t *testing.T) {
	tests := []struct {
		name     string
		fee      *events.Money
		wantFee  int64 // 0: no charge
		declined bool
	}{
		{name: "free cancellation", fee: nil},
		{name: "zero fee", fee: &events.Money{AmountMinor: 0, Currency: "EUR"}},
		{name: "fee charged", fee: &events.Money{AmountMinor: 3_00, Currency: "EUR"}, wantFee: 3_00},
		{name: "fee declined", fee: &events.Money{AmountMinor: 3_00, Currency: "EUR"}, wantFee: 3_00, declined: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cards := map[string]string{}
			if tt.declined {
				cards["cust-r"] = "pm_card_chargeDeclinedInsufficientFunds"
			}
			fx := newFixtureWith(t, fxOptions{cards: cards})
			ctx := context.Background()
			ev := event(t, events.TypeReservationCancelledV1, "res-1", events.ReservationCancelledV1{
				ReservationID: "res-1", CustomerID: "cust-r", VehicleID: "v-1", CancelledBy: "customer",
				CancelledAt: time.Now().UTC(), Fee: tt.fee})
			fx.ok(t, fx.flows.OnReservationCancelled(ctx, ev))
			fx.ok(t, fx.flows.OnReservationCancelled(ctx, ev))
			fx.drain(t)
			fx.assertInvariant(t)
			charges, err := fx.store.Charges(ctx, "cust-r")
			fx.ok(t, err)
			if tt.wantFee == 0 {
				if len(charges) != 0 || len(fx.gw.Intents()) != 0 {
					t.Fatalf("free cancellation charged: %+v", charges)
				}
				return
			}
			if len(charges) != 1 || charges[0].Kind != domain.PaymentKindCancellationFee || charges[0].Reference != "res-1" {
				t.Fatalf("charges = %+v", charges)
			}
			receivable, _ := fx.balance(t, domain.CustomerReceivable("cust-r"))
			if tt.declined {
				if charges[0].Status != domain.PaymentFailed || charges[0].FailureCode != "insufficient_funds" {
					t.Fatalf("declined fee: %+v", charges[0])
				}
				failed := outboxData[events.PaymentFailedV1](t, fx, events.TypePaymentFailedV1)
				if len(failed) != 1 || failed[0].Stage != "charge" || failed[0].ReservationID != "res-1" || failed[0].Amount.AmountMinor != tt.wantFee {
					t.Fatalf("PaymentFailedV1 = %+v", failed)
				}
				if receivable != tt.wantFee {
					t.Fatalf("receivable = %d, want the unpaid fee %d", receivable, tt.wantFee)
				}
				if n := fx.count(t, `SELECT count(*) FROM payment_operations WHERE status = 'failed' AND kind = 'charge'`); n != 1 {
					t.Fatalf("failed charge operations = %d, want 1", n)
				}
				return
			}
			captured := outboxData[events.PaymentCapturedV1](t, fx, events.TypePaymentCapturedV1)
			if len(captured) != 1 || captured[0].Kind != events.PaymentKindCancellationFee || captured[0].ReservationID != "res-1" ||
				captured[0].Amount.AmountMinor != tt.wantFee {
				t.Fatalf("PaymentCapturedV1 = %+v", captured)
			}
			if receivable != 0 {
				t.Fatalf("receivable = %d, want settled", receivable)
			}
			if posted, _ := fx.balance(t, domain.AccountRevenueFines); posted != -tt.wantFee {
				t.Fatalf("revenue:fines = %d, want %d", posted, -tt.wantFee)
			}
		})
	}
}

// A trip's price above its hold: increment the hold where the card allows it,
// else capture the hold and charge the remainder separately.
func TestPriceAboveHold(t *testing.T) {
	tests := []struct {
		name          string
		card          string
		remainderCard string // the card on file when the remainder is charged ("" = same)
		wantTrip      int64  // captured from the trip's intent
		wantRemainder int64  // captured by a separate charge
		wantOwed      int64  // left on the receivable
		wantIncrement int
	}{
		{name: "incremental authorisation", card: "pm_card_visa", wantTrip: 14_50, wantIncrement: 1},
		{name: "no increment: remainder charge", card: "pm_card_mastercard", wantTrip: 10_00, wantRemainder: 4_50},
		{name: "remainder declined", card: "pm_card_mastercard", remainderCard: "pm_card_chargeDeclined", wantTrip: 10_00, wantOwed: 4_50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cards := map[string]string{"cust-x": tt.card}
			fx := newFixtureWith(t, fxOptions{cards: cards})
			ctx := context.Background()
			fx.ok(t, fx.flows.OnTripStarted(ctx, tripStarted(t, "trip-x", "cust-x", events.VehicleEScooter)))
			fx.drain(t)
			if tt.remainderCard != "" {
				cards["cust-x"] = tt.remainderCard // the customer's card changed after the hold
			}
			fx.ok(t, fx.flows.OnTripEnded(ctx, tripEnded(t, "trip-x", "cust-x", 14_50)))
			fx.drain(t)

			p := fx.payment(t, "trip-x")
			if p.Status != domain.PaymentCaptured || p.Captured.AmountMinor != tt.wantTrip {
				t.Fatalf("trip payment: %+v, want %d captured", p, tt.wantTrip)
			}
			rec, _ := fx.gw.Intent(p.IntentID)
			if rec.Increments != tt.wantIncrement || rec.AmountReceived != tt.wantTrip || rec.Captures != 1 {
				t.Fatalf("trip intent: %+v", rec)
			}
			rem, err := fx.store.Get(ctx, app.ChargeID(domain.PaymentKindTripRemainder, "trip-x"))
			switch {
			case tt.wantRemainder == 0 && tt.wantOwed == 0:
				if err == nil {
					t.Fatalf("unexpected remainder charge: %+v", rem)
				}
			case tt.wantRemainder > 0:
				fx.ok(t, err)
				if rem.Status != domain.PaymentCaptured || rem.Captured.AmountMinor != tt.wantRemainder || rem.TripID != "trip-x" || rem.IntentID == p.IntentID {
					t.Fatalf("remainder charge: %+v", rem)
				}
			default:
				fx.ok(t, err)
				if rem.Status != domain.PaymentFailed {
					t.Fatalf("remainder charge: %+v, want failed", rem)
				}
				failed := outboxData[events.PaymentFailedV1](t, fx, events.TypePaymentFailedV1)
				if len(failed) != 1 || failed[0].Stage != "charge" || failed[0].TripID != "trip-x" || failed[0].Amount.AmountMinor != tt.wantOwed {
					t.Fatalf("PaymentFailedV1 = %+v", failed)
				}
			}
			fx.assertInvariant(t)
			if posted, _ := fx.balance(t, domain.CustomerReceivable("cust-x")); posted != tt.wantOwed {
				t.Fatalf("receivable = %d, want %d", posted, tt.wantOwed)
			}
			if posted, _ := fx.balance(t, domain.AccountGatewayClearing); posted != tt.wantTrip+tt.wantRemainder {
				t.Fatalf("gateway:clearing = %d, want %d", posted, tt.wantTrip+tt.wantRemainder)
			}
			if _, pending := fx.balance(t, domain.CustomerHold("cust-x")); pending != 0 {
				t.Fatalf("hold still pending: %d", pending)
			}
			var total int64
			for _, c := range outboxData[events.PaymentCapturedV1](t, fx, events.TypePaymentCapturedV1) {
				total += c.Amount.AmountMinor
			}
			if total != tt.wantTrip+tt.wantRemainder {
				t.Fatalf("PaymentCapturedV1 total = %d, want %d", total, tt.wantTrip+tt.wantRemainder)
			}
		})
	}
}

// A gateway call succeeds, the transaction recording it is lost, and the
// retry comes after the gateway forgot the idempotency key: the gateway
// refuses ("already captured"), the intent shows the capture, and it is
// recorded once.
func TestLostWriteAfterCaptureIsRecovered(t *testing.T) {
	tests := []struct {
		name      string
		payment   string
		lose      int // which Update of the payment is lost (trip: authorised, ended, captured)
		keyExpiry bool
		start     func(t *testing.T, fx fixture)
		wantEvent string
		want      int64
	}{
		{
			name: "trip capture, key expired", payment: app.PaymentID("trip-l"), lose: 3, keyExpiry: true, want: 7_00,
			wantEvent: events.TypePaymentCapturedV1,
			start: func(t *testing.T, fx fixture) {
				fx.ok(t, fx.flows.OnTripStarted(context.Background(), tripStarted(t, "trip-l", "cust-l", events.VehicleEBike)))
				fx.drain(t)
				fx.ok(t, fx.flows.OnTripEnded(context.Background(), tripEnded(t, "trip-l", "cust-l", 7_00)))
			},
		},
		{
			name: "trip capture, key replayed", payment: app.PaymentID("trip-l"), lose: 3, want: 7_00,
			wantEvent: events.TypePaymentCapturedV1,
			start: func(t *testing.T, fx fixture) {
				fx.ok(t, fx.flows.OnTripStarted(context.Background(), tripStarted(t, "trip-l", "cust-l", events.VehicleEBike)))
				fx.drain(t)
				fx.ok(t, fx.flows.OnTripEnded(context.Background(), tripEnded(t, "trip-l", "cust-l", 7_00)))
			},
		},
		{
			name: "fine capture, key expired", payment: app.ChargeID(domain.PaymentKindFine, "fine-l"), lose: 2, keyExpiry: true,
			want: 25_00, wantEvent: events.TypeFineChargedV1,
			start: func(t *testing.T, fx fixture) {
				fx.ok(t, fx.flows.OnFineIssued(context.Background(), fineIssued(t, "fine-l", "cust-l", "trip-l", events.FineLateReturn, 25_00)))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			var lossy *lossyStore
			fx := newFixtureWith(t, fxOptions{clock: clk, wrapStore: func(s *pg.Payments) app.PaymentStore {
				lossy = newLossyStore(s, map[string][]int{tt.payment: {tt.lose}})
				return lossy
			}})
			tt.start(t, fx)
			// One round: the capture reaches the gateway, its record is lost.
			for lossy.lostCount() == 0 {
				if _, err := fx.flows.ProcessDue(context.Background()); err != nil && !isLost(err) {
					t.Fatal(err)
				}
			}
			if tt.keyExpiry {
				clk.Advance(25 * time.Hour) // the gateway prunes keys after 24 h
			}
			fx.drainTolerating(t, errLostWrite)

			p := fx.get(t, tt.payment)
			if p.Status != domain.PaymentCaptured || p.Captured.AmountMinor != tt.want {
				t.Fatalf("payment: %+v", p)
			}
			if n := fx.gw.Captures(p.IntentID); n != 1 {
				t.Fatalf("gateway captures = %d, want 1", n)
			}
			if n := fx.outboxCount(t, tt.wantEvent); n != 1 {
				t.Fatalf("%s = %d, want 1", tt.wantEvent, n)
			}
			if n := fx.outboxCount(t, events.TypePaymentFailedV1); n != 0 {
				t.Fatalf("PaymentFailedV1 = %d, want 0", n)
			}
			fx.assertInvariant(t)
			if posted, _ := fx.balance(t, domain.CustomerReceivable("cust-l")); posted != 0 {
				t.Fatalf("receivable = %d, want settled", posted)
			}
			if posted, _ := fx.balance(t, domain.AccountGatewayClearing); posted != tt.want {
				t.Fatalf("gateway:clearing = %d, want %d", posted, tt.want)
			}
		})
	}
}

func (s *lossyStore) lostCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lost
}

func isLost(err error) bool { return errors.Is(err, errLostWrite) }

// refusingGateway authorises for real and then reports a refusal, as a
// gateway does when a lost write's retry runs after its key expired.
type refusingGateway struct {
	app.Gateway
	withIntent bool // the refusal carries the intent's id
}

func (g refusingGateway) Authorise(ctx context.Context, req app.AuthoriseRequest) (app.Intent, error) {
	in, err := g.Gateway.Authorise(ctx, req)
	if err != nil {
		return in, err
	}
	refusal := &app.GatewayError{Kind: app.KindInvalidRequest, Code: "payment_intent_unexpected_state",
		Err: fmt.Errorf("intent %s is already requires_capture", in.ID)}
	if g.withIntent {
		return app.Intent{ID: in.ID}, refusal
	}
	return app.Intent{}, refusal
}

func TestRefusedAuthorisationAlreadyInPlaceIsRecorded(t *testing.T) {
	tests := []struct {
		name       string
		withIntent bool
		want       domain.PaymentStatus
	}{
		{"intent known: recorded as authorised", true, domain.PaymentAuthorised},
		{"intent unknown: the refusal stands", false, domain.PaymentFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixtureWith(t, fxOptions{wrapGW: func(g app.Gateway) app.Gateway {
				return refusingGateway{Gateway: g, withIntent: tt.withIntent}
			}})
			fx.ok(t, fx.flows.OnTripStarted(context.Background(), tripStarted(t, "trip-a", "cust-a", events.VehicleEBike)))
			fx.drain(t)
			p := fx.payment(t, "trip-a")
			if p.Status != tt.want {
				t.Fatalf("payment: %+v, want %s", p, tt.want)
			}
			intents := fx.gw.Intents()
			if len(intents) != 1 {
				t.Fatalf("intents = %d, want 1", len(intents))
			}
			if tt.want == domain.PaymentAuthorised {
				if p.IntentID != intents[0].ID || fx.outboxCount(t, events.TypePaymentAuthorisedV1) != 1 {
					t.Fatalf("payment %+v not bound to intent %s, or not announced", p, intents[0].ID)
				}
			} else if fx.outboxCount(t, events.TypePaymentAuthorisationFailedV1) != 1 {
				t.Fatal("authorisation failure not announced")
			}
			fx.assertInvariant(t)
		})
	}
}

// A hold released before the trip ended (Stripe lets an uncaptured hold expire;
// the webhook cancels our payment) must not lose the price: it is collected by
// a separate charge of the whole amount.
func TestTripEndedAfterHoldReleasedChargesTheWholePrice(t *testing.T) {
	fx := newFixtureWith(t, fxOptions{cards: map[string]string{"cust-r": "pm_card_visa"}})
	ctx := context.Background()
	fx.ok(t, fx.flows.OnTripStarted(ctx, tripStarted(t, "trip-r", "cust-r", events.VehicleEScooter)))
	fx.drain(t)
	p := fx.payment(t, "trip-r")
	if _, err := fx.gw.Cancel(ctx, "expiry:"+p.IntentID, p.IntentID); err != nil {
		t.Fatal(err)
	}
	fx.ok(t, fx.store.Update(ctx, p.ID, func(tx pgx.Tx, p *domain.Payment) error {
		if err := p.Canceled(time.Now()); err != nil {
			return err
		}
		return fx.ledger.VoidHoldTx(ctx, tx, p.ID)
	}))

	fx.ok(t, fx.flows.OnTripEnded(ctx, tripEnded(t, "trip-r", "cust-r", 7_35)))
	fx.drain(t)

	if got := fx.payment(t, "trip-r"); got.Status != domain.PaymentCanceled || got.Captured.AmountMinor != 0 {
		t.Fatalf("trip payment: %+v, want canceled with nothing captured", got)
	}
	rem, err := fx.store.Get(ctx, app.ChargeID(domain.PaymentKindTripRemainder, "trip-r"))
	fx.ok(t, err)
	if rem.Status != domain.PaymentCaptured || rem.Captured.AmountMinor != 7_35 {
		t.Fatalf("charge for the released hold: %+v, want 7.35 captured", rem)
	}
	if posted, _ := fx.balance(t, domain.CustomerReceivable("cust-r")); posted != 0 {
		t.Fatalf("receivable = %d, want 0", posted)
	}
	fx.assertInvariant(t)
}
