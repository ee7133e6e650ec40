package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/kafka"
)

// up runs the platform locally: the embedded Kafka-protocol broker in this process
// and each service as a child process whose output is prefixed with its name.
// Ctrl-C (or SIGTERM) stops the services gracefully, then the broker.
func up(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	binDir := fs.String("bin-dir", "bin", "directory holding the service binaries (make build)")
	kafkaAddr := fs.String("kafka", "127.0.0.1:9092", "listen address of the embedded Kafka broker")
	pgServer := fs.String("postgres", "postgres://postgres@127.0.0.1:5432", "PostgreSQL server (databases are created per service)")
	readyTimeout := fs.Duration("ready-timeout", 60*time.Second, "how long to wait for every service to be ready")
	portOffset := fs.Int("port-offset", 0, "added to every service's fixed port (to run a second platform beside the first)")
	dbPrefix := fs.String("database-prefix", "mobility_", "prefix of the per-service database names")
	if err := fs.Parse(args); err != nil {
		return err
	}
	services := platformServices()
	for i := range services {
		services[i].HTTPPort += *portOffset
		services[i].Database = *dbPrefix + strings.TrimPrefix(services[i].Database, "mobility_")
	}
	for _, s := range services {
		if _, err := os.Stat(filepath.Join(*binDir, s.Name)); err != nil {
			return fmt.Errorf("binary for %s not found in %s (run make build): %w", s.Name, *binDir, err)
		}
	}

	// 1. Kafka: embedded broker with every platform topic and its dead-letter topic.
	broker, err := kafka.StartEmbedded(*kafkaAddr, events.Topics())
	if err != nil {
		return fmt.Errorf("start embedded kafka on %s: %w", *kafkaAddr, err)
	}
	defer broker.Close()
	fmt.Fprintf(stdout, "[mobility] kafka (embedded) listening on %s with %d topics\n", *kafkaAddr, len(events.Topics()))

	// 2. Services: each applies its own migrations at start and creates its database if missing.
	out := &lockedWriter{w: stdout}
	procs := make([]*exec.Cmd, 0, len(services))
	var wg sync.WaitGroup
	exited := make(chan string, len(services))
	stopAll := func() {
		for _, p := range procs {
			_ = p.Process.Signal(syscall.SIGTERM)
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			for _, p := range procs {
				_ = p.Process.Kill()
			}
			<-done
		}
	}
	for _, s := range services {
		cmd := exec.Command(filepath.Join(*binDir, s.Name))
		cmd.Env = append(os.Environ(), serviceEnv(s, *kafkaAddr, *pgServer)...)
		// Own process group: Ctrl-C in the terminal reaches only us; we stop the children in order.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		pipe, err := cmd.StdoutPipe()
		if err != nil {
			stopAll()
			return err
		}
		cmd.Stderr = cmd.Stdout
		if err := cmd.Start(); err != nil {
			stopAll()
			return fmt.Errorf("start %s: %w", s.Name, err)
		}
		procs = append(procs, cmd)
		wg.Add(1)
		go func(name string) {
			defer wg.Done()
			prefixLines(out, fmt.Sprintf("[%-16s] ", name), pipe)
			_ = cmd.Wait()
			exited <- name
		}(s.Name)
	}

	// 3. Wait until every service reports ready.
	if err := waitReady(ctx, services, *readyTimeout, exited); err != nil {
		stopAll()
		return err
	}
	printBanner(out, services, *kafkaAddr)

	// 4. Run until Ctrl-C or a service dies.
	var runErr error
	select {
	case <-ctx.Done():
		fmt.Fprintln(out, "[mobility] stopping services")
	case name := <-exited:
		runErr = fmt.Errorf("service %s exited unexpectedly", name)
	}
	stopAll()
	fmt.Fprintln(out, "[mobility] stopped")
	return runErr
}

func serviceEnv(s platformService, kafkaAddr, pgServer string) []string {
	p := s.EnvPrefix
	return []string{
		p + "HTTP_ADDR=" + fmt.Sprintf("127.0.0.1:%d", s.HTTPPort),
		p + "KAFKA_BROKERS=" + kafkaAddr,
		p + "POSTGRES_URL=" + pgServer + "/" + s.Database + "?sslmode=disable",
		p + "AUTH_HS256_SECRET=" + devSecret().Reveal(),
	}
}

func waitReady(ctx context.Context, services []platformService, timeout time.Duration, exited <-chan string) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: 2 * time.Second}
	for _, s := range services {
		for {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url()+"/readyz", nil)
			resp, err := client.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case name := <-exited:
				return fmt.Errorf("service %s exited during start-up (see its log above)", name)
			case <-time.After(200 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s not ready at %s/readyz after %s", s.Name, s.url(), timeout)
			}
		}
	}
	return nil
}

func printBanner(w io.Writer, services []platformService, kafkaAddr string) {
	fmt.Fprintln(w, "\n[mobility] platform ready")
	_ = printServices(w)
	fmt.Fprintf(w, "kafka  %s   (try: kcat -b %s -L)\n", kafkaAddr, kafkaAddr)
	fmt.Fprintln(w, "tokens: bin/mobility token --role customer --sub c-1   |   bin/mobility token --role staff --sub s-1")
	fmt.Fprintln(w, "Ctrl-C stops everything.")
}

// prefixLines copies r to w line by line with a prefix, so interleaved service logs stay readable.
func prefixLines(w io.Writer, prefix string, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fmt.Fprintf(w, "%s%s\n", prefix, sc.Text())
	}
	if err := sc.Err(); err != nil && !errors.Is(err, os.ErrClosed) {
		fmt.Fprintf(w, "%s(log stream ended: %v)\n", prefix, err)
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
