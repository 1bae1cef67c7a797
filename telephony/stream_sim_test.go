package telephony_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/ivr-gateway/ivr/internal/replay"
	"github.com/ivr-gateway/ivr/internal/twiliosim"
)

// TestStreamThroughSimulator: the ways a call on the stream transport can
// go, placed by the Twilio simulator, which speaks <Connect><Stream> as
// Twilio does (connected, start with the <Parameter>s, keys as dtmf
// messages or in-band tones, marks echoed, the <Connect action> when the
// gateway closes the socket). What the caller hears on the stream is the
// prompts' IDs (their marks); on <Gather>, their text.
func TestStreamThroughSimulator(t *testing.T) {
	tests := []struct {
		name   string
		env    replay.Env
		keys   string
		caller string
		steps  []relayStep // "press" on the stream, "silence"
		end    string
		heard  string // somewhere in what the caller heard on the stream
		phase  string
		source string // digits counted with this source
	}{
		{name: "keys by dtmf events", caller: "Maria Garcia", steps: []relayStep{{do: "press", value: "01051980", hear: "ask_ssn4"}, {do: "press", value: "1234"}},
			end: "redirect:" + streamHandoffURL, phase: "verified", source: "event"},
		{name: "keys by in-band tones only", keys: twiliosim.KeysTones, caller: "Maria Garcia",
			steps: []relayStep{{do: "press", value: "01051980", hear: "ask_ssn4"}, {do: "press", value: "1234"}},
			end:   "redirect:" + streamHandoffURL, phase: "verified", source: "inband"},
		{name: "keys by both: each counted once", keys: twiliosim.KeysBoth, caller: "Maria Garcia",
			steps: []relayStep{{do: "press", value: "01051980", hear: "ask_ssn4"}, {do: "press", value: "1234"}},
			end:   "redirect:" + streamHandoffURL, phase: "verified", source: "duplicate"},
		{name: "otp step-up", caller: "John Smith",
			steps: []relayStep{{do: "press", value: "07041975", hear: "ask_ssn4"}, {do: "press", value: "5678", hear: "ask_otp"}, {do: "press", value: "246810"}},
			end:   "redirect:" + streamHandoffURL, phase: "verified"},
		{name: "mismatch: back to the name by <Gather>", caller: "Maria Garcia",
			steps: []relayStep{{do: "press", value: "01051980", hear: "ask_ssn4"}, {do: "press", value: "9999", hear: "did not match"}},
			phase: "collecting"},
		{name: "slow AS: the hold prompt", env: replay.Env{AS: "slow"}, caller: "Maria Garcia",
			steps: []relayStep{{do: "press", value: "01051980", hear: "ask_ssn4"}, {do: "press", value: "1234", hear: "hold"}},
			end:   "redirect:" + streamHandoffURL, phase: "verified"},
		{name: "no input twice", caller: "Maria Garcia",
			steps: []relayStep{{do: "silence", hear: "reprompt_dob"}, {do: "silence", hear: "Goodbye."}},
			end:   "hangup", phase: "failed"},
	}
	checkLeaks(t) // after every subtest: they run in parallel
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.env.Transport = "stream" // the harness's slow AS is slower for sessions
			e := newStreamEnvWith(t, fastClock{4}, tt.env)
			sid := fmt.Sprintf("CA%032x", 0x5170000+i)
			hc := &http.Client{Transport: &http.Transport{}}
			t.Cleanup(hc.CloseIdleConnections)
			call, turn, err := twiliosim.Dial(context.Background(), twiliosim.Config{
				BaseURL: e.srv.URL, PublicURL: publicURL, AuthToken: authToken, CallSid: sid,
				From: "+15555550123", HTTPClient: hc, StreamKeys: tt.keys, PauseScale: 0.01,
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if turn, err = call.Press(ctx, "1"); err != nil || !strings.Contains(heard(turn), "first and last name") {
				t.Fatalf("language: %v\n%s", err, heard(turn))
			}
			if turn, err = call.Say(ctx, tt.caller, 0.93); err != nil || turn.Session != twiliosim.SessionStream {
				t.Fatalf("name: %v, session %q\n%s", err, turn.Session, heard(turn))
			}
			if got := heard(turn); !strings.Contains(got, "ask_dob") {
				t.Fatalf("the stream's first prompt: %s", got)
			}
			turn = (&relayEnv{streamEnv: e}).play(call, tt.steps)
			if turn.End != tt.end {
				t.Errorf("call ended %q, want %q", turn.End, tt.end)
			}
			if got := e.phase(sid); got != tt.phase {
				t.Errorf("phase %q, want %q", got, tt.phase)
			}
			if tt.source != "" {
				if n := e.metric("ivr_stream_digits_total", "source", tt.source); n != 12 {
					t.Errorf("digits{source=%s} = %v, want 12", tt.source, n)
				}
			}
			if n := e.metric("ivr_stream_errors_total"); n != 0 {
				t.Errorf("%v stream messages refused", n)
			}
			if !slices.Contains([]float64{1, 2}, e.metric("ivr_streams_total", "outcome", "handback")) {
				t.Errorf("handback streams %v", e.metric("ivr_streams_total", "outcome", "handback"))
			}
			if err := call.Hangup(ctx, "completed"); err != nil {
				t.Fatal(err)
			}
			assertNoPersonalData(t, e.logs.String())
		})
	}
}
