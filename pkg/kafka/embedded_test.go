package kafka_test

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mobilitycorp/platform/pkg/kafka"
	"github.com/mobilitycorp/platform/pkg/kafka/kafkatest"
)

// kcat returns the kcat binary; without it the test fails, never skips.
func kcat(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("kcat"); err == nil {
		return p
	}
	if p, err := exec.LookPath("/usr/bin/kcat"); err == nil {
		return p
	}
	t.Fatal("kcat not found: run scripts/bootstrap to install it")
	return ""
}

func runKcat(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat(t), args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kcat %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// External clients (librdkafka's kcat) can list, produce to and read from
// the embedded broker over TCP, as developers do against `mobility up`.
func TestEmbeddedBrokerServesExternalClients(t *testing.T) {
	e, err := kafka.StartEmbedded("127.0.0.1:0", []kafka.TopicSpec{
		{Name: "vehicle.telemetry", Partitions: 3},
		{Name: "fleet.registry", Partitions: 2, Compacted: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close) // after the clients' cleanups: closing against a dead broker is slow
	addrs := e.Addrs()
	if len(addrs) != 1 {
		t.Fatalf("Addrs() = %v, want one broker", addrs)
	}
	host, port, err := net.SplitHostPort(addrs[0])
	if err != nil || host != "127.0.0.1" || port == "0" {
		t.Fatalf("Addrs() = %v, want 127.0.0.1 with a real port", addrs)
	}

	meta := runKcat(t, "", "-b", addrs[0], "-L")
	for _, want := range []string{
		`topic "vehicle.telemetry" with 3 partitions`,
		`topic "vehicle.telemetry.dlq" with 3 partitions`,
		`topic "fleet.registry" with 2 partitions`,
		`topic "fleet.registry.dlq" with 2 partitions`,
	} {
		if !strings.Contains(meta, want) {
			t.Errorf("kcat -L output lacks %q:\n%s", want, meta)
		}
	}

	// kcat produces, a franz-go client reads it back.
	runKcat(t, "vehicle-7:{\"battery_pct\":81}\n", "-b", addrs[0], "-P", "-t", "vehicle.telemetry", "-K", ":")
	cfg := kafka.Config{Brokers: addrs}
	if total := kafkatest.Total(t, cfg, "vehicle.telemetry"); total != 1 {
		t.Fatalf("vehicle.telemetry holds %d records after the kcat produce, want 1", total)
	}
	recs := kafkatest.Records(t, cfg, "vehicle.telemetry", 1)
	if k, v := string(recs[0].Key), string(recs[0].Value); k != "vehicle-7" || v != `{"battery_pct":81}` {
		t.Errorf("read key %q value %q, want vehicle-7 and the JSON kcat produced", k, v)
	}

	// And the other way round: kgo produces, kcat consumes.
	p := newProducer(t, cfg)
	if err := p.Produce(context.Background(), recordOf("fleet.registry", "bay-1", `{"capacity":8}`)); err != nil {
		t.Fatal(err)
	}
	out := runKcat(t, "", "-b", addrs[0], "-C", "-t", "fleet.registry", "-o", "beginning", "-e", "-q", "-X", "fetch.wait.max.ms=10", "-f", "%k=%s\n")
	if !strings.Contains(out, `bay-1={"capacity":8}`) {
		t.Errorf("kcat -C read %q, want the produced record", out)
	}
}

func TestStartEmbeddedRejectsBadAddresses(t *testing.T) {
	for _, addr := range []string{"127.0.0.1", ":0", "0.0.0.0:0", "[::]:0"} {
		t.Run(addr, func(t *testing.T) {
			e, err := kafka.StartEmbedded(addr, nil)
			if err == nil {
				e.Close()
				t.Fatalf("StartEmbedded(%q) succeeded, want an error", addr)
			}
		})
	}
}

func TestStartEmbeddedFailsOnBusyPort(t *testing.T) {
	e, err := kafka.StartEmbedded("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e2, err := kafka.StartEmbedded(e.Addrs()[0], nil); err == nil {
		e2.Close()
		t.Fatalf("second broker on %s started, want address-in-use error", e.Addrs()[0])
	}
}
