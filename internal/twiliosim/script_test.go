package twiliosim

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ivr-gateway/ivr/internal/testlog"
)

func TestParseScript(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    []ScriptLine
		wantErr string // substring; "" = no error
	}{
		{"empty", "", nil, ""},
		{"comments and blanks", "# a call\n\n   # indented comment\n\t\n", nil, ""},
		{"all kinds", "say:Maria Garcia\ndtmf:01051980\nsilence\nsay@0.35: Maria  Garcia \ndtmf:12#\nhangup\n",
			[]ScriptLine{
				{Kind: "say", Value: "Maria Garcia", Confidence: 0.9},
				{Kind: "dtmf", Value: "01051980"},
				{Kind: "silence"},
				{Kind: "say", Value: "Maria  Garcia", Confidence: 0.35},
				{Kind: "dtmf", Value: "12#"},
				{Kind: "hangup", Value: "completed"},
			}, ""},
		{"crlf and spaces", "  dtmf : 1234 \r\nhangup:busy\r\n", []ScriptLine{{Kind: "dtmf", Value: "1234"}, {Kind: "hangup", Value: "busy"}}, ""},
		{"colon in speech", "say:ten: thirty", []ScriptLine{{Kind: "say", Value: "ten: thirty", Confidence: 0.9}}, ""},
		{"confidence bounds", "say@0:a\nsay@1:b", []ScriptLine{{Kind: "say", Value: "a"}, {Kind: "say", Value: "b", Confidence: 1}}, ""},
		{"unknown kind", "# c\npress:1234", nil, "line 2: unknown kind"},
		{"no prefix", "Maria Garcia", nil, "line 1: unknown kind"},
		{"upper-case kind", "DTMF:1", nil, "unknown kind"},
		{"bad key", "dtmf:12a4", nil, "dtmf takes only"},
		{"empty dtmf", "dtmf:", nil, "dtmf needs keys"},
		{"empty say", "say:  ", nil, "say needs words"},
		{"confidence too high", "say@1.5:x", nil, "from 0 to 1"},
		{"confidence NaN", "say@NaN:x", nil, "from 0 to 1"},
		{"confidence on dtmf", "dtmf@0.5:1", nil, "only allowed on say"},
		{"silence with value", "silence:5", nil, "takes no value"},
		{"bad hangup status", "hangup:in-progress", nil, "hangup takes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseScript(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrScript) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrScript containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("lines (-got +want):\n%s", diff)
			}
		})
	}
}

// TestScriptRedaction: answers never reach an error message or a log line.
func TestScriptRedaction(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"dtmf:0105x980", "Maria Garcia", "say@2:Maria Garcia", "silence:Maria"} {
		_, err := ParseScript(strings.NewReader(in))
		if err == nil {
			t.Fatalf("%q parsed", in)
		}
		for _, secret := range []string{"0105", "Maria"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q leaks the answer", err)
			}
		}
	}
	l := ScriptLine{Kind: "say", Value: "Maria Garcia", Confidence: 0.9}
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, &slog.HandlerOptions{ReplaceAttr: testlog.NoTime})).Info("line", "line", l)
	for _, s := range []string{fmt.Sprint(l), fmt.Sprintf("%v", []ScriptLine{l}), b.String()} {
		if strings.Contains(s, "Maria") {
			t.Errorf("%q leaks the answer", s)
		}
	}
}

// TestDo plays a script against a gateway that asks a name and a date of
// birth, then hangs up.
func TestDo(t *testing.T) {
	t.Parallel()
	g := newGateway(t, map[string][]reply{
		"/twilio/voice": {{Body: twiml(`<Gather input="speech" action="/twilio/gather?step=1"><Say>Your name?</Say></Gather><Redirect>/twilio/gather?step=1</Redirect>`)}},
		"/twilio/gather": {
			{Body: twiml(`<Say>Sorry.</Say><Gather input="speech" action="/twilio/gather?step=1"><Say>Your name?</Say></Gather><Redirect>/twilio/gather?step=1</Redirect>`)},
			{Body: twiml(dobGather)},
			{Body: twiml(`<Say>Thank you.</Say><Redirect>https://agent.example.com/handoff</Redirect>`)},
		},
		"/twilio/status": {{}},
	})
	lines, err := ParseScript(strings.NewReader("silence\nsay@0.8:Maria Garcia\ndtmf:01051980\nhangup\n"))
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := Dial(t.Context(), g.config())
	if err != nil {
		t.Fatal(err)
	}
	var ends []string
	for _, l := range lines {
		turn, err := c.Do(t.Context(), l)
		if err != nil {
			t.Fatalf("%v: %v", l, err)
		}
		ends = append(ends, fmt.Sprintf("%s polls=%d gather=%v", turn.End, turn.Polls, turn.Gather != nil))
	}
	want := []string{" polls=1 gather=true", " polls=0 gather=true", "redirect:https://agent.example.com/handoff polls=0 gather=false", "caller-hangup polls=0 gather=false"}
	if diff := cmp.Diff(ends, want); diff != "" {
		t.Errorf("turns (-got +want):\n%s", diff)
	}
	if _, err := c.Do(t.Context(), ScriptLine{Kind: "wave"}); !errors.Is(err, ErrScript) {
		t.Errorf("Do(unknown kind): %v, want ErrScript", err)
	}
}

func FuzzParseScript(f *testing.F) {
	for _, s := range []string{
		"dtmf:01051980\nsay:Maria Garcia\nsilence\nhangup\n",
		"# comment\nsay@0.35:Maria\n",
		"hangup:busy", "say@:x", "dtmf:#*", ":", "@:", "say@1e-3:x\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		lines, err := ParseScript(strings.NewReader(in))
		if err != nil {
			if !errors.Is(err, ErrScript) && !strings.Contains(err.Error(), "read script") {
				t.Fatalf("error does not wrap ErrScript: %v", err)
			}
			return
		}
		for _, l := range lines {
			switch l.Kind {
			case KindDTMF:
				if l.Value == "" || strings.Trim(l.Value, "0123456789*#") != "" {
					t.Fatalf("bad dtmf value accepted: %q", l.Value)
				}
			case KindSay:
				if l.Value == "" || !(l.Confidence >= 0 && l.Confidence <= 1) {
					t.Fatalf("bad say accepted: %+v", l)
				}
			case KindSilence:
				if l.Value != "" {
					t.Fatalf("silence with value accepted")
				}
			case KindHangup:
				if !terminal(l.Value) {
					t.Fatalf("bad hangup status accepted: %q", l.Value)
				}
			default:
				t.Fatalf("unknown kind accepted: %q", l.Kind)
			}
			// A parsed line written back parses to itself.
			s := l.Kind
			if l.Kind == KindSay {
				s += fmt.Sprintf("@%v", l.Confidence)
			}
			if l.Value != "" {
				s += ":" + l.Value
			}
			again, err := ParseScript(strings.NewReader(s))
			if err != nil || len(again) != 1 || again[0] != l {
				t.Fatalf("round trip of %+v: %+v, %v", l, again, err)
			}
		}
	})
}
