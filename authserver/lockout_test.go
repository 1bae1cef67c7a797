package authserver

import (
	"fmt"
	"testing"
)

// TestLockoutCannotBeReworded: once "Garcia"/1980-01-05 is locked, no
// rewording of the family name (another part in front, a particle, a
// respelling) reaches the patient, and a correct answer is still refused.
func TestLockoutCannotBeReworded(t *testing.T) {
	as := newTestAS(t, "")
	_, ch := pkce(t)
	for i := range 3 {
		as.challenge(t, kbaForm(ch, "Maria", "Garcia", "1980-01-05", fmt.Sprintf("%04d", 9000+i)))
	}
	tests := []struct{ family, ssn string }{
		{"Garcia", "1234"},
		{"Alpha Garcia", "1234"},
		{"X-Garcia", "1234"},
		{"Hotel Garcia", "0007"},
		{"de Garcia", "1234"},
		{"van Garcia", "0000"},
		{"García", "1234"},
		{"Garsia", "1234"},
	}
	for _, tt := range tests {
		if a := as.challenge(t, kbaForm(ch, "Maria", tt.family, "1980-01-05", tt.ssn)); a.status != 429 {
			t.Errorf("%q while locked: %d %s, want 429 slow_down", tt.family, a.status, a.raw)
		}
	}
}

// TestGuessesCountAgainstThePatient: three wrong guesses that each name the
// patient differently still lock that patient.
func TestGuessesCountAgainstThePatient(t *testing.T) {
	as := newTestAS(t, "")
	_, ch := pkce(t)
	for i, family := range []string{"Alpha Garcia", "Bravo Garcia", "Charlie Garcia"} {
		a := as.challenge(t, kbaForm(ch, "Maria", family, "1980-01-05", fmt.Sprintf("%04d", 9000+i)))
		if a.status != 400 {
			t.Fatalf("guess %d: %d %s", i, a.status, a.raw)
		}
	}
	if a := as.challenge(t, kbaForm(ch, "Maria", "Delta Garcia", "1980-01-05", "1234")); a.status != 429 {
		t.Errorf("fourth guess with the right SSN: %d %s, want 429", a.status, a.raw)
	}
}
