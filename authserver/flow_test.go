package authserver

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
)

func TestMetadataIssuerPath(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"", "/tenant1"} {
		t.Run("path="+path, func(t *testing.T) {
			t.Parallel()
			as := newTestAS(t, path)
			origin := strings.TrimSuffix(as.url, path)
			get := func(u string) answer {
				req, _ := http.NewRequest(http.MethodGet, u, nil)
				return doReq(t, req)
			}
			a := get(origin + "/.well-known/oauth-authorization-server" + path)
			if a.status != 200 {
				t.Fatalf("metadata: %d %s", a.status, a.raw)
			}
			want := map[string]any{
				"issuer":                                     as.url,
				"authorization_challenge_endpoint":           as.url + "/oauth/challenge",
				"token_endpoint":                             as.url + "/oauth/token",
				"revocation_endpoint":                        as.url + "/oauth/revoke",
				"jwks_uri":                                   as.url + "/oauth/jwks.json",
				"code_challenge_methods_supported":           []any{"S256"},
				"token_endpoint_auth_methods_supported":      []any{"client_secret_basic"},
				"revocation_endpoint_auth_methods_supported": []any{"client_secret_basic"},
				"grant_types_supported":                      []any{"authorization_code"},
				"response_types_supported":                   []any{"code"},
			}
			if diff := cmp.Diff(want, a.body); diff != "" {
				t.Errorf("metadata (-want +got):\n%s", diff)
			}
			if path != "" {
				// RFC 8414 §3: not appended to the issuer.
				if a := get(as.url + "/.well-known/oauth-authorization-server"); a.status != 404 {
					t.Errorf("appended well-known: %d, want 404", a.status)
				}
			}
			// Every advertised endpoint answers at its URL.
			if a := get(as.url + "/oauth/jwks.json"); a.status != 200 || len(a.body["keys"].([]any)) != 1 {
				t.Errorf("jwks: %d %s", a.status, a.raw)
			}
			code, v := as.codeFor(t)
			if a := as.tokenReq(t, tokenForm(code, v)); a.status != 200 {
				t.Errorf("token: %d %s", a.status, a.raw)
			}
		})
	}
}

// verifyWithJWKS checks a token the way a resource server does: with the
// key from jwks_uri.
func verifyWithJWKS(t *testing.T, as *testAS, tok string) (jwt.Claims, map[string]any, jose.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, as.url+"/oauth/jwks.json", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	h := parsed.Headers[0]
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q not in JWKS", h.KeyID)
	}
	var std jwt.Claims
	var extra map[string]any
	if err := parsed.Claims(keys[0].Key, &std, &extra); err != nil {
		t.Fatal(err)
	}
	return std, extra, h
}

func TestAccessTokenClaims(t *testing.T) {
	t.Parallel()
	as := newTestAS(t, "")
	code, v := as.codeFor(t)
	a := as.tokenReq(t, tokenForm(code, v))
	if a.status != 200 {
		t.Fatalf("token: %d %s", a.status, a.raw)
	}
	std, extra, h := verifyWithJWKS(t, as, a.str("access_token"))
	now := as.clock.Now()
	if typ, _ := h.ExtraHeaders["typ"].(string); typ != "at+jwt" {
		t.Errorf("typ = %q, want at+jwt", typ)
	}
	if std.Issuer != as.url || std.Subject != "pat-0001" || !std.Audience.Contains(testResource) || len(std.Audience) != 1 {
		t.Errorf("iss/sub/aud = %q %q %q", std.Issuer, std.Subject, std.Audience)
	}
	if !std.Expiry.Time().Equal(now.Add(15*time.Minute)) || !std.IssuedAt.Time().Equal(now) || std.ID == "" {
		t.Errorf("exp/iat/jti = %v %v %q", std.Expiry.Time(), std.IssuedAt.Time(), std.ID)
	}
	if extra["scope"] != "patient.read" || extra["client_id"] != testClient {
		t.Errorf("scope/client_id = %v %v", extra["scope"], extra["client_id"])
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: as.url, AnyAudience: jwt.Audience{testResource}, Time: now}, 0); err != nil {
		t.Error(err)
	}

	// Without resource the token is for the client itself.
	verifier, ch := pkce(t)
	a = as.challenge(t, with(mariaForm(ch), "resource"))
	a = as.tokenReq(t, with(tokenForm(a.str("authorization_code"), verifier), "resource"))
	std, _, _ = verifyWithJWKS(t, as, a.str("access_token"))
	if len(std.Audience) != 1 || std.Audience[0] != testClient {
		t.Errorf("aud without resource = %q, want [%s]", std.Audience, testClient)
	}
	// A resource at the token endpoint that the code was not bound to.
	verifier, ch = pkce(t)
	a = as.challenge(t, with(mariaForm(ch), "resource"))
	a = as.tokenReq(t, tokenForm(a.str("authorization_code"), verifier))
	if a.status != 400 || a.str("error") != "invalid_target" {
		t.Errorf("resource added at token endpoint: %d %s", a.status, a.raw)
	}
}

func TestAccessTokenTTL(t *testing.T) {
	t.Parallel()
	as := newTestAS(t, "", func(c *Config) { c.AccessTokenTTL = 90 * time.Second })
	code, v := as.codeFor(t)
	a := as.tokenReq(t, tokenForm(code, v))
	if a.body["expires_in"] != float64(90) {
		t.Errorf("expires_in = %v", a.body["expires_in"])
	}
}

func TestOTPStepUp(t *testing.T) {
	t.Parallel()
	as := newTestAS(t, "")
	_, ch := pkce(t)
	// "John Smith" fits Jon Smith and John Smyth (same birthdate): ambiguous.
	a := as.challenge(t, kbaForm(ch, "John", "Smith", "1975-03-10", "5678"))
	if a.status != 403 || a.str("error") != "insufficient_authorization" || a.body["otp_required"] != true {
		t.Fatalf("ambiguous: %d %s", a.status, a.raw)
	}
	sess := a.str("auth_session")
	tail, otp := as.lastOTP(t)
	if tail != "0124" {
		t.Errorf("OTP sent to ***%s, want Jon Smith's ***0124", tail)
	}
	// The step-up binds the code to its own, fresh code_challenge.
	verifier, ch2 := pkce(t)
	a = as.challenge(t, stepUpForm(ch2, sess, otp))
	if a.status != 200 || a.str("auth_session") != sess {
		t.Fatalf("step-up: %d %s", a.status, a.raw)
	}
	a = as.tokenReq(t, tokenForm(a.str("authorization_code"), verifier))
	if a.status != 200 {
		t.Fatalf("token: %d %s", a.status, a.raw)
	}
	std, _, _ := verifyWithJWKS(t, as, a.str("access_token"))
	if std.Subject != "pat-0002" {
		t.Errorf("sub = %q, want pat-0002", std.Subject)
	}
	// The OTP is spent with the session's step-up.
	a = as.challenge(t, stepUpForm(ch2, sess, otp))
	if a.status != 400 || a.str("error") != "invalid_request" {
		t.Errorf("OTP replay on a finished session: %d %s", a.status, a.raw)
	}
}

func TestOTPStepUpRepeatedKBA(t *testing.T) {
	t.Parallel()
	as := newTestAS(t, "")
	_, ch := pkce(t)
	form := kbaForm(ch, "Ana", "Lopez", "1990-07-22", "4321")
	a := as.challenge(t, form)
	if a.status != 403 {
		t.Fatalf("otp_required: %d %s", a.status, a.raw)
	}
	tail, otp := as.lastOTP(t)
	if tail != "0126" {
		t.Errorf("OTP to ***%s", tail)
	}
	// The gateway may send the KBA answers again with the OTP.
	verifier, ch2 := pkce(t)
	step := with(with(form, "auth_session", a.str("auth_session")), "otp", otp)
	step = with(step, "code_challenge", ch2)
	a = as.challenge(t, step)
	if a.status != 200 {
		t.Fatalf("step-up with KBA: %d %s", a.status, a.raw)
	}
	if a := as.tokenReq(t, tokenForm(a.str("authorization_code"), verifier)); a.status != 200 {
		t.Errorf("token: %d %s", a.status, a.raw)
	}
}

func TestOTPTries(t *testing.T) {
	t.Parallel()
	as := newTestAS(t, "")
	_, ch := pkce(t)
	kba := kbaForm(ch, "Ana", "Lopez", "1990-07-22", "4321")
	a := as.challenge(t, kba)
	sess := a.str("auth_session")
	_, otp := as.lastOTP(t)
	wrong := "000000"
	if otp == wrong {
		wrong = "111111"
	}
	want := []struct {
		status int
		body   map[string]any
	}{
		{403, map[string]any{"error": "insufficient_authorization", "auth_session": sess, "otp_required": true, "attempts_remaining": float64(2)}},
		{403, map[string]any{"error": "insufficient_authorization", "auth_session": sess, "otp_required": true, "attempts_remaining": float64(1)}},
		{400, map[string]any{"error": "access_denied", "attempts_remaining": float64(0)}},
	}
	for i, w := range want {
		a := as.challenge(t, stepUpForm(ch, sess, wrong))
		if a.status != w.status {
			t.Errorf("try %d: status %d, want %d", i+1, a.status, w.status)
		}
		if diff := cmp.Diff(w.body, a.body); diff != "" {
			t.Errorf("try %d (-want +got):\n%s", i+1, diff)
		}
	}
	// The right code after three misses: the session is gone.
	if a := as.challenge(t, stepUpForm(ch, sess, otp)); a.status != 400 || a.str("error") != "invalid_session" {
		t.Errorf("after 3 tries: %d %s", a.status, a.raw)
	}
	// Three OTP misses are three failures of the patient: locked, silently
	// (the right answers are refused as wrong ones are; a 429 here would
	// tell whoever locked her that the SSN digits are right).
	if a := as.challenge(t, kba); a.status != 400 || a.str("error") != "access_denied" {
		t.Errorf("identity after 3 OTP misses: %d %s", a.status, a.raw)
	}
	if n := as.otpCount(); n != 1 {
		t.Errorf("%d OTPs sent, want 1", n)
	}
}

func TestOTPRightAfterWrong(t *testing.T) {
	t.Parallel()
	as := newTestAS(t, "")
	_, ch := pkce(t)
	a := as.challenge(t, kbaForm(ch, "Ana", "Lopez", "1990-07-22", "4321"))
	sess := a.str("auth_session")
	_, otp := as.lastOTP(t)
	as.challenge(t, stepUpForm(ch, sess, "12345")) // wrong length counts as wrong
	// No otp at all: asked again, nothing counted, nothing re-sent.
	a = as.challenge(t, with(stepUpForm(ch, sess, ""), "otp"))
	if a.status != 403 || a.str("error") != "insufficient_authorization" {
		t.Errorf("no otp: %d %s", a.status, a.raw)
	}
	if a := as.challenge(t, stepUpForm(ch, sess, otp)); a.status != 200 {
		t.Errorf("right OTP after a miss: %d %s", a.status, a.raw)
	}
	if n := as.otpCount(); n != 1 {
		t.Errorf("%d OTPs sent, want 1", n)
	}
}

func TestOTPExpiry(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		after  time.Duration
		status int
		err    string
	}{
		{otpTTL - time.Second, 200, ""},
		{otpTTL, 400, "invalid_session"},
	} {
		t.Run(tt.after.String(), func(t *testing.T) {
			t.Parallel()
			as := newTestAS(t, "")
			_, ch := pkce(t)
			a := as.challenge(t, kbaForm(ch, "Ana", "Lopez", "1990-07-22", "4321"))
			_, otp := as.lastOTP(t)
			as.clock.Add(tt.after)
			a = as.challenge(t, stepUpForm(ch, a.str("auth_session"), otp))
			if a.status != tt.status || a.str("error") != tt.err {
				t.Errorf("OTP after %v: %d %s", tt.after, a.status, a.raw)
			}
		})
	}
}

func TestLockout(t *testing.T) {
	t.Parallel()
	as := newTestAS(t, "")
	_, ch := pkce(t)
	good := mariaForm(ch)
	bad := with(good, "ssn_last4", "0000")
	for i, want := range []float64{2, 1, 0} {
		if i > 0 {
			as.clock.Add(time.Minute)
		}
		a := as.challenge(t, bad)
		if a.status != 400 || a.str("error") != "access_denied" || a.body["attempts_remaining"] != want {
			t.Errorf("failure %d: %d %s", i+1, a.status, a.raw)
		}
	}
	// Locked: the right answers, or the same name spelt another way, are
	// refused alike.
	for _, f := range []url.Values{good, with(good, "family_name", "Garsia"), bad} {
		a := as.challenge(t, f)
		if a.status != 429 || a.str("error") != "slow_down" || a.header.Get("Retry-After") == "" {
			t.Errorf("locked: %d %s", a.status, a.raw)
		}
	}
	// Another identity is not affected.
	if a := as.challenge(t, kbaForm(ch, "Jon", "Smith", "1975-03-10", "0000")); a.status != 400 {
		t.Errorf("other identity: %d %s", a.status, a.raw)
	}
	as.clock.Add(lockDuration - time.Second)
	if a := as.challenge(t, good); a.status != 429 {
		t.Errorf("just before unlock: %d", a.status)
	}
	as.clock.Add(time.Second)
	if a := as.challenge(t, good); a.status != 200 {
		t.Errorf("after the lock: %d %s", a.status, a.raw)
	}
}

func TestFailureWindowSlides(t *testing.T) {
	t.Parallel()
	as := newTestAS(t, "")
	_, ch := pkce(t)
	bad := with(mariaForm(ch), "ssn_last4", "0000")
	steps := []struct {
		advance time.Duration
		want    float64
	}{
		{0, 2},
		{14 * time.Minute, 1},
		{2 * time.Minute, 1}, // the first failure is 16 min old: out of the window
		{0, 0},
	}
	for i, st := range steps {
		as.clock.Add(st.advance)
		if a := as.challenge(t, bad); a.body["attempts_remaining"] != st.want {
			t.Errorf("step %d: %d %s, want %v remaining", i, a.status, a.raw, st.want)
		}
	}
}

func TestSuccessResetsFailures(t *testing.T) {
	t.Parallel()
	as := newTestAS(t, "")
	_, ch := pkce(t)
	bad := with(mariaForm(ch), "ssn_last4", "0000")
	as.challenge(t, bad)
	as.challenge(t, bad)
	if a := as.challenge(t, mariaForm(ch)); a.status != 200 {
		t.Fatalf("good: %d", a.status)
	}
	if a := as.challenge(t, bad); a.body["attempts_remaining"] != float64(2) {
		t.Errorf("after success: %s", a.raw)
	}
}

func TestSessionUseLimit(t *testing.T) {
	t.Parallel()
	as := newTestAS(t, "")
	_, ch := pkce(t)
	a := as.challenge(t, kbaForm(ch, "Ana", "Lopez", "1990-07-22", "4321"))
	sess := a.str("auth_session")
	for i := range sessionMaxUses {
		if a := as.challenge(t, with(stepUpForm(ch, sess, ""), "otp")); a.status != 403 {
			t.Fatalf("use %d: %d %s", i+1, a.status, a.raw)
		}
	}
	if a := as.challenge(t, with(stepUpForm(ch, sess, ""), "otp")); a.status != 400 || a.str("error") != "invalid_session" {
		t.Errorf("use %d: %d %s", sessionMaxUses+1, a.status, a.raw)
	}
}

func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	as := newTestAS(t, "")
	_, ch := pkce(t)
	a := as.challenge(t, mariaForm(ch))
	as.clock.Add(sessionTTL)
	if a := as.challenge(t, with(mariaForm(ch), "auth_session", a.str("auth_session"))); a.str("error") != "invalid_session" {
		t.Errorf("expired session: %d %s", a.status, a.raw)
	}
}

func TestClientRateLimit(t *testing.T) {
	t.Parallel()
	as := newTestAS(t, "", func(c *Config) { c.ClientRateLimit = 2 })
	_, ch := pkce(t)
	for range 2 {
		if a := as.challenge(t, mariaForm(ch)); a.status != 200 {
			t.Fatalf("within limit: %d", a.status)
		}
	}
	if a := as.challenge(t, mariaForm(ch)); a.status != 429 || a.str("error") != "slow_down" {
		t.Errorf("over limit: %d %s", a.status, a.raw)
	}
	if a := as.do(t, http.MethodPost, "/oauth/challenge", mariaForm(ch), otherClient, otherSecret); a.status != 200 {
		t.Errorf("other client: %d", a.status)
	}
	as.clock.Add(time.Minute)
	if a := as.challenge(t, mariaForm(ch)); a.status != 200 {
		t.Errorf("next minute: %d", a.status)
	}
}

func TestRevocation(t *testing.T) {
	t.Parallel()
	as := newTestAS(t, "")
	ctx := context.Background()
	code, v := as.codeFor(t)
	tok := as.tokenReq(t, tokenForm(code, v)).str("access_token")
	std, _, _ := verifyWithJWKS(t, as, tok)
	revoke := func(id, sec string) {
		t.Helper()
		if a := as.do(t, http.MethodPost, "/oauth/revoke", url.Values{"token": {tok}}, id, sec); a.status != 200 {
			t.Fatalf("revoke: %d %s", a.status, a.raw)
		}
	}
	// Another client cannot revoke it (and learns nothing: 200).
	revoke(otherClient, otherSecret)
	if r, err := as.Revoked(ctx, std.ID); err != nil || r {
		t.Fatalf("revoked by another client: %v %v", r, err)
	}
	revoke(testClient, testSecret)
	if r, err := as.Revoked(ctx, std.ID); err != nil || !r {
		t.Fatalf("Revoked = %v %v, want true", r, err)
	}
	// The mark lives until the token would have expired.
	ttl := as.rdb.PTTL(ctx, as.prefix+"revoked:"+std.ID).Val()
	if ttl <= 14*time.Minute || ttl > 15*time.Minute {
		t.Errorf("revocation TTL = %v", ttl)
	}
	if r, _ := as.Revoked(ctx, "unknown"); r {
		t.Error("unknown jti revoked")
	}
	// An expired token is not stored.
	code, v = as.codeFor(t)
	tok = as.tokenReq(t, tokenForm(code, v)).str("access_token")
	std, _, _ = verifyWithJWKS(t, as, tok)
	as.clock.Add(16 * time.Minute)
	revoke(testClient, testSecret)
	if r, _ := as.Revoked(ctx, std.ID); r {
		t.Error("expired token stored as revoked")
	}
}

func TestVerifyAccessToken(t *testing.T) {
	t.Parallel()
	as := newTestAS(t, "")
	other := newTestAS(t, "")
	ctx := context.Background()
	issue := func(as *testAS) string {
		code, v := as.codeFor(t)
		return as.tokenReq(t, tokenForm(code, v)).str("access_token")
	}
	tok := issue(as)
	at, err := as.VerifyAccessToken(ctx, tok, testResource)
	if err != nil {
		t.Fatal(err)
	}
	if at.Subject != "pat-0001" || at.ClientID != testClient || at.Scope != "patient.read" || at.ID == "" ||
		!at.Expiry.Equal(as.clock.Now().Add(15*time.Minute)) {
		t.Errorf("claims = %+v", at)
	}
	if _, err := as.VerifyAccessToken(ctx, tok, ""); err != nil {
		t.Errorf("no audience check: %v", err)
	}
	tests := []struct {
		name     string
		as       *testAS
		tok, aud string
		advance  time.Duration
	}{
		{"wrong audience", as, tok, "https://other.example/mcp", 0},
		{"garbage", as, "a.b.c", testResource, 0},
		{"another server's token", as, issue(other), testResource, 0},
		{"expired", as, tok, testResource, 15 * time.Minute},
	}
	for _, tt := range tests {
		tt.as.clock.Add(tt.advance)
		if _, err := tt.as.VerifyAccessToken(ctx, tt.tok, tt.aud); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: err = %v", tt.name, err)
		}
	}
	tok = issue(as)
	as.do(t, http.MethodPost, "/oauth/revoke", url.Values{"token": {tok}}, testClient, testSecret)
	if _, err := as.VerifyAccessToken(ctx, tok, testResource); !errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("revoked: %v", err)
	}
}

// BenchmarkChallengeAndToken is one verified caller end to end over HTTP
// and the real Redis: challenge (KBA match) then token exchange.
func BenchmarkChallengeAndToken(b *testing.B) {
	as := newTestAS(b, "", func(c *Config) { c.ClientRateLimit = 1 << 30 })
	verifier, ch := pkce(b)
	form := mariaForm(ch)
	b.ReportAllocs()
	for b.Loop() {
		a := as.challenge(b, form)
		if a.status != 200 {
			b.Fatalf("challenge: %d", a.status)
		}
		if a := as.tokenReq(b, tokenForm(a.str("authorization_code"), verifier)); a.status != 200 {
			b.Fatalf("token: %d", a.status)
		}
	}
}

// TestOTPSingleUseConcurrent: the right OTP sent several times at once
// yields exactly one code.
func TestOTPSingleUseConcurrent(t *testing.T) {
	t.Parallel()
	as := newTestAS(t, "")
	_, ch := pkce(t)
	a := as.challenge(t, kbaForm(ch, "Ana", "Lopez", "1990-07-22", "4321"))
	sess := a.str("auth_session")
	_, otp := as.lastOTP(t)
	const n = 4
	statuses := make(chan int, n)
	for range n {
		go func() { statuses <- as.challenge(t, stepUpForm(ch, sess, otp)).status }()
	}
	ok := 0
	for range n {
		if <-statuses == 200 {
			ok++
		}
	}
	if ok != 1 {
		t.Errorf("%d codes for one OTP, want 1", ok)
	}
}

func TestMatchSeveralFullMatches(t *testing.T) {
	t.Parallel()
	// Twins with one birthdate, one SSN-4 on file and near names.
	s := &Server{hashKey: []byte("k")}
	for _, p := range []Patient{
		{ID: "a", GivenName: "Jon", FamilyName: "Smith", Birthdate: "2001-02-03", SSNLast4: "1111", Phone: "+15555550001"},
		{ID: "b", GivenName: "John", FamilyName: "Smith", Birthdate: "2001-02-03", SSNLast4: "1111", Phone: "+15555550002"},
	} {
		s.records = append(s.records, newRecord(p, s.hashKey))
	}
	tests := []struct {
		given      string
		wantID     string
		wantStepUp bool
	}{
		{"John", "b", true}, // the one exact name, still stepped up
		{"Jon", "a", true},
		{"Johnn", "", false}, // no exact name: refused
	}
	for _, tt := range tests {
		a, oe := parseKBA(challengeRequest{givenName: secret(tt.given), familyName: "Smith", birthdate: "2001-02-03", ssnLast4: "1111"})
		if oe != nil {
			t.Fatal(oe.Description)
		}
		m := s.match(a)
		id := ""
		if m.rec != nil {
			id = m.rec.id
		}
		if id != tt.wantID || m.stepUp != tt.wantStepUp {
			t.Errorf("%s: match = %q stepUp %v, want %q %v", tt.given, id, m.stepUp, tt.wantID, tt.wantStepUp)
		}
	}
}

// TestRedisDown: a Redis failure is a 503 temporarily_unavailable on every
// endpoint that needs Redis, never a code or a token.
func TestRedisDown(t *testing.T) {
	t.Parallel()
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { down.Close() })
	as := newTestAS(t, "", func(c *Config) { c.Redis = down })
	_, ch := pkce(t)
	v, _ := pkce(t)
	for name, a := range map[string]answer{
		"challenge": as.challenge(t, mariaForm(ch)),
		"token":     as.tokenReq(t, tokenForm("Y29kZQ", v)),
	} {
		if a.status != 503 || a.str("error") != "temporarily_unavailable" {
			t.Errorf("%s: %d %s", name, a.status, a.raw)
		}
	}
	if _, err := as.Revoked(context.Background(), "x"); err == nil {
		t.Error("Revoked without Redis: no error")
	}
}
