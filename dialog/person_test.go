package dialog

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestAskedForPerson: speech that asks for a person while a question is open
// takes the failure path at once when there are humans to transfer to, and
// is an answer not understood when there are none. Keys and answers that
// only look alike are not requests.
func TestAskedForPerson(t *testing.T) {
	t.Parallel()
	toHumans := func(start State) State {
		return with(start, func(s *State) {
			s.Node, s.Reason, s.Answers, s.Notice = NodeFailed, ReasonAskedForPerson, Answers{}, ""
		})
	}
	missed := func(start State) State { return with(start, func(s *State) { s.Misses++ }) }
	spanish := func(start State) State { return with(start, func(s *State) { s.Lang = es }) }
	tests := []struct {
		name        string
		cfg         Config
		start       State
		in          Input
		want        State
		wantActions []Action
	}{
		// A fallback is configured: transferred at once, on every question.
		{"fallback/language", withFallback, atLanguage, said("agent"), toHumans(atLanguage), transfer},
		{"fallback/name", withFallback, atName, said("I want to speak to a representative"), toHumans(atName), transfer},
		{"fallback/spell", withFallback, atSpell, said("operator"), toHumans(atSpell), transfer},
		{"fallback/dob", withFallback, atDOB, said("can I talk to a real person"), toHumans(atDOB), transfer},
		{"fallback/confirm", withFallback, atConfirm, said("no, get me an agent"), toHumans(atConfirm), transfer},
		{"fallback/ssn4-spanish", withFallback, spanish(atSSN4), said("quiero hablar con una persona"), toHumans(spanish(atSSN4)), transfer},
		{"fallback/otp", withFallback, atOTP, said("representante por favor"), toHumans(atOTP), transfer},
		{"fallback/after-a-miss", withFallback, missed(atName), said("operator"), toHumans(missed(atName)), transfer},
		// Not requests: the keypad, a name, and speech while no question is open.
		{"fallback/keypad-zero", withFallback, atSSN4, keys("0"), missed(atSSN4), acts(repromptSSN4)},
		{"fallback/a-name", withFallback, atName, said("Maria Garcia"), with(atName, func(s *State) {
			s.Node, s.Answers.Name = NodeDOB, testName
		}), acts(askDOB)},
		{"fallback/while-verifying", withFallback, verifying, said("agent"), verifying, acts(Hold{})},
		// No fallback: nobody to transfer to, so the request is a miss.
		{"no-fallback/name", Config{}, atName, said("agent"), missed(atName), acts(repromptName)},
		{"no-fallback/spell", Config{}, atSpell, said("operator"), missed(atSpell), acts(repromptSpell)},
		{"no-fallback/ssn4", Config{}, atSSN4, said("representative"), missed(atSSN4), acts(repromptSSN4)},
		{"no-fallback/dob-second-miss", Config{}, missed(atDOB), said("talk to a person"), with(atDOB, func(s *State) {
			s.Node, s.Misses, s.Reason, s.Answers = NodeFailed, 2, ReasonNoInput, Answers{}
		}), goodbye},
		{"no-fallback/language-takes-the-default", Config{}, atLanguage, said("agente"), atName, acts(askName)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, got := New(tt.cfg).Step(tt.start, tt.in)
			if diff := cmp.Diff(s, tt.want); diff != "" {
				t.Errorf("state (-got +want):\n%s", diff)
			}
			if diff := cmp.Diff(got, tt.wantActions); diff != "" {
				t.Errorf("actions (-got +want):\n%s", diff)
			}
		})
	}
}
