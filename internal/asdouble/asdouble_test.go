package asdouble_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ivr-gateway/ivr/internal/asdouble"
)

const (
	clientID = "gw:1"
	secret   = "s3cret/é"
	verifier = "dBjftJeZ4CVP-mJ92IZcSAR3kZ7TnlyvTz8Wd8UFpKs" // RFC 7636 appendix B
)

var patients = []asdouble.Patient{
	{ID: "p1", Given: "María", Family: "García", Birthdate: "1980-01-05", SSN4: "1234"},
	{ID: "p2", Given: "John", Family: "Smith", Birthdate: "1975-07-04", SSN4: "5678", OTP: "246810"},
}

// reports collects the deviations a double reports.
type reports struct {
	mu  sync.Mutex
	got []string
}

func (r *reports) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, fmt.Sprintf(format, args...))
}

func (r *reports) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.got
	r.got = nil
	return out
}

// serve starts a double whose deviations land in the returned reports.
func serve(t *testing.T, mod func(*asdouble.Server)) (*asdouble.Server, *reports) {
	t.Helper()
	rep := &reports{}
	s := &asdouble.Server{
		ClientID: clientID, ClientSecret: secret, Patients: patients,
		Scope: "patient.read", Resource: "https://mcp.example.test/mcp", Errorf: rep.Errorf,
	}
	if mod != nil {
		mod(s)
	}
	return asdouble.Serve(t, s), rep
}

func challengeOf(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// conformant is a challenge body as docs/as-profile.md wants it, plus extra.
func conformant(s *asdouble.Server, extra ...string) url.Values {
	f := url.Values{
		"response_type": {"code"}, "scope": {s.Scope}, "resource": {s.Resource},
		"code_challenge": {challengeOf(verifier)}, "code_challenge_method": {"S256"},
	}
	for i := 0; i+1 < len(extra); i += 2 {
		f.Set(extra[i], extra[i+1])
	}
	return f
}

func kba(s *asdouble.Server, given, family, dob, ssn string) url.Values {
	return conformant(s, "given_name", given, "family_name", family, "birthdate", dob, "ssn_last4", ssn)
}

// post sends form as the gateway does (client_secret_basic, form-encoded
// credentials) and decodes the JSON answer.
func post(t *testing.T, s *asdouble.Server, path string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", s.Issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	return do(t, s, req)
}

func do(t *testing.T, s *asdouble.Server, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

// TestWireChecks: every deviation from the AS profile is reported, and a
// conformant exchange reports nothing.
func TestWireChecks(t *testing.T) {
	t.Parallel()
	s, rep := serve(t, nil)
	maria := func() url.Values { return kba(s, "María", "García", "1980-01-05", "1234") }
	code := func() string {
		_, m := post(t, s, "/challenge", maria())
		return m["authorization_code"].(string)
	}
	tokenForm := func() url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "code": {code()}, "code_verifier": {verifier}, "resource": {s.Resource}}
	}
	with := func(f url.Values, k, v string) url.Values { f.Set(k, v); return f }
	without := func(f url.Values, k string) url.Values { f.Del(k); return f }
	raw := func(path, ct string, body string, basic bool) func() {
		return func() {
			req, _ := http.NewRequest("POST", s.Issuer+path, strings.NewReader(body))
			req.Header.Set("Content-Type", ct)
			if basic {
				req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
			}
			do(t, s, req)
		}
	}
	tests := []struct {
		name string
		send func()
		want string // a substring of a report wanted; "" wants none
	}{
		{"conformant challenge and token", func() { post(t, s, "/token", tokenForm()) }, ""},
		{"conformant revocation", func() {
			post(t, s, "/revoke", url.Values{"token": {"at-x"}, "token_type_hint": {"access_token"}})
		}, ""},
		{"wrong Content-Type", raw("/challenge", "text/plain", maria().Encode(), true), "Content-Type"},
		{"no Basic", raw("/challenge", "application/x-www-form-urlencoded", maria().Encode(), false), "client_secret_basic"},
		{"GET", func() {
			req, _ := http.NewRequest("GET", s.Issuer+"/challenge?"+maria().Encode(), nil)
			req.SetBasicAuth(clientID, secret)
			do(t, s, req)
		}, "method GET"},
		{"query string", func() { post(t, s, "/challenge?x=1", maria()) }, "query string"},
		{"secret in the body", func() { post(t, s, "/challenge", with(maria(), "client_secret", secret)) }, "client_secret in the body"},
		{"no response_type", func() { post(t, s, "/challenge", without(maria(), "response_type")) }, "response_type"},
		{"plain PKCE", func() { post(t, s, "/challenge", with(maria(), "code_challenge_method", "plain")) }, "code_challenge_method"},
		{"short code_challenge", func() { post(t, s, "/challenge", with(maria(), "code_challenge", "abc")) }, "code_challenge"},
		{"wrong scope", func() { post(t, s, "/challenge", with(maria(), "scope", "openid")) }, "scope"},
		{"no resource", func() { post(t, s, "/challenge", without(maria(), "resource")) }, "resource"},
		{"redirect_uri", func() { post(t, s, "/challenge", with(maria(), "redirect_uri", "https://x")) }, "redirect_uri"},
		{"answers with the otp", func() {
			post(t, s, "/challenge", with(with(maria(), "otp", "1"), "auth_session", "x"))
		}, "given_name sent"},
		{"otp without auth_session", func() { post(t, s, "/challenge", conformant(s, "otp", "246810")) }, "otp without auth_session"},
		{"token: wrong verifier", func() { post(t, s, "/token", with(tokenForm(), "code_verifier", strings.Repeat("a", 43))) }, "code_verifier"},
		{"token: redirect_uri", func() { post(t, s, "/token", with(tokenForm(), "redirect_uri", "https://x")) }, "redirect_uri"},
		{"token: client_id in the body", func() { post(t, s, "/token", with(tokenForm(), "client_id", clientID)) }, "client_id in the body"},
		{"token: no resource", func() { post(t, s, "/token", without(tokenForm(), "resource")) }, "resource"},
		{"revocation without hint", func() { post(t, s, "/revoke", url.Values{"token": {"at-x"}}) }, "token_type_hint"},
	}
	for _, tt := range tests {
		rep.take()
		tt.send()
		got := rep.take()
		switch {
		case tt.want == "" && len(got) != 0:
			t.Errorf("%s: reported %q, want nothing", tt.name, got)
		case tt.want != "" && !slices.ContainsFunc(got, func(r string) bool { return strings.Contains(r, tt.want) }):
			t.Errorf("%s: reported %q, want a report about %q", tt.name, got, tt.want)
		}
	}
}

// TestFlow runs the profile's exchanges and checks each answer.
func TestFlow(t *testing.T) {
	t.Parallel()
	s, rep := serve(t, func(s *asdouble.Server) { s.TokenTTL = time.Hour })

	// KBA, names without regard to case, then the token and its revocation.
	st, m := post(t, s, "/challenge", kba(s, "maría", "GARCÍA", "1980-01-05", "1234"))
	if st != 200 || m["authorization_code"] == nil || m["auth_session"] == nil {
		t.Fatalf("challenge: %d %v", st, m)
	}
	tf := url.Values{"grant_type": {"authorization_code"}, "code": {m["authorization_code"].(string)},
		"code_verifier": {verifier}, "resource": {s.Resource}}
	st, tok := post(t, s, "/token", tf)
	at, _ := tok["access_token"].(string)
	if st != 200 || !strings.HasPrefix(at, "at-p1-") || tok["expires_in"] != 3600.0 || tok["scope"] != "patient.read" {
		t.Fatalf("token: %d %v", st, tok)
	}
	if st, m := post(t, s, "/token", tf); st != 400 || m["error"] != "invalid_grant" {
		t.Errorf("code reused: %d %v", st, m)
	}
	if s.Revoked(at) {
		t.Error("revoked before revocation")
	}
	post(t, s, "/revoke", url.Values{"token": {at}, "token_type_hint": {"access_token"}})
	if !s.Revoked(at) || s.Revoked("at-never-issued") {
		t.Error("Revoked does not follow the revocations of issued tokens")
	}

	// Step-up: a wrong code costs an attempt, the right one gives a code.
	st, m = post(t, s, "/challenge", kba(s, "John", "Smith", "1975-07-04", "5678"))
	sess, _ := m["auth_session"].(string)
	if st != 403 || m["error"] != "insufficient_authorization" || m["otp_required"] != true || sess == "" {
		t.Fatalf("step-up: %d %v", st, m)
	}
	if st, m := post(t, s, "/challenge", conformant(s, "auth_session", sess, "otp", "000000")); st != 400 ||
		m["error"] != "access_denied" || m["attempts_remaining"] != 2.0 {
		t.Errorf("wrong OTP: %d %v", st, m)
	}
	if st, m := post(t, s, "/challenge", conformant(s, "auth_session", sess, "otp", "246810")); st != 200 || m["authorization_code"] == nil {
		t.Errorf("right OTP: %d %v", st, m)
	}

	// Misses count down, then the session is locked.
	var left []any
	sess = ""
	for range 4 {
		f := kba(s, "María", "García", "1980-01-06", "1234")
		if sess != "" {
			f.Set("auth_session", sess)
		}
		st, m := post(t, s, "/challenge", f)
		sess, _ = m["auth_session"].(string)
		left = append(left, fmt.Sprintf("%d %v %v", st, m["error"], m["attempts_remaining"]))
	}
	want := []any{"400 access_denied 2", "400 access_denied 1", "400 access_denied 0", "429 slow_down <nil>"}
	if diff := cmp.Diff(left, want); diff != "" {
		t.Errorf("misses (-got +want):\n%s", diff)
	}

	if st, m := post(t, s, "/challenge", conformant(s, "auth_session", "stale", "otp", "1")); st != 400 || m["error"] != "invalid_session" {
		t.Errorf("unknown session: %d %v", st, m)
	}
	if got := rep.take(); len(got) != 0 {
		t.Errorf("a conformant flow reported %q", got)
	}

	// A code is bound to the resource of its challenge (RFC 8707).
	_, m = post(t, s, "/challenge", kba(s, "María", "García", "1980-01-05", "1234"))
	tf = url.Values{"grant_type": {"authorization_code"}, "code": {m["authorization_code"].(string)},
		"code_verifier": {verifier}, "resource": {"https://other.example.test"}}
	if st, m := post(t, s, "/token", tf); st != 400 || m["error"] != "invalid_target" {
		t.Errorf("other resource: %d %v", st, m)
	}
	if n := len(s.Forms(asdouble.Challenge)); n != 10 {
		t.Errorf("%d challenge requests recorded, want 10", n)
	}
}

func TestWrongClient(t *testing.T) {
	t.Parallel()
	s, _ := serve(t, nil)
	req, _ := http.NewRequest("POST", s.Issuer+"/challenge", strings.NewReader(kba(s, "John", "Smith", "1975-07-04", "5678").Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), "wrong")
	if st, m := do(t, s, req); st != 401 || m["error"] != "invalid_client" {
		t.Errorf("wrong secret: %d %v", st, m)
	}
	if got := s.Requests(); len(got) != 1 || got[0].Client != clientID || got[0].Endpoint != asdouble.Challenge {
		t.Errorf("recorded %+v", got)
	}
}

// TestModes: the code alias, canned answers (once each, in order), the
// failing and slow modes, no revocation endpoint.
func TestModes(t *testing.T) {
	t.Parallel()
	s, rep := serve(t, func(s *asdouble.Server) { s.CodeAlias = true })
	maria := kba(s, "María", "García", "1980-01-05", "1234")
	if _, m := post(t, s, "/challenge", maria); m["code"] == nil || m["authorization_code"] != nil {
		t.Errorf("code alias: %v", m)
	}
	s.Script(asdouble.Challenge, asdouble.Canned{Status: 503, Body: `{"error":"temporarily_unavailable"}`},
		asdouble.Canned{Status: 429, Header: map[string]string{"Retry-After": "7"}})
	for _, want := range []int{503, 429, 200} {
		if st, _ := post(t, s, "/challenge", maria); st != want {
			t.Errorf("scripted: %d, want %d", st, want)
		}
	}
	s.Script(asdouble.Challenge, asdouble.Canned{Hang: true})
	ctxReq, _ := http.NewRequest("POST", s.Issuer+"/challenge", strings.NewReader(maria.Encode()))
	ctxReq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	ctxReq.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	hc := *s.Client()
	hc.Timeout = 50 * time.Millisecond
	if _, err := hc.Do(ctxReq); err == nil {
		t.Error("a hanging answer answered")
	}

	s.SetFailing(true)
	if st, _ := post(t, s, "/revoke", url.Values{"token": {"t"}, "token_type_hint": {"access_token"}}); st != 500 {
		t.Errorf("failing: %d", st)
	}
	s.SetFailing(false)
	s.SetDelay(100 * time.Millisecond)
	start := time.Now()
	post(t, s, "/challenge", maria)
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("slow challenge answered after %v", d)
	}
	if got := rep.take(); len(got) != 0 {
		t.Errorf("reported %q", got)
	}

	off, rep := serve(t, func(s *asdouble.Server) { s.NoRevocation = true })
	if st, _ := post(t, off, "/revoke", url.Values{"token": {"t"}, "token_type_hint": {"access_token"}}); st != 404 {
		t.Errorf("revocation when none is advertised: %d", st)
	}
	if got := rep.take(); len(got) != 1 || !strings.Contains(got[0], "advertises no revocation_endpoint") {
		t.Errorf("revocation when none is advertised reported %q", got)
	}
}

// TestMetadata: issuer-path insertion (RFC 8414 §3.1), RFC 9728 metadata on
// the same host, edits, canned answers, and the legacy wiring (Handler, then
// Issuer set by hand).
func TestMetadata(t *testing.T) {
	t.Parallel()
	s, rep := serve(t, func(s *asdouble.Server) {
		s.IssuerPath, s.ResourcePath, s.Resource, s.NoRevocation = "/t1", "/mcp", "", true
		s.EditMetadata = func(doc map[string]any) { doc["jwks_uri"] = "https://as.example.test/jwks" }
	})
	get := func(path string) (int, map[string]any) {
		req, _ := http.NewRequest("GET", s.URL()+path, nil)
		return do(t, s, req)
	}
	st, md := get("/.well-known/oauth-authorization-server/t1")
	want := map[string]any{
		"issuer": s.URL() + "/t1", "authorization_challenge_endpoint": s.URL() + "/t1/challenge",
		"token_endpoint": s.URL() + "/t1/token", "jwks_uri": "https://as.example.test/jwks",
		"code_challenge_methods_supported":      []any{"S256"},
		"token_endpoint_auth_methods_supported": []any{"client_secret_basic"},
		"grant_types_supported":                 []any{"authorization_code"}, "response_types_supported": []any{"code"},
	}
	if diff := cmp.Diff(md, want); st != 200 || diff != "" {
		t.Errorf("metadata %d (-got +want):\n%s", st, diff)
	}
	_, prm := get("/.well-known/oauth-protected-resource/mcp")
	if diff := cmp.Diff(prm, map[string]any{"resource": s.URL() + "/mcp", "authorization_servers": []any{s.Issuer}}); diff != "" ||
		s.Resource != s.URL()+"/mcp" {
		t.Errorf("resource metadata (-got +want):\n%s", diff)
	}
	s.Script(asdouble.Metadata, asdouble.Canned{Status: 404})
	if st, _ := get("/.well-known/oauth-authorization-server/t1"); st != 404 {
		t.Errorf("scripted metadata: %d", st)
	}
	req, _ := http.NewRequest("POST", s.URL()+"/.well-known/oauth-authorization-server/t1", nil)
	if st, _ := do(t, s, req); st != 405 {
		t.Errorf("POST metadata: %d", st)
	}
	if got := rep.take(); len(got) != 1 || !strings.Contains(got[0], "want GET") {
		t.Errorf("POST metadata reported %q", got)
	}
	wantPaths := []string{"/.well-known/oauth-authorization-server/t1", "/.well-known/oauth-protected-resource/mcp",
		"/.well-known/oauth-authorization-server/t1", "/.well-known/oauth-authorization-server/t1"}
	if diff := cmp.Diff(s.MetadataRequests(), wantPaths); diff != "" {
		t.Errorf("metadata requests (-got +want):\n%s", diff)
	}

	legacy := &asdouble.Server{ClientID: clientID, ClientSecret: secret}
	srv := httptest.NewServer(legacy.Handler())
	t.Cleanup(srv.Close)
	legacy.Issuer = srv.URL
	resp, err := srv.Client().Get(srv.URL + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var lmd map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&lmd); err != nil || lmd["revocation_endpoint"] != srv.URL+"/revoke" {
		t.Errorf("legacy metadata: %v %v", lmd, err)
	}
}

func TestScriptUnknownEndpoint(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("Script accepted an unknown endpoint")
		}
	}()
	(&asdouble.Server{}).Script("tokens", asdouble.Canned{})
}

// TestRequestsAreCopies: what Requests returns does not change with later
// requests.
func TestRequestsAreCopies(t *testing.T) {
	t.Parallel()
	s, _ := serve(t, nil)
	post(t, s, "/challenge", kba(s, "John", "Smith", "1975-07-04", "5678"))
	first := s.Requests()
	post(t, s, "/challenge", kba(s, "John", "Smith", "1975-07-04", "5678"))
	if len(first) != 1 || len(s.Requests()) != 2 || !slices.Equal(first[0].Form["ssn_last4"], []string{"5678"}) {
		t.Errorf("Requests: %d then %d", len(first), len(s.Requests()))
	}
}

// TestHangEndsWithTheClient: a hanging answer ends when the client gives up,
// even when the body was not a form (regression: the server never noticed
// the client left, and closing it blocked the test forever).
func TestHangEndsWithTheClient(t *testing.T) {
	t.Parallel()
	s := &asdouble.Server{ClientID: clientID, ClientSecret: secret}
	srv := httptest.NewServer(s.Handler())
	s.Issuer = srv.URL
	s.Script(asdouble.Challenge, asdouble.Canned{Hang: true})
	req, _ := http.NewRequest("POST", srv.URL+"/challenge", strings.NewReader("response_type=code"))
	req.Header.Set("Content-Type", "text/plain")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	hc := srv.Client()
	hc.Timeout = 50 * time.Millisecond
	if resp, err := hc.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("a hanging answer answered")
	}
	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the hanging answer outlived its client")
	}
}
