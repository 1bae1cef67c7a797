package callflow

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps the engine transport-neutral: no HTTP, no WebSocket, no
// Twilio types, directly or through what it imports. Transports adapt to
// the engine, never the other way round.
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
	forbidden := []string{
		"net/http",
		"github.com/gorilla/websocket",
		"github.com/twilio/twilio-go",
		"golang.org/x/oauth2",
		"github.com/prometheus/client_golang",
		"github.com/ivr-gateway/ivr/telephony",
		"github.com/ivr-gateway/ivr/authclient",
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, bad := range forbidden {
			if dep == bad || strings.HasPrefix(dep, bad+"/") {
				t.Errorf("callflow depends on %s", dep)
			}
		}
	}
}
