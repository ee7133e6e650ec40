package app_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/mobilitycorp/platform/services/payments/internal/adapters/sandbox"
	"github.com/mobilitycorp/platform/services/payments/internal/app"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

// spyGateway counts the calls that reach the wrapped gateway and the most that
// were in flight at once. Methods it does not override go straight through.
type spyGateway struct {
	app.Gateway
	calls       atomic.Int64
	inFlight    atomic.Int64
	maxInFlight atomic.Int64
}

func (s *spyGateway) enter() func() {
	s.calls.Add(1)
	n := s.inFlight.Add(1)
	for {
		m := s.maxInFlight.Load()
		if n <= m || s.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	return func() { s.inFlight.Add(-1) }
}

func (s *spyGateway) Authorise(ctx context.Context, req app.AuthoriseRequest) (app.Intent, error) {
	defer s.enter()()
	return s.Gateway.Authorise(ctx, req)
}

func (s *spyGateway) Capture(ctx context.Context, key, intentID string, amount domain.Money) (app.Intent, error) {
	defer s.enter()()
	return s.Gateway.Capture(ctx, key, intentID, amount)
}

func (s *spyGateway) Cancel(ctx context.Context, key, intentID string) (app.Intent, error) {
	defer s.enter()()
	return s.Gateway.Cancel(ctx, key, intentID)
}

// metric returns the value of the counter or gauge name with labels (0 if absent).
func metric(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if hasLabels(m, labels) {
				switch {
				case m.GetCounter() != nil:
					return m.GetCounter().GetValue()
				case m.GetGauge() != nil:
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
}

func hasLabels(m *dto.Metric, labels map[string]string) bool {
	n := 0
	for _, lp := range m.GetLabel() {
		if v, ok := labels[lp.GetName()]; ok {
			if v != lp.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(labels)
}

func authReq(key, pm string) app.AuthoriseRequest {
	return app.AuthoriseRequest{IdempotencyKey: key, PaymentMethod: pm, Amount: domain.Money{AmountMinor: 10_00, Currency: "EUR"}}
}

func newBreaker(t *testing.T, gw app.Gateway, opts app.BreakerOptions) (*app.Breaker, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts.Registerer = reg
	opts.Name = "sandbox"
	b, err := app.NewBreaker(gw, opts)
	if err != nil {
		t.Fatal(err)
	}
	return b, reg
}

func TestBreakerCountsOnlyRetryableFailures(t *testing.T) {
	ctx := context.Background()
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name string
		down bool
		ctx  context.Context
		pm   string
		want error // of every call
	}{
		{"declines are a healthy gateway", false, ctx, "pm_card_chargeDeclined", nil},
		{"callers giving up say nothing about the gateway", false, canceled, "pm_card_visa", nil},
		{"an outage of a caller that gave up", true, canceled, "pm_card_visa", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sb := sandbox.New(sandbox.Options{})
			sb.SetDown(tt.down)
			spy := &spyGateway{Gateway: sb}
			b, reg := newBreaker(t, spy, app.BreakerOptions{ConsecutiveFailures: 3, MinRequests: 4})
			const calls = 20
			for i := range calls {
				_, err := b.Authorise(tt.ctx, authReq("k"+string(rune('a'+i)), tt.pm))
				if err == nil || errors.Is(err, app.ErrCircuitOpen) {
					t.Fatalf("call %d: err = %v, want the gateway's refusal", i, err)
				}
			}
			if n := spy.calls.Load(); n != calls {
				t.Fatalf("%d calls reached the gateway, want %d", n, calls)
			}
			if b.Open() {
				t.Fatal("circuit opened")
			}
			if v := metric(t, reg, "payments_gateway_circuit_rejected_total", map[string]string{"gateway": "sandbox"}); v != 0 {
				t.Fatalf("rejected = %v", v)
			}
		})
	}
}

func TestBreakerOpensFailsFastAndRecovers(t *testing.T) {
	ctx := context.Background()
	sb := sandbox.New(sandbox.Options{})
	spy := &spyGateway{Gateway: sb}
	const openFor = 50 * time.Millisecond
	b, reg := newBreaker(t, spy, app.BreakerOptions{ConsecutiveFailures: 3, OpenFor: openFor, Probes: 2})
	state := func() float64 {
		return metric(t, reg, "payments_gateway_circuit_state", map[string]string{"gateway": "sandbox"})
	}

	sb.SetDown(true)
	for i := range 3 {
		_, err := b.Authorise(ctx, authReq("down-"+string(rune('a'+i)), "pm_card_visa"))
		if !app.IsRetryable(err) || errors.Is(err, app.ErrCircuitOpen) {
			t.Fatalf("call %d while closed: err = %v, want the gateway's unavailable", i, err)
		}
	}
	if !b.Open() || state() != 2 {
		t.Fatalf("after 3 failures: open %v, state gauge %v", b.Open(), state())
	}
	// Open: refused without calling out, as a retryable unavailable.
	_, err := b.Authorise(ctx, authReq("refused", "pm_card_visa"))
	var ge *app.GatewayError
	if !errors.Is(err, app.ErrCircuitOpen) || !errors.As(err, &ge) || ge.Kind != app.KindUnavailable ||
		ge.Code != app.CodeCircuitOpen || !app.IsRetryable(err) {
		t.Fatalf("open circuit: err = %#v", err)
	}
	if _, err := b.Capture(ctx, "refused-capture", "pi_x", domain.Money{AmountMinor: 1, Currency: "EUR"}); !errors.Is(err, app.ErrCircuitOpen) {
		t.Fatalf("open circuit, capture: err = %v", err)
	}
	if n := spy.calls.Load(); n != 3 {
		t.Fatalf("%d calls reached the gateway, want 3", n)
	}
	if v := metric(t, reg, "payments_gateway_circuit_rejected_total", map[string]string{"gateway": "sandbox"}); v != 2 {
		t.Fatalf("rejected = %v, want 2", v)
	}

	// Half-open: a failed probe opens it again at once.
	time.Sleep(openFor + 20*time.Millisecond)
	if b.Open() || state() != 1 {
		t.Fatalf("after OpenFor: open %v, state gauge %v; want half-open", b.Open(), state())
	}
	if _, err := b.Authorise(ctx, authReq("probe-1", "pm_card_visa")); errors.Is(err, app.ErrCircuitOpen) || !app.IsRetryable(err) {
		t.Fatalf("failed probe: err = %v", err)
	}
	if !b.Open() {
		t.Fatal("a failed probe did not reopen the circuit")
	}

	// The gateway is back: Probes successes close it.
	sb.SetDown(false)
	time.Sleep(openFor + 20*time.Millisecond)
	for i := range 2 {
		if _, err := b.Authorise(ctx, authReq("probe-ok-"+string(rune('a'+i)), "pm_card_visa")); err != nil {
			t.Fatalf("probe %d: %v", i, err)
		}
	}
	if b.Open() || state() != 0 {
		t.Fatalf("after good probes: open %v, state gauge %v; want closed", b.Open(), state())
	}
	for to, want := range map[string]float64{"open": 2, "half-open": 2, "closed": 1} {
		if v := metric(t, reg, "payments_gateway_circuit_transitions_total", map[string]string{"gateway": "sandbox", "to": to}); v != want {
			t.Errorf("transitions to %s = %v, want %v", to, v, want)
		}
	}
}

// gatedGateway holds Authorise calls until release is closed, once gated.
type gatedGateway struct {
	app.Gateway
	gated   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (g *gatedGateway) Authorise(ctx context.Context, req app.AuthoriseRequest) (app.Intent, error) {
	if g.gated.Load() {
		g.entered <- struct{}{}
		<-g.release
	}
	return g.Gateway.Authorise(ctx, req)
}

// Half-open lets exactly Probes calls through at once; the rest are refused
// until the probes decide.
func TestBreakerHalfOpenAdmitsOnlyTheProbes(t *testing.T) {
	ctx := context.Background()
	sb := sandbox.New(sandbox.Options{})
	gate := &gatedGateway{Gateway: sb, entered: make(chan struct{}, 10), release: make(chan struct{})}
	const openFor = 30 * time.Millisecond
	b, _ := newBreaker(t, gate, app.BreakerOptions{ConsecutiveFailures: 1, OpenFor: openFor, Probes: 2})
	sb.SetDown(true)
	if _, err := b.Authorise(ctx, authReq("down", "pm_card_visa")); !app.IsRetryable(err) {
		t.Fatalf("err = %v", err)
	}
	sb.SetDown(false)
	time.Sleep(openFor + 20*time.Millisecond)

	gate.gated.Store(true)
	results := make(chan error, 10)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := range 10 {
		wg.Go(func() {
			_, err := b.Authorise(ctx, authReq("half-"+string(rune('a'+i)), "pm_card_visa"))
			results <- err
		})
	}
	// While the two probes are held, the other eight are refused at once.
	for range 8 {
		select {
		case err := <-results:
			if !errors.Is(err, app.ErrCircuitOpen) {
				close(gate.release)
				t.Fatalf("call during the probes: err = %v, want ErrCircuitOpen", err)
			}
		case <-time.After(10 * time.Second):
			close(gate.release)
			t.Fatal("calls beyond the probes were not refused")
		}
	}
	for range 2 { // the probes, held at the gateway
		select {
		case <-gate.entered:
		case <-time.After(10 * time.Second):
			close(gate.release)
			t.Fatal("the probes did not reach the gateway")
		}
	}
	close(gate.release)
	for range 2 {
		if err := <-results; err != nil {
			t.Fatalf("probe: %v", err)
		}
	}
	if b.Open() {
		t.Fatal("open after two good probes")
	}
	if _, err := b.Authorise(ctx, authReq("after", "pm_card_visa")); err != nil {
		t.Fatalf("closed circuit: %v", err)
	}
}

// A gateway failing every other call never fails 5 times in a row, but the
// failure ratio over the window still opens the circuit.
func TestBreakerOpensOnFailureRatio(t *testing.T) {
	ctx := context.Background()
	sb := sandbox.New(sandbox.Options{})
	b, _ := newBreaker(t, sb, app.BreakerOptions{ConsecutiveFailures: 100, FailureRatio: 0.5, MinRequests: 10})
	for i := range 10 {
		sb.SetDown(i%2 == 1)
		_, _ = b.Authorise(ctx, authReq("ratio-"+string(rune('a'+i)), "pm_card_visa"))
		if open := b.Open(); open != (i == 9) {
			t.Fatalf("after call %d: open = %v", i, open)
		}
	}
}
