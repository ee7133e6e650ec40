package ports_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/mobilitycorp/platform/services/maps-proxy/api"
)

// contract checks exchanges against api/openapi.yaml with kin-openapi's openapi3filter:
// every response must match the document (status, headers, body), and the document's
// verdict on every request is returned for the test to compare with the handler's.
type contract struct {
	doc    *openapi3.T
	router routers.Router

	mu   sync.Mutex
	seen map[string]bool // operation ids exercised
}

func newContract(t *testing.T) *contract {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(api.Spec)
	if err != nil {
		t.Fatalf("load spec: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("validate spec: %v", err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatalf("spec router: %v", err)
	}
	return &contract{doc: doc, router: router, seen: map[string]bool{}}
}

// bearerPresent stands in for the spec's bearerAuth scheme: the handler verifies the
// token; the document only says one must be sent.
func bearerPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	scheme, token, _ := strings.Cut(in.RequestValidationInput.Request.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return errors.New("no bearer token")
	}
	return nil
}

// exchange sends one request to h and validates both sides. It fails the test when
// the response violates the document, and returns the document's verdict on the request.
func (c *contract) exchange(t *testing.T, h http.Handler, method, path string, header http.Header, body []byte) (*httptest.ResponseRecorder, error) {
	t.Helper()
	ctx := context.Background()
	newReq := func() *http.Request {
		r := httptest.NewRequest(method, path, bytes.NewReader(body))
		r.Header = header.Clone()
		return r
	}
	vreq := newReq()
	route, params, err := c.router.FindRoute(vreq)
	if err != nil {
		t.Fatalf("%s %s is not an operation of the spec: %v", method, path, err)
	}
	in := &openapi3filter.RequestValidationInput{
		Request:    vreq,
		PathParams: params,
		Route:      route,
		Options:    &openapi3filter.Options{AuthenticationFunc: bearerPresent, MultiError: true},
	}
	reqErr := openapi3filter.ValidateRequest(ctx, in)

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, newReq())

	if err := c.validateResponse(in, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
		t.Errorf("%s %s: response %d violates the spec: %v\nbody: %s", method, path, rec.Code, err, rec.Body.Bytes())
	}
	c.mu.Lock()
	c.seen[route.Operation.OperationID] = true
	c.mu.Unlock()
	return rec, reqErr
}

func (c *contract) validateResponse(in *openapi3filter.RequestValidationInput, status int, header http.Header, body []byte) error {
	return openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		// An undocumented status is drift too.
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	})
}

// operationIDs lists every operation of the document.
func (c *contract) operationIDs() []string {
	var ids []string
	for _, item := range c.doc.Paths.Map() {
		for _, op := range item.Operations() {
			ids = append(ids, op.OperationID)
		}
	}
	return ids
}
