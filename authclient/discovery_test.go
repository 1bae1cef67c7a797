package authclient

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWellKnownURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, want string
		ok       bool
	}{
		{"https://as.example.com", "https://as.example.com/.well-known/oauth-authorization-server", true},
		{"https://as.example.com/", "https://as.example.com/.well-known/oauth-authorization-server", true},
		{"https://as.example.com/tenant1", "https://as.example.com/.well-known/oauth-authorization-server/tenant1", true},
		{"https://as.example.com/tenant1/", "https://as.example.com/.well-known/oauth-authorization-server/tenant1", true},
		{"https://as.example.com:8443/a/b", "https://as.example.com:8443/.well-known/oauth-authorization-server/a/b", true},
		{"http://127.0.0.1:9000/t", "http://127.0.0.1:9000/.well-known/oauth-authorization-server/t", true},
		{"http://localhost:9000", "http://localhost:9000/.well-known/oauth-authorization-server", true},
		{"http://[::1]:9000", "http://[::1]:9000/.well-known/oauth-authorization-server", true},
		{"http://as.example.com", "", false},
		{"https://as.example.com/t?x=1", "", false},
		{"https://as.example.com/t#f", "", false},
		{"/tenant1", "", false},
		{"", "", false},
		{"ftp://as.example.com", "", false},
	}
	for _, tt := range tests {
		got, err := wellKnownURL(tt.id, wellKnownAS)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("wellKnownURL(%q) = %q, %v; want %q, ok=%v", tt.id, got, err, tt.want, tt.ok)
		}
	}
}

// metaServer serves fixed JSON documents by path and records the paths asked.
type metaServer struct {
	srv  *httptest.Server
	mu   sync.Mutex
	docs map[string]any
	hits []string
}

func newMetaServer(t *testing.T) *metaServer {
	m := &metaServer{docs: map[string]any{}}
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		m.hits = append(m.hits, r.URL.Path)
		doc, ok := m.docs[r.URL.Path]
		m.mu.Unlock()
		if r.Method != http.MethodGet {
			t.Errorf("metadata: method %s", r.Method)
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if s, ok := doc.(string); ok {
			_, _ = w.Write([]byte(s))
			return
		}
		_ = json.NewEncoder(w).Encode(doc)
	}))
	t.Cleanup(m.srv.Close)
	return m
}

func (m *metaServer) set(path string, doc any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.docs[path] = doc
}

func (m *metaServer) paths() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.hits...)
}

func (m *metaServer) asDoc(issuer string) map[string]any {
	return map[string]any{
		"issuer":                                issuer,
		"authorization_challenge_endpoint":      m.srv.URL + "/challenge",
		"token_endpoint":                        m.srv.URL + "/token",
		"revocation_endpoint":                   m.srv.URL + "/revoke",
		"jwks_uri":                              m.srv.URL + "/jwks",
		"code_challenge_methods_supported":      []string{"plain", "S256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic"},
		"response_types_supported":              []string{"code"},
	}
}

func TestDiscover(t *testing.T) {
	t.Parallel()
	const wk = "/.well-known/oauth-authorization-server/tenant1"
	tests := []struct {
		name    string
		doc     func(m *metaServer, issuer string) any
		wantErr string // substring; "" wants success
	}{
		{"ok", func(m *metaServer, iss string) any { return m.asDoc(iss) }, ""},
		{"issuer mismatch", func(m *metaServer, iss string) any {
			d := m.asDoc(iss)
			d["issuer"] = iss + "/other"
			return d
		}, "RFC 8414 §3.3"},
		{"no challenge endpoint", func(m *metaServer, iss string) any {
			d := m.asDoc(iss)
			delete(d, "authorization_challenge_endpoint")
			return d
		}, "has no authorization_challenge_endpoint"},
		{"no token endpoint", func(m *metaServer, iss string) any {
			d := m.asDoc(iss)
			delete(d, "token_endpoint")
			return d
		}, "has no token_endpoint"},
		{"no S256", func(m *metaServer, iss string) any {
			d := m.asDoc(iss)
			d["code_challenge_methods_supported"] = []string{"plain"}
			return d
		}, "does not list S256"},
		{"no PKCE methods", func(m *metaServer, iss string) any {
			d := m.asDoc(iss)
			delete(d, "code_challenge_methods_supported")
			return d
		}, "does not list S256"},
		{"no client_secret_basic", func(m *metaServer, iss string) any {
			d := m.asDoc(iss)
			d["token_endpoint_auth_methods_supported"] = []string{"private_key_jwt"}
			return d
		}, "does not list client_secret_basic"},
		{"plain http endpoint", func(m *metaServer, iss string) any {
			d := m.asDoc(iss)
			d["token_endpoint"] = "http://as.example.com/token"
			return d
		}, "unusable token_endpoint"},
		{"bad JSON", func(*metaServer, string) any { return `{"issuer":` }, "bad JSON"},
		{"not an object", func(*metaServer, string) any { return `null` }, "not a JSON object"},
		{"not found", nil, "HTTP 404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := newMetaServer(t)
			issuer := m.srv.URL + "/tenant1"
			if tt.doc != nil {
				m.set(wk, tt.doc(m, issuer))
			}
			md, err := Discover(t.Context(), m.srv.Client(), issuer)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrDiscovery) {
					t.Fatalf("Discover error = %v, want %q and ErrDiscovery", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), "authclient: ") {
					t.Errorf("error is not a one-liner: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Discover: %v", err)
			}
			want := &Metadata{
				Issuer:                            issuer,
				AuthorizationChallengeEndpoint:    m.srv.URL + "/challenge",
				TokenEndpoint:                     m.srv.URL + "/token",
				RevocationEndpoint:                m.srv.URL + "/revoke",
				JWKSURI:                           m.srv.URL + "/jwks",
				CodeChallengeMethodsSupported:     []string{"plain", "S256"},
				TokenEndpointAuthMethodsSupported: []string{"client_secret_basic"},
			}
			if diff := cmp.Diff(md, want); diff != "" {
				t.Errorf("Metadata (-got +want):\n%s", diff)
			}
			if diff := cmp.Diff(m.paths(), []string{wk}); diff != "" {
				t.Errorf("paths fetched (-got +want):\n%s", diff)
			}
		})
	}
}

func TestDiscoverTrailingSlashIssuer(t *testing.T) {
	t.Parallel()
	m := newMetaServer(t)
	issuer := m.srv.URL + "/tenant1/"
	m.set("/.well-known/oauth-authorization-server/tenant1", m.asDoc(issuer))
	if _, err := Discover(t.Context(), m.srv.Client(), issuer); err != nil {
		t.Fatalf("Discover: %v", err)
	}
}

func TestDiscoverUnreachable(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := Discover(t.Context(), nil, url)
	if err == nil || !errors.Is(err, ErrDiscovery) || !strings.Contains(err.Error(), "metadata at "+url) {
		t.Fatalf("Discover error = %v", err)
	}
}

func TestDiscoverFromResource(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		prm     func(m *metaServer, resource string) any
		wantErr string
	}{
		{"chain", func(m *metaServer, res string) any {
			return map[string]any{"resource": res, "authorization_servers": []string{m.srv.URL + "/tenant1", "https://other.example.com"}}
		}, ""},
		{"resource mismatch", func(m *metaServer, res string) any {
			return map[string]any{"resource": res + "/x", "authorization_servers": []string{m.srv.URL + "/tenant1"}}
		}, "RFC 9728 §3.3"},
		{"no authorization servers", func(m *metaServer, res string) any {
			return map[string]any{"resource": res}
		}, "has no authorization_servers"},
		{"AS metadata refused", func(m *metaServer, res string) any {
			return map[string]any{"resource": res, "authorization_servers": []string{m.srv.URL + "/missing"}}
		}, "HTTP 404"},
		{"no resource metadata", nil, "HTTP 404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := newMetaServer(t)
			resource := m.srv.URL + "/mcp"
			issuer := m.srv.URL + "/tenant1"
			m.set("/.well-known/oauth-authorization-server/tenant1", m.asDoc(issuer))
			if tt.prm != nil {
				m.set("/.well-known/oauth-protected-resource/mcp", tt.prm(m, resource))
			}
			md, err := DiscoverFromResource(t.Context(), m.srv.Client(), resource)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrDiscovery) {
					t.Fatalf("DiscoverFromResource error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("DiscoverFromResource: %v", err)
			}
			if md.Issuer != issuer {
				t.Errorf("Issuer = %q, want %q", md.Issuer, issuer)
			}
			want := []string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-authorization-server/tenant1"}
			if diff := cmp.Diff(m.paths(), want); diff != "" {
				t.Errorf("paths fetched (-got +want):\n%s", diff)
			}
		})
	}
}

// TestDiscoverDouble runs discovery against the AS double the Verify tests
// use, so both agree on the metadata shape.
func TestDiscoverDouble(t *testing.T) {
	t.Parallel()
	d := newASDouble(t)
	md, err := DiscoverFromResource(t.Context(), d.srv.Client(), d.resource)
	if err != nil {
		t.Fatalf("DiscoverFromResource: %v", err)
	}
	if diff := cmp.Diff(md, d.md()); diff != "" {
		t.Errorf("Metadata (-got +want):\n%s", diff)
	}
}
