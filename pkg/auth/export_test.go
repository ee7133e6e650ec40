package auth

import "time"

// NewVerifierWithClient lets tests serve the JWKS through an in-memory transport.
var NewVerifierWithClient = newVerifier

// SetClock replaces the verifier's clock, to age cached verifications.
func SetClock(v *Verifier, now func() time.Time) { v.now = now }
