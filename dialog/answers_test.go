package dialog

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ivr-gateway/ivr/internal/testlog"
	"github.com/ivr-gateway/ivr/kba"
	"github.com/ivr-gateway/ivr/prompts"
)

// planted is a test identity whose every part is distinctive, so a leak is
// found by a plain substring search.
var planted = Answers{
	Name:        kba.Name{Given: "Zebulon", Family: "Quixotewright"},
	DOB:         kba.Date{Year: 1953, Month: time.July, Day: 19},
	SSN4:        "8642",
	OTP:         "975310",
	AuthSession: "sess-PLANTED-beef",
}

// plantedNeedles are the substrings that must never appear in output.
var plantedNeedles = []string{"Zebulon", "Quixotewright", "1953", "07-19", "8642", "975310", "PLANTED"}

// assertNoLeak fails when out contains any planted value.
func assertNoLeak(tb testing.TB, what, out string) {
	tb.Helper()
	for _, n := range plantedNeedles {
		if strings.Contains(out, n) {
			tb.Errorf("%s leaks %q: %s", what, n, out)
		}
	}
}

func TestAnswersBinaryRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   Answers
	}{
		{"all", planted},
		{"name-only", Answers{Name: planted.Name}},
		{"family-only", Answers{Name: kba.Name{Family: "Quixotewright"}}},
		{"dob-only", Answers{DOB: planted.DOB}},
		{"session-only", Answers{AuthSession: planted.AuthSession}},
		{"no-otp", Answers{Name: planted.Name, DOB: planted.DOB, SSN4: planted.SSN4, AuthSession: planted.AuthSession}},
		{"unicode", Answers{Name: kba.Name{Given: "José", Family: "de la Cruz Núñez"}, SSN4: "0001"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.in.MarshalBinary()
			if err != nil {
				t.Fatalf("MarshalBinary: %v", err)
			}
			if len(b) == 0 {
				t.Fatal("MarshalBinary of non-zero answers is empty")
			}
			got := Answers{SSN4: "stale"} // UnmarshalBinary must replace, not merge
			if err := got.UnmarshalBinary(b); err != nil {
				t.Fatalf("UnmarshalBinary: %v", err)
			}
			if diff := cmp.Diff(got, tt.in); diff != "" {
				t.Errorf("round trip (-got +want):\n%s", diff)
			}
		})
	}
}

func TestAnswersZero(t *testing.T) {
	b, err := Answers{}.MarshalBinary()
	if b != nil || err != nil {
		t.Errorf("Answers{}.MarshalBinary() = %q, %v; want nil, nil", b, err)
	}
	for _, in := range [][]byte{nil, {}} {
		got := planted
		if err := got.UnmarshalBinary(in); err != nil {
			t.Errorf("UnmarshalBinary(%q): %v", in, err)
		}
		if !got.IsZero() {
			t.Errorf("UnmarshalBinary(%q) did not reset the answers", in)
		}
	}
	if (Answers{}).IsZero() != true || planted.IsZero() {
		t.Error("IsZero is wrong")
	}
}

func TestAnswersMalformed(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"not-json", "Zebulon Quixotewright 8642"},
		{"truncated", `{"g":"Zebulon","f":"Quixotewright","s":"8642`},
		{"wrong-type", `{"g":"Zebulon","s":8642}`},
		{"array", `["Zebulon","8642"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a Answers
			err := a.UnmarshalBinary([]byte(tt.in))
			if err == nil {
				t.Fatal("UnmarshalBinary accepted malformed input")
			}
			if !strings.HasPrefix(err.Error(), "dialog: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			assertNoLeak(t, "error", err.Error())
		})
	}
}

func TestAnswersMalformedDate(t *testing.T) {
	for _, in := range []string{
		`{"g":"Zebulon","f":"Quixotewright","d":"1953-13-45","s":"8642"}`,
		`{"g":"Zebulon","f":"Quixotewright","d":"July 19 1953","s":"8642"}`,
	} {
		var a Answers
		err := a.UnmarshalBinary([]byte(in))
		if err == nil {
			t.Fatalf("UnmarshalBinary(%s) accepted a bad date", in)
		}
		assertNoLeak(t, "error", err.Error())
	}
}

// TestAnswersMalformedLeavesNothing: on error the receiver must not hold
// half-decoded personal data a careless caller could go on to use.
func TestAnswersMalformedLeavesNothing(t *testing.T) {
	a := planted
	if err := a.UnmarshalBinary([]byte(`{"g":"Zebulon","s":"8642","d":"1953-13-45"}`)); err == nil {
		t.Fatal("UnmarshalBinary accepted a bad date")
	}
	if !a.IsZero() {
		t.Error("UnmarshalBinary error left decoded answers in the receiver")
	}
}

func TestAnswersRedactFmt(t *testing.T) {
	st := State{Node: NodeSSN4, Lang: kba.English, Answers: planted}
	for _, verb := range []string{"%v", "%s", "%+v", "%#v", "%q", "%x", "%d", "%T %[1]v"} {
		assertNoLeak(t, "Answers "+verb, fmt.Sprintf(verb, planted))
		assertNoLeak(t, "*Answers "+verb, fmt.Sprintf(verb, &planted))
		assertNoLeak(t, "State "+verb, fmt.Sprintf(verb, st))
		assertNoLeak(t, "*State "+verb, fmt.Sprintf(verb, &st))
	}
	assertNoLeak(t, "Println", fmt.Sprintln(planted, st))
	for what, got := range map[string]string{
		"fmt.Sprint": fmt.Sprint(planted), "String": planted.String(), "GoString": planted.GoString(),
	} {
		if got != "[redacted]" {
			t.Errorf("%s(answers) = %q, want [redacted]", what, got)
		}
	}
}

func TestAnswersRedactSlog(t *testing.T) {
	st := State{Node: NodeSSN4, Lang: kba.English, Answers: planted}
	for _, h := range []struct {
		name string
		new  func(*bytes.Buffer) slog.Handler
	}{
		{"json", func(b *bytes.Buffer) slog.Handler {
			return slog.NewJSONHandler(b, &slog.HandlerOptions{ReplaceAttr: testlog.NoTime})
		}},
		{"text", func(b *bytes.Buffer) slog.Handler {
			return slog.NewTextHandler(b, &slog.HandlerOptions{ReplaceAttr: testlog.NoTime})
		}},
	} {
		t.Run(h.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(h.new(&buf))
			log.Info("step", "answers", planted, "answers_ptr", &planted, "state", st, "state_ptr", &st,
				slog.Group("call", "answers", planted))
			log.With("answers", planted).Info("with")
			out := buf.String()
			assertNoLeak(t, "slog "+h.name, out)
			if !strings.Contains(out, "[redacted]") {
				t.Errorf("slog %s output has no [redacted] marker: %s", h.name, out)
			}
			if !strings.Contains(out, "ssn4") {
				t.Errorf("slog %s output lost the non-personal state: %s", h.name, out)
			}
		})
	}
}

// TestActionsRedactSlog: the executor logs each transition's actions
// (style guide G11); the read-back Say carries the date of birth.
func TestActionsRedactSlog(t *testing.T) {
	_, actions := New(Config{}).Step(
		State{Node: NodeDOB, Lang: kba.English, Answers: Answers{Name: planted.Name}},
		Input{Speech: "oh seven one nine fifty three", At: testNow})
	if len(actions) != 1 {
		t.Fatalf("want one Ask, got %v", actions)
	}
	if a, ok := actions[0].(Ask); !ok || a.Question != NodeConfirmDOB || a.Say[len(a.Say)-1].Prompt != prompts.ConfirmDOB {
		t.Fatalf("want the read-back question, got %v", actions)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		assertNoLeak(t, "actions "+verb, fmt.Sprintf(verb, actions))
	}
	var text bytes.Buffer
	slog.New(slog.NewTextHandler(&text, &slog.HandlerOptions{ReplaceAttr: testlog.NoTime})).Info("step", "actions", actions)
	assertNoLeak(t, "slog text actions", text.String())

	t.Run("json", func(t *testing.T) {
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: testlog.NoTime})).Info("step", "actions", actions)
		assertNoLeak(t, "slog json actions", buf.String())
	})
}
