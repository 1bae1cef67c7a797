package app_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ivr-gateway/ivr/internal/tracing/calltrace"
	"github.com/ivr-gateway/ivr/internal/tracing/otlptest"
)

// numeric are attributes whose values are numbers the instrumentation
// measures (ports, sizes, counts): a 4-digit size is not an SSN.
var numeric = map[string]bool{
	"server.port": true, "network.peer.port": true, "client.port": true, "http.request.body.size": true,
	"http.response.body.size": true, "http.response.status_code": true, "ivr.step": true,
	"db.redis.num_cmd": true, "ivr.verification.rounds": true,
}

// loopback addresses carry random ports, which may hold any four digits.
var loopback = regexp.MustCompile(`(127\.0\.0\.1|localhost|\[::1\]):\d+`)

// TestTracesOfRealCalls exports the spans of three real calls (verified with
// the agent's MCP calls, verified after an OTP step-up, failed) to an OTLP
// receiver, checks that each call is one trace across the gateway, the AS
// and the MCP server, and scans every span name, attribute, event, link
// and resource for the test identities, the caller's number and everything
// secret the parties exchanged.
func TestTracesOfRealCalls(t *testing.T) {
	if testing.Short() {
		t.Skip("runs whole calls")
	}
	c := startChain(t, "gather")
	verified, turn := c.call(t, []string{"silence", "say:Maria Garcia", "dtmf:01051980", "dtmf:1234"}, true)
	if turn.Ended && !strings.HasPrefix(turn.End, "hangup") {
		t.Fatalf("verified call ended %q", turn.End)
	}
	stepUp, _ := c.call(t, []string{"silence", "say:Ana Lopez Ortega", "dtmf:07221990", "dtmf:4321", "otp"}, true)
	wrong := []string{"silence"}
	for range 3 {
		wrong = append(wrong, "say:Maria Garcia", "dtmf:01051980", "dtmf:9999")
	}
	failed, _ := c.call(t, wrong, false)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.tr.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	spans := c.rcv.Spans()
	if errs := c.rcv.Errors(); len(errs) > 0 {
		t.Fatalf("receiver errors: %v", errs)
	}

	// No secret anywhere.
	secrets := c.secrets.list()
	if len(secrets) < 20 {
		t.Fatalf("only %d secrets collected: the capture is broken", len(secrets))
	}
	scan := func(where, s string) {
		s = loopback.ReplaceAllString(s, "LOOPBACK")
		for _, secret := range secrets {
			if strings.Contains(s, secret) {
				t.Errorf("%s contains a secret (%q)", where, secret)
			}
		}
	}
	for _, s := range spans {
		scan("span name "+s.Name, s.Name)
		scan(s.Name+" status", s.StatusMessage)
		check := func(what string, attrs map[string]string) {
			for k, v := range attrs {
				if k == "db.statement" || k == "db.query.text" || strings.HasPrefix(k, "http.request.header") {
					t.Errorf("%s: %s has %s", s.Name, what, k)
				}
				if !numeric[k] {
					scan(fmt.Sprintf("%s: %s %s", s.Name, what, k), k+"="+v)
				}
			}
		}
		check("attribute", s.Attributes)
		check("resource", s.Resource)
		for _, e := range s.Events {
			scan(s.Name+" event", e.Name)
			check("event attribute", e.Attributes)
		}
		for _, l := range s.Links {
			check("link attribute", l.Attributes)
		}
	}

	// Each call is one trace across the services.
	byTrace := map[string][]otlptest.Span{}
	ids := map[string]otlptest.Span{}
	for _, s := range spans {
		byTrace[s.TraceID] = append(byTrace[s.TraceID], s)
		ids[s.SpanID] = s
	}
	has := func(sid, service, name string) int {
		n := 0
		for _, s := range byTrace[calltrace.TraceID(sid).String()] {
			if s.Component == service && s.Name == name {
				n++
			}
		}
		return n
	}
	for _, tc := range []struct {
		sid, service, name string
		atLeast            int
	}{
		{verified, "ivr-gateway", "POST /twilio/voice", 1},
		{verified, "ivr-gateway", "POST /twilio/gather", 4},
		{verified, "ivr-gateway", "POST /twilio/status", 1},
		{verified, "ivr-gateway", "dialog.step", 5},
		{verified, "ivr-gateway", "verification", 1},
		{verified, "ivr-gateway", "AS challenge", 1},
		{verified, "ivr-gateway", "AS token", 1},
		{verified, "ivr-gateway", "AS revocation", 1},
		{verified, "ivr-gateway", "call.end", 1},
		{verified, "ivr-gateway", "GET /v1/calls/{CallSid}/token", 1},
		{verified, "ivr-authserver", "POST /oauth/challenge", 1},
		{verified, "ivr-authserver", "POST /oauth/token", 1},
		{verified, "ivr-authserver", "POST /oauth/revoke", 1},
		{verified, "ivr-agent", "agent.run", 1},
		{verified, "ivr-agent", "tools/call whoami", 1},
		{verified, "ivr-mcp", "POST /mcp", 2},
		{verified, "ivr-mcp", "tools/call whoami", 1},
		{verified, "ivr-mcp", "tools/call next_appointment", 1},
		{stepUp, "ivr-gateway", "verification", 2},
		{stepUp, "ivr-authserver", "POST /oauth/challenge", 2},
		{stepUp, "ivr-mcp", "tools/call whoami", 1},
		{failed, "ivr-gateway", "verification", 2},
		{failed, "ivr-authserver", "POST /oauth/challenge", 2},
		{failed, "ivr-gateway", "AS token", 0},
	} {
		got := has(tc.sid, tc.service, tc.name)
		if (tc.atLeast == 0 && got != 0) || got < tc.atLeast {
			t.Errorf("call %s: %d %s spans %q in its trace, want at least %d", tc.sid, got, tc.service, tc.name, tc.atLeast)
		}
	}
	redisSpans := map[string]int{}
	for _, s := range spans {
		if s.Scope == "github.com/redis/go-redis/extra/redisotel" {
			redisSpans[s.Component]++
		}
	}
	if redisSpans["ivr-gateway"] == 0 || redisSpans["ivr-authserver"] == 0 {
		t.Errorf("Redis spans by service: %v", redisSpans)
	}
	// Across services the parent is the caller's span: the AS's server
	// spans are children of the gateway's AS requests, the MCP server's of
	// the agent's.
	for _, s := range spans {
		if s.ParentSpanID == "" {
			continue
		}
		p, ok := ids[s.ParentSpanID]
		switch {
		case !ok:
			t.Errorf("%s %s: parent %s was not exported", s.Component, s.Name, s.ParentSpanID)
		case s.Component == "ivr-authserver" && s.Kind == "server" && (p.Component != "ivr-gateway" && p.Component != "ivr-mcp" || p.Kind != "client"):
			t.Errorf("AS span %s has parent %s %s", s.Name, p.Component, p.Name)
		case s.Component == "ivr-mcp" && s.Kind == "server" && (p.Component != "ivr-agent" || p.Kind != "client"):
			t.Errorf("MCP span %s has parent %s %s", s.Name, p.Component, p.Name)
		}
	}
	for _, sid := range []string{verified, stepUp, failed} {
		services := map[string]int{}
		for _, s := range byTrace[calltrace.TraceID(sid).String()] {
			services[s.Component]++
		}
		t.Logf("call %s: trace %s, spans by service %v", sid, calltrace.TraceID(sid), services)
	}
	if os.Getenv("IVR_TRACE_DUMP") != "" { // the verified call's trace, span by span, for a human
		for _, s := range byTrace[calltrace.TraceID(verified).String()] {
			t.Logf("%-15s %-8s %-35s span=%s parent=%s links=%d attrs=%v events=%v status=%s %s", s.Component, s.Kind, s.Name, s.SpanID, s.ParentSpanID, len(s.Links), s.Attributes, s.Events, s.StatusCode, s.StatusMessage)
		}
	}
	var outcomes []string
	for _, s := range byTrace[calltrace.TraceID(failed).String()] {
		if s.Name == "verification" {
			outcomes = append(outcomes, s.Attributes["ivr.verification.outcome"])
		}
	}
	if len(outcomes) == 0 || strings.Contains(strings.Join(outcomes, ","), "verified") {
		t.Errorf("failed call's verification outcomes %v", outcomes)
	}
}

// TestTracesOverMediaStreams: with the keypad questions on a Media Stream,
// the WebSocket session is one long request whose span knows no call SID
// when it starts; the dialog steps run from it are in the call's trace,
// linked to the session's span, which gets the call SID.
func TestTracesOverMediaStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a whole call")
	}
	c := startChain(t, "stream")
	sid, _ := c.call(t, []string{"silence", "say:Maria Garcia", "dtmf:01051980", "dtmf:1234"}, true)
	if err := c.tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := calltrace.TraceID(sid).String()
	var socket *otlptest.Span
	spans := c.rcv.Spans()
	for i, s := range spans {
		if s.Name == "GET /twilio/stream" {
			socket = &spans[i]
		}
	}
	if socket == nil || socket.Attributes["ivr.call_sid"] != sid {
		t.Fatalf("no stream span with the call SID: %+v", socket)
	}
	linked, verifications := 0, 0
	for _, s := range spans {
		if s.TraceID != want {
			continue
		}
		if s.Name == "dialog.step" && len(s.Links) == 1 && s.Links[0].SpanID == socket.SpanID {
			linked++
		}
		if s.Name == "verification" && s.Attributes["ivr.verification.outcome"] == "verified" {
			verifications++
		}
	}
	if linked == 0 || verifications != 1 {
		t.Errorf("%d steps linked to the stream's span, %d verified verifications in the call's trace", linked, verifications)
	}
}
