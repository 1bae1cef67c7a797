package main

import (
	"bytes"
	"context"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ivr-gateway/ivr/internal/app"
	"github.com/ivr-gateway/ivr/internal/redistest"
	"github.com/ivr-gateway/ivr/internal/replay"
	"github.com/ivr-gateway/ivr/internal/twiliosim"
)

// TestReplayAllFixtures runs `ivr replay` in process over every recorded
// call, on the shared Redis, and checks that it leaves no key behind
// (issue 15 item 6: it used to leave every call, token, caller counter and
// events stream of every fixture, the streams without expiry).
func TestReplayAllFixtures(t *testing.T) {
	fixtures, err := filepath.Glob("../../telephony/testdata/calls/*.jsonl")
	if err != nil || len(fixtures) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	rdb := redistest.Open(t, redistest.Single, nil)
	before := redistest.MustKeys(t, rdb, "replay:*")
	env := func(k string) string {
		if k == "REDIS_URL" {
			return redistest.URL()
		}
		return ""
	}
	var out, errOut bytes.Buffer
	err = Run(context.Background(), append([]string{"replay"}, fixtures...), env, nil, &out, &errOut)
	if err != nil {
		t.Fatalf("ivr replay: %v\n%s%s", err, out.String(), errOut.String())
	}
	want := regexp.MustCompile(`(?m)^` + strconv.Itoa(len(fixtures)) + ` passed, 0 failed$`)
	if !want.Match(out.Bytes()) {
		t.Errorf("ivr replay output:\n%s", out.String())
	}
	if after := redistest.MustKeys(t, rdb, "replay:*"); len(after) > len(before) {
		t.Errorf("ivr replay left %d keys behind, e.g. %q", len(after)-len(before), after[0])
	}
}

// TestReplayFreshCallers (issue 15 item 1): every fixture `ivr replay -url`
// runs calls from a fresh number, so repeated runs against one gateway do
// not exhaust the per-caller limit and turn the recorded answers into
// "call failed: caller_limit".
func TestReplayFreshCallers(t *testing.T) {
	g := startGateway(t, func(c *app.Config) { c.CallerLimit, c.HoldPause = 2, 2*time.Second }, nil)
	fx := "../../telephony/testdata/calls/happy_path.jsonl"
	var out, errOut bytes.Buffer
	err := Run(context.Background(), []string{"replay", "-url", g.URL, "-token", g.Token, "-agent-key", testAgentKey, fx, fx, fx},
		envOf(nil), nil, &out, &errOut)
	if err != nil || !strings.Contains(out.String(), "3 passed, 0 failed") {
		t.Errorf("three replays against a gateway allowing two attempts per number: %v\n%s%s", err, out.String(), errOut.String())
	}
	if n := len(g.lines(t, "call failed")); n != 0 {
		t.Errorf("%d calls failed:\n%s", n, g.Logs.String())
	}
}

// TestWithCaller: the caller's number is replaced in every request and
// setup message; a request whose signature was valid stays valid, one
// forged on purpose stays forged.
func TestWithCaller(t *testing.T) {
	fx, err := replay.Load("../../telephony/testdata/calls/bad_signatures.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	const caller = "+12025550143"
	got := withCaller(fx, caller)
	for i, l := range got.Lines {
		orig := fx.Lines[i].Request
		if strings.Contains(l.Request.Body, "5555550123") {
			t.Errorf("line %d still has the recorded number: %s", l.N, l.Request.Body)
		}
		v, _ := url.ParseQuery(l.Request.Body)
		if from := v.Get("From"); from != "" && from != caller {
			t.Errorf("line %d: From = %q", l.N, from)
		}
		wasValid := orig.Signature != "" && twiliosim.Sign(fx.Header.AuthToken, orig.URL, mustQuery(orig.Body)) == orig.Signature
		isValid := l.Request.Signature != "" && twiliosim.Sign(fx.Header.AuthToken, l.Request.URL, mustQuery(l.Request.Body)) == l.Request.Signature
		if wasValid != isValid {
			t.Errorf("line %d: signature valid %v, was %v", l.N, isValid, wasValid)
		}
	}
	if strings.Contains(fx.Lines[0].Request.Body, caller) {
		t.Error("withCaller changed the fixture it was given")
	}
	relay, err := replay.Load("../../telephony/testdata/calls/relay_happy_path.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range withCaller(relay, caller).Lines {
		if l.Socket == nil {
			continue
		}
		for _, f := range l.Socket.Frames {
			if bytes.Contains(f.Send, []byte("5555550123")) {
				t.Errorf("line %d: a setup message still has the recorded number: %s", l.N, f.Send)
			}
		}
	}
}
