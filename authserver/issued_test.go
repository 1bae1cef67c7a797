package authserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestRevokeWithAndWithoutTheIssuedCache: a token this server signed is
// revoked from what it remembers of it; one it does not remember (signed
// by another instance, or forgotten) is verified first, as before; and a
// token that differs from a remembered one by its signature alone is not
// ours and revokes nothing, though its claims are those of a real token.
func TestRevokeWithAndWithoutTheIssuedCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name        string
		forget      bool
		tamper      bool
		otherKey    bool // the server checks signatures with a key that did not sign
		wantRevoked bool
		wantOutcome string
	}{
		{"remembered", false, false, false, true, "revoked"},
		// Only the remembered token can be revoked here: its signature is
		// not checked.
		{"remembered, not verifiable", false, false, true, true, "revoked"},
		{"forgotten: verified", true, false, false, true, "revoked"},
		{"forgotten, not verifiable", true, false, true, false, "not_ours"},
		{"forged signature, remembered claims", false, true, false, false, "not_ours"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			as := newTestAS(t, "")
			code, v := as.codeFor(t)
			tok := as.tokenReq(t, tokenForm(code, v)).str("access_token")
			std, _, _ := verifyWithJWKS(t, as, tok)
			if _, ok := as.Server.issued.get(tok); !ok {
				t.Fatal("the token endpoint did not remember the token it signed")
			}
			if tt.forget {
				as.Server.issued = newIssuedTokens(issuedCap)
			}
			if tt.otherKey {
				k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				as.Server.pub.Key = &k.PublicKey
			}
			if tt.tamper {
				dot := strings.LastIndexByte(tok, '.')
				sig := []byte(tok[dot+1:])
				sig[5] ^= 1 // still base64url, another signature
				tok = tok[:dot+1] + string(sig)
			}
			outcome, err := as.Server.revoke(ctx, testClient, tok)
			if err != nil || outcome != tt.wantOutcome {
				t.Errorf("revoke: %q %v, want %q", outcome, err, tt.wantOutcome)
			}
			if r, err := as.Revoked(ctx, std.ID); err != nil || r != tt.wantRevoked {
				t.Errorf("Revoked = %v %v, want %v", r, err, tt.wantRevoked)
			}
			// Through the endpoint, too: 200 whatever the outcome (RFC 7009 §2.2).
			if a := as.do(t, http.MethodPost, "/oauth/revoke", url.Values{"token": {tok}}, testClient, testSecret); a.status != 200 {
				t.Errorf("endpoint: %d %s", a.status, a.raw)
			}
		})
	}
}

// TestIssuedTokensAreBounded: the cache keeps two generations of max/2.
func TestIssuedTokensAreBounded(t *testing.T) {
	c := newIssuedTokens(4)
	tok := func(i int) string { return fmt.Sprintf("token-%d", i) }
	for i := range 5 {
		c.put(tok(i), issuedToken{id: fmt.Sprint(i), client: "c", exp: time.Unix(int64(i), 0)})
	}
	for i, want := range []bool{false, false, true, true, true} {
		it, ok := c.get(tok(i))
		if ok != want || (ok && it.id != fmt.Sprint(i)) {
			t.Errorf("token %d: %+v %v, want remembered = %v", i, it, ok, want)
		}
	}
	if n := c.byHash.Len(); n > 4 {
		t.Errorf("%d entries, want at most 4", n)
	}
}
