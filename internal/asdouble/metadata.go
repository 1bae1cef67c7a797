package asdouble

import (
	"net/http"
	"strings"
)

// metadata serves RFC 8414 authorization server metadata: the members the
// gateway requires (docs/as-profile.md) and the ones a FiPA AS advertises.
func (s *Server) metadata(w http.ResponseWriter, r *http.Request) {
	if !s.fetched(Metadata, w, r) {
		return
	}
	doc := map[string]any{
		"issuer":                                s.Issuer,
		"authorization_challenge_endpoint":      s.Issuer + "/challenge",
		"token_endpoint":                        s.Issuer + "/token",
		"revocation_endpoint":                   s.Issuer + "/revoke",
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic"},
		"grant_types_supported":                 []string{"authorization_code"},
		"response_types_supported":              []string{"code"},
	}
	if s.NoRevocation {
		delete(doc, "revocation_endpoint")
	}
	if s.EditMetadata != nil {
		s.EditMetadata(doc)
	}
	writeJSON(w, http.StatusOK, doc)
}

// resourceMetadata serves the RFC 9728 metadata of the protected resource
// at ResourcePath, naming the double as its authorization server.
func (s *Server) resourceMetadata(w http.ResponseWriter, r *http.Request) {
	if !s.fetched(ResourceMetadata, w, r) {
		return
	}
	doc := map[string]any{
		"resource":              strings.TrimSuffix(s.Issuer, s.IssuerPath) + s.ResourcePath,
		"authorization_servers": []string{s.Issuer},
	}
	if s.EditResourceMetadata != nil {
		s.EditResourceMetadata(doc)
	}
	writeJSON(w, http.StatusOK, doc)
}

// fetched records a metadata request, checks it, and plays a canned answer
// if one is queued; it reports whether the handler should go on.
func (s *Server) fetched(endpoint string, w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	s.fetches = append(s.fetches, r.URL.Path)
	s.mu.Unlock()
	if r.Method != http.MethodGet {
		s.deviation("%s: method %s, want GET", endpoint, r.Method)
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return false
	}
	if r.URL.RawQuery != "" {
		s.deviation("%s: a query string", endpoint)
	}
	return !s.play(endpoint, w, r)
}
