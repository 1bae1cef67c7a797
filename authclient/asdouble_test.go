package authclient

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"

	"golang.org/x/oauth2"
)

// Test credentials with characters RFC 6749 §2.3.1 makes the client
// form-encode before Basic.
const (
	testClientID     = "ivr-gateway:prod"
	testClientSecret = "p@ss word/+=é"
	testScope        = "patient/*.read openid"
	testIssuerPath   = "/tenant1"
	maxTestAttempts  = 3
)

// testPatient is an identity the double knows, in the contract §7 form.
type testPatient struct {
	GivenName, FamilyName, Birthdate, SSNLast4 string
	OTPRequired                                bool
	OTP                                        string
}

// canned is a scripted answer that replaces the double's own logic, for the
// answers a faithful AS gives only under failure (5xx, 429, bad JSON, hangs).
type canned struct {
	status int
	body   string
	header map[string]string
	hang   bool // block until the client gives up
}

// asDouble is an authorization server following contract §3 and
// draft-ietf-oauth-first-party-apps-04: RFC 8414 and RFC 9728 metadata, the
// KBA challenge endpoint with an OTP step-up, a token endpoint enforcing
// PKCE S256 and resource, and RFC 7009 revocation. Every handler checks the
// wire and reports deviations with t.Errorf.
type asDouble struct {
	t        testing.TB
	srv      *httptest.Server
	issuer   string
	resource string // "" means the client must send none
	scope    string // "" means the client must send none
	patients []testPatient
	// codeAlias answers "code" instead of "authorization_code".
	codeAlias    bool
	noRevocation bool

	mu         sync.Mutex
	sessions   map[string]*asSession
	codes      map[string]codeGrant
	tokens     map[string]bool // access token -> revoked
	challenges []url.Values    // every challenge request body
	tokenForms []url.Values
	revokes    []url.Values
	// Scripted answers, consumed in order; empty means normal logic.
	challengeScript, tokenScript, revokeScript []canned
}

type asSession struct {
	attemptsLeft int
	awaitOTP     *testPatient
}

type codeGrant struct{ challenge, resource string }

type asOption func(*asDouble)

func newASDouble(t testing.TB, opts ...asOption) *asDouble {
	t.Helper()
	d := &asDouble{
		t:        t,
		scope:    testScope,
		sessions: map[string]*asSession{},
		codes:    map[string]codeGrant{},
		tokens:   map[string]bool{},
		patients: []testPatient{
			{GivenName: "Maria", FamilyName: "Garcia", Birthdate: "1980-01-05", SSNLast4: "1234"},
			{GivenName: "John", FamilyName: "Smith", Birthdate: "1975-12-31", SSNLast4: "9876", OTPRequired: true, OTP: "424242"},
		},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server"+testIssuerPath, d.metadata)
	mux.HandleFunc("GET /.well-known/oauth-protected-resource/mcp", d.resourceMetadata)
	mux.HandleFunc("/as/challenge", d.challenge)
	mux.HandleFunc("/as/token", d.token)
	mux.HandleFunc("/as/revoke", d.revoke)
	d.srv = httptest.NewServer(mux)
	t.Cleanup(d.srv.Close)
	d.issuer = d.srv.URL + testIssuerPath
	d.resource = d.srv.URL + "/mcp"
	for _, o := range opts {
		o(d)
	}
	return d
}

func (d *asDouble) md() *Metadata {
	md := &Metadata{
		Issuer:                            d.issuer,
		AuthorizationChallengeEndpoint:    d.srv.URL + "/as/challenge",
		TokenEndpoint:                     d.srv.URL + "/as/token",
		RevocationEndpoint:                d.srv.URL + "/as/revoke",
		JWKSURI:                           d.srv.URL + "/as/jwks",
		CodeChallengeMethodsSupported:     []string{"S256"},
		TokenEndpointAuthMethodsSupported: []string{"client_secret_basic"},
	}
	if d.noRevocation {
		md.RevocationEndpoint = ""
	}
	return md
}

// client returns a Client for the double with the test credentials.
func (d *asDouble) client(tb testing.TB, mod ...func(*Config)) *Client {
	tb.Helper()
	cfg := Config{
		Metadata:     d.md(),
		ClientID:     testClientID,
		ClientSecret: testClientSecret,
		Scope:        d.scope,
		Resource:     d.resource,
		HTTPClient:   d.srv.Client(),
	}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return c
}

func (d *asDouble) metadata(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, d.md())
}

func (d *asDouble) resourceMetadata(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"resource":              d.srv.URL + "/mcp",
		"authorization_servers": []string{d.issuer},
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func oauthError(w http.ResponseWriter, status int, code string, extra map[string]any) {
	body := map[string]any{"error": code}
	for k, v := range extra {
		body[k] = v
	}
	writeJSON(w, status, body)
}

// popScript returns the next scripted answer, if any.
func (d *asDouble) popScript(s *[]canned) (canned, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(*s) == 0 {
		return canned{}, false
	}
	c := (*s)[0]
	*s = (*s)[1:]
	return c, true
}

func (d *asDouble) play(w http.ResponseWriter, r *http.Request, c canned) {
	if c.hang {
		<-r.Context().Done()
		return
	}
	for k, v := range c.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(c.status)
	_, _ = w.Write([]byte(c.body))
}

// checkClient checks method, Content-Type and client_secret_basic, parses
// the form, and answers 401 invalid_client itself when authentication fails.
func (d *asDouble) checkClient(w http.ResponseWriter, r *http.Request, endpoint string) (url.Values, bool) {
	t := d.t
	if r.Method != http.MethodPost {
		t.Errorf("%s: method %s, want POST", endpoint, r.Method)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		t.Errorf("%s: Content-Type %q", endpoint, ct)
	}
	if err := r.ParseForm(); err != nil {
		t.Errorf("%s: form: %v", endpoint, err)
	}
	if len(r.URL.Query()) != 0 {
		t.Errorf("%s: parameters in the query string: %v", endpoint, r.URL.RawQuery)
	}
	form := r.PostForm
	if form.Has("client_secret") {
		t.Errorf("%s: client_secret in the body", endpoint)
	}
	u, p, ok := r.BasicAuth()
	id, err1 := url.QueryUnescape(u)
	sec, err2 := url.QueryUnescape(p)
	if !ok || err1 != nil || err2 != nil || id != testClientID || sec != testClientSecret {
		w.Header().Set("WWW-Authenticate", `Basic realm="as"`)
		oauthError(w, http.StatusUnauthorized, "invalid_client", nil)
		return form, false
	}
	return form, true
}

// checkParam reports a parameter sent more than once or not as wanted
// ("" wants it absent).
func (d *asDouble) checkParam(endpoint string, form url.Values, key, want string) {
	d.t.Helper()
	got, ok := form[key]
	switch {
	case want == "" && ok:
		d.t.Errorf("%s: %s sent, want it absent", endpoint, key)
	case want != "" && !slices.Equal(got, []string{want}):
		d.t.Errorf("%s: %s = %q, want %q", endpoint, key, got, want)
	}
}

func (d *asDouble) challenge(w http.ResponseWriter, r *http.Request) {
	form, ok := d.checkClient(w, r, "challenge")
	d.mu.Lock()
	d.challenges = append(d.challenges, form)
	d.mu.Unlock()
	if !ok {
		return
	}
	d.checkParam("challenge", form, "response_type", "code")
	d.checkParam("challenge", form, "code_challenge_method", "S256")
	d.checkParam("challenge", form, "scope", d.scope)
	d.checkParam("challenge", form, "resource", d.resource)
	d.checkParam("challenge", form, "redirect_uri", "")
	cc := form.Get("code_challenge")
	if len(cc) != 43 {
		d.t.Errorf("challenge: code_challenge %q is not a base64url SHA-256", cc)
	}
	if form.Has("otp") {
		for _, k := range []string{"given_name", "family_name", "birthdate", "ssn_last4"} {
			d.checkParam("challenge", form, k, "")
		}
	}
	if c, ok := d.popScript(&d.challengeScript); ok {
		d.play(w, r, c)
		return
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	sid := form.Get("auth_session")
	s := d.sessions[sid]
	if sid != "" && s == nil {
		oauthError(w, http.StatusBadRequest, "invalid_session", nil)
		return
	}
	if s == nil {
		sid = rand.Text()
		s = &asSession{attemptsLeft: maxTestAttempts}
		d.sessions[sid] = s
	}
	if s.attemptsLeft == 0 {
		oauthError(w, http.StatusTooManyRequests, "slow_down", map[string]any{"auth_session": sid})
		return
	}
	var match *testPatient
	if otp := form.Get("otp"); otp != "" {
		if s.awaitOTP != nil && otp == s.awaitOTP.OTP {
			match = s.awaitOTP
		}
	} else {
		for i, p := range d.patients {
			if form.Get("given_name") == p.GivenName && form.Get("family_name") == p.FamilyName &&
				form.Get("birthdate") == p.Birthdate && form.Get("ssn_last4") == p.SSNLast4 {
				match = &d.patients[i]
			}
		}
		if match != nil && match.OTPRequired {
			s.awaitOTP = match
			oauthError(w, http.StatusForbidden, "insufficient_authorization",
				map[string]any{"auth_session": sid, "otp_required": true})
			return
		}
	}
	if match == nil {
		s.attemptsLeft--
		oauthError(w, http.StatusBadRequest, "access_denied",
			map[string]any{"auth_session": sid, "attempts_remaining": s.attemptsLeft})
		return
	}
	code := rand.Text()
	d.codes[code] = codeGrant{challenge: cc, resource: form.Get("resource")}
	key := "authorization_code"
	if d.codeAlias {
		key = "code"
	}
	writeJSON(w, http.StatusOK, map[string]any{key: code, "auth_session": sid})
}

func (d *asDouble) token(w http.ResponseWriter, r *http.Request) {
	form, ok := d.checkClient(w, r, "token")
	d.mu.Lock()
	d.tokenForms = append(d.tokenForms, form)
	d.mu.Unlock()
	if !ok {
		return
	}
	d.checkParam("token", form, "grant_type", "authorization_code")
	d.checkParam("token", form, "redirect_uri", "")
	d.checkParam("token", form, "resource", d.resource)
	d.checkParam("token", form, "client_id", "")
	if c, ok := d.popScript(&d.tokenScript); ok {
		d.play(w, r, c)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	g, ok := d.codes[form.Get("code")]
	delete(d.codes, form.Get("code"))
	if !ok {
		oauthError(w, http.StatusBadRequest, "invalid_grant", nil)
		return
	}
	if oauth2.S256ChallengeFromVerifier(form.Get("code_verifier")) != g.challenge {
		d.t.Errorf("token: code_verifier does not match the code_challenge")
		oauthError(w, http.StatusBadRequest, "invalid_grant", nil)
		return
	}
	if form.Get("resource") != g.resource {
		oauthError(w, http.StatusBadRequest, "invalid_target", nil)
		return
	}
	at := "at-" + rand.Text()
	d.tokens[at] = false
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": at, "token_type": "Bearer", "expires_in": 3600, "scope": "patient/*.read",
	})
}

func (d *asDouble) revoke(w http.ResponseWriter, r *http.Request) {
	form, ok := d.checkClient(w, r, "revocation")
	d.mu.Lock()
	d.revokes = append(d.revokes, form)
	d.mu.Unlock()
	if !ok {
		return
	}
	d.checkParam("revocation", form, "token_type_hint", "access_token")
	if c, ok := d.popScript(&d.revokeScript); ok {
		d.play(w, r, c)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.tokens[form.Get("token")]; ok {
		d.tokens[form.Get("token")] = true
	}
	w.WriteHeader(http.StatusOK) // RFC 7009 §2.2: also for unknown tokens
}

func (d *asDouble) counts() (challenges, tokens, revokes int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.challenges), len(d.tokenForms), len(d.revokes)
}

func (d *asDouble) lastChallenge() url.Values {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.challenges) == 0 {
		return nil
	}
	return d.challenges[len(d.challenges)-1]
}

func (d *asDouble) revoked(token string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.tokens[token]
}
