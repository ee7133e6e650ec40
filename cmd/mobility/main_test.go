package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mobilitycorp/platform/pkg/auth"
	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/postgres/pgtest"
	"github.com/mobilitycorp/platform/pkg/service"
)

func TestTokenIsAcceptedByServices(t *testing.T) {
	tests := []struct {
		args      []string
		wantErr   string
		wantRoles []auth.Role
	}{
		{args: []string{"--role", "customer", "--sub", "c-1"}, wantRoles: []auth.Role{auth.RoleCustomer}},
		{args: []string{"--role", "staff,admin", "--sub", "s-1"}, wantRoles: []auth.Role{auth.RoleStaff, auth.RoleAdmin}},
		{args: []string{"--role", "pilot", "--sub", "x"}, wantErr: `unknown role "pilot"`},
		{args: []string{"--role", "customer"}, wantErr: "--sub is required"},
	}
	// Services in development verify with exactly this configuration.
	v, err := auth.NewVerifier(context.Background(), auth.Config{HS256Secret: service.DevJWTSecret, Issuer: devIssuer, Audience: devAudience, Leeway: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), append([]string{"token"}, tc.args...), &out, &out)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p, err := v.Verify(context.Background(), strings.TrimSpace(out.String()))
			if err != nil {
				t.Fatalf("minted token rejected: %v", err)
			}
			for _, r := range tc.wantRoles {
				if !p.Has(r) {
					t.Errorf("principal %+v lacks role %s", p, r)
				}
			}
		})
	}
}

func TestUnknownCommand(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"fly"}, &out, &out); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Fatalf("err = %v", err)
	}
}

// TestUp builds the five services, runs `mobility up` on shifted ports with its own
// databases, checks every /readyz, lists the topics with kcat, then stops it as
// Ctrl-C does and checks every port is free again.
func TestUp(t *testing.T) {
	binDir := t.TempDir()
	build := exec.Command("go", "build", "-o", binDir+"/")
	for _, s := range platformServices() {
		build.Args = append(build.Args, "../../services/"+s.Name+"/cmd/"+s.Name)
	}
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build services: %v\n%s", err, out)
	}
	kafkaAddr := freePort(t)
	const offset = 1000
	dbPrefix := fmt.Sprintf("mobilitytest_%d_", time.Now().UnixNano()%1e9)
	t.Cleanup(func() { dropDatabases(t, dbPrefix) })

	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"up", "--bin-dir", binDir, "--kafka", kafkaAddr,
			"--port-offset", fmt.Sprint(offset), "--database-prefix", dbPrefix}, &out, &out)
	}()
	deadline := time.After(90 * time.Second)
	for !strings.Contains(out.String(), "platform ready") {
		select {
		case err := <-done:
			t.Fatalf("up exited early: %v\n%s", err, out.String())
		case <-deadline:
			cancel()
			t.Fatalf("platform not ready:\n%s", out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	for _, s := range platformServices() {
		url := fmt.Sprintf("http://127.0.0.1:%d/readyz", s.HTTPPort+offset)
		resp, err := http.Get(url)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %v %v", url, err, resp)
		}
		if resp != nil {
			resp.Body.Close()
		}
		if !strings.Contains(out.String(), "["+s.Name) {
			t.Errorf("no log lines prefixed with [%s", s.Name)
		}
	}
	kcat, err := exec.Command("kcat", "-b", kafkaAddr, "-L").CombinedOutput()
	if err != nil {
		t.Fatalf("kcat -L (installed by scripts/bootstrap): %v\n%s", err, kcat)
	}
	for _, topic := range []string{events.TopicVehicleTelemetry, events.TopicBookingTrips, events.TopicPaymentsEvents + ".dlq"} {
		if !strings.Contains(string(kcat), `topic "`+topic+`"`) {
			t.Errorf("kcat -L does not list %s", topic)
		}
	}

	cancel() // what Ctrl-C does
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("up returned %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("up did not stop within 60s")
	}
	for _, s := range platformServices() {
		assertFree(t, fmt.Sprintf("127.0.0.1:%d", s.HTTPPort+offset))
	}
	assertFree(t, kafkaAddr)
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func assertFree(t *testing.T, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Errorf("%s still in use after stop: %v", addr, err)
		return
	}
	ln.Close()
}

func dropDatabases(t *testing.T, prefix string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.ServerURL())
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT datname FROM pg_database WHERE datname LIKE $1", prefix+"%")
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	names, _ := pgx.CollectRows(rows, pgx.RowTo[string])
	for _, n := range names {
		if _, err := conn.Exec(ctx, "DROP DATABASE "+pgx.Identifier{n}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", n, err)
		}
	}
	if len(names) != len(platformServices()) {
		t.Errorf("up created %d databases %v, want one per service", len(names), names)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
