package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDemoEndToEnd runs `ivr demo` as a real process and `ivr call --script`
// against it, as a newcomer would: the whole chain (gateway, reference AS,
// MCP server, agent) over loopback HTTP, with the demo's embedded Redis.
func TestDemoEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildIvr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	demo := exec.CommandContext(ctx, bin, "demo", "-addr", "127.0.0.1:0", "-patients", "../../authserver/testdata/patients.json")
	demo.Env = append(os.Environ(), "REDIS_URL=", "IVR_CALLER_LIMIT=7", "IVR_LOG_FORMAT=")
	stdout, err := demo.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	demo.Stderr = &stderr
	start := time.Now()
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
	// The banner's "or unattended" command carries everything ivr call needs.
	cmdLine := regexp.MustCompile(`call -url (\S+) -token (\S+) -agent-key (\S+) -mcp-url (\S+) -script -`)
	var (
		m      []string
		banner strings.Builder
	)
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		banner.WriteString(sc.Text() + "\n")
		if m = cmdLine.FindStringSubmatch(sc.Text()); m != nil {
			break
		}
	}
	// The banner says the per-caller limit it runs with (IVR_CALLER_LIMIT
	// honoured) and why Jon Smith gets a texted code.
	for _, want := range []string{"Each caller number gets 7 verification attempts an hour", "name and DOB also fit John Smyth"} {
		if !strings.Contains(banner.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, banner.String())
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
	script := "silence\nsay:Maria Garcia\ndtmf:01051980\ndtmf:1234\n"
	call := exec.CommandContext(ctx, bin, "call", "-url", m[1], "-token", m[2], "-agent-key", m[3], "-mcp-url", m[4], "-script", "-")
	call.Stdin = strings.NewReader(script)
	out, err := call.CombinedOutput()
	took := time.Since(start)
	if err != nil {
		stop()
		t.Fatalf("ivr call: %v\n%s\ndemo stderr:\n%s", err, out, stderr.String())
	}
	for _, want := range []string{"you are verified", "whoami:", `"patient_id":"pat-0001"`, "next_appointment:", "Call verified."} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("ivr call output lacks %q:\n%s", want, out)
		}
	}
	t.Logf("demo start to verified call and MCP tool result: %s", took.Round(time.Millisecond))

	// A wrong answer three times: not verified, exit status 1, and the
	// demo's terminal says why (below).
	bad := exec.CommandContext(ctx, bin, "call", "-url", m[1], "-token", m[2], "-agent-key", m[3], "-script", "-")
	bad.Stdin = strings.NewReader(failedScript)
	out, err = bad.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Errorf("unverified call: err=%v, want exit status 1\n%s", err, out)
	}
	// The recorded fixtures replay against the running demo (those that
	// need the in-process AS double are skipped).
	fixtures, _ := filepath.Glob("../../telephony/testdata/calls/*.jsonl")
	rep := exec.CommandContext(ctx, bin, append([]string{"replay", "-url", m[1], "-token", m[2], "-agent-key", m[3]}, fixtures...)...)
	out, err = rep.CombinedOutput()
	if err != nil || !regexp.MustCompile(`(?m)^\d+ passed, 0 failed, \d+ skipped$`).Match(out) {
		t.Errorf("ivr replay against the demo: %v\n%s", err, out)
	}
	// No personal data in the demo's logs (read once the demo has exited:
	// exec writes stderr from its own goroutine).
	stop()
	if !regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d gateway +call failed +call_sid=CA[0-9a-f]{32} reason=attempts_exhausted attempts=3$`).MatchString(stderr.String()) {
		t.Errorf("the demo's log has no readable call failed line for the failed call:\n%s", stderr.String())
	}
	for _, s := range []string{"Garcia", "García", "1980-01-05", "01051980"} {
		if strings.Contains(stderr.String(), s) {
			t.Errorf("demo log contains %q", s)
		}
	}
}
