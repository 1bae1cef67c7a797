// Package ivr is the vocabulary the gateway's packages share: a call's SID
// and its validity rule, the phase a call is in, the events of the events
// stream, and the access token a verified call obtains. It has no behaviour
// beyond validation and redaction, and imports nothing of the project, so
// every package (dialog, store, callflow, the transports, the agent API) can
// speak of the same things by the same names.
package ivr

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"time"
)

// ValidCallSid reports whether s is a Twilio call SID: "CA" followed by 32
// hex digits. Nothing else may reach a Redis key name or a log line as a
// call SID.
func ValidCallSid(s string) bool {
	if len(s) != 34 || s[0] != 'C' || s[1] != 'A' {
		return false
	}
	for i := 2; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// Phase is a call's state as the agent API reports it (docs/agent-api.md).
type Phase string

// The phases. Verified, failed and ended are final for the dialog; a
// verified or failed call still ends (the status callback).
const (
	PhaseCollecting Phase = "collecting"
	PhaseVerifying  Phase = "verifying"
	PhaseVerified   Phase = "verified"
	PhaseFailed     Phase = "failed"
	PhaseEnded      Phase = "ended"
)

// Valid reports whether p is one of the phases.
func (p Phase) Valid() bool {
	switch p {
	case PhaseCollecting, PhaseVerifying, PhaseVerified, PhaseFailed, PhaseEnded:
		return true
	}
	return false
}

// Final reports whether the dialog is over: no answer is collected and no
// verification runs any more (the answers are deleted).
func (p Phase) Final() bool {
	return p == PhaseVerified || p == PhaseFailed || p == PhaseEnded
}

// Event is an entry of the events stream (docs/redis.md): what happened to
// a call, with no personal data.
type Event string

// The events of the events stream.
const (
	EventVerified Event = "verified"
	EventFailed   Event = "failed"
	EventEnded    Event = "ended"
)

// Valid reports whether e is one of the events.
func (e Event) Valid() bool {
	return e == EventVerified || e == EventFailed || e == EventEnded
}

// CallStatus is what the agent API may tell about a call: no answers, no
// token.
type CallStatus struct {
	CallSid    string
	Phase      Phase
	Attempts   int
	VerifiedAt time.Time // zero unless verified
}

// Token is the access token a verified call obtained, in the shape of the
// token hash (docs/redis.md). Every printed or logged form redacts
// AccessToken.
type Token struct {
	AccessToken string
	TokenType   string
	Scope       string
	Resource    string
	ExpiresAt   time.Time // zero: the AS gave no lifetime
}

// String describes the token without the access token itself.
func (t Token) String() string {
	return fmt.Sprintf("Token{AccessToken:[redacted] TokenType:%s Scope:%q Resource:%q ExpiresAt:%s}",
		t.TokenType, t.Scope, t.Resource, t.ExpiresAt.UTC().Format(time.RFC3339))
}

// GoString keeps %#v from printing the access token.
func (t Token) GoString() string { return t.String() }

// Format redacts for every fmt verb, so %v and %+v on a struct holding a
// Token do not print the access token either.
func (t Token) Format(f fmt.State, _ rune) { fmt.Fprint(f, t.String()) }

// LogValue logs the token without the access token itself.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("access_token", "[redacted]"),
		slog.String("token_type", t.TokenType),
		slog.String("scope", t.Scope),
		slog.String("resource", t.Resource),
		slog.Time("expires_at", t.ExpiresAt),
	)
}

// MarshalJSON redacts too, so a Token nested in a logged struct (which the
// JSON log handler marshals) never prints the access token. Bodies that must
// carry the token (the agent API's answer) are built field by field.
func (t Token) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		AccessToken string    `json:"access_token"`
		TokenType   string    `json:"token_type"`
		Scope       string    `json:"scope"`
		Resource    string    `json:"resource"`
		ExpiresAt   time.Time `json:"expires_at"`
	}{"[redacted]", t.TokenType, t.Scope, t.Resource, t.ExpiresAt})
}
