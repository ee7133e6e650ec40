package stripe_test

import (
	"testing"

	"github.com/mobilitycorp/platform/services/payments/internal/adapters/sandbox"
	"github.com/mobilitycorp/platform/services/payments/internal/adapters/sandbox/gatewaytest"
	"github.com/mobilitycorp/platform/services/payments/internal/adapters/stripefake"
)

// TestContract runs the gateway contract against the adapter talking to the
// wire fake; the sandbox runs the same contract in-process, so the Stripe
// adapter, the fake's wire format and the sandbox cannot drift apart.
func TestContract(t *testing.T) {
	gatewaytest.Run(t, func(t *testing.T, opts sandbox.Options) gatewaytest.Harness {
		fake := stripefake.New(t, stripefake.Options{Sandbox: opts})
		return gatewaytest.Harness{Gateway: newGateway(t, fake.URL()), Backend: fake.Sandbox()}
	})
}
