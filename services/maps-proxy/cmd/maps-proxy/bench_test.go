package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mobilitycorp/platform/pkg/auth"
	"github.com/mobilitycorp/platform/pkg/service/servicetest"
)

// benchRate is the offered load: the target is p99 ≤ 2 ms at 5,000 requests/s.
const benchRate = 5000

// BenchmarkCachedRouteHTTP and BenchmarkCachedETAHTTP drive the running service over
// HTTP (auth, rate limit, cache) with an open-loop load at benchRate requests/s:
// request i is due at start + i/benchRate, and its latency is measured from that due
// time whenever it leaves late, so a stalled server cannot hide queueing (no
// coordinated omission).
// Run with e.g. -benchtime 25000x for 5 s of load; reports p50/p99 and achieved req/s.
func BenchmarkCachedRouteHTTP(b *testing.B) {
	benchHTTP(b, "/v1/route", map[string]any{"from": hauptbahnhof, "to": alexanderplatz, "profile": "foot"})
}

func BenchmarkCachedETAHTTP(b *testing.B) {
	dests := make([]map[string]float64, 10)
	for i := range dests {
		dests[i] = map[string]float64{"lat": 52.50 + float64(i)*0.003, "lon": 13.38 + float64(i)*0.004}
	}
	benchHTTP(b, "/v1/eta", map[string]any{"origin": hauptbahnhof, "destinations": dests, "profile": "scooter"})
}

func benchHTTP(b *testing.B, path string, body any) {
	s := servicetest.Start(b, envPrefix, run, map[string]string{"RATE_LIMIT_PER_MINUTE": "100000000", "LOG_LEVEL": "error"})
	tok, err := auth.NewHS256Signer("mobility-local-development-secret-do-not-use-in-production", "mobilitycorp", "mobility-api").
		Mint("bench", []auth.Role{auth.RoleService}, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	payload, _ := json.Marshal(body)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}
	call := func() error {
		req, _ := http.NewRequest(http.MethodPost, s.URL+path, bytes.NewReader(payload))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
		return nil
	}
	if err := call(); err != nil { // warm the cache
		b.Fatal(err)
	}

	const workers = 32
	due := make(chan time.Time, b.N)
	latencies := make([]time.Duration, b.N)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		next int
	)
	interval := time.Second / benchRate
	b.ResetTimer()
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for at := range due {
				if d := time.Until(at); d > 0 {
					// Early: wait, and measure from when the request really leaves, so
					// timer wake-up slop of the generator is not counted against the server.
					time.Sleep(d)
					at = time.Now()
				}
				if err := call(); err != nil {
					b.Error(err)
					return
				}
				lat := time.Since(at)
				mu.Lock()
				latencies[next] = lat
				next++
				mu.Unlock()
			}
		}()
	}
	for i := range b.N {
		due <- start.Add(time.Duration(i) * interval)
	}
	close(due)
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()

	slices.Sort(latencies[:next])
	pct := func(p float64) float64 { return float64(latencies[int(float64(next-1)*p)].Microseconds()) }
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.90), "p90-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(float64(next)/elapsed.Seconds(), "req/s")
}
