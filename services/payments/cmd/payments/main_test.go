package main

import (
	"context"

	"testing"

	"github.com/mobilitycorp/platform/pkg/service/servicetest"
)

// The service starts in-process against real PostgreSQL, Redis and a Kafka-protocol
// broker, reports ready, serves metrics, and stops cleanly on cancellation.
func TestServiceStartsAndStops(t *testing.T) {
	servicetest.CheckLifecycle(t, envPrefix, run)
}

// The service applies the ledger and webhook migrations at start.
func TestMigrationsApplied(t *testing.T) {
	s := servicetest.Start(t, envPrefix, run, nil)
	for _, table := range []string{"journal_entries", "journal_lines", "webhook_events", "outbox"} {
		var exists bool
		if err := s.DB.QueryRow(context.Background(), "SELECT to_regclass($1) IS NOT NULL", table).Scan(&exists); err != nil || !exists {
			t.Errorf("table %s missing after start (err %v)", table, err)
		}
	}
}
