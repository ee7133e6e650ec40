package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mobilitycorp/platform/pkg/auth"
	"github.com/mobilitycorp/platform/pkg/events"
	"github.com/mobilitycorp/platform/pkg/httpx/openapitest"
	"github.com/mobilitycorp/platform/pkg/kafka"
	"github.com/mobilitycorp/platform/pkg/kafka/kafkatest"
	"github.com/mobilitycorp/platform/pkg/service"
	"github.com/mobilitycorp/platform/pkg/service/servicetest"
	"github.com/mobilitycorp/platform/services/booking/api"
	"github.com/mobilitycorp/platform/services/booking/internal/domain"
)

// bkEnv is the booking service started in-process (as main wires it) on real
// PostgreSQL, Redis and an embedded Kafka broker, driven only through HTTP
// (validated against the OpenAPI document) and Kafka.
type bkEnv struct {
	t        testing.TB
	svc      *servicetest.Service
	kcfg     kafka.Config
	producer *kafka.Producer
	client   *http.Client
	signer   *auth.Signer
	staff    string // tokens
	admin    string
	seq      atomic.Int64
}

// Berlin test geography: an operating area, a bay for every type (with
// chargers) around bkBayPoint, an under-served bay around bkRewardPoint, and
// bkStreetPoint inside the area but outside every bay.
var (
	bkBayPoint    = domain.Point{Lat: 52.5200, Lon: 13.4000}
	bkRewardPoint = domain.Point{Lat: 52.5100, Lon: 13.3800}
	bkStreetPoint = domain.Point{Lat: 52.5300, Lon: 13.4200}
)

func bkStart(t testing.TB, extra map[string]string, validate bool) *bkEnv {
	t.Helper()
	env := map[string]string{"LOG_LEVEL": "warn", "FLEET_ZONE_REFRESH": "100ms", "PHOTOS_DIR": t.TempDir()}
	for k, v := range extra {
		env[k] = v
	}
	svc := servicetest.Start(t, envPrefix, run, env)
	kcfg := kafka.Config{Brokers: strings.Split(svc.Env[envPrefix+"KAFKA_BROKERS"], ",")}
	producer, err := kafka.NewProducer(kcfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(producer.Close)
	e := &bkEnv{t: t, svc: svc, kcfg: kcfg, producer: producer,
		signer: auth.NewHS256Signer(service.DevJWTSecret, "mobilitycorp", "mobility-api")}
	e.client = &http.Client{Timeout: 30 * time.Second}
	if validate {
		e.client.Transport = openapitest.Load(t, api.Spec).Transport(t, nil)
	} else {
		e.client.Transport = &http.Transport{MaxIdleConnsPerHost: 256}
	}
	e.staff = e.token("staff-1", auth.RoleStaff)
	e.admin = e.token("admin-1", auth.RoleAdmin)
	return e
}

func (e *bkEnv) token(sub string, roles ...auth.Role) string {
	e.t.Helper()
	tok, err := e.signer.Mint(sub, roles, 2*time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// send sends a request; body is JSON unless it is a *bkRaw. POSTs carry a
// fresh Idempotency-Key.
func (e *bkEnv) send(method, path, token string, body any) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	ct := "application/json"
	switch b := body.(type) {
	case nil:
	case *bkRaw:
		rd, ct = bytes.NewReader(b.data), b.contentType
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.svc.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if method == http.MethodPost {
		req.Header.Set("Idempotency-Key", uuid.NewString())
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, out
}

// call sends a request and fails the test unless the status is want; the
// JSON answer is decoded into out (if not nil).
func (e *bkEnv) call(method, path, token string, body any, want int, out any) {
	e.t.Helper()
	status, raw := e.send(method, path, token, body)
	if status != want {
		e.t.Fatalf("%s %s = %d, want %d: %s", method, path, status, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("%s %s: decode %s: %v", method, path, raw, err)
		}
	}
}

type bkRaw struct {
	contentType string
	data        []byte
}

// multipartPhoto encodes data as the "photo" part of a form.
func bkMultipartPhoto(t testing.TB, data []byte) *bkRaw {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	part, err := mw.CreateFormFile("photo", "return.jpg")
	if err != nil {
		t.Fatal(err)
	}
	part.Write(data)
	mw.Close()
	return &bkRaw{contentType: mw.FormDataContentType(), data: buf.Bytes()}
}

// bkJPEG is a minimal JPEG header the content sniffer recognises.
func bkJPEG(tag string) []byte { return append([]byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"), tag...) }

func bkSquare(c domain.Point, half float64) map[string]any {
	ring := [][]float64{
		{c.Lon - half, c.Lat - half}, {c.Lon + half, c.Lat - half}, {c.Lon + half, c.Lat + half},
		{c.Lon - half, c.Lat + half}, {c.Lon - half, c.Lat - half},
	}
	return map[string]any{"type": "Polygon", "coordinates": [][][]float64{ring}}
}

// city sets up Berlin: an operating area and the two bays.
func (e *bkEnv) city() {
	e.t.Helper()
	e.call("POST", "/v1/zones", e.staff, map[string]any{"name": "Berlin centre", "city": "Berlin", "kind": "operating_area",
		"polygon": bkSquare(domain.Point{Lat: 52.52, Lon: 13.40}, 0.05)}, http.StatusCreated, nil)
	all := []string{"escooter", "ebike", "car", "van"}
	e.call("POST", "/v1/bays", e.staff, map[string]any{"name": "Alexanderplatz", "city": "Berlin", "capacity": 40,
		"vehicle_types": all, "chargers": 10, "polygon": bkSquare(bkBayPoint, 0.0005)}, http.StatusCreated, nil)
	e.call("POST", "/v1/bays", e.staff, map[string]any{"name": "Tiergarten", "city": "Berlin", "capacity": 40,
		"vehicle_types": all, "chargers": 10, "under_served": true, "polygon": bkSquare(bkRewardPoint, 0.0005)}, http.StatusCreated, nil)
}

// customer signs a customer up (with a payment method; with a verified
// licence when licence is set) and returns their token.
func (e *bkEnv) customer(id string, age int, licence bool) string {
	e.t.Helper()
	tok := e.token(id, auth.RoleCustomer)
	dob := time.Now().UTC().AddDate(-age, 0, -1).Format(time.DateOnly)
	e.call("POST", "/v1/customers", tok, map[string]any{"name": "Test " + id, "email": id + "@example.com",
		"date_of_birth": dob, "country": "DE", "preferred_language": "de"}, http.StatusCreated, nil)
	e.call("PUT", "/v1/customers/"+id+"/payment-method", tok, map[string]any{"payment_method": "pm_card_visa"}, http.StatusOK, nil)
	if licence {
		e.call("POST", "/v1/customers/"+id+"/licence", tok, map[string]any{"number": "B072RRE2I55", "country": "DE",
			"expiry": time.Now().AddDate(5, 0, 0).Format(time.DateOnly), "categories": []string{"B"}}, http.StatusOK, nil)
		e.call("POST", "/v1/customers/"+id+"/licence/verify", e.staff, map[string]any{"decision": "verify"}, http.StatusOK, nil)
	}
	return tok
}

// vehicle registers a vehicle in Berlin and reports it at p; it returns
// once the availability index offers it.
func (e *bkEnv) vehicle(vt domain.VehicleType, p domain.Point, rangeKm float64) string {
	e.t.Helper()
	n := e.seq.Add(1)
	body := map[string]any{"type": string(vt), "model": "Test " + string(vt), "range_km": 400, "home_city": "Berlin"}
	if vt.NeedsLicence() {
		body["plate"] = fmt.Sprintf("B MC %d", 1000+n)
	} else {
		body["serial"] = fmt.Sprintf("SC%06d", n)
	}
	var v struct {
		ID string `json:"id"`
	}
	e.call("POST", "/v1/vehicles", e.staff, body, http.StatusCreated, &v)
	e.telemetry(v.ID, vt, p, rangeKm, vt.NeedsLicence())
	e.waitOffered(v.ID, vt, p)
	return v.ID
}

func (e *bkEnv) telemetry(id string, vt domain.VehicleType, p domain.Point, rangeKm float64, plugged bool) {
	e.t.Helper()
	e.produce(events.TopicVehicleTelemetry, id, events.TypeVehicleTelemetryV1, events.SourceTelemetryIngest, events.VehicleTelemetryV1{
		VehicleID: id, VehicleType: events.VehicleType(vt), Lat: p.Lat, Lon: p.Lon, BatteryPct: 80, RangeKm: rangeKm,
		Locked: true, PluggedIn: plugged, RecordedAt: time.Now().UTC()})
}

func (e *bkEnv) produce(topic, key, typ, source string, data any) {
	e.t.Helper()
	ev, err := events.New(typ, source, key, data)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.producer.Produce(context.Background(), events.ToRecord(topic, key, ev)); err != nil {
		e.t.Fatal(err)
	}
}

// waitOffered polls the availability search until it offers the vehicle.
func (e *bkEnv) waitOffered(id string, vt domain.VehicleType, p domain.Point) {
	e.t.Helper()
	q := url.Values{"lat": {fmt.Sprint(p.Lat)}, "lon": {fmt.Sprint(p.Lon)}, "radius_m": {"50"}, "type": {string(vt)}, "limit": {"100"}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var page struct {
			Items []struct {
				VehicleID string `json:"vehicle_id"`
			} `json:"items"`
		}
		e.call("GET", "/v1/vehicles/available?"+q.Encode(), e.staff, nil, http.StatusOK, &page)
		for _, it := range page.Items {
			if it.VehicleID == id {
				return
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("vehicle %s not offered after 30s", id)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// eventually polls cond until it holds (failing after 20s).
func (e *bkEnv) eventually(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("not within 20s: %s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// events reads every record of topic so far and returns its events of type typ (all when "").
func (e *bkEnv) events(topic, typ string) []events.Event {
	e.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.kcfg.Brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	ends := e.endOffsets(topic)
	var total int64
	for _, o := range ends {
		total += o
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var out []events.Event
	for read := int64(0); read < total; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			e.t.Fatalf("read %s: %d of %d records", topic, read, total)
		}
		fs.EachRecord(func(r *kgo.Record) {
			read++
			ev, err := events.FromRecord(r)
			if err != nil {
				e.t.Fatalf("record on %s is not a CloudEvent: %v", topic, err)
			}
			if typ == "" || ev.Type == typ {
				out = append(out, ev)
			}
		})
	}
	return out
}

func (e *bkEnv) endOffsets(topic string) map[int32]int64 {
	e.t.Helper()
	return kafkatest.EndOffsets(e.t, e.kcfg, topic)
}

// waitEvent waits until topic holds an event of type typ that match accepts.
func bkWaitEvent[T any](e *bkEnv, topic, typ string, match func(T) bool) T {
	e.t.Helper()
	var found T
	e.eventually(typ+" on "+topic, func() bool {
		for _, ev := range e.events(topic, typ) {
			v, err := events.Decode[T](ev)
			if err == nil && match(v) {
				found = v
				return true
			}
		}
		return false
	})
	return found
}

// tripJSON is the part of a trip the tests read.
type bkTrip struct {
	ID              string        `json:"id"`
	ReservationID   string        `json:"reservation_id"`
	VehicleID       string        `json:"vehicle_id"`
	State           string        `json:"state"`
	EndReason       string        `json:"end_reason"`
	FailureReason   string        `json:"failure_reason"`
	UnlockExpiresAt time.Time     `json:"unlock_expires_at"`
	Price           *domain.Money `json:"price"`
	PriceFinal      bool          `json:"price_final"`
	DurationSeconds int64         `json:"duration_seconds"`
	Photos          int           `json:"photos"`
	Settled         bool          `json:"settled"`
	Return          *struct {
		InBay         bool     `json:"in_bay"`
		BayID         string   `json:"bay_id"`
		WrongLocation bool     `json:"wrong_location"`
		Reward        bool     `json:"reward"`
		Accepted      bool     `json:"accepted"`
		Problems      []string `json:"problems"`
	} `json:"return"`
	Fines []struct {
		Reason string       `json:"reason"`
		Amount domain.Money `json:"amount"`
	} `json:"fines"`
	Rewards []struct {
		Amount domain.Money `json:"amount"`
	} `json:"rewards"`
}

func (e *bkEnv) trip(id, token string) bkTrip {
	e.t.Helper()
	var tr bkTrip
	e.call("GET", "/v1/trips/"+id, token, nil, http.StatusOK, &tr)
	return tr
}

func (e *bkEnv) waitTrip(id, token, state string) bkTrip {
	e.t.Helper()
	var tr bkTrip
	e.eventually("trip "+id+" "+state, func() bool {
		tr = e.trip(id, token)
		return tr.State == state
	})
	return tr
}

// command waits for the command of kind for tripID on vehicle.commands.
func (e *bkEnv) command(tripID string, kind events.CommandKind) events.VehicleCommandIssuedV1 {
	e.t.Helper()
	return bkWaitEvent(e, events.TopicVehicleCommands, events.TypeVehicleCommandIssuedV1, func(c events.VehicleCommandIssuedV1) bool {
		return c.TripID == tripID && c.Kind == kind
	})
}

// ack answers a command as the vehicle (through telemetry-ingest) would.
func (e *bkEnv) ack(cmd events.VehicleCommandIssuedV1, outcome events.CommandOutcome) {
	e.t.Helper()
	e.produce(events.TopicVehicleCommandAcks, cmd.VehicleID, events.TypeVehicleCommandAckedV1, events.SourceTelemetryIngest,
		events.VehicleCommandAckedV1{CommandID: cmd.CommandID, VehicleID: cmd.VehicleID, Kind: cmd.Kind, Outcome: outcome, AckedAt: time.Now().UTC()})
}

// startActive starts a walk-up trip, answers its unlock and waits until it is active.
func (e *bkEnv) startActive(token, vehicleID string) bkTrip {
	e.t.Helper()
	var tr bkTrip
	e.call("POST", "/v1/trips", token, map[string]any{"vehicle_id": vehicleID}, http.StatusAccepted, &tr)
	e.ack(e.command(tr.ID, events.CommandUnlock), events.CommandExecuted)
	return e.waitTrip(tr.ID, token, "active")
}
