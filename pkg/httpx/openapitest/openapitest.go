// Package openapitest checks a service's HTTP exchanges against its OpenAPI
// document in tests. Wrap the test client's transport with Transport and every
// request and response is validated with kin-openapi: a response that drifts from
// the document fails the test, and the document's verdict on each request is kept
// so a test can assert that the handler and the document agree on bad input.
package openapitest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// Spec is a loaded, validated OpenAPI document.
type Spec struct {
	doc    *openapi3.T
	router routers.Router

	mu   sync.Mutex
	seen map[string]bool // operation ids exercised
}

// Load parses and validates the document (YAML or JSON).
func Load(t testing.TB, raw []byte) *Spec {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatalf("openapitest: load spec: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapitest: invalid spec: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapitest: openapi %q: the platform's documents and their validation rely on 3.1", doc.OpenAPI)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatalf("openapitest: spec router: %v", err)
	}
	return &Spec{doc: doc, router: router, seen: map[string]bool{}}
}

// Doc is the parsed document, for tests that pin its operations.
func (s *Spec) Doc() *openapi3.T { return s.doc }

// bearerPresent stands in for bearer schemes: the handler verifies the token; the
// document only says one must be sent.
func bearerPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	scheme, token, _ := strings.Cut(in.RequestValidationInput.Request.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return errors.New("no bearer token")
	}
	return nil
}

// RequestError is the document's verdict on the last request sent through a
// Transport for a test: nil when the request conforms.
type RequestError struct{ Err error }

// Transport returns a RoundTripper that sends through base (nil: the default
// transport) and validates each exchange. Requests to paths the document does not
// describe fail the test unless listed in passThrough (e.g. "/readyz").
func (s *Spec) Transport(t testing.TB, base http.RoundTripper, passThrough ...string) *Transport {
	if base == nil {
		base = http.DefaultTransport
	}
	return &Transport{t: t, spec: s, base: base, pass: passThrough}
}

// Transport validates exchanges; see Spec.Transport.
type Transport struct {
	t    testing.TB
	spec *Spec
	base http.RoundTripper
	pass []string

	mu      sync.Mutex
	lastReq error
}

// LastRequestError is the document's verdict on the most recent request.
func (tr *Transport) LastRequestError() error {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.lastReq
}

// RoundTrip implements http.RoundTripper.
func (tr *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	for _, p := range tr.pass {
		if req.URL.Path == p {
			return tr.base.RoundTrip(req)
		}
	}
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		_ = req.Body.Close()
		body = b
	}
	vreq := req.Clone(req.Context())
	vreq.Body = io.NopCloser(bytes.NewReader(body))
	// The legacy router matches on the path only when the server URL is "/".
	vreq.URL.Scheme, vreq.URL.Host, vreq.Host = "", "", ""
	route, params, err := tr.spec.router.FindRoute(vreq)
	if err != nil {
		tr.t.Errorf("openapitest: %s %s is not an operation of the document: %v", req.Method, req.URL.Path, err)
		req.Body = io.NopCloser(bytes.NewReader(body))
		return tr.base.RoundTrip(req)
	}
	in := &openapi3filter.RequestValidationInput{
		Request: vreq, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: bearerPresent, MultiError: true},
	}
	reqErr := openapi3filter.ValidateRequest(req.Context(), in)
	tr.mu.Lock()
	tr.lastReq = reqErr
	tr.mu.Unlock()

	req.Body = io.NopCloser(bytes.NewReader(body))
	resp, err := tr.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	respBody, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	verr := openapi3filter.ValidateResponse(req.Context(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(respBody)),
		// An undocumented status is drift too.
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	})
	if verr != nil {
		tr.t.Errorf("openapitest: %s %s: response %d violates the document: %v\nbody: %s", req.Method, req.URL.Path, resp.StatusCode, verr, respBody)
	}
	tr.spec.mu.Lock()
	tr.spec.seen[route.Operation.OperationID] = true
	tr.spec.mu.Unlock()
	return resp, nil
}

// Unexercised lists the document's operations no exchange has used yet, sorted;
// call it at the end of a test suite to prove every operation is covered.
func (s *Spec) Unexercised() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, item := range s.doc.Paths.Map() {
		for _, op := range item.Operations() {
			if !s.seen[op.OperationID] {
				ids = append(ids, op.OperationID)
			}
		}
	}
	sort.Strings(ids)
	return ids
}

// String names the document, for messages.
func (s *Spec) String() string { return fmt.Sprintf("%s %s", s.doc.Info.Title, s.doc.Info.Version) }
