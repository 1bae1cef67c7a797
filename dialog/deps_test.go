package dialog

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDeps keeps the dialog pure (style guide G2, G3): no transport, no
// store, no AS client. golang.org/x/tools is not a dependency, so this asks
// the go command, as tailscale's deptest does.
func TestDeps(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("go command not found: %v", err)
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list -deps: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 || deps[len(deps)-1] != "github.com/ivr-gateway/ivr/dialog" {
		t.Fatalf("go list -deps did not list the dialog package last: %q", deps)
	}
	forbidden := []string{
		"net/http",
		"github.com/redis/go-redis/v9",
		"golang.org/x/oauth2",
		"github.com/twilio/twilio-go",
		"github.com/gorilla/websocket",
		"github.com/ivr-gateway/ivr/telephony",
		"github.com/ivr-gateway/ivr/store",
		"github.com/ivr-gateway/ivr/authclient",
	}
	for _, dep := range deps {
		for _, bad := range forbidden {
			if dep == bad || strings.HasPrefix(dep, bad+"/") {
				t.Errorf("dialog depends on %s", dep)
			}
		}
	}
}

// TestNoClockReads: "time" is imported for Input.At, but Step must read no
// clock (style guide G8), so no non-test file may refer to time.Now.
func TestNoClockReads(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		checked++
		reads, err := clockReads(name, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range reads {
			t.Errorf("%s: reads the clock", r)
		}
	}
	if checked == 0 {
		t.Fatal("no non-test files found")
	}
}

// TestClockReadsFinds keeps TestNoClockReads from passing vacuously.
func TestClockReadsFinds(t *testing.T) {
	tests := []struct {
		name, src string
		want      int
	}{
		{"call", "package p\nimport \"time\"\nvar x = time.Now()", 1},
		{"value", "package p\nimport \"time\"\nvar now = time.Now", 1},
		{"alias", "package p\nimport tm \"time\"\nfunc f() { _ = tm.Since(tm.Time{}) }", 1},
		{"dot", "package p\nimport . \"time\"\nvar x = Now()", 1},
		{"clean", "package p\nimport \"time\"\nfunc f(at time.Time) bool { return at.IsZero() }", 0},
		{"no-import", "package p\nvar time struct{ Now int }\nvar x = time.Now", 0},
	}
	for _, tt := range tests {
		got, err := clockReads(tt.name+".go", tt.src)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if len(got) != tt.want {
			t.Errorf("%s: found %v, want %d", tt.name, got, tt.want)
		}
	}
}

// clockReads lists where the file (src, or read from name when nil) refers
// to a clock-reading function of package time.
func clockReads(name string, src any) ([]string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	timePkg := ""
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == "time" {
			timePkg = "time"
			if imp.Name != nil {
				timePkg = imp.Name.Name
			}
		}
	}
	var reads []string
	switch timePkg {
	case "", "_":
		return nil, nil
	case ".":
		// A dot import hides the package name; refuse it outright.
		return []string{fset.Position(f.Package).String() + " (dot import of time)"}, nil
	}
	ast.Inspect(f, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if x, ok := sel.X.(*ast.Ident); ok && x.Name == timePkg {
			switch sel.Sel.Name {
			case "Now", "Since", "Until", "After", "AfterFunc", "NewTimer", "NewTicker", "Tick", "Sleep":
				reads = append(reads, fset.Position(sel.Pos()).String()+" time."+sel.Sel.Name)
			}
		}
		return true
	})
	return reads, nil
}
