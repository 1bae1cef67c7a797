package telephony_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ivr-gateway/ivr/dialog"
	"github.com/ivr-gateway/ivr/internal/twiliosim"
	"github.com/ivr-gateway/ivr/telephony/conversationrelay"
)

// TestRelayUpgradeSignature: the upgrade is refused (403, before any
// WebSocket) unless X-Twilio-Signature signs the wss URL (or that URL
// with the trailing slash Twilio's notes mention).
func TestRelayUpgradeSignature(t *testing.T) {
	checkLeaks(t)
	e := newRelayEnv(t, relayOpts{})
	cfg := twiliosim.Config{BaseURL: e.srv.URL, PublicURL: publicURL, AuthToken: authToken}
	const u = "wss://ivr.example.test/twilio/relay"
	tests := []struct {
		name string
		sig  string
		want int
	}{
		{"wss URL", twiliosim.Sign(authToken, u, nil), http.StatusSwitchingProtocols},
		{"trailing slash", twiliosim.Sign(authToken, u+"/", nil), http.StatusSwitchingProtocols},
		{"unsigned", "", http.StatusForbidden},
		{"https URL", twiliosim.Sign(authToken, "https://ivr.example.test/twilio/relay", nil), http.StatusForbidden},
		{"other host", twiliosim.Sign(authToken, "wss://evil.example.test/twilio/relay", nil), http.StatusForbidden},
		{"other token", twiliosim.Sign("not-the-token", u, nil), http.StatusForbidden},
		{"with params", twiliosim.Sign(authToken, u, url.Values{"a": {"b"}}), http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cfg
			c.Quiet = 10 * time.Millisecond
			log, err := twiliosim.Probe(context.Background(), c, twiliosim.SessionRelay, u, tt.sig, nil)
			if err != nil && tt.want != http.StatusForbidden {
				t.Fatal(err)
			}
			if log.Status != tt.want {
				t.Fatalf("upgrade answered %d, want %d", log.Status, tt.want)
			}
		})
	}
	if n := e.metric("ivr_signature_failures_total"); n != 5 {
		t.Errorf("signature failures %v, want 5", n)
	}
	// The sessions that opened but sent no setup were closed by the gateway.
	if n := e.metric("ivr_relay_sessions_total", "outcome", "no_setup"); n != 2 {
		t.Errorf("sessions without setup %v, want 2", n)
	}
	assertNoPersonalData(t, e.logs.String())
}

// TestRelayBindingAttacks: the upgrade of /twilio/relay is signed over
// the same URL for every call, so a leaked signature opens a session for
// anyone. The setup's binding must stop it from touching any call but the
// one its TwiML was given for, from dropping or changing the caller
// reference, and from opening a second session for a live call.
func TestRelayBindingAttacks(t *testing.T) {
	checkLeaks(t)
	e := newRelayEnv(t, relayOpts{})
	victim, other := "CA"+strings.Repeat("ce", 16), "CA"+strings.Repeat("ab", 16)
	call, _ := e.dial(victim)
	_, wsURL, params, ok := call.Session()
	if !ok || params["step"] != "0" || len(params["caller"]) != 32 || params["bind"] == "" {
		t.Fatalf("session parameters %v", params)
	}
	otherCall, _ := e.dial(other)
	_, _, otherParams, _ := otherCall.Session()
	clone := func(p map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range p {
			out[k] = v
		}
		return out
	}
	tests := []struct {
		name   string
		sid    string
		params func() map[string]string
		reason string
	}{
		{"another call's SID", other, func() map[string]string { return clone(params) }, "binding"},
		{"no binding", victim, func() map[string]string { p := clone(params); delete(p, "bind"); return p }, "binding"},
		{"caller reference dropped", victim, func() map[string]string { p := clone(params); delete(p, "caller"); return p }, "binding"},
		{"caller reference changed", victim, func() map[string]string { p := clone(params); p["caller"] = strings.Repeat("0", 32); return p }, "binding"},
		{"another step", victim, func() map[string]string { p := clone(params); p["step"] = "1"; return p }, "binding"},
		{"binding of another call", victim, func() map[string]string { return clone(otherParams) }, "binding"},
		{"no parameters", victim, func() map[string]string { return nil }, "binding"},
		{"a second session for a live call", victim, func() map[string]string { return clone(params) }, "duplicate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.metric("ivr_streams_refused_total", "reason", tt.reason)
			setup, err := conversationrelay.Encode(conversationrelay.Setup{
				SessionID: "VX" + strings.Repeat("0", 32), CallSid: tt.sid, From: "+15555550123", CustomParameters: tt.params(),
			})
			if err != nil {
				t.Fatal(err)
			}
			prompt, _ := conversationrelay.Encode(conversationrelay.Prompt{VoicePrompt: "Maria Garcia", Last: true})
			log, err := twiliosim.Probe(context.Background(),
				twiliosim.Config{BaseURL: e.srv.URL, PublicURL: publicURL, AuthToken: authToken},
				twiliosim.SessionRelay, wsURL, twiliosim.Sign(authToken, wsURL, nil),
				[]twiliosim.Frame{{Data: string(setup)}, {Data: string(prompt)}})
			if err != nil {
				t.Fatal(err)
			}
			if log.ClosedBy != "gateway" || log.CloseCode != 1008 {
				t.Fatalf("session closed by %q with %d, want the gateway with 1008; frames %v", log.ClosedBy, log.CloseCode, log.Frames)
			}
			for _, f := range log.Frames {
				if f.Dir == twiliosim.FromGateway {
					t.Errorf("the gateway answered a forged session: %s", f.Data)
				}
			}
			if got := e.metric("ivr_streams_refused_total", "reason", tt.reason) - before; got != 1 {
				t.Errorf("refused{%s} grew by %v, want 1", tt.reason, got)
			}
			for _, sid := range []string{victim, other} {
				// Both calls are still at the language menu, unanswered.
				cur, err := e.h.App.Engine.Current(context.Background(), sid)
				if err != nil || cur.Step != 1 || cur.State.Node != dialog.NodeLanguage {
					t.Errorf("call %s moved: step %d node %s (%v)", sid, cur.Step, cur.State.Node, err)
				}
			}
		})
	}
	// The real sessions go on.
	turn, err := call.Press(context.Background(), "1")
	if err != nil || !strings.Contains(heard(turn), "first and last name") {
		t.Fatalf("the victim's session after the attacks: %v\n%s", err, heard(turn))
	}
	for _, c := range []*twiliosim.Call{call, otherCall} {
		if err := c.Hangup(context.Background(), "completed"); err != nil {
			t.Fatal(err)
		}
	}
	assertNoPersonalData(t, e.logs.String())
}

// TestRelaySurvivesBadInput: messages the gateway cannot use are counted
// by kind and logged without their content; the call goes on.
func TestRelaySurvivesBadInput(t *testing.T) {
	checkLeaks(t)
	e := newRelayEnv(t, relayOpts{})
	sid := "CA0000000000000000000000000badf00d"
	call, _ := e.dial(sid)
	for _, raw := range []string{
		`{"type":"prompt","voicePrompt":"Maria Garcia 1234`, // malformed JSON
		`{"type":"transcript","text":"Maria Garcia"}`,       // unknown type
		`{"type":"dtmf","digit":"12"}`,                      // not one key
		`{"type":"prompt","voicePrompt":1234,"last":true}`,  // wrong field type
		`{"type":"setup","callSid":"` + sid + `"}`,          // a second setup
		`{"type":"error","description":"Invalid message received: 1234"}`,
		`{"type":"info","name":"agentSpeaking","value":"off"}`,
		`{"type":"interrupt","utteranceUntilInterrupt":"Thank you","durationUntilInterruptMs":"460"}`,
	} {
		if err := call.SendRaw(raw); err != nil {
			t.Fatal(err)
		}
	}
	turn := e.play(call, []relayStep{
		{do: "press", value: "1", hear: "first and last name"},
		{do: "say", value: "Maria Garcia", hear: "date of birth"},
		{do: "press", value: "01051980", hear: "Social Security"},
		{do: "press", value: "1234", hear: "you are verified"},
	})
	if turn.End != "redirect:"+streamHandoffURL {
		t.Errorf("call ended %q", turn.End)
	}
	for kind, want := range map[string]float64{"malformed": 2, "unknown_type": 1, "bad_dtmf": 1, "duplicate_setup": 1, "twilio_error": 1} {
		if n := e.metric("ivr_relay_errors_total", "kind", kind); n != want {
			t.Errorf("errors{kind=%q} = %v, want %v", kind, n, want)
		}
	}
	for typ, want := range map[string]float64{"setup": 2, "info": 1, "interrupt": 1, "error": 1} {
		if n := e.metric("ivr_relay_messages_total", "type", typ); n != want {
			t.Errorf("messages{type=%q} = %v, want %v", typ, n, want)
		}
	}
	if n := e.metric("ivr_relay_sessions_total", "outcome", "verified"); n != 1 {
		t.Errorf("verified sessions %v, want 1", n)
	}
	if strings.Contains(e.logs.String(), "Invalid message") {
		t.Error("Twilio's error description was logged")
	}
	assertNoPersonalData(t, e.logs.String())
}

// TestRelayShutdown: Gateway.Shutdown ends live sessions with end
// (handback) and close 1001; the <Connect action> then renders a new
// session for the same question, which another instance serves.
func TestRelayShutdown(t *testing.T) {
	checkLeaks(t)
	e := newRelayEnv(t, relayOpts{})
	sid := "CA00000000000000000000000000005d0a"
	var logs []twiliosim.SocketLog
	hc := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(hc.CloseIdleConnections)
	call, turn, err := twiliosim.Dial(context.Background(), twiliosim.Config{
		BaseURL: e.srv.URL, PublicURL: publicURL, AuthToken: authToken, CallSid: sid, From: "+15555550123", HTTPClient: hc,
		Record: func(ex twiliosim.Exchange) {
			if ex.Socket != nil {
				logs = append(logs, *ex.Socket)
			}
		},
	})
	if err != nil || turn.Session != twiliosim.SessionRelay {
		t.Fatalf("dial: %v %+v", err, turn)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.gw.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	// The caller waits; the session ends; the <Connect action> opens a new
	// session, which this instance (shutting down) refuses with 503, so
	// that one fails and the call is ended safely.
	turn, err = call.Silence(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) != 2 {
		t.Fatalf("%d sessions, want 2", len(logs))
	}
	first := logs[0].Frames[len(logs[0].Frames)-1]
	if first.Dir != twiliosim.FromGateway || !strings.Contains(first.Data, `\"outcome\":\"handback\"`) {
		t.Errorf("last frame of the live session: %+v", first)
	}
	if logs[1].Status != http.StatusServiceUnavailable {
		t.Errorf("new session after shutdown: HTTP %d, want 503", logs[1].Status)
	}
	if !turn.Ended || !strings.Contains(heard(turn), "trouble on our side") {
		t.Errorf("after the refused session: ended %v %q\n%s", turn.Ended, turn.End, heard(turn))
	}
	if n := e.metric("ivr_relay_sessions_total", "outcome", "shutdown"); n != 1 {
		t.Errorf("sessions ended by shutdown %v, want 1", n)
	}
	if n := e.metric("ivr_streams_refused_total", "reason", "shutdown"); n != 1 {
		t.Errorf("refused{shutdown} = %v, want 1", n)
	}
	assertNoPersonalData(t, e.logs.String())
}

// TestRelayCap: past IVR_MAX_STREAMS live sessions the upgrade is refused
// with 503 before any WebSocket.
func TestRelayCap(t *testing.T) {
	checkLeaks(t)
	e := newRelayEnv(t, relayOpts{maxSockets: 1})
	first, _ := e.dial("CA000000000000000000000000000ca901")
	_, turn := e.dial("CA000000000000000000000000000ca902")
	if !turn.Ended || !strings.Contains(heard(turn), "trouble on our side") {
		t.Errorf("the second call: ended %v %q\n%s", turn.Ended, turn.End, heard(turn))
	}
	if n := e.metric("ivr_streams_refused_total", "reason", "cap"); n != 1 {
		t.Errorf("refused{cap} = %v, want 1", n)
	}
	if n := e.metric("ivr_streams_active"); n != 1 {
		t.Errorf("active sessions %v, want 1", n)
	}
	if err := first.Hangup(context.Background(), "completed"); err != nil {
		t.Fatal(err)
	}
	assertNoPersonalData(t, e.logs.String())
}
