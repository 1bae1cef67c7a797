// Package authserver is the reference OAuth 2.0 authorization server of the
// IVR gateway (`ivr authserver`, contract §7): an authorization challenge
// endpoint (draft-ietf-oauth-first-party-apps-04) that checks
// knowledge-based answers (name, date of birth, SSN last 4) against a
// patient file, with an SMS one-time code as step-up, and the token (PKCE
// S256, RFC 8707 resource, ES256 JWT access tokens per RFC 9068), revocation
// (RFC 7009), JWKS and RFC 8414 metadata endpoints that go with it.
//
// # Endpoints
//
// Relative to the issuer; the metadata path follows RFC 8414 §3 (the
// well-known segment goes between host and issuer path):
//
//	GET  /.well-known/oauth-authorization-server{issuer path}
//	POST {issuer}/oauth/challenge   authorization_challenge_endpoint
//	POST {issuer}/oauth/token       token_endpoint
//	POST {issuer}/oauth/revoke      revocation_endpoint
//	GET  {issuer}/oauth/jwks.json   jwks_uri
//
// All POST endpoints take application/x-www-form-urlencoded bodies (16 KiB
// at most) and client_secret_basic, answer JSON with Cache-Control: no-store,
// and refuse a repeated parameter with invalid_request.
//
// # Challenge outcomes
//
//	200 {"authorization_code","auth_session"}          all three factors match one patient
//	403 insufficient_authorization + otp_required      ambiguous match or otp_required: OTP sent
//	400 access_denied + attempts_remaining             no match (never says which factor)
//	400 invalid_session                                unknown/expired/other client's/overused session, or OTP expired
//	429 slow_down                                      identity locked, or client over its rate
//	401 invalid_client (WWW-Authenticate: Basic)       bad client credentials
//	400 invalid_request / unsupported_response_type / invalid_scope / invalid_target
//	503 temporarily_unavailable                        Redis or the SMS provider failed
//
// redirect_to_web is never sent: a phone caller has no browser, and the
// gateway's fallback for it equals its fallback for access_denied.
//
// # Matching
//
// Names are folded (case, Latin accents, hyphens, apostrophes, spaces) and
// compared as a whole and part by part. The family name matches on
// Jaro-Winkler >= 0.92 with the same initial, or equal Double Metaphone
// codes with Jaro-Winkler >= 0.88; the given name on Jaro-Winkler >= 0.85,
// equal codes, or a one-letter initial. DOB and SSN-4 are compared as
// HMAC-SHA256 values in constant time, against every patient, without early
// exit. One full match gives a code; a full match whose name and DOB also
// fit another patient, or a patient with otp_required, steps up with a
// 6-digit OTP (5 minutes, 3 tries) sent to the phone on file.
//
// # Brute force
//
// Failures (wrong answers and wrong OTPs) count per identity: a keyed hash
// of the family name's primary Double Metaphone code and the claimed DOB,
// so respelling a name does not buy guesses. 3 failures within a sliding 15
// minutes lock the identity for 15 minutes; a success clears the count.
// An auth_session serves at most 5 requests; each client may send
// Config.ClientRateLimit challenge requests a minute.
//
// # Redis keys (under Config.Prefix; no personal data in names or values)
//
//	sess:{mac}          hash    auth_session state (client, step, patient id, OTP MAC, tries, uses)  15 min
//	code:{mac}          string  authorization code grant (client, patient id, PKCE, resource, scope) 60 s, read with GETDEL
//	fail:{mac}          zset    failure times of an identity                                          15 min
//	lock:{mac}          string  lock end (ms) of an identity                                          15 min
//	rl:{client}:{min}   string  challenge requests of a client in one minute                          2 min
//	revoked:{jti}       string  revoked access token                                                  until its exp
//
// {mac} is base64url HMAC-SHA256 under Config.HashKey with a per-kind label.
// Expiry decisions use Config.Now; Redis TTLs only collect garbage.
package authserver
