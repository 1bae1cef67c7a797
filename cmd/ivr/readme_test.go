package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var updateReadme = flag.Bool("update-readme", false, "rewrite the README's flag reference from `ivr COMMAND -h`")

// commands are the subcommands, in the README's order.
var commands = []string{"serve", "demo", "call", "replay", "authserver", "mcp", "dtmf", "flow"}

// helpFlag is one flag as `ivr COMMAND -h` shows it.
type helpFlag struct{ name, def, usage string }

// commandFlags runs `ivr COMMAND -h` with an empty environment and reads
// its flags from what flag.PrintDefaults wrote.
func commandFlags(t *testing.T, cmd string) []helpFlag {
	t.Helper()
	var out, errb strings.Builder
	Run(context.Background(), []string{cmd, "-h"}, envOf(nil), nil, &out, &errb)
	var flags []helpFlag
	def := regexp.MustCompile(` \(default (.*)\)$`)
	for _, line := range strings.Split(errb.String(), "\n") {
		switch {
		case strings.HasPrefix(line, "  -"):
			// "  -name type", or "  -v\tusage" for a one-letter bool.
			head, usage, _ := strings.Cut(line[3:], "\t")
			name, _, _ := strings.Cut(head, " ")
			flags = append(flags, helpFlag{name: name, usage: usage})
		case strings.HasPrefix(line, "    \t") && len(flags) > 0:
			f := &flags[len(flags)-1]
			f.usage = strings.TrimSpace(f.usage + " " + strings.TrimSpace(line))
		}
	}
	for i, f := range flags {
		if m := def.FindStringSubmatch(f.usage); m != nil {
			flags[i].def, flags[i].usage = strings.Trim(m[1], `"`), strings.TrimSuffix(f.usage, m[0])
		}
	}
	return flags
}

// flagReference renders every command's flags for the README.
func flagReference(t *testing.T) string {
	var b strings.Builder
	// Table cells: "|" ends a cell and "<Gather>" would be taken for HTML.
	cell := strings.NewReplacer("|", `\|`, "<", "&lt;").Replace
	for _, cmd := range commands {
		flags := commandFlags(t, cmd)
		fmt.Fprintf(&b, "\n#### `ivr %s`\n\n", cmd)
		if len(flags) == 0 {
			b.WriteString("No flags.\n")
			continue
		}
		b.WriteString("| flag | default | what it does |\n|---|---|---|\n")
		for _, f := range flags {
			d := ""
			if f.def != "" {
				d = "`" + cell(f.def) + "`"
			}
			fmt.Fprintf(&b, "| `-%s` | %s | %s |\n", f.name, d, cell(f.usage))
		}
	}
	return b.String()
}

const (
	flagsBegin = "<!-- flags:begin (generated: go test ./cmd/ivr -run TestReadmeFlags -update-readme) -->"
	flagsEnd   = "<!-- flags:end -->"
)

// TestReadmeFlags (issue 15 item 7): the README lists every flag of every
// command as -h shows it (a generated section, rewritten with
// -update-readme), and every flag the rest of the README names for a
// command exists.
func TestReadmeFlags(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	i, j := strings.Index(readme, flagsBegin), strings.Index(readme, flagsEnd)
	if i < 0 || j < i {
		t.Fatalf("README lacks the generated flag reference between %q and %q", flagsBegin, flagsEnd)
	}
	want := flagReference(t)
	if got := readme[i+len(flagsBegin) : j]; got != want+"\n" {
		if *updateReadme {
			readme = readme[:i+len(flagsBegin)] + want + "\n" + readme[j:]
			if err := os.WriteFile("../../README.md", []byte(readme), 0o644); err != nil {
				t.Fatal(err)
			}
		} else {
			t.Errorf("the README's flag reference is not what -h shows; run go test ./cmd/ivr -run TestReadmeFlags -update-readme")
		}
	}

	known := map[string][]string{}
	for _, cmd := range commands {
		for _, f := range commandFlags(t, cmd) {
			known[cmd] = append(known[cmd], f.name)
		}
		known[cmd] = append(known[cmd], "h", "help")
	}
	rest := readme[:i] + readme[j:]
	mention := regexp.MustCompile(`\bivr (` + strings.Join(commands, "|") + `)\b([^` + "`" + `|\n]*)`)
	flagTok := regexp.MustCompile(`(?:^|\s)--?([a-z][a-z0-9-]*)`)
	row := regexp.MustCompile("^\\| `ivr (" + strings.Join(commands, "|") + ")\\b")
	codeFlag := regexp.MustCompile("`--?([a-z][a-z0-9-]*)")
	check := func(cmd, name, where string) {
		if !slices.Contains(known[cmd], name) {
			t.Errorf("the README names -%s for ivr %s, which has no such flag: %s", name, cmd, strings.TrimSpace(where))
		}
	}
	for _, line := range strings.Split(rest, "\n") {
		if m := row.FindStringSubmatch(line); m != nil {
			// The commands table: every `-flag` of the row is the command's.
			for _, f := range codeFlag.FindAllStringSubmatch(line, -1) {
				check(m[1], f[1], line)
			}
			continue
		}
		for _, m := range mention.FindAllStringSubmatch(line, -1) {
			for _, f := range flagTok.FindAllStringSubmatch(m[2], -1) {
				check(m[1], f[1], line)
			}
		}
	}
}
