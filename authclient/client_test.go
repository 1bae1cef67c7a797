package authclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ivr-gateway/ivr/internal/asdouble"
	"github.com/ivr-gateway/ivr/internal/testlog"
)

var (
	maria = Answers{GivenName: "Maria", FamilyName: "Garcia", Birthdate: "1980-01-05", SSNLast4: "1234"}
	john  = Answers{GivenName: "John", FamilyName: "Smith", Birthdate: "1975-12-31", SSNLast4: "9876"}
)

// fixedNow is the injected clock of every test client.
var fixedNow = time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC)

func withNow(c *Config) { c.Now = func() time.Time { return fixedNow } }

// personalValues are the planted answers no error, String or log may carry.
func personalValues(a Answers) []string {
	var out []string
	for _, v := range []string{a.GivenName, a.FamilyName, a.Birthdate, a.SSNLast4, a.OTP} {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

func TestVerify(t *testing.T) {
	t.Parallel()
	wrongSSN := maria
	wrongSSN.SSNLast4 = "0000"
	tests := []struct {
		name      string
		opts      []func(*asdouble.Server)
		cfg       func(*Config)
		challenge []asdouble.Canned
		token     []asdouble.Canned
		answers   Answers
		timeout   time.Duration // caller's context; 0 = none
		// want compares Outcome, AttemptsRemaining and whether AuthSession
		// and Token are set.
		wantOutcome  Outcome
		wantAttempts int
		wantSession  bool
		wantErrIs    []error
		wantTokens   int // token requests
	}{
		{name: "verified", answers: maria, wantOutcome: Verified, wantAttempts: -1, wantSession: true, wantTokens: 1},
		{name: "verified with the code alias", opts: []func(*asdouble.Server){func(d *asdouble.Server) { d.CodeAlias = true }},
			answers: maria, wantOutcome: Verified, wantAttempts: -1, wantSession: true, wantTokens: 1},
		{name: "verified without scope and resource", opts: []func(*asdouble.Server){func(d *asdouble.Server) { d.Scope, d.ResourcePath = "", "" }},
			answers: maria, wantOutcome: Verified, wantAttempts: -1, wantSession: true, wantTokens: 1},
		{name: "403 insufficient_authorization otp_required", answers: john,
			wantOutcome: OTPRequired, wantAttempts: -1, wantSession: true},
		{name: "400 access_denied with attempts_remaining", answers: wrongSSN,
			wantOutcome: Denied, wantAttempts: 2, wantSession: true},
		{name: "access_denied with attempts_remaining as a string", answers: maria,
			challenge:   []asdouble.Canned{{Status: 400, Body: `{"error":"access_denied","attempts_remaining":"1"}`}},
			wantOutcome: Denied, wantAttempts: 1},
		{name: "200 carrying access_denied dispatches on error", answers: maria,
			challenge:   []asdouble.Canned{{Status: 200, Body: `{"error":"access_denied"}`}},
			wantOutcome: Denied, wantAttempts: -1},
		{name: "403 insufficient_authorization without otp_required", answers: maria,
			challenge:   []asdouble.Canned{{Status: 403, Body: `{"error":"insufficient_authorization","auth_session":"s1"}`}},
			wantOutcome: Unavailable, wantAttempts: -1, wantSession: true, wantErrIs: []error{ErrUnsupportedChallenge}},
		{name: "otp_required without auth_session", answers: maria,
			challenge:   []asdouble.Canned{{Status: 403, Body: `{"error":"insufficient_authorization","otp_required":true}`}},
			wantOutcome: Unavailable, wantAttempts: -1, wantErrIs: []error{ErrUnavailable}},
		{name: "400 invalid_session drops auth_session", answers: Answers{AuthSession: "stale", OTP: "111111"},
			wantOutcome: InvalidSession, wantAttempts: -1},
		{name: "403 redirect_to_web", answers: maria,
			challenge:   []asdouble.Canned{{Status: 403, Body: `{"error":"redirect_to_web","request_uri":"urn:ietf:params:oauth:request_uri:x"}`}},
			wantOutcome: RedirectToWeb, wantAttempts: -1},
		{name: "400 slow_down", answers: maria,
			challenge:   []asdouble.Canned{{Status: 400, Body: `{"error":"slow_down"}`}},
			wantOutcome: Locked, wantAttempts: -1},
		{name: "429 without a body", answers: maria,
			challenge:   []asdouble.Canned{{Status: 429, Header: map[string]string{"Retry-After": "60"}}},
			wantOutcome: Locked, wantAttempts: -1},
		{name: "429 with an error member", answers: maria,
			challenge:   []asdouble.Canned{{Status: 429, Body: `{"error":"access_denied","auth_session":"s2"}`}},
			wantOutcome: Locked, wantAttempts: -1, wantSession: true},
		{name: "500", answers: maria,
			challenge:   []asdouble.Canned{{Status: 500, Body: "<html>oops</html>"}},
			wantOutcome: Unavailable, wantAttempts: -1, wantErrIs: []error{ErrUnavailable}},
		{name: "503 temporarily_unavailable", answers: maria,
			challenge:   []asdouble.Canned{{Status: 503, Body: `{"error":"temporarily_unavailable"}`}},
			wantOutcome: Unavailable, wantAttempts: -1, wantErrIs: []error{ErrUnavailable}},
		{name: "200 with bad JSON", answers: maria,
			challenge:   []asdouble.Canned{{Status: 200, Body: `{"authorization_code":`}},
			wantOutcome: Unavailable, wantAttempts: -1, wantErrIs: []error{ErrUnavailable}},
		{name: "200 with null", answers: maria,
			challenge:   []asdouble.Canned{{Status: 200, Body: `null`}},
			wantOutcome: Unavailable, wantAttempts: -1, wantErrIs: []error{ErrUnavailable}},
		{name: "200 without a code", answers: maria,
			challenge:   []asdouble.Canned{{Status: 200, Body: `{"auth_session":"s3"}`}},
			wantOutcome: Unavailable, wantAttempts: -1, wantSession: true, wantErrIs: []error{ErrUnavailable}},
		{name: "400 carrying a code is not success", answers: maria,
			challenge:   []asdouble.Canned{{Status: 400, Body: `{"authorization_code":"c"}`}},
			wantOutcome: Unavailable, wantAttempts: -1, wantErrIs: []error{ErrUnavailable}},
		{name: "unknown error code", answers: maria,
			challenge:   []asdouble.Canned{{Status: 400, Body: `{"error":"mystery"}`}},
			wantOutcome: Unavailable, wantAttempts: -1, wantErrIs: []error{ErrUnavailable}},
		{name: "401 invalid_client from a wrong secret", answers: maria,
			cfg:         func(c *Config) { c.ClientSecret = "wrong" },
			wantOutcome: Unavailable, wantAttempts: -1, wantErrIs: []error{ErrMisconfigured}},
		{name: "400 invalid_scope", answers: maria,
			challenge:   []asdouble.Canned{{Status: 400, Body: `{"error":"invalid_scope"}`}},
			wantOutcome: Unavailable, wantAttempts: -1, wantErrIs: []error{ErrMisconfigured}},
		{name: "body over 64 KiB", answers: maria,
			challenge:   []asdouble.Canned{{Status: 200, Body: `{"authorization_code":"` + strings.Repeat("a", maxBody) + `"}`}},
			wantOutcome: Unavailable, wantAttempts: -1, wantErrIs: []error{ErrUnavailable, ErrBodyTooLarge}},
		{name: "challenge slower than the context deadline", answers: maria, timeout: 50 * time.Millisecond,
			challenge:   []asdouble.Canned{{Hang: true}},
			wantOutcome: Unavailable, wantAttempts: -1, wantErrIs: []error{ErrUnavailable, context.DeadlineExceeded}},
		{name: "challenge slower than Config.Timeout", answers: maria,
			cfg:         func(c *Config) { c.Timeout = 50 * time.Millisecond },
			challenge:   []asdouble.Canned{{Hang: true}},
			wantOutcome: Unavailable, wantAttempts: -1, wantErrIs: []error{ErrUnavailable, context.DeadlineExceeded}},
		{name: "token 400 invalid_grant", answers: maria,
			token:       []asdouble.Canned{{Status: 400, Body: `{"error":"invalid_grant"}`}},
			wantOutcome: Unavailable, wantAttempts: -1, wantSession: true, wantTokens: 1, wantErrIs: []error{ErrCodeRejected}},
		{name: "token 403 insufficient_authorization otp_required", answers: maria,
			token:       []asdouble.Canned{{Status: 403, Body: `{"error":"insufficient_authorization","auth_session":"t1","otp_required":true}`}},
			wantOutcome: OTPRequired, wantAttempts: -1, wantSession: true, wantTokens: 1},
		{name: "token 401 invalid_client", answers: maria,
			token:       []asdouble.Canned{{Status: 401, Body: `{"error":"invalid_client"}`}},
			wantOutcome: Unavailable, wantAttempts: -1, wantSession: true, wantTokens: 1, wantErrIs: []error{ErrMisconfigured}},
		{name: "token 500", answers: maria,
			token:       []asdouble.Canned{{Status: 500, Body: `oops`}},
			wantOutcome: Unavailable, wantAttempts: -1, wantSession: true, wantTokens: 1, wantErrIs: []error{ErrUnavailable}},
		{name: "token 429", answers: maria,
			token:       []asdouble.Canned{{Status: 429}},
			wantOutcome: Locked, wantAttempts: -1, wantSession: true, wantTokens: 1},
		{name: "token 200 with bad JSON", answers: maria,
			token:       []asdouble.Canned{{Status: 200, Header: map[string]string{"Content-Type": "application/json"}, Body: `{"access_token":`}},
			wantOutcome: Unavailable, wantAttempts: -1, wantSession: true, wantTokens: 1, wantErrIs: []error{ErrUnavailable}},
		{name: "token 200 without access_token", answers: maria,
			token:       []asdouble.Canned{{Status: 200, Header: map[string]string{"Content-Type": "application/json"}, Body: `{"token_type":"Bearer"}`}},
			wantOutcome: Unavailable, wantAttempts: -1, wantSession: true, wantTokens: 1, wantErrIs: []error{ErrUnavailable}},
		{name: "token slower than the context deadline", answers: maria, timeout: 100 * time.Millisecond,
			token:       []asdouble.Canned{{Hang: true}},
			wantOutcome: Unavailable, wantAttempts: -1, wantSession: true, wantTokens: 1, wantErrIs: []error{ErrUnavailable, context.DeadlineExceeded}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := newDouble(t, tt.opts...)
			d.Script(asdouble.Challenge, tt.challenge...)
			d.Script(asdouble.Token, tt.token...)
			mods := []func(*Config){withNow}
			if tt.cfg != nil {
				mods = append(mods, tt.cfg)
			}
			c := testClient(t, d, mods...)
			ctx := t.Context()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			res := c.Verify(ctx, tt.answers)

			type summary struct {
				Outcome  Outcome
				Attempts int
				Session  bool
				Token    bool
				Tokens   int
			}
			tokens := len(d.Forms(asdouble.Token))
			got := summary{res.Outcome, res.AttemptsRemaining, res.AuthSession != "", res.Token != nil, tokens}
			want := summary{tt.wantOutcome, tt.wantAttempts, tt.wantSession, tt.wantOutcome == Verified, tt.wantTokens}
			if diff := cmp.Diff(got, want); diff != "" {
				t.Errorf("Verify (-got +want):\n%s\nResult: %v", diff, res)
			}
			for _, target := range tt.wantErrIs {
				if !errors.Is(res.Err, target) {
					t.Errorf("Err = %v, want errors.Is %v", res.Err, target)
				}
			}
			if len(tt.wantErrIs) == 0 && tt.wantOutcome != Unavailable && tt.wantOutcome != Locked &&
				tt.wantOutcome != RedirectToWeb && tt.wantOutcome != InvalidSession && res.Err != nil {
				t.Errorf("Err = %v, want nil", res.Err)
			}
			if res.Outcome == Unavailable && res.Err == nil {
				t.Errorf("Unavailable without Err")
			}
			assertNoPersonalData(t, res, tt.answers)
		})
	}
}

// assertNoPersonalData checks that the error, String and a JSON log line of
// the result carry no answer and no secret.
func assertNoPersonalData(t *testing.T, res Result, a Answers) {
	t.Helper()
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, &slog.HandlerOptions{ReplaceAttr: testlog.NoTime})).Info("verify", "result", res, "answers", a)
	texts := map[string]string{"String": res.String(), "log": logged.String(), "answers": a.String()}
	if res.Err != nil {
		texts["Err"] = res.Err.Error()
	}
	secrets := personalValues(a)
	if res.AuthSession != "" {
		secrets = append(secrets, res.AuthSession)
	}
	if a.AuthSession != "" {
		secrets = append(secrets, a.AuthSession)
	}
	if res.Token != nil {
		secrets = append(secrets, res.Token.AccessToken)
	}
	for where, text := range texts {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s contains a planted secret: %s", where, text)
			}
		}
	}
}

func TestVerifyToken(t *testing.T) {
	t.Parallel()
	d := newDouble(t)
	c := testClient(t, d, withNow)
	res := c.Verify(t.Context(), maria)
	if res.Outcome != Verified {
		t.Fatalf("Verify: %v", res)
	}
	want := &Token{
		AccessToken: res.Token.AccessToken, // random
		TokenType:   "Bearer",
		Scope:       "patient/*.read", // the AS narrowed it (RFC 6749 §5.1)
		Resource:    d.Resource,
		ExpiresAt:   fixedNow.Add(time.Hour),
	}
	if diff := cmp.Diff(res.Token, want); diff != "" {
		t.Errorf("Token (-got +want):\n%s", diff)
	}
	if !strings.HasPrefix(res.Token.AccessToken, "at-") {
		t.Errorf("AccessToken = %q", res.Token.AccessToken)
	}
	if err := c.Revoke(t.Context(), res.Token.AccessToken); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if !d.Revoked(res.Token.AccessToken) {
		t.Errorf("token not revoked at the AS")
	}
}

// TestVerifyWire pins the challenge and token request bodies of docs/as-profile.md.
func TestVerifyWire(t *testing.T) {
	t.Parallel()
	d := newDouble(t)
	c := testClient(t, d, withNow)
	if res := c.Verify(t.Context(), maria); res.Outcome != Verified {
		t.Fatalf("Verify: %v", res)
	}
	ch, tok := d.Forms(asdouble.Challenge)[0], d.Forms(asdouble.Token)[0]
	wantCh := url.Values{
		"response_type": {"code"}, "scope": {testScope}, "resource": {d.Resource},
		"code_challenge": ch["code_challenge"], "code_challenge_method": {"S256"},
		"given_name": {"Maria"}, "family_name": {"Garcia"}, "birthdate": {"1980-01-05"}, "ssn_last4": {"1234"},
	}
	if diff := cmp.Diff(ch, wantCh); diff != "" {
		t.Errorf("challenge form (-got +want):\n%s", diff)
	}
	wantTok := url.Values{
		"grant_type": {"authorization_code"}, "code": tok["code"], "code_verifier": tok["code_verifier"],
		"resource": {d.Resource},
	}
	if diff := cmp.Diff(tok, wantTok); diff != "" {
		t.Errorf("token form (-got +want):\n%s", diff)
	}
	if n := len(tok.Get("code_verifier")); n != 43 {
		t.Errorf("code_verifier has %d characters, want 43", n)
	}
}

// TestStepUp follows docs/dialog.md step 5: KBA, OTP step-up carrying
// auth_session, a wrong code, then the right one.
func TestStepUp(t *testing.T) {
	t.Parallel()
	d := newDouble(t)
	c := testClient(t, d, withNow)

	first := c.Verify(t.Context(), john)
	if first.Outcome != OTPRequired || first.AuthSession == "" {
		t.Fatalf("first attempt: %v", first)
	}
	firstChallenge := lastForm(d, asdouble.Challenge).Get("code_challenge")

	wrong := c.Verify(t.Context(), Answers{OTP: "000000", AuthSession: first.AuthSession})
	if wrong.Outcome != Denied || wrong.AttemptsRemaining != maxTestAttempts-1 || wrong.AuthSession != first.AuthSession {
		t.Fatalf("wrong OTP: %v", wrong)
	}

	ok := c.Verify(t.Context(), Answers{OTP: "424242", AuthSession: wrong.AuthSession})
	if ok.Outcome != Verified || ok.Token == nil {
		t.Fatalf("right OTP: %v", ok)
	}
	last := lastForm(d, asdouble.Challenge)
	want := url.Values{
		"response_type": {"code"}, "scope": {testScope}, "resource": {d.Resource},
		"code_challenge": last["code_challenge"], "code_challenge_method": {"S256"},
		"auth_session": {first.AuthSession}, "otp": {"424242"},
	}
	if diff := cmp.Diff(last, want); diff != "" {
		t.Errorf("step-up form (-got +want):\n%s", diff)
	}
	if last.Get("code_challenge") == firstChallenge {
		t.Errorf("code_challenge reused across attempts")
	}
	// The token endpoint of the double checked the verifier against the
	// code_challenge of the step-up request.
}

// TestDeniedThenRetry checks that a retry after access_denied carries the
// auth_session and that the lock-out arrives as Locked.
func TestDeniedThenRetry(t *testing.T) {
	t.Parallel()
	d := newDouble(t)
	c := testClient(t, d)
	bad := maria
	bad.Birthdate = "1980-01-06"
	res := c.Verify(t.Context(), bad)
	for i := maxTestAttempts - 1; i >= 0; i-- {
		if res.Outcome != Denied || res.AttemptsRemaining != i {
			t.Fatalf("attempt with %d left: %v", i, res)
		}
		bad.AuthSession = res.AuthSession
		res = c.Verify(t.Context(), bad)
		if got := lastForm(d, asdouble.Challenge).Get("auth_session"); got != bad.AuthSession {
			t.Errorf("auth_session not carried")
		}
	}
	if res.Outcome != Locked {
		t.Fatalf("after %d misses: %v", maxTestAttempts, res)
	}
}

func TestVerifyInvalidAnswers(t *testing.T) {
	t.Parallel()
	d := newDouble(t)
	c := testClient(t, d)
	for _, a := range []Answers{
		{},
		{OTP: "123456"},
		{GivenName: "Maria", Birthdate: "01/05/1980"},
		{GivenName: "Maria", Birthdate: "1980-02-30"},
		{GivenName: "Maria", SSNLast4: "123"},
		{GivenName: "Maria", SSNLast4: "12a4"},
	} {
		res := c.Verify(t.Context(), a)
		if res.Outcome != Unavailable || !errors.Is(res.Err, ErrInvalidAnswers) {
			t.Errorf("Verify(%v) = %v, want ErrInvalidAnswers", a, res)
		}
		assertNoPersonalData(t, res, a)
	}
	if n := len(d.Requests()); n != 0 {
		t.Errorf("%d challenge requests sent for invalid answers", n)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	md := &Metadata{AuthorizationChallengeEndpoint: "https://as/c", TokenEndpoint: "https://as/t"}
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"ok", Config{Metadata: md, ClientID: "id", ClientSecret: "s"}, true},
		{"ok with resource", Config{Metadata: md, ClientID: "id", ClientSecret: "s", Resource: "https://mcp.example.com/mcp"}, true},
		{"no metadata", Config{ClientID: "id", ClientSecret: "s"}, false},
		{"no endpoints", Config{Metadata: &Metadata{}, ClientID: "id", ClientSecret: "s"}, false},
		{"no secret", Config{Metadata: md, ClientID: "id"}, false},
		{"relative resource", Config{Metadata: md, ClientID: "id", ClientSecret: "s", Resource: "/mcp"}, false},
		{"resource with fragment", Config{Metadata: md, ClientID: "id", ClientSecret: "s", Resource: "https://m/mcp#x"}, false},
		{"negative timeout", Config{Metadata: md, ClientID: "id", ClientSecret: "s", Timeout: -1}, false},
	}
	for _, tt := range tests {
		_, err := New(tt.cfg)
		if (err == nil) != tt.ok {
			t.Errorf("%s: New error = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestRedaction(t *testing.T) {
	t.Parallel()
	a := Answers{GivenName: "Maria", FamilyName: "Garcia", Birthdate: "1980-01-05", SSNLast4: "1234", OTP: "424242", AuthSession: "sess-secret"}
	tok := &Token{AccessToken: "at-secret", TokenType: "Bearer", Scope: "s", Resource: "https://mcp", ExpiresAt: fixedNow}
	res := Result{Outcome: Verified, AuthSession: "sess-secret", AttemptsRemaining: -1, Token: tok}
	var buf bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: testlog.NoTime}))
	l.Info("x", "answers", a, "result", res, "token", tok)
	texts := []string{buf.String(), a.String(), res.String(), tok.String(), fmt.Sprintf("%v %+v %s", a, res, tok)}
	for _, text := range texts {
		for _, s := range []string{"Maria", "Garcia", "1980", "1234", "424242", "sess-secret", "at-secret"} {
			if strings.Contains(text, s) {
				t.Errorf("%q leaks %q", text, s)
			}
		}
	}
	if !strings.Contains(res.String(), "outcome:verified") {
		t.Errorf("Result.String() = %s", res.String())
	}
}

func TestOutcomeString(t *testing.T) {
	t.Parallel()
	want := []string{"unavailable", "verified", "otp_required", "denied", "invalid_session", "redirect_to_web", "locked"}
	for o, w := range want {
		if got := Outcome(o).String(); got != w {
			t.Errorf("Outcome(%d) = %q, want %q", o, got, w)
		}
	}
	if got := Outcome(99).String(); got != "outcome(99)" {
		t.Errorf("Outcome(99) = %q", got)
	}
}

// TestTokenResponse covers token answers the faithful double does not give.
func TestTokenResponse(t *testing.T) {
	t.Parallel()
	const ct = "application/json"
	tests := []struct {
		name        string
		body        string
		wantToken   *Token // AccessToken compared too
		wantSession string
	}{
		{"auth_session in the token response (FiPA §6.1)",
			`{"access_token":"at1","token_type":"bearer","expires_in":60,"auth_session":"new"}`,
			&Token{AccessToken: "at1", TokenType: "Bearer", Scope: testScope, ExpiresAt: fixedNow.Add(time.Minute)}, "new"},
		{"no expires_in",
			`{"access_token":"at2","token_type":"Bearer"}`,
			&Token{AccessToken: "at2", TokenType: "Bearer", Scope: testScope}, ""},
		{"absurd expires_in is clamped",
			`{"access_token":"at3","token_type":"Bearer","expires_in":9223372036854775807}`,
			&Token{AccessToken: "at3", TokenType: "Bearer", Scope: testScope, ExpiresAt: fixedNow.Add(maxTokenLifetime)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := newDouble(t)
			d.Script(asdouble.Token, asdouble.Canned{Status: 200, Header: map[string]string{"Content-Type": ct}, Body: tt.body})
			c := testClient(t, d, withNow)
			res := c.Verify(t.Context(), maria)
			if res.Outcome != Verified {
				t.Fatalf("Verify: %v", res)
			}
			tt.wantToken.Resource = d.Resource
			if diff := cmp.Diff(res.Token, tt.wantToken); diff != "" {
				t.Errorf("Token (-got +want):\n%s", diff)
			}
			if tt.wantSession != "" && res.AuthSession != tt.wantSession {
				t.Errorf("AuthSession not updated from the token response")
			}
		})
	}
}

// lastForm is the newest request body d received on endpoint.
func lastForm(d *asdouble.Server, endpoint string) url.Values {
	forms := d.Forms(endpoint)
	if len(forms) == 0 {
		return nil
	}
	return forms[len(forms)-1]
}
