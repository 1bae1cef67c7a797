package replay

import (
	"cmp"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ivr-gateway/ivr/internal/app"
	"github.com/ivr-gateway/ivr/internal/asdouble"
)

// The identities the fixtures use. They are fictional; the reference AS's
// demo patients (authserver/testdata/patients.json) hold the same, so the
// default-environment fixtures also replay against `ivr demo`.
var Patients = []asdouble.Patient{
	{ID: "pat-1001", Given: "Maria", Family: "Garcia", Birthdate: "1980-01-05", SSN4: "1234"},
	{ID: "pat-1002", Given: "John", Family: "Smith", Birthdate: "1975-07-04", SSN4: "5678", OTP: "246810"},
	{ID: "pat-1003", Given: "José", Family: "Hernández", Birthdate: "1990-03-15", SSN4: "4321"},
}

// Harness constants: what the in-process gateway is configured with.
const (
	AgentKey       = "agent-key-for-tests"
	ClientID       = "ivr-gateway"
	ClientSecret   = "gateway-secret"
	Resource       = "https://mcp.example.test/mcp"
	Scope          = "patient.read"
	FallbackNumber = "+15555550199"
	// slowASDelay and slowVerifyWait make the "AS slower than the bound"
	// fixture put the caller on hold once and find the result at the first
	// poll, with a second of margin either way.
	slowASDelay    = 1 * time.Second
	slowVerifyWait = 200 * time.Millisecond
	holdPause      = 2 * time.Second
	// socketSlowASDelay is the slow AS of the WebSocket transports, whose
	// sessions say "please hold" after a second of wall time (holdAfter
	// in telephony): well past it, and a normal verification well before.
	socketSlowASDelay = 2500 * time.Millisecond
)

// socketClockScale is how much faster than the wall clock the WebSocket
// transports' timers run in the harness (the waits for the caller: prompt
// pacing, question timeouts). A stream's hold prompt runs on that clock,
// so its scale keeps it well past a normal verification.
var socketClockScale = map[string]time.Duration{"relay": 10, "stream": 4}

// scaledClock runs timers k times faster than the wall clock
// (telephony.Clock).
type scaledClock struct{ k time.Duration }

func (c scaledClock) Now() time.Time                         { return time.Now() }
func (c scaledClock) NewTimer(d time.Duration) *time.Timer   { return time.NewTimer(d / c.k) }
func (c scaledClock) NewTicker(d time.Duration) *time.Ticker { return time.NewTicker(d / c.k) }

// Harness is an in-process gateway with an AS double, as a fixture's
// environment asks for.
type Harness struct {
	URL       string // the gateway, on loopback
	PublicURL string
	AuthToken string
	AS        *asdouble.Server
	App       *app.App

	servers []*httptest.Server
	seen    int // AS requests already attributed to a line
}

// HarnessConfig says where the harness's state goes.
type HarnessConfig struct {
	PublicURL, AuthToken string
	Env                  Env
	Redis                redis.UniversalClient // nil: embedded Redis
	Prefix               string
	Logger               *slog.Logger
	Now                  func() time.Time
	CallerLimit          int // IVR_CALLER_LIMIT; 0: 100, so fixtures never hit it
}

// Start builds the harness. Close it when done.
func Start(ctx context.Context, hc HarnessConfig) (*Harness, error) {
	h := &Harness{PublicURL: hc.PublicURL, AuthToken: hc.AuthToken}
	h.AS = &asdouble.Server{ClientID: ClientID, ClientSecret: ClientSecret, Patients: Patients, Scope: Scope}
	as := httptest.NewServer(h.AS.Handler())
	h.servers = append(h.servers, as)
	h.AS.Issuer = as.URL
	switch hc.Env.AS {
	case "500":
		h.AS.SetFailing(true)
	case "slow":
		if socketClockScale[hc.Env.Transport] != 0 {
			h.AS.SetDelay(socketSlowASDelay)
		} else {
			h.AS.SetDelay(slowASDelay)
		}
	}
	key := make([]byte, 32)
	rand.Read(key)
	cfg := app.Config{
		PublicURL: hc.PublicURL, AuthToken: hc.AuthToken, RedisPrefix: hc.Prefix, Redis: hc.Redis,
		AuthIssuer: as.URL, ClientID: ClientID, ClientSecret: ClientSecret, Scope: Scope, Resource: Resource,
		AgentKeys: []string{AgentKey}, SessionKey: key, CallerLimit: cmp.Or(hc.CallerLimit, 100),
		MaxAttempts: 3, OrgName: "Example Health", Languages: []string{"en-US", "es-US"},
		HoldPause: holdPause, Now: hc.Now, Transport: hc.Env.Transport,
	}
	if k := socketClockScale[hc.Env.Transport]; k != 0 {
		cfg.SocketClock = scaledClock{k}
	}
	if hc.Env.Fallback {
		cfg.FallbackNumber = FallbackNumber
	}
	if hc.Env.AS == "slow" {
		cfg.VerifyWait = slowVerifyWait
	}
	if hc.Env.Redis == "down" {
		// Nothing listens on port 1: every command fails fast, as when
		// Redis is down.
		cfg.Redis = redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	}
	a, err := app.New(ctx, cfg, hc.Logger)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("replay: harness: %w", err)
	}
	h.App = a
	gw := httptest.NewServer(a.Handler)
	h.servers = append(h.servers, gw)
	h.URL = gw.URL
	return h, nil
}

// newASRequests returns what the AS received since the last call.
func (h *Harness) newASRequests() []ASRequest {
	all := h.AS.Requests()
	var out []ASRequest
	for _, r := range all[h.seen:] {
		out = append(out, NormaliseAS(r.Endpoint, r.Client, r.Form))
	}
	h.seen = len(all)
	return out
}

// Close stops everything, letting background verifications finish.
func (h *Harness) Close() {
	if h.App != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		h.App.Shutdown(ctx)
		cancel()
	}
	for _, s := range h.servers {
		s.Close()
	}
}

func agentTokenStatus(ctx context.Context, base, key, sid string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/v1/calls/"+sid+"/token", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
