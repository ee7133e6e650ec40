package httpx

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"

	"github.com/mobilitycorp/platform/pkg/httpx/problem"
)

// DecodeJSON reads exactly one JSON value from the request body into dst, rejecting
// unknown fields. Client mistakes come back as *problem.Problem (415 wrong media type,
// 400 malformed or unexpected input, 413 body over the router's limit), so handlers can
// pass the error straight to problem.WriteError. Any other error is a programming error
// (e.g. dst not a pointer) and becomes a 500 there.
func DecodeJSON(r *http.Request, dst any) error {
	if err := checkJSONContentType(r.Header.Get("Content-Type")); err != nil {
		return err
	}
	if r.Body == nil {
		return problem.BadRequest("request body is empty")
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	// A second value (or trailing garbage) means the client sent something other than
	// what it thinks; accepting the first silently would hide that.
	var extra json.RawMessage
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
		return nil
	case err == nil:
		return problem.BadRequest("request body must contain a single JSON value")
	default:
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return bodyTooLarge(tooLarge)
		}
		return problem.BadRequest("request body must contain a single JSON value")
	}
}

func checkJSONContentType(ct string) error {
	unsupported := problem.New(http.StatusUnsupportedMediaType, "unsupported-media-type", "",
		"Content-Type must be application/json")
	if ct == "" {
		return unsupported
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return unsupported
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return unsupported
	}
	return nil
}

func decodeError(err error) error {
	var (
		syntaxErr  *json.SyntaxError
		typeErr    *json.UnmarshalTypeError
		tooLarge   *http.MaxBytesError
		invalidDst *json.InvalidUnmarshalError
	)
	switch {
	case errors.As(err, &tooLarge):
		return bodyTooLarge(tooLarge)
	case errors.Is(err, io.EOF):
		return problem.BadRequest("request body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return problem.BadRequest("request body is truncated JSON")
	case errors.As(err, &syntaxErr):
		return problem.BadRequest(fmt.Sprintf("malformed JSON at offset %d: %s", syntaxErr.Offset,
			strings.TrimPrefix(syntaxErr.Error(), "json: "))).With("offset", syntaxErr.Offset)
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return problem.BadRequest(fmt.Sprintf("request body must be a JSON %s", jsonKind(typeErr.Type)))
		}
		p := problem.BadRequest(fmt.Sprintf("field %q has the wrong type", typeErr.Field))
		p.Errors = []problem.FieldError{{
			Pointer: "/" + strings.ReplaceAll(escapePointer(typeErr.Field), ".", "/"),
			Detail:  "must be a JSON " + jsonKind(typeErr.Type),
		}}
		return p
	case errors.As(err, &invalidDst):
		return fmt.Errorf("decode json: %w", err)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no typed error for this; the message names the field.
		return problem.BadRequest(strings.TrimPrefix(err.Error(), "json: "))
	default:
		return problem.BadRequest("request body could not be read as JSON")
	}
}

func bodyTooLarge(err *http.MaxBytesError) error {
	return problem.New(http.StatusRequestEntityTooLarge, "payload-too-large", "",
		fmt.Sprintf("request body exceeds %d bytes", err.Limit))
}

// escapePointer applies RFC 6901 escaping to each dotted segment.
func escapePointer(field string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(field)
}

// jsonKind names a Go type the way an API client thinks of it.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.String:
		return "string"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	default:
		return "value"
	}
}

// WriteJSON sends v as JSON with the given status. v is encoded before anything is
// written, so an unencodable value yields a clean 500 problem rather than half a body.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		problem.WriteError(w, nil, fmt.Errorf("encode response: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
