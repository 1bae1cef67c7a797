package mcpdemo_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
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
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/ivr-gateway/ivr/internal/redistest"
	"github.com/ivr-gateway/ivr/internal/testlog"
	"github.com/ivr-gateway/ivr/mcpdemo"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testIssuer = "http://as.example.test"

// t0 is the injected clock's start, far from the wall clock: the server must
// read no other clock.
var t0 = time.Date(2031, time.March, 3, 9, 30, 0, 0, time.UTC)

// clock is a settable test clock.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock { c := &clock{}; c.set(t); return c }
func (c *clock) Now() time.Time   { return time.Unix(0, c.ns.Load()) }
func (c *clock) set(t time.Time)  { c.ns.Store(t.UnixNano()) }
func (c *clock) add(d time.Duration) {
	c.ns.Add(int64(d))
}

// testAS plays the authorization server's token-signing side: an ES256 key
// served on a real JWKS endpoint, and a revocation list in real Redis, as the
// reference AS keeps it.
type testAS struct {
	t       testing.TB
	mu      sync.Mutex
	keys    map[string]*ecdsa.PrivateKey // kid -> key, published in the JWKS
	fetches atomic.Int32
	jwks    *httptest.Server
	rdb     redis.UniversalClient
	prefix  string
}

func newTestAS(tb testing.TB) *testAS {
	tb.Helper()
	rdb, prefix := redistest.Client(tb)
	as := &testAS{t: tb, keys: map[string]*ecdsa.PrivateKey{}, rdb: rdb, prefix: prefix}
	as.addKey("k1")
	as.jwks = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		as.fetches.Add(1)
		as.mu.Lock()
		var set jose.JSONWebKeySet
		for kid, k := range as.keys {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid, Algorithm: "ES256", Use: "sig"})
		}
		as.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(set)
	}))
	tb.Cleanup(as.jwks.Close)
	return as
}

func (as *testAS) addKey(kid string) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		as.t.Fatal(err)
	}
	as.mu.Lock()
	as.keys[kid] = k
	as.mu.Unlock()
	return k
}

func (as *testAS) key(kid string) *ecdsa.PrivateKey {
	as.mu.Lock()
	defer as.mu.Unlock()
	return as.keys[kid]
}

// Revoked is the revocation check the reference AS exposes.
func (as *testAS) Revoked(ctx context.Context, jti string) (bool, error) {
	n, err := as.rdb.Exists(ctx, as.prefix+"revoked:"+jti).Result()
	return n == 1, err
}

func (as *testAS) revoke(jti string) {
	if err := as.rdb.Set(context.Background(), as.prefix+"revoked:"+jti, 1, time.Hour).Err(); err != nil {
		as.t.Fatal(err)
	}
}

// claims are the access-token claims the tests mint.
type claims struct {
	jwt.Claims
	Scope    string `json:"scope,omitempty"`
	ClientID string `json:"client_id,omitempty"`
}

// validClaims is a token the server under test must accept.
func validClaims(resource string) claims {
	return claims{
		Claims: jwt.Claims{
			Issuer:   testIssuer,
			Subject:  "patient-0001",
			Audience: jwt.Audience{resource},
			Expiry:   jwt.NewNumericDate(t0.Add(5 * time.Minute)),
			IssuedAt: jwt.NewNumericDate(t0),
			ID:       "jti-" + rand.Text(),
		},
		Scope:    "patient.read appointments",
		ClientID: "ivr-gateway",
	}
}

// sign signs c with alg and key under kid.
func sign(tb testing.TB, alg jose.SignatureAlgorithm, key any, kid string, c claims) string {
	tb.Helper()
	opts := (&jose.SignerOptions{}).WithType("at+jwt")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(c).Serialize()
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func (as *testAS) mint(tb testing.TB, c claims) string {
	return sign(tb, jose.ES256, as.key("k1"), "k1", c)
}

// unsigned builds an alg=none token, which must never be accepted.
func unsigned(tb testing.TB, c claims) string {
	tb.Helper()
	enc := base64.RawURLEncoding
	payload, err := json.Marshal(c)
	if err != nil {
		tb.Fatal(err)
	}
	return enc.EncodeToString([]byte(`{"alg":"none","kid":"k1","typ":"at+jwt"}`)) + "." + enc.EncodeToString(payload) + "."
}

// env is a running mcpdemo server with its AS.
type env struct {
	as    *testAS
	clock *clock
	srv   *mcpdemo.Server
	http  *httptest.Server
	url   string // the resource URL, also the MCP endpoint
	logs  *testlog.Buffer
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	e := &env{as: newTestAS(tb), clock: newClock(t0), logs: &testlog.Buffer{}}
	e.http = httptest.NewUnstartedServer(nil)
	e.url = "http://" + e.http.Listener.Addr().String() + "/mcp"
	srv, err := mcpdemo.New(mcpdemo.Config{
		Resource: e.url,
		Issuer:   testIssuer,
		JWKSURL:  e.as.jwks.URL,
		Revoked:  e.as.Revoked,
		Now:      e.clock.Now,
		Logger:   slog.New(slog.NewJSONHandler(e.logs, nil)),
	})
	if err != nil {
		tb.Fatal(err)
	}
	e.srv = srv
	e.http.Config.Handler = srv.Handler()
	e.http.Start()
	tb.Cleanup(func() {
		e.http.Close()
		srv.Close()
	})
	return e
}

// bearer adds a fixed access token to every request.
type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

func connect(tb testing.TB, url, token string) *mcp.ClientSession {
	tb.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "mcpdemo-test", Version: "0"}, nil)
	cs, err := client.Connect(context.Background(), &mcp.StreamableClientTransport{
		Endpoint:             url,
		HTTPClient:           &http.Client{Transport: bearer{token}},
		DisableStandaloneSSE: true,
		MaxRetries:           -1,
	}, nil)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(func() { cs.Close() })
	return cs
}

func callTool[T any](tb testing.TB, cs *mcp.ClientSession, name string) T {
	tb.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name})
	if err != nil {
		tb.Fatalf("call %s: %v", name, err)
	}
	if res.IsError {
		tb.Fatalf("call %s: tool error: %+v", name, res.Content)
	}
	raw, err := json.Marshal(res.StructuredContent)
	if err != nil {
		tb.Fatal(err)
	}
	var out T
	if err := json.Unmarshal(raw, &out); err != nil {
		tb.Fatalf("call %s: decode %s: %v", name, raw, err)
	}
	return out
}

func TestToolsWithValidToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := validClaims(e.url)
	cs := connect(t, e.url, e.as.mint(t, c))

	who := callTool[mcpdemo.WhoamiResult](t, cs, "whoami")
	if diff := cmp.Diff(who, mcpdemo.WhoamiResult{PatientID: "patient-0001", Scope: "patient.read appointments"}); diff != "" {
		t.Errorf("whoami (-got +want):\n%s", diff)
	}
	appt := callTool[mcpdemo.Appointment](t, cs, "next_appointment")
	if diff := cmp.Diff(appt, mcpdemo.NextAppointment("patient-0001", t0)); diff != "" {
		t.Errorf("next_appointment (-got +want):\n%s", diff)
	}
	if strings.Contains(e.logs.String(), "patient-0001") {
		t.Errorf("log mentions the patient id:\n%s", e.logs)
	}
}

// initialize is a valid first MCP request; rejected requests never reach it.
const initialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}`

func post(tb testing.TB, url, authorization string) *http.Response {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(initialize))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestRejections(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	other, err := ecdsaKey()
	if err != nil {
		t.Fatal(err)
	}
	meta := e.srv.MetadataURL()
	plain := `Bearer resource_metadata="` + meta + `"`
	invalid := `Bearer error="invalid_token", resource_metadata="` + meta + `"`

	with := func(f func(*claims)) claims {
		c := validClaims(e.url)
		f(&c)
		return c
	}
	revoked := validClaims(e.url)
	e.as.revoke(revoked.ID)

	tests := []struct {
		name          string
		authorization string
		want          string // WWW-Authenticate
		reason        string // logged reason, "" when the verifier is not reached
	}{
		{"no token", "", plain, ""},
		{"basic scheme", "Basic dXNlcjpwYXNz", plain, ""},
		{"bearer without token", "Bearer", plain, ""},
		{"garbage", "Bearer not-a-jwt", invalid, "malformed"},
		{"wrong aud", "Bearer " + e.as.mint(t, with(func(c *claims) { c.Audience = jwt.Audience{"http://other.example/mcp"} })), invalid, "wrong_audience"},
		{"aud with trailing slash", "Bearer " + e.as.mint(t, with(func(c *claims) { c.Audience = jwt.Audience{e.url + "/"} })), invalid, "wrong_audience"},
		{"wrong iss", "Bearer " + e.as.mint(t, with(func(c *claims) { c.Issuer = "http://evil.example" })), invalid, "wrong_issuer"},
		{"expired beyond leeway", "Bearer " + e.as.mint(t, with(func(c *claims) { c.Expiry = jwt.NewNumericDate(t0.Add(-31 * time.Second)) })), invalid, "expired"},
		{"not yet valid", "Bearer " + e.as.mint(t, with(func(c *claims) { c.NotBefore = jwt.NewNumericDate(t0.Add(time.Minute)) })), invalid, "expired"},
		{"no exp", "Bearer " + e.as.mint(t, with(func(c *claims) { c.Expiry = nil })), invalid, "missing_claim"},
		{"no sub", "Bearer " + e.as.mint(t, with(func(c *claims) { c.Subject = "" })), invalid, "missing_claim"},
		{"no jti", "Bearer " + e.as.mint(t, with(func(c *claims) { c.ID = "" })), invalid, "missing_claim"},
		{"bad signature", "Bearer " + sign(t, jose.ES256, other, "k1", validClaims(e.url)), invalid, "bad_signature"},
		{"alg none", "Bearer " + unsigned(t, validClaims(e.url)), invalid, "malformed"},
		{"HS256", "Bearer " + sign(t, jose.HS256, []byte("0123456789abcdef0123456789abcdef"), "k1", validClaims(e.url)), invalid, "malformed"},
		{"unknown kid", "Bearer " + sign(t, jose.ES256, other, "k9", validClaims(e.url)), invalid, "unknown_kid"},
		{"no kid", "Bearer " + sign(t, jose.ES256, e.as.key("k1"), "", validClaims(e.url)), invalid, "unknown_kid"},
		{"revoked", "Bearer " + e.as.mint(t, revoked), invalid, "revoked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := post(t, e.url, tt.authorization)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status = %d, want 401", resp.StatusCode)
			}
			if got := resp.Header.Values("WWW-Authenticate"); !cmp.Equal(got, []string{tt.want}) {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.want)
			}
			if tt.reason != "" && !strings.Contains(e.logs.String(), `"reason":"`+tt.reason+`"`) {
				t.Errorf("log has no reason %q:\n%s", tt.reason, e.logs)
			}
		})
	}
	// The leeway admits a token that expired just now.
	late := e.as.mint(t, with(func(c *claims) { c.Expiry = jwt.NewNumericDate(t0.Add(-29 * time.Second)) }))
	if resp := post(t, e.url, "Bearer "+late); resp.StatusCode != http.StatusOK {
		t.Errorf("token expired 29 s ago: status %d, want 200 (leeway)", resp.StatusCode)
	}
	if strings.Contains(e.logs.String(), "eyJ") {
		t.Errorf("a token reached the log:\n%s", e.logs)
	}
}

func ecdsaKey() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }

func TestRevocationStoreDownFailsClosed(t *testing.T) {
	t.Parallel()
	as := newTestAS(t)
	ts := httptest.NewUnstartedServer(nil)
	url := "http://" + ts.Listener.Addr().String() + "/mcp"
	srv, err := mcpdemo.New(mcpdemo.Config{
		Resource: url, Issuer: testIssuer, JWKSURL: as.jwks.URL, Now: func() time.Time { return t0 },
		Revoked: func(context.Context, string) (bool, error) { return false, errors.New("redis: connection refused") },
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
	if resp := post(t, url, "Bearer "+as.mint(t, validClaims(url))); resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("status = %d, want 500", resp.StatusCode)
	}
}

func TestKeyRotation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if resp := post(t, e.url, "Bearer "+e.as.mint(t, validClaims(e.url))); resp.StatusCode != http.StatusOK {
		t.Fatalf("first token: status %d", resp.StatusCode)
	}
	k2 := e.as.addKey("k2")
	rotated := "Bearer " + sign(t, jose.ES256, k2, "k2", validClaims(e.url))

	// Within jwksMinRefetch of the last fetch an unknown kid is refused
	// without another fetch, so forged kids cannot flood the AS.
	if resp := post(t, e.url, rotated); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("new kid right after a fetch: status %d, want 401", resp.StatusCode)
	}
	if got := e.as.fetches.Load(); got != 1 {
		t.Fatalf("JWKS fetches = %d, want 1", got)
	}
	e.clock.add(11 * time.Second)
	if resp := post(t, e.url, rotated); resp.StatusCode != http.StatusOK {
		t.Fatalf("new kid after the refetch interval: status %d, want 200", resp.StatusCode)
	}
	if got := e.as.fetches.Load(); got != 2 {
		t.Fatalf("JWKS fetches = %d, want 2", got)
	}
}

func TestSessionBoundToPatient(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cs := connect(t, e.url, e.as.mint(t, validClaims(e.url)))

	other := validClaims(e.url)
	other.Subject = "patient-0002"
	req, _ := http.NewRequest(http.MethodPost, e.url, strings.NewReader(`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Session-Id", cs.ID())
	req.Header.Set("Authorization", "Bearer "+e.as.mint(t, other))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("another patient's token on the session: status %d, want 403", resp.StatusCode)
	}
}

func TestMetadata(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	want := map[string]any{
		"resource":                 e.url,
		"authorization_servers":    []any{testIssuer},
		"bearer_methods_supported": []any{"header"},
		"resource_name":            "IVR demo MCP server",
	}
	base := strings.TrimSuffix(e.url, "/mcp")
	if got, wantURL := e.srv.MetadataURL(), base+"/.well-known/oauth-protected-resource/mcp"; got != wantURL {
		t.Errorf("MetadataURL() = %q, want %q", got, wantURL)
	}
	for _, path := range []string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: status %d, Content-Type %q", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if diff := cmp.Diff(got, want); diff != "" {
			t.Errorf("%s (-got +want):\n%s", path, diff)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	ok := mcpdemo.Config{
		Resource: "http://127.0.0.1:9100/mcp", Issuer: testIssuer, JWKSURL: "http://127.0.0.1:9000/jwks",
		Revoked: func(context.Context, string) (bool, error) { return false, nil },
	}
	tests := []struct {
		name string
		edit func(*mcpdemo.Config)
	}{
		{"relative resource", func(c *mcpdemo.Config) { c.Resource = "/mcp" }},
		{"resource without path", func(c *mcpdemo.Config) { c.Resource = "http://127.0.0.1:9100" }},
		{"resource with fragment", func(c *mcpdemo.Config) { c.Resource = "http://127.0.0.1:9100/mcp#x" }},
		{"no issuer", func(c *mcpdemo.Config) { c.Issuer = "" }},
		{"no jwks", func(c *mcpdemo.Config) { c.JWKSURL = "" }},
		{"no revocation check", func(c *mcpdemo.Config) { c.Revoked = nil }},
	}
	if _, err := mcpdemo.New(ok); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.edit(&cfg)
			if _, err := mcpdemo.New(cfg); err == nil {
				t.Error("New succeeded, want error")
			}
		})
	}
}

func TestNextAppointmentDeterministic(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 26, 15, 4, 5, 0, time.UTC)
	for _, id := range []string{"patient-0001", "patient-0002", "p", ""} {
		a, b := mcpdemo.NextAppointment(id, now), mcpdemo.NextAppointment(id, now.Add(time.Hour))
		if diff := cmp.Diff(a, b); diff != "" {
			t.Errorf("%q: same day, different answer (-first +second):\n%s", id, diff)
		}
		if !a.StartsAt.After(now) || a.StartsAt.After(now.AddDate(0, 0, 17)) {
			t.Errorf("%q: starts %v, want within the next 2 weeks", id, a.StartsAt)
		}
		if wd := a.StartsAt.Weekday(); wd == time.Saturday || wd == time.Sunday {
			t.Errorf("%q: starts on a %v", id, wd)
		}
		if h := a.StartsAt.Hour(); h < 8 || h > 16 {
			t.Errorf("%q: starts at %d h, want office hours", id, h)
		}
	}
}

// FuzzAuthorization feeds arbitrary Authorization headers through the
// handler. Whatever the header, the answer is 401 with a challenge naming the
// metadata, unless the header carries exactly a token the AS minted.
func FuzzAuthorization(f *testing.F) {
	e := newEnv(f)
	valid := e.as.mint(f, validClaims(e.url))
	expired := validClaims(e.url)
	expired.Expiry = jwt.NewNumericDate(t0.Add(-time.Hour))
	for _, s := range []string{
		"", "Bearer", "Bearer ", "bearer x", "Basic Zm9vOmJhcg==", "Bearer a.b.c", "Bearer a.b.c d",
		"Bearer " + valid, "BEARER  " + valid, "Bearer " + valid + ".x",
		"Bearer " + e.as.mint(f, expired), "Bearer " + unsigned(f, validClaims(e.url)),
		"Bearer eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.e30.AAAA",
	} {
		f.Add(s)
	}
	h := e.srv.Handler()
	meta := `resource_metadata="` + e.srv.MetadataURL() + `"`
	f.Fuzz(func(t *testing.T, authorization string) {
		req := httptest.NewRequest(http.MethodPost, e.url, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header["Authorization"] = []string{authorization}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fields := strings.Fields(authorization)
		accepted := len(fields) == 2 && strings.EqualFold(fields[0], "bearer") && fields[1] == valid
		if rec.Code == http.StatusUnauthorized {
			if accepted {
				t.Fatalf("valid token refused: %s", rec.Header().Get("WWW-Authenticate"))
			}
			if !strings.Contains(rec.Header().Get("WWW-Authenticate"), meta) {
				t.Fatalf("401 without resource_metadata: %q", rec.Header().Get("WWW-Authenticate"))
			}
			return
		}
		if !accepted {
			t.Fatalf("status %d for an Authorization header that is not the minted token", rec.Code)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	e := newEnv(b)
	auth := "Bearer " + e.as.mint(b, validClaims(e.url))
	h := e.srv.Handler()
	// A ping without a session reaches the MCP handler only after the token
	// passed; what is measured is mostly the verification.
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodDelete, e.url, nil)
		req.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusUnauthorized {
			b.Fatal("token refused")
		}
	}
}
