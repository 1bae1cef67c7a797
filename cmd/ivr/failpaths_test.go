package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ivr-gateway/ivr/dialog"
	"github.com/ivr-gateway/ivr/internal/app"
	"github.com/ivr-gateway/ivr/internal/asdouble"
	"github.com/ivr-gateway/ivr/internal/twiliosim"
)

// TestEveryFailureLogsWhy (issue 15 item 1): every way a call can take the
// failure path writes exactly one "call failed" line with the call SID and
// the reason, and no personal data, so an operator (or a newcomer at the
// demo) never has to read /metrics to learn why a call failed. The
// gateway's own trouble (Redis down) is a "webhook failed" line with its
// kind instead, and no "call failed" line.
func TestEveryFailureLogsWhy(t *testing.T) {
	canned := func(status int, body string) func(*asdouble.Server) {
		return func(s *asdouble.Server) { s.Script(asdouble.Challenge, asdouble.Canned{Status: status, Body: body}) }
	}
	tests := []struct {
		reason string
		mod    func(*app.Config)
		asMod  func(*asdouble.Server)
		script string
	}{
		{dialog.ReasonNoInput, nil, nil, "silence\nsilence\nsilence\n"},
		{dialog.ReasonAttempts, nil, nil, failedScript},
		{dialog.ReasonLocked, nil, canned(429, `{"error":"slow_down"}`), verifiedScript},
		{dialog.ReasonUnavailable, nil, func(s *asdouble.Server) { s.SetFailing(true) }, verifiedScript},
		{dialog.ReasonRedirectToWeb, nil, canned(400, `{"error":"redirect_to_web"}`), verifiedScript},
		// One attempt an hour for the number: the second set of answers is
		// refused before it reaches the AS.
		{dialog.ReasonCallerLimit, func(c *app.Config) { c.CallerLimit = 1 }, nil,
			"silence\nsay:Maria Garcia\ndtmf:01051980\ndtmf:9999\nsay:Maria Garcia\ndtmf:01051980\ndtmf:1234\n"},
		// Only with somebody to transfer to.
		{dialog.ReasonAskedForPerson, func(c *app.Config) { c.FallbackNumber = "+15555550199" }, nil,
			"silence\nsay:I want to talk to a representative\n"},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			g := startGateway(t, tt.mod, tt.asMod)
			sid := g.scriptedCall(t, tt.script)
			g.wantOneFailure(t, sid, tt.reason)
		})
	}

	// A verification that outlasts the polls of a caller on hold: the call
	// fails once, and the verification finishing later adds nothing.
	t.Run("as_unavailable after the polls", func(t *testing.T) {
		g := startGateway(t, func(c *app.Config) {
			c.VerifyWait, c.VerifyTimeout = 20*time.Millisecond, 2*time.Second
		}, func(s *asdouble.Server) { s.SetDelay(3 * time.Second) })
		sid := g.scriptedCall(t, verifiedScript)
		time.Sleep(2500 * time.Millisecond) // the verification times out meanwhile
		g.wantOneFailure(t, sid, dialog.ReasonUnavailable)
	})

	t.Run("redis down", func(t *testing.T) {
		g := startGateway(t, func(c *app.Config) {
			c.Redis = redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
		}, nil)
		g.scriptedCall(t, verifiedScript)
		if n := len(g.lines(t, "call failed")); n != 0 {
			t.Errorf("%d call failed lines with Redis down, want none (it is the gateway's failure)", n)
		}
		failed := g.lines(t, "webhook failed")
		if len(failed) == 0 || failed[0]["kind"] == nil {
			t.Errorf("webhook failed lines: %v, want at least one with its kind", failed)
		}
	})
}

// scriptedCall places a call with twiliosim (pauses 100 times shorter)
// and returns its SID once it has ended and the status callback was sent.
func (g *testGateway) scriptedCall(t *testing.T, script string) string {
	t.Helper()
	lines, err := twiliosim.ParseScript(strings.NewReader(script))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	call, turn, err := twiliosim.Dial(ctx, twiliosim.Config{BaseURL: g.URL, PublicURL: g.URL, AuthToken: g.Token, PauseScale: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		if turn.Ended {
			break
		}
		if turn, err = call.Do(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	if !turn.Ended {
		t.Fatalf("the call did not end; last turn %+v", turn)
	}
	call.Hangup(ctx, "completed")
	return call.Sid()
}

// wantOneFailure checks that exactly one "call failed" line was written,
// for sid, with reason, and that no log line holds the caller's answers or
// number.
func (g *testGateway) wantOneFailure(t *testing.T, sid, reason string) {
	t.Helper()
	failed := g.lines(t, "call failed")
	if len(failed) != 1 {
		t.Fatalf("%d call failed lines, want 1:\n%s", len(failed), g.Logs.String())
	}
	if failed[0]["call_sid"] != sid || failed[0]["reason"] != reason || failed[0]["attempts"] == nil {
		t.Errorf("call failed line %v, want call_sid %s, reason %s and attempts", failed[0], sid, reason)
	}
	for _, pii := range []string{"Maria", "Garcia", "01051980", "1980-01-05", "9999", "representative", "5555550123"} {
		if strings.Contains(g.Logs.String(), pii) {
			t.Errorf("the log holds %q", pii)
		}
	}
}
