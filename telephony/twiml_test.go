package telephony

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ivr-gateway/ivr/callflow"
	"github.com/ivr-gateway/ivr/dialog"
	"github.com/ivr-gateway/ivr/internal/canon"
	"github.com/ivr-gateway/ivr/kba"
	"github.com/ivr-gateway/ivr/prompts"
)

// TestTwiMLGolden renders each kind of answer and compares its canonical
// form (attributes sorted: twilio-go writes them in random order) with
// testdata/twiml/<name>.golden. Regenerate with
// go test ./telephony -run TwiMLGolden -update-twiml.
func TestTwiMLGolden(t *testing.T) {
	cat, err := prompts.Load("en-US")
	if err != nil {
		t.Fatal(err)
	}
	m := dialog.New(dialog.Config{})
	dob, _ := kba.ParseISODate("1980-01-05")
	base := Config{PublicURL: "https://ivr.example.test", OrgName: "Example Health", HoldPause: 2 * time.Second}
	withHandoffNumber := base
	withHandoffNumber.HandoffNumber = "+15555550142"
	withHandoffURL := base
	withHandoffURL.HandoffURL = "https://agent.example.test/twiml"
	withStream := base
	withStream.Transport = TransportStream
	withRelay := base
	withRelay.Transport = TransportRelay
	withRelay.Voices = map[string]string{"es-US": "Google.es-US-Neural2-A"}
	withFallback := base
	withFallback.FallbackNumber = "+15555550199"
	prompt := func(s dialog.State) []dialog.Action { _, a := m.Step(s, dialog.Resume{}); return a }
	_, start := m.Step(dialog.State{}, dialog.Start{})
	tests := []struct {
		name    string
		cfg     Config
		lang    kba.Lang
		polls   int
		actions []dialog.Action
	}{
		{"greeting_language_menu", base, kba.English, 0, start},
		{"ask_name", base, kba.English, 0, prompt(dialog.State{Node: dialog.NodeName, Lang: kba.English})},
		{"ask_name_es", base, kba.Spanish, 0, prompt(dialog.State{Node: dialog.NodeName, Lang: kba.Spanish})},
		{"ask_dob", base, kba.English, 0, prompt(dialog.State{Node: dialog.NodeDOB, Lang: kba.English})},
		{"confirm_dob", base, kba.English, 0, prompt(dialog.State{Node: dialog.NodeConfirmDOB, Lang: kba.English, Answers: dialog.Answers{DOB: dob}})},
		{"ask_ssn4_reprompt", base, kba.English, 0, prompt(dialog.State{Node: dialog.NodeSSN4, Lang: kba.English, Misses: 1})},
		{"ask_dob_stream", withStream, kba.English, 0, prompt(dialog.State{Node: dialog.NodeDOB, Lang: kba.English})},
		{"ask_name_stream", withStream, kba.English, 0, prompt(dialog.State{Node: dialog.NodeName, Lang: kba.English})},
		// Every question of a relay call is one <ConversationRelay>: the
		// session speaks it; the <Language>s give each language its voice.
		{"ask_name_relay_es", withRelay, kba.Spanish, 0, prompt(dialog.State{Node: dialog.NodeName, Lang: kba.Spanish})},
		{"ask_otp", base, kba.English, 0, prompt(dialog.State{Node: dialog.NodeOTP, Lang: kba.English})},
		{"hold_first", base, kba.English, 0, []dialog.Action{dialog.Hold{}}},
		{"hold_again", base, kba.English, 1, []dialog.Action{dialog.Hold{}}},
		{"handoff_url", withHandoffURL, kba.English, 0, prompt(dialog.State{Node: dialog.NodeVerified, Lang: kba.English})},
		{"handoff_number", withHandoffNumber, kba.English, 0, prompt(dialog.State{Node: dialog.NodeVerified, Lang: kba.English})},
		{"fallback_transfer", withFallback, kba.English, 0, prompt(dialog.State{Node: dialog.NodeFailed, Reason: dialog.ReasonAttempts, Lang: kba.English})},
		{"fallback_goodbye", base, kba.English, 0, prompt(dialog.State{Node: dialog.NodeFailed, Reason: dialog.ReasonNoInput, Lang: kba.English})},
		{"trouble_transfer", withFallback, kba.English, 0, prompt(dialog.State{Node: dialog.NodeFailed, Reason: dialog.ReasonUnavailable, Lang: kba.English})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			r := &renderer{cfg: &cfg, cat: cat, lang: tt.lang, step: 7, polls: tt.polls, langs: []kba.Lang{kba.English, kba.Spanish},
				bindKey: deriveKey([]byte("twiml-golden-secret-0123456789abcdef"), "socket-binding"),
				call:    callflow.Call{Sid: "CA0000000000000000000000000000e7e7", Caller: "0123456789abcdef0123456789abcdef"}}
			r.add(tt.actions)
			got := canon.TwiML(r.xml(), cfg.PublicURL) + "\n"
			path := filepath.Join("testdata", "twiml", tt.name+".golden")
			if *update {
				os.MkdirAll(filepath.Dir(path), 0o755)
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("TwiML differs from %s:\n got  %s\n want %s", path, got, want)
			}
		})
	}
}

// TestTwiMLTemplates: a document served from a kept template is the one
// rendered afresh, for any step; documents that carry the caller's date of
// birth are never kept.
func TestTwiMLTemplates(t *testing.T) {
	cat, err := prompts.Load("en-US")
	if err != nil {
		t.Fatal(err)
	}
	m := dialog.New(dialog.Config{HasFallback: true})
	dob, _ := kba.ParseISODate("1977-03-09")
	g := &Gateway{cfg: Config{PublicURL: "https://ivr.example.test", OrgName: "Example Health", HoldPause: 2 * time.Second,
		FallbackNumber: "+15555550199"}, cat: cat, machine: m}
	prompt := func(s dialog.State) []dialog.Action { _, a := m.Step(s, dialog.Resume{}); return a }
	_, start := m.Step(dialog.State{}, dialog.Start{})
	cases := []struct {
		name    string
		state   dialog.State
		actions []dialog.Action
		keep    bool
	}{
		{"greeting", dialog.State{Lang: kba.English}, start, true},
		{"dob", dialog.State{Node: dialog.NodeDOB, Lang: kba.English}, prompt(dialog.State{Node: dialog.NodeDOB, Lang: kba.English}), true},
		{"ssn4 again, Spanish", dialog.State{Node: dialog.NodeSSN4, Lang: kba.Spanish, Misses: 1}, prompt(dialog.State{Node: dialog.NodeSSN4, Lang: kba.Spanish, Misses: 1}), true},
		{"hold", dialog.State{Node: dialog.NodeVerifying, Lang: kba.English}, []dialog.Action{dialog.Hold{}}, true},
		{"hold again", dialog.State{Node: dialog.NodeVerifying, Lang: kba.English, Polls: 3}, []dialog.Action{dialog.Hold{}}, true},
		{"transfer", dialog.State{Node: dialog.NodeFailed, Lang: kba.English}, prompt(dialog.State{Node: dialog.NodeFailed, Reason: dialog.ReasonAttempts, Lang: kba.English}), true},
		{"date read back", dialog.State{Node: dialog.NodeConfirmDOB, Lang: kba.English}, prompt(dialog.State{Node: dialog.NodeConfirmDOB, Lang: kba.English, Answers: dialog.Answers{DOB: dob}}), false},
	}
	for _, tt := range cases {
		for _, step := range []int64{3, 3, 41, 1234567} {
			turn := callflow.Turn{State: tt.state, Actions: tt.actions, Step: step}
			got := g.render(turn, callflow.Call{})
			r := g.renderer(turn, callflow.Call{})
			r.add(tt.actions)
			if want := r.xml(); canon.TwiML(got, g.cfg.PublicURL) != canon.TwiML(want, g.cfg.PublicURL) {
				t.Errorf("%s at step %d:\n got  %s\n want %s", tt.name, step, got, want)
			}
		}
		_, kept := templateKey(turnView{actions: tt.actions, lang: string(tt.state.Lang)})
		if kept != tt.keep {
			t.Errorf("%s: kept %v, want %v", tt.name, kept, tt.keep)
		}
	}
	for _, parts := range g.twiml.m {
		if strings.Contains(strings.Join(parts, ""), "seventy-seven") {
			t.Error("a template holds a date of birth")
		}
	}
}

// BenchmarkRenderQuestion is one question's TwiML, from its template.
func BenchmarkRenderQuestion(b *testing.B) {
	cat, _ := prompts.Load("en-US")
	m := dialog.New(dialog.Config{})
	g := &Gateway{cfg: Config{PublicURL: "https://ivr.example.test", OrgName: "Example Health", HoldPause: 2 * time.Second}, cat: cat, machine: m}
	st, actions := m.Step(dialog.State{Node: dialog.NodeDOB, Lang: kba.English}, dialog.Resume{})
	turn := callflow.Turn{State: st, Actions: actions, Step: 4}
	b.ReportAllocs()
	for b.Loop() {
		g.render(turn, callflow.Call{})
	}
}
