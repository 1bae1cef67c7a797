package dialog

import (
	"time"

	"github.com/ivr-gateway/ivr/kba"
)

// FlowClasses returns the event classes `ivr flow` draws, each with
// representative events: keypad and spoken answers in every supported
// language, the authorization server's verdicts, polls and the hang-up. The
// answers are invented and never reach the drawing, which shows class labels
// only.
func FlowClasses() []EventClass {
	// A fixed instant: Step reads no clock and the drawing must not change
	// with the day; the representative dates of birth lie decades before it.
	now := time.Date(2026, time.January, 1, 12, 0, 0, 0, time.UTC)
	keys := func(d string) Event { return Input{Digits: d, At: now} }
	said := func(text string) Event {
		return Input{Speech: text, Confidence: 0.9, HasConfidence: true, At: now}
	}
	// in picks the representative utterance in the caller's language.
	in := func(lang kba.Lang, en, es string) string {
		if lang == kba.Spanish {
			return es
		}
		return en
	}
	quiet := Input{At: now}
	name := func(lang kba.Lang) string { return in(lang, "my name is Alex Rivera", "me llamo Alex Rivera") }

	// at gives a class events per question; everywhere tries the same
	// events in every state, leaving it to Step to ignore those that do not
	// fit (a verdict while the caller is being asked something).
	at := func(byNode map[Node]func(kba.Lang) []Event) func(State) []Event {
		return func(s State) []Event {
			if f := byNode[s.Node]; f != nil {
				return f(s.Lang)
			}
			return nil
		}
	}
	everywhere := func(evs ...Event) func(State) []Event {
		return func(State) []Event { return evs }
	}
	verdict := func(o Outcome, remaining int) func(State) []Event {
		return everywhere(VerifyResult{Outcome: o, AttemptsRemaining: remaining})
	}
	// codeGiven splits the AS's otp_required in two: asking for a code, and
	// rejecting the one the caller gave. The AS answers the same; what
	// differs is the call, and the drawing says which is which.
	codeGiven := func(given bool, evs ...Event) func(State) []Event {
		return func(s State) []Event {
			if (s.Answers.OTP != "") != given {
				return nil
			}
			return evs
		}
	}
	otpRequired := VerifyResult{Outcome: OutcomeOTPRequired, AttemptsRemaining: -1}
	miss := func(s State) int { return s.Misses + 1 }

	return []EventClass{
		{Label: "answer", Events: at(map[Node]func(kba.Lang) []Event{
			NodeLanguage: func(kba.Lang) []Event {
				return []Event{keys("1"), keys("2"), said("English"), said("español")}
			},
			NodeName: func(l kba.Lang) []Event { return []Event{said(name(l))} },
			NodeSpell: func(l kba.Lang) []Event {
				return []Event{said(in(l, "R I V E R A", "R de Roma, I, V, E, R, A"))}
			},
			NodeDOB: func(l kba.Lang) []Event {
				return []Event{keys("02031990"), said(in(l, "February third nineteen ninety", "tres de febrero de mil novecientos noventa"))}
			},
			NodeSSN4: func(l kba.Lang) []Event {
				return []Event{keys("2468"), said(in(l, "two four six eight", "dos cuatro seis ocho"))}
			},
			NodeOTP: func(l kba.Lang) []Event {
				return []Event{keys("135790"), said(in(l, "one three five seven nine zero", "uno tres cinco siete nueve cero"))}
			},
		})},
		{Label: "name heard with low confidence", Events: at(map[Node]func(kba.Lang) []Event{
			NodeName: func(l kba.Lang) []Event {
				return []Event{Input{Speech: name(l), Confidence: 0.2, HasConfidence: true, At: now}}
			},
		})},
		{Label: "date read two ways", Events: at(map[Node]func(kba.Lang) []Event{
			NodeDOB: func(l kba.Lang) []Event {
				return []Event{said(in(l, "oh two oh three ninety", "cero dos cero tres noventa"))}
			},
		})},
		{Label: "yes", Events: at(map[Node]func(kba.Lang) []Event{
			NodeConfirmDOB: func(l kba.Lang) []Event { return []Event{keys("1"), said(in(l, "yes", "sí"))} },
		})},
		{Label: "no", Nth: miss, Events: at(map[Node]func(kba.Lang) []Event{
			NodeConfirmDOB: func(kba.Lang) []Event { return []Event{keys("2"), said("no")} },
		})},
		{Label: "no input", Nth: miss, Events: everywhere(quiet)},
		{Label: "invalid answer", Nth: miss, Events: at(map[Node]func(kba.Lang) []Event{
			NodeLanguage:   func(kba.Lang) []Event { return []Event{keys("9"), said("hmm")} },
			NodeName:       func(kba.Lang) []Event { return []Event{said("um")} },
			NodeSpell:      func(l kba.Lang) []Event { return []Event{said(in(l, "blah blah", "bla bla"))} },
			NodeDOB:        func(l kba.Lang) []Event { return []Event{keys("13999999"), said(in(l, "yesterday", "ayer"))} },
			NodeConfirmDOB: func(l kba.Lang) []Event { return []Event{keys("3"), said(in(l, "maybe later", "quizás luego"))} },
			NodeSSN4:       func(kba.Lang) []Event { return []Event{keys("12"), said("banana")} },
			NodeOTP:        func(kba.Lang) []Event { return []Event{keys("12"), said("banana")} },
		})},
		{Label: "asks for a person", Nth: miss, Events: func(s State) []Event {
			switch s.Node {
			case NodeLanguage, NodeName, NodeSpell, NodeDOB, NodeConfirmDOB, NodeSSN4, NodeOTP:
				return []Event{said(in(s.Lang, "I want to talk to an agent", "quiero hablar con un representante"))}
			}
			return nil
		}},
		{Label: "verified", Events: verdict(OutcomeVerified, -1)},
		{Label: "OTP required", Events: codeGiven(false, otpRequired)},
		{Label: "wrong code", Nth: miss, Events: codeGiven(true, otpRequired)},
		{Label: "OTP required, no tries left", Events: verdict(OutcomeOTPRequired, 0)},
		{Label: "denied", Nth: func(s State) int { return s.Attempts }, Events: verdict(OutcomeDenied, -1)},
		{Label: "denied, no tries left at the AS", Events: verdict(OutcomeDenied, 0)},
		{Label: "invalid session", Events: verdict(OutcomeInvalidSession, -1), Nth: func(s State) int {
			if s.Retried {
				return 2
			}
			return 1
		}},
		{Label: "redirect to web", Events: verdict(OutcomeRedirectToWeb, -1)},
		{Label: "locked", Events: verdict(OutcomeLocked, -1)},
		{Label: "caller limit", Events: verdict(OutcomeCallerLimited, -1)},
		{Label: "AS unavailable", Events: verdict(OutcomeUnavailable, -1)},
		{Label: "poll", Nth: func(s State) int { return s.Polls + 1 }, Events: everywhere(Poll{})},
		{Label: "hang-up", Aside: true, Events: everywhere(CallEnded{})},
	}
}
