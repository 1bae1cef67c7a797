package dialog

import (
	"github.com/ivr-gateway/ivr"

	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ivr-gateway/ivr/kba"
	"github.com/ivr-gateway/ivr/prompts"
)

// Test identities: invented, and distinctive enough to grep for.
var (
	testNow     = time.Date(2026, time.November, 25, 12, 0, 0, 0, time.UTC)
	testName    = kba.Name{Given: "Maria", Family: "Garcia"}
	testDOB     = kba.Date{Year: 1980, Month: time.January, Day: 5}
	testSSN4    = "4821"
	testOTP     = "739215"
	testSession = "as-sess-7f3a"
)

const (
	en = kba.English
	es = kba.Spanish
)

// keys is a keypad answer; said is a confident speech answer; quiet is no input.
func keys(d string) Input { return Input{Digits: d, At: testNow} }
func said(s string) Input {
	return Input{Speech: s, Confidence: 0.92, HasConfidence: true, At: testNow}
}
func mumbled(s string, conf float64) Input {
	return Input{Speech: s, Confidence: conf, HasConfidence: true, At: testNow}
}

var quiet = Input{At: testNow}

// questionShape is what docs/dialog.md says each question accepts.
var questionShape = map[Node]struct {
	numDigits    int
	dtmf, speech bool
}{
	NodeLanguage:   {1, true, true},
	NodeName:       {0, false, true},
	NodeSpell:      {0, false, true},
	NodeDOB:        {8, true, true},
	NodeConfirmDOB: {1, true, true},
	NodeSSN4:       {4, true, true},
	NodeOTP:        {6, true, true},
}

// ask is the Ask action for question q, speaking says in order.
func ask(q Node, says ...Say) Ask {
	sh := questionShape[q]
	return Ask{Question: q, Say: says, NumDigits: sh.numDigits, DTMF: sh.dtmf, Speech: sh.speech}
}

// say is a list of plain prompts in the call's language.
func say(ids ...prompts.ID) []Say {
	out := make([]Say, len(ids))
	for i, id := range ids {
		out[i] = Say{Prompt: id}
	}
	return out
}

func acts(a ...Action) []Action { return a }

var (
	languageMenu = ask(NodeLanguage, Say{Prompt: prompts.Greeting},
		Say{Prompt: prompts.LanguageMenu, Lang: en}, Say{Prompt: prompts.LanguageMenu, Lang: es})
	askName       = ask(NodeName, say(prompts.AskName)...)
	repromptName  = ask(NodeName, say(prompts.RepromptName)...)
	askSpell      = ask(NodeSpell, say(prompts.AskSpell)...)
	repromptSpell = ask(NodeSpell, say(prompts.RepromptSpell)...)
	askDOB        = ask(NodeDOB, say(prompts.AskDOB)...)
	repromptDOB   = ask(NodeDOB, say(prompts.RepromptDOB)...)
	confirmDOB    = ask(NodeConfirmDOB, Say{Prompt: prompts.ConfirmDOB, Date: testDOB})
	askSSN4       = ask(NodeSSN4, say(prompts.AskSSN4)...)
	repromptSSN4  = ask(NodeSSN4, say(prompts.RepromptSSN4)...)
	askOTP        = ask(NodeOTP, say(prompts.AskOTP)...)
	repromptOTP   = ask(NodeOTP, say(prompts.RepromptOTP)...)

	handoff      = acts(Say{Prompt: prompts.Verified}, Handoff{})
	goodbye      = acts(Say{Prompt: prompts.Goodbye}, Hangup{})
	troubleBye   = acts(Say{Prompt: prompts.Trouble}, Say{Prompt: prompts.Goodbye}, Hangup{})
	transfer     = acts(Say{Prompt: prompts.Transfer}, Transfer{})
	troubleXfer  = acts(Say{Prompt: prompts.Trouble}, Say{Prompt: prompts.Transfer}, Transfer{})
	oneLanguage  = Config{Languages: []kba.Lang{en}}
	withFallback = Config{HasFallback: true}
)

// States the table starts from, one per node, each holding what the caller
// would have said by then.
var (
	atLanguage = State{Node: NodeLanguage, Lang: en}
	atName     = State{Node: NodeName, Lang: en}
	atSpell    = State{Node: NodeSpell, Lang: en, Answers: Answers{Name: kba.Name{Given: "Maria", Family: "Garsha"}}}
	atDOB      = State{Node: NodeDOB, Lang: en, Answers: Answers{Name: testName}}
	atConfirm  = State{Node: NodeConfirmDOB, Lang: en, Answers: Answers{Name: testName, DOB: testDOB}}
	atSSN4     = State{Node: NodeSSN4, Lang: en, Answers: Answers{Name: testName, DOB: testDOB}}
	verifying  = State{Node: NodeVerifying, Lang: en, Attempts: 1,
		Answers: Answers{Name: testName, DOB: testDOB, SSN4: testSSN4}}
	atOTP = State{Node: NodeOTP, Lang: en, Attempts: 1,
		Answers: Answers{Name: testName, DOB: testDOB, SSN4: testSSN4, AuthSession: testSession}}
	verifyingOTP = State{Node: NodeVerifying, Lang: en, Attempts: 1,
		Answers: Answers{Name: testName, DOB: testDOB, SSN4: testSSN4, OTP: testOTP, AuthSession: testSession}}
	verified = State{Node: NodeVerified, Lang: en, Attempts: 1}
	failed   = State{Node: NodeFailed, Lang: en, Attempts: 1, Reason: ReasonLocked}
	ended    = State{Node: NodeEnded, Lang: en, Attempts: 1}
)

// with returns s changed by f, so table rows can state small differences.
func with(s State, f func(*State)) State {
	f(&s)
	return s
}

func TestStep(t *testing.T) {
	tests := []struct {
		name        string
		cfg         Config
		start       State
		events      []Event
		want        State
		wantActions []Action // of the last event
	}{
		// Greeting and language menu.
		{
			name:        "start/one-language",
			cfg:         oneLanguage,
			events:      []Event{Start{}},
			want:        State{Node: NodeName, Lang: en},
			wantActions: acts(ask(NodeName, say(prompts.Greeting, prompts.AskName)...)),
		},
		{
			name:        "start/two-languages",
			events:      []Event{Start{}},
			want:        atLanguage,
			wantActions: acts(languageMenu),
		},
		{
			name:        "start/spanish-first",
			cfg:         Config{Languages: []kba.Lang{es, en}},
			events:      []Event{Start{}},
			want:        State{Node: NodeLanguage, Lang: es},
			wantActions: acts(ask(NodeLanguage, Say{Prompt: prompts.Greeting}, Say{Prompt: prompts.LanguageMenu, Lang: es}, Say{Prompt: prompts.LanguageMenu, Lang: en})),
		},
		{
			name:        "start/repeated-webhook-reasks-without-greeting",
			start:       atDOB,
			events:      []Event{Start{}},
			want:        atDOB,
			wantActions: acts(askDOB),
		},
		{
			name:        "language/key-2",
			start:       atLanguage,
			events:      []Event{keys("2")},
			want:        State{Node: NodeName, Lang: es},
			wantActions: acts(askName),
		},
		{
			name:        "language/key-1",
			start:       atLanguage,
			events:      []Event{keys("1")},
			want:        State{Node: NodeName, Lang: en},
			wantActions: acts(askName),
		},
		{
			name:        "language/speech-espanol",
			start:       atLanguage,
			events:      []Event{said("español")},
			want:        State{Node: NodeName, Lang: es},
			wantActions: acts(askName),
		},
		{
			name:        "language/silence-is-the-default-not-a-miss",
			start:       atLanguage,
			events:      []Event{quiet},
			want:        State{Node: NodeName, Lang: en},
			wantActions: acts(askName),
		},
		{
			name:        "language/unknown-key-is-the-default",
			start:       atLanguage,
			events:      []Event{keys("9")},
			want:        State{Node: NodeName, Lang: en},
			wantActions: acts(askName),
		},
		{
			name:        "language/key-0-is-the-default",
			start:       atLanguage,
			events:      []Event{keys("0")},
			want:        State{Node: NodeName, Lang: en},
			wantActions: acts(askName),
		},
		{
			name:        "language/not-offered-is-the-default",
			cfg:         oneLanguage,
			start:       atLanguage,
			events:      []Event{said("español")},
			want:        State{Node: NodeName, Lang: en},
			wantActions: acts(askName),
		},

		// Name and spelling.
		{
			name:        "name/parsed",
			start:       atName,
			events:      []Event{said("my name is Maria Garcia")},
			want:        atDOB,
			wantActions: acts(askDOB),
		},
		{
			name:        "name/parsed-without-confidence",
			start:       atName,
			events:      []Event{Input{Speech: "Maria Garcia", At: testNow}},
			want:        atDOB,
			wantActions: acts(askDOB),
		},
		{
			name:        "name/not-parsed-is-a-miss",
			start:       atName,
			events:      []Event{said("um")},
			want:        with(atName, func(s *State) { s.Misses = 1 }),
			wantActions: acts(repromptName),
		},
		{
			name:        "name/keypad-is-a-miss",
			start:       atName,
			events:      []Event{keys("1234")},
			want:        with(atName, func(s *State) { s.Misses = 1 }),
			wantActions: acts(repromptName),
		},
		{
			name:        "name/low-confidence-asks-to-spell",
			start:       atName,
			events:      []Event{mumbled("Maria Garsha", 0.2)},
			want:        atSpell,
			wantActions: acts(askSpell),
		},
		{
			name:        "name/low-confidence-with-spelling-disabled",
			cfg:         Config{SpellBelow: -1},
			start:       atName,
			events:      []Event{mumbled("Maria Garcia", 0.01)},
			want:        atDOB,
			wantActions: acts(askDOB),
		},
		{
			name:        "spell/ok-replaces-family-name",
			start:       atSpell,
			events:      []Event{said("G as in George, A, R, C, I, A")},
			want:        atDOB,
			wantActions: acts(askDOB),
		},
		{
			name:        "spell/first-failure-reprompts",
			start:       atSpell,
			events:      []Event{said("blah blah")},
			want:        with(atSpell, func(s *State) { s.Misses = 1 }),
			wantActions: acts(repromptSpell),
		},
		{
			name:   "spell/failing-twice-continues-with-heard-name",
			start:  atSpell,
			events: []Event{said("blah blah"), quiet},
			want: State{Node: NodeDOB, Lang: en,
				Answers: Answers{Name: kba.Name{Given: "Maria", Family: "Garsha"}}},
			wantActions: acts(askDOB),
		},

		// Date of birth.
		{
			name:        "dob/keypad",
			start:       atDOB,
			events:      []Event{keys("01051980")},
			want:        atSSN4,
			wantActions: acts(askSSN4),
		},
		{
			name:        "dob/speech",
			start:       atDOB,
			events:      []Event{said("January fifth nineteen eighty")},
			want:        atSSN4,
			wantActions: acts(askSSN4),
		},
		{
			name:        "dob/future-keypad-is-a-miss",
			start:       atDOB,
			events:      []Event{keys("01052030")},
			want:        with(atDOB, func(s *State) { s.Misses = 1 }),
			wantActions: acts(repromptDOB),
		},
		{
			name:        "dob/impossible-keypad-is-a-miss",
			start:       atDOB,
			events:      []Event{keys("13451980")},
			want:        with(atDOB, func(s *State) { s.Misses = 1 }),
			wantActions: acts(repromptDOB),
		},
		{
			name:        "dob/future-speech-is-a-miss",
			start:       atDOB,
			events:      []Event{said("December first twenty thirty")},
			want:        with(atDOB, func(s *State) { s.Misses = 1 }),
			wantActions: acts(repromptDOB),
		},
		{
			name:        "dob/ambiguous-speech-reads-back",
			start:       atDOB,
			events:      []Event{said("oh one oh five eighty")},
			want:        atConfirm,
			wantActions: acts(confirmDOB),
		},
		{
			name:        "confirm/key-1",
			start:       atConfirm,
			events:      []Event{keys("1")},
			want:        atSSN4,
			wantActions: acts(askSSN4),
		},
		{
			name:        "confirm/yes",
			start:       atConfirm,
			events:      []Event{said("yes that's right")},
			want:        atSSN4,
			wantActions: acts(askSSN4),
		},
		{
			name:        "confirm/key-2-asks-dob-again-counting-a-miss",
			start:       atConfirm,
			events:      []Event{keys("2")},
			want:        with(atDOB, func(s *State) { s.Misses = 1 }),
			wantActions: acts(repromptDOB),
		},
		{
			name:        "confirm/no-asks-dob-again-counting-a-miss",
			start:       atConfirm,
			events:      []Event{said("no")},
			want:        with(atDOB, func(s *State) { s.Misses = 1 }),
			wantActions: acts(repromptDOB),
		},
		{
			name:        "confirm/unsure-is-a-miss",
			start:       atConfirm,
			events:      []Event{said("I'm not sure")},
			want:        with(atConfirm, func(s *State) { s.Misses = 1 }),
			wantActions: acts(confirmDOB),
		},
		{
			name:        "confirm/shares-the-dob-miss-count",
			start:       atDOB,
			events:      []Event{quiet, said("oh one oh five eighty"), said("no")},
			want:        State{Node: NodeFailed, Lang: en, Misses: 2, Reason: ReasonNoInput},
			wantActions: goodbye,
		},

		// SSN last 4 and verification.
		{
			name:        "ssn4/keypad",
			start:       atSSN4,
			events:      []Event{keys(testSSN4)},
			want:        verifying,
			wantActions: acts(Verify{Fresh: true}),
		},
		{
			name:   "ssn4/speech",
			start:  atSSN4,
			events: []Event{said("twelve thirty-four")},
			want: with(verifying, func(s *State) {
				s.Answers.SSN4 = "1234"
			}),
			wantActions: acts(Verify{Fresh: true}),
		},
		{
			name:        "ssn4/three-digits-is-a-miss",
			start:       atSSN4,
			events:      []Event{keys("123")},
			want:        with(atSSN4, func(s *State) { s.Misses = 1 }),
			wantActions: acts(repromptSSN4),
		},
		{
			name:  "ssn4/second-attempt-counts",
			start: with(atSSN4, func(s *State) { s.Attempts = 1; s.Answers.AuthSession = testSession }),
			events: []Event{
				keys(testSSN4),
			},
			want: with(verifying, func(s *State) {
				s.Attempts = 2
				s.Answers.AuthSession = testSession
			}),
			wantActions: acts(Verify{Fresh: true}),
		},
		{
			name:        "verify/verified-hands-off-and-clears-answers",
			start:       verifying,
			events:      []Event{VerifyResult{Outcome: OutcomeVerified, AttemptsRemaining: -1}},
			want:        verified,
			wantActions: handoff,
		},
		{
			name:        "verify/otp-required-keeps-auth-session",
			start:       verifying,
			events:      []Event{VerifyResult{Outcome: OutcomeOTPRequired, AuthSession: testSession, AttemptsRemaining: 2}},
			want:        atOTP,
			wantActions: acts(askOTP),
		},
		{
			name:        "otp/keypad",
			start:       atOTP,
			events:      []Event{keys(testOTP)},
			want:        verifyingOTP,
			wantActions: acts(Verify{}),
		},
		{
			name:        "otp/speech",
			start:       atOTP,
			events:      []Event{said("seven three nine two one five")},
			want:        verifyingOTP,
			wantActions: acts(Verify{}),
		},
		{
			name:        "otp/wrong-code-reprompts",
			start:       verifyingOTP,
			events:      []Event{VerifyResult{Outcome: OutcomeOTPRequired, AttemptsRemaining: 1}},
			want:        with(atOTP, func(s *State) { s.Misses = 1 }),
			wantActions: acts(repromptOTP),
		},
		{
			name:  "otp/wrong-code-twice-fails",
			start: verifyingOTP,
			events: []Event{
				VerifyResult{Outcome: OutcomeOTPRequired, AttemptsRemaining: 2},
				keys("111111"),
				VerifyResult{Outcome: OutcomeOTPRequired, AttemptsRemaining: 1},
			},
			want:        State{Node: NodeFailed, Lang: en, Attempts: 1, Misses: 2, Reason: ReasonNoInput},
			wantActions: goodbye,
		},
		{
			name:        "otp/no-attempts-remaining-fails",
			start:       verifyingOTP,
			events:      []Event{VerifyResult{Outcome: OutcomeOTPRequired, AttemptsRemaining: 0}},
			want:        State{Node: NodeFailed, Lang: en, Attempts: 1, Reason: ReasonAttempts},
			wantActions: goodbye,
		},
		{
			name:   "verify/denied-starts-again-with-notice",
			start:  verifyingOTP,
			events: []Event{VerifyResult{Outcome: OutcomeDenied, AttemptsRemaining: -1}},
			want: State{Node: NodeName, Lang: en, Attempts: 1, Notice: prompts.MismatchRetry,
				Answers: Answers{AuthSession: testSession}},
			wantActions: acts(ask(NodeName, say(prompts.MismatchRetry, prompts.AskName)...)),
		},
		{
			name:        "verify/denied-at-max-attempts-fails",
			start:       with(verifying, func(s *State) { s.Attempts = 3 }),
			events:      []Event{VerifyResult{Outcome: OutcomeDenied, AttemptsRemaining: -1}},
			want:        State{Node: NodeFailed, Lang: en, Attempts: 3, Reason: ReasonAttempts},
			wantActions: goodbye,
		},
		{
			name:        "verify/denied-with-none-remaining-fails",
			start:       verifying,
			events:      []Event{VerifyResult{Outcome: OutcomeDenied, AttemptsRemaining: 0}},
			want:        State{Node: NodeFailed, Lang: en, Attempts: 1, Reason: ReasonAttempts},
			wantActions: goodbye,
		},
		{
			name:        "verify/denied-at-configured-max-attempts-with-fallback",
			cfg:         Config{MaxAttempts: 1, HasFallback: true},
			start:       verifying,
			events:      []Event{VerifyResult{Outcome: OutcomeDenied, AttemptsRemaining: 2}},
			want:        State{Node: NodeFailed, Lang: en, Attempts: 1, Reason: ReasonAttempts},
			wantActions: transfer,
		},
		{
			name:   "verify/invalid-session-retries-once-without-session",
			start:  verifyingOTP,
			events: []Event{VerifyResult{Outcome: OutcomeInvalidSession, AttemptsRemaining: -1}},
			want: with(verifyingOTP, func(s *State) {
				s.Retried = true
				s.Answers.AuthSession, s.Answers.OTP = "", ""
			}),
			wantActions: acts(Verify{}),
		},
		{
			name:  "verify/invalid-session-twice-fails",
			start: verifyingOTP,
			events: []Event{
				VerifyResult{Outcome: OutcomeInvalidSession, AttemptsRemaining: -1},
				VerifyResult{Outcome: OutcomeInvalidSession, AttemptsRemaining: -1},
			},
			want:        State{Node: NodeFailed, Lang: en, Attempts: 1, Retried: true, Reason: ReasonUnavailable},
			wantActions: troubleBye,
		},
		{
			name:        "verify/redirect-to-web",
			start:       verifying,
			events:      []Event{VerifyResult{Outcome: OutcomeRedirectToWeb, AttemptsRemaining: -1}},
			want:        State{Node: NodeFailed, Lang: en, Attempts: 1, Reason: ReasonRedirectToWeb},
			wantActions: goodbye,
		},
		{
			name:        "verify/locked",
			start:       verifying,
			events:      []Event{VerifyResult{Outcome: OutcomeLocked, AttemptsRemaining: -1}},
			want:        State{Node: NodeFailed, Lang: en, Attempts: 1, Reason: ReasonLocked},
			wantActions: goodbye,
		},
		{
			name:        "verify/caller-limited",
			start:       verifying,
			events:      []Event{VerifyResult{Outcome: OutcomeCallerLimited, AttemptsRemaining: -1}},
			want:        State{Node: NodeFailed, Lang: en, Attempts: 1, Reason: ReasonCallerLimit},
			wantActions: goodbye,
		},
		{
			name:        "verify/unavailable",
			start:       verifying,
			events:      []Event{VerifyResult{Outcome: OutcomeUnavailable, AttemptsRemaining: -1}},
			want:        State{Node: NodeFailed, Lang: en, Attempts: 1, Reason: ReasonUnavailable},
			wantActions: troubleBye,
		},
		{
			name:        "verify/unknown-outcome-is-unavailable",
			start:       verifying,
			events:      []Event{VerifyResult{Outcome: Outcome(99), AttemptsRemaining: -1}},
			want:        State{Node: NodeFailed, Lang: en, Attempts: 1, Reason: ReasonUnavailable},
			wantActions: troubleBye,
		},

		// The failure path, with and without a human fallback.
		{
			name:        "failure/locked-with-fallback-transfers",
			cfg:         withFallback,
			start:       verifying,
			events:      []Event{VerifyResult{Outcome: OutcomeLocked, AttemptsRemaining: -1}},
			want:        State{Node: NodeFailed, Lang: en, Attempts: 1, Reason: ReasonLocked},
			wantActions: transfer,
		},
		{
			name:        "failure/unavailable-with-fallback-says-trouble-then-transfers",
			cfg:         withFallback,
			start:       verifying,
			events:      []Event{VerifyResult{Outcome: OutcomeUnavailable, AttemptsRemaining: -1}},
			want:        State{Node: NodeFailed, Lang: en, Attempts: 1, Reason: ReasonUnavailable},
			wantActions: troubleXfer,
		},
		{
			name:        "failure/no-input-with-fallback-transfers",
			cfg:         withFallback,
			start:       atName,
			events:      []Event{quiet, quiet},
			want:        State{Node: NodeFailed, Lang: en, Misses: 2, Reason: ReasonNoInput},
			wantActions: transfer,
		},

		// Poll, Resume and stale events.
		{
			name:        "poll/while-verifying-holds",
			start:       verifying,
			events:      []Event{Poll{}},
			want:        with(verifying, func(s *State) { s.Polls = 1 }),
			wantActions: acts(Hold{}),
		},
		{
			name:        "poll/up-to-max-polls-holds",
			cfg:         Config{MaxPolls: 2},
			start:       verifying,
			events:      []Event{Poll{}, Poll{}},
			want:        with(verifying, func(s *State) { s.Polls = 2 }),
			wantActions: acts(Hold{}),
		},
		{
			name:        "poll/beyond-max-polls-fails",
			cfg:         Config{MaxPolls: 2},
			start:       verifying,
			events:      []Event{Poll{}, Poll{}, Poll{}},
			want:        State{Node: NodeFailed, Lang: en, Attempts: 1, Polls: 3, Reason: ReasonUnavailable},
			wantActions: troubleBye,
		},
		{
			name:        "poll/elsewhere-reasks-without-change",
			start:       with(atDOB, func(s *State) { s.Misses = 1 }),
			events:      []Event{Poll{}},
			want:        with(atDOB, func(s *State) { s.Misses = 1 }),
			wantActions: acts(repromptDOB),
		},
		{
			name:        "poll/after-verified-repeats-handoff",
			start:       verified,
			events:      []Event{Poll{}},
			want:        verified,
			wantActions: handoff,
		},
		{
			name:        "resume/language",
			start:       atLanguage,
			events:      []Event{Resume{}},
			want:        atLanguage,
			wantActions: acts(ask(NodeLanguage, Say{Prompt: prompts.LanguageMenu, Lang: en}, Say{Prompt: prompts.LanguageMenu, Lang: es})),
		},
		{
			name:        "resume/repeats-notice",
			start:       State{Node: NodeName, Lang: en, Attempts: 1, Notice: prompts.MismatchRetry},
			events:      []Event{Resume{}},
			want:        State{Node: NodeName, Lang: en, Attempts: 1, Notice: prompts.MismatchRetry},
			wantActions: acts(ask(NodeName, say(prompts.MismatchRetry, prompts.AskName)...)),
		},
		{
			name:        "resume/confirm",
			start:       atConfirm,
			events:      []Event{Resume{}, Resume{}},
			want:        atConfirm,
			wantActions: acts(confirmDOB),
		},
		{
			name:        "resume/verifying-holds-without-counting",
			start:       verifying,
			events:      []Event{Resume{}},
			want:        verifying,
			wantActions: acts(Hold{}),
		},
		{
			name:        "resume/failed-repeats-goodbye",
			start:       failed,
			events:      []Event{Resume{}},
			want:        failed,
			wantActions: goodbye,
		},
		{
			name:        "resume/failed-with-fallback-repeats-transfer",
			cfg:         withFallback,
			start:       failed,
			events:      []Event{Resume{}},
			want:        failed,
			wantActions: transfer,
		},
		{
			name:        "stale/verify-result-while-asking",
			start:       atDOB,
			events:      []Event{VerifyResult{Outcome: OutcomeVerified, AuthSession: "late", AttemptsRemaining: -1}},
			want:        atDOB,
			wantActions: acts(askDOB),
		},
		{
			name:        "stale/verify-result-after-failure",
			start:       failed,
			events:      []Event{VerifyResult{Outcome: OutcomeVerified, AttemptsRemaining: -1}},
			want:        failed,
			wantActions: goodbye,
		},
		{
			name:        "stale/input-while-verifying-holds",
			start:       verifying,
			events:      []Event{keys("1234")},
			want:        verifying,
			wantActions: acts(Hold{}),
		},
		{
			name:        "stale/input-after-verified",
			start:       verified,
			events:      []Event{keys("1")},
			want:        verified,
			wantActions: handoff,
		},

		{
			name:        "stale/nil-event-reasks",
			start:       atSSN4,
			events:      []Event{nil},
			want:        atSSN4,
			wantActions: acts(askSSN4),
		},

		// The call ends.
		{
			name:   "ended/from-question-clears-answers",
			start:  atSSN4,
			events: []Event{CallEnded{}},
			want:   State{Node: NodeEnded, Lang: en},
		},
		{
			name:   "ended/from-verifying-keeps-attempts",
			start:  verifyingOTP,
			events: []Event{CallEnded{}},
			want:   State{Node: NodeEnded, Lang: en, Attempts: 1},
		},
		{
			name:   "ended/from-failed-keeps-reason",
			start:  failed,
			events: []Event{CallEnded{}},
			want:   State{Node: NodeEnded, Lang: en, Attempts: 1, Reason: ReasonLocked},
		},
		{
			name:   "ended/absorbs-everything",
			start:  ended,
			events: []Event{Start{}, Resume{}, Poll{}, keys("1"), VerifyResult{Outcome: OutcomeVerified}, CallEnded{}},
			want:   ended,
		},

		// Whole calls.
		{
			name: "call/happy-path-with-otp",
			events: []Event{
				Start{}, keys("2"), said("María García"), keys("01051980"), said("cuatro ocho dos uno"),
				VerifyResult{Outcome: OutcomeOTPRequired, AuthSession: testSession, AttemptsRemaining: 2},
				Poll{}, keys(testOTP), Poll{},
				VerifyResult{Outcome: OutcomeVerified, AttemptsRemaining: -1},
			},
			want:        State{Node: NodeVerified, Lang: es, Attempts: 1, Polls: 1},
			wantActions: handoff,
		},
		{
			name: "call/three-mismatches-fail",
			cfg:  oneLanguage,
			events: []Event{
				Start{},
				said("Maria Garcia"), keys("01051980"), keys(testSSN4), VerifyResult{Outcome: OutcomeDenied, AuthSession: testSession, AttemptsRemaining: 2},
				said("Maria Garcia"), keys("01051980"), keys("4822"), VerifyResult{Outcome: OutcomeDenied, AttemptsRemaining: 1},
				said("Maria Garcia"), keys("01051980"), keys("4823"), VerifyResult{Outcome: OutcomeDenied, AttemptsRemaining: -1},
			},
			want:        State{Node: NodeFailed, Lang: en, Attempts: 3, Reason: ReasonAttempts},
			wantActions: goodbye,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := New(tt.cfg)
			s := tt.start
			var got []Action
			for _, ev := range tt.events {
				s, got = m.Step(s, ev)
			}
			if diff := cmp.Diff(s, tt.want); diff != "" {
				t.Errorf("state (-got +want):\n%s", diff)
			}
			if diff := cmp.Diff(got, tt.wantActions); diff != "" {
				t.Errorf("actions (-got +want):\n%s", diff)
			}
		})
	}
}

// TestMisses checks docs/dialog.md on every question: the first no-input or
// invalid answer re-prompts with the question's reprompt ID, the second takes
// the failure path (no_input). The spelling question is the exception: it
// only confirms a name already heard, so its second miss moves on.
func TestMisses(t *testing.T) {
	tests := []struct {
		name       string
		start      State
		bad        Input
		reprompt   Ask
		secondNode Node
	}{
		{"name/silence", atName, quiet, repromptName, NodeFailed},
		{"name/one-word", atName, said("Maria"), repromptName, NodeFailed},
		{"spell/silence", atSpell, quiet, repromptSpell, NodeDOB},
		{"dob/silence", atDOB, quiet, repromptDOB, NodeFailed},
		{"dob/short", atDOB, keys("0105"), repromptDOB, NodeFailed},
		{"dob/words", atDOB, said("yesterday"), repromptDOB, NodeFailed},
		{"confirm/silence", atConfirm, quiet, confirmDOB, NodeFailed},
		{"confirm/key-3", atConfirm, keys("3"), confirmDOB, NodeFailed},
		{"ssn4/silence", atSSN4, quiet, repromptSSN4, NodeFailed},
		{"ssn4/letters", atSSN4, said("banana"), repromptSSN4, NodeFailed},
		{"ssn4/five-keys", atSSN4, keys("12345"), repromptSSN4, NodeFailed},
		{"otp/silence", atOTP, quiet, repromptOTP, NodeFailed},
		{"otp/four-digits", atOTP, said("four eight two one"), repromptOTP, NodeFailed},
	}
	m := New(DefaultConfig())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s1, a1 := m.Step(tt.start, tt.bad)
			want1 := with(tt.start, func(s *State) { s.Misses = 1 })
			if diff := cmp.Diff(s1, want1); diff != "" {
				t.Errorf("first miss state (-got +want):\n%s", diff)
			}
			if diff := cmp.Diff(a1, acts(tt.reprompt)); diff != "" {
				t.Errorf("first miss actions (-got +want):\n%s", diff)
			}
			s2, a2 := m.Step(s1, tt.bad)
			if s2.Node != tt.secondNode {
				t.Fatalf("second miss: node %q, want %q", s2.Node, tt.secondNode)
			}
			if tt.secondNode != NodeFailed {
				return
			}
			if s2.Reason != ReasonNoInput || !s2.Answers.IsZero() {
				t.Errorf("second miss: reason %q, answers zero %v; want %q, true", s2.Reason, s2.Answers.IsZero(), ReasonNoInput)
			}
			if diff := cmp.Diff(a2, goodbye); diff != "" {
				t.Errorf("second miss actions (-got +want):\n%s", diff)
			}
		})
	}
}

// TestCallEndedFromEveryNode: the status callback ends the call from any
// node, with no actions, and drops the answers.
func TestCallEndedFromEveryNode(t *testing.T) {
	m := New(Config{HasFallback: true})
	for _, start := range []State{{}, atLanguage, atName, atSpell, atDOB, atConfirm, atSSN4, verifying, atOTP, verifyingOTP, verified, failed, ended} {
		got, acts := m.Step(start, CallEnded{})
		if got.Node != NodeEnded || !got.Answers.IsZero() || acts != nil {
			t.Errorf("CallEnded at %q: node %q, answers zero %v, actions %v; want ended, true, none",
				start.Node, got.Node, got.Answers.IsZero(), acts)
		}
	}
}

// TestResumeNeverChangesState: Resume re-asks, whatever the node.
func TestResumeNeverChangesState(t *testing.T) {
	m := New(Config{})
	for _, start := range []State{atLanguage, atName, atSpell, atDOB, atConfirm, atSSN4, verifying, atOTP, verifyingOTP, verified, failed, ended,
		with(atDOB, func(s *State) { s.Misses = 1; s.Notice = prompts.MismatchRetry })} {
		got, acts := m.Step(start, Resume{})
		if got != start {
			t.Errorf("Resume at %q changed the state:\n%s", start.Node, cmp.Diff(got, start))
		}
		if start.Node != NodeEnded && len(acts) == 0 {
			t.Errorf("Resume at %q: no actions", start.Node)
		}
	}
}

// TestUnstartedCall: an event other than Start on a call the transport has no
// state for (zero State) must still tell the transport what to do.
func TestUnstartedCall(t *testing.T) {
	m := New(Config{})
	for _, ev := range []Event{quiet, Poll{}, Resume{}, VerifyResult{Outcome: OutcomeVerified}} {
		got, acts := m.Step(State{}, ev)
		if len(acts) == 0 || got.Node == "" {
			t.Errorf("%T on a zero State: node %q, %d actions; want the greeting", ev, got.Node, len(acts))
		}
	}
}

func TestPhase(t *testing.T) {
	tests := []struct {
		node Node
		want ivr.Phase
	}{
		{"", ivr.PhaseCollecting},
		{NodeLanguage, ivr.PhaseCollecting},
		{NodeName, ivr.PhaseCollecting},
		{NodeSpell, ivr.PhaseCollecting},
		{NodeDOB, ivr.PhaseCollecting},
		{NodeConfirmDOB, ivr.PhaseCollecting},
		{NodeSSN4, ivr.PhaseCollecting},
		{NodeOTP, ivr.PhaseCollecting},
		{NodeVerifying, ivr.PhaseVerifying},
		{NodeVerified, ivr.PhaseVerified},
		{NodeFailed, ivr.PhaseFailed},
		{NodeEnded, ivr.PhaseEnded},
	}
	for _, tt := range tests {
		s := State{Node: tt.node}
		if got := s.Phase(); got != tt.want {
			t.Errorf("State{Node: %q}.Phase() = %q, want %q", tt.node, got, tt.want)
		}
		wantTerminal := tt.node == NodeVerified || tt.node == NodeFailed || tt.node == NodeEnded
		if got := s.Terminal(); got != wantTerminal {
			t.Errorf("State{Node: %q}.Terminal() = %v, want %v", tt.node, got, wantTerminal)
		}
	}
}

func TestOutcomeString(t *testing.T) {
	for o, want := range map[Outcome]string{
		OutcomeUnavailable: "unavailable", OutcomeVerified: "verified", OutcomeOTPRequired: "otp_required",
		OutcomeDenied: "denied", OutcomeInvalidSession: "invalid_session", OutcomeRedirectToWeb: "redirect_to_web",
		OutcomeLocked: "locked", OutcomeCallerLimited: "caller_limited", Outcome(-1): "unknown", Outcome(8): "unknown",
	} {
		if got := o.String(); got != want {
			t.Errorf("Outcome(%d).String() = %q, want %q", int(o), got, want)
		}
	}
}

func TestNewFillsDefaults(t *testing.T) {
	got := New(Config{HasFallback: true}).Config()
	want := DefaultConfig()
	want.HasFallback = true
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("New(Config{HasFallback: true}).Config() (-got +want):\n%s", diff)
	}
}

func BenchmarkStepDOBKeypad(b *testing.B) {
	b.ReportAllocs()
	m := New(DefaultConfig())
	ev := keys("01051980")
	for b.Loop() {
		m.Step(atDOB, ev)
	}
}

func TestAnswersLost(t *testing.T) {
	m := New(Config{})
	dob, _ := kba.ParseISODate("1980-01-05")
	tests := []struct {
		name     string
		start    State
		wantNode Node
	}{
		{"at the date of birth: back to the name", State{Node: NodeDOB, Lang: kba.English, Answers: Answers{Name: kba.Name{Given: "A", Family: "B"}}}, NodeName},
		{"verifying: back to the name", State{Node: NodeVerifying, Lang: kba.English, Attempts: 1, Answers: Answers{DOB: dob, SSN4: "1234"}}, NodeName},
		{"at the name: stays", State{Node: NodeName, Lang: kba.English}, NodeName},
		{"verified: stays", State{Node: NodeVerified, Lang: kba.English}, NodeVerified},
	}
	for _, tt := range tests {
		got, acts := m.Step(tt.start, AnswersLost{})
		if got.Node != tt.wantNode || !got.Answers.IsZero() || len(acts) == 0 {
			t.Errorf("%s: node %s answers zero %v actions %d", tt.name, got.Node, got.Answers.IsZero(), len(acts))
		}
		if got.Attempts != tt.start.Attempts {
			t.Errorf("%s: attempts %d, want %d (a lost answer is not a try)", tt.name, got.Attempts, tt.start.Attempts)
		}
	}
}
