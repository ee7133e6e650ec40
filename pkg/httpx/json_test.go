package httpx_test

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mobilitycorp/platform/pkg/httpx"
	"github.com/mobilitycorp/platform/pkg/httpx/problem"
)

type reservation struct {
	VehicleID string `json:"vehicle_id"`
	Minutes   int    `json:"minutes"`
	Pickup    struct {
		Lat float64 `json:"lat"`
	} `json:"pickup"`
}

func TestDecodeJSON(t *testing.T) {
	const limit = 64
	tests := []struct {
		name        string
		contentType string
		body        string
		wantStatus  int
		wantDetail  string // substring
		wantPointer string
	}{
		{name: "ok", contentType: "application/json", body: `{"vehicle_id":"v-1","minutes":15}`, wantStatus: 200},
		{name: "ok with charset and trailing space", contentType: "application/json; charset=UTF-8", body: "{\"minutes\":1}\n ", wantStatus: 200},
		{name: "missing content type", contentType: "", body: `{}`, wantStatus: 415},
		{name: "wrong content type", contentType: "text/plain", body: `{}`, wantStatus: 415},
		{name: "non utf-8 charset", contentType: "application/json; charset=latin1", body: `{}`, wantStatus: 415},
		{name: "unknown field", contentType: "application/json", body: `{"vehicle_id":"v-1","colour":"red"}`, wantStatus: 400, wantDetail: `unknown field "colour"`},
		{name: "wrong type", contentType: "application/json", body: `{"minutes":"ten"}`, wantStatus: 400, wantDetail: "minutes", wantPointer: "/minutes"},
		{name: "wrong nested type", contentType: "application/json", body: `{"pickup":{"lat":"north"}}`, wantStatus: 400, wantPointer: "/pickup/lat"},
		{name: "not an object", contentType: "application/json", body: `[1]`, wantStatus: 400, wantDetail: "must be a JSON object"},
		{name: "two values", contentType: "application/json", body: `{"minutes":1}{"minutes":2}`, wantStatus: 400, wantDetail: "single JSON value"},
		{name: "trailing garbage", contentType: "application/json", body: `{"minutes":1} x`, wantStatus: 400, wantDetail: "single JSON value"},
		{name: "syntax error reports offset", contentType: "application/json", body: `{"minutes" 1}`, wantStatus: 400, wantDetail: "offset 12"},
		{name: "truncated", contentType: "application/json", body: `{"minutes":`, wantStatus: 400, wantDetail: "truncated"},
		{name: "empty", contentType: "application/json", body: ``, wantStatus: 400, wantDetail: "empty"},
		{name: "too big", contentType: "application/json", body: `{"vehicle_id":"` + strings.Repeat("v", limit) + `"}`, wantStatus: 413, wantDetail: "64 bytes"},
		{name: "too big after first value", contentType: "application/json", body: `{}` + strings.Repeat(" ", limit), wantStatus: 413},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(o *httpx.RouterOptions) { o.MaxBodyBytes = limit })
			f.router.Post("/v1/reservations", func(w http.ResponseWriter, r *http.Request) {
				var in reservation
				if err := httpx.DecodeJSON(r, &in); err != nil {
					problem.WriteError(w, r, err)
					return
				}
				httpx.WriteJSON(w, http.StatusOK, in)
			})
			req := httptest.NewRequest(http.MethodPost, "/v1/reservations", strings.NewReader(tc.body))
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			rec := f.do(req)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.wantStatus, rec.Body)
			}
			if tc.wantStatus == http.StatusOK {
				var echo reservation
				if err := json.Unmarshal(rec.Body.Bytes(), &echo); err != nil || rec.Header().Get("Content-Type") != "application/json" {
					t.Fatalf("echo %q (%v)", rec.Body, err)
				}
				return
			}
			p := problemBody(t, rec.Header(), rec.Body.Bytes())
			if detail, _ := p["detail"].(string); !strings.Contains(detail, tc.wantDetail) {
				t.Fatalf("detail %q, want containing %q", detail, tc.wantDetail)
			}
			if tc.wantPointer != "" {
				errs, _ := p["errors"].([]any)
				if len(errs) != 1 || errs[0].(map[string]any)["pointer"] != tc.wantPointer {
					t.Fatalf("errors %v, want pointer %s", p["errors"], tc.wantPointer)
				}
			}
		})
	}
}

func TestDecodeJSONProgrammingErrorIsNotAProblem(t *testing.T) {
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	var notAPointer reservation
	err := httpx.DecodeJSON(req, notAPointer)
	var p *problem.Problem
	if err == nil || errors.As(err, &p) {
		t.Fatalf("err = %v, want a plain error that WriteError turns into a 500", err)
	}
}

func TestWriteJSON(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		v          any
		wantStatus int
		wantCT     string
		wantBody   string
	}{
		{name: "created", status: http.StatusCreated, v: map[string]int{"minutes": 5}, wantStatus: 201, wantCT: "application/json", wantBody: "{\"minutes\":5}\n"},
		{name: "unencodable value is a clean 500", status: http.StatusOK, v: math.Inf(1), wantStatus: 500, wantCT: problem.ContentType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			httpx.WriteJSON(rec, tc.status, tc.v)
			if rec.Code != tc.wantStatus || rec.Header().Get("Content-Type") != tc.wantCT {
				t.Fatalf("status %d content type %q", rec.Code, rec.Header().Get("Content-Type"))
			}
			if tc.wantBody != "" && rec.Body.String() != tc.wantBody {
				t.Fatalf("body %q, want %q", rec.Body, tc.wantBody)
			}
		})
	}
}
