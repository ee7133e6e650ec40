package events

import (
	"encoding/json"
	"time"
)

// GenAI event types: human-in-the-loop on TopicGenAIHITLRequested and
// TopicGenAIHITLDecided, photo verdicts on TopicGenAIPhotoChecks, model
// usage on TopicGenAIUsage.
const (
	TypeHITLRequestedV1      = "com.mobilitycorp.genai.hitl.requested.v1"
	TypeHITLDecidedV1        = "com.mobilitycorp.genai.hitl.decided.v1"
	TypePhotoCheckDecidedV1  = "com.mobilitycorp.genai.photo-check.decided.v1"
	TypeGenAIUsageRecordedV1 = "com.mobilitycorp.genai.usage.recorded.v1"
)

// HITLRequestedV1: a model proposal needs a human decision before it takes
// effect (a damage charge, a low-confidence verdict).
type HITLRequestedV1 struct {
	RequestID   string  `json:"request_id"`
	Kind        string  `json:"kind"`         // e.g. "photo-check", "damage-charge"
	SubjectType string  `json:"subject_type"` // e.g. "trip"
	SubjectID   string  `json:"subject_id"`
	Summary     string  `json:"summary"`
	Confidence  float64 `json:"confidence"` // 0..1
	// Proposal is the action the model suggests, kind-specific JSON.
	Proposal    json.RawMessage `json:"proposal,omitempty"`
	Model       string          `json:"model"`
	RequestedAt time.Time       `json:"requested_at"`
	DueBy       time.Time       `json:"due_by"`
}

// HITLDecision is a human's answer to a HITL request.
type HITLDecision string

// HITL decisions.
const (
	HITLApproved HITLDecision = "approved"
	HITLRejected HITLDecision = "rejected"
	HITLModified HITLDecision = "modified"
)

// HITLDecidedV1: an operator decided a HITL request.
type HITLDecidedV1 struct {
	RequestID string       `json:"request_id"`
	Decision  HITLDecision `json:"decision"`
	// Modified carries the operator's version of the proposal when Decision is modified.
	Modified  json.RawMessage `json:"modified,omitempty"`
	DecidedBy string          `json:"decided_by"` // operator id
	Comment   string          `json:"comment,omitempty"`
	DecidedAt time.Time       `json:"decided_at"`
}

// PhotoCheckOutcome is the verdict on return photos.
type PhotoCheckOutcome string

// Photo check outcomes.
const (
	PhotoCheckOK        PhotoCheckOutcome = "ok"
	PhotoCheckDamage    PhotoCheckOutcome = "damage"
	PhotoCheckMisparked PhotoCheckOutcome = "misparked"
	PhotoCheckUnclear   PhotoCheckOutcome = "unclear"
)

// PhotoCheckDecidedV1: return photos were judged, by the model alone or
// after a human decision (DecidedBy).
type PhotoCheckDecidedV1 struct {
	CheckID    string            `json:"check_id"`
	TripID     string            `json:"trip_id"`
	VehicleID  string            `json:"vehicle_id"`
	Outcome    PhotoCheckOutcome `json:"outcome"`
	Confidence float64           `json:"confidence"`
	Findings   []string          `json:"findings,omitempty"`
	DecidedBy  string            `json:"decided_by"` // "model" or "human"
	HITLID     string            `json:"hitl_request_id,omitempty"`
	Model      string            `json:"model,omitempty"`
	DecidedAt  time.Time         `json:"decided_at"`
}

// GenAIUsageRecordedV1 accounts one model call.
type GenAIUsageRecordedV1 struct {
	RequestID    string    `json:"request_id"`
	Feature      string    `json:"feature"` // e.g. "photo-check"
	Provider     string    `json:"provider"`
	Model        string    `json:"model"`
	InputTokens  int64     `json:"input_tokens"`
	OutputTokens int64     `json:"output_tokens"`
	Cost         Money     `json:"cost"`
	LatencyMs    int64     `json:"latency_ms"`
	RecordedAt   time.Time `json:"recorded_at"`
}
