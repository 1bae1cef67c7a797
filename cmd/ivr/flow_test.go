package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
)

func runFlowCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	// The environment must not matter: the README's diagram is what
	// `ivr flow` prints anywhere.
	env := envOf(map[string]string{"IVR_LANGUAGES": "fr-FR", "IVR_FALLBACK_NUMBER": "", "IVR_MAX_ATTEMPTS": "9"})
	err := Run(context.Background(), append([]string{"flow"}, args...), env, nil, &out, &errb)
	return out.String(), err
}

// TestFlowCommand: with no flags `ivr flow` prints the dialog package's
// golden drawings byte for byte, and the flags change what they say.
func TestFlowCommand(t *testing.T) {
	for _, tt := range []struct {
		args   []string
		golden string
	}{
		{nil, "../../dialog/testdata/flow.mmd"},
		{[]string{"-format", "mermaid"}, "../../dialog/testdata/flow.mmd"},
		{[]string{"-format", "dot"}, "../../dialog/testdata/flow.dot"},
	} {
		want, err := os.ReadFile(tt.golden)
		if err != nil {
			t.Fatal(err)
		}
		got, err := runFlowCmd(t, tt.args...)
		if err != nil {
			t.Fatalf("ivr flow %v: %v", tt.args, err)
		}
		if got != string(want) {
			t.Errorf("ivr flow %v differs from %s", tt.args, tt.golden)
		}
	}

	tests := []struct {
		args          []string
		want, wantNot []string
	}{
		{[]string{"-fallback=false"}, []string{"n_failed --> r_hangup", `r_hangup(["goodbye and hang up"])`}, []string{"r_transfer"}},
		{[]string{"-fallback=true"}, []string{"n_failed --> r_transfer"}, []string{"r_hangup"}},
		{[]string{"-lang", "es-US"}, []string{"incoming --> n_name"}, []string{"n_language"}},
		{[]string{"-max-attempts", "1"}, []string{`n_verifying -->|"denied"| n_failed`}, []string{`-->|"denied"| n_name`}},
		{[]string{"-format", "dot", "-fallback=false"}, []string{`"n_failed" -> "r_hangup";`, "digraph ivr_flow {"}, []string{"r_transfer"}},
	}
	for _, tt := range tests {
		out, err := runFlowCmd(t, tt.args...)
		if err != nil {
			t.Fatalf("ivr flow %v: %v", tt.args, err)
		}
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("ivr flow %v: no %q in\n%s", tt.args, w, out)
			}
		}
		for _, w := range tt.wantNot {
			if strings.Contains(out, w) {
				t.Errorf("ivr flow %v: %q drawn", tt.args, w)
			}
		}
	}

	for _, bad := range [][]string{
		{"-format", "svg"},
		{"-lang", "fr-FR"},
		{"-lang", ","},
		{"-max-attempts", "0"},
		{"extra"},
	} {
		if out, err := runFlowCmd(t, bad...); err == nil || out != "" {
			t.Errorf("ivr flow %v: err = %v, printed %d bytes", bad, err, len(out))
		}
	}
}

// TestReadmeFlow keeps the README's diagram what the machine draws: its
// "Call flow" section's Mermaid block must be dialog/testdata/flow.mmd.
func TestReadmeFlow(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("../../dialog/testdata/flow.mmd")
	if err != nil {
		t.Fatal(err)
	}
	block, found, err := mermaidBlock(string(readme), "Call flow")
	if !found {
		t.Fatal(`README has no "## Call flow" section`)
	}
	if err != nil {
		t.Fatal(err)
	}
	if block != string(want) {
		t.Error("README's Mermaid block differs from dialog/testdata/flow.mmd: paste `go run ./cmd/ivr flow` into it")
	}
}

// mermaidBlock returns the first ```mermaid block of the section under the
// "## heading" line of a Markdown document.
func mermaidBlock(doc, heading string) (block string, found bool, err error) {
	_, section, found := strings.Cut(doc, "\n## "+heading+"\n")
	if !found {
		return "", false, nil
	}
	section, _, _ = strings.Cut(section, "\n## ")
	_, block, ok := strings.Cut(section, "```mermaid\n")
	if !ok {
		return "", true, errors.New("the section has no ```mermaid block")
	}
	block, _, ok = strings.Cut(block, "```\n")
	if !ok {
		return "", true, errors.New("the Mermaid block is not closed")
	}
	return block, true, nil
}

func TestMermaidBlock(t *testing.T) {
	tests := []struct {
		doc, want string
		found     bool
		wantErr   bool
	}{
		{"# x\n## Call flow\ntext\n```mermaid\nflowchart TD\n    a --> b\n```\nmore\n", "flowchart TD\n    a --> b\n", true, false},
		{"# x\n## Other\n```mermaid\nx\n```\n", "", false, false},
		{"# x\n## Call flow\nno block\n## Next\n```mermaid\nx\n```\n", "", true, true},
		{"# x\n## Call flow\n```mermaid\nflowchart TD\n", "", true, true},
	}
	for _, tt := range tests {
		got, found, err := mermaidBlock(tt.doc, "Call flow")
		if got != tt.want || found != tt.found || (err != nil) != tt.wantErr {
			t.Errorf("mermaidBlock(%q) = %q, %v, %v", tt.doc, got, found, err)
		}
	}
}
