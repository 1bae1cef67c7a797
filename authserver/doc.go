// Package authserver is the reference OAuth 2.0 authorization server of the
// IVR gateway (`ivr authserver`, docs/as-profile.md): an authorization challenge
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
//	400 access_denied + attempts_remaining             no match (never says which factor), or the patient is locked
//	400 invalid_session                                unknown/expired/other client's/overused session, or OTP expired
//	429 slow_down                                      the claim locked, or client over its rate
//	401 invalid_client (WWW-Authenticate: Basic)       bad client credentials
//	400 invalid_scope / invalid_target                 a scope or resource the client is not registered for
//	400 invalid_request / unsupported_response_type
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
// # Clients
//
// Each client is registered with the scopes and resources (RFC 8707) it may
// ask for (Config.Clients, ParseClients). A challenge request for anything
// else gets invalid_scope or invalid_target; a request without scope or
// resource is always allowed. The code holds the scope and resource of the
// request that completed the challenge, and the token endpoint never
// widens them: a scope sent there may only narrow the code's, and a
// resource must be the code's.
//
// # Lockouts
//
// Failures (wrong answers and wrong OTPs) count on two kinds of counters,
// 3 failures in a sliding 15 minutes locking a counter for 15 minutes, a
// success clearing the counters of the claim and the patient:
//
//   - claim counters, one per part of the claimed family name (by its
//     primary Double Metaphone code) with the claimed birthdate. They are
//     keyed by the claim alone, so they behave the same whether or not the
//     claim fits a patient, and they alone decide what the caller is told:
//     attempts_remaining, and slow_down (429) while one is locked.
//   - patient counters, one per patient whose name and birthdate the claim
//     fits, so no respelling buys guesses at a real patient. They are
//     silent: while a patient's is locked, her right answers are refused
//     exactly as wrong ones are (400 access_denied, attempts_remaining from
//     the claim counters, one failure counted on each counter), never with
//     slow_down, which would tell an attacker that the patient exists, or
//     that the SSN digits are right.
//
// The work does not show it either: every claim reads its claim counters
// and two patient counters (those of the patients it fits, padded with
// counters derived from the claim) in one Redis round trip, and a refused
// claim records a failure on each in a second, with the same commands
// whether it fits a patient, fits nobody, or is refused because the
// patient is locked (TestSameWorkWhetherTheClaimFits,
// BenchmarkLockoutPaths). A read is one ZRANGE of one key and a failure
// one Lua script on one key, so a burst of guesses sent at once is
// serialised per counter and gets no more guesses through than guesses
// sent one by one. An OTP step-up is reached only with all three
// answers right; there a locked patient counter answers slow_down. An
// auth_session serves at most 5 requests; each client may send
// Config.ClientRateLimit challenge requests a minute.
//
// # Redis keys (under Config.Prefix; no personal data in names or values)
//
//	sess:MAC         hash    auth_session state (client, step, patient id, OTP MAC, tries, uses)  15 min
//	code:MAC         string  authorization code grant (client, patient id, PKCE, resource, scope) 60 s, read with GETDEL
//	fail:MAC         zset    a counter's failure times; while locked, only "lock" scored by its end 15 min
//	rl:CLIENT:MIN    string  challenge requests of a client in one minute                          2 min
//	revoked:JTI      string  revoked access token                                                  until its exp
//
// MAC is base64url HMAC-SHA256 under Config.HashKey with a per-kind label.
// Expiry decisions use Config.Now; Redis TTLs only collect garbage.
//
// Redis Cluster: every transaction, script and command touches one key, so
// one hash slot; what must be atomic is atomic on its own key (a counter's
// script, the OTP claim, GETDEL of a code, a session's use count). Writes
// that span keys (a code, its session, the counters it clears) go in a
// pipeline, which a cluster splits by slot.
package authserver
