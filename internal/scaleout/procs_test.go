package scaleout

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// buildIVR builds the ivr binary once for the test.
func buildIVR(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ivr")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/ivr-gateway/ivr/cmd/ivr").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// freeAddr returns a loopback address nothing listens on (yet).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// proc is a process of the test: a gateway or the AS.
type proc struct {
	name   string
	cmd    *exec.Cmd
	log    *lockedBuffer
	exited chan struct{}
	killed atomic.Bool
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// start runs bin with args and env (added to a minimal environment), its
// output captured; it is stopped (SIGTERM, then SIGKILL) when the test ends.
func start(t *testing.T, name, bin string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, log: &lockedBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("--- %s log (last 3000 bytes) ---\n%s", name, tail(p.log.String(), 3000))
		}
	})
	return p
}

// kill stops the process with SIGKILL, as a crash or an OOM kill would.
func (p *proc) kill() {
	p.killed.Store(true)
	p.cmd.Process.Kill()
	<-p.exited
}

// cpu is the process's user+system CPU time so far (Linux /proc), or 0.
func (p *proc) cpu() time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+k) * (time.Second / 100) // CLK_TCK is 100 on Linux
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// waitHTTP waits until GET url answers 200.
func waitHTTP(t *testing.T, url string, p *proc) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("%s exited:\n%s", p.name, tail(p.log.String(), 3000))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready at %s:\n%s", p.name, url, tail(p.log.String(), 3000))
		}
	}
}

// balancer is a round-robin HTTP load balancer in front of the gateways,
// with no stickiness. A request whose connection fails (refused: the
// instance is gone; reset or closed before an answer: it died under the
// request) is sent to the next instance, as a health-checked balancer does
// and as Twilio does with its own connection retry; webhooks carry their
// step, so a retried one never advances a call twice.
type balancer struct {
	url      string
	backends []string
	next     atomic.Uint64
	retried  atomic.Int64
	rt       http.RoundTripper
}

func newBalancer(t *testing.T, addr string, backends []string) *balancer {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	b := &balancer{url: "http://" + ln.Addr().String(), backends: backends,
		rt: &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: 30 * time.Second, ResponseHeaderTimeout: 20 * time.Second}}
	srv := &http.Server{Handler: b}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return b
}

func (b *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	first := b.next.Add(1)
	n := uint64(len(b.backends))
	for i := uint64(0); i < 2*n; i++ {
		out, err := http.NewRequestWithContext(r.Context(), r.Method, "http://"+b.backends[(first+i)%n]+r.RequestURI, bytes.NewReader(body))
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		out.Header = r.Header.Clone()
		resp, err := b.rt.RoundTrip(out)
		if err != nil {
			if r.Context().Err() != nil {
				return
			}
			b.retried.Add(1)
			continue
		}
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
		resp.Body.Close()
		return
	}
	w.WriteHeader(http.StatusBadGateway)
}

// slowProxy forwards to target, holding requests to the challenge endpoint
// for delay: an authorization server under load, so that verifications are
// in flight when an instance dies.
func slowProxy(t *testing.T, addr, target string, delay time.Duration) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	rt := &http.Transport{MaxIdleConnsPerHost: 256}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/challenge") {
			time.Sleep(delay)
		}
		out, _ := http.NewRequestWithContext(r.Context(), r.Method, "http://"+target+r.RequestURI, r.Body)
		out.Header = r.Header.Clone()
		resp, err := rt.RoundTrip(out)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}
