package authclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Sentinels carried in Result.Err; check them with errors.Is.
var (
	// ErrMisconfigured: the AS says the gateway itself is wrong
	// (invalid_client, unauthorized_client, invalid_scope, invalid_target,
	// invalid_request, unsupported_response_type, unsupported_grant_type).
	ErrMisconfigured = errors.New("authclient: AS rejected the gateway's configuration")
	// ErrUnsupportedChallenge: insufficient_authorization asked for
	// something other than an OTP, which a phone dialog cannot collect.
	ErrUnsupportedChallenge = errors.New("authclient: AS asked for an unsupported additional step")
	// ErrUnavailable: the AS could not be reached in time, or answered
	// with a 5xx, an unknown error code, bad JSON or no code.
	ErrUnavailable = errors.New("authclient: AS unavailable")
	// ErrInvalidAnswers: Verify was called with answers it cannot send (a
	// programmer error: nothing to send, a malformed birthdate or SSN
	// last-4, an OTP without auth_session).
	ErrInvalidAnswers = errors.New("authclient: invalid answers")
	// ErrCodeRejected: the token endpoint refused the authorization code
	// just issued (invalid_grant: PKCE mismatch, expired or used code).
	ErrCodeRejected = errors.New("authclient: authorization code rejected")
)

// ASError describes an error answer of the AS. It names the endpoint, the
// HTTP status and the error code; error_description is left out because an
// AS may echo request data in it.
type ASError struct {
	Endpoint string // "challenge", "token" or "revocation"
	Status   int
	Code     string // the OAuth error member, "" when absent
	kind     error  // one of the sentinels, for errors.Is
}

func (e *ASError) Error() string {
	s := "authclient: " + e.Endpoint + ": HTTP " + strconv.Itoa(e.Status)
	if e.Code != "" {
		s += " error=" + strconv.Quote(e.Code)
	}
	if e.kind != nil {
		s += " (" + strings.TrimPrefix(e.kind.Error(), "authclient: ") + ")"
	}
	return s
}

// Unwrap returns the sentinel for the kind of error.
func (e *ASError) Unwrap() error { return e.kind }

// reply is a decoded challenge (or token error) response.
type reply struct {
	outcome Outcome // Verified here means "an authorization code is present"
	code    string
	// authSession is the auth_session member, "" when absent.
	authSession string
	attempts    int
	err         error
}

// wireReply is the JSON of a challenge response (FiPA §5.2) with the AS
// profile's extra members (docs/as-profile.md).
type wireReply struct {
	AuthorizationCode string          `json:"authorization_code"`
	Code              string          `json:"code"` // alias, oauth-first-party-apps issue #102
	AuthSession       string          `json:"auth_session"`
	Error             string          `json:"error"`
	OTPRequired       json.RawMessage `json:"otp_required"`
	AttemptsRemaining json.RawMessage `json:"attempts_remaining"`
}

// parseReply decodes the answer of the challenge endpoint (endpoint
// "challenge") or an error answer of the token endpoint (endpoint "token",
// FiPA §6.2) and maps it to an outcome, dispatching on the error member and
// on HTTP 429 and 5xx only when there is none.
func parseReply(endpoint string, status int, body []byte) reply {
	r := reply{attempts: -1}
	var w wireReply
	jsonErr := decodeObject(body, &w)
	if jsonErr == nil {
		r.authSession = w.AuthSession
		r.attempts = parseAttempts(w.AttemptsRemaining)
	}
	fail := func(o Outcome, kind error) reply {
		r.outcome = o
		// The dialog's ordinary turns need no error detail.
		if o != OTPRequired && o != Denied {
			r.err = &ASError{Endpoint: endpoint, Status: status, Code: w.Error, kind: kind}
		}
		return r
	}
	if status == 429 {
		return fail(Locked, nil)
	}
	if jsonErr != nil {
		r.outcome = Unavailable
		r.err = fmt.Errorf("%w: %s: HTTP %d: %w", ErrUnavailable, endpoint, status, jsonErr)
		return r
	}
	switch w.Error {
	case "":
		// No error member: only a 2xx with a code is success.
	case "insufficient_authorization":
		if isTrue(w.OTPRequired) {
			return fail(OTPRequired, nil)
		}
		return fail(Unavailable, ErrUnsupportedChallenge)
	case "access_denied":
		return fail(Denied, nil)
	case "invalid_session":
		return fail(InvalidSession, nil)
	case "redirect_to_web":
		return fail(RedirectToWeb, nil)
	case "slow_down":
		return fail(Locked, nil)
	case "invalid_grant":
		return fail(Unavailable, ErrCodeRejected)
	case "invalid_client", "unauthorized_client", "invalid_scope", "invalid_target",
		"invalid_request", "unsupported_response_type", "unsupported_grant_type":
		return fail(Unavailable, ErrMisconfigured)
	default:
		return fail(Unavailable, ErrUnavailable)
	}
	code := w.AuthorizationCode
	if code == "" {
		code = w.Code
	}
	if status < 200 || status > 299 || code == "" {
		return fail(Unavailable, ErrUnavailable)
	}
	r.outcome = Verified
	r.code = code
	return r
}

// isTrue accepts true and "true": AS profiles differ in how they type flags.
func isTrue(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s == "true" || s == `"true"`
}

// parseAttempts accepts a non-negative integer as a number or a string, and
// returns -1 for anything else.
func parseAttempts(raw json.RawMessage) int {
	s := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	if s == "" {
		return -1
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return -1
	}
	return n
}
