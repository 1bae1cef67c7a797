package agentapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/ivr-gateway/ivr"
	"github.com/ivr-gateway/ivr/agentapi"
	"github.com/ivr-gateway/ivr/internal/redistest"
	"github.com/ivr-gateway/ivr/internal/testlog"
	"github.com/ivr-gateway/ivr/store"
)

func TestMain(m *testing.M) {
	// Every test closes its servers, stores and clients; a long-poll that
	// outlives its request, or a store subscription left running, fails here.
	goleak.VerifyTestMain(m)
}

const (
	agentKey  = "agent-key-0123456789"
	agentKey2 = "second-agent-key"
)

var (
	sessionKey = bytes.Repeat([]byte{0x5a}, 32)
	// verifiedAt and tokenExpiry are fixed so responses compare exactly.
	verifiedAt  = time.Date(2026, 11, 26, 1, 2, 3, 0, time.UTC)
	tokenExpiry = time.Now().Add(time.Hour).UTC().Truncate(time.Second)
)

// personalData are the caller's answers; they are sealed into the session and
// must never come back out of the API or into a log line.
var personalData = []string{"María", "García", "1980-01-05", "01051980", "1234", "+15555550123", "482913"}

// harness is the API on a real store, served on loopback.
type harness struct {
	store  *store.Store
	rdb    redis.UniversalClient
	prefix string
	srv    *httptest.Server
	client *http.Client
	logs   *testlog.Buffer
	reg    *prometheus.Registry
	api    *agentapi.API
}

type option func(*agentapi.Config)

func withMaxWait(d time.Duration) option { return func(c *agentapi.Config) { c.MaxWait = d } }
func withKeys(k ...string) option        { return func(c *agentapi.Config) { c.Keys = k } }
func withMaxWaiters(n int) option        { return func(c *agentapi.Config) { c.MaxWaiters = n } }
func withStatusEvery(d time.Duration) option {
	return func(c *agentapi.Config) { c.StatusEvery = d }
}

func newHarness(tb testing.TB, opts ...option) *harness {
	tb.Helper()
	rdb, prefix := redistest.Client(tb)
	return newHarnessOn(tb, rdb, prefix, opts...)
}

// newHarnessOn builds the API on rdb; keys go under prefix.
func newHarnessOn(tb testing.TB, rdb redis.UniversalClient, prefix string, opts ...option) *harness {
	tb.Helper()
	st, err := store.New(rdb, store.Options{Prefix: prefix, SessionKey: sessionKey})
	if err != nil {
		tb.Fatalf("store.New: %v", err)
	}
	logs := &testlog.Buffer{}
	reg := prometheus.NewRegistry()
	cfg := agentapi.Config{
		Keys:       []string{agentKey, " " + agentKey2 + " "},
		MaxWait:    5 * time.Second,
		Logger:     slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: testlog.NoTime})),
		Registerer: reg,
	}
	for _, o := range opts {
		o(&cfg)
	}
	api, err := agentapi.New(cfg, st)
	if err != nil {
		tb.Fatalf("agentapi.New: %v", err)
	}
	srv := httptest.NewServer(api.Handler())
	// Cleanups run last-in first-out: the server drains its handlers (and
	// their long-polls) before the store's subscription is closed.
	tb.Cleanup(func() { st.Close() })
	tb.Cleanup(srv.Close)
	client := srv.Client()
	// A bound on every request, so a long-poll that ignores its cap fails
	// the test instead of hanging it; never a timing assertion.
	client.Timeout = 20 * time.Second
	return &harness{store: st, rdb: rdb, prefix: prefix, srv: srv, client: client, logs: logs, reg: reg, api: api}
}

func newSid() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "CA" + hex.EncodeToString(b)
}

// saveCall stores a session in phase with the caller's answers sealed in it,
// and tok when not nil.
func (h *harness) saveCall(tb testing.TB, sid string, phase ivr.Phase, attempts int, tok *store.Token) {
	tb.Helper()
	sess := store.Session{
		CallSid: sid, Step: 1, Phase: phase, Attempts: attempts,
		Answers: []byte(strings.Join(personalData, "|")),
	}
	if phase == ivr.PhaseVerified {
		sess.VerifiedAt = verifiedAt
	}
	if err := h.store.Save(context.Background(), sess, 0, store.SaveExtras{Token: tok}); err != nil {
		tb.Fatalf("store.Save(%s): %v", phase, err)
	}
}

func testToken() *store.Token {
	return &store.Token{
		AccessToken: "eyJhbGciOiJFUzI1NiJ9.e30.sig", TokenType: "Bearer",
		Scope: "patient/*.read", Resource: "https://mcp.example/mcp", ExpiresAt: tokenExpiry,
	}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(tb testing.TB) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		tb.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

func (h *harness) get(tb testing.TB, path, auth string) response {
	tb.Helper()
	res, err := h.do(context.Background(), path, auth)
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

// do is get for goroutines other than the test's own.
func (h *harness) do(ctx context.Context, path, auth string) (response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.srv.URL+path, nil)
	if err != nil {
		return response{}, err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := h.client.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("GET %s: %w", path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, fmt.Errorf("GET %s: read body: %w", path, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: body}, nil
}

// getAsync runs get on another goroutine; a transport error becomes status 0.
func (h *harness) getAsync(path, auth string) <-chan response {
	done := make(chan response, 1)
	go func() {
		res, err := h.do(context.Background(), path, auth)
		if err != nil {
			res.body = []byte(err.Error())
		}
		done <- res
	}()
	return done
}

func bearer(k string) string { return "Bearer " + k }

func TestAuth(t *testing.T) {
	t.Parallel()
	// MaxWait is an hour: a wrong key on ?wait= that were not refused before
	// the long-poll would trip the client's timeout.
	h := newHarness(t, withMaxWait(time.Hour))
	sid := newSid()
	h.saveCall(t, sid, ivr.PhaseVerified, 1, testToken())
	noKeys := newHarness(t, withKeys(), withMaxWait(time.Hour))
	noKeys.saveCall(t, sid, ivr.PhaseVerified, 1, testToken())

	tests := []struct {
		name string
		h    *harness
		auth string
		want int
	}{
		{"missing", h, "", http.StatusUnauthorized},
		{"wrong key", h, bearer("not-the-key"), http.StatusUnauthorized},
		{"key prefix", h, bearer(agentKey[:len(agentKey)-1]), http.StatusUnauthorized},
		{"key with suffix", h, bearer(agentKey + "x"), http.StatusUnauthorized},
		{"empty bearer", h, "Bearer ", http.StatusUnauthorized},
		{"basic scheme", h, "Basic " + agentKey, http.StatusUnauthorized},
		{"key without scheme", h, agentKey, http.StatusUnauthorized},
		{"right key", h, bearer(agentKey), http.StatusOK},
		{"second key, trimmed in config", h, bearer(agentKey2), http.StatusOK},
		{"no keys configured", noKeys, bearer(agentKey), http.StatusUnauthorized},
		{"no keys configured, empty bearer", noKeys, "Bearer ", http.StatusUnauthorized},
	}
	paths := []string{"/v1/calls/" + sid + "/token", "/v1/calls/" + sid, "/v1/calls/" + newSid() + "/token?wait=1h"}
	for _, tt := range tests {
		for _, path := range paths {
			if tt.want == http.StatusOK && strings.Contains(path, "wait=") {
				// With the right key this long-poll would run its MaxWait
				// (TestTokenWait covers it); with a wrong key it shows that
				// auth answers before any waiting.
				continue
			}
			t.Run(tt.name+" "+path, func(t *testing.T) {
				t.Parallel()
				want := tt.want
				res := tt.h.get(t, path, tt.auth)
				if res.status != want {
					t.Fatalf("status = %d, want %d; body %s", res.status, want, res.body)
				}
				if want != http.StatusUnauthorized {
					return
				}
				if got, want := res.header.Get("WWW-Authenticate"), `Bearer realm="ivr-agent-api"`; got != want {
					t.Errorf("WWW-Authenticate = %q, want %q", got, want)
				}
				if diff := cmp.Diff(map[string]any{"error": "unauthorized"}, res.json(t)); diff != "" {
					t.Errorf("body (-want +got):\n%s", diff)
				}
				checkJSONHeaders(t, res)
			})
		}
	}
}

func checkJSONHeaders(tb testing.TB, res response) {
	tb.Helper()
	if got := res.header.Get("Content-Type"); got != "application/json" {
		tb.Errorf("Content-Type = %q, want application/json", got)
	}
	if got := res.header.Get("Cache-Control"); got != "no-store" {
		tb.Errorf("Cache-Control = %q, want no-store", got)
	}
}

func TestToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	verified, collecting, failed, ended := newSid(), newSid(), newSid(), newSid()
	h.saveCall(t, verified, ivr.PhaseVerified, 1, testToken())
	h.saveCall(t, collecting, ivr.PhaseCollecting, 0, nil)
	h.saveCall(t, failed, ivr.PhaseFailed, 3, nil)
	h.saveCall(t, ended, ivr.PhaseEnded, 1, nil)
	notFound := map[string]any{"error": "not_found"}

	tests := []struct {
		name string
		path string
		want int
		body map[string]any
	}{
		{"verified", "/v1/calls/" + verified + "/token", http.StatusOK, map[string]any{
			"call_sid":     verified,
			"access_token": "eyJhbGciOiJFUzI1NiJ9.e30.sig",
			"token_type":   "Bearer",
			"expires_at":   tokenExpiry.Format(time.RFC3339),
			"scope":        "patient/*.read",
		}},
		{"unknown call", "/v1/calls/" + newSid() + "/token", http.StatusNotFound, notFound},
		{"collecting", "/v1/calls/" + collecting + "/token", http.StatusNotFound, notFound},
		{"failed", "/v1/calls/" + failed + "/token", http.StatusNotFound, notFound},
		{"ended", "/v1/calls/" + ended + "/token", http.StatusNotFound, notFound},
		{"malformed call SID", "/v1/calls/CA%2A%7B%7D/token", http.StatusNotFound, notFound},
		{"over-long call SID", "/v1/calls/" + strings.Repeat("a", 65) + "/token", http.StatusNotFound, notFound},
		{"wait=0 is no wait", "/v1/calls/" + collecting + "/token?wait=0s", http.StatusNotFound, notFound},
		{"bad wait", "/v1/calls/" + verified + "/token?wait=soon", http.StatusBadRequest, nil},
		{"bare number wait", "/v1/calls/" + verified + "/token?wait=20", http.StatusBadRequest, nil},
		{"negative wait", "/v1/calls/" + verified + "/token?wait=-1s", http.StatusBadRequest, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := h.get(t, tt.path, bearer(agentKey))
			if res.status != tt.want {
				t.Fatalf("status = %d, want %d; body %s", res.status, tt.want, res.body)
			}
			checkJSONHeaders(t, res)
			got := res.json(t)
			if tt.want == http.StatusBadRequest {
				if got["error"] != "invalid_request" {
					t.Errorf("error = %v, want invalid_request", got["error"])
				}
				return
			}
			if diff := cmp.Diff(tt.body, got); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCall(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	sids := map[ivr.Phase]string{}
	for _, c := range []struct {
		phase    ivr.Phase
		attempts int
	}{
		{ivr.PhaseCollecting, 0},
		{ivr.PhaseVerifying, 1},
		{ivr.PhaseVerified, 2},
		{ivr.PhaseFailed, 3},
		{ivr.PhaseEnded, 1},
	} {
		sid := newSid()
		sids[c.phase] = sid
		var tok *store.Token
		if c.phase == ivr.PhaseVerified {
			tok = testToken()
		}
		h.saveCall(t, sid, c.phase, c.attempts, tok)
	}
	body := func(phase ivr.Phase, attempts int, verified any) map[string]any {
		return map[string]any{"call_sid": sids[phase], "state": string(phase), "attempts": float64(attempts), "verified_at": verified}
	}

	tests := []struct {
		name string
		sid  string
		want int
		body map[string]any
	}{
		{"collecting", sids[ivr.PhaseCollecting], http.StatusOK, body(ivr.PhaseCollecting, 0, nil)},
		{"verifying", sids[ivr.PhaseVerifying], http.StatusOK, body(ivr.PhaseVerifying, 1, nil)},
		{"verified", sids[ivr.PhaseVerified], http.StatusOK, body(ivr.PhaseVerified, 2, verifiedAt.Format(time.RFC3339))},
		{"failed", sids[ivr.PhaseFailed], http.StatusOK, body(ivr.PhaseFailed, 3, nil)},
		{"ended", sids[ivr.PhaseEnded], http.StatusOK, body(ivr.PhaseEnded, 1, nil)},
		{"unknown", newSid(), http.StatusNotFound, map[string]any{"error": "not_found"}},
		{"malformed", "CA%2A", http.StatusNotFound, map[string]any{"error": "not_found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := h.get(t, "/v1/calls/"+tt.sid, bearer(agentKey))
			if res.status != tt.want {
				t.Fatalf("status = %d, want %d; body %s", res.status, tt.want, res.body)
			}
			checkJSONHeaders(t, res)
			// Comparing whole objects also proves verified_at is present
			// (as null) when the call is not verified, and that nothing
			// beyond the contract's fields is served.
			if diff := cmp.Diff(tt.body, res.json(t)); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTokenWait(t *testing.T) {
	t.Parallel()

	t.Run("token written during the wait", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, withMaxWait(time.Minute))
		sid := newSid()
		h.saveCall(t, sid, ivr.PhaseVerifying, 1, nil)
		done := h.getAsync("/v1/calls/"+sid+"/token?wait=1m", bearer(agentKey))
		h.waitForWaiter(t, done)

		sess := store.Session{CallSid: sid, Step: 2, Phase: ivr.PhaseVerified, Attempts: 1, VerifiedAt: verifiedAt}
		if err := h.store.Save(context.Background(), sess, 1, store.SaveExtras{Event: ivr.EventVerified, Token: testToken()}); err != nil {
			t.Fatalf("Save: %v", err)
		}
		res := <-done
		if res.status != http.StatusOK {
			t.Fatalf("status = %d, want 200; body %s", res.status, res.body)
		}
		if got := res.json(t)["access_token"]; got != testToken().AccessToken {
			t.Errorf("access_token = %v, want the stored one", got)
		}
	})

	// Each case ends in 404 {"error":"not_found"}. The cases that must not
	// wait ask for far longer than the client's timeout, so a wait that is
	// not cut short fails the request rather than the clock.
	tests := []struct {
		name    string
		phase   ivr.Phase // "" = no session
		maxWait time.Duration
		wait    string
	}{
		{"wait elapses", ivr.PhaseVerifying, time.Minute, "50ms"},
		{"unknown call answers at once", "", time.Hour, "1h"},
		{"verified call without a token answers at once", ivr.PhaseVerified, time.Hour, "1h"},
		{"wait capped at MaxWait", ivr.PhaseCollecting, 50 * time.Millisecond, "1h"},
		{"failed call answers at once", ivr.PhaseFailed, time.Hour, "1h"},
		{"ended call answers at once", ivr.PhaseEnded, time.Hour, "1h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, withMaxWait(tt.maxWait))
			sid := newSid()
			if tt.phase != "" {
				h.saveCall(t, sid, tt.phase, 1, nil)
			}
			res := h.get(t, "/v1/calls/"+sid+"/token?wait="+tt.wait, bearer(agentKey))
			if res.status != http.StatusNotFound {
				t.Fatalf("status = %d, want 404; body %s", res.status, res.body)
			}
			if diff := cmp.Diff(map[string]any{"error": "not_found"}, res.json(t)); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNoPersonalData runs every endpoint, including the error paths that
// log, and checks that no response and no log line holds the caller's answers.
func TestNoPersonalData(t *testing.T) {
	t.Parallel()
	rdb, prefix := redistest.Client(t)
	h := newHarnessOn(t, rdb, prefix, withMaxWait(20*time.Millisecond))
	sids := map[ivr.Phase]string{}
	for _, phase := range []ivr.Phase{ivr.PhaseCollecting, ivr.PhaseVerifying, ivr.PhaseVerified, ivr.PhaseFailed} {
		sids[phase] = newSid()
		var tok *store.Token
		if phase == ivr.PhaseVerified {
			tok = testToken()
		}
		h.saveCall(t, sids[phase], phase, 1, tok)
	}

	// A second API on a client that is closed below: every Redis call fails
	// and the handlers log their errors.
	opt, err := redis.ParseURL(redistest.URL())
	if err != nil {
		t.Fatal(err)
	}
	broken := redis.NewClient(opt)
	hb := newHarnessOn(t, broken, prefix, withMaxWait(20*time.Millisecond))
	broken.Close()

	var bodies []string
	for _, hh := range []*harness{h, hb} {
		for _, sid := range sids {
			for _, path := range []string{"/v1/calls/" + sid, "/v1/calls/" + sid + "/token", "/v1/calls/" + sid + "/token?wait=10ms"} {
				res := hh.get(t, path, bearer(agentKey))
				bodies = append(bodies, string(res.body))
			}
		}
	}
	if got := hb.get(t, "/v1/calls/"+sids[ivr.PhaseVerified], bearer(agentKey)); got.status != http.StatusServiceUnavailable {
		t.Fatalf("status on a broken Redis = %d, want 503", got.status)
	}
	logs := h.logs.String() + hb.logs.String()
	if !strings.Contains(logs, sids[ivr.PhaseVerified]) {
		t.Fatalf("the error paths logged nothing; logs:\n%s", logs)
	}
	for _, secret := range personalData {
		for _, b := range bodies {
			if strings.Contains(b, secret) {
				t.Errorf("a response contains personal data %q: %s", secret, b)
			}
		}
		if strings.Contains(logs, secret) {
			t.Errorf("the logs contain personal data %q:\n%s", secret, logs)
		}
	}
}
