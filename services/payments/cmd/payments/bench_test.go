package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/kafka"
	"github.com/mobilitycorp/platform/pkg/kafka/kafkatest"
	"github.com/mobilitycorp/platform/pkg/service/servicetest"
	pgstore "github.com/mobilitycorp/platform/services/payments/internal/adapters/postgres"
	"github.com/mobilitycorp/platform/services/payments/internal/domain"
)

// BenchmarkCapturesEndToEnd measures captures per second through the whole
// service as run() wires it: b.N TripEnded events produced to booking.trips →
// the trips consumer → the operation queue → the sandbox gateway → the ledger
// → the outbox → PaymentCapturedV1 on payments.events, relayed to Kafka.
//
// The b.N trips are started and authorised before the timer (TripStarted
// through Kafka as well); the timer covers producing the ends until the last
// capture event is on payments.events. PostgreSQL keeps synchronous_commit on.
// Afterwards every trip must have exactly one capture event and the ledger
// must balance.
func BenchmarkCapturesEndToEnd(b *testing.B) {
	ctx := context.Background()
	s := servicetest.Start(b, envPrefix, run, map[string]string{"LOG_LEVEL": "error"})
	kcfg := kafka.Config{Brokers: strings.Split(s.Env[envPrefix+"KAFKA_BROKERS"], ",")}
	producer, err := kafka.NewProducer(kcfg, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer producer.Close()
	admin, err := kgo.NewClient(kgo.SeedBrokers(kcfg.Brokers...))
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close()
	adm := kadm.NewClient(admin)

	n := b.N
	trip := func(i int) string { return fmt.Sprintf("bench-trip-%06d", i) }
	customer := func(i int) string { return fmt.Sprintf("bench-cust-%04d", i%997) }
	price := func(i int) int64 { return int64(100 + i%900) } // 1.00 to 9.99 EUR, within the 10 EUR hold
	at := time.Now().UTC().Add(-time.Hour)
	produce := func(typ string, data func(i int) any) {
		b.Helper()
		recs := make([]*kgo.Record, 0, n)
		for i := range n {
			ev, err := events.New(typ, events.SourceBooking, trip(i), data(i))
			if err != nil {
				b.Fatal(err)
			}
			recs = append(recs, events.ToRecord(events.TopicBookingTrips, trip(i), ev))
		}
		if err := producer.Produce(ctx, recs...); err != nil {
			b.Fatal(err)
		}
	}
	waitEvents := func(want int64, timeout time.Duration) {
		b.Helper()
		deadline := time.Now().Add(timeout)
		for {
			got := endOffsets(b, adm, events.TopicPaymentsEvents)
			if got >= want {
				return
			}
			if time.Now().After(deadline) {
				b.Fatalf("payments.events has %d records after %s, want %d", got, timeout, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	timeout := 2*time.Minute + time.Duration(n)*10*time.Millisecond

	// Untimed: start and authorise every trip.
	produce(events.TypeTripStartedV1, func(i int) any {
		return events.TripStartedV1{TripID: trip(i), CustomerID: customer(i), VehicleID: "v-" + trip(i),
			VehicleType: events.VehicleEScooter, StartedAt: at}
	})
	waitEvents(int64(n), timeout) // one PaymentAuthorisedV1 per trip

	cpu0 := readCPU(b, s.DB)
	b.ResetTimer()
	produce(events.TypeTripEndedV1, func(i int) any {
		return events.TripEndedV1{TripID: trip(i), CustomerID: customer(i), VehicleID: "v-" + trip(i),
			VehicleType: events.VehicleEScooter, StartedAt: at, EndedAt: at.Add(10 * time.Minute),
			DurationSeconds: 600, Price: events.Money{AmountMinor: price(i), Currency: "EUR"}, EndedInBay: true}
	})
	waitEvents(int64(2*n), timeout)
	b.StopTimer()
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "captures/s")
	// CPU per capture varies less than throughput on a shared machine: it
	// says where the time goes (PostgreSQL backends vs this process, which
	// includes the embedded broker).
	if pgCPU, goCPU, ok := readCPU(b, s.DB).since(cpu0); ok {
		b.ReportMetric(float64(pgCPU.Microseconds())/1000/float64(n), "pg-cpu-ms/capture")
		b.ReportMetric(float64(goCPU.Microseconds())/1000/float64(n), "go-cpu-ms/capture")
	}

	// Exactly one capture event per trip, for its price, and nothing else.
	captured := map[string]int64{}
	for _, r := range kafkatest.Records(b, kcfg, events.TopicPaymentsEvents, 2*n) {
		ev, err := events.FromRecord(r)
		if err != nil {
			b.Fatal(err)
		}
		switch ev.Type {
		case events.TypePaymentAuthorisedV1:
		case events.TypePaymentCapturedV1:
			var c events.PaymentCapturedV1
			if err := json.Unmarshal(ev.Data, &c); err != nil {
				b.Fatal(err)
			}
			if _, dup := captured[c.TripID]; dup {
				b.Fatalf("trip %s captured twice", c.TripID)
			}
			captured[c.TripID] = c.Amount.AmountMinor
		default:
			b.Fatalf("unexpected event %s", ev.Type)
		}
	}
	if len(captured) != n {
		b.Fatalf("%d trips captured, want %d", len(captured), n)
	}
	var want int64
	for i := range n {
		if got := captured[trip(i)]; got != price(i) {
			b.Fatalf("%s captured %d, want %d", trip(i), got, price(i))
		}
		want += price(i)
	}
	var notDone int
	if err := s.DB.QueryRow(ctx, `SELECT count(*) FROM payment_operations WHERE status <> 'done'`).Scan(&notDone); err != nil {
		b.Fatal(err)
	}
	if notDone != 0 {
		b.Fatalf("%d operations not done", notDone)
	}
	ledger := pgstore.NewLedger(s.DB)
	rep, err := ledger.CheckInvariant(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if !rep.OK() {
		b.Fatalf("ledger invariant broken: %+v", rep)
	}
	clearing, _, err := ledger.Balance(ctx, domain.AccountGatewayClearing, "EUR")
	if err != nil {
		b.Fatal(err)
	}
	if clearing.AmountMinor != want {
		b.Fatalf("gateway:clearing = %d, want %d", clearing.AmountMinor, want)
	}
}

// endOffsets is how many records topic holds, over all its partitions.
func endOffsets(b *testing.B, adm *kadm.Client, topic string) int64 {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	listed, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		b.Fatal(err)
	}
	var total int64
	listed.Each(func(o kadm.ListedOffset) { total += o.Offset })
	return total
}

// cpuSample is the CPU time used so far by this process and by each
// PostgreSQL backend of the service's database (read from /proc: the server
// runs on this machine in development and CI).
type cpuSample struct {
	self     time.Duration
	backends map[int32]time.Duration
}

func readCPU(b *testing.B, pool *pgxpool.Pool) cpuSample {
	b.Helper()
	rows, err := pool.Query(context.Background(), `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
	if err != nil {
		b.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		b.Fatal(err)
	}
	s := cpuSample{self: procCPU("self"), backends: map[int32]time.Duration{}}
	for _, pid := range pids {
		if d := procCPU(strconv.Itoa(int(pid))); d >= 0 {
			s.backends[pid] = d
		}
	}
	return s
}

// since is the CPU used between before and s; ok is false when /proc could not be read.
func (s cpuSample) since(before cpuSample) (pgCPU, goCPU time.Duration, ok bool) {
	if s.self < 0 || before.self < 0 || len(s.backends) == 0 {
		return 0, 0, false
	}
	for pid, d := range s.backends {
		pgCPU += d - before.backends[pid] // a backend opened meanwhile started at 0
	}
	return pgCPU, s.self - before.self, true
}

// procCPU is the user+system time of process pid ("self" for this one), -1 if unknown.
func procCPU(pid string) time.Duration {
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return -1
	}
	s := string(stat)
	// Fields after the command name, which may contain spaces: utime and stime are the 12th and 13th.
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return -1
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on Linux.
const clockTicks = 100
