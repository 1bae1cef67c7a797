// Package kba turns a caller's answers to knowledge-based-authentication
// questions (name, date of birth, SSN last four, one-time code, yes/no,
// language) into validated values.
//
// Input comes from Twilio <Gather>: keypad digits or a speech transcript. The
// parsers are deterministic, do no I/O and never read the clock (the caller
// passes now). What cannot be understood is rejected so the dialog can ask
// again; nothing is guessed. English (en-US) and Spanish (es-US) are
// supported.
//
// Transcripts are taken as recognisers return them, not as they should
// be: digit homophones where digits are expected ("to ate six won"),
// self-corrections (the last complete answer counts) and repeats (the same
// answer twice is that answer, two different ones are none), year-first and
// ISO dates, surname-first names ("Okafor, Chidi"), spelled letters run
// together ("OKA F O R"). A request for a person (WantsPerson) is never an
// answer.
//
// Dates of birth and names are personal data: their String and LogValue
// methods redact, and errors name the kind of problem, never the input.
package kba

import (
	"errors"
	"log/slog"
)

// Lang is a BCP 47 language tag of the caller's chosen dialog language, in the
// form Twilio's <Gather language> attribute takes.
type Lang string

// Supported languages.
const (
	English Lang = "en-US"
	Spanish Lang = "es-US"
)

// Sentinel errors. Parsers wrap them with context ("kba: spoken date: ...")
// but never with the caller's input; check them with errors.Is.
var (
	// ErrEmpty means there was no input at all (silence or an empty transcript).
	ErrEmpty = errors.New("kba: empty input")
	// ErrUnparsable means the input could not be understood; ask again.
	ErrUnparsable = errors.New("kba: input not understood")
	// ErrImpossibleDate means a date that does not exist (February 30, month 13).
	ErrImpossibleDate = errors.New("kba: impossible date")
	// ErrFutureDate means a date of birth after today.
	ErrFutureDate = errors.New("kba: date in the future")
	// ErrTooOld means a date of birth more than MaxAge years ago.
	ErrTooOld = errors.New("kba: date too far in the past")
	// ErrWrongLength means the wrong number of digits.
	ErrWrongLength = errors.New("kba: wrong number of digits")
)

// MaxAge is the oldest age, in completed years, ValidateDOB accepts.
const MaxAge = 130

// maxInput bounds the transcript length the parsers look at; a longer
// "answer" is not an answer to a KBA question and is rejected outright, which
// also bounds the work done per call.
const maxInput = 400

const redacted = "[redacted]"

// Name is a caller's full name as spoken. It is personal data: String and
// LogValue return "[redacted]"; read the fields explicitly.
type Name struct {
	Given  string // first word(s), e.g. "Maria" or "Mary Ann"
	Family string // last word with any particle, e.g. "Garcia" or "de la Cruz"
}

// String returns "[redacted]" so a Name never reaches a log line by accident.
func (n Name) String() string { return redacted }

// GoString returns "[redacted]" so %#v redacts too.
func (n Name) GoString() string { return redacted }

// LogValue implements slog.LogValuer and redacts the name.
func (n Name) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON redacts, for the same reason as Date.MarshalJSON.
func (n Name) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// Full returns "Given Family", the form sent to the authorization server.
func (n Name) Full() string {
	if n.Given == "" {
		return n.Family
	}
	return n.Given + " " + n.Family
}
