package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mobilitycorp/platform/pkg/config"
)

// SignatureHeader carries Stripe's signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...][,v0=...].
const SignatureHeader = "Stripe-Signature"

// DefaultTolerance is how far the signed timestamp may be from our clock, either way;
// it is the default of Stripe's own libraries.
const DefaultTolerance = 5 * time.Minute

var (
	// ErrInvalidSignature covers a missing or garbled header and a signature that
	// matches none of the secrets; callers tell the client nothing more.
	ErrInvalidSignature = errors.New("invalid signature")
	// ErrTimestampOutsideTolerance means an authentic signature is too old (a replay)
	// or too far in the future.
	ErrTimestampOutsideTolerance = errors.New("timestamp outside tolerance")
)

// Verifier checks Stripe-Signature headers.
type Verifier struct {
	secrets   [][]byte
	tolerance time.Duration
	now       func() time.Time
}

// NewVerifier accepts signatures made with any of secrets: during a rotation Stripe
// signs with the old and the new endpoint secret, and either may be configured first.
// tolerance ≤ 0 means DefaultTolerance; now nil means time.Now.
func NewVerifier(secrets []config.Secret, tolerance time.Duration, now func() time.Time) (*Verifier, error) {
	if len(secrets) == 0 {
		return nil, errors.New("webhook: at least one signing secret is required")
	}
	keys := make([][]byte, len(secrets))
	for i, s := range secrets {
		// An empty key would let anyone compute a valid signature.
		if strings.TrimSpace(s.Reveal()) == "" {
			return nil, fmt.Errorf("webhook: signing secret %d is empty", i)
		}
		keys[i] = []byte(s.Reveal())
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if now == nil {
		now = time.Now
	}
	return &Verifier{secrets: keys, tolerance: tolerance, now: now}, nil
}

// Verify checks header against the raw body, exactly as received. It returns an
// error wrapping ErrInvalidSignature or ErrTimestampOutsideTolerance; the timestamp
// is judged only once a signature matched, so an unauthenticated caller learns nothing
// but "invalid signature".
func (v *Verifier) Verify(header string, body []byte) error {
	ts, rawTS, sigs, err := parseSignatureHeader(header)
	if err != nil {
		return err
	}
	matched := false
	for _, key := range v.secrets {
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(rawTS))
		mac.Write([]byte{'.'})
		mac.Write(body)
		expected := mac.Sum(nil)
		// No early exit: every v1 value is compared, each in constant time.
		for _, sig := range sigs {
			if hmac.Equal(expected, sig) {
				matched = true
			}
		}
	}
	if !matched {
		return fmt.Errorf("%w: no v1 signature matches", ErrInvalidSignature)
	}
	now := v.now()
	earliest, latest := now.Add(-v.tolerance), now.Add(v.tolerance)
	// Before/After, unlike a negated Sub, cannot overflow on absurd timestamps.
	if signed := time.Unix(ts, 0); signed.Before(earliest) || signed.After(latest) {
		return fmt.Errorf("%w: signed %s from now", ErrTimestampOutsideTolerance, now.Sub(signed).Round(time.Second))
	}
	return nil
}

// parseSignatureHeader returns the timestamp (parsed, and as sent: the signed payload
// uses the string) and the well-formed v1 signatures. Other schemes (v0, future
// ones) are ignored, as are v1 values that are not a SHA-256 in hex, which cannot match.
func parseSignatureHeader(header string) (int64, string, [][]byte, error) {
	if header == "" {
		return 0, "", nil, fmt.Errorf("%w: missing %s header", ErrInvalidSignature, SignatureHeader)
	}
	var (
		ts    int64
		rawTS string
		seenT bool
		sigs  [][]byte
	)
	for item := range strings.SplitSeq(header, ",") {
		key, value, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			return 0, "", nil, fmt.Errorf("%w: garbled header element", ErrInvalidSignature)
		}
		switch key {
		case "t":
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil || seenT {
				return 0, "", nil, fmt.Errorf("%w: bad or repeated timestamp", ErrInvalidSignature)
			}
			ts, rawTS, seenT = n, value, true
		case "v1":
			sig, err := hex.DecodeString(value)
			if err == nil && len(sig) == sha256.Size {
				sigs = append(sigs, sig)
			}
		}
	}
	if !seenT {
		return 0, "", nil, fmt.Errorf("%w: no timestamp", ErrInvalidSignature)
	}
	if len(sigs) == 0 {
		return 0, "", nil, fmt.Errorf("%w: no v1 signature", ErrInvalidSignature)
	}
	return ts, rawTS, sigs, nil
}

// Sign returns a Stripe-Signature header for body signed with secret at t, as Stripe
// would send it. It exists for tests (fakes, end-to-end tests of the service).
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}
