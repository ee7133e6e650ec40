// Package api holds the payments service's public HTTP contract: the OpenAPI
// document that the service serves at GET /openapi.yaml and that its handler
// tests validate every request and response against.
package api

import _ "embed"

// Spec is the OpenAPI 3.1 document (YAML). It is embedded so the binary always
// serves the contract it was built and tested with; callers must treat it as read-only.
//
//go:embed openapi.yaml
var Spec []byte
