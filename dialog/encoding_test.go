package dialog

import (
	"strings"
	"testing"

	"github.com/ivr-gateway/ivr/kba"
	"github.com/ivr-gateway/ivr/prompts"
)

func TestStateTextRoundTrip(t *testing.T) {
	states := []State{
		{},
		{Node: NodeLanguage, Lang: kba.English},
		{Node: NodeDOB, Lang: kba.Spanish, Misses: 1, Attempts: 2},
		{Node: NodeVerifying, Lang: kba.English, Attempts: 3, Polls: 10, Retried: true},
		{Node: NodeName, Lang: kba.English, Attempts: 1, Notice: prompts.MismatchRetry},
		{Node: NodeFailed, Lang: kba.English, Reason: ReasonCallerLimit},
	}
	for _, s := range states {
		b, err := s.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var got State
		got.Answers.SSN4 = "kept"
		if err := got.UnmarshalText(b); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if got.Answers.SSN4 != "kept" {
			t.Error("UnmarshalText touched the answers")
		}
		got.Answers = Answers{}
		if got != s {
			t.Errorf("%s: got %+v, want %+v", b, got, s)
		}
	}
	b, _ := State{Node: NodeDOB, Lang: kba.English, Misses: 1}.MarshalText()
	if string(b) != "d1|dob|en-US|1|0|0|0||" {
		t.Errorf("stored form %q", b)
	}
}

// TestStateTextReadsJSON: sessions stored by an earlier version (JSON)
// still load after an upgrade.
func TestStateTextReadsJSON(t *testing.T) {
	old := State{Node: NodeSSN4, Lang: kba.Spanish, Misses: 1, Attempts: 2, Notice: prompts.MismatchRetry}
	b := []byte(`{"node":"ssn4","lang":"es-US","misses":1,"attempts":2,"notice":"mismatch_retry"}`)
	var got State
	if err := got.UnmarshalText(b); err != nil || got != old {
		t.Fatalf("JSON %s read as %+v, %v", b, got, err)
	}
}

func TestStateTextMalformed(t *testing.T) {
	for _, in := range []string{
		"", "d1", "d2|dob|en-US|0|0|0|0||", "d1|dob|en-US|0|0|0|0|", "d1|dob|en-US|0|0|0|0|||",
		"d1|nowhere|en-US|0|0|0|0||", "d1|dob|en-US|x|0|0|0||", "d1|dob|en-US|-1|0|0|0||",
		"d1|dob|en-US|0|0|0|2||", "d1|dob|en-US|9999999|0|0|0||", "{", "{\"node\":7}",
	} {
		var s State
		if err := s.UnmarshalText([]byte(in)); err == nil {
			t.Errorf("UnmarshalText(%q) accepted: %+v", in, s)
		} else if strings.Contains(err.Error(), in) && in != "" {
			t.Errorf("error repeats the data: %v", err)
		}
	}
}

// FuzzStateText: stored state read from Redis never panics, and what is
// accepted encodes back to itself.
func FuzzStateText(f *testing.F) {
	f.Add([]byte("d1|dob|en-US|1|0|0|0||"))
	f.Add([]byte(`{"node":"name","lang":"es-US"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s State
		if s.UnmarshalText(b) != nil || b[0] == '{' {
			return
		}
		again, _ := s.MarshalText()
		var s2 State
		if err := s2.UnmarshalText(again); err != nil || s2 != s {
			t.Fatalf("%q -> %+v -> %q -> %+v (%v)", b, s, again, s2, err)
		}
	})
}

func BenchmarkStateText(b *testing.B) {
	s := State{Node: NodeDOB, Lang: kba.English, Misses: 1, Attempts: 1}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = s.AppendText(buf[:0])
		var got State
		got.UnmarshalText(buf)
	}
}
