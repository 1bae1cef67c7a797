package authserver

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// good answers for the demo patient Maria Garcia.
func mariaForm(challenge string) url.Values {
	return kbaForm(challenge, "Maria", "Garcia", "1980-01-05", "1234")
}

// codeFor runs a successful challenge and returns the code and verifier.
func (as *testAS) codeFor(tb testing.TB) (code, verifier string) {
	tb.Helper()
	verifier, ch := pkce(tb)
	a := as.challenge(tb, mariaForm(ch))
	if a.status != http.StatusOK {
		tb.Fatalf("challenge: %d %s", a.status, a.raw)
	}
	return a.str("authorization_code"), verifier
}

func tokenForm(code, verifier string) url.Values {
	return url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"code_verifier": {verifier},
		"resource":      {testResource},
	}
}

// with returns a copy of v with k set (or deleted when val is nil).
func with(v url.Values, k string, val ...string) url.Values {
	c := url.Values{}
	for kk, vv := range v {
		c[kk] = append([]string(nil), vv...)
	}
	if val == nil {
		delete(c, k)
	} else {
		c[k] = val
	}
	return c
}

func raw(tb testing.TB, as *testAS, method, path, contentType, body, id, sec string) answer {
	tb.Helper()
	req, err := http.NewRequest(method, as.url+path, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if id != "" {
		req.SetBasicAuth(id, sec)
	}
	return doReq(tb, req)
}

// TestConformance drives every endpoint and every error branch through
// HTTP and checks status, JSON body and headers.
func TestConformance(t *testing.T) {
	t.Parallel()
	const set = "<set>" // a random value that must be present
	n := func(i int) float64 { return float64(i) }
	ch := func(tb testing.TB) string { _, c := pkce(tb); return c }
	good := func(tb testing.TB) url.Values { return mariaForm(ch(tb)) }

	tests := []struct {
		name   string
		run    func(t *testing.T, as *testAS) answer
		status int
		body   map[string]any // nil: empty body
	}{
		// Metadata and JWKS.
		{"metadata/post", func(t *testing.T, as *testAS) answer {
			return as.do(t, http.MethodPost, "/.well-known/oauth-authorization-server", url.Values{}, "", "")
		}, 405, map[string]any{"error": "invalid_request", "error_description": "method not allowed"}},
		{"jwks/post", func(t *testing.T, as *testAS) answer {
			return as.do(t, http.MethodPost, "/oauth/jwks.json", url.Values{}, "", "")
		}, 405, map[string]any{"error": "invalid_request", "error_description": "method not allowed"}},

		// Challenge endpoint: transport and client authentication.
		{"challenge/get", func(t *testing.T, as *testAS) answer {
			return as.do(t, http.MethodGet, "/oauth/challenge", nil, testClient, testSecret)
		}, 405, map[string]any{"error": "invalid_request", "error_description": "method not allowed"}},
		{"challenge/json body", func(t *testing.T, as *testAS) answer {
			return raw(t, as, "POST", "/oauth/challenge", "application/json", `{"response_type":"code"}`, testClient, testSecret)
		}, 400, map[string]any{"error": "invalid_request", "error_description": "body must be application/x-www-form-urlencoded"}},
		{"challenge/body too large", func(t *testing.T, as *testAS) answer {
			return raw(t, as, "POST", "/oauth/challenge", "application/x-www-form-urlencoded", "a="+strings.Repeat("x", maxBody), testClient, testSecret)
		}, 400, map[string]any{"error": "invalid_request", "error_description": "body too large or unreadable"}},
		{"challenge/malformed form", func(t *testing.T, as *testAS) answer {
			return raw(t, as, "POST", "/oauth/challenge", "application/x-www-form-urlencoded", "a=%zz", testClient, testSecret)
		}, 400, map[string]any{"error": "invalid_request", "error_description": "malformed form body"}},
		{"challenge/no client auth", func(t *testing.T, as *testAS) answer {
			return as.do(t, http.MethodPost, "/oauth/challenge", good(t), "", "")
		}, 401, map[string]any{"error": "invalid_client", "error_description": "client authentication failed"}},
		{"challenge/wrong secret", func(t *testing.T, as *testAS) answer {
			return as.do(t, http.MethodPost, "/oauth/challenge", good(t), testClient, "nope")
		}, 401, map[string]any{"error": "invalid_client", "error_description": "client authentication failed"}},
		{"challenge/unknown client", func(t *testing.T, as *testAS) answer {
			return as.do(t, http.MethodPost, "/oauth/challenge", good(t), "stranger", testSecret)
		}, 401, map[string]any{"error": "invalid_client", "error_description": "client authentication failed"}},

		// Challenge endpoint: protocol parameters.
		{"challenge/no response_type", func(t *testing.T, as *testAS) answer {
			return as.challenge(t, with(good(t), "response_type"))
		}, 400, map[string]any{"error": "invalid_request", "error_description": "response_type is required"}},
		{"challenge/response_type token", func(t *testing.T, as *testAS) answer {
			return as.challenge(t, with(good(t), "response_type", "token"))
		}, 400, map[string]any{"error": "unsupported_response_type"}},
		{"challenge/no code_challenge", func(t *testing.T, as *testAS) answer {
			return as.challenge(t, with(good(t), "code_challenge"))
		}, 400, map[string]any{"error": "invalid_request", "error_description": "code_challenge is required (PKCE)"}},
		{"challenge/method plain", func(t *testing.T, as *testAS) answer {
			return as.challenge(t, with(good(t), "code_challenge_method", "plain"))
		}, 400, map[string]any{"error": "invalid_request", "error_description": "code_challenge_method must be S256"}},
		{"challenge/method missing", func(t *testing.T, as *testAS) answer {
			return as.challenge(t, with(good(t), "code_challenge_method"))
		}, 400, map[string]any{"error": "invalid_request", "error_description": "code_challenge_method must be S256"}},
		{"challenge/malformed code_challenge", func(t *testing.T, as *testAS) answer {
			return as.challenge(t, with(good(t), "code_challenge", "short+/"))
		}, 400, map[string]any{"error": "invalid_request", "error_description": "code_challenge is not a base64url SHA-256 value"}},
		{"challenge/relative resource", func(t *testing.T, as *testAS) answer {
			return as.challenge(t, with(good(t), "resource", "/mcp"))
		}, 400, map[string]any{"error": "invalid_target", "error_description": "resource must be an absolute URI without fragment"}},
		{"challenge/resource with fragment", func(t *testing.T, as *testAS) answer {
			return as.challenge(t, with(good(t), "resource", testResource+"#x"))
		}, 400, map[string]any{"error": "invalid_target", "error_description": "resource must be an absolute URI without fragment"}},
		{"challenge/bad scope", func(t *testing.T, as *testAS) answer {
			return as.challenge(t, with(good(t), "scope", `a"b`))
		}, 400, map[string]any{"error": "invalid_scope"}},
		{"challenge/repeated parameter", func(t *testing.T, as *testAS) answer {
			return as.challenge(t, with(good(t), "birthdate", "1980-01-05", "1980-01-05"))
		}, 400, map[string]any{"error": "invalid_request", "error_description": "parameter birthdate repeated"}},
		{"challenge/client_id mismatch", func(t *testing.T, as *testAS) answer {
			return as.challenge(t, with(good(t), "client_id", otherClient))
		}, 400, map[string]any{"error": "invalid_request", "error_description": "client_id does not match the authenticated client"}},
		{"challenge/matching client_id accepted", func(t *testing.T, as *testAS) answer {
			return as.challenge(t, with(good(t), "client_id", testClient))
		}, 200, map[string]any{"authorization_code": set, "auth_session": set}},
		{"challenge/otp too long", func(t *testing.T, as *testAS) answer {
			return as.challenge(t, with(good(t), "otp", strings.Repeat("1", 33)))
		}, 400, map[string]any{"error": "invalid_request", "error_description": "otp too long"}},

		// Challenge endpoint: KBA parameters.
		{"challenge/missing ssn_last4", func(t *testing.T, as *testAS) answer {
			return as.challenge(t, with(good(t), "ssn_last4"))
		}, 400, map[string]any{"error": "invalid_request", "error_description": "given_name, family_name, birthdate and ssn_last4 are required"}},
		{"challenge/birthdate format", func(t *testing.T, as *testAS) answer {
			return as.challenge(t, with(good(t), "birthdate", "01/05/1980"))
		}, 400, map[string]any{"error": "invalid_request", "error_description": "birthdate must be YYYY-MM-DD"}},
		{"challenge/impossible birthdate", func(t *testing.T, as *testAS) answer {
			return as.challenge(t, with(good(t), "birthdate", "1980-02-30"))
		}, 400, map[string]any{"error": "invalid_request", "error_description": "birthdate must be YYYY-MM-DD"}},
		{"challenge/ssn three digits", func(t *testing.T, as *testAS) answer {
			return as.challenge(t, with(good(t), "ssn_last4", "123"))
		}, 400, map[string]any{"error": "invalid_request", "error_description": "ssn_last4 must be four digits"}},
		{"challenge/name without letters", func(t *testing.T, as *testAS) answer {
			return as.challenge(t, with(good(t), "family_name", "--"))
		}, 400, map[string]any{"error": "invalid_request", "error_description": "names must contain letters"}},
		{"challenge/name too long", func(t *testing.T, as *testAS) answer {
			return as.challenge(t, with(good(t), "given_name", strings.Repeat("a", 101)))
		}, 400, map[string]any{"error": "invalid_request", "error_description": "name too long"}},

		// Challenge endpoint: outcomes.
		{"challenge/match", func(t *testing.T, as *testAS) answer {
			return as.challenge(t, good(t))
		}, 200, map[string]any{"authorization_code": set, "auth_session": set}},
		{"challenge/match from speech variants", func(t *testing.T, as *testAS) answer {
			return as.challenge(t, kbaForm(ch(t), "MARÍA", "garsia", "1980-01-05", "1234"))
		}, 200, map[string]any{"authorization_code": set, "auth_session": set}},
		{"challenge/wrong ssn", func(t *testing.T, as *testAS) answer {
			return as.challenge(t, with(good(t), "ssn_last4", "9999"))
		}, 400, map[string]any{"error": "access_denied", "attempts_remaining": n(2)}},
		{"challenge/wrong birthdate", func(t *testing.T, as *testAS) answer {
			return as.challenge(t, with(good(t), "birthdate", "1980-01-06"))
		}, 400, map[string]any{"error": "access_denied", "attempts_remaining": n(2)}},
		{"challenge/wrong name", func(t *testing.T, as *testAS) answer {
			return as.challenge(t, with(good(t), "family_name", "Garza"))
		}, 400, map[string]any{"error": "access_denied", "attempts_remaining": n(2)}},
		{"challenge/ambiguous name", func(t *testing.T, as *testAS) answer {
			return as.challenge(t, kbaForm(ch(t), "John", "Smith", "1975-03-10", "5678"))
		}, 403, map[string]any{"error": "insufficient_authorization", "auth_session": set, "otp_required": true}},
		{"challenge/otp_required patient", func(t *testing.T, as *testAS) answer {
			return as.challenge(t, kbaForm(ch(t), "ana", "lopez", "1990-07-22", "4321"))
		}, 403, map[string]any{"error": "insufficient_authorization", "auth_session": set, "otp_required": true}},
		{"challenge/unknown auth_session", func(t *testing.T, as *testAS) answer {
			return as.challenge(t, with(good(t), "auth_session", "bm90LWEtc2Vzc2lvbg"))
		}, 400, map[string]any{"error": "invalid_session"}},
		{"challenge/other client's auth_session", func(t *testing.T, as *testAS) answer {
			a := as.do(t, http.MethodPost, "/oauth/challenge", good(t), otherClient, otherSecret)
			return as.challenge(t, with(good(t), "auth_session", a.str("auth_session")))
		}, 400, map[string]any{"error": "invalid_session"}},
		{"challenge/done auth_session reused", func(t *testing.T, as *testAS) answer {
			a := as.challenge(t, good(t))
			return as.challenge(t, with(good(t), "auth_session", a.str("auth_session")))
		}, 200, map[string]any{"authorization_code": set, "auth_session": set}},

		// Token endpoint.
		{"token/get", func(t *testing.T, as *testAS) answer {
			return as.do(t, http.MethodGet, "/oauth/token", nil, testClient, testSecret)
		}, 405, map[string]any{"error": "invalid_request", "error_description": "method not allowed"}},
		{"token/no client auth", func(t *testing.T, as *testAS) answer {
			code, v := as.codeFor(t)
			return as.do(t, http.MethodPost, "/oauth/token", tokenForm(code, v), "", "")
		}, 401, map[string]any{"error": "invalid_client", "error_description": "client authentication failed"}},
		{"token/json body", func(t *testing.T, as *testAS) answer {
			return raw(t, as, "POST", "/oauth/token", "application/json", `{}`, testClient, testSecret)
		}, 400, map[string]any{"error": "invalid_request", "error_description": "body must be application/x-www-form-urlencoded"}},
		{"token/no grant_type", func(t *testing.T, as *testAS) answer {
			return as.tokenReq(t, with(tokenForm("x", "y"), "grant_type"))
		}, 400, map[string]any{"error": "invalid_request", "error_description": "grant_type is required"}},
		{"token/password grant", func(t *testing.T, as *testAS) answer {
			return as.tokenReq(t, with(tokenForm("x", "y"), "grant_type", "password"))
		}, 400, map[string]any{"error": "unsupported_grant_type"}},
		{"token/repeated code", func(t *testing.T, as *testAS) answer {
			return as.tokenReq(t, with(tokenForm("x", "y"), "code", "a", "b"))
		}, 400, map[string]any{"error": "invalid_request", "error_description": "parameter code repeated"}},
		{"token/client_id mismatch", func(t *testing.T, as *testAS) answer {
			return as.tokenReq(t, with(tokenForm("x", "y"), "client_id", otherClient))
		}, 400, map[string]any{"error": "invalid_request", "error_description": "client_id does not match the authenticated client"}},
		{"token/no code", func(t *testing.T, as *testAS) answer {
			return as.tokenReq(t, with(tokenForm("x", "y"), "code"))
		}, 400, map[string]any{"error": "invalid_request", "error_description": "code is required"}},
		{"token/no verifier", func(t *testing.T, as *testAS) answer {
			code, _ := as.codeFor(t)
			return as.tokenReq(t, with(tokenForm(code, ""), "code_verifier"))
		}, 400, map[string]any{"error": "invalid_request", "error_description": "code_verifier is required (PKCE)"}},
		{"token/short verifier", func(t *testing.T, as *testAS) answer {
			code, _ := as.codeFor(t)
			return as.tokenReq(t, tokenForm(code, "abc"))
		}, 400, map[string]any{"error": "invalid_request", "error_description": "code_verifier must be 43-128 unreserved characters"}},
		{"token/malformed resource", func(t *testing.T, as *testAS) answer {
			code, v := as.codeFor(t)
			return as.tokenReq(t, with(tokenForm(code, v), "resource", "mcp"))
		}, 400, map[string]any{"error": "invalid_target"}},
		{"token/unknown code", func(t *testing.T, as *testAS) answer {
			v, _ := pkce(t)
			return as.tokenReq(t, tokenForm("bm9wZQ", v))
		}, 400, map[string]any{"error": "invalid_grant", "error_description": "unknown, used or expired code"}},
		{"token/ok", func(t *testing.T, as *testAS) answer {
			code, v := as.codeFor(t)
			return as.tokenReq(t, tokenForm(code, v))
		}, 200, map[string]any{"access_token": set, "token_type": "Bearer", "expires_in": n(900), "scope": "patient.read"}},
		{"token/ok without resource (taken from the code)", func(t *testing.T, as *testAS) answer {
			code, v := as.codeFor(t)
			return as.tokenReq(t, with(tokenForm(code, v), "resource"))
		}, 200, map[string]any{"access_token": set, "token_type": "Bearer", "expires_in": n(900), "scope": "patient.read"}},
		{"token/redirect_uri ignored", func(t *testing.T, as *testAS) answer {
			code, v := as.codeFor(t)
			return as.tokenReq(t, with(tokenForm(code, v), "redirect_uri", "https://client.example/cb"))
		}, 200, map[string]any{"access_token": set, "token_type": "Bearer", "expires_in": n(900), "scope": "patient.read"}},
		{"token/pkce mismatch", func(t *testing.T, as *testAS) answer {
			code, _ := as.codeFor(t)
			other, _ := pkce(t)
			return as.tokenReq(t, tokenForm(code, other))
		}, 400, map[string]any{"error": "invalid_grant", "error_description": "code_verifier does not match code_challenge"}},
		{"token/other client's code", func(t *testing.T, as *testAS) answer {
			code, v := as.codeFor(t)
			return as.do(t, http.MethodPost, "/oauth/token", tokenForm(code, v), otherClient, otherSecret)
		}, 400, map[string]any{"error": "invalid_grant", "error_description": "unknown, used or expired code"}},
		{"token/resource differs", func(t *testing.T, as *testAS) answer {
			code, v := as.codeFor(t)
			return as.tokenReq(t, with(tokenForm(code, v), "resource", "https://evil.example/mcp"))
		}, 400, map[string]any{"error": "invalid_target", "error_description": "resource differs from the authorization request"}},
		{"token/expired code", func(t *testing.T, as *testAS) answer {
			code, v := as.codeFor(t)
			as.clock.Add(codeTTL)
			return as.tokenReq(t, tokenForm(code, v))
		}, 400, map[string]any{"error": "invalid_grant", "error_description": "unknown, used or expired code"}},
		{"token/replay", func(t *testing.T, as *testAS) answer {
			code, v := as.codeFor(t)
			if a := as.tokenReq(t, tokenForm(code, v)); a.status != 200 {
				t.Fatalf("first use: %d %s", a.status, a.raw)
			}
			return as.tokenReq(t, tokenForm(code, v))
		}, 400, map[string]any{"error": "invalid_grant", "error_description": "unknown, used or expired code"}},

		// Revocation endpoint.
		{"revoke/get", func(t *testing.T, as *testAS) answer {
			return as.do(t, http.MethodGet, "/oauth/revoke", nil, testClient, testSecret)
		}, 405, map[string]any{"error": "invalid_request", "error_description": "method not allowed"}},
		{"revoke/no client auth", func(t *testing.T, as *testAS) answer {
			return as.do(t, http.MethodPost, "/oauth/revoke", url.Values{"token": {"x"}}, "", "")
		}, 401, map[string]any{"error": "invalid_client", "error_description": "client authentication failed"}},
		{"revoke/no token", func(t *testing.T, as *testAS) answer {
			return as.do(t, http.MethodPost, "/oauth/revoke", url.Values{}, testClient, testSecret)
		}, 400, map[string]any{"error": "invalid_request", "error_description": "exactly one token is required"}},
		{"revoke/garbage token", func(t *testing.T, as *testAS) answer {
			return as.do(t, http.MethodPost, "/oauth/revoke", url.Values{"token": {"garbage"}, "token_type_hint": {"refresh_token"}}, testClient, testSecret)
		}, 200, nil},
		{"revoke/valid token", func(t *testing.T, as *testAS) answer {
			code, v := as.codeFor(t)
			tok := as.tokenReq(t, tokenForm(code, v)).str("access_token")
			return as.do(t, http.MethodPost, "/oauth/revoke", url.Values{"token": {tok}, "token_type_hint": {"access_token"}}, testClient, testSecret)
		}, 200, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			as := newTestAS(t, "")
			a := tt.run(t, as)
			got := a.body
			for k, v := range got {
				if s, ok := v.(string); ok && s != "" && (k == "authorization_code" || k == "auth_session" || k == "access_token") {
					got[k] = set
				}
			}
			if a.status != tt.status {
				t.Errorf("status = %d, want %d (body %s)", a.status, tt.status, a.raw)
			}
			if diff := cmp.Diff(tt.body, got); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
			if a.status == 401 && !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Basic ") {
				t.Errorf("401 without WWW-Authenticate: Basic")
			}
			if a.status == 405 && a.header.Get("Allow") == "" {
				t.Errorf("405 without Allow")
			}
			if strings.HasPrefix(tt.name, "challenge/") || strings.HasPrefix(tt.name, "token/") {
				if cc := a.header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("Cache-Control = %q, want no-store", cc)
				}
			}
			if tt.body != nil && a.header.Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type = %q", a.header.Get("Content-Type"))
			}
		})
	}
}
