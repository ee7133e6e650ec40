package problem_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/mobilitycorp/platform/pkg/httpx/problem"
)

func TestWrite(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantType   string
		wantDetail string
	}{
		{"problem", problem.NotFound("vehicle v1 not found"), 404, problem.TypePrefix + "not-found", "vehicle v1 not found"},
		{"wrapped problem", fmt.Errorf("get vehicle: %w", problem.Conflict("double-booking", "overlaps")), 409, problem.TypePrefix + "double-booking", "overlaps"},
		{"deadline is retryable", fmt.Errorf("query vehicles: %w", context.DeadlineExceeded), 503, problem.TypePrefix + "timeout", "the request did not complete in time"},
		{"plain error hides internals", errors.New("pq: password authentication failed"), 500, problem.TypePrefix + "internal", "an unexpected error occurred; it has been logged"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			problem.WriteError(rec, httptest.NewRequest(http.MethodGet, "/v1/vehicles/v1", nil), tc.err)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tc.wantStatus)
			}
			if ct := rec.Header().Get("Content-Type"); ct != problem.ContentType {
				t.Fatalf("content type %q", ct)
			}
			var body map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if body["type"] != tc.wantType || body["detail"] != tc.wantDetail || body["status"] != float64(tc.wantStatus) || body["instance"] != "/v1/vehicles/v1" {
				t.Fatalf("body %v", body)
			}
		})
	}
}

func TestExtensionsAndFieldErrors(t *testing.T) {
	p := problem.Validation("2 fields are invalid", problem.FieldError{Pointer: "/email", Detail: "not an email"}).With("retry_after", 3)
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	_ = json.Unmarshal(b, &body)
	if body["retry_after"] != 3.0 || body["status"] != 422.0 {
		t.Fatalf("body %s", b)
	}
	errs, _ := body["errors"].([]any)
	if len(errs) != 1 || errs[0].(map[string]any)["pointer"] != "/email" {
		t.Fatalf("errors %v", body["errors"])
	}
}
