package dialog

import (
	"fmt"
	"testing"

	"github.com/ivr-gateway/ivr/kba"
)

// What callers press and say, realistic and not.
var (
	fuzzDigits = []string{"", "1", "2", "3", "9", "0", "01051980", "01052030", "13451980", "0105",
		"4821", "123", "12345", "739215", "111111", "12345678", "*", "#"}
	fuzzSpeech = []string{"", "Maria Garcia", "my name is Maria Garcia", "María García", "um", "Maria",
		"español", "English", "G A R C I A", "G as in George, A, R, C, I, A", "blah blah",
		"January fifth nineteen eighty", "oh one oh five eighty", "cinco de enero de mil novecientos ochenta",
		"December first twenty thirty", "yesterday", "yes", "no", "sí", "I'm not sure",
		"four eight two one", "twelve thirty-four", "cuatro ocho dos uno", "seven three nine two one five", "one two three"}
	fuzzSessions = []string{"", "as-sess-1", "as-sess-2"}
)

// fuzzCall decodes fuzz bytes into a Config and a sequence of events.
type fuzzCall struct {
	data []byte
}

func (f *fuzzCall) next() byte {
	if len(f.data) == 0 {
		return 0
	}
	b := f.data[0]
	f.data = f.data[1:]
	return b
}

func (f *fuzzCall) config() Config {
	b := f.next()
	cfg := Config{
		MaxAttempts: 1 + int(b&3)%3,
		MaxPolls:    1 + int(b>>2&3),
		HasFallback: b&16 != 0,
		Languages:   []kba.Lang{kba.English, kba.Spanish},
	}
	if b&32 != 0 {
		cfg.Languages = cfg.Languages[:1]
	}
	switch b >> 6 {
	case 1:
		cfg.MaxMisses = 1
	case 2:
		cfg.MaxMisses = 3
	case 3:
		cfg.SpellBelow = -1
	}
	return cfg
}

func (f *fuzzCall) event() Event {
	switch op := f.next() % 16; op {
	case 0:
		return Start{}
	case 1, 2, 3:
		return Input{Digits: fuzzDigits[int(f.next())%len(fuzzDigits)], At: testNow}
	case 4, 5, 6, 7:
		in := Input{Speech: fuzzSpeech[int(f.next())%len(fuzzSpeech)], At: testNow}
		if c := f.next(); c&1 != 0 {
			in.Confidence, in.HasConfidence = float64(c>>1)/127, true
		}
		return in
	case 8, 9, 10:
		b := f.next()
		return VerifyResult{
			Outcome:           Outcome(b % 9), // 8 is not a known outcome
			AuthSession:       fuzzSessions[int(b>>4)%len(fuzzSessions)],
			AttemptsRemaining: int(b>>6) - 1,
		}
	case 11, 12:
		return Poll{}
	case 13:
		return Resume{}
	case 14:
		return Input{At: testNow}
	default:
		if f.next()%4 == 0 {
			return CallEnded{}
		}
		return Resume{}
	}
}

func hasVerify(actions []Action) bool {
	for _, a := range actions {
		if _, ok := a.(Verify); ok {
			return true
		}
	}
	return false
}

var questionNodes = map[Node]bool{
	NodeLanguage: true, NodeName: true, NodeSpell: true, NodeDOB: true,
	NodeConfirmDOB: true, NodeSSN4: true, NodeOTP: true,
}

// FuzzStep drives whole calls from Start and checks the machine's invariants
// after every event.
func FuzzStep(f *testing.F) {
	f.Add([]byte{0x00})
	// Happy path: English by key 1, name, keypad DOB, SSN-4, verified.
	f.Add([]byte{0x00, 0, 1, 1, 4, 1, 0xff, 1, 6, 1, 10, 8, 1})
	// Mismatch, then OTP step-up, polls, invalid session.
	f.Add([]byte{0x13, 0, 14, 4, 2, 0xff, 1, 6, 1, 10, 8, 3, 11, 4, 24, 0, 1, 6, 1, 10, 8, 2, 1, 13, 8, 4, 8, 4})
	// Ambiguous DOB read back, "no", misses, then the call ends.
	f.Add([]byte{0x20, 0, 4, 1, 0xff, 4, 12, 0xff, 4, 17, 0xff, 14, 15, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		fc := &fuzzCall{data: data}
		m := New(fc.config())
		cfg := m.Config()
		s, actions := m.Step(State{}, Start{})
		if len(actions) == 0 {
			t.Fatal("Start: no actions")
		}
		var trace []string
		for i := 0; len(fc.data) > 0 && i < 200; i++ {
			ev := fc.event()
			prev := s
			s, actions = m.Step(prev, ev)
			trace = append(trace, fmt.Sprintf("%T@%s", ev, prev.Node))
			fail := func(format string, args ...any) {
				t.Helper()
				t.Fatalf("after %v: "+format, append([]any{trace}, args...)...)
			}
			_, isEnd := ev.(CallEnded)
			switch {
			case prev.Node == NodeEnded:
				if s != prev || actions != nil {
					fail("ended call changed: %+v -> %+v, actions %v", prev, s, actions)
				}
			case isEnd:
				if s.Node != NodeEnded || actions != nil {
					fail("CallEnded gave node %q, actions %v", s.Node, actions)
				}
			case prev.Node == NodeVerified || prev.Node == NodeFailed:
				if s != prev {
					fail("terminal state changed: %+v -> %+v", prev, s)
				}
			}
			if prev.Node != NodeEnded && !isEnd && len(actions) == 0 {
				fail("no actions at %q", s.Node)
			}
			if hasVerify(actions) && s.Node != NodeVerifying {
				fail("Verify while moving to %q", s.Node)
			}
			if prev.Node != NodeVerifying && s.Node == NodeVerifying && !hasVerify(actions) {
				fail("entered verifying without Verify: %v", actions)
			}
			if s.Attempts > cfg.MaxAttempts {
				fail("attempts %d > max %d", s.Attempts, cfg.MaxAttempts)
			}
			if s.Terminal() && !s.Answers.IsZero() {
				fail("answers kept in %q", s.Node)
			}
			if questionNodes[s.Node] && s.Misses >= cfg.MaxMisses {
				fail("misses %d at %q (max %d)", s.Misses, s.Node, cfg.MaxMisses)
			}
			if s.Node == NodeFailed && s.Reason == "" {
				fail("failed without a reason")
			}
			if s.Node == NodeVerifying && s.Answers.SSN4 == "" {
				fail("verifying without the SSN last 4")
			}
		}
	})
}
