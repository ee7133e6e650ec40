package auth

// NewVerifierWithClient lets tests serve the JWKS through an in-memory transport.
var NewVerifierWithClient = newVerifier
