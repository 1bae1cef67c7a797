package asdouble

import (
	"net/http"
	"net/url"
)

// revoke is the RFC 7009 revocation endpoint.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request, f url.Values) {
	if s.NoRevocation {
		s.deviation("revoke: a revocation request, but the metadata advertises no revocation_endpoint")
		http.NotFound(w, r)
		return
	}
	s.checkParam(Revoke, f, "token_type_hint", "access_token")
	if f.Get("token") == "" {
		s.deviation("revoke: no token")
	}
	s.mu.Lock()
	if _, issued := s.tokens[f.Get("token")]; issued {
		s.tokens[f.Get("token")] = true
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK) // RFC 7009 §2.2: also for unknown tokens
}
