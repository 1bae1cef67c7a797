package authclient

import (
	"slices"
	"testing"
)

// FuzzParseReply feeds arbitrary challenge (and token error) answers to the
// decoder: it must not panic, must never report success without a code or
// outside 2xx, and must give every failure a reason.
func FuzzParseReply(f *testing.F) {
	for _, s := range []struct {
		status int
		body   string
	}{
		{200, `{"authorization_code":"c","auth_session":"s"}`},
		{200, `{"code":"c"}`},
		{403, `{"error":"insufficient_authorization","auth_session":"s","otp_required":true}`},
		{400, `{"error":"access_denied","attempts_remaining":2}`},
		{400, `{"error":"invalid_session"}`},
		{429, ``},
		{500, `<html>`},
		{200, `null`},
		{200, `{"attempts_remaining":"-3","otp_required":"true"}`},
	} {
		f.Add(s.status, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		r := parseReply("challenge", status, body)
		if r.outcome < Unavailable || r.outcome > Locked {
			t.Fatalf("outcome %d out of range", r.outcome)
		}
		if r.outcome == Verified {
			if r.code == "" || status < 200 || status > 299 || r.err != nil {
				t.Fatalf("success with code %q, status %d, err %v", r.code, status, r.err)
			}
		} else if r.code != "" {
			t.Fatalf("code kept on %v", r.outcome)
		}
		if (r.outcome == Unavailable || r.outcome == Locked) && r.err == nil {
			t.Fatalf("%v without a reason", r.outcome)
		}
		if r.attempts < -1 {
			t.Fatalf("attempts %d", r.attempts)
		}
	})
}

// FuzzMetadata feeds arbitrary metadata documents to the decoder and the
// checks of Discover: accepted metadata always names the endpoints and S256.
func FuzzMetadata(f *testing.F) {
	const issuer = "https://as.example.com/t"
	for _, s := range []string{
		`{"issuer":"https://as.example.com/t","authorization_challenge_endpoint":"https://as.example.com/c","token_endpoint":"https://as.example.com/tok","code_challenge_methods_supported":["S256"]}`,
		`{"issuer":"https://as.example.com/t","code_challenge_methods_supported":["plain"]}`,
		`{"issuer":1}`,
		`[]`,
		`null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var md Metadata
		if err := decodeObject(body, &md); err != nil {
			return
		}
		if err := md.validate(issuer); err != nil {
			return
		}
		if md.Issuer != issuer || md.AuthorizationChallengeEndpoint == "" || md.TokenEndpoint == "" ||
			!slices.Contains(md.CodeChallengeMethodsSupported, "S256") {
			t.Fatalf("accepted incomplete metadata %+v", md)
		}
	})
}
