package pkgdoc

import (
	"os/exec"
	"strings"
	"testing"
)

// TestPackageDocs fails for any package of the module without a package
// doc comment (the tailscale rule the style guide adopts).
func TestPackageDocs(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{.Doc}}", "github.com/ivr-gateway/ivr/...").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, doc, _ := strings.Cut(line, "|")
		n++
		if strings.TrimSpace(doc) == "" {
			t.Errorf("%s has no package doc comment", path)
		}
	}
	if n < 10 {
		t.Errorf("go list found only %d packages", n)
	}
}
