package api_test

import (
	"slices"
	"testing"

	"github.com/mobilitycorp/platform/pkg/httpx/openapitest"
	"github.com/mobilitycorp/platform/services/maps-proxy/api"
)

// TestSpecLoadsAndValidates: openapitest.Load fails the test unless the
// document parses, validates and is OpenAPI 3.1.
func TestSpecLoadsAndValidates(t *testing.T) {
	openapitest.Load(t, api.Spec)
}

// TestSpecOperations pins the operations, their methods and which need no token, so
// that a path renamed or an operation made public shows up here as well as in review.
func TestSpecOperations(t *testing.T) {
	doc := openapitest.Load(t, api.Spec).Doc()
	tests := []struct {
		path, method string
		public       bool
		statuses     []string
	}{
		{"/openapi.yaml", "GET", true, []string{"200"}},
		{"/v1/geocode", "POST", false, []string{"200", "400", "401", "403", "413", "415", "422", "429", "500", "503"}},
		{"/v1/reverse", "POST", false, []string{"200", "400", "401", "403", "413", "415", "422", "429", "500", "503"}},
		{"/v1/route", "POST", false, []string{"200", "400", "401", "403", "404", "413", "415", "422", "429", "500", "503"}},
		{"/v1/matrix", "POST", false, []string{"200", "400", "401", "403", "413", "415", "422", "429", "500", "503"}},
		{"/v1/eta", "POST", false, []string{"200", "400", "401", "403", "413", "415", "422", "429", "500", "503"}},
	}
	if got := doc.Paths.Len(); got != len(tests) {
		t.Errorf("document has %d paths, want %d", got, len(tests))
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			item := doc.Paths.Find(tc.path)
			if item == nil {
				t.Fatalf("path missing")
			}
			op := item.GetOperation(tc.method)
			if op == nil {
				t.Fatalf("operation missing")
			}
			public := op.Security != nil && len(*op.Security) == 0
			if public != tc.public {
				t.Errorf("public = %v, want %v", public, tc.public)
			}
			var statuses []string
			for code := range op.Responses.Map() {
				statuses = append(statuses, code)
			}
			slices.Sort(statuses)
			if !slices.Equal(statuses, tc.statuses) {
				t.Errorf("statuses = %v, want %v", statuses, tc.statuses)
			}
		})
	}
}
