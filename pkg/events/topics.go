package events

import (
	"time"

	"github.com/mobilitycorp/platform/pkg/kafka"
)

// Topic names: every topic of the platform is declared here and nowhere else.
// Each comment reads producer → consumers. Record keys are the aggregate id
// named in the comment, so one aggregate's events keep their order.
const (
	// TopicVehicleTelemetry: telemetry-ingest → fleet state, maps-proxy, analytics. Key: vehicle id.
	TopicVehicleTelemetry = "vehicle.telemetry"
	// TopicVehicleEvents: telemetry-ingest (lock changes, tamper, crash, faults) → booking, operations. Key: vehicle id.
	TopicVehicleEvents = "vehicle.events"
	// TopicVehicleStatus: telemetry-ingest (online/offline) → booking, operations. Key: vehicle id.
	TopicVehicleStatus = "vehicle.status"
	// TopicVehicleCommands: booking, operations → telemetry-ingest (to the vehicle). Key: vehicle id.
	TopicVehicleCommands = "vehicle.commands"
	// TopicVehicleCommandAcks: telemetry-ingest (vehicle replies) → booking, operations. Key: vehicle id.
	TopicVehicleCommandAcks = "vehicle.command-acks"
	// TopicFleetRegistry: fleet administration → every service (compacted: vehicles, bays, zones). Key: RegistryKey(kind, id).
	TopicFleetRegistry = "fleet.registry"
	// TopicBookingReservations: booking → payments, telemetry-ingest, notifications. Key: reservation id.
	TopicBookingReservations = "booking.reservations"
	// TopicBookingTrips: booking → payments, genai-gateway, analytics. Key: trip id.
	TopicBookingTrips = "booking.trips"
	// TopicBookingReturns: booking (return photos) → genai-gateway. Key: trip id.
	TopicBookingReturns = "booking.returns"
	// TopicPaymentsEvents: payments → booking, notifications. Key: payment id.
	TopicPaymentsEvents = "payments.events"
	// TopicGenAIHITLRequested: genai-gateway (needs a human) → operations console. Key: request id.
	TopicGenAIHITLRequested = "genai.hitl.requested"
	// TopicGenAIHITLDecided: operations console → genai-gateway, booking. Key: request id.
	TopicGenAIHITLDecided = "genai.hitl.decided"
	// TopicGenAIPhotoChecks: genai-gateway (return photo verdicts) → booking, operations. Key: trip id.
	TopicGenAIPhotoChecks = "genai.photo-checks"
	// TopicGenAIUsage: genai-gateway (tokens and cost per call) → analytics, budget alerts. Key: request id.
	TopicGenAIUsage = "genai.usage"
)

// Local partition counts; production sizes are set where topics are provisioned.
const (
	telemetryPartitions = 12
	defaultPartitions   = 6
)

// Topics returns the spec of every platform topic, for kafka.EnsureTopics and
// kafka.StartEmbedded (which add the .dlq topics).
func Topics() []kafka.TopicSpec {
	return []kafka.TopicSpec{
		// High volume, replaceable by the next report: short retention.
		{Name: TopicVehicleTelemetry, Partitions: telemetryPartitions, Retention: 72 * time.Hour},
		{Name: TopicVehicleEvents, Partitions: defaultPartitions},
		{Name: TopicVehicleStatus, Partitions: defaultPartitions},
		// A command is useless after it expired (minutes); a day covers replays.
		{Name: TopicVehicleCommands, Partitions: defaultPartitions, Retention: 24 * time.Hour},
		{Name: TopicVehicleCommandAcks, Partitions: defaultPartitions, Retention: 24 * time.Hour},
		// Compacted so that a new service instance rebuilds the registry from it.
		{Name: TopicFleetRegistry, Partitions: defaultPartitions, Compacted: true},
		{Name: TopicBookingReservations, Partitions: defaultPartitions},
		{Name: TopicBookingTrips, Partitions: defaultPartitions},
		{Name: TopicBookingReturns, Partitions: defaultPartitions},
		{Name: TopicPaymentsEvents, Partitions: defaultPartitions},
		{Name: TopicGenAIHITLRequested, Partitions: defaultPartitions},
		{Name: TopicGenAIHITLDecided, Partitions: defaultPartitions},
		{Name: TopicGenAIPhotoChecks, Partitions: defaultPartitions},
		{Name: TopicGenAIUsage, Partitions: defaultPartitions},
	}
}
