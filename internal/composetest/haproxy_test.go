package composetest

import (
	"encoding/csv"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ivr-gateway/ivr/internal/redistest"
	"github.com/ivr-gateway/ivr/internal/testlog"
)

// haproxyBinary returns Debian's haproxy, or skips: no Docker engine runs
// here, and the balancer's file is only as good as what runs it.
func haproxyBinary(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		t.Skip("no haproxy binary: SKIPPING the balancer's checks (apt-get install haproxy runs them)")
	}
	return bin
}

// TestHAProxyConfigValid: `haproxy -c` accepts deploy/haproxy/haproxy.cfg.
// The only warnings allowed are the replicas' host name not resolving here
// (it is a Docker service name).
func TestHAProxyConfigValid(t *testing.T) {
	bin := haproxyBinary(t)
	out, err := exec.Command(bin, "-c", "-f", filepath.Join(root, haproxyConfigFile)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Configuration file is valid") {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "[WARNING]") && !strings.Contains(line, "could not resolve address 'authserver'") {
			t.Errorf("haproxy -c: %s", line)
		}
	}
}

// balancer is haproxy running the repository's file, with the replicas'
// addresses and the bind ports replaced by loopback ones.
type balancer struct {
	url, stats string
	log        *testlog.Buffer
}

func startBalancer(t *testing.T, servers map[string]string) *balancer {
	t.Helper()
	bin := haproxyBinary(t)
	b, err := os.ReadFile(filepath.Join(root, haproxyConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	lb, stats := freeAddr(t), freeAddr(t)
	replace := map[string]string{"bind :8080\n": "bind " + lb + "\n", "bind :8404\n": "bind " + stats + "\n"}
	for from, to := range servers {
		replace[" "+from+"\n"] = " " + to + "\n"
	}
	for from, to := range replace {
		if strings.Count(cfg, from) != 1 {
			t.Fatalf("%s: %q is not there exactly once; this test replaces it", haproxyConfigFile, strings.TrimSpace(from))
		}
		cfg = strings.Replace(cfg, from, to, 1)
	}
	file := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	log := &testlog.Buffer{}
	cmd := exec.Command(bin, "-db", "-f", file)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("haproxy: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("haproxy's log:\n%s", log.String())
		}
	})
	bl := &balancer{url: "http://" + lb, stats: "http://" + stats, log: log}
	bl.await(t, "every replica UP", func(st map[string]serverStats) bool {
		for _, name := range []string{"gateway-1", "gateway-2"} {
			if st[name].status != "UP" {
				return false
			}
		}
		return true
	})
	return bl
}

// serverStats is a backend server's line of haproxy's CSV statistics.
type serverStats struct {
	status                string // UP, DOWN, or a transition such as "DOWN 1/2"
	retries, redispatches int
}

func (b *balancer) serverStats(t *testing.T) map[string]serverStats {
	t.Helper()
	resp, err := http.Get(b.stats + "/;csv")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(body), "# "))).ReadAll()
	if err != nil || len(rows) < 2 {
		return nil
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	out := map[string]serverStats{}
	for _, r := range rows[1:] {
		if len(r) < len(rows[0])-1 || r[col["pxname"]] != "gateways" {
			continue
		}
		retr, _ := strconv.Atoi(r[col["wretr"]])
		redis, _ := strconv.Atoi(r[col["wredis"]])
		out[r[col["svname"]]] = serverStats{status: r[col["status"]], retries: retr, redispatches: redis}
	}
	return out
}

// await polls the statistics until ok (15 s at most).
func (b *balancer) await(t *testing.T, what string, ok func(map[string]serverStats) bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st := b.serverStats(t)
		if st != nil && ok(st) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy: timed out waiting for %s; servers %+v", what, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// haLogRE matches one request of haproxy's httplog format: the server
// that took it, the status and the request line.
var haLogRE = regexp.MustCompile(`\] ivr gateways/(\S+) \S+ (\d{3}) .*"(\w+) (\S+) HTTP/1\.1"`)

// requests returns what haproxy logged of the requests it passed to the
// replicas: server, status, method and path (without the query).
func (b *balancer) requests() [][4]string {
	var out [][4]string
	for _, m := range haLogRE.FindAllStringSubmatch(b.log.String(), -1) {
		path, _, _ := strings.Cut(m[4], "?")
		out = append(out, [4]string{m[1], m[2], m[3], path})
	}
	return out
}

// counter returns the sum of a metric's series on an instance.
func counter(t *testing.T, in *instance, name string) float64 {
	t.Helper()
	_, raw := metricNames(t, in.url)
	var sum float64
	for _, line := range strings.Split(raw, "\n") {
		if line == name || strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
		}
	}
	return sum
}

// forged sends n unsigned webhooks through the balancer; the gateway that
// gets each refuses it with 403 and counts a signature failure, which tells
// where it went.
func forged(t *testing.T, base string, n int) {
	t.Helper()
	for range n {
		resp, err := http.PostForm(base+"/twilio/voice", url.Values{"CallSid": {"CA" + strings.Repeat("1", 32)}})
		if err != nil {
			t.Fatalf("through the balancer: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("an unsigned webhook through the balancer: %s, want the gateway's 403", resp.Status)
		}
	}
}

// TestHAProxyInFrontOfGateways runs deploy/haproxy/haproxy.cfg in front of
// two in-process gateways that share a Redis and a session key (the cluster
// profile's replicas, on loopback), with IVR_TRANSPORT=relay so that a call
// needs a WebSocket too, and checks what the README says the balancer does:
// one call's requests spread over both instances, its WebSocket upgrade
// passes, and the call is verified; /metrics is refused; a refused
// connection is retried on the other instance; an instance that comes back
// rejoins the pool; one whose /readyz answers 503 leaves it.
func TestHAProxyInFrontOfGateways(t *testing.T) {
	haproxyBinary(t)
	if testing.Short() {
		t.Skip("waits for haproxy's health checks")
	}
	rdb, prefix := redistest.Client(t)
	logs := &testlog.Buffer{}
	f := newFleet(t, rdb, prefix, logs)
	// gateway-1 has an authorization server of its own, so that it can be
	// made unready without touching gateway-2.
	as1 := startAS(t)
	g1 := f.startWith(t, "relay", as1.URL)
	g2 := f.start(t, "relay")
	lb := startBalancer(t, map[string]string{"authserver:8081": g1.addr, "authserver:8082": g2.addr})

	// Round robin, no stickiness: one call's requests (webhooks, its
	// ConversationRelay WebSocket, the agent's token request) land on both
	// replicas, and the call is verified.
	verifiedCall(t, lb.url)
	servers := map[string]int{}
	var upgraded bool
	for _, r := range lb.requests() {
		servers[r[0]]++
		upgraded = upgraded || (r[2] == "GET" && r[3] == "/twilio/relay" && r[1] == "101")
	}
	if servers["gateway-1"] == 0 || servers["gateway-2"] == 0 {
		t.Errorf("requests of one call per replica: %v; want both (round robin, no stickiness)", servers)
	}
	if !upgraded {
		t.Errorf("no GET /twilio/relay upgraded (101) through the balancer; logged %q", lb.requests())
	}
	if r1, r2 := counter(t, g1, "ivr_relay_sessions_total"), counter(t, g2, "ivr_relay_sessions_total"); r1+r2 != 1 {
		t.Errorf("relay sessions that reached a gateway through the balancer: %v, want 1", r1+r2)
	}
	if resp, err := http.Get(lb.url + "/metrics"); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics through the balancer: %s, want 404", resp.Status)
	}

	// gateway-2 dies: connections to it are refused. Before its health
	// check notices, every request still reaches gateway-1.
	before := lb.serverStats(t)["gateway-2"]
	s1 := counter(t, g1, "ivr_signature_failures_total")
	g2.stop()
	forged(t, lb.url, 4)
	if got := counter(t, g1, "ivr_signature_failures_total") - s1; got != 4 {
		t.Errorf("gateway-1 answered %v of 4 webhooks while gateway-2 refused connections", got)
	}
	after := lb.serverStats(t)["gateway-2"]
	if after.status == "UP" && after.redispatches == before.redispatches && after.retries == before.retries {
		t.Errorf("no request was retried away from the refusing gateway-2 (stats %+v)", after)
	}
	lb.await(t, "gateway-2 DOWN", func(st map[string]serverStats) bool { return st["gateway-2"].status == "DOWN" })
	g2.resume(t)
	lb.await(t, "gateway-2 back UP", func(st map[string]serverStats) bool { return st["gateway-2"].status == "UP" })

	// gateway-1's /readyz turns 503 (its authorization server is gone; a
	// draining instance answers the same): it leaves the pool, and new
	// requests go to gateway-2 only.
	as1.Close()
	lb.await(t, "gateway-1 DOWN", func(st map[string]serverStats) bool { return st["gateway-1"].status == "DOWN" })
	resp, err := http.Get(g1.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("gateway-1 /readyz: %s, want 503", resp.Status)
	}
	s1, s2 := counter(t, g1, "ivr_signature_failures_total"), counter(t, g2, "ivr_signature_failures_total")
	forged(t, lb.url, 4)
	if d1, d2 := counter(t, g1, "ivr_signature_failures_total")-s1, counter(t, g2, "ivr_signature_failures_total")-s2; d1 != 0 || d2 != 4 {
		t.Errorf("with gateway-1 unready: %v webhooks to gateway-1, %v to gateway-2; want 0 and 4", d1, d2)
	}
}
