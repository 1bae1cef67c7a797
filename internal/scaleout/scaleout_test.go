package scaleout

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ivr-gateway/ivr/internal/redistest"
	"github.com/ivr-gateway/ivr/internal/replay"
	"github.com/ivr-gateway/ivr/internal/twiliosim"
)

const (
	authToken  = "scaleout-auth-token-0123456789abcdef"
	agentKey   = "scaleout-agent-key"
	clientID   = "scaleout-gw"
	clientSec  = "scaleout-gw-secret"
	sessionKey = "c2NhbGVvdXQtc2Vzc2lvbi1rZXktMDEyMzQ1Njc4OWE=" // 32 bytes, base64
	instances  = 3
)

// patient is one identity of authserver/testdata/patients.json that the
// load's callers claim (the demo patients without a texted code or a twin).
type patient struct{ id, name, dob, ssn4 string }

var patients = []patient{
	{"pat-0001", "Maria Garcia", "01051980", "1234"},
	{"pat-0005", "Jose Hernandez", "03151990", "4321"},
}

// deployment is what TestScaleOut runs: a Redis Cluster, the reference AS
// on a Redis of its own behind a slow link, three gateways, a balancer.
type deployment struct {
	clusterURL string
	nodes      []*redistest.Server
	gateways   []*proc
	lb         *balancer
}

func startDeployment(t *testing.T, asDelay time.Duration) *deployment {
	t.Helper()
	bin := buildIVR(t)
	d := &deployment{}
	d.clusterURL, d.nodes = redistest.StartCluster(t)

	// The reference AS, on its own Redis (the test kills cluster nodes, not
	// the AS's), reached through a proxy that makes challenges slow: the
	// issuer is the proxy's URL, so every endpoint goes through it.
	asRedis := redistest.StartServer(t)
	asAddr, asPublic := freeAddr(t), freeAddr(t)
	clients := filepath.Join(t.TempDir(), "clients")
	if err := os.WriteFile(clients, []byte(clientID+":"+clientSec+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	as := start(t, "authserver", bin, []string{"REDIS_URL=redis://" + asRedis.Addr},
		"authserver", "-addr", asAddr, "-issuer", "http://"+asPublic,
		"-patients", "../../authserver/testdata/patients.json", "-clients", clients, "-client-rate", "100000000")
	slowProxy(t, asPublic, asAddr, asDelay)
	waitHTTP(t, "http://"+asPublic+"/.well-known/oauth-authorization-server", as)

	lbAddr := freeAddr(t)
	var backends []string
	for i := range instances {
		addr := freeAddr(t)
		backends = append(backends, addr)
		gw := start(t, fmt.Sprintf("gateway-%d", i+1), bin, []string{
			"IVR_ADDR=" + addr, "IVR_PUBLIC_URL=http://" + lbAddr, "TWILIO_AUTH_TOKEN=" + authToken,
			"REDIS_URL=" + d.clusterURL, "IVR_REDIS_MODE=cluster",
			"IVR_AUTH_ISSUER=http://" + asPublic, "IVR_CLIENT_ID=" + clientID, "IVR_CLIENT_SECRET=" + clientSec,
			"IVR_SESSION_KEY=" + sessionKey, "IVR_AGENT_KEYS=" + agentKey, "IVR_CALLER_LIMIT=100000000",
			"IVR_ORG_NAME=Example Health", "IVR_LOG_FORMAT=json",
		}, "serve")
		waitHTTP(t, "http://"+addr+"/readyz", gw)
		d.gateways = append(d.gateways, gw)
	}
	d.lb = newBalancer(t, lbAddr, backends)
	return d
}

// TestScaleOut is issue 10's proof: the recorded call fixtures through a
// balancer in front of three instances sharing a Redis Cluster; then a load
// of concurrent calls during which one instance is killed (SIGKILL) and
// then one Redis primary. No call may be lost: every one is verified and
// handed off, its token is the patient's and no other, no webhook answers
// 5xx or anything but TwiML, and no caller hears the apology.
func TestScaleOut(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a Redis Cluster, an AS and three gateways as processes")
	}
	d := startDeployment(t, 300*time.Millisecond)

	t.Run("fixtures", func(t *testing.T) {
		files, err := filepath.Glob("../../telephony/testdata/calls/*.jsonl")
		if err != nil || len(files) == 0 {
			t.Fatalf("no fixtures: %v", err)
		}
		ran := 0
		for _, f := range files {
			fx, err := replay.Load(f)
			if err != nil {
				t.Fatal(err)
			}
			if !fx.Header.Env.Default() {
				continue // needs the in-process AS double or a dead Redis
			}
			ran++
			mm, err := replay.Run(context.Background(), fx, replay.Target{
				BaseURL: d.lb.url, PublicURL: d.lb.url, AuthToken: authToken,
				FreshCallSid: freshSid(), AgentKey: agentKey,
			})
			if err != nil {
				t.Errorf("%s: %v", fx.Header.Fixture, err)
			}
			for _, m := range mm {
				t.Errorf("%s: %s", fx.Header.Fixture, m)
			}
		}
		t.Logf("%d fixtures replayed through %d instances", ran, instances)
	})

	t.Run("load with kills", func(t *testing.T) {
		calls := 1000
		if n, err := strconv.Atoi(os.Getenv("SCALEOUT_CALLS")); err == nil && n > 0 {
			calls = n
		}
		runLoad(t, d, calls)
	})
}

func freshSid() string {
	return fmt.Sprintf("CA%016x%016x", rand.Uint64(), rand.Uint64())
}

// sample is one webhook (or agent API request) the simulated Twilio made.
type sample struct {
	at      time.Time
	took    time.Duration
	status  int
	failed  bool // no answer at all
	webhook bool
}

// timing records every request's latency.
type timing struct {
	mu      sync.Mutex
	samples []sample
	rt      http.RoundTripper
}

func (tm *timing) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := tm.rt.RoundTrip(r)
	s := sample{at: start, took: time.Since(start), failed: err != nil, webhook: strings.HasPrefix(r.URL.Path, "/twilio/")}
	if resp != nil {
		s.status = resp.StatusCode
	}
	tm.mu.Lock()
	tm.samples = append(tm.samples, s)
	tm.mu.Unlock()
	return resp, err
}

// outcome is what happened to one call of the load.
type outcome struct {
	sid        string
	patient    patient
	end        string
	verified   bool
	apology    bool
	tokenSub   string
	tokenErr   error
	holdPolls  int
	verifyTook time.Duration // from the last key of the SSN to the verified turn
	err        error
}

func runLoad(t *testing.T, d *deployment, calls int) {
	tm := &timing{rt: &http.Transport{MaxIdleConnsPerHost: 1024, MaxConnsPerHost: 0, IdleConnTimeout: 30 * time.Second}}
	hc := &http.Client{Transport: tm, Timeout: 30 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	// Ramp every call in over `ramp`; each caller thinks 2-3 s before each
	// answer, so all are in progress at once in the middle of the run, and
	// they give their SSN-4 (the verification) from about 10 s to 15 s. The
	// instance dies in that window, with verifications in flight on it (the
	// AS takes 300 ms a challenge); a Redis primary dies 2.5 s later.
	const ramp = 5 * time.Second
	started := time.Now()
	var killedAt, failedOverAt atomic.Int64
	var active, peak atomic.Int64
	go func() {
		time.Sleep(ramp + 7500*time.Millisecond)
		killedAt.Store(time.Since(started).Nanoseconds())
		d.gateways[1].kill()
		time.Sleep(2500 * time.Millisecond)
		failedOverAt.Store(time.Since(started).Nanoseconds())
		killPrimary(t, d)
	}()
	results := make([]outcome, calls)
	var wg sync.WaitGroup
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * ramp / time.Duration(calls))
			n := active.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			results[i] = oneCall(ctx, hc, d.lb.url, i)
			active.Add(-1)
		}()
	}
	wg.Wait()

	var lost, wrong, notVerified, apologies, errors, holds int
	var verifyTimes []time.Duration
	for _, r := range results {
		switch {
		case r.err != nil:
			errors++
			if errors <= 5 {
				t.Errorf("call %s: %v (end %q)", r.sid, r.err, r.end)
			}
		case !r.verified:
			notVerified++
			if notVerified <= 5 {
				t.Errorf("call %s not verified: ended %q", r.sid, r.end)
			}
		case r.tokenErr != nil:
			lost++
			if lost <= 5 {
				t.Errorf("call %s: token lost: %v", r.sid, r.tokenErr)
			}
		case r.tokenSub != r.patient.id:
			wrong++
			t.Errorf("call %s: token for %q, want %q", r.sid, r.tokenSub, r.patient.id)
		}
		if r.apology {
			apologies++
		}
		if r.holdPolls > 0 {
			holds++
		}
		verifyTimes = append(verifyTimes, r.verifyTook)
	}
	var bad5xx, noAnswer, webhooks int
	for _, s := range tm.samples {
		if !s.webhook {
			continue
		}
		webhooks++
		if s.failed {
			noAnswer++
		} else if s.status >= 500 {
			bad5xx++
		}
	}
	k1, k2 := time.Duration(killedAt.Load()), time.Duration(failedOverAt.Load())
	t.Logf("calls %d (peak %d in progress at once), webhooks %d, retried by the balancer %d", calls, peak.Load(), webhooks, d.lb.retried.Load())
	t.Logf("lost tokens %d, wrong tokens %d, not verified %d, call errors %d, apologies %d, webhook 5xx %d, unanswered %d",
		lost, wrong, notVerified, errors, apologies, bad5xx, noAnswer)
	t.Logf("instance killed at %v, Redis primary killed at %v", k1.Round(time.Millisecond), k2.Round(time.Millisecond))
	for _, w := range []struct {
		name     string
		from, to time.Duration
	}{
		{"before the kills", 0, k1},
		{"instance kill +5 s", k1, k1 + 5*time.Second},
		{"Redis primary kill +5 s", k2, k2 + 5*time.Second},
		{"after", k2 + 5*time.Second, time.Hour},
	} {
		t.Logf("  webhook latency %-26s %s", w.name+":", percentiles(tm.samples, started, w.from, w.to))
	}
	slices.Sort(verifyTimes)
	t.Logf("calls that held for verification: %d; SSN-4 to verified: p50 %v p99 %v max %v", holds,
		pct(verifyTimes, 50), pct(verifyTimes, 99), pct(verifyTimes, 100))
	if lost+wrong+notVerified+errors+apologies+bad5xx+noAnswer > 0 {
		t.Errorf("the load lost calls (see above)")
	}
	for _, gw := range d.gateways {
		if strings.Contains(gw.log.String(), "1980-01-05") || strings.Contains(gw.log.String(), "Maria") {
			t.Errorf("%s logged personal data", gw.name)
		}
	}
}

func percentiles(ss []sample, start time.Time, from, to time.Duration) string {
	var d []time.Duration
	for _, s := range ss {
		at := s.at.Sub(start)
		if s.webhook && at >= from && at < to {
			d = append(d, s.took)
		}
	}
	slices.Sort(d)
	return fmt.Sprintf("n=%d p50=%v p99=%v max=%v", len(d), pct(d, 50), pct(d, 99), pct(d, 100))
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := (len(d) - 1) * p / 100
	return d[i].Round(100 * time.Microsecond)
}

// oneCall places one call through the balancer, answers every question
// with a caller's pauses, and checks the token the agent API gives.
func oneCall(ctx context.Context, hc *http.Client, base string, i int) (o outcome) {
	o.patient = patients[i%len(patients)]
	o.sid = freshSid()
	think := func() { time.Sleep(2*time.Second + time.Duration(rand.IntN(1000))*time.Millisecond) }
	c, turn, err := twiliosim.Dial(ctx, twiliosim.Config{
		BaseURL: base, PublicURL: base, AuthToken: authToken, CallSid: o.sid,
		From: fmt.Sprintf("+1555%07d", i), HTTPClient: hc, PauseScale: 1,
	})
	if err != nil {
		o.err = err
		return o
	}
	answers := []func() (*twiliosim.Turn, error){
		func() (*twiliosim.Turn, error) { return c.Silence(ctx) },
		func() (*twiliosim.Turn, error) { return c.Say(ctx, o.patient.name, 0.93) },
		func() (*twiliosim.Turn, error) { return c.Press(ctx, o.patient.dob) },
		func() (*twiliosim.Turn, error) { return c.Press(ctx, o.patient.ssn4) },
	}
	heard := func(t *twiliosim.Turn) {
		for _, u := range t.Heard {
			if strings.Contains(u.Text, "trouble") {
				o.apology = true
			}
		}
	}
	heard(turn)
	for n, answer := range answers {
		if turn.Ended {
			o.end = turn.End
			return o
		}
		think()
		start := time.Now()
		if turn, err = answer(); err != nil {
			o.err = err
			return o
		}
		heard(turn)
		if n == len(answers)-1 {
			o.verifyTook, o.holdPolls = time.Since(start), turn.Polls
		}
	}
	o.end = turn.End
	for _, u := range turn.Heard {
		o.verified = o.verified || strings.Contains(u.Text, "you are verified")
	}
	if !turn.Ended {
		o.err = fmt.Errorf("call still waiting after the SSN-4 (%v)", turn.Gather)
		return o
	}
	o.tokenSub, o.tokenErr = tokenSubject(ctx, hc, base, o.sid)
	if err := c.Hangup(ctx, "completed"); err != nil {
		o.err = err
	}
	return o
}

// tokenSubject fetches the call's token as the agent does and returns its
// subject (the patient id the AS issued it for).
func tokenSubject(ctx context.Context, hc *http.Client, base, sid string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/calls/"+sid+"/token?wait=10s", nil)
	req.Header.Set("Authorization", "Bearer "+agentKey)
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("agent API answered %d", resp.StatusCode)
	}
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", err
	}
	parts := strings.Split(body.AccessToken, ".")
	if len(parts) != 3 {
		return "", fmt.Errorf("not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", err
	}
	var claims struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return "", err
	}
	return claims.Sub, nil
}

// killPrimary kills the Redis Cluster primary that owns the most slots in
// use (the first primary it finds), as a crashed node would go.
func killPrimary(t *testing.T, d *deployment) {
	cc, err := redis.ParseClusterURL(d.clusterURL)
	if err != nil {
		t.Error(err)
		return
	}
	c := redis.NewClusterClient(cc)
	defer c.Close()
	var (
		mu      sync.Mutex
		primary string
	)
	c.ForEachMaster(context.Background(), func(ctx context.Context, m *redis.Client) error {
		mu.Lock()
		defer mu.Unlock()
		if a := m.Options().Addr; primary == "" || a < primary {
			primary = a
		}
		return nil
	})
	for _, n := range d.nodes {
		if n.Addr == primary {
			n.Kill()
			return
		}
	}
	t.Errorf("primary %q not among the nodes", primary)
}
