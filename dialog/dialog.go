// Package dialog is the call's state machine: what the caller is asked next,
// given what they just did.
//
// Step is pure: no I/O, no clock reads, no logging. Time arrives inside events
// (Input.At) and effects leave as actions (Ask, Verify, Handoff, ...), which
// the telephony adapter turns into TwiML or Media Streams messages and whose
// results (VerifyResult) it feeds back as events. The same machine therefore
// runs the webhook and the WebSocket transports, and tests need no server.
package dialog

import (
	"github.com/ivr-gateway/ivr"
	"github.com/ivr-gateway/ivr/kba"
	"github.com/ivr-gateway/ivr/prompts"
)

// Node is where the call is in the dialog.
type Node string

// The nodes. Question nodes wait for caller input; verifying waits for the
// authorization server; verified, failed and ended are terminal.
const (
	NodeLanguage   Node = "language"
	NodeName       Node = "name"
	NodeSpell      Node = "spell"
	NodeDOB        Node = "dob"
	NodeConfirmDOB Node = "confirm_dob"
	NodeSSN4       Node = "ssn4"
	NodeOTP        Node = "otp"
	NodeVerifying  Node = "verifying"
	NodeVerified   Node = "verified"
	NodeFailed     Node = "failed"
	NodeEnded      Node = "ended"
)

// Reasons a call takes the failure path; they appear in logs and metrics, so
// they never carry personal data.
const (
	ReasonNoInput       = "no_input"
	ReasonAttempts      = "attempts_exhausted"
	ReasonLocked        = "locked"
	ReasonUnavailable   = "as_unavailable"
	ReasonRedirectToWeb = "redirect_to_web"
	ReasonCallerLimit   = "caller_limit"
	// ReasonAskedForPerson: the caller asked for a person (kba.WantsPerson)
	// and a human fallback is configured.
	ReasonAskedForPerson = "asked_for_person"
)

// Config is the dialog's policy. The zero value is not usable; start from
// DefaultConfig.
type Config struct {
	// Languages offered at the greeting; the first is the default. With more
	// than one, the greeting offers a language menu.
	Languages []kba.Lang
	// MaxAttempts is how many verifications one call may try (IVR_MAX_ATTEMPTS).
	MaxAttempts int
	// MaxMisses is how many no-input or invalid answers one question takes
	// before the failure path (docs/dialog.md: 2).
	MaxMisses int
	// MaxPolls bounds how often a caller on hold is told to hold on while the
	// authorization server is slow.
	MaxPolls int
	// SpellBelow: a spoken name recognised with a confidence below this is
	// confirmed by spelling the family name. Twilio does not always send a
	// confidence; then no spelling is asked. Zero takes the default; a
	// negative value never asks.
	SpellBelow float64
	// HasFallback is true when a human fallback number is configured: the
	// failure path transfers instead of saying goodbye.
	HasFallback bool
}

// DefaultConfig returns the contract's defaults.
func DefaultConfig() Config {
	return Config{
		Languages:   []kba.Lang{kba.English, kba.Spanish},
		MaxAttempts: 3,
		MaxMisses:   2,
		MaxPolls:    10,
		SpellBelow:  0.4,
	}
}

// State is one call's dialog state. Everything but Answers is free of
// personal data and is stored as it is; Answers is sealed separately by the
// store and cleared as soon as verification ends.
type State struct {
	Node     Node     `json:"node"`
	Lang     kba.Lang `json:"lang"`
	Misses   int      `json:"misses,omitempty"`
	Attempts int      `json:"attempts,omitempty"`
	Polls    int      `json:"polls,omitempty"`
	// Retried is set once an invalid_session has been retried within the
	// current attempt, so a misbehaving AS cannot loop the call.
	Retried bool `json:"retried,omitempty"`
	// Notice is spoken before the current question when it is (re)asked,
	// e.g. "those details did not match".
	Notice prompts.ID `json:"notice,omitempty"`
	// Reason says why the call failed (Reason* constants).
	Reason  string  `json:"reason,omitempty"`
	Answers Answers `json:"-"`
}

// Phase maps the node to the agent API's state.
func (s State) Phase() ivr.Phase {
	switch s.Node {
	case NodeVerifying:
		return ivr.PhaseVerifying
	case NodeVerified:
		return ivr.PhaseVerified
	case NodeFailed:
		return ivr.PhaseFailed
	case NodeEnded:
		return ivr.PhaseEnded
	}
	return ivr.PhaseCollecting
}

// Terminal reports whether no input can change the call any more.
func (s State) Terminal() bool {
	return s.Node == NodeVerified || s.Node == NodeFailed || s.Node == NodeEnded
}
