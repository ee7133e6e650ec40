// Package domain holds booking's vocabulary and rules: customers and their
// eligibility, the fleet registry (vehicles, parking bays, zones), reservations,
// trips and returns, and prices. It knows nothing of HTTP, SQL, Redis or Kafka.
//
// Shared building blocks live here too: VehicleType, Money (integer minor units)
// and the geometry of points and polygons (geo.go) that bays and zones use.
package domain
