// Package pkg holds the platform's foundation packages: configuration, logging,
// observability, HTTP, auth, Postgres, Redis, Kafka, events, outbox and idempotency.
// Nothing under pkg imports a service.
package pkg
