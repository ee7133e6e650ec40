package idempotency

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
)

// recorder passes the response through to the client while keeping a copy of the
// status, the replayable headers and the body.
type recorder struct {
	http.ResponseWriter
	status  int
	headers http.Header
	body    bytes.Buffer
}

func (rw *recorder) WriteHeader(code int) {
	// Informational responses (103 Early Hints) precede the final one; do not record them.
	if rw.status == 0 && code >= http.StatusOK {
		rw.status = code
		rw.headers = replayable(rw.ResponseWriter.Header())
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *recorder) Write(b []byte) (int, error) {
	if rw.status == 0 {
		rw.WriteHeader(http.StatusOK)
	}
	rw.body.Write(b)
	return rw.ResponseWriter.Write(b)
}

// Flush keeps streaming handlers working behind the middleware.
func (rw *recorder) Flush() {
	if rw.status == 0 {
		rw.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(rw.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (rw *recorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

// result is the final status and headers, as net/http would send them for a
// handler that never wrote anything.
func (rw *recorder) result() (int, http.Header) {
	if rw.status == 0 {
		return http.StatusOK, replayable(rw.ResponseWriter.Header())
	}
	return rw.status, rw.headers
}

// replayable keeps the headers a replay must repeat: Content-Type, Location and the
// application's X- headers. X-Request-Id belongs to each request, not the response.
func replayable(h http.Header) http.Header {
	out := http.Header{}
	for k, v := range h {
		ck := http.CanonicalHeaderKey(k)
		if ck == "Content-Type" || ck == "Location" || (strings.HasPrefix(ck, "X-") && ck != "X-Request-Id") {
			out[ck] = slices.Clone(v)
		}
	}
	return out
}
