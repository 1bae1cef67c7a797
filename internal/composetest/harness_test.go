package composetest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/ivr-gateway/ivr/internal/app"
	"github.com/ivr-gateway/ivr/internal/asdouble"
	"github.com/ivr-gateway/ivr/internal/replay"
	"github.com/ivr-gateway/ivr/internal/twiliosim"
	"github.com/ivr-gateway/ivr/telephony/mediastream"
)

// What the in-process gateways of these tests share, as replicas must.
const (
	testPublicURL = "https://ivr.example.test"
	testAuthToken = "compose-test-twilio-token"
	testCaller    = "+15555550123" // fictional (555-01xx)
)

// fleet is an AS double and the settings every gateway instance of one
// test shares, as replicas must: Redis and its key prefix, the session key.
type fleet struct {
	issuer string
	rdb    redis.UniversalClient
	prefix string
	key    []byte
	log    *slog.Logger
}

func newFleet(t *testing.T, rdb redis.UniversalClient, prefix string, log io.Writer) *fleet {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	return &fleet{issuer: startAS(t).URL, rdb: rdb, prefix: prefix, key: key,
		log: slog.New(slog.NewJSONHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))}
}

// startAS starts an AS double that knows the fixture patients and the
// gateway's client.
func startAS(t *testing.T) *httptest.Server {
	t.Helper()
	as := &asdouble.Server{ClientID: replay.ClientID, ClientSecret: replay.ClientSecret, Patients: replay.Patients, Scope: replay.Scope}
	srv := httptest.NewServer(as.Handler())
	t.Cleanup(srv.Close)
	as.Issuer = srv.URL
	return srv
}

// instance is one gateway of a fleet, serving on a loopback port of its own
// that it keeps across stop and resume.
type instance struct {
	app  *app.App
	addr string
	url  string

	mu  sync.Mutex
	srv *http.Server
}

// start builds a gateway the way `ivr serve` does (its own registry with the
// Go and process collectors) with the given transport, and serves it.
func (f *fleet) start(t *testing.T, transport string) *instance {
	t.Helper()
	return f.startWith(t, transport, f.issuer)
}

// startWith is start with an authorization server of the instance's own.
func (f *fleet) startWith(t *testing.T, transport, issuer string) *instance {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := app.New(ctx, app.Config{
		PublicURL: testPublicURL, AuthToken: testAuthToken, Redis: f.rdb, RedisPrefix: f.prefix,
		AuthIssuer: issuer, ClientID: replay.ClientID, ClientSecret: replay.ClientSecret,
		Scope: replay.Scope, Resource: replay.Resource, AgentKeys: []string{"scheduler:" + replay.AgentKey},
		SessionKey: f.key, CallerLimit: 100, MaxAttempts: 3, OrgName: "Example Health",
		Languages: []string{"en-US", "es-US"}, Transport: transport,
	}, f.log)
	if err != nil {
		t.Fatalf("gateway: %v", err)
	}
	in := &instance{app: a, addr: freeAddr(t)}
	in.url = "http://" + in.addr
	in.resume(t)
	t.Cleanup(func() {
		in.stop()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		a.Shutdown(ctx)
		cancel()
	})
	return in
}

// resume serves the instance on its address again.
func (in *instance) resume(t *testing.T) {
	t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port may still be held for a moment after stop
		if ln, err = net.Listen("tcp", in.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("listen on %s again: %v", in.addr, err)
	}
	srv := &http.Server{Handler: in.app.Handler, ReadHeaderTimeout: 5 * time.Second}
	in.mu.Lock()
	in.srv = srv
	in.mu.Unlock()
	go srv.Serve(ln)
}

// stop closes the listener and every connection: from now on a connection
// to the instance is refused, as to a process that died.
func (in *instance) stop() {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.srv != nil {
		in.srv.Close()
		in.srv = nil
	}
}

// verifiedCall places a call to base (a gateway or the balancer) as Twilio
// would, answers as the first fixture patient, fetches the token as the
// agent and hangs up. It returns the call SID and the access token.
func verifiedCall(t *testing.T, base string) (sid, token string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	script, err := twiliosim.ParseScript(strings.NewReader("dtmf:1\nsay:Maria Garcia\ndtmf:01051980\ndtmf:1234\n"))
	if err != nil {
		t.Fatal(err)
	}
	call, turn, err := twiliosim.Dial(ctx, twiliosim.Config{BaseURL: base, PublicURL: testPublicURL, AuthToken: testAuthToken, From: testCaller})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	var heard []string
	for _, l := range script {
		if turn.Ended {
			break
		}
		for _, u := range turn.Heard {
			heard = append(heard, u.Text)
		}
		if turn, err = call.Do(ctx, l); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
	}
	for _, u := range turn.Heard {
		heard = append(heard, u.Text)
	}
	if !strings.Contains(strings.Join(heard, " "), "verified") {
		t.Fatalf("the call was not verified (ended %q); heard:\n%s", turn.End, strings.Join(heard, "\n"))
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/calls/"+call.Sid()+"/token?wait=5s", nil)
	req.Header.Set("Authorization", "Bearer "+replay.AgentKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("agent API: %v", err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil || tok.AccessToken == "" {
		t.Fatalf("agent API: %s (%v), want 200 with the token", resp.Status, err)
	}
	if err := call.Hangup(ctx, "completed"); err != nil {
		t.Fatalf("hang up: %v", err)
	}
	return call.Sid(), tok.AccessToken
}

// dialStream opens /twilio/stream on base (http:// or https:// URL) with
// the X-Twilio-Signature Twilio sends on the upgrade.
func dialStream(t *testing.T, base string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Scheme = "ws"
	u.Path = "/twilio/stream"
	pub := strings.Replace(testPublicURL, "https://", "wss://", 1) + "/twilio/stream"
	h := http.Header{"X-Twilio-Signature": {twiliosim.Sign(testAuthToken, pub, nil)}}
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	return d.Dial(u.String(), h)
}

// unboundStream opens a stream and starts it for a call with no binding
// (Twilio would send the parameters the TwiML gave): the gateway must close
// it with 1008. It returns the close code the client saw.
func unboundStream(t *testing.T, base string) int {
	t.Helper()
	conn, resp, err := dialStream(t, base)
	if err != nil {
		status := ""
		if resp != nil {
			status = resp.Status
		}
		t.Fatalf("stream upgrade: %v %s", err, status)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	for _, m := range []mediastream.Inbound{
		{Event: "connected"},
		{Event: "start", Sequence: 1, StreamSid: "MZ" + strings.Repeat("0", 32), AccountSid: "AC" + strings.Repeat("0", 32),
			CallSid: "CA" + strings.Repeat("0", 32), Parameters: map[string]string{"step": "1"}},
	} {
		if err := conn.WriteMessage(websocket.TextMessage, m.MarshalTo(nil)); err != nil {
			t.Fatalf("stream write: %v", err)
		}
	}
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			if ce, ok := err.(*websocket.CloseError); ok {
				return ce.Code
			}
			t.Fatalf("stream read: %v", err)
		}
	}
}

// metricNames scrapes base+"/metrics" and returns every series name it
// exports (histograms as their _bucket, _sum and _count series), with the
// label names seen on each, and the raw text.
func metricNames(t *testing.T, base string) (map[string]map[string]bool, string) {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %v %s", err, resp.Status)
	}
	out := map[string]map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, rest := line, ""
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name, rest = line[:i], line[i:]
		}
		labels := out[name]
		if labels == nil {
			labels = map[string]bool{}
			out[name] = labels
		}
		if strings.HasPrefix(rest, "{") {
			for _, kv := range splitLabels(rest[1:strings.LastIndexByte(rest, '}')]) {
				labels[kv[0]] = true
			}
		}
	}
	return out, string(body)
}

// splitLabels splits the inside of a series' braces into name/value pairs
// (values unescaped only as far as the exposition format escapes \" and \\).
func splitLabels(s string) [][2]string {
	var out [][2]string
	for s != "" {
		eq := strings.IndexByte(s, '=')
		if eq < 0 || eq+1 >= len(s) || s[eq+1] != '"' {
			return out
		}
		name := strings.TrimSpace(strings.TrimPrefix(s[:eq], ","))
		var val strings.Builder
		i := eq + 2
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
			}
			val.WriteByte(s[i])
		}
		out = append(out, [2]string{name, val.String()})
		s = strings.TrimPrefix(s[min(i+1, len(s)):], ",")
	}
	return out
}

// freeAddr returns a loopback address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
