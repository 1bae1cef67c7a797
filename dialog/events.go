package dialog

import (
	"time"

	"github.com/ivr-gateway/ivr/kba"
	"github.com/ivr-gateway/ivr/prompts"
)

// Event is something that happened to the call.
type Event interface{ isEvent() }

// Start is the call's first webhook.
type Start struct{}

// Input is the caller's answer to the current question: keypad digits or a
// speech transcript, or neither (no input). At is when it arrived; the dialog
// uses it to judge dates of birth ("not in the future").
type Input struct {
	Digits        string
	Speech        string
	Confidence    float64
	HasConfidence bool
	At            time.Time
}

// Outcome is the authorization server's verdict on one verification.
type Outcome int

// The outcomes of docs/as-profile.md, plus CallerLimited, the gateway's own
// per-caller-number limit.
const (
	OutcomeUnavailable Outcome = iota
	OutcomeVerified
	OutcomeOTPRequired
	OutcomeDenied
	OutcomeInvalidSession
	OutcomeRedirectToWeb
	OutcomeLocked
	OutcomeCallerLimited
)

var outcomeNames = [...]string{"unavailable", "verified", "otp_required", "denied", "invalid_session", "redirect_to_web", "locked", "caller_limited"}

func (o Outcome) String() string {
	if o < 0 || int(o) >= len(outcomeNames) {
		return "unknown"
	}
	return outcomeNames[o]
}

// VerifyResult reports how a Verify action ended.
type VerifyResult struct {
	Outcome Outcome
	// AuthSession is the newest auth_session the AS issued ("" keeps the old one).
	AuthSession string
	// AttemptsRemaining is what the AS said is left, or -1.
	AttemptsRemaining int
}

// Poll is a caller on hold coming back to ask whether verification is done.
type Poll struct{}

// Resume asks for the current node's prompt again without changing anything:
// a repeated or stale webhook, or a transport that lost its place.
type Resume struct{}

// CallEnded is the status callback: the caller hung up or the call failed.
type CallEnded struct{}

// AnswersLost: the answers collected so far could not be read back (the
// session key was rotated, or the stored data is damaged). They are asked
// again rather than the call failing.
type AnswersLost struct{}

func (Start) isEvent()        {}
func (Input) isEvent()        {}
func (VerifyResult) isEvent() {}
func (Poll) isEvent()         {}
func (Resume) isEvent()       {}
func (CallEnded) isEvent()    {}
func (AnswersLost) isEvent()  {}

// Action is something the transport must do.
type Action interface{ isAction() }

// Say plays a prompt. Lang overrides the call's language (the language menu
// speaks each language in its own voice). Date fills {date} in the read-back
// prompt; it is personal data and redacts itself in logs.
type Say struct {
	Prompt prompts.ID
	Lang   kba.Lang
	Date   kba.Date
}

// Ask plays its prompts and waits for an answer to Question: keypad digits
// (NumDigits > 0 means "up to this many, then stop") and/or speech.
type Ask struct {
	Question  Node
	Say       []Say
	NumDigits int
	DTMF      bool
	Speech    bool
}

// Verify asks the authorization server to verify State.Answers; the engine
// answers with a VerifyResult event. Fresh is set when the caller has just
// given a new set of answers (a new attempt, which counts against the
// caller number's hourly limit); an OTP or a session retry is not fresh.
type Verify struct{ Fresh bool }

// Hold tells the caller to hold on while verification runs, then comes back
// with a Poll.
type Hold struct{}

// Handoff passes the verified call on (IVR_HANDOFF_URL or IVR_HANDOFF_NUMBER).
type Handoff struct{}

// Transfer sends the call to the human fallback (IVR_FALLBACK_NUMBER).
type Transfer struct{}

// Hangup ends the call.
type Hangup struct{}

func (Say) isAction()      {}
func (Ask) isAction()      {}
func (Verify) isAction()   {}
func (Hold) isAction()     {}
func (Handoff) isAction()  {}
func (Transfer) isAction() {}
func (Hangup) isAction()   {}
