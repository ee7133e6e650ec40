package api_test

import (
	"slices"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/mobilitycorp/platform/pkg/httpx/openapitest"
	"github.com/mobilitycorp/platform/services/payments/api"
)

// TestSpecLoadsAndValidates: openapitest.Load fails the test unless the
// document parses, validates and is OpenAPI 3.1.
func TestSpecLoadsAndValidates(t *testing.T) {
	openapitest.Load(t, api.Spec)
}

// TestSpecOperations pins the operations, which need no token and which demand an
// Idempotency-Key, so that a path renamed, an operation made public or a money
// operation left without a key shows up here as well as in review.
func TestSpecOperations(t *testing.T) {
	doc := openapitest.Load(t, api.Spec).Doc()
	tests := []struct {
		path, method string
		public       bool
		idempotent   bool // requires Idempotency-Key
	}{
		{"/openapi.yaml", "GET", true, false},
		{"/v1/payments", "GET", false, false},
		{"/v1/payments/{id}", "GET", false, false},
		{"/v1/payments/{id}/refunds", "POST", false, true},
		{"/v1/customers/{id}/balance", "GET", false, false},
		{"/v1/trips/{trip_id}/receipt", "GET", false, false},
		{"/v1/refunds", "GET", false, false},
		{"/v1/refunds/{id}", "GET", false, false},
		{"/v1/refunds/{id}/approve", "POST", false, true},
		{"/v1/refunds/{id}/reject", "POST", false, true},
		{"/v1/fines", "POST", false, true},
		{"/v1/credits", "POST", false, true},
		{"/v1/operations", "GET", false, false},
		{"/v1/operations/{id}/requeue", "POST", false, true},
		{"/v1/webhooks/stripe", "POST", true, false},
	}
	count := 0
	for _, item := range doc.Paths.Map() {
		count += len(item.Operations())
	}
	if count != len(tests) {
		t.Errorf("document has %d operations, want %d", count, len(tests))
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
			idempotent := slices.ContainsFunc(op.Parameters, func(p *openapi3.ParameterRef) bool {
				return p.Value.In == "header" && p.Value.Name == "Idempotency-Key" && p.Value.Required
			})
			if idempotent != tc.idempotent {
				t.Errorf("requires Idempotency-Key = %v, want %v", idempotent, tc.idempotent)
			}
		})
	}
}
