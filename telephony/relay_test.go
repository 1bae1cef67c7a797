package telephony_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ivr-gateway/ivr/authclient"
	"github.com/ivr-gateway/ivr/callflow"
	"github.com/ivr-gateway/ivr/dialog"
	"github.com/ivr-gateway/ivr/internal/app"
	"github.com/ivr-gateway/ivr/internal/canon"
	"github.com/ivr-gateway/ivr/internal/redistest"
	"github.com/ivr-gateway/ivr/internal/replay"
	"github.com/ivr-gateway/ivr/internal/testlog"
	"github.com/ivr-gateway/ivr/internal/twiliosim"
	"github.com/ivr-gateway/ivr/kba"
	"github.com/ivr-gateway/ivr/prompts"
	"github.com/ivr-gateway/ivr/telephony"
)

// relayClock is the relay tests' clock: the gateway's waits for the caller
// run ten times faster than the wall clock.
var relayClock = fastClock{10}

// relayEnv is a relay-mode gateway on loopback with the replay harness's
// AS double and a real Redis.
type relayEnv struct {
	*streamEnv
	fallback bool
}

type relayOpts struct {
	env        replay.Env
	maxSockets int
	handoff    string
}

func newRelayEnv(t *testing.T, o relayOpts) *relayEnv {
	t.Helper()
	logs := &testlog.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: testlog.NoTime}))
	rdb, prefix := redistest.Client(t)
	o.env.Transport = "relay" // the harness's slow AS is slower for sessions
	h, err := replay.Start(context.Background(), replay.HarnessConfig{
		PublicURL: publicURL, AuthToken: authToken, Redis: rdb, Prefix: prefix, Logger: log, Env: o.env,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	asHTTP := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	t.Cleanup(asHTTP.CloseIdleConnections)
	ac, err := authclient.New(authclient.Config{
		Metadata: h.App.Metadata, ClientID: replay.ClientID, ClientSecret: replay.ClientSecret,
		Scope: replay.Scope, Resource: replay.Resource, HTTPClient: asHTTP,
	})
	if err != nil {
		t.Fatal(err)
	}
	cat, err := prompts.Load("en-US")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	metrics := telephony.NewMetrics(reg)
	engine, err := callflow.New(callflow.Config{}, callflow.Deps{
		Machine: dialog.New(dialog.Config{Languages: []kba.Lang{kba.English, kba.Spanish}, HasFallback: o.env.Fallback}),
		Store:   h.App.Store, Verifier: app.NewASVerifier(ac), Observer: metrics, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := telephony.Config{
		PublicURL: publicURL, AuthToken: authToken, OrgName: "Example Health",
		HandoffURL: streamHandoffURL, Transport: telephony.TransportRelay,
		Secret: []byte(streamSecret), MaxSockets: maxSockets,
	}
	if o.maxSockets > 0 {
		cfg.MaxSockets = o.maxSockets
	}
	if o.env.Fallback {
		cfg.FallbackNumber = replay.FallbackNumber
	}
	gw, err := telephony.New(cfg, telephony.Deps{
		Engine: engine, Prompts: cat, Logger: log, Metrics: metrics, Clock: relayClock, Sockets: h.App.Store,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := gw.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := engine.Shutdown(ctx); err != nil {
			t.Errorf("engine Shutdown: %v", err)
		}
		srv.Close()
	})
	hc := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(hc.CloseIdleConnections)
	return &relayEnv{streamEnv: &streamEnv{t: t, gw: gw, srv: srv, reg: reg, logs: logs, hc: hc, h: h}, fallback: o.env.Fallback}
}

// dial places a call through the Twilio simulator.
func (e *relayEnv) dial(sid string) (*twiliosim.Call, *twiliosim.Turn) {
	e.t.Helper()
	hc := &http.Client{Transport: &http.Transport{}}
	e.t.Cleanup(hc.CloseIdleConnections)
	call, turn, err := twiliosim.Dial(context.Background(), twiliosim.Config{
		BaseURL: e.srv.URL, PublicURL: publicURL, AuthToken: authToken, CallSid: sid,
		From: "+15555550123", To: "+15555550100", HTTPClient: hc, PauseScale: 0.01,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return call, turn
}

func heard(t *twiliosim.Turn) string {
	var b strings.Builder
	for _, u := range t.Heard {
		fmt.Fprintf(&b, "[%s] %s\n", u.Language, u.Text)
	}
	return b.String()
}

// relayStep is one thing the caller does in a relay test, and a piece of
// what they must hear next.
type relayStep struct {
	do, value string // "press", "say", "silence"
	hear      string
}

func (e *relayEnv) play(call *twiliosim.Call, steps []relayStep) *twiliosim.Turn {
	e.t.Helper()
	var turn *twiliosim.Turn
	for i, st := range steps {
		var err error
		switch st.do {
		case "press":
			turn, err = call.Press(context.Background(), st.value)
		case "say":
			turn, err = call.Say(context.Background(), st.value, -1)
		case "silence":
			turn, err = call.Silence(context.Background())
		}
		if err != nil {
			e.t.Fatalf("step %d (%s): %v", i, st.do, err)
		}
		if !strings.Contains(heard(turn), st.hear) {
			e.t.Fatalf("step %d (%s): heard\n%s\nwant %q", i, st.do, heard(turn), st.hear)
		}
	}
	return turn
}

// TestRelayCalls: whole calls through ConversationRelay, as Twilio runs
// them: every question in the session, the end message, and the <Connect
// action> rendering the hand-off or the fallback.
func TestRelayCalls(t *testing.T) {
	tests := []struct {
		name  string
		env   replay.Env
		steps []relayStep
		end   string // the call's end as the simulator saw it
		phase string
	}{
		{
			name: "speech", end: "redirect:" + streamHandoffURL, phase: "verified",
			steps: []relayStep{
				{do: "silence", hear: "Please say your first and last name."},
				{do: "say", value: "my name is Maria Garcia", hear: "date of birth"},
				{do: "say", value: "January fifth nineteen eighty", hear: "Social Security"},
				{do: "say", value: "one two three four", hear: "you are verified"},
			},
		},
		{
			name: "keys", end: "redirect:" + streamHandoffURL, phase: "verified",
			steps: []relayStep{
				{do: "press", value: "1", hear: "first and last name"},
				{do: "say", value: "Maria Garcia", hear: "date of birth"},
				{do: "press", value: "01051980", hear: "Social Security"},
				{do: "press", value: "1234#", hear: "you are verified"},
			},
		},
		{
			name: "spanish", end: "redirect:" + streamHandoffURL, phase: "verified",
			steps: []relayStep{
				{do: "press", value: "2", hear: "[es-US] Por favor, diga su nombre y apellido."},
				{do: "say", value: "me llamo José Hernández", hear: "fecha de nacimiento"},
				{do: "say", value: "quince de marzo de mil novecientos noventa", hear: "Seguro Social"},
				{do: "say", value: "cuatro tres dos uno", hear: "Le comunico ahora"},
			},
		},
		{
			name: "otp", env: replay.Env{FixedOTP: true}, end: "redirect:" + streamHandoffURL, phase: "verified",
			steps: []relayStep{
				{do: "silence", hear: "first and last name"},
				{do: "say", value: "John Smith", hear: "date of birth"},
				{do: "press", value: "07041975", hear: "Social Security"},
				{do: "press", value: "5678", hear: "six digit code"},
				{do: "say", value: "two four six eight one zero", hear: "you are verified"},
			},
		},
		{
			name: "wrong answers to the fallback", env: replay.Env{Fallback: true}, end: "dial:" + replay.FallbackNumber, phase: "failed",
			steps: []relayStep{
				{do: "silence", hear: "first and last name"},
				{do: "say", value: "Maria Garcia", hear: "date of birth"},
				{do: "press", value: "01051980", hear: "Social Security"},
				{do: "press", value: "1111", hear: "did not match"},
				{do: "say", value: "Maria Garcia", hear: "date of birth"},
				{do: "press", value: "01051980", hear: "Social Security"},
				{do: "press", value: "2222", hear: "did not match"},
				{do: "say", value: "Maria Garcia", hear: "date of birth"},
				{do: "press", value: "01051980", hear: "Social Security"},
				{do: "press", value: "3333", hear: "transfer you"},
			},
		},
		{
			name: "silence", end: "hangup", phase: "failed",
			steps: []relayStep{
				{do: "silence", hear: "first and last name"},
				{do: "silence", hear: "Sorry, I didn't catch that."},
				{do: "silence", hear: "Goodbye."},
			},
		},
		{
			name: "slow AS: the hold text", env: replay.Env{AS: "slow"}, end: "redirect:" + streamHandoffURL, phase: "verified",
			steps: []relayStep{
				{do: "silence", hear: "first and last name"},
				{do: "say", value: "Maria Garcia", hear: "date of birth"},
				{do: "press", value: "01051980", hear: "Social Security"},
				{do: "press", value: "1234", hear: "Please hold while I check your details.\n[en-US] Thank you, you are verified."},
			},
		},
	}
	checkLeaks(t) // after every subtest: they run in parallel
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newRelayEnv(t, relayOpts{env: tt.env})
			sid := fmt.Sprintf("CA%032x", 0x4e1a7000+i)
			call, turn := e.dial(sid)
			if turn.Session != twiliosim.SessionRelay || !strings.Contains(heard(turn), "Thank you for calling Example Health") {
				t.Fatalf("first turn: session %q, heard\n%s", turn.Session, heard(turn))
			}
			turn = e.play(call, tt.steps)
			if !turn.Ended || turn.End != tt.end {
				t.Errorf("call ended %v %q, want %q", turn.Ended, turn.End, tt.end)
			}
			if got := e.phase(sid); got != tt.phase {
				t.Errorf("phase %q, want %q", got, tt.phase)
			}
			if err := call.Hangup(context.Background(), "completed"); err != nil {
				t.Fatal(err)
			}
			if n := e.metric("ivr_relay_errors_total"); n != 0 {
				t.Errorf("%v relay messages refused", n)
			}
			assertNoPersonalData(t, e.logs.String())
		})
	}
}

// TestRelayDone: the <Connect action> after a session renders where the
// call is, and never lets a broken session strand a caller.
func TestRelayDone(t *testing.T) {
	checkLeaks(t)
	e := newRelayEnv(t, relayOpts{})
	sid := "CA00000000000000000000000000d0e001"
	if _, err := e.h.App.Engine.Advance(context.Background(), callflow.Call{Sid: sid}, dialog.Start{}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		sid        string
		form       []string
		want, nope string
	}{
		{"handed back while collecting: a new session", sid,
			[]string{"SessionStatus", "ended", "HandoffData", `{"outcome":"handback","step":1}`},
			`<Parameter name="step" value="1"`, "trouble"},
		{"failed while collecting: apology", sid,
			[]string{"SessionStatus", "failed", "ErrorCode", "39001", "ErrorMessage", "Network connection to WebSocket server failed."},
			"trouble on our side", "ConversationRelay"},
		{"ended without our handoff: apology", sid,
			[]string{"SessionStatus", "ended", "HandoffData", `{"reason":"The caller requested to talk to a real person"}`},
			"trouble on our side", "ConversationRelay"},
		{"handoff data too long: ignored", sid,
			[]string{"SessionStatus", "ended", "HandoffData", `{"outcome":"handback","x":"` + strings.Repeat("x", 2000) + `"}`},
			"trouble on our side", "ConversationRelay"},
		{"caller hung up", sid,
			[]string{"SessionStatus", "completed", "CallStatus", "completed"},
			"<Response><Hangup></Hangup></Response>", "Say"},
		{"unknown call", "CA00000000000000000000000000d0e0ff",
			[]string{"SessionStatus", "ended", "HandoffData", `{"outcome":"handback","step":1}`},
			"trouble on our side", "ConversationRelay"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Canonical: twilio-go writes attributes in random order.
			twiml := canon.TwiML(e.webhook("/twilio/relay-done?step=0", callForm(tt.sid, tt.form...)), publicURL)
			if !strings.Contains(twiml, tt.want) || strings.Contains(twiml, tt.nope) {
				t.Errorf("relay-done answered\n%s\nwant %q, not %q", twiml, tt.want, tt.nope)
			}
		})
	}
	if strings.Contains(e.logs.String(), "real person") {
		t.Error("handoffData was logged")
	}
	assertNoPersonalData(t, e.logs.String())

}
