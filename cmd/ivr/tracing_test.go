package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ivr-gateway/ivr/internal/asdouble"
	"github.com/ivr-gateway/ivr/internal/redistest"
	"github.com/ivr-gateway/ivr/internal/tracing/calltrace"
	"github.com/ivr-gateway/ivr/internal/tracing/otlptest"
	"github.com/ivr-gateway/ivr/internal/twiliosim"
)

// TestDemoTraces runs `ivr demo` and `ivr call --script` as processes with
// OTEL_EXPORTER_OTLP_ENDPOINT pointing at a test OTLP receiver. Once the
// demo has been interrupted (it flushes on shutdown), the receiver holds
// the call's spans from the gateway, the reference AS, the MCP server and
// the agent, all in the call's one trace.
func TestDemoTraces(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	rcv := otlptest.Start(t)
	bin := filepath.Join(t.TempDir(), "ivr")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	env := append(os.Environ(), "REDIS_URL=", "OTEL_EXPORTER_OTLP_ENDPOINT="+rcv.URL, "OTEL_SERVICE_NAME=",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=", "OTEL_TRACES_SAMPLER=", "OTEL_SDK_DISABLED=", "OTEL_TRACES_EXPORTER=")
	demo := exec.CommandContext(ctx, bin, "demo", "-addr", "127.0.0.1:0", "-patients", "../../authserver/testdata/patients.json")
	demo.Env = env
	stdout, err := demo.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	demo.Stderr = &stderr
	if err := demo.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			demo.Process.Signal(os.Interrupt)
			demo.Wait()
		}
	}
	defer stop()
	cmdLine := regexp.MustCompile(`call -url (\S+) -token (\S+) -agent-key (\S+) -mcp-url (\S+) -script -`)
	var m []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if m = cmdLine.FindStringSubmatch(sc.Text()); m != nil {
			break
		}
	}
	if m == nil {
		stop()
		t.Fatalf("no call command in the demo banner; stderr:\n%s", stderr.String())
	}
	go func() {
		for sc.Scan() {
		}
	}()
	call := exec.CommandContext(ctx, bin, "call", "-url", m[1], "-token", m[2], "-agent-key", m[3], "-mcp-url", m[4], "-script", "-")
	call.Env = env
	call.Stdin = strings.NewReader("silence\nsay:Maria Garcia\ndtmf:01051980\ndtmf:1234\n")
	out, err := call.CombinedOutput()
	if err != nil {
		stop()
		t.Fatalf("ivr call: %v\n%s\ndemo stderr:\n%s", err, out, stderr.String())
	}
	sid := regexp.MustCompile(`\(call (CA[0-9a-f]{32})\)`).FindSubmatch(out)
	if sid == nil {
		t.Fatalf("no call SID in:\n%s", out)
	}
	stop() // the demo flushes its spans as it exits

	want := calltrace.TraceID(string(sid[1])).String()
	inTrace := map[string]map[string]bool{} // component -> span names
	for _, s := range rcv.Spans() {
		if s.TraceID != want {
			continue
		}
		if inTrace[s.Component] == nil {
			inTrace[s.Component] = map[string]bool{}
		}
		inTrace[s.Component][s.Name] = true
	}
	for component, names := range map[string][]string{
		"ivr-gateway":    {"POST /twilio/voice", "POST /twilio/gather", "dialog.step", "verification", "AS challenge", "AS token", "GET /v1/calls/{CallSid}/token"},
		"ivr-authserver": {"POST /oauth/challenge", "POST /oauth/token"},
		"ivr-mcp":        {"POST /mcp", "tools/call whoami"},
		"ivr-agent":      {"agent.run", "tools/call whoami"},
	} {
		for _, name := range names {
			if !inTrace[component][name] {
				t.Errorf("%s: no %q span in the call's trace %s (got %v)", component, name, want, inTrace[component])
			}
		}
	}
	if errs := rcv.Errors(); len(errs) > 0 {
		t.Errorf("receiver errors: %v", errs)
	}
	if !strings.Contains(stderr.String(), "tracing on") {
		t.Errorf("the demo did not log its tracing set-up:\n%s", stderr.String())
	}
}

// TestServeFlushesTraces: `ivr serve` exports the spans still buffered when
// it is stopped (the batch processor would otherwise hold them for its
// next scheduled export, which never comes).
func TestServeFlushesTraces(t *testing.T) {
	rcv := otlptest.Start(t)
	as := asdouble.Serve(t, &asdouble.Server{ClientID: "ivr-gateway", ClientSecret: "s"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	base := "http://" + addr
	_, prefix := redistest.Client(t) // its keys are deleted when the test ends
	env := map[string]string{
		"IVR_PUBLIC_URL": base, "TWILIO_AUTH_TOKEN": "t", "IVR_SESSION_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		"IVR_AUTH_ISSUER": as.Issuer, "IVR_CLIENT_ID": "ivr-gateway", "IVR_CLIENT_SECRET": "s",
		"REDIS_URL": redistest.URL(), "IVR_REDIS_PREFIX": prefix, "IVR_DRAIN_DELAY": "0s",
		"OTEL_EXPORTER_OTLP_ENDPOINT": rcv.URL,
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, []string{"serve", "-addr", addr}, envOf(env), nil, io.Discard, io.Discard) }()
	var call *twiliosim.Call
	var turn *twiliosim.Turn
	deadline := time.Now().Add(15 * time.Second)
	for {
		// Until the gateway listens, the simulator's call ends in an error.
		call, turn, err = twiliosim.Dial(context.Background(), twiliosim.Config{BaseURL: base, PublicURL: base, AuthToken: "t"})
		if (err == nil && !turn.Ended) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil || turn.Ended {
		t.Fatalf("the gateway did not answer: %v %+v", err, turn)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
	want := calltrace.TraceID(call.Sid()).String()
	found := false
	for _, s := range rcv.Spans() {
		found = found || (s.TraceID == want && s.Name == "POST /twilio/voice" && s.Service == "ivr-gateway")
	}
	if !found {
		t.Errorf("no POST /twilio/voice span of call %s among %d spans exported at exit", call.Sid(), len(rcv.Spans()))
	}
}
