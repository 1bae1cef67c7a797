package dialog

import (
	"bytes"
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ivr-gateway/ivr/kba"
)

var update = flag.Bool("update", false, "rewrite testdata/flow.mmd and testdata/flow.dot")

// drawnNodes lists every Node constant by name. TestFlowDrawsEveryNode checks
// the list against the constants the package declares, so a new node must
// be listed here, and then drawn.
var drawnNodes = map[string]Node{
	"NodeLanguage":   NodeLanguage,
	"NodeName":       NodeName,
	"NodeSpell":      NodeSpell,
	"NodeDOB":        NodeDOB,
	"NodeConfirmDOB": NodeConfirmDOB,
	"NodeSSN4":       NodeSSN4,
	"NodeOTP":        NodeOTP,
	"NodeVerifying":  NodeVerifying,
	"NodeVerified":   NodeVerified,
	"NodeFailed":     NodeFailed,
	"NodeEnded":      NodeEnded,
}

// defaultFlow is what `ivr flow` draws with no flags: both languages, a
// fallback number configured.
func defaultFlow(t *testing.T) Flow {
	t.Helper()
	return walk(t, Config{HasFallback: true})
}

func walk(t *testing.T, cfg Config) Flow {
	t.Helper()
	f, err := WalkFlow(New(cfg), FlowClasses())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestFlowGolden: any change to the machine's transitions, or to the
// classes, changes the drawing; review the diff and rerun with
// go test ./dialog -run Flow -update.
func TestFlowGolden(t *testing.T) {
	f := defaultFlow(t)
	for _, g := range []struct {
		file string
		got  []byte
	}{
		{"testdata/flow.mmd", f.Mermaid()},
		{"testdata/flow.dot", f.Dot()},
	} {
		if *update {
			if err := os.WriteFile(g.file, g.got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(g.file)
		if err != nil {
			t.Fatalf("%v (run go test ./dialog -run Flow -update to create it)", err)
		}
		if !bytes.Equal(g.got, want) {
			t.Errorf("%s differs from the machine's flow (go test ./dialog -run Flow -update rewrites it):\n%s", g.file, g.got)
		}
	}
}

// TestFlowDrawsEveryNode fails when a node of the machine is missing from
// the drawing, or when the package declares a node this test does not list.
func TestFlowDrawsEveryNode(t *testing.T) {
	declared := declaredNodes(t)
	for _, name := range declared {
		if _, ok := drawnNodes[name]; !ok {
			t.Errorf("%s is declared but not listed in drawnNodes: list it, and make sure the flow reaches it", name)
		}
	}
	for name := range drawnNodes {
		if !slices.Contains(declared, name) {
			t.Errorf("drawnNodes lists %s, which the package no longer declares", name)
		}
	}
	f := defaultFlow(t)
	for name, n := range drawnNodes {
		if !slices.ContainsFunc(f.Vertices, func(v FlowVertex) bool { return v.Node == n }) {
			t.Errorf("%s (%q) is missing from the drawing", name, n)
		}
	}
}

// declaredNodes lists the constants of type Node in the package's non-test files.
func declaredNodes(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	fset := token.NewFileSet()
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); ok && id.Name == "Node" {
					for _, n := range vs.Names {
						names = append(names, n.Name)
					}
				}
			}
		}
	}
	if len(names) == 0 {
		t.Fatal("found no Node constants")
	}
	return names
}

func hasEdge(f Flow, from, label, to string) bool {
	return slices.Contains(f.Edges, FlowEdge{From: from, To: to, Label: label, Aside: label == "hang-up"})
}

// TestFlowEdges pins the shapes the brief asks for, independently of the
// golden file: a miss re-asks (a self-loop), the second miss takes the
// failure path, and the failure path ends in a transfer or, without a
// fallback number, in goodbye and hang-up.
func TestFlowEdges(t *testing.T) {
	tests := []struct {
		name       string
		cfg        Config
		want       [][3]string // from, label, to
		wantNot    []string    // vertex IDs
		wantNoMenu bool
	}{
		{
			name: "fallback",
			cfg:  Config{HasFallback: true},
			want: [][3]string{
				{"incoming", "", "n_language"},
				{"n_dob", "no input (1st)", "n_dob"},
				{"n_dob", "no input (2nd)", "n_failed"},
				{"n_dob", "invalid answer (2nd)", "n_failed"},
				{"n_spell", "no input (2nd)", "n_dob"},
				{"n_confirm_dob", "no (1st)", "n_dob"},
				{"n_verifying", "denied (1st-2nd)", "n_name"},
				{"n_verifying", "denied (3rd)", "n_failed"},
				{"n_verifying", "poll (1st-10th) / hold", "n_verifying"},
				{"n_verifying", "invalid session (1st) / verify again", "n_verifying"},
				{"n_verifying", "wrong code (2nd)", "n_failed"},
				{"n_verifying", "locked", "n_failed"},
				{"n_verified", "", "r_handoff"},
				{"n_failed", "", "r_transfer"},
				{"n_otp", "hang-up", "n_ended"},
			},
			wantNot: []string{"r_hangup"},
		},
		{
			name: "no-fallback",
			cfg:  Config{},
			want: [][3]string{
				{"n_failed", "", "r_hangup"},
				{"n_verified", "", "r_handoff"},
			},
			wantNot: []string{"r_transfer"},
		},
		{
			name: "one-language",
			cfg:  Config{Languages: []kba.Lang{kba.Spanish}, MaxAttempts: 2},
			want: [][3]string{
				{"incoming", "", "n_name"},
				{"n_verifying", "denied (1st)", "n_name"},
				{"n_verifying", "denied (2nd)", "n_failed"},
			},
			wantNot: []string{"n_language"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := walk(t, tt.cfg)
			for _, e := range tt.want {
				if !hasEdge(f, e[0], e[1], e[2]) {
					t.Errorf("no edge %s -[%s]-> %s in\n%s", e[0], e[1], e[2], f.Mermaid())
				}
			}
			for _, id := range tt.wantNot {
				if slices.ContainsFunc(f.Vertices, func(v FlowVertex) bool { return v.ID == id }) {
					t.Errorf("vertex %s drawn", id)
				}
			}
		})
	}
}

func TestFlowDeterministic(t *testing.T) {
	a := defaultFlow(t)
	for range 2 {
		if b := defaultFlow(t); !bytes.Equal(a.Mermaid(), b.Mermaid()) || !bytes.Equal(a.Dot(), b.Dot()) {
			t.Fatal("two walks of the same machine drew different flows")
		}
	}
}

// TestFlowWalkErrors: a class that leads one node to two places with
// nothing to tell them apart is refused, and so is an unbounded walk.
func TestFlowWalkErrors(t *testing.T) {
	classes := FlowClasses()
	mixed := slices.Clone(classes)
	for i, c := range mixed {
		if c.Label == "answer" {
			// An answer that is sometimes silence: no longer one class.
			events := c.Events
			mixed[i].Events = func(s State) []Event {
				return append(events(s), Input{})
			}
		}
	}
	if _, err := WalkFlow(New(Config{}), mixed); err == nil || !strings.Contains(err.Error(), `"answer"`) {
		t.Errorf("mixed class: err = %v", err)
	}
	if _, err := walkFlow(New(Config{MaxPolls: 1 << 30}), classes, 5000); err == nil || !strings.Contains(err.Error(), "not bounded") {
		t.Errorf("unbounded polls: err = %v", err)
	}
}

// TestFlowNoPersonalData: the drawing shows classes, never the
// representative answers behind them nor the test identities.
func TestFlowNoPersonalData(t *testing.T) {
	f := defaultFlow(t)
	out := string(f.Mermaid()) + string(f.Dot())
	for _, secret := range []string{
		"Alex", "Rivera", "1990", "02031990", "2468", "135790", "R I V E R A",
		testName.Given, testName.Family, testSSN4, testOTP, testSession, "1980",
	} {
		if strings.Contains(out, secret) {
			t.Errorf("drawing contains %q", secret)
		}
	}
}

var (
	mermaidID     = `[a-z][a-z0-9_]*`
	mermaidVertex = regexp.MustCompile(`^    (` + mermaidID + `)(\(\(|\(\[|\{\{|\[|\()"[^"]*"(\)\)|\]\)|\}\}|\]|\))$`)
	mermaidEdge   = regexp.MustCompile(`^    (` + mermaidID + `) (-->|-\.->)(\|"[^"]*"\|)? (` + mermaidID + `)$`)
	// Words Mermaid's flowchart lexer takes as keywords.
	mermaidReserved = []string{"end", "subgraph", "graph", "flowchart", "style", "classdef", "class", "click",
		"linkstyle", "direction", "default", "call", "href", "interpolate", "accdescr", "acctitle"}
)

// TestFlowMermaidSyntax keeps the output inside the documented basic
// flowchart syntax (checked once against Mermaid 11's own parser): quoted
// labels with no quote inside, balanced shapes, identifiers that are no
// keyword and do not start with o or x (Mermaid reads "--o" and "--x" as
// arrow heads), every edge between declared vertices.
func TestFlowMermaidSyntax(t *testing.T) {
	for _, cfg := range []Config{{HasFallback: true}, {}} {
		out := string(walk(t, cfg).Mermaid())
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if lines[0] != "flowchart TD" {
			t.Fatalf("first line %q", lines[0])
		}
		declared := map[string]bool{}
		shape := map[string]string{"((": "))", "([": "])", "{{": "}}", "[": "]", "(": ")"}
		checkID := func(id string) {
			if slices.Contains(mermaidReserved, strings.ToLower(id)) || id[0] == 'o' || id[0] == 'x' {
				t.Errorf("identifier %q is unsafe in Mermaid", id)
			}
		}
		for _, line := range lines[1:] {
			if m := mermaidVertex.FindStringSubmatch(line); m != nil {
				if shape[m[2]] != m[3] {
					t.Errorf("unbalanced shape: %q", line)
				}
				checkID(m[1])
				declared[m[1]] = true
				continue
			}
			m := mermaidEdge.FindStringSubmatch(line)
			if m == nil {
				t.Errorf("not basic Mermaid syntax: %q", line)
				continue
			}
			for _, id := range []string{m[1], m[4]} {
				if !declared[id] {
					t.Errorf("edge to undeclared vertex %q: %q", id, line)
				}
			}
		}
	}
	if got := mermaidText(`a "b" #c`); got != "a #quot;b#quot; #35;c" {
		t.Errorf("mermaidText = %q", got)
	}
}

// TestFlowDotRenders asks Graphviz to lay the drawing out when it is
// installed (Debian's graphviz).
func TestFlowDotRenders(t *testing.T) {
	dot, err := exec.LookPath("dot")
	if err != nil {
		t.Skip("Graphviz dot not installed; the golden file still pins the output")
	}
	cmd := exec.Command(dot, "-Tsvg")
	cmd.Stdin = bytes.NewReader(defaultFlow(t).Dot())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 || !bytes.Contains(out, []byte("<svg")) {
		t.Fatalf("dot -Tsvg: %v\n%s", err, stderr.String())
	}
}

func TestOrdinals(t *testing.T) {
	tests := []struct {
		in   []int
		want string
	}{
		{[]int{1}, "1st"},
		{[]int{2, 1}, "1st-2nd"},
		{[]int{1, 2, 3, 5, 11, 12, 13, 21, 22, 23}, "1st-3rd, 5th, 11th-13th, 21st-23rd"},
		{[]int{111, 112}, "111th-112th"},
	}
	for _, tt := range tests {
		set := map[int]bool{}
		for _, n := range tt.in {
			set[n] = true
		}
		if got := ordinals(set); got != tt.want {
			t.Errorf("ordinals(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// BenchmarkWalkFlow: what `ivr flow` costs, and how many states it walks.
func BenchmarkWalkFlow(b *testing.B) {
	m, classes := New(Config{HasFallback: true}), FlowClasses()
	var f Flow
	for b.Loop() {
		var err error
		if f, err = WalkFlow(m, classes); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(f.States), "states")
}
