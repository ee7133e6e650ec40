package sandbox

import (
	"time"

	"github.com/mobilitycorp/platform/services/payments/internal/app"
)

// KeyTTL is how long a saved idempotent result is kept. Stripe prunes keys once
// they are at least 24 hours old; a key used after that starts a new request.
const KeyTTL = 24 * time.Hour

// result is what a call produced; exactly one payload field is meaningful.
type result struct {
	intent   app.Intent
	refund   app.Refund
	customer string
	err      *app.GatewayError
}

// error avoids the typed-nil trap of returning a nil *app.GatewayError as error.
func (r result) error() error {
	if r.err == nil {
		return nil
	}
	return r.err
}

func (r result) copy() result {
	r.err = copyError(r.err)
	return r
}

type keyEntry struct {
	fingerprint string // operation and parameters of the first request
	inFlight    bool
	savedAt     time.Time
	res         result
	seq         uint64
}

// keyStore holds idempotency keys; the Gateway's mutex guards it. order lists
// keys by save time so expired ones are pruned from the front in amortised O(1).
type keyStore struct {
	entries map[string]*keyEntry
	order   []orderedKey
	seq     uint64
}

type orderedKey struct {
	key string
	seq uint64
}

func newKeyStore() *keyStore { return &keyStore{entries: map[string]*keyEntry{}} }

// get returns the live entry for key, pruning expired entries first.
func (s *keyStore) get(key string, now time.Time) (*keyEntry, bool) {
	s.prune(now)
	e, ok := s.entries[key]
	if ok && !e.inFlight && expired(e, now) {
		// Saved out of order (a clock moved backwards); still honour the TTL.
		delete(s.entries, key)
		return nil, false
	}
	return e, ok
}

func (s *keyStore) begin(key, fingerprint string) {
	s.entries[key] = &keyEntry{fingerprint: fingerprint, inFlight: true}
}

func (s *keyStore) abort(key string) { delete(s.entries, key) }

func (s *keyStore) save(key string, res result, now time.Time) {
	e, ok := s.entries[key]
	if !ok {
		return
	}
	s.seq++
	e.inFlight, e.savedAt, e.res, e.seq = false, now, res.copy(), s.seq
	s.order = append(s.order, orderedKey{key: key, seq: s.seq})
}

func (s *keyStore) prune(now time.Time) {
	for len(s.order) > 0 {
		head := s.order[0]
		e, ok := s.entries[head.key]
		switch {
		case !ok || e.seq != head.seq:
			// Already gone or replaced by a newer use of the key.
		case expired(e, now):
			delete(s.entries, head.key)
		default:
			return
		}
		s.order = s.order[1:]
	}
}

func (s *keyStore) inFlight() int {
	n := 0
	for _, e := range s.entries {
		if e.inFlight {
			n++
		}
	}
	return n
}

func expired(e *keyEntry, now time.Time) bool { return now.Sub(e.savedAt) >= KeyTTL }
