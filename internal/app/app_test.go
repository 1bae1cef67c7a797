package app

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
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

func asServer(t *testing.T, metadata func(issuer string) map[string]any) string {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/oauth-authorization-server" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(metadata(srv.URL))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestStartupErrors: a configuration that cannot work stops start-up with one
// clear line naming what is wrong.
func TestStartupErrors(t *testing.T) {
	good := func(iss string) map[string]any {
		return map[string]any{"issuer": iss, "authorization_challenge_endpoint": iss + "/c", "token_endpoint": iss + "/t",
			"code_challenge_methods_supported": []string{"S256"}}
	}
	noChallenge := func(iss string) map[string]any {
		m := good(iss)
		delete(m, "authorization_challenge_endpoint")
		return m
	}
	noS256 := func(iss string) map[string]any {
		m := good(iss)
		m["code_challenge_methods_supported"] = []string{"plain"}
		return m
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"no auth token", func(c *Config) { c.AuthToken = "" }, "TWILIO_AUTH_TOKEN"},
		{"no public url", func(c *Config) { c.PublicURL = "" }, "IVR_PUBLIC_URL"},
		{"short session key", func(c *Config) { c.SessionKey = c.SessionKey[:16] }, "IVR_SESSION_KEY"},
		{"metadata unreachable", func(c *Config) { c.AuthIssuer = "http://127.0.0.1:1" }, "authorization server"},
		{"no challenge endpoint", func(c *Config) { c.AuthIssuer = asServer(t, noChallenge) }, "authorization_challenge_endpoint"},
		{"no S256", func(c *Config) { c.AuthIssuer = asServer(t, noS256) }, "S256"},
		{"no issuer nor resource", func(c *Config) { c.AuthIssuer = "" }, "IVR_AUTH_ISSUER"},
		{"unknown language", func(c *Config) { c.Languages = []string{"fr-FR"} }, "fr-FR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, asServer(t, good))
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

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, string(b)
}

func TestHealthReadyMetrics(t *testing.T) {
	as := &asdouble.Server{ClientID: "c", ClientSecret: "s"}
	srv := httptest.NewServer(as.Handler())
	defer srv.Close()
	as.Issuer = srv.URL
	cfg := testConfig(t, srv.URL)
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
	down := testConfig(t, srv.URL)
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
