package providerfake

import (
	"io"
	"net/http"
	"sync/atomic"
	"testing"
)

// TrackingTransport counts response bodies opened, read to EOF and closed, so
// adapter tests can prove every body is drained and closed (connection reuse).
type TrackingTransport struct {
	Base                *http.Transport
	Opened, EOF, Closed atomic.Int32
}

// NewTrackingTransport returns a transport whose idle connections close with the test.
func NewTrackingTransport(t testing.TB) *TrackingTransport {
	tr := &TrackingTransport{Base: &http.Transport{}}
	t.Cleanup(tr.Base.CloseIdleConnections)
	return tr
}

// RoundTrip implements http.RoundTripper.
func (tt *TrackingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := tt.Base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	tt.Opened.Add(1)
	resp.Body = &trackedBody{ReadCloser: resp.Body, tt: tt}
	return resp, nil
}

type trackedBody struct {
	io.ReadCloser
	tt  *TrackingTransport
	eof bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.eof {
		b.eof = true
		b.tt.EOF.Add(1)
	}
	return n, err
}

func (b *trackedBody) Close() error {
	b.tt.Closed.Add(1)
	return b.ReadCloser.Close()
}
