package postgres_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

// BenchmarkPostEntry posts a 2-line entry (a fine) per iteration, each in its own
// transaction, including the deferred balance check at commit. "serial" is one
// poster's latency bound; "parallel" is GOMAXPROCS posters sharing the pool.
func BenchmarkPostEntry(b *testing.B) {
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		l, _ := newLedger(b)
		n := 0
		for b.Loop() {
			n++
			e, err := domain.FineEntry("c1", "bench-"+strconv.Itoa(n), eur(2500))
			if err != nil {
				b.Fatal(err)
			}
			if _, replayed, err := l.Post(ctx, e); err != nil || replayed {
				b.Fatalf("post: %v (replayed %v)", err, replayed)
			}
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "entries/s")
	})
	b.Run("parallel", func(b *testing.B) {
		l, _ := newLedger(b)
		var seq atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				e, err := domain.FineEntry("c1", "bench-"+strconv.FormatInt(seq.Add(1), 10), eur(2500))
				if err != nil {
					b.Error(err)
					return
				}
				if _, replayed, err := l.Post(ctx, e); err != nil || replayed {
					b.Errorf("post: %v (replayed %v)", err, replayed)
					return
				}
			}
		})
		b.ReportMetric(float64(seq.Load())/b.Elapsed().Seconds(), "entries/s")
	})
}
