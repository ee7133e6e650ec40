package main

import (
	"testing"

	"github.com/mobilitycorp/platform/pkg/service/servicetest"
)

// The service starts in-process against real PostgreSQL, Redis and a Kafka-protocol
// broker, reports ready, serves metrics, and stops cleanly on cancellation.
func TestServiceStartsAndStops(t *testing.T) {
	servicetest.CheckLifecycle(t, envPrefix, run, "vector")
}
