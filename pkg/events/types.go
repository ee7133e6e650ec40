package events

// Sources (the CloudEvents source attribute) of the platform's producers.
const (
	SourceBooking         = "/mobilitycorp/booking"
	SourcePayments        = "/mobilitycorp/payments"
	SourceTelemetryIngest = "/mobilitycorp/telemetry-ingest"
	SourceGenAIGateway    = "/mobilitycorp/genai-gateway"
	SourceFleet           = "/mobilitycorp/fleet"
	SourceOperations      = "/mobilitycorp/operations"
)

// Money is an amount in minor units (cents, pence) of an ISO 4217 currency,
// never a float.
type Money struct {
	AmountMinor int64  `json:"amount_minor"`
	Currency    string `json:"currency"` // ISO 4217, e.g. "EUR"
}

// VehicleType is the kind of vehicle rented.
type VehicleType string

// Vehicle types, spelt as booking's public API spells them (escooter, ebike, car, van).
const (
	VehicleEScooter VehicleType = "escooter"
	VehicleEBike    VehicleType = "ebike"
	VehicleCar      VehicleType = "car"
	VehicleVan      VehicleType = "van"
)
