package phone

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ivr-gateway/ivr/authserver"
	"github.com/ivr-gateway/ivr/internal/app"
	"github.com/ivr-gateway/ivr/internal/redistest"
	"github.com/ivr-gateway/ivr/internal/testlog"
	"github.com/ivr-gateway/ivr/mcpdemo"
)

// demo is `ivr demo` in this process, as cmd/ivr/demo.go assembles it:
// the reference AS with the demo patients, the demo MCP server and the
// gateway, each a real HTTP server on loopback over a real Redis, and the
// phone mounted on the gateway's listener. Every part logs to one buffer,
// the demo's terminal, which the tests scan for what callers typed.
type demo struct {
	url      string // the gateway's listener, where /phone is
	phone    *Server
	logs     *testlog.Buffer
	agentKey string
	otps     *bytes.Buffer
}

func startDemo(t *testing.T, transport string, mod func(*Config)) *demo {
	t.Helper()
	d := &demo{logs: &testlog.Buffer{}, agentKey: "demo-agent-" + rand.Text()[:8], otps: &bytes.Buffer{}}
	log := slog.New(slog.NewJSONHandler(d.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f, err := os.Open("../../authserver/testdata/patients.json")
	if err != nil {
		t.Fatal(err)
	}
	pats, err := authserver.LoadPatients(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	asRDB, asPrefix := redistest.Client(t)
	gwRDB, gwPrefix := redistest.Client(t)
	asSrv := httptest.NewServer(nil)
	mcpSrv := httptest.NewServer(nil)
	gwSrv := httptest.NewServer(nil)
	for _, s := range []*httptest.Server{asSrv, mcpSrv, gwSrv} {
		t.Cleanup(s.Close)
	}
	d.url = gwSrv.URL
	resource := mcpSrv.URL + "/mcp"
	secret := rand.Text()
	as, err := authserver.New(authserver.Config{
		Issuer: asSrv.URL, Patients: pats, Redis: asRDB, Prefix: asPrefix, OTPSender: &authserver.ConsoleSender{W: d.otps},
		Clients: []authserver.Client{{ID: "ivr-gateway", Secret: secret, Scopes: []string{mcpdemo.ScopePatientRead}, Resources: []string{resource}}},
		Logger:  log.With("component", "authserver"),
	})
	if err != nil {
		t.Fatal(err)
	}
	asSrv.Config.Handler = as.Handler()
	mcp, err := mcpdemo.New(mcpdemo.Config{Resource: resource, Issuer: asSrv.URL, JWKSURL: asSrv.URL + "/oauth/jwks.json",
		Revoked: as.Revoked, Logger: log.With("component", "mcp")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mcp.Close() })
	mcpSrv.Config.Handler = mcp.Handler()
	token := rand.Text()
	key := make([]byte, 32)
	rand.Read(key)
	a, err := app.New(context.Background(), app.Config{
		PublicURL: gwSrv.URL, AuthToken: token, Redis: gwRDB, RedisPrefix: gwPrefix,
		AuthIssuer: asSrv.URL, ClientID: "ivr-gateway", ClientSecret: secret, Scope: mcpdemo.ScopePatientRead, Resource: resource,
		AgentKeys: []string{d.agentKey}, SessionKey: key, CallerLimit: 100, MaxAttempts: 3, CheckClient: true,
		OrgName: "Example Health", Languages: []string{"en-US", "es-US"}, Transport: transport, SocketClock: fastClock{},
	}, log.With("component", "gateway"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{GatewayURL: gwSrv.URL, AuthToken: token, AgentKey: d.agentKey, MCPURL: resource,
		Logger: log.With("component", "phone")}
	if mod != nil {
		mod(&cfg)
	}
	d.phone, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	gwSrv.Config.Handler = d.phone.Mount(a.Handler)
	t.Cleanup(func() {
		d.phone.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		a.Shutdown(ctx)
	})
	return d
}

// fastClock runs the WebSocket transports' timers four times faster than
// the wall clock, as the replay harness does.
type fastClock struct{}

func (fastClock) Now() time.Time                         { return time.Now() }
func (fastClock) NewTimer(d time.Duration) *time.Timer   { return time.NewTimer(d / 4) }
func (fastClock) NewTicker(d time.Duration) *time.Ticker { return time.NewTicker(d / 4) }

// post sends a request as the page does; it returns the status and the
// decoded JSON body.
func (d *demo) post(t *testing.T, path, body string, hdr ...string) (int, map[string]any, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, d.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", d.url)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
			continue
		}
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(b) > 0 && json.Unmarshal(b, &m) != nil {
		t.Fatalf("%s: not JSON: %q", path, b)
	}
	return resp.StatusCode, m, resp.Header
}

// gatewayState is the gateway's state of a call, from its agent API.
func (d *demo) gatewayState(t *testing.T, sid string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, d.url+"/v1/calls/"+sid, nil)
	req.Header.Set("Authorization", "Bearer "+d.agentKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st callState
	json.NewDecoder(resp.Body).Decode(&st)
	return st.State
}

// callerSecrets are what the test callers type and hear about themselves;
// none may reach the demo's log. The SSN digits count as a whole number
// only (a call SID or a port may hold them by chance).
var callerSecrets = []*regexp.Regexp{
	regexp.MustCompile(`(?i)mar[ií]a`), regexp.MustCompile(`(?i)garc[ií]a`), regexp.MustCompile(`(?i)l[oó]pez`),
	regexp.MustCompile(`01051980`), regexp.MustCompile(`1980-01-05`), regexp.MustCompile(`(?i)january`),
	regexp.MustCompile(`(^|[^0-9A-Za-z])(1234|9999)([^0-9A-Za-z]|$)`),
	regexp.MustCompile(`pat-0001`),
}

// scanLogs fails t for every caller secret in the demo's log.
func (d *demo) scanLogs(t *testing.T) {
	t.Helper()
	logs := d.logs.String()
	if !strings.Contains(logs, `"msg":"phone call placed"`) {
		t.Errorf("the demo's log has no phone call line; is it captured?\n%s", logs)
	}
	for _, re := range callerSecrets {
		if loc := re.FindStringIndex(logs); loc != nil {
			from, to := max(0, loc[0]-200), min(len(logs), loc[1]+200)
			t.Errorf("the demo's log holds %s: …%s…", re, logs[from:to])
		}
	}
}
