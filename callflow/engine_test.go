package callflow_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/ivr-gateway/ivr/authclient"
	"github.com/ivr-gateway/ivr/callflow"
	"github.com/ivr-gateway/ivr/dialog"
	"github.com/ivr-gateway/ivr/internal/app"
	"github.com/ivr-gateway/ivr/internal/asdouble"
	"github.com/ivr-gateway/ivr/internal/redistest"
	"github.com/ivr-gateway/ivr/internal/testlog"
	"github.com/ivr-gateway/ivr/internal/tracing"
	"github.com/ivr-gateway/ivr/kba"
	"github.com/ivr-gateway/ivr/store"
	"github.com/ivr-gateway/ivr/telephony"
)

const (
	clientID     = "ivr-gateway"
	clientSecret = "engine-test-secret"
	scope        = "patient.read"
)

var patients = []asdouble.Patient{{ID: "pat-0001", Given: "Maria", Family: "Garcia", Birthdate: "1980-01-05", SSN4: "1234"}}

// newAS starts an AS double, as a real HTTP server on loopback.
func newAS(t *testing.T) *asdouble.Server {
	t.Helper()
	as := &asdouble.Server{ClientID: clientID, ClientSecret: clientSecret, Patients: patients, Scope: scope}
	srv := httptest.NewServer(as.Handler())
	t.Cleanup(srv.Close)
	as.Issuer = srv.URL
	return as
}

// instance is one gateway instance's engine: its own Redis connection, its
// own AS client and its own metrics, sharing the Redis server and prefix
// with the other instances of a test.
type instance struct {
	engine *callflow.Engine
	reg    *prometheus.Registry
	rdb    redis.UniversalClient
	store  *store.Store
}

type instanceOpts struct {
	rdb      redis.UniversalClient
	prefix   string
	key      []byte
	as       *asdouble.Server
	leaseTTL time.Duration
	log      io.Writer
	tp       trace.TracerProvider // nil: no tracing
}

func newInstance(t *testing.T, o instanceOpts) *instance {
	t.Helper()
	st, err := store.New(o.rdb, store.Options{Prefix: o.prefix, SessionKey: o.key, CallerLimit: 100})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	hc := &http.Client{Timeout: 10 * time.Second,
		Transport: tracing.Transport(&http.Transport{}, o.tp, func(r *http.Request) string { return "AS " + r.URL.Path })}
	t.Cleanup(hc.CloseIdleConnections)
	md, err := authclient.Discover(context.Background(), hc, o.as.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	ac, err := authclient.New(authclient.Config{Metadata: md, ClientID: clientID, ClientSecret: clientSecret, Scope: scope, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	w := o.log
	if w == nil {
		w = io.Discard
	}
	e, err := callflow.New(callflow.Config{VerifyWait: 50 * time.Millisecond, LeaseTTL: o.leaseTTL}, callflow.Deps{
		Machine: dialog.New(dialog.Config{Languages: []kba.Lang{kba.English, kba.Spanish}}),
		Store:   st, Verifier: app.NewASVerifier(ac), Observer: telephony.NewMetrics(reg),
		Logger: slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{ReplaceAttr: testlog.NoTime})), TracerProvider: o.tp,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.Shutdown(ctx)
	})
	return &instance{engine: e, reg: reg, rdb: o.rdb, store: st}
}

func newSid(t *testing.T) string {
	b := make([]byte, 16)
	rand.Read(b)
	return "CA" + hex.EncodeToString(b)
}

func newKey() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

// answer advances the call by one event at its current step and fails the
// test on an error.
func answer(t *testing.T, in *instance, sid string, step int64, ev dialog.Event) callflow.Turn {
	t.Helper()
	turn, err := in.engine.Advance(context.Background(), callflow.Call{Sid: sid, Step: step}, ev)
	if err != nil {
		t.Fatalf("Advance(%s): %v", callflow.EventName(ev), err)
	}
	return turn
}

// toSSN4 walks a call from its start to the SSN-4 question.
func toSSN4(t *testing.T, in *instance, sid string) callflow.Turn {
	t.Helper()
	tn := answer(t, in, sid, 0, dialog.Start{})
	tn = answer(t, in, sid, tn.Step, dialog.Input{Digits: "1"})
	tn = answer(t, in, sid, tn.Step, dialog.Input{Speech: "Maria Garcia", Confidence: 0.9, HasConfidence: true})
	tn = answer(t, in, sid, tn.Step, dialog.Input{Digits: "01051980", At: time.Now()})
	if tn.State.Node != dialog.NodeSSN4 {
		t.Fatalf("after the date of birth: node %s, want ssn4", tn.State.Node)
	}
	return tn
}

// metric sums the counters called name with a label of value label over
// the instances' registries.
func metric(t *testing.T, name, label string, ins ...*instance) float64 {
	t.Helper()
	n := 0.0
	for _, in := range ins {
		mfs, err := in.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range mfs {
			if f.GetName() != name {
				continue
			}
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetValue() == label {
						n += m.GetCounter().GetValue()
					}
				}
			}
		}
	}
	return n
}

func verifiedCount(t *testing.T, ins ...*instance) float64 {
	t.Helper()
	return metric(t, "ivr_calls_total", "verified", ins...)
}

func TestVerifiedCall(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	in := newInstance(t, instanceOpts{rdb: rdb, prefix: prefix, key: newKey(), as: newAS(t)})
	sid := newSid(t)
	tn := toSSN4(t, in, sid)
	tn = answer(t, in, sid, tn.Step, dialog.Input{Digits: "1234"})
	if tn.State.Node != dialog.NodeVerified {
		t.Fatalf("node %s, want verified", tn.State.Node)
	}
	tok, err := in.store.Token(context.Background(), sid)
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("token: %v %v", tok, err)
	}
	if got := verifiedCount(t, in); got != 1 {
		t.Errorf("ivr_calls_total{verified} = %v, want 1", got)
	}
}

// TestRepeatedEventsAdvanceOnce sends one event many times at once, as
// Twilio's retries and a client that repeats can: the call moves once.
func TestRepeatedEventsAdvanceOnce(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	a := newInstance(t, instanceOpts{rdb: rdb, prefix: prefix, key: newKey(), as: newAS(t)})
	sid := newSid(t)
	tn := toSSN4(t, a, sid)
	var wg sync.WaitGroup
	steps := make(chan int64, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := a.engine.Advance(context.Background(), callflow.Call{Sid: sid, Step: tn.Step}, dialog.Input{Digits: "1234"})
			if err != nil {
				t.Error(err)
				return
			}
			steps <- got.Step
		}()
	}
	wg.Wait()
	close(steps)
	verified := 0
	for s := range steps {
		// The winner answers from verified (two saves on); a losing copy
		// answers where the winner left the call: verifying (hold) or verified.
		switch s {
		case tn.Step + 2:
			verified++
		case tn.Step + 1:
		default:
			t.Errorf("a copy answered at step %d, want %d or %d", s, tn.Step+1, tn.Step+2)
		}
	}
	if verified == 0 {
		t.Error("no copy answered from the verified step")
	}
	if got := verifiedCount(t, a); got != 1 {
		t.Errorf("ivr_calls_total{verified} = %v, want 1 (counted only by the winning save)", got)
	}
}

// cutProxy forwards TCP to Redis until cut: a network partition between
// one gateway instance and Redis.
type cutProxy struct {
	ln  net.Listener
	cut atomic.Bool
	mu  sync.Mutex
	cs  []net.Conn
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln}
	t.Cleanup(func() { ln.Close(); p.sever() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if p.cut.Load() {
				c.Close()
				continue
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.cs = append(p.cs, c, s)
			p.mu.Unlock()
			go io.Copy(s, c)
			go io.Copy(c, s)
		}
	}()
	return p
}

func (p *cutProxy) sever() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.cs {
		c.Close()
	}
	p.cs = nil
}

// TestTakeoverOfAnOrphanedVerification: instance A starts a verification
// and loses Redis (it cannot renew its lease) while the AS is slow; the
// caller's next poll reaches instance B after the lease ran out; B takes
// the verification over and the caller is verified, once, with B's token.
// When A's late answer arrives, A cannot tell the call is still its own, so
// it revokes the token it got.
func TestTakeoverOfAnOrphanedVerification(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	opt := rdb.(*redis.Client).Options()
	proxy := newCutProxy(t, opt.Addr)
	aOpt := *opt
	aOpt.Addr = proxy.ln.Addr().String()
	aOpt.DialTimeout = 200 * time.Millisecond
	aRDB := redis.NewClient(&aOpt)
	t.Cleanup(func() { aRDB.Close() })

	key := newKey()
	slowAS, fastAS := newAS(t), newAS(t)
	slowAS.SetDelay(1500 * time.Millisecond)
	const lease = 300 * time.Millisecond
	a := newInstance(t, instanceOpts{rdb: aRDB, prefix: prefix, key: key, as: slowAS, leaseTTL: lease})
	b := newInstance(t, instanceOpts{rdb: rdb, prefix: prefix, key: key, as: fastAS, leaseTTL: lease})

	sid := newSid(t)
	tn := toSSN4(t, a, sid)
	tn = answer(t, a, sid, tn.Step, dialog.Input{Digits: "1234"})
	if !hasHold(tn.Actions) {
		t.Fatalf("A answered %v, want Hold while the AS is slow", tn.Actions)
	}
	proxy.cut.Store(true)
	proxy.sever()

	// The caller holds and polls; polls reach B. Before the lease runs out
	// B only holds; after, it takes over.
	deadline := time.Now().Add(5 * time.Second)
	for tn.State.Node == dialog.NodeVerifying && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		tn = answer(t, b, sid, tn.Step, dialog.Poll{})
	}
	if tn.State.Node != dialog.NodeVerified {
		t.Fatalf("after polls on B: node %s, want verified", tn.State.Node)
	}
	tok, err := b.store.Token(context.Background(), sid)
	if err != nil {
		t.Fatal(err)
	}
	// A's AS answers late. A cannot reach Redis yet, so it keeps trying to
	// save; when it can, it finds the call verified by B and revokes the
	// token it got instead of handing it to anyone.
	waitFor(t, 5*time.Second, func() bool { return tokenRequests(slowAS) == 1 })
	proxy.cut.Store(false)
	waitFor(t, 5*time.Second, func() bool { return len(revokedBy(slowAS)) == 1 })
	got, err := b.store.Token(context.Background(), sid)
	if err != nil || got.AccessToken != tok.AccessToken {
		t.Fatalf("token after A finished: %v (%v), want B's", got, err)
	}
	if fastAS.Revoked(tok.AccessToken) {
		t.Error("B's token was revoked")
	}
	if got := verifiedCount(t, a, b); got != 1 {
		t.Errorf("ivr_calls_total{verified} over both instances = %v, want 1", got)
	}
}

func tokenRequests(as *asdouble.Server) int {
	n := 0
	for _, r := range as.Requests() {
		if r.Endpoint == "token" {
			n++
		}
	}
	return n
}

func revokedBy(as *asdouble.Server) []string {
	var out []string
	for _, r := range as.Requests() {
		if r.Endpoint == "revoke" {
			out = append(out, r.Form.Get("token"))
		}
	}
	return out
}

func hasHold(actions []dialog.Action) bool {
	for _, a := range actions {
		if _, ok := a.(dialog.Hold); ok {
			return true
		}
	}
	return false
}

func waitFor(t *testing.T, d time.Duration, ok func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !ok() {
		if time.Now().After(end) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestShutdownLeavesVerificationForTakeover: an instance that shuts down
// while the AS is slow does not fail the caller: it hands its lease back,
// and the next poll, on another instance, verifies the call.
func TestShutdownLeavesVerificationForTakeover(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	key := newKey()
	slowAS, fastAS := newAS(t), newAS(t)
	slowAS.SetDelay(2 * time.Second)
	a := newInstance(t, instanceOpts{rdb: rdb, prefix: prefix, key: key, as: slowAS, leaseTTL: 5 * time.Second})
	b := newInstance(t, instanceOpts{rdb: rdb, prefix: prefix, key: key, as: fastAS, leaseTTL: 5 * time.Second})
	sid := newSid(t)
	tn := toSSN4(t, a, sid)
	tn = answer(t, a, sid, tn.Step, dialog.Input{Digits: "1234"})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	err := a.engine.Shutdown(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want the deadline (a verification was running)", err)
	}
	tn = answer(t, b, sid, tn.Step, dialog.Poll{})
	if tn.State.Node != dialog.NodeVerified {
		t.Fatalf("poll on B after A shut down: node %s (event %s), want verified at once", tn.State.Node, tn.Event)
	}
	if tn.Event != callflow.EventTakeover {
		t.Errorf("event %q, want %q", tn.Event, callflow.EventTakeover)
	}
}

// TestStatusCountsOnce: Twilio repeats status callbacks; the call is
// counted as ended once and its token is revoked.
func TestStatusCountsOnce(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	as := newAS(t)
	in := newInstance(t, instanceOpts{rdb: rdb, prefix: prefix, key: newKey(), as: as})
	sid := newSid(t)
	tn := toSSN4(t, in, sid)
	answer(t, in, sid, tn.Step, dialog.Input{Digits: "1234"})
	tok, err := in.store.Token(context.Background(), sid)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		ended, err := in.engine.End(context.Background(), sid)
		if err != nil {
			t.Fatal(err)
		}
		if ended != (i == 0) {
			t.Errorf("End #%d = %v", i+1, ended)
		}
	}
	if got := metric(t, "ivr_calls_total", "ended", in); got != 1 {
		t.Errorf("ended counted %v times, want 1", got)
	}
	if !as.Revoked(tok.AccessToken) {
		t.Error("token not revoked")
	}
	if _, err := in.store.Token(context.Background(), sid); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("token after end: %v, want ErrNotFound", err)
	}
	if _, err := in.engine.End(context.Background(), "CA-not-a-sid"); !errors.Is(err, callflow.ErrBadCall) {
		t.Errorf("End(bad sid) = %v, want ErrBadCall", err)
	}
}
