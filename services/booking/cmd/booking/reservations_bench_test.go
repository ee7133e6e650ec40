package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mobilitycorp/platform/services/booking/internal/domain"
)

// BenchmarkReservationsUnderContention measures reservation throughput of the
// whole service as run() wires it: b.N POST /v1/reservations over HTTP (JWT,
// Idempotency-Key, eligibility, vehicle lookup, range check against the
// availability index, the insert under the exclusion constraint, the outbox
// event, the index update), from 32 concurrent clients.
//
// Contention: 200 cars, a tenth of the attempts aimed at one hot car, the
// rest at random cars; every attempt books a random 1–3 h slot (minute
// granularity) in the next 7 days, so many attempts overlap an earlier one
// and must get 409. Afterwards the database must hold no overlap and exactly
// the 201s. Run with a fixed count, e.g.
//
//	go test -run '^$' -bench ReservationsUnderContention -benchtime 4000x -count 5 ./cmd/booking
func BenchmarkReservationsUnderContention(b *testing.B) {
	const (
		cars    = 200
		drivers = 40
		clients = 32
	)
	e := bkStart(b, map[string]string{"LOG_LEVEL": "error"}, false)
	e.city()
	vehicles := make([]string, cars)
	for i := range cars {
		// Apart, so that each is the nearest to its own position in the search.
		p := domain.Point{Lat: bkBayPoint.Lat + float64(i%15-7)*0.00006, Lon: bkBayPoint.Lon + float64(i/15-7)*0.00006}
		vehicles[i] = e.vehicle(domain.Car, p, 400)
	}
	tokens := make([]string, drivers)
	for i := range drivers {
		tokens[i] = e.customer(fmt.Sprintf("bench-driver-%02d", i), 30, true)
	}
	// Whole minutes from an hour ahead, so the slots are free when booked.
	base := time.Now().UTC().Add(time.Hour).Truncate(time.Minute)
	span := 7*24*60 - 60 - 3*60 // minutes of start times that keep the end within 7 days

	var next, created, conflicts atomic.Int64
	latencies := make([]time.Duration, b.N)
	var failures sync.Map
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), 42))
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				car := vehicles[rng.IntN(cars)]
				if rng.IntN(10) == 0 {
					car = vehicles[0]
				}
				from := base.Add(time.Duration(rng.IntN(span)) * time.Minute)
				to := from.Add(time.Duration(60+rng.IntN(121)) * time.Minute)
				t0 := time.Now()
				status, body := e.send("POST", "/v1/reservations", tokens[rng.IntN(drivers)], map[string]any{
					"vehicle_id": car, "start_at": from, "end_at": to, "planned_distance_km": 50})
				latencies[i] = time.Since(t0)
				switch status {
				case http.StatusCreated:
					created.Add(1)
				case http.StatusConflict:
					conflicts.Add(1)
				default:
					failures.Store(i, fmt.Sprintf("%d %s", status, body))
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()

	failures.Range(func(k, v any) bool {
		b.Errorf("attempt %v: %v", k, v)
		return false
	})
	if o := bkOverlaps(b, e); o != 0 {
		b.Fatalf("DOUBLE BOOKING: %d overlapping holds", o)
	}
	var held int64
	if err := e.svc.DB.QueryRow(context.Background(), `SELECT count(*) FROM reservations WHERE status = 'held'`).Scan(&held); err != nil {
		b.Fatal(err)
	}
	if held != created.Load() {
		b.Fatalf("%d held reservations in the database, %d answered 201", held, created.Load())
	}
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[min(len(latencies)-1, int(p*float64(len(latencies))))].Microseconds()) / 1000
	}
	secs := elapsed.Seconds()
	b.ReportMetric(float64(b.N)/secs, "attempts/s")
	b.ReportMetric(float64(created.Load())/secs, "reservations/s")
	b.ReportMetric(float64(conflicts.Load())/float64(b.N)*100, "%409")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
