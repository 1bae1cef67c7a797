package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ivr-gateway/ivr/internal/app"
	"github.com/ivr-gateway/ivr/internal/replay"
)

const (
	verifiedScript = "silence\nsay:Maria Garcia\ndtmf:01051980\ndtmf:1234\n"
	// Three wrong SSN-4s: the failure path.
	// The failed call claims nobody on file: three failures lock the
	// claim at the AS for 15 minutes, and tests that go on to verify a
	// demo patient must not find her claim locked.
	failedScript = "silence\nsay:Zoe Quill\ndtmf:02021972\ndtmf:9999\n" +
		"say:Zoe Quill\ndtmf:02021972\ndtmf:9999\nsay:Zoe Quill\ndtmf:02021972\ndtmf:9999\n"
)

// TestCallVerdictWithoutAgentKey (issue 13): `ivr call -script` without
// -agent-key tells a verified call from a failed one by what the call did
// (it heard "you are verified" and the gateway then ended or handed off
// the call), whatever the gateway does after a verification: hang up (no
// hand-off, the demo's default), <Redirect> or <Dial>. A failed call that
// is transferred to the fallback number is a <Dial> too, and not verified.
func TestCallVerdictWithoutAgentKey(t *testing.T) {
	tests := []struct {
		name     string
		mod      func(*app.Config)
		script   string
		verified bool
		end      string
	}{
		{"verified, no hand-off", nil, verifiedScript, true, "hangup"},
		{"verified, hand-off URL", func(c *app.Config) { c.HandoffURL = "https://agent.example.test/twiml" }, verifiedScript, true, "redirect:"},
		{"verified, hand-off number", func(c *app.Config) { c.HandoffNumber = "+15555550188" }, verifiedScript, true, "dial:"},
		{"failed, goodbye", nil, failedScript, false, "hangup"},
		{"failed, transferred", func(c *app.Config) { c.FallbackNumber = replay.FallbackNumber }, failedScript, false, "dial:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := startGateway(t, tt.mod, nil)
			out, err := g.call(context.Background(), tt.script, "-script", "-")
			if !strings.Contains(out, "-- call ended: "+tt.end) {
				t.Errorf("the call did not end with %s:\n%s", tt.end, out)
			}
			if tt.verified {
				if err != nil || !strings.HasSuffix(out, "Call verified.\n") {
					t.Errorf("err = %v, want a verified call:\n%s", err, out)
				}
				return
			}
			var ec exitCode
			if !errors.As(err, &ec) || ec != 1 || !strings.Contains(out, "Call not verified") {
				t.Errorf("err = %v, want exit status 1 and not verified:\n%s", err, out)
			}
		})
	}
}

// TestCallExplainsFailures (issue 15 item 3): when the gateway cannot take
// the call, Twilio's error code is followed by one sentence naming the
// likely cause and the flag to check.
func TestCallExplainsFailures(t *testing.T) {
	g := startGateway(t, nil, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nothing := "http://" + ln.Addr().String()
	ln.Close()
	notGateway := httptest.NewServer(http.NotFoundHandler())
	defer notGateway.Close()
	tests := []struct {
		name string
		args []string
		code string
		want string
	}{
		{"wrong token", []string{"-url", g.URL, "-token", "not-the-token"}, "error:11200 HTTP 403", "-token must equal the gateway's TWILIO_AUTH_TOKEN"},
		{"wrong public URL", []string{"-url", g.URL, "-token", g.Token, "-public-url", "https://ivr.example.test"}, "error:11200 HTTP 403", "-public-url (now https://ivr.example.test) its IVR_PUBLIC_URL"},
		{"nothing listening", []string{"-url", nothing, "-token", g.Token}, "error:11205 connection failure", "Nothing answers at -url " + nothing},
		{"not a gateway", []string{"-url", notGateway.URL, "-token", g.Token}, "error:11200 HTTP 404", "-url must be the gateway's base URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out syncBuffer
			err := Run(context.Background(), append([]string{"call", "-script", "-"}, tt.args...), envOf(nil),
				strings.NewReader(verifiedScript), &out, &out)
			var ec exitCode
			if !errors.As(err, &ec) || ec != 1 {
				t.Errorf("err = %v, want exit status 1", err)
			}
			_, next, _ := strings.Cut(out.String(), "-- call ended: "+tt.code+"\n")
			if line, _, _ := strings.Cut(next, "\n"); !strings.Contains(line, tt.want) {
				t.Errorf("output lacks %q, then %q:\n%s", tt.code, tt.want, out.String())
			}
		})
	}
}

// TestCallInterrupted (issue 15 item 4): Ctrl-C in the terminal phone ends
// the call as a caller hanging up does (status callback completed), so the
// gateway ends it at once rather than leaving it collecting for two hours;
// then ivr call exits 130.
func TestCallInterrupted(t *testing.T) {
	g := startGateway(t, nil, nil)
	stdin, typing := io.Pipe() // a terminal nobody types into
	defer typing.Close()
	ctx, interrupt := context.WithCancel(context.Background())
	defer interrupt()
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"call", "-url", g.URL, "-token", g.Token}, envOf(nil), stdin, &out, &out)
	}()
	out.waitFor(t, "keys or words")
	sid := strings.Fields(out.String()[strings.Index(out.String(), "(call ")+len("(call "):])[0]
	sid = strings.TrimSuffix(sid, ")")
	interrupt()
	select {
	case err := <-done:
		var ec exitCode
		if !errors.As(err, &ec) || ec != 130 {
			t.Errorf("err = %v, want exit status 130", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ivr call did not stop on the interrupt")
	}
	sess, err := g.App.Store.Load(context.Background(), sid)
	if err != nil {
		t.Fatal(err)
	}
	if sess.Phase != "ended" {
		t.Errorf("call phase after the interrupt = %q, want ended", sess.Phase)
	}
	if !strings.Contains(out.String(), "Interrupted: hanging up.") {
		t.Errorf("output:\n%s", out.String())
	}
}

// TestCallHelpListsScriptKeywords: `ivr call -h` documents every kind of
// script line the README does.
func TestCallHelpListsScriptKeywords(t *testing.T) {
	var out, errb strings.Builder
	Run(context.Background(), []string{"call", "-h"}, envOf(nil), nil, &out, &errb)
	for _, k := range []string{"dtmf:", "say:", "say@0.3:", "silence", "hangup", "hangup:busy", "Ctrl-C"} {
		if !strings.Contains(errb.String(), k) {
			t.Errorf("ivr call -h does not mention %s", k)
		}
	}
}
