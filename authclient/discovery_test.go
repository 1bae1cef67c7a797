package authclient

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ivr-gateway/ivr/internal/asdouble"
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

// fullerDouble is the double publishing what a fuller AS adds (more PKCE
// methods, a JWKS), then whatever edit changes.
func fullerDouble(t *testing.T, edit func(d *asdouble.Server, doc map[string]any)) *asdouble.Server {
	return newDouble(t, func(d *asdouble.Server) {
		d.EditMetadata = func(doc map[string]any) {
			doc["code_challenge_methods_supported"] = []string{"plain", "S256"}
			doc["jwks_uri"] = d.Issuer + "/jwks"
			if edit != nil {
				edit(d, doc)
			}
		}
	})
}

func TestDiscover(t *testing.T) {
	t.Parallel()
	const wk = "/.well-known/oauth-authorization-server" + testIssuerPath
	type doc = map[string]any
	tests := []struct {
		name    string
		edit    func(d *asdouble.Server, m doc)
		script  []asdouble.Canned
		wantErr string // substring; "" wants success
	}{
		{name: "ok"},
		{name: "issuer mismatch", edit: func(d *asdouble.Server, m doc) { m["issuer"] = d.Issuer + "/other" },
			wantErr: "RFC 8414 §3.3"},
		{name: "no challenge endpoint", edit: func(_ *asdouble.Server, m doc) { delete(m, "authorization_challenge_endpoint") },
			wantErr: "has no authorization_challenge_endpoint"},
		{name: "no token endpoint", edit: func(_ *asdouble.Server, m doc) { delete(m, "token_endpoint") },
			wantErr: "has no token_endpoint"},
		{name: "no S256", edit: func(_ *asdouble.Server, m doc) { m["code_challenge_methods_supported"] = []string{"plain"} },
			wantErr: "does not list S256"},
		{name: "no PKCE methods", edit: func(_ *asdouble.Server, m doc) { delete(m, "code_challenge_methods_supported") },
			wantErr: "does not list S256"},
		{name: "no client_secret_basic", edit: func(_ *asdouble.Server, m doc) {
			m["token_endpoint_auth_methods_supported"] = []string{"private_key_jwt"}
		}, wantErr: "does not list client_secret_basic"},
		{name: "plain http endpoint", edit: func(_ *asdouble.Server, m doc) { m["token_endpoint"] = "http://as.example.com/token" },
			wantErr: "unusable token_endpoint"},
		{name: "bad JSON", script: []asdouble.Canned{{Status: 200, Body: `{"issuer":`}}, wantErr: "bad JSON"},
		{name: "not an object", script: []asdouble.Canned{{Status: 200, Body: `null`}}, wantErr: "not a JSON object"},
		{name: "not found", script: []asdouble.Canned{{Status: 404}}, wantErr: "HTTP 404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := fullerDouble(t, tt.edit)
			d.Script(asdouble.Metadata, tt.script...)
			md, err := Discover(t.Context(), d.Client(), d.Issuer)
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
			want := doubleMetadata(d, true)
			want.JWKSURI = d.Issuer + "/jwks"
			want.CodeChallengeMethodsSupported = []string{"plain", "S256"}
			if diff := cmp.Diff(md, want); diff != "" {
				t.Errorf("Metadata (-got +want):\n%s", diff)
			}
			if diff := cmp.Diff(d.MetadataRequests(), []string{wk}); diff != "" {
				t.Errorf("paths fetched (-got +want):\n%s", diff)
			}
		})
	}
}

func TestDiscoverTrailingSlashIssuer(t *testing.T) {
	t.Parallel()
	d := fullerDouble(t, func(d *asdouble.Server, m map[string]any) { m["issuer"] = d.Issuer + "/" })
	if _, err := Discover(t.Context(), d.Client(), d.Issuer+"/"); err != nil {
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
	type doc = map[string]any
	tests := []struct {
		name    string
		edit    func(d *asdouble.Server, m doc)
		script  []asdouble.Canned
		wantErr string
	}{
		{name: "chain", edit: func(d *asdouble.Server, m doc) {
			m["authorization_servers"] = []string{d.Issuer, "https://other.example.com"}
		}},
		{name: "resource mismatch", edit: func(d *asdouble.Server, m doc) { m["resource"] = d.Resource + "/x" },
			wantErr: "RFC 9728 §3.3"},
		{name: "no authorization servers", edit: func(_ *asdouble.Server, m doc) { delete(m, "authorization_servers") },
			wantErr: "has no authorization_servers"},
		{name: "AS metadata refused", edit: func(d *asdouble.Server, m doc) {
			m["authorization_servers"] = []string{d.URL() + "/missing"}
		}, wantErr: "HTTP 404"},
		{name: "no resource metadata", script: []asdouble.Canned{{Status: 404}}, wantErr: "HTTP 404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := newDouble(t, func(d *asdouble.Server) {
				if tt.edit != nil {
					d.EditResourceMetadata = func(m doc) { tt.edit(d, m) }
				}
			})
			d.Script(asdouble.ResourceMetadata, tt.script...)
			md, err := DiscoverFromResource(t.Context(), d.Client(), d.Resource)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrDiscovery) {
					t.Fatalf("DiscoverFromResource error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("DiscoverFromResource: %v", err)
			}
			if md.Issuer != d.Issuer {
				t.Errorf("Issuer = %q, want %q", md.Issuer, d.Issuer)
			}
			want := []string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-authorization-server" + testIssuerPath}
			if diff := cmp.Diff(d.MetadataRequests(), want); diff != "" {
				t.Errorf("paths fetched (-got +want):\n%s", diff)
			}
		})
	}
}

// TestDiscoverDouble runs discovery against the AS double the Verify tests
// use, so both agree on the metadata shape.
func TestDiscoverDouble(t *testing.T) {
	t.Parallel()
	d := newDouble(t)
	md, err := DiscoverFromResource(t.Context(), d.Client(), d.Resource)
	if err != nil {
		t.Fatalf("DiscoverFromResource: %v", err)
	}
	if diff := cmp.Diff(md, doubleMetadata(d, true)); diff != "" {
		t.Errorf("Metadata (-got +want):\n%s", diff)
	}
}
