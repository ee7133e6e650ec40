package stripe

import (
	"testing"

	stripeapi "github.com/stripe/stripe-go/v82"
)

// TestRefundedOfCaptured covers charge shapes the fake does not produce: the
// released remainder of a partial capture is never reported as a refund.
func TestRefundedOfCaptured(t *testing.T) {
	tests := []struct {
		name string
		ch   *stripeapi.Charge
		want int64
	}{
		{"no charge embedded", nil, 0},
		{"uncaptured hold", &stripeapi.Charge{Amount: 1000}, 0},
		{"released hold (cancel)", &stripeapi.Charge{Amount: 1000, AmountRefunded: 1000, Refunded: true}, 0},
		{"full capture, no refund", &stripeapi.Charge{Amount: 1000, AmountCaptured: 1000, Captured: true}, 0},
		{"full capture, partial refund", &stripeapi.Charge{Amount: 1000, AmountCaptured: 1000, AmountRefunded: 250, Captured: true}, 250},
		{"partial capture: remainder released", &stripeapi.Charge{Amount: 1000, AmountCaptured: 700, AmountRefunded: 300, Captured: true}, 0},
		{"partial capture, then a refund", &stripeapi.Charge{Amount: 1000, AmountCaptured: 700, AmountRefunded: 500, Captured: true}, 200},
		{"partial capture, fully refunded", &stripeapi.Charge{Amount: 1000, AmountCaptured: 700, AmountRefunded: 1000, Captured: true, Refunded: true}, 700},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := refundedOfCaptured(tt.ch); got != tt.want {
				t.Errorf("refundedOfCaptured = %d, want %d", got, tt.want)
			}
		})
	}
}
