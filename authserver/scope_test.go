package authserver

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
)

// TestClientsGetOnlyWhatTheyAreRegisteredFor is the review's probe (issue
// 9, item 4) and its neighbours: a client asking for scopes or a resource
// it is not registered for gets invalid_scope or invalid_target, at the
// first request and at a step-up alike; what it is registered for, or
// nothing, works.
func TestClientsGetOnlyWhatTheyAreRegisteredFor(t *testing.T) {
	t.Parallel()
	as := newTestAS(t, "")
	_, ch := pkce(t)
	invalidScope := `400 {"error":"invalid_scope","error_description":"scope not allowed for this client"}`
	invalidTarget := `400 {"error":"invalid_target","error_description":"resource not allowed for this client"}`
	tests := []struct {
		name     string
		id, sec  string
		scope    []string // nil: no scope parameter
		resource []string // nil: no resource parameter
		want     string   // status and body; "200" for a code
	}{
		{"the review's request", testClient, testSecret, []string{"patient.write admin *"}, []string{"https://any-other-rs.example/api"}, invalidScope},
		{"one scope too many", testClient, testSecret, []string{"patient.read patient.write"}, []string{testResource}, invalidScope},
		{"a wildcard", testClient, testSecret, []string{"*"}, []string{testResource}, invalidScope},
		{"a scope of another case", testClient, testSecret, []string{"Patient.Read"}, []string{testResource}, invalidScope},
		{"another resource", testClient, testSecret, []string{"patient.read"}, []string{"https://any-other-rs.example/api"}, invalidTarget},
		{"the resource with a trailing slash", testClient, testSecret, []string{"patient.read"}, []string{testResource + "/"}, invalidTarget},
		{"another client's resource", otherClient, otherSecret, []string{"patient.read"}, []string{testResource2}, invalidTarget},
		{"another client's scope", otherClient, otherSecret, []string{"appointments.read"}, []string{testResource}, invalidScope},
		{"registered scope and resource", testClient, testSecret, []string{"patient.read"}, []string{testResource}, "200"},
		{"both registered scopes, the second resource", testClient, testSecret, []string{"appointments.read  patient.read"}, []string{testResource2}, "200"},
		{"no scope, no resource", testClient, testSecret, nil, nil, "200"},
		{"empty scope", testClient, testSecret, []string{""}, nil, "200"},
	}
	for _, tt := range tests {
		form := mariaForm(ch)
		form = with(form, "scope", tt.scope...)
		form = with(form, "resource", tt.resource...)
		if got := outcome(as.do(t, http.MethodPost, "/oauth/challenge", form, tt.id, tt.sec)); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}

	// A step-up request is held to the same registration: the code is
	// issued for the scope of the request that completes the challenge.
	verifier, ch := pkce(t)
	a := as.challenge(t, kbaForm(ch, "Ana", "Lopez", "1990-07-22", "4321"))
	_, otp := as.lastOTP(t)
	sess := a.str("auth_session")
	if a := as.challenge(t, with(stepUpForm(ch, sess, otp), "scope", "patient.read admin")); outcome(a) != invalidScope {
		t.Errorf("step-up asking for more: %d %s", a.status, a.raw)
	}
	a = as.challenge(t, stepUpForm(ch, sess, otp))
	if a.status != 200 {
		t.Fatalf("step-up: %d %s", a.status, a.raw)
	}
	if tok := as.tokenReq(t, tokenForm(a.str("authorization_code"), verifier)); tok.status != 200 || tok.str("scope") != "patient.read" {
		t.Errorf("token after step-up: %d %s", tok.status, tok.raw)
	}
}

// outcome is an answer as the table above writes it: "200" for a code,
// else the status and the body.
func outcome(a answer) string {
	if a.status == 200 {
		return "200"
	}
	return fmt.Sprintf("%d %s", a.status, a.raw)
}

// TestTokenNeverWidensTheCode: the token endpoint gives what the code
// holds, or less when the client asks for less; never more scope, never
// another audience.
func TestTokenNeverWidensTheCode(t *testing.T) {
	t.Parallel()
	as := newTestAS(t, "")
	codeFor := func(scope string) (string, string) {
		verifier, ch := pkce(t)
		a := as.challenge(t, with(mariaForm(ch), "scope", scope))
		if a.status != 200 {
			t.Fatalf("challenge for %q: %d %s", scope, a.status, a.raw)
		}
		return a.str("authorization_code"), verifier
	}
	tests := []struct {
		name      string
		codeScope string
		edit      func(url.Values) url.Values
		status    int
		scope     string // of the token; or the error
	}{
		{"as granted", "patient.read", func(f url.Values) url.Values { return f }, 200, "patient.read"},
		{"more scope", "patient.read", func(f url.Values) url.Values { return with(f, "scope", "patient.read appointments.read") }, 400, "invalid_scope"},
		{"another scope", "patient.read", func(f url.Values) url.Values { return with(f, "scope", "admin") }, 400, "invalid_scope"},
		{"less scope", "patient.read appointments.read", func(f url.Values) url.Values { return with(f, "scope", "appointments.read") }, 200, "appointments.read"},
		{"malformed scope", "patient.read", func(f url.Values) url.Values { return with(f, "scope", `a"b`) }, 400, "invalid_scope"},
		{"repeated scope", "patient.read", func(f url.Values) url.Values { return with(f, "scope", "patient.read", "patient.read") }, 400, "invalid_request"},
		{"another resource", "patient.read", func(f url.Values) url.Values { return with(f, "resource", testResource2) }, 400, "invalid_target"},
	}
	for _, tt := range tests {
		code, v := codeFor(tt.codeScope)
		a := as.tokenReq(t, tt.edit(tokenForm(code, v)))
		got := a.str("error")
		if a.status == 200 {
			got = a.str("scope")
			_, extra, _ := verifyWithJWKS(t, as, a.str("access_token"))
			if extra["scope"] != tt.scope {
				t.Errorf("%s: token's scope claim %v, want %q", tt.name, extra["scope"], tt.scope)
			}
		}
		if a.status != tt.status || got != tt.scope {
			t.Errorf("%s: %d %s, want %d %s", tt.name, a.status, a.raw, tt.status, tt.scope)
		}
	}
}
