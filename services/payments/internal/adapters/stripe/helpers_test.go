package stripe_test

import (
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/mobilitycorp/platform/pkg/config"
	stripegw "github.com/mobilitycorp/platform/services/payments/internal/adapters/stripe"
)

// testKey is long and distinctive so that a leak is unmistakable.
const testKey = "sk_test_51MobilityCorpFAKEkey0123456789abcdefSECRET"

func newGateway(t *testing.T, baseURL string) *stripegw.Gateway {
	t.Helper()
	g, err := stripegw.New(stripegw.Config{SecretKey: config.Secret(testKey), BaseURL: baseURL})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return g
}

type countingTransport struct {
	base http.RoundTripper
	n    atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.base.RoundTrip(r)
}
