package events_test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/kafka"
)

func TestNew(t *testing.T) {
	before := time.Now().UTC()
	e1, err := events.New(events.TypeTripEndedV1, events.SourceBooking, "trip-1", events.TripEndedV1{TripID: "trip-1"})
	if err != nil {
		t.Fatal(err)
	}
	e2, err := events.New(events.TypeTripEndedV1, events.SourceBooking, "trip-1", map[string]int{"n": 1})
	if err != nil {
		t.Fatal(err)
	}
	id, err := uuid.Parse(e1.ID)
	if err != nil || id.Version() != 7 {
		t.Errorf("id %q is not a UUIDv7 (err %v)", e1.ID, err)
	}
	if e1.ID >= e2.ID {
		t.Errorf("ids %s, %s are not time ordered", e1.ID, e2.ID)
	}
	if e1.Time.Location() != time.UTC || e1.Time.Before(before) || e1.Time.After(time.Now()) {
		t.Errorf("time %v is not the current UTC time", e1.Time)
	}
	if !strings.Contains(string(e1.Data), `"trip_id":"trip-1"`) {
		t.Errorf("data = %s, want the marshalled payload", e1.Data)
	}
	if _, err := events.New("t", "s", "", make(chan int)); err == nil {
		t.Error("unmarshallable data must fail")
	}
}

func TestRecordRoundTripKeepsEveryAttribute(t *testing.T) {
	at := time.Date(2026, 3, 1, 8, 30, 15, 123456789, time.UTC)
	tests := []struct {
		name string
		e    events.Event
		key  string
	}{
		{"all attributes", events.Event{ID: "0190-a", Type: events.TypeTripStartedV1, Source: events.SourceBooking,
			Subject: "trip-9", Time: at, Data: json.RawMessage(`{"trip_id":"trip-9"}`)}, "trip-9"},
		{"no subject, no key", events.Event{ID: "0190-b", Type: events.TypeVehicleTelemetryV1, Source: events.SourceTelemetryIngest,
			Time: at, Data: json.RawMessage(`{"lat":52.5}`)}, ""},
		{"no data", events.Event{ID: "0190-c", Type: events.TypeVehicleStatusChangedV1, Source: events.SourceTelemetryIngest, Time: at}, "v-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := events.ToRecord(events.TopicBookingTrips, tt.key, tt.e)
			if r.Topic != events.TopicBookingTrips || string(r.Key) != tt.key || string(r.Value) != string(tt.e.Data) {
				t.Fatalf("record topic/key/value = %s/%q/%s", r.Topic, r.Key, r.Value)
			}
			h := kafka.HeaderCarrier{Headers: &r.Headers}
			for k, want := range map[string]string{
				"ce_specversion": "1.0", "ce_id": tt.e.ID, "ce_type": tt.e.Type, "ce_source": tt.e.Source,
				"ce_time": "2026-03-01T08:30:15.123456789Z", "ce_subject": tt.e.Subject, "content-type": "application/json",
			} {
				if got := h.Get(k); got != want {
					t.Errorf("header %s = %q, want %q", k, got, want)
				}
			}
			if tt.e.Subject == "" && slices.Contains(h.Keys(), "ce_subject") {
				t.Error("an empty subject must not be sent")
			}
			got, err := events.FromRecord(r)
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != tt.e.ID || got.Type != tt.e.Type || got.Source != tt.e.Source || got.Subject != tt.e.Subject ||
				!got.Time.Equal(tt.e.Time) || string(got.Data) != string(tt.e.Data) {
				t.Errorf("round trip\n got %+v\nwant %+v", got, tt.e)
			}
		})
	}
}

func TestFromRecordRejectsInvalidEvents(t *testing.T) {
	valid := func() *kgo.Record {
		e := events.Event{ID: "id-1", Type: events.TypeTripEndedV1, Source: events.SourceBooking, Time: time.Now(), Data: json.RawMessage(`{}`)}
		return events.ToRecord(events.TopicBookingTrips, "k", e)
	}
	set := func(key, value string) func(*kgo.Record) {
		return func(r *kgo.Record) { kafka.HeaderCarrier{Headers: &r.Headers}.Set(key, value) }
	}
	drop := func(key string) func(*kgo.Record) {
		return func(r *kgo.Record) {
			var keep []kgo.RecordHeader
			for _, h := range r.Headers {
				if h.Key != key {
					keep = append(keep, h)
				}
			}
			r.Headers = keep
		}
	}
	tests := []struct {
		name    string
		mutate  func(*kgo.Record)
		wantErr string // "" means valid
	}{
		{"valid", func(*kgo.Record) {}, ""},
		{"content type with charset", set("content-type", "application/json; charset=utf-8"), ""},
		{"no content type", drop("content-type"), ""},
		{"missing ce_id", drop("ce_id"), "missing ce_id"},
		{"empty ce_id", set("ce_id", ""), "missing ce_id"},
		{"missing ce_type", drop("ce_type"), "missing ce_type"},
		{"missing ce_source", drop("ce_source"), "missing ce_source"},
		{"missing specversion", drop("ce_specversion"), "ce_specversion"},
		{"bad specversion", set("ce_specversion", "0.3"), `ce_specversion "0.3"`},
		{"bad time", set("ce_time", "yesterday"), "ce_time"},
		{"bad JSON", func(r *kgo.Record) { r.Value = []byte(`{"trip_id":`) }, "not valid JSON"},
		{"not JSON content type", set("content-type", "application/avro"), "content-type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := valid()
			tt.mutate(r)
			_, err := events.FromRecord(r)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
			if !kafka.IsPermanent(err) {
				t.Errorf("error %v is not kafka.Permanent: the consumer would retry it", err)
			}
		})
	}
}

// Every payload type survives New → ToRecord → FromRecord → Decode unchanged.
func TestPayloadsRoundTrip(t *testing.T) {
	at := time.Date(2026, 3, 1, 8, 30, 0, 0, time.UTC)
	eur := func(minor int64) events.Money { return events.Money{AmountMinor: minor, Currency: "EUR"} }
	tests := []struct {
		typ     string
		payload any
	}{
		{events.TypeReservationCreatedV1, events.ReservationCreatedV1{ReservationID: "r1", CustomerID: "c1", VehicleID: "v1", VehicleType: events.VehicleCar, BayID: "b1", StartAt: at, EndAt: at.Add(time.Hour), Deposit: &events.Money{AmountMinor: 5000, Currency: "EUR"}}},
		{events.TypeReservationCancelledV1, events.ReservationCancelledV1{ReservationID: "r1", CustomerID: "c1", VehicleID: "v1", Reason: "changed plans", CancelledBy: "customer", CancelledAt: at, Fee: &events.Money{AmountMinor: 300, Currency: "EUR"}}},
		{events.TypeFineIssuedV1, events.FineIssuedV1{FineID: "f1", CustomerID: "c1", TripID: "t1", Reason: events.FineWrongLocation, Amount: eur(2500), IssuedAt: at}},
		{events.TypeRewardGrantedV1, events.RewardGrantedV1{RewardID: "rw1", CustomerID: "c1", TripID: "t1", BayID: "b1", Amount: eur(200), Reason: "under-served bay", GrantedAt: at}},
		{events.TypeTripOverdueV1, events.TripOverdueV1{TripID: "t1", CustomerID: "c1", VehicleID: "v1", VehicleType: events.VehicleCar, StartedAt: at, DueAt: at.Add(2 * time.Hour), DetectedAt: at.Add(2*time.Hour + time.Minute)}},
		{events.TypeReturnCheckedV1, events.ReturnCheckedV1{TripID: "t1", CustomerID: "c1", VehicleID: "v1", VehicleType: events.VehicleEScooter, BayID: "b1", InBay: true, EndingAllowed: true, Photos: 2, Accepted: true, CheckedAt: at}},
		{events.TypeReservationExpiredV1, events.ReservationExpiredV1{ReservationID: "r1", CustomerID: "c1", VehicleID: "v1", ExpiredAt: at}},
		{events.TypeTripStartedV1, events.TripStartedV1{TripID: "t1", ReservationID: "r1", CustomerID: "c1", VehicleID: "v1", VehicleType: events.VehicleEScooter, StartLat: 52.52, StartLon: 13.40, StartedAt: at}},
		{events.TypeTripEndedV1, events.TripEndedV1{TripID: "t1", CustomerID: "c1", VehicleID: "v1", VehicleType: events.VehicleEScooter, StartedAt: at, EndedAt: at.Add(17 * time.Minute), DurationSeconds: 1020, DistanceMeters: 4210, Price: eur(612), EndLat: 52.5, EndLon: 13.41, BayID: "b7", EndedInBay: true}},
		{events.TypeReturnPhotosSubmittedV1, events.ReturnPhotosSubmittedV1{TripID: "t1", CustomerID: "c1", VehicleID: "v1", PhotoKeys: []string{"returns/t1/1.jpg"}, SubmittedAt: at}},
		{events.TypeVehicleTelemetryV1, events.VehicleTelemetryV1{VehicleID: "v1", VehicleType: events.VehicleEBike, Lat: 52.5, Lon: 13.4, SpeedKmh: 18.5, HeadingDeg: 270, BatteryPct: 64, RangeKm: 31, OdometerKm: 1234.5, Locked: false, Charging: false, PluggedIn: false, ErrorCodes: []string{"E12"}, RecordedAt: at}},
		{events.TypeVehicleStatusChangedV1, events.VehicleStatusChangedV1{VehicleID: "v1", Status: events.VehicleOffline, LastSeenAt: at, ChangedAt: at.Add(time.Minute)}},
		{events.TypeVehicleLockChangedV1, events.VehicleLockChangedV1{VehicleID: "v1", Locked: true, CommandID: "cmd1", Lat: 1, Lon: 2, ChangedAt: at}},
		{events.TypeVehicleTamperDetectedV1, events.VehicleTamperDetectedV1{VehicleID: "v1", Kind: "moved-while-locked", Lat: 1, Lon: 2, DetectedAt: at}},
		{events.TypeVehicleCrashDetectedV1, events.VehicleCrashDetectedV1{VehicleID: "v1", TripID: "t1", Severity: "major", PeakG: 7.5, Lat: 1, Lon: 2, DetectedAt: at}},
		{events.TypeVehicleFaultReportedV1, events.VehicleFaultReportedV1{VehicleID: "v1", Code: "BMS_TEMP", Severity: "critical", Message: "battery hot", ReportedAt: at}},
		{events.TypeVehicleCommandIssuedV1, events.VehicleCommandIssuedV1{CommandID: "cmd1", VehicleID: "v1", Kind: events.CommandRestrictSpeed, MaxSpeedKmh: 12, TripID: "t1", RequestedBy: "booking", IssuedAt: at, ExpiresAt: at.Add(30 * time.Second)}},
		{events.TypeVehicleCommandAckedV1, events.VehicleCommandAckedV1{CommandID: "cmd1", VehicleID: "v1", Kind: events.CommandUnlock, Outcome: events.CommandExecuted, AckedAt: at}},
		{events.TypePaymentAuthorisedV1, events.PaymentAuthorisedV1{PaymentID: "p1", CustomerID: "c1", ReservationID: "r1", Amount: eur(5000), ProviderRef: "pi_1", AuthorisedAt: at}},
		{events.TypePaymentCapturedV1, events.PaymentCapturedV1{PaymentID: "p1", CustomerID: "c1", TripID: "t1", Amount: eur(612), ProviderRef: "pi_1", CapturedAt: at, Kind: events.PaymentKindTripRemainder, ReservationID: "r1"}},
		{events.TypePaymentFailedV1, events.PaymentFailedV1{PaymentID: "p1", CustomerID: "c1", TripID: "t1", Amount: eur(612), Stage: "capture", Code: "insufficient_funds", Retryable: true, FailedAt: at}},
		{events.TypePaymentRefundedV1, events.PaymentRefundedV1{PaymentID: "p1", RefundID: "re1", CustomerID: "c1", TripID: "t1", Amount: eur(200), Reason: "goodwill", RefundedAt: at}},
		{events.TypePaymentAuthorisationFailedV1, events.PaymentFailedV1{PaymentID: "p1", CustomerID: "c1", TripID: "t1", Amount: eur(1000), Stage: "authorise", Code: "generic_decline", FailedAt: at}},
		{events.TypeFineChargedV1, events.FineChargedV1{FineID: "f1", PaymentID: "p2", CustomerID: "c1", TripID: "t1", Reason: events.FineLateReturn, Amount: eur(2500), ProviderRef: "pi_2", ChargedAt: at}},
		{events.TypeCreditGrantedV1, events.CreditGrantedV1{CreditID: "rw1", CustomerID: "c1", TripID: "t1", Amount: eur(200), Source: "staff", Reason: "goodwill", GrantedBy: "staff-1", GrantedAt: at}},
		{events.TypeCreditAppliedV1, events.CreditAppliedV1{PaymentID: "p1", CustomerID: "c1", TripID: "t2", Amount: eur(200), AppliedAt: at}},
		{events.TypeRefundRequestedV1, events.RefundRequestedV1{RefundID: "rf1", PaymentID: "p1", CustomerID: "c1", TripID: "t1", Amount: eur(3000), Reason: "goodwill", RequestedBy: "staff-1", Status: "pending_approval", RequestedAt: at}},
		{events.TypeHITLRequestedV1, events.HITLRequestedV1{RequestID: "h1", Kind: "damage-charge", SubjectType: "trip", SubjectID: "t1", Summary: "scratch on fender", Confidence: 0.62, Proposal: json.RawMessage(`{"charge_minor":2500}`), Model: "vision-1", RequestedAt: at, DueBy: at.Add(time.Hour)}},
		{events.TypeHITLDecidedV1, events.HITLDecidedV1{RequestID: "h1", Decision: events.HITLModified, Modified: json.RawMessage(`{"charge_minor":1000}`), DecidedBy: "op-3", Comment: "minor", DecidedAt: at}},
		{events.TypePhotoCheckDecidedV1, events.PhotoCheckDecidedV1{CheckID: "pc1", TripID: "t1", VehicleID: "v1", Outcome: events.PhotoCheckMisparked, Confidence: 0.91, Findings: []string{"blocking sidewalk"}, DecidedBy: "model", Model: "vision-1", DecidedAt: at}},
		{events.TypeGenAIUsageRecordedV1, events.GenAIUsageRecordedV1{RequestID: "h1", Feature: "photo-check", Provider: "p", Model: "vision-1", InputTokens: 1200, OutputTokens: 80, Cost: events.Money{AmountMinor: 3, Currency: "EUR"}, LatencyMs: 900, RecordedAt: at}},
		{events.TypeFleetVehicleUpsertedV1, events.FleetVehicleUpsertedV1{VehicleID: "v1", VehicleType: events.VehicleVan, Model: "eTransit", Plate: "B-MC-1", ZoneID: "z1", HomeBayID: "b1", State: "active", UpdatedAt: at}},
		{events.TypeFleetBayUpsertedV1, events.FleetBayUpsertedV1{BayID: "b1", ZoneID: "z1", Name: "Alexanderplatz", Lat: 52.52, Lon: 13.41, RadiusMeters: 15, Capacity: 8, VehicleTypes: []events.VehicleType{events.VehicleCar, events.VehicleVan}, Charging: true, Active: true, UpdatedAt: at}},
		{events.TypeFleetZoneUpsertedV1, events.FleetZoneUpsertedV1{ZoneID: "z1", Name: "Mitte", City: "Berlin", Kind: "slow", Polygon: [][2]float64{{13.3, 52.5}, {13.4, 52.5}, {13.4, 52.6}, {13.3, 52.5}}, MaxSpeedKmh: 10, Active: true, UpdatedAt: at}},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.typ] = true
		t.Run(tt.typ, func(t *testing.T) {
			e, err := events.New(tt.typ, "/test", "", tt.payload)
			if err != nil {
				t.Fatal(err)
			}
			got, err := events.FromRecord(events.ToRecord("topic", "k", e))
			if err != nil {
				t.Fatal(err)
			}
			ptr := reflect.New(reflect.TypeOf(tt.payload))
			if err := json.Unmarshal(got.Data, ptr.Interface()); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ptr.Elem().Interface(), tt.payload) {
				t.Errorf("round trip\n got %+v\nwant %+v", ptr.Elem().Interface(), tt.payload)
			}
			assertSnakeCase(t, reflect.TypeOf(tt.payload))
		})
	}
	for _, typ := range constValues(t, "Type") {
		if !covered[typ] {
			t.Errorf("event type %s has no round-trip case", typ)
		}
	}
}

func TestDecode(t *testing.T) {
	e, err := events.New(events.TypeTripEndedV1, events.SourceBooking, "t1", events.TripEndedV1{TripID: "t1", Price: events.Money{AmountMinor: 612, Currency: "EUR"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := events.Decode[events.TripEndedV1](e)
	if err != nil || got.TripID != "t1" || got.Price.AmountMinor != 612 {
		t.Fatalf("Decode = %+v, %v", got, err)
	}
	e.Data = json.RawMessage(`{"trip_id": 42}`)
	if _, err := events.Decode[events.TripEndedV1](e); err == nil || !kafka.IsPermanent(err) {
		t.Errorf("decoding a wrong shape = %v, want a Permanent error", err)
	}
}

func TestEveryTopicConstantIsInTopicsExactlyOnce(t *testing.T) {
	count := map[string]int{}
	for _, s := range events.Topics() {
		count[s.Name]++
		if s.Partitions < 1 {
			t.Errorf("topic %s has %d partitions", s.Name, s.Partitions)
		}
		if strings.HasSuffix(s.Name, ".dlq") {
			t.Errorf("topic %s: dead-letter topics are derived, not declared", s.Name)
		}
	}
	consts := constValues(t, "Topic")
	if len(consts) != 14 {
		t.Errorf("found %d topic constants, want the 14 platform topics", len(consts))
	}
	declared := map[string]bool{}
	for _, name := range consts {
		declared[name] = true
		if count[name] != 1 {
			t.Errorf("topic %s appears %d times in Topics(), want 1", name, count[name])
		}
	}
	for name, n := range count {
		if !declared[name] {
			t.Errorf("Topics() lists %s (%d times), which has no constant", name, n)
		}
	}
	for _, s := range events.Topics() {
		if s.Compacted != (s.Name == events.TopicFleetRegistry) {
			t.Errorf("topic %s compacted = %v", s.Name, s.Compacted)
		}
	}
}

func TestEventTypeNames(t *testing.T) {
	pattern := regexp.MustCompile(`^com\.mobilitycorp\.[a-z]+(\.[a-z-]+)+\.v[0-9]+$`)
	seen := map[string]bool{}
	for _, typ := range constValues(t, "Type") {
		if !pattern.MatchString(typ) {
			t.Errorf("event type %q does not match %s", typ, pattern)
		}
		if seen[typ] {
			t.Errorf("event type %q declared twice", typ)
		}
		seen[typ] = true
	}
}

// constValues parses the package's source files and returns the values of
// string constants whose names start with prefix followed by an upper-case
// letter, so the tests see every constant without a hand-kept list.
func constValues(t *testing.T, prefix string) []string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	name := regexp.MustCompile("^" + prefix + "[A-Z]")
	var out []string
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if !name.MatchString(n.Name) || i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					v, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					out = append(out, v)
				}
			}
		}
	}
	return out
}

// assertSnakeCase checks every field of typ (and of nested structs) has a
// snake_case JSON name.
func assertSnakeCase(t *testing.T, typ reflect.Type) {
	t.Helper()
	snakeCase := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
		typ = typ.Elem()
	}
	if typ.Kind() != reflect.Struct || typ == reflect.TypeFor[time.Time]() {
		return
	}
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag := strings.Split(f.Tag.Get("json"), ",")[0]
		if !snakeCase.MatchString(tag) {
			t.Errorf("%s.%s has JSON name %q, want snake_case", typ.Name(), f.Name, tag)
		}
		assertSnakeCase(t, f.Type)
	}
}
