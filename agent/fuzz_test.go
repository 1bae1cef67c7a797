package agent

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzDecodeToken feeds arbitrary 200 bodies of the agent API to the
// decoder. An accepted body yields a usable bearer token for the asked call;
// a refused one yields ErrBadResponse without echoing the access token.
func FuzzDecodeToken(f *testing.F) {
	for _, s := range []string{
		`{"call_sid":"CA1","access_token":"eyJ.x.y","token_type":"Bearer","expires_at":"2026-11-26T03:00:00Z","scope":"mcp:read"}`,
		`{"call_sid":"CA1","access_token":"eyJ.x.y","token_type":"bearer"}`,
		`{"call_sid":"CA2","access_token":"secret-value","token_type":"Bearer"}`,
		`{"call_sid":"CA1","access_token":"secret-value","token_type":"Bearer","expires_at":"tomorrow"}`,
		`{"call_sid":"CA1","access_token":"secret-value","token_type":"DPoP"}`,
		`{"access_token":"secret-value"`, `null`, `[]`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		tok, err := decodeToken(body, "CA1")
		if err == nil && (tok.AccessToken == "" || !strings.EqualFold(tok.TokenType, "Bearer")) {
			t.Fatalf("accepted an unusable token: %v", tok)
		}
		// The outcome must not depend on the token's value: decode the
		// body again with another non-empty access_token and compare.
		var m map[string]any
		if json.Unmarshal(body, &m) != nil || m == nil {
			return
		}
		var value any
		for k, v := range m {
			if strings.EqualFold(k, "access_token") {
				value = v
				delete(m, k)
			}
		}
		s, ok := value.(string)
		if !ok || s == "" {
			return
		}
		errOf := func(v string) string {
			m["access_token"] = v
			b, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := decodeToken(b, "CA1"); err != nil {
				return err.Error()
			}
			return ""
		}
		if a, b := errOf(s), errOf("other-token-value"); a != b {
			t.Fatalf("error depends on the access token: %q vs %q", a, b)
		}
	})
}
