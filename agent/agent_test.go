package agent_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/ivr-gateway/ivr/agent"
	"github.com/ivr-gateway/ivr/internal/redistest"
	"github.com/ivr-gateway/ivr/mcpdemo"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const agentKey = "agent-key-1"

// gateway is a stand-in for the gateway's agent API (docs/agent-api.md), until the
// lead's whole-chain test runs the real one. It follows that page exactly: bearer
// agent key or 401; 200 {"call_sid","access_token","token_type",
// "expires_at","scope"} once the call is verified; 404 {"error":"not_found"}
// before; ?wait=D holds the request until verified or D ends. Like a real
// server may, it caps the wait (at hold) so tests stay fast.
type gateway struct {
	hold time.Duration

	mu       sync.Mutex
	tokens   map[string]map[string]any // call SID -> 200 body
	states   map[string]string         // call SID -> state
	changed  chan struct{}             // closed and replaced on every verify
	waits    []string                  // the wait parameter of each request
	notFound chan struct{}             // receives after each 404
	ts       *httptest.Server
}

func newGateway(tb testing.TB, hold time.Duration) *gateway {
	g := &gateway{
		hold:     hold,
		tokens:   map[string]map[string]any{},
		states:   map[string]string{},
		changed:  make(chan struct{}),
		notFound: make(chan struct{}, 100),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/calls/{CallSid}/token", g.token)
	mux.HandleFunc("GET /v1/calls/{CallSid}", g.call)
	g.ts = httptest.NewServer(mux)
	tb.Cleanup(g.ts.Close)
	return g
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (g *gateway) call(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+agentKey {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized"})
		return
	}
	sid := r.PathValue("CallSid")
	g.mu.Lock()
	state, ok := g.states[sid]
	g.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not_found"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"call_sid": sid, "state": state, "attempts": 3, "verified_at": nil})
}

func (g *gateway) setState(sid, state string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.states[sid] = state
}

func (g *gateway) token(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+agentKey {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized"})
		return
	}
	sid := r.PathValue("CallSid")
	var wait time.Duration
	if v := r.URL.Query().Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
			return
		}
		wait = min(d, g.hold)
	}
	g.mu.Lock()
	g.waits = append(g.waits, r.URL.Query().Get("wait"))
	g.mu.Unlock()

	g.mu.Lock()
	if s := g.states[sid]; s == "failed" || s == "ended" {
		wait = 0 // no token will come: answer at once
	}
	g.mu.Unlock()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		g.mu.Lock()
		body, ok := g.tokens[sid]
		changed := g.changed
		g.mu.Unlock()
		if ok {
			writeJSON(w, http.StatusOK, body)
			return
		}
		select {
		case <-changed:
			continue
		case <-timer.C:
		case <-r.Context().Done():
		}
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not_found"})
		select {
		case g.notFound <- struct{}{}:
		default: // nobody is counting
		}
		return
	}
}

// verify makes the call's token available, as the gateway does once the AS
// issued it.
func (g *gateway) verify(sid string, body map[string]any) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.tokens[sid] = body
	close(g.changed)
	g.changed = make(chan struct{})
}

func (g *gateway) waitParams() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.waits...)
}

func tokenBody(sid, accessToken string, exp time.Time) map[string]any {
	return map[string]any{
		"call_sid":     sid,
		"access_token": accessToken,
		"token_type":   "Bearer",
		"expires_at":   exp.UTC().Format(time.RFC3339),
		"scope":        "mcp:read",
	}
}

const sid = "CA00000000000000000000000000000001"

func TestFetchTokenLongPoll(t *testing.T) {
	t.Parallel()
	g := newGateway(t, 50*time.Millisecond)
	g.setState(sid, "collecting")
	exp := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	type result struct {
		tok agent.Token
		err error
	}
	done := make(chan result, 1)
	go func() {
		tok, err := agent.FetchToken(ctx, agent.Config{GatewayURL: g.ts.URL, AgentKey: agentKey}, sid)
		done <- result{tok, err}
	}()
	<-g.notFound // the call is not verified yet: 404
	g.verify(sid, tokenBody(sid, "at-secret-1", exp))
	got := <-done
	if got.err != nil {
		t.Fatalf("FetchToken: %v", got.err)
	}
	want := agent.Token{AccessToken: "at-secret-1", TokenType: "Bearer", Scope: "mcp:read", ExpiresAt: exp}
	if diff := cmp.Diff(got.tok, want); diff != "" {
		t.Errorf("token (-got +want):\n%s", diff)
	}
	if w := g.waitParams(); len(w) < 2 || w[0] != "20s" {
		t.Errorf("wait parameters = %q, want 20s on each of at least 2 polls", w)
	}
}

func TestFetchTokenErrors(t *testing.T) {
	t.Parallel()
	g := newGateway(t, 20*time.Millisecond)
	g.verify("CAother", tokenBody("CAsomeone-else", "at-secret-2", time.Now()))
	g.verify("CAdpop", map[string]any{"call_sid": "CAdpop", "access_token": "at-secret-3", "token_type": "DPoP"})
	g.verify("CAempty", map[string]any{"call_sid": "CAempty", "token_type": "Bearer"})
	g.verify("CAbadjson", map[string]any{"call_sid": "CAbadjson", "access_token": 42, "token_type": "Bearer"})

	odd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/calls/CA404/token":
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no_such_route"})
		default:
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "forbidden"})
		}
	}))
	t.Cleanup(odd.Close)

	tests := []struct {
		name    string
		gateway string
		key     string
		sid     string
		want    error
	}{
		{"bad key", g.ts.URL, "wrong", sid, agent.ErrUnauthorized},
		{"no key", g.ts.URL, "", sid, agent.ErrUnauthorized},
		{"token for another call", g.ts.URL, agentKey, "CAother", agent.ErrBadResponse},
		{"not a bearer token", g.ts.URL, agentKey, "CAdpop", agent.ErrBadResponse},
		{"no access_token", g.ts.URL, agentKey, "CAempty", agent.ErrBadResponse},
		{"access_token not a string", g.ts.URL, agentKey, "CAbadjson", agent.ErrBadResponse},
		{"404 without not_found", odd.URL, agentKey, "CA404", agent.ErrBadResponse},
		{"403", odd.URL, agentKey, sid, agent.ErrBadResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := agent.FetchToken(ctx, agent.Config{GatewayURL: tt.gateway, AgentKey: tt.key}, tt.sid)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if strings.Contains(err.Error(), "at-secret") {
				t.Errorf("error reveals the token: %v", err)
			}
		})
	}
}

func TestFetchTokenDeadline(t *testing.T) {
	t.Parallel()
	g := newGateway(t, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := agent.FetchToken(ctx, agent.Config{GatewayURL: g.ts.URL, AgentKey: agentKey}, sid)
	if !errors.Is(err, agent.ErrNotVerified) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrNotVerified and DeadlineExceeded", err)
	}
	// The wait asked for never outlasts the deadline.
	if w := g.waitParams(); len(w) == 0 || w[0] != "" {
		t.Errorf("wait parameters = %q, want none with a sub-second deadline", w)
	}
}

func TestFetchTokenCallFailed(t *testing.T) {
	t.Parallel()
	g := newGateway(t, time.Minute)
	g.setState(sid, "failed")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := agent.FetchToken(ctx, agent.Config{GatewayURL: g.ts.URL, AgentKey: agentKey}, sid)
	if !errors.Is(err, agent.ErrCallFailed) {
		t.Fatalf("err = %v, want ErrCallFailed", err)
	}
	if n := len(g.waitParams()); n != 1 {
		t.Errorf("%d token polls, want 1", n)
	}
}

func TestFetchTokenRetriesUnavailable(t *testing.T) {
	t.Parallel()
	for status, code := range map[int]string{
		http.StatusServiceUnavailable: "temporarily_unavailable",
		http.StatusTooManyRequests:    "too_many_requests", // the cap on waiting requests
	} {
		var n atomic.Int32
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) == 1 {
				writeJSON(w, status, map[string]string{"error": code})
				return
			}
			writeJSON(w, http.StatusOK, tokenBody(sid, "at-secret-4", time.Now()))
		}))
		t.Cleanup(ts.Close)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		tok, err := agent.FetchToken(ctx, agent.Config{GatewayURL: ts.URL, AgentKey: agentKey}, sid)
		if err != nil || tok.AccessToken != "at-secret-4" || n.Load() != 2 {
			t.Fatalf("FetchToken after a %d: %v, %d requests", status, err, n.Load())
		}
	}
}

func TestFetchTokenGatewayDown(t *testing.T) {
	t.Parallel()
	down := httptest.NewServer(http.NotFoundHandler())
	url := down.URL
	down.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := agent.FetchToken(ctx, agent.Config{GatewayURL: url, AgentKey: agentKey}, sid)
	if !errors.Is(err, agent.ErrNotVerified) || !strings.Contains(err.Error(), "last error") {
		t.Fatalf("err = %v, want ErrNotVerified with the last network error", err)
	}
}

func TestTokenRedacted(t *testing.T) {
	t.Parallel()
	tok := agent.Token{AccessToken: "at-secret-9", TokenType: "Bearer", Scope: "mcp:read", ExpiresAt: time.Unix(1800000000, 0)}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("t", "token", tok)
	for _, s := range []string{tok.String(), fmt.Sprintf("%v %+v %#v %s", tok, tok, tok, tok), logs.String()} {
		if strings.Contains(s, "at-secret") {
			t.Errorf("token leaked: %s", s)
		}
		if !strings.Contains(s, "redacted") {
			t.Errorf("no redaction marker: %s", s)
		}
	}
}

// mcpEnv runs a real mcpdemo server that trusts a test ES256 key.
type mcpEnv struct {
	url string
	key *ecdsa.PrivateKey
	now time.Time
}

func newMCPEnv(t *testing.T) *mcpEnv {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	}))
	t.Cleanup(jwks.Close)
	rdb, prefix := redistest.Client(t)

	e := &mcpEnv{key: key, now: time.Date(2031, time.March, 3, 9, 30, 0, 0, time.UTC)}
	ts := httptest.NewUnstartedServer(nil)
	e.url = "http://" + ts.Listener.Addr().String() + "/mcp"
	srv, err := mcpdemo.New(mcpdemo.Config{
		Resource: e.url,
		Issuer:   "http://as.example.test",
		JWKSURL:  jwks.URL,
		Revoked: func(ctx context.Context, jti string) (bool, error) {
			n, err := rdb.Exists(ctx, prefix+"revoked:"+jti).Result()
			return n == 1, err
		},
		Now: func() time.Time { return e.now },
	})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv.Handler()
	ts.Start()
	t.Cleanup(func() {
		ts.Close()
		srv.Close()
	})
	return e
}

func (e *mcpEnv) mint(t *testing.T, sub, aud string) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: e.key}, (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(struct {
		jwt.Claims
		Scope string `json:"scope"`
	}{jwt.Claims{
		Issuer: "http://as.example.test", Subject: sub, Audience: jwt.Audience{aud},
		Expiry: jwt.NewNumericDate(e.now.Add(5 * time.Minute)), ID: rand.Text(),
	}, "patient.read"}).Serialize() // the scope the demo MCP tools require
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestRunCallsTools(t *testing.T) {
	t.Parallel()
	m := newMCPEnv(t)
	g := newGateway(t, 50*time.Millisecond)
	access := m.mint(t, "patient-0042", m.url)
	g.verify(sid, tokenBody(sid, access, m.now.Add(5*time.Minute)))

	var out, logs bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := agent.Config{GatewayURL: g.ts.URL, AgentKey: agentKey, MCPURL: m.url, Logger: slog.New(slog.NewJSONHandler(&logs, nil))}
	if err := agent.Run(ctx, cfg, sid, &out); err != nil {
		t.Fatalf("Run: %v", err)
	}

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("output has %d lines, want 2:\n%s", len(lines), out.String())
	}
	var who mcpdemo.WhoamiResult
	decodeLine(t, lines[0], "whoami: ", &who)
	if diff := cmp.Diff(who, mcpdemo.WhoamiResult{PatientID: "patient-0042", Scope: "patient.read"}); diff != "" {
		t.Errorf("whoami (-got +want):\n%s", diff)
	}
	var appt mcpdemo.Appointment
	decodeLine(t, lines[1], "next_appointment: ", &appt)
	if diff := cmp.Diff(appt, mcpdemo.NextAppointment("patient-0042", m.now)); diff != "" {
		t.Errorf("next_appointment (-got +want):\n%s", diff)
	}
	if strings.Contains(logs.String(), access) {
		t.Errorf("the access token reached the log:\n%s", logs.String())
	}
}

func decodeLine(t *testing.T, line, prefix string, v any) {
	t.Helper()
	rest, ok := strings.CutPrefix(line, prefix)
	if !ok {
		t.Fatalf("line %q does not start with %q", line, prefix)
	}
	if err := json.Unmarshal([]byte(rest), v); err != nil {
		t.Fatalf("line %q: %v", line, err)
	}
}

func TestRunTokenForAnotherResource(t *testing.T) {
	t.Parallel()
	m := newMCPEnv(t)
	g := newGateway(t, 50*time.Millisecond)
	access := m.mint(t, "patient-0042", "http://elsewhere.example/mcp")
	g.verify(sid, tokenBody(sid, access, m.now.Add(5*time.Minute)))

	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := agent.Run(ctx, agent.Config{GatewayURL: g.ts.URL, AgentKey: agentKey, MCPURL: m.url}, sid, &out)
	if err == nil {
		t.Fatal("Run succeeded with a token for another resource")
	}
	t.Logf("Run: %v", err)
	if strings.Contains(err.Error(), access) || out.Len() != 0 {
		t.Errorf("err = %v, output %q", err, out.String())
	}
}

func TestFetchTokenRejectsOddCallSID(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "..", "CA1/../../admin", "CA1?x=1"} {
		if _, err := agent.FetchToken(context.Background(), agent.Config{GatewayURL: "http://127.0.0.1:1", AgentKey: agentKey}, s); err == nil {
			t.Errorf("call SID %q accepted", s)
		}
	}
}
