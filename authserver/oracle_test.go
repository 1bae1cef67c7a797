package authserver

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// withoutPatient drops one patient from the file, so a server started with
// it is the same server for everyone else.
func withoutPatient(id string) asOption {
	return func(c *Config) {
		c.Patients = slices.DeleteFunc(slices.Clone(c.Patients), func(p Patient) bool { return p.ID == id })
	}
}

// seen is what an outsider sees of a challenge answer.
func seen(a answer) string {
	return fmt.Sprintf("%d %s retry-after=%q", a.status, a.raw, a.header.Get("Retry-After"))
}

// TestLockoutRevealsNoPatient is the review's attack (issue 9, item 1),
// written as a test: three failures with "Maria Garcia" and a candidate date
// of birth, then one claim respelled "Maria Garcias" with the same date. The
// answer to the fourth claim must not depend on whether the date is the
// patient's real one.
func TestLockoutRevealsNoPatient(t *testing.T) {
	t.Parallel()
	probe := func(dob string) string {
		as := newTestAS(t, "")
		_, ch := pkce(t)
		for i := range 3 {
			as.challenge(t, kbaForm(ch, "Maria", "Garcia", dob, fmt.Sprintf("%04d", 9000+i)))
		}
		return seen(as.challenge(t, kbaForm(ch, "Maria", "Garcias", dob, "9003")))
	}
	real, other := probe("1980-01-05"), probe("1980-01-06")
	if real != other {
		t.Errorf("the respelled claim is answered differently when the date of birth is the patient's:\n real date:  %s\n other date: %s", real, other)
	}
}

// TestAnswersDoNotDependOnThePatientFile plays the same claims against a
// server that has Maria García on file and one that does not. As long as
// neither gives a code, every answer must be the same: status, error,
// attempts_remaining and headers. The claims fit her (name and real date of
// birth) in every spelling an attacker could try, with wrong and, while she
// is locked, right SSN digits.
func TestAnswersDoNotDependOnThePatientFile(t *testing.T) {
	t.Parallel()
	type step struct {
		given, family, dob, ssn string
		advance                 time.Duration
	}
	const real = "1980-01-05"
	scripted := []step{
		{"Maria", "Garcia", real, "9000", 0},
		{"Maria", "Garcias", real, "9001", time.Minute},
		{"Maria", "Garcian", real, "9002", 0},
		// Her counter is over the limit now; no claim counter is.
		{"Maria", "Garcija", real, "1234", 0}, // the right digits: silently refused
		{"Maria", "Garcial", real, "9003", 0},
		{"M", "Garcíab", real, "1234", time.Minute},
		{"Maria", "Garcia", real, "9004", 0},
		{"Maria", "Garcia", real, "1234", 0}, // "Garcia" locked: 429 from the claim counter
		{"Maria", "Garcias", real, "1234", 0},
		{"Maria", "Garcias", real, "9005", 0},
		{"Maria", "Garcias", real, "9006", 0},
	}
	run := func(t *testing.T, steps []step) {
		t.Helper()
		with := newTestAS(t, "")
		without := newTestAS(t, "", withoutPatient("pat-0001"))
		_, ch := pkce(t)
		for i, s := range steps {
			with.clock.Add(s.advance)
			without.clock.Add(s.advance)
			form := kbaForm(ch, s.given, s.family, s.dob, s.ssn)
			a, b := with.challenge(t, form), without.challenge(t, form)
			if a.status == 200 {
				return // a code: the caller knew all three answers
			}
			if seen(a) != seen(b) {
				t.Fatalf("step %d (%s %s, %s digits): the answer depends on the patient file:\n on file:     %s\n not on file: %s",
					i, s.given, s.family, map[bool]string{true: "right", false: "wrong"}[s.ssn == "1234"], seen(a), seen(b))
			}
		}
	}
	t.Run("scripted", func(t *testing.T) {
		t.Parallel()
		run(t, scripted)
	})
	// Random walks over spellings, dates and pauses (wrong digits only, so
	// no walk ends in a code).
	spellings := []string{"Garcia", "García", "Garsia", "Garcias", "Garcian", "Garcija", "Garcial", "Garchia", "Alpha Garcia", "de Garcia"}
	dobs := []string{real, "1980-01-06", "1980-05-01"}
	pauses := []time.Duration{0, 0, 0, time.Minute, 5 * time.Minute, 16 * time.Minute}
	for seed := range uint64(4) {
		t.Run(fmt.Sprintf("random/%d", seed), func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(seed, 9))
			var steps []step
			for range 30 {
				steps = append(steps, step{"Maria", spellings[r.IntN(len(spellings))], dobs[r.IntN(len(dobs))],
					fmt.Sprintf("%04d", 5000+r.IntN(1000)), pauses[r.IntN(len(pauses))]})
			}
			run(t, steps)
		})
	}
}
