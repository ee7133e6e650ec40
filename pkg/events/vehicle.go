package events

import "time"

// Vehicle event types: telemetry on TopicVehicleTelemetry, status on
// TopicVehicleStatus, incidents on TopicVehicleEvents, commands and their
// acknowledgements on TopicVehicleCommands and TopicVehicleCommandAcks.
const (
	TypeVehicleTelemetryV1      = "com.mobilitycorp.vehicle.telemetry.v1"
	TypeVehicleStatusChangedV1  = "com.mobilitycorp.vehicle.status.changed.v1"
	TypeVehicleLockChangedV1    = "com.mobilitycorp.vehicle.lock.changed.v1"
	TypeVehicleTamperDetectedV1 = "com.mobilitycorp.vehicle.tamper.detected.v1"
	TypeVehicleCrashDetectedV1  = "com.mobilitycorp.vehicle.crash.detected.v1"
	TypeVehicleFaultReportedV1  = "com.mobilitycorp.vehicle.fault.reported.v1"
	TypeVehicleCommandIssuedV1  = "com.mobilitycorp.vehicle.command.issued.v1"
	TypeVehicleCommandAckedV1   = "com.mobilitycorp.vehicle.command.acked.v1"
)

// VehicleTelemetryV1 is one periodic report of a vehicle.
type VehicleTelemetryV1 struct {
	VehicleID   string      `json:"vehicle_id"`
	VehicleType VehicleType `json:"vehicle_type"`
	Lat         float64     `json:"lat"`
	Lon         float64     `json:"lon"`
	SpeedKmh    float64     `json:"speed_kmh"`
	HeadingDeg  float64     `json:"heading_deg"` // 0 = north, clockwise
	BatteryPct  float64     `json:"battery_pct"`
	RangeKm     float64     `json:"range_km"`
	OdometerKm  float64     `json:"odometer_km"`
	Locked      bool        `json:"locked"`
	Charging    bool        `json:"charging"`
	PluggedIn   bool        `json:"plugged_in"`
	ErrorCodes  []string    `json:"error_codes,omitempty"`
	RecordedAt  time.Time   `json:"recorded_at"` // vehicle clock
}

// VehicleStatus is the connectivity of a vehicle.
type VehicleStatus string

// Vehicle statuses.
const (
	VehicleOnline  VehicleStatus = "online"
	VehicleOffline VehicleStatus = "offline"
)

// VehicleStatusChangedV1: a vehicle connected or stopped reporting.
type VehicleStatusChangedV1 struct {
	VehicleID  string        `json:"vehicle_id"`
	Status     VehicleStatus `json:"status"`
	LastSeenAt time.Time     `json:"last_seen_at"`
	ChangedAt  time.Time     `json:"changed_at"`
}

// VehicleLockChangedV1: the vehicle reports its lock state changed.
type VehicleLockChangedV1 struct {
	VehicleID string    `json:"vehicle_id"`
	Locked    bool      `json:"locked"`
	CommandID string    `json:"command_id,omitempty"` // set when a command caused it
	Lat       float64   `json:"lat"`
	Lon       float64   `json:"lon"`
	ChangedAt time.Time `json:"changed_at"`
}

// VehicleTamperDetectedV1: movement or opening without an active trip.
type VehicleTamperDetectedV1 struct {
	VehicleID  string    `json:"vehicle_id"`
	Kind       string    `json:"kind"` // e.g. "moved-while-locked", "battery-removed"
	Lat        float64   `json:"lat"`
	Lon        float64   `json:"lon"`
	DetectedAt time.Time `json:"detected_at"`
}

// VehicleCrashDetectedV1: the vehicle's sensors report an impact or fall.
type VehicleCrashDetectedV1 struct {
	VehicleID  string    `json:"vehicle_id"`
	TripID     string    `json:"trip_id,omitempty"`
	Severity   string    `json:"severity"` // "minor", "major"
	PeakG      float64   `json:"peak_g"`
	Lat        float64   `json:"lat"`
	Lon        float64   `json:"lon"`
	DetectedAt time.Time `json:"detected_at"`
}

// VehicleFaultReportedV1: a hardware or firmware fault.
type VehicleFaultReportedV1 struct {
	VehicleID  string    `json:"vehicle_id"`
	Code       string    `json:"code"`
	Severity   string    `json:"severity"` // "info", "warning", "critical"
	Message    string    `json:"message,omitempty"`
	ReportedAt time.Time `json:"reported_at"`
}

// CommandKind is what a vehicle is told to do.
type CommandKind string

// Command kinds.
const (
	CommandUnlock        CommandKind = "unlock"
	CommandLock          CommandKind = "lock"
	CommandImmobilise    CommandKind = "immobilise"
	CommandRestrictSpeed CommandKind = "restrict-speed"
	CommandSoundAlarm    CommandKind = "sound-alarm"
	CommandLocate        CommandKind = "locate"
)

// VehicleCommandIssuedV1 asks a vehicle to act. A vehicle ignores a command
// received after ExpiresAt (a late unlock must not open a car).
type VehicleCommandIssuedV1 struct {
	CommandID   string      `json:"command_id"`
	VehicleID   string      `json:"vehicle_id"`
	Kind        CommandKind `json:"kind"`
	MaxSpeedKmh float64     `json:"max_speed_kmh,omitempty"` // restrict-speed only
	TripID      string      `json:"trip_id,omitempty"`
	RequestedBy string      `json:"requested_by"` // service or operator
	IssuedAt    time.Time   `json:"issued_at"`
	ExpiresAt   time.Time   `json:"expires_at"`
}

// CommandOutcome is how a vehicle answered a command.
type CommandOutcome string

// Command outcomes.
const (
	CommandExecuted CommandOutcome = "executed"
	CommandRejected CommandOutcome = "rejected"
	CommandExpired  CommandOutcome = "expired"
	CommandFailed   CommandOutcome = "failed"
)

// VehicleCommandAckedV1 is a vehicle's answer to a command.
type VehicleCommandAckedV1 struct {
	CommandID string         `json:"command_id"`
	VehicleID string         `json:"vehicle_id"`
	Kind      CommandKind    `json:"kind"`
	Outcome   CommandOutcome `json:"outcome"`
	Reason    string         `json:"reason,omitempty"`
	AckedAt   time.Time      `json:"acked_at"`
}
