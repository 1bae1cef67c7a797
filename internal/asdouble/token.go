package asdouble

import (
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"time"
)

// token is the token endpoint (FiPA -04 §6): the code of a challenge, its
// PKCE verifier and the same resource, for an opaque access token.
func (s *Server) token(w http.ResponseWriter, r *http.Request, f url.Values) {
	s.checkParam(Token, f, "grant_type", "authorization_code")
	s.checkParam(Token, f, "redirect_uri", "")
	s.checkParam(Token, f, "resource", s.Resource)
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.codes[f.Get("code")]
	delete(s.codes, f.Get("code")) // single use, whatever the outcome
	sum := sha256.Sum256([]byte(f.Get("code_verifier")))
	switch {
	case f.Get("grant_type") != "authorization_code" || f.Has("redirect_uri"):
		oauthError(w, 400, "invalid_request")
	case !ok:
		oauthError(w, 400, "invalid_grant")
	case base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge:
		s.deviation("token: code_verifier does not match the code_challenge")
		oauthError(w, 400, "invalid_grant")
	case f.Get("resource") != g.resource:
		oauthError(w, 400, "invalid_target")
	default:
		ttl := s.TokenTTL
		if ttl <= 0 {
			ttl = 15 * time.Minute
		}
		at := "at-" + g.patient.ID + "-" + random()[:16]
		if s.tokens == nil {
			s.tokens = map[string]bool{}
		}
		s.tokens[at] = false
		body := map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": int(ttl.Seconds())}
		if scope := cmp.Or(s.GrantedScope, s.Scope); scope != "" {
			body["scope"] = scope
		}
		w.Header().Set("Pragma", "no-cache")
		writeJSON(w, 200, body)
	}
}
