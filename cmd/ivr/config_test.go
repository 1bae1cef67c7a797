package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// readmeSection returns the README's section under the heading that starts
// with heading ("## Configuration"), up to the next heading of its level.
func readmeSection(t *testing.T, heading string) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n"+heading)
	if i < 0 {
		t.Fatalf("README has no section %q", heading)
	}
	s = s[i+1:]
	level := heading[:strings.IndexByte(heading, ' ')+1]
	if j := strings.Index(s[len(heading):], "\n"+level); j >= 0 {
		s = s[:len(heading)+j+1]
	}
	return s
}

// readmeConfigVars lists the variables of the README's configuration table,
// in its order.
func readmeConfigVars(t *testing.T) []string {
	t.Helper()
	var vars []string
	name := regexp.MustCompile("`([A-Z][A-Z0-9_]+)`")
	for _, line := range strings.Split(readmeSection(t, "## Configuration"), "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		first := strings.Split(line, "|")[1]
		for _, m := range name.FindAllStringSubmatch(first, -1) {
			vars = append(vars, m[1])
		}
	}
	if len(vars) < 10 {
		t.Fatalf("README configuration table: only %v", vars)
	}
	return vars
}

// TestGatewayFlagsFollowTheReadme: the gateway's flags are declared in the
// order of the README's configuration table (the order problems are
// reported in), and every variable of the table is a flag.
func TestGatewayFlagsFollowTheReadme(t *testing.T) {
	g := addGatewayFlags(flag.NewFlagSet("serve", flag.ContinueOnError), envOf(nil))
	table := readmeConfigVars(t)
	var inTable []string
	for _, v := range g.order {
		if slices.Contains(table, v) {
			inTable = append(inTable, v)
		}
	}
	if !slices.Equal(inTable, table) {
		t.Errorf("flags declared in the order\n  %v\nthe README's table has\n  %v", inTable, table)
	}
}

// TestServeReportsEveryProblem: `env -i ivr serve` names every missing
// setting at once, one line each, in the order of the README's table, not
// one per restart.
func TestServeReportsEveryProblem(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb bytes.Buffer
	err := Run(ctx, []string{"serve"}, envOf(map[string]string{"IVR_VOICES": "Polly.Joanna", "IVR_MAX_ATTEMPTS": "three"}), nil, &out, &errb)
	if err == nil {
		t.Fatal("serve started with no configuration")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{"IVR_PUBLIC_URL", "TWILIO_AUTH_TOKEN", "IVR_AUTH_ISSUER", "IVR_CLIENT_ID", "IVR_CLIENT_SECRET",
		"IVR_SESSION_KEY", "IVR_MAX_ATTEMPTS", "IVR_VOICES"}
	if len(lines) != len(want)+1 {
		t.Fatalf("%d lines, want a heading and %d problems:\n%s", len(lines), len(want), err)
	}
	for i, v := range want {
		if !strings.HasPrefix(strings.TrimSpace(lines[i+1]), v) {
			t.Errorf("line %d = %q, want the problem with %s", i+1, lines[i+1], v)
		}
	}
	// The order is the README's.
	table := readmeConfigVars(t)
	last := -1
	for _, v := range want {
		i := slices.Index(table, v)
		if i < 0 {
			continue
		}
		if i < last {
			t.Errorf("%s is reported after a variable the README lists later", v)
		}
		last = i
	}
}

// TestMaxStreamsReachesTheGateway: IVR_MAX_STREAMS is the cap the
// transports enforce, not only a documented flag.
func TestMaxStreamsReachesTheGateway(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want int
	}{
		{nil, 1000},
		{map[string]string{"IVR_MAX_STREAMS": "7"}, 7},
	} {
		g := addGatewayFlags(flag.NewFlagSet("serve", flag.ContinueOnError), envOf(tt.env))
		if got := g.config().MaxStreams; got != tt.want {
			t.Errorf("IVR_MAX_STREAMS=%q: app.Config.MaxStreams = %d, want %d", tt.env["IVR_MAX_STREAMS"], got, tt.want)
		}
	}
}
