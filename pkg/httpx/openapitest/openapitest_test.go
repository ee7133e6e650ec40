package openapitest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/mobilitycorp/platform/pkg/httpx/openapitest"
)

const doc = `
openapi: 3.1.0
info: {title: test, version: 1.0.0}
servers: [{url: /}]
paths:
  /v1/things/{id}:
    get:
      operationId: getThing
      parameters:
        - {name: id, in: path, required: true, schema: {type: string, pattern: '^t_'}}
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema:
                type: object
                required: [id]
                properties: {id: {type: string}}
  /v1/other:
    get:
      operationId: getOther
      responses:
        '204': {description: none}
`

// recordingTB keeps Errorf calls instead of failing the real test.
type recordingTB struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func TestTransportValidatesExchanges(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/things/t_ok", "/v1/things/bad":
			fmt.Fprintf(w, `{"id":%q}`, strings.TrimPrefix(r.URL.Path, "/v1/things/"))
		case "/v1/things/t_drift":
			fmt.Fprint(w, `{"name":"no id"}`)
		default:
			w.WriteHeader(http.StatusTeapot)
		}
	}))
	defer srv.Close()

	tests := []struct {
		name       string
		path       string
		wantErrors int  // test failures the transport reports
		wantReqErr bool // the document refuses the request
	}{
		{"conforming exchange", "/v1/things/t_ok", 0, false},
		{"response missing a required member", "/v1/things/t_drift", 1, false},
		{"request breaking a path pattern", "/v1/things/bad", 0, true},
		{"path the document does not describe", "/v1/unknown", 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recordingTB{TB: t}
			spec := openapitest.Load(t, []byte(doc))
			tr := spec.Transport(rec, nil)
			resp, err := (&http.Client{Transport: tr}).Get(srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if len(rec.errors) != tt.wantErrors {
				t.Fatalf("reported %d failures %q, want %d", len(rec.errors), rec.errors, tt.wantErrors)
			}
			if got := tr.LastRequestError() != nil; tt.path != "/v1/unknown" && got != tt.wantReqErr {
				t.Fatalf("request refused = %v (%v), want %v", got, tr.LastRequestError(), tt.wantReqErr)
			}
		})
	}
}

func TestUnexercisedListsOperationsNotUsed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"t_1"}`)
	}))
	defer srv.Close()
	spec := openapitest.Load(t, []byte(doc))
	if got := spec.Unexercised(); len(got) != 2 {
		t.Fatalf("before any exchange: %v, want both operations", got)
	}
	resp, err := (&http.Client{Transport: spec.Transport(t, nil)}).Get(srv.URL + "/v1/things/t_1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := spec.Unexercised(); len(got) != 1 || got[0] != "getOther" {
		t.Fatalf("Unexercised() = %v, want [getOther]", got)
	}
}
