package sandbox_test

import (
	"testing"

	"github.com/mobilitycorp/platform/services/payments/internal/adapters/sandbox"
	"github.com/mobilitycorp/platform/services/payments/internal/adapters/sandbox/gatewaytest"
)

// TestContract runs the gateway contract against the sandbox itself; the stripe
// adapter runs the same contract against the wire fake.
func TestContract(t *testing.T) {
	gatewaytest.Run(t, func(t *testing.T, opts sandbox.Options) gatewaytest.Harness {
		g := sandbox.New(opts)
		return gatewaytest.Harness{Gateway: g, Backend: g}
	})
}
