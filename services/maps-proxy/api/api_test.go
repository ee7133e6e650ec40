package api_test

import (
	"context"
	"slices"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/mobilitycorp/platform/services/maps-proxy/api"
)

func TestSpecLoadsAndValidates(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(api.Spec)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("validate: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi %q: the handler tests rely on 3.1 validation", doc.OpenAPI)
	}
}

// TestSpecOperations pins the operations, their methods and which need no token, so
// that a path renamed or an operation made public shows up here as well as in review.
func TestSpecOperations(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(api.Spec)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
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
