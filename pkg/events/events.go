// Package events holds the platform's event contracts: the CloudEvents 1.0
// envelope in Kafka binary mode (attributes in ce_* headers, the JSON data as
// the record value), every topic name, and the versioned payload types.
//
// A payload type never changes incompatibly: add optional fields, or publish a
// new type with a .v2 suffix next to the old one until consumers moved.
package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mobilitycorp/platform/pkg/kafka"
)

// SpecVersion is the CloudEvents version of every platform event.
const SpecVersion = "1.0"

// Kafka headers of the CloudEvents Kafka protocol binding, binary mode.
const (
	HeaderSpecVersion = "ce_specversion"
	HeaderID          = "ce_id"
	HeaderType        = "ce_type"
	HeaderSource      = "ce_source"
	HeaderTime        = "ce_time"
	HeaderSubject     = "ce_subject"
	HeaderContentType = "content-type"
)

const contentTypeJSON = "application/json"

// Event is a CloudEvent whose data is JSON.
type Event struct {
	ID      string // unique per event; consumers de-duplicate on it
	Type    string // e.g. TypeTripEndedV1
	Source  string // producing service, e.g. "/booking"
	Subject string // optional: the aggregate, e.g. a trip id
	Time    time.Time
	Data    json.RawMessage
}

// New builds an event with a fresh time-ordered id (UUIDv7) and the current
// UTC time; data is marshalled to JSON.
func New(eventType, source, subject string, data any) (Event, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return Event{}, fmt.Errorf("event id: %w", err)
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return Event{}, fmt.Errorf("marshal %s data: %w", eventType, err)
	}
	return Event{
		ID:      id.String(),
		Type:    eventType,
		Source:  source,
		Subject: subject,
		Time:    time.Now().UTC(),
		Data:    raw,
	}, nil
}

// Headers returns the binary-mode headers of e.
func (e Event) Headers() []kgo.RecordHeader {
	h := []kgo.RecordHeader{
		{Key: HeaderSpecVersion, Value: []byte(SpecVersion)},
		{Key: HeaderID, Value: []byte(e.ID)},
		{Key: HeaderType, Value: []byte(e.Type)},
		{Key: HeaderSource, Value: []byte(e.Source)},
	}
	if !e.Time.IsZero() {
		h = append(h, kgo.RecordHeader{Key: HeaderTime, Value: []byte(e.Time.UTC().Format(time.RFC3339Nano))})
	}
	if e.Subject != "" {
		h = append(h, kgo.RecordHeader{Key: HeaderSubject, Value: []byte(e.Subject)})
	}
	return append(h, kgo.RecordHeader{Key: HeaderContentType, Value: []byte(contentTypeJSON)})
}

// ToRecord encodes e for topic; key is the aggregate id that orders events
// (same key, same partition).
func ToRecord(topic, key string, e Event) *kgo.Record {
	r := &kgo.Record{Topic: topic, Headers: e.Headers(), Value: e.Data}
	if key != "" {
		r.Key = []byte(key)
	}
	return r
}

// FromRecord decodes a binary-mode CloudEvent. A record that is not a valid
// platform event never will be: the error is kafka.Permanent, so consumers
// dead-letter it instead of retrying.
func FromRecord(r *kgo.Record) (Event, error) {
	e, err := fromRecord(r)
	if err != nil {
		return Event{}, kafka.Permanent(fmt.Errorf("decode cloudevent from %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err))
	}
	return e, nil
}

func fromRecord(r *kgo.Record) (Event, error) {
	h := kafka.HeaderCarrier{Headers: &r.Headers}
	if v := h.Get(HeaderSpecVersion); v != SpecVersion {
		return Event{}, fmt.Errorf("%s %q, want %q", HeaderSpecVersion, v, SpecVersion)
	}
	e := Event{
		ID:      h.Get(HeaderID),
		Type:    h.Get(HeaderType),
		Source:  h.Get(HeaderSource),
		Subject: h.Get(HeaderSubject),
	}
	var missing []string
	for _, a := range []struct{ header, value string }{
		{HeaderID, e.ID}, {HeaderType, e.Type}, {HeaderSource, e.Source},
	} {
		if a.value == "" {
			missing = append(missing, a.header)
		}
	}
	if len(missing) > 0 {
		return Event{}, fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}
	if t := h.Get(HeaderTime); t != "" {
		var err error
		if e.Time, err = time.Parse(time.RFC3339Nano, t); err != nil {
			return Event{}, fmt.Errorf("%s: %w", HeaderTime, err)
		}
		e.Time = e.Time.UTC()
	}
	if ct := h.Get(HeaderContentType); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != contentTypeJSON && !strings.HasSuffix(mt, "+json")) {
			return Event{}, fmt.Errorf("%s %q, want %s", HeaderContentType, ct, contentTypeJSON)
		}
	}
	if len(r.Value) > 0 {
		if !json.Valid(r.Value) {
			return Event{}, errors.New("data is not valid JSON")
		}
		e.Data = json.RawMessage(r.Value)
	}
	return e, nil
}

// Decode unmarshals the data of e into T. Undecodable data is a Permanent error.
func Decode[T any](e Event) (T, error) {
	var v T
	if err := json.Unmarshal(e.Data, &v); err != nil {
		return v, kafka.Permanent(fmt.Errorf("decode %s data of event %s: %w", e.Type, e.ID, err))
	}
	return v, nil
}
