package app_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ivr-gateway/ivr/agent"
	"github.com/ivr-gateway/ivr/authserver"
	"github.com/ivr-gateway/ivr/internal/app"
	"github.com/ivr-gateway/ivr/internal/redistest"
	"github.com/ivr-gateway/ivr/internal/tracing"
	"github.com/ivr-gateway/ivr/internal/tracing/otlptest"
	"github.com/ivr-gateway/ivr/internal/twiliosim"
	"github.com/ivr-gateway/ivr/mcpdemo"
)

// secrets collects every value that must never reach a span: the test
// identities and what the parties exchanged about them (answers, OTPs,
// auth_session, codes, PKCE verifiers, tokens, credentials).
type secrets struct {
	mu  sync.Mutex
	set map[string]bool
}

func (s *secrets) add(vs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range vs {
		if len(v) >= 4 {
			s.set[v] = true
		}
	}
}

func (s *secrets) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for v := range s.set {
		out = append(out, v)
	}
	return out
}

// capture records what crosses the AS's wire, so the scan knows the
// auth_session, codes and tokens of the test's calls.
func (s *secrets) capture(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if form, err := url.ParseQuery(string(body)); err == nil {
			for _, k := range []string{"given_name", "family_name", "birthdate", "ssn_last4", "otp", "auth_session", "code", "code_verifier", "token"} {
				s.add(form[k]...)
			}
		}
		if _, secret, ok := r.BasicAuth(); ok {
			s.add(secret)
		}
		tee := &teeWriter{ResponseWriter: w}
		next.ServeHTTP(tee, r)
		var resp map[string]any
		if json.Unmarshal(tee.buf.Bytes(), &resp) == nil {
			for _, k := range []string{"auth_session", "authorization_code", "code", "access_token"} {
				if v, ok := resp[k].(string); ok {
					s.add(v)
				}
			}
		}
	})
}

type teeWriter struct {
	http.ResponseWriter
	buf bytes.Buffer
}

func (t *teeWriter) Write(b []byte) (int, error) {
	t.buf.Write(b)
	return t.ResponseWriter.Write(b)
}

// otpBox is the phone the AS texts codes to: a party the tests cannot run.
type otpBox struct {
	mu    sync.Mutex
	codes []string
	s     *secrets
}

func (o *otpBox) SendOTP(_ context.Context, phone, code string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.codes = append(o.codes, code)
	o.s.add(code, phone)
	return nil
}

func (o *otpBox) last() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.codes) == 0 {
		return ""
	}
	return o.codes[len(o.codes)-1]
}

// letterSid is a call SID of hex letters only, so no digit of a test
// identity can turn up inside it by chance.
func letterSid(t *testing.T) string {
	b := []byte("CA")
	for range 32 {
		n, err := rand.Int(rand.Reader, big.NewInt(6))
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, "abcdef"[n.Int64()])
	}
	return string(b)
}

// chain is the whole demo chain in this process, traced: gateway, the
// reference AS, the demo MCP server, each a real HTTP server on loopback,
// all exporting through one OTLP exporter to a receiver.
type chain struct {
	rcv                      *otlptest.Receiver
	tr                       *tracing.Tracing
	gw, mcp                  string
	authToken, agentKey, sec string
	otp                      *otpBox
	secrets                  *secrets
}

func startChain(t *testing.T, transport string) *chain {
	t.Helper()
	c := &chain{rcv: otlptest.Start(t), authToken: "twilio-token-for-traces", agentKey: "agent-key-for-traces",
		secrets: &secrets{set: map[string]bool{}}}
	c.otp = &otpBox{s: c.secrets}
	var err error
	c.tr, err = tracing.Setup(context.Background(), func(k string) string {
		return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": c.rcv.URL}[k]
	})
	if err != nil || !c.tr.Enabled() {
		t.Fatalf("tracing: %v %v", c.tr, err)
	}
	f, err := os.Open("../../authserver/testdata/patients.json")
	if err != nil {
		t.Fatal(err)
	}
	pats, err := authserver.LoadPatients(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pats {
		c.secrets.add(p.GivenName, p.FamilyName, p.Birthdate, p.SSNLast4, p.Phone, strings.TrimPrefix(p.Phone, "+1"),
			strings.ReplaceAll(p.Birthdate[5:]+p.Birthdate[:4], "-", ""))
	}
	c.secrets.add("Maria", "Garcia", "Lopez", "Ortega", "9999", "+15555550123", "5555550123")

	asRDB, asPrefix := redistest.Client(t)
	gwRDB, gwPrefix := redistest.Client(t)
	var asURL, gwURL string
	asSrv := httptest.NewUnstartedServer(nil)
	mcpSrv := httptest.NewUnstartedServer(nil)
	gwSrv := httptest.NewUnstartedServer(nil)
	for _, s := range []*httptest.Server{asSrv, mcpSrv, gwSrv} {
		s.Start()
		t.Cleanup(s.Close)
	}
	asURL, gwURL = asSrv.URL, gwSrv.URL
	c.gw, c.mcp = gwURL, mcpSrv.URL+"/mcp"
	c.sec = "client-secret-for-traces"
	c.secrets.add(c.sec, c.authToken, c.agentKey)

	as, err := authserver.New(authserver.Config{
		Issuer: asURL, Patients: pats, Redis: asRDB, Prefix: asPrefix, OTPSender: c.otp,
		Clients:        []authserver.Client{{ID: "ivr-gateway", Secret: c.sec, Scopes: []string{mcpdemo.ScopePatientRead}, Resources: []string{c.mcp}}},
		TracerProvider: c.tr.Provider("ivr-authserver"),
	})
	if err != nil {
		t.Fatal(err)
	}
	asSrv.Config.Handler = c.secrets.capture(as.Handler())
	mcp, err := mcpdemo.New(mcpdemo.Config{Resource: c.mcp, Issuer: asURL, JWKSURL: asURL + "/oauth/jwks.json",
		Revoked: as.Revoked, TracerProvider: c.tr.Provider("ivr-mcp")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mcp.Close() })
	mcpSrv.Config.Handler = mcp.Handler()
	key := make([]byte, 32)
	rand.Read(key)
	a, err := app.New(context.Background(), app.Config{
		PublicURL: gwURL, AuthToken: c.authToken, Redis: gwRDB, RedisPrefix: gwPrefix,
		AuthIssuer: asURL, ClientID: "ivr-gateway", ClientSecret: c.sec, Scope: mcpdemo.ScopePatientRead, Resource: c.mcp,
		AgentKeys: []string{c.agentKey}, SessionKey: key, CallerLimit: 100, MaxAttempts: 3,
		OrgName: "Example Health", Languages: []string{"en-US", "es-US"}, Transport: transport, SocketClock: fastClock{},
		TracerProvider: c.tr.Provider("ivr-gateway"),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		a.Shutdown(ctx)
	})
	gwSrv.Config.Handler = a.Handler
	return c
}

// fastClock runs the WebSocket transports' timers (prompt pacing, question
// timeouts) four times faster than the wall clock, as the replay harness
// does.
type fastClock struct{}

func (fastClock) Now() time.Time                         { return time.Now() }
func (fastClock) NewTimer(d time.Duration) *time.Timer   { return time.NewTimer(d / 4) }
func (fastClock) NewTicker(d time.Duration) *time.Ticker { return time.NewTicker(d / 4) }

// call runs one call from a script; answer "otp" types the code the AS
// just texted. It returns the call SID and how the call ended.
func (c *chain) call(t *testing.T, script []string, withAgent bool) (string, *twiliosim.Turn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sid := letterSid(t)
	call, turn, err := twiliosim.Dial(ctx, twiliosim.Config{
		BaseURL: c.gw, PublicURL: c.gw, AuthToken: c.authToken, CallSid: sid, From: "+15555550123",
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range script {
		if turn.Ended {
			break
		}
		l := twiliosim.ScriptLine{Kind: twiliosim.KindSilence}
		switch kind, v, _ := strings.Cut(line, ":"); {
		case line == "otp":
			l = twiliosim.ScriptLine{Kind: twiliosim.KindDTMF, Value: c.otp.last()}
		case kind == "dtmf":
			l = twiliosim.ScriptLine{Kind: twiliosim.KindDTMF, Value: v}
		case kind == "say":
			l = twiliosim.ScriptLine{Kind: twiliosim.KindSay, Value: v, Confidence: 0.9}
		}
		if turn, err = call.Do(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	if withAgent {
		var out bytes.Buffer
		if err := agent.Run(ctx, agent.Config{GatewayURL: c.gw, AgentKey: c.agentKey, MCPURL: c.mcp,
			TracerProvider: c.tr.Provider("ivr-agent")}, sid, &out); err != nil {
			t.Fatalf("agent: %v", err)
		}
		if !strings.Contains(out.String(), "whoami:") {
			t.Fatalf("agent output %q", out.String())
		}
	}
	if !turn.Ended {
		if err := call.Hangup(ctx, "completed"); err != nil {
			t.Fatal(err)
		}
	} else {
		call.Hangup(ctx, "completed")
	}
	return sid, turn
}
