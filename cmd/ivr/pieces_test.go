package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ivr-gateway/ivr/internal/redistest"
)

// TestRunningThePieces (issue 15 item 5) runs the shell blocks of the
// README's "Running the pieces yourself" as written: secrets made with
// openssl, `ivr authserver`, `ivr mcp` and `ivr serve` started by hand on
// one Redis, a scripted call that must be verified with the agent's MCP
// result, and `ivr dtmf` over the repository's WAV and over one sox makes.
// Only the ports (free ones instead of 9000, 9100 and 8080) and the Redis
// (the tests', under a throwaway prefix) differ.
func TestRunningThePieces(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	for _, tool := range []string{"bash", "openssl", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("SKIPPING: the README's commands need %s, which is not installed", tool)
		}
	}
	blocks := shellBlocks(t, readmeSection(t, "## Running the pieces yourself"))
	if len(blocks) < 5 {
		t.Fatalf("the section has %d sh blocks, want at least 5", len(blocks))
	}
	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	for _, b := range blocks {
		if strings.HasPrefix(b, "sox ") {
			if _, err := exec.LookPath("sox"); err != nil {
				t.Log("sox is not installed: its block is left out")
				continue
			}
		}
		script.WriteString(b)
	}
	s := script.String()
	for _, addr := range []string{"127.0.0.1:9000", "127.0.0.1:9100", "127.0.0.1:8080"} {
		if !strings.Contains(s, addr) {
			t.Fatalf("the commands no longer use %s; adjust the test", addr)
		}
		s = strings.ReplaceAll(s, addr, freeAddr(t))
	}

	bin := buildIvr(t)
	_, prefix := redistest.Client(t) // deletes prefix* at the end: both parts' keys
	env := []string{
		"PATH=" + filepath.Dir(bin) + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + t.TempDir(), "TMPDIR=" + t.TempDir(),
		"REDIS_URL=" + redistest.URL(), "IVR_REDIS_PREFIX=" + prefix + "gw:", "IVR_AS_REDIS_PREFIX=" + prefix + "as:",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.CommandContext(ctx, "bash", "-c", s)
	cmd.Dir = "../.."
	cmd.Env = env
	// A file, not a pipe: the servers left running in the background hold
	// it, and Wait must return when the script does. Their process group is
	// ended when the test does.
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	defer func() {
		syscall.Kill(-pgid, syscall.SIGTERM)
		time.Sleep(200 * time.Millisecond)
		syscall.Kill(-pgid, syscall.SIGKILL)
	}()
	err = cmd.Wait()
	got, _ := os.ReadFile(out.Name())
	if err != nil {
		t.Fatalf("the README's commands failed: %v\n%s", err, got)
	}
	want := []string{"you are verified", "whoami:", "Call verified.", `"digits":"123A456B789C*0#D"`}
	if _, err := exec.LookPath("sox"); err == nil {
		want = append(want, `"digits":"1234"`)
	}
	for _, w := range want {
		if !strings.Contains(string(got), w) {
			t.Errorf("output lacks %q:\n%s", w, got)
		}
	}
}

// shellBlocks returns the ```sh blocks of a README section, each ending in
// a newline.
func shellBlocks(t *testing.T, section string) []string {
	t.Helper()
	var blocks []string
	rest := section
	for {
		i := strings.Index(rest, "```sh\n")
		if i < 0 {
			return blocks
		}
		rest = rest[i+len("```sh\n"):]
		j := strings.Index(rest, "```\n")
		if j < 0 {
			t.Fatal("unterminated sh block")
		}
		blocks = append(blocks, rest[:j])
		rest = rest[j:]
	}
}

// freeAddr returns a loopback address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return "127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}
