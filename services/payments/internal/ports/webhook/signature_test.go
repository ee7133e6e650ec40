package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mobilitycorp/platform/pkg/config"
	"github.com/mobilitycorp/platform/services/payments/internal/ports/webhook"
)

// hexSig computes Stripe's v1 independently of the package: HMAC-SHA256(secret, "<t>.<body>").
func hexSig(secret, rawTS string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(rawTS + "."))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

func TestSignMatchesStripeScheme(t *testing.T) {
	body := []byte(`{"id":"evt_1"}`)
	at := time.Unix(1767225600, 0)
	want := "t=1767225600,v1=" + hexSig(newSecret, "1767225600", body)
	if got := webhook.Sign(newSecret, at, body); got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
}

func TestVerifier(t *testing.T) {
	body := []byte(`{"id":"evt_1","object":"event"}`)
	now := fixedNow()
	ts := strconv.FormatInt(now.Unix(), 10)
	good := hexSig(newSecret, ts, body)
	wrong := hexSig("whsec_attacker", ts, body)

	tests := []struct {
		name    string
		header  string
		body    []byte
		secrets []string
		want    error // nil means accepted
	}{
		{name: "valid", header: webhook.Sign(newSecret, now, body)},
		{name: "old secret during rotation", header: webhook.Sign(oldSecret, now, body)},
		{name: "old secret after rotation", header: webhook.Sign(oldSecret, now, body), secrets: []string{newSecret}, want: webhook.ErrInvalidSignature},
		{name: "second v1 matches", header: "t=" + ts + ",v1=" + wrong + ",v1=" + good},
		{name: "v0 and unknown schemes ignored", header: "v0=" + wrong + ",t=" + ts + ",v1=" + good + ",v9=x"},
		{name: "spaces around elements", header: "t=" + ts + ", v1=" + good},
		{name: "malformed v1 skipped when another matches", header: "t=" + ts + ",v1=zz,v1=" + good},
		{name: "wrong secret", header: webhook.Sign("whsec_attacker", now, body), want: webhook.ErrInvalidSignature},
		{name: "tampered body", header: webhook.Sign(newSecret, now, body), body: []byte(`{"id":"evt_2","object":"event"}`), want: webhook.ErrInvalidSignature},
		{name: "signature of another timestamp", header: "t=" + strconv.FormatInt(now.Unix()-1, 10) + ",v1=" + good, want: webhook.ErrInvalidSignature},
		{name: "only v0", header: "t=" + ts + ",v0=" + good, want: webhook.ErrInvalidSignature},
		{name: "missing header", header: "", want: webhook.ErrInvalidSignature},
		{name: "no timestamp", header: "v1=" + good, want: webhook.ErrInvalidSignature},
		{name: "no signature", header: "t=" + ts, want: webhook.ErrInvalidSignature},
		{name: "non-numeric timestamp", header: "t=yesterday,v1=" + good, want: webhook.ErrInvalidSignature},
		{name: "repeated timestamp", header: "t=" + ts + ",t=" + ts + ",v1=" + good, want: webhook.ErrInvalidSignature},
		{name: "element without =", header: "t=" + ts + ",v1" + good, want: webhook.ErrInvalidSignature},
		{name: "garbage", header: "garbage", want: webhook.ErrInvalidSignature},
		{name: "truncated signature", header: "t=" + ts + ",v1=" + good[:62], want: webhook.ErrInvalidSignature},
		{name: "at the tolerance edge (past)", header: webhook.Sign(newSecret, now.Add(-5*time.Minute), body)},
		{name: "at the tolerance edge (future)", header: webhook.Sign(newSecret, now.Add(5*time.Minute), body)},
		{name: "stale", header: webhook.Sign(newSecret, now.Add(-5*time.Minute-time.Second), body), want: webhook.ErrTimestampOutsideTolerance},
		{name: "future skew", header: webhook.Sign(newSecret, now.Add(5*time.Minute+time.Second), body), want: webhook.ErrTimestampOutsideTolerance},
		{
			// A duration overflow must not turn an absurd timestamp into "now".
			name:   "far future timestamp",
			header: "t=9223372036854775807,v1=" + hexSig(newSecret, "9223372036854775807", body),
			want:   webhook.ErrTimestampOutsideTolerance,
		},
		{
			name:   "far past timestamp",
			header: "t=-9223372036854775808,v1=" + hexSig(newSecret, "-9223372036854775808", body),
			want:   webhook.ErrTimestampOutsideTolerance,
		},
		{
			// The timestamp is judged only for authentic signatures.
			name:   "stale and forged",
			header: webhook.Sign("whsec_attacker", now.Add(-time.Hour), body),
			want:   webhook.ErrInvalidSignature,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secrets := tt.secrets
			if secrets == nil {
				secrets = []string{oldSecret, newSecret}
			}
			ss := make([]config.Secret, len(secrets))
			for i, s := range secrets {
				ss[i] = config.Secret(s)
			}
			v, err := webhook.NewVerifier(ss, 0, fixedNow)
			if err != nil {
				t.Fatalf("NewVerifier: %v", err)
			}
			b := tt.body
			if b == nil {
				b = body
			}
			err = v.Verify(tt.header, b)
			if tt.want == nil && err != nil {
				t.Fatalf("Verify = %v, want accepted", err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifierTolerance(t *testing.T) {
	body := []byte(`{}`)
	tests := []struct {
		name      string
		tolerance time.Duration
		age       time.Duration
		wantOK    bool
	}{
		{"default accepts 4m59s", 0, 4*time.Minute + 59*time.Second, true},
		{"default rejects 5m1s", 0, 5*time.Minute + time.Second, false},
		{"custom 30s rejects 31s", 30 * time.Second, 31 * time.Second, false},
		{"custom 30s accepts 29s", 30 * time.Second, 29 * time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := webhook.NewVerifier([]config.Secret{newSecret}, tt.tolerance, fixedNow)
			if err != nil {
				t.Fatal(err)
			}
			err = v.Verify(webhook.Sign(newSecret, fixedNow().Add(-tt.age), body), body)
			if (err == nil) != tt.wantOK {
				t.Fatalf("Verify = %v, want ok=%v", err, tt.wantOK)
			}
		})
	}
}

func TestNewVerifierRejectsUnusableSecrets(t *testing.T) {
	tests := []struct {
		name    string
		secrets []config.Secret
		want    string
	}{
		{"none", nil, "at least one"},
		{"empty", []config.Secret{newSecret, ""}, "secret 1 is empty"},
		{"blank", []config.Secret{"  "}, "secret 0 is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := webhook.NewVerifier(tt.secrets, 0, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewVerifier = %v, want error containing %q", err, tt.want)
			}
		})
	}
}
