package app

import (
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/ivr-gateway/ivr/internal/asdouble"
	"github.com/ivr-gateway/ivr/internal/redistest"
)

func testConfig(t *testing.T, issuer string) Config {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	key := make([]byte, 32)
	rand.Read(key)
	return Config{
		PublicURL: "https://ivr.example.test", AuthToken: "tok", Redis: rdb, RedisPrefix: prefix,
		AuthIssuer: issuer, ClientID: "c", ClientSecret: "s", SessionKey: key, AgentKeys: []string{"k"},
		Languages: []string{"en-US"},
	}
}

// asIssuer serves the project's AS double with the gateway's test
// credentials, its metadata changed by edit, and returns its issuer.
func asIssuer(t *testing.T, edit func(doc map[string]any)) string {
	t.Helper()
	return asdouble.Serve(t, &asdouble.Server{ClientID: "c", ClientSecret: "s", EditMetadata: edit}).Issuer
}

// TestStartupErrors: a configuration that cannot work stops start-up with one
// clear line naming what is wrong.
func TestStartupErrors(t *testing.T) {
	noChallenge := func(m map[string]any) { delete(m, "authorization_challenge_endpoint") }
	noS256 := func(m map[string]any) { m["code_challenge_methods_supported"] = []string{"plain"} }
	wrongIssuer := func(m map[string]any) { m["issuer"] = "https://as.example.test" }
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"no auth token", func(c *Config) { c.AuthToken = "" }, "TWILIO_AUTH_TOKEN"},
		{"no public url", func(c *Config) { c.PublicURL = "" }, "IVR_PUBLIC_URL"},
		{"short session key", func(c *Config) { c.SessionKey = c.SessionKey[:16] }, "IVR_SESSION_KEY"},
		{"metadata unreachable", func(c *Config) { c.AuthIssuer = "http://127.0.0.1:1" }, "authorization server"},
		{"no challenge endpoint", func(c *Config) { c.AuthIssuer = asIssuer(t, noChallenge) }, "authorization_challenge_endpoint"},
		{"no S256", func(c *Config) { c.AuthIssuer = asIssuer(t, noS256) }, "S256"},
		{"issuer mismatch", func(c *Config) { c.AuthIssuer = asIssuer(t, wrongIssuer) }, "RFC 8414 §3.3"},
		{"no issuer nor resource", func(c *Config) { c.AuthIssuer = "" }, "IVR_AUTH_ISSUER"},
		{"unknown language", func(c *Config) { c.Languages = []string{"fr-FR"} }, "fr-FR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, asIssuer(t, nil))
			tt.mutate(&cfg)
			a, err := New(context.Background(), cfg, nil)
			if err == nil {
				a.Close()
				t.Fatal("New succeeded")
			}
			if msg := err.Error(); !strings.Contains(msg, tt.want) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line mentioning %q", msg, tt.want)
			}
		})
	}
}

// TestDiscoveryFromResource: IVR_RESOURCE alone finds the AS through the
// resource's RFC 9728 metadata.
func TestDiscoveryFromResource(t *testing.T) {
	as := asdouble.Serve(t, &asdouble.Server{ClientID: "c", ClientSecret: "s", ResourcePath: "/mcp"})
	cfg := testConfig(t, "")
	cfg.Resource = as.Resource
	a, err := New(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.Metadata.Issuer != as.Issuer {
		t.Errorf("issuer %q, want %q", a.Metadata.Issuer, as.Issuer)
	}
	want := []string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-authorization-server"}
	if got := as.MetadataRequests(); !slices.Equal(got, want) {
		t.Errorf("metadata fetched: %q, want %q", got, want)
	}
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, string(b)
}

func TestHealthReadyMetrics(t *testing.T) {
	issuer := asIssuer(t, nil)
	cfg := testConfig(t, issuer)
	a, err := New(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if code, body := get(t, a.Handler, "/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("healthz: %d %q", code, body)
	}
	if code, body := get(t, a.Handler, "/readyz"); code != 200 || !strings.Contains(body, `"redis":"ok"`) {
		t.Errorf("readyz: %d %q", code, body)
	}
	code, body := get(t, a.Handler, "/metrics")
	for _, m := range []string{"ivr_as_request_duration_seconds", "go_goroutines"} {
		if code != 200 || !strings.Contains(body, m) {
			t.Errorf("metrics: %d, %s missing", code, m)
		}
	}

	// Redis gone: not ready, and says which part.
	down := testConfig(t, issuer)
	down.Redis = redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	b, err := New(context.Background(), down, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if code, body := get(t, b.Handler, "/readyz"); code != 503 || !strings.Contains(body, `"redis":"unreachable"`) {
		t.Errorf("readyz with Redis down: %d %q", code, body)
	}
}
