package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAuthServerHelp: -h names the flags a load test and an operator look
// for, each with its variable (measure.sh greps for -client-rate).
func TestAuthServerHelp(t *testing.T) {
	var out, errb strings.Builder
	err := Run(context.Background(), []string{"authserver", "-h"}, envOf(nil), nil, &out, &errb)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("authserver -h: %v", err)
	}
	for _, want := range []string{"-client-rate", "IVR_AS_CLIENT_RATE", "-scopes", "IVR_AS_SCOPES", "-resources", "IVR_AS_RESOURCES",
		"-clients", "IVR_AS_CLIENTS", "-redis-mode", "IVR_REDIS_MODE"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("authserver -h does not mention %s", want)
		}
	}
}

// runAS starts `ivr authserver` in process with args and env, and returns
// its issuer once it listens.
func runAS(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, append([]string{"authserver", "-addr", "127.0.0.1:0", "-patients", "../../authserver/testdata/patients.json"}, args...),
			envOf(env), nil, io.Discard, pw)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("authserver: %v", err)
		}
	})
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		var line struct {
			Msg    string `json:"msg"`
			Issuer string `json:"issuer"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "authorization server listening" {
			go io.Copy(io.Discard, pr)
			return line.Issuer
		}
	}
	t.Fatalf("authserver did not start: %v", <-done)
	return ""
}

// asChallenge sends Maria García's right answers as client id with scope and
// resource, and returns the status and error.
func asChallenge(t *testing.T, issuer, id, secret, scope, resource string) (int, string) {
	t.Helper()
	sum := sha256.Sum256([]byte("verifier-0123456789-0123456789-0123456789"))
	form := url.Values{
		"response_type": {"code"}, "code_challenge_method": {"S256"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"given_name":     {"Maria"}, "family_name": {"Garcia"}, "birthdate": {"1980-01-05"}, "ssn_last4": {"1234"},
	}
	if scope != "" {
		form.Set("scope", scope)
	}
	if resource != "" {
		form.Set("resource", resource)
	}
	req, _ := http.NewRequest(http.MethodPost, issuer+"/oauth/challenge", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error string `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Error
}

// TestAuthServerClients: `ivr authserver` takes a JSON client file with
// each client's scopes and resources, id:secret pairs with -scopes and
// -resources, and -client-rate.
func TestAuthServerClients(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "clients.json")
	os.WriteFile(file, []byte(`[
  {"client_id": "gw", "client_secret": "gw-secret", "scope": "patient.read", "resources": ["https://mcp.example/mcp"], "client_name": "the gateway"},
  {"client_id": "bench", "client_secret": "bench-secret"}
]`), 0o600)
	issuer := runAS(t, nil, "-clients", file, "-client-rate", "1000")
	for _, tt := range []struct {
		name, id, secret, scope, resource string
		status                            int
		err                               string
	}{
		{"registered", "gw", "gw-secret", "patient.read", "https://mcp.example/mcp", 200, ""},
		{"the review's request", "gw", "gw-secret", "patient.write admin *", "https://any-other-rs.example/api", 400, "invalid_scope"},
		{"another resource", "gw", "gw-secret", "patient.read", "https://any-other-rs.example/api", 400, "invalid_target"},
		{"nothing asked", "bench", "bench-secret", "", "", 200, ""},
		{"a client registered for nothing", "bench", "bench-secret", "patient.read", "", 400, "invalid_scope"},
	} {
		if status, e := asChallenge(t, issuer, tt.id, tt.secret, tt.scope, tt.resource); status != tt.status || e != tt.err {
			t.Errorf("%s: %d %q, want %d %q", tt.name, status, e, tt.status, tt.err)
		}
	}

	// Pairs from the environment get -scopes and -resources; -client-rate
	// caps the client's challenges a minute.
	issuer = runAS(t, map[string]string{"IVR_AS_CLIENTS": "gw:pw", "IVR_AS_SCOPES": "patient.read,appointments.read", "IVR_AS_CLIENT_RATE": "3"},
		"-resources", "https://a.example/mcp https://b.example/mcp")
	for i, tt := range []struct {
		scope, resource string
		status          int
		err             string
	}{
		{"appointments.read patient.read", "https://b.example/mcp", 200, ""},
		{"patient.write", "", 400, "invalid_scope"},
		{"", "https://c.example/mcp", 400, "invalid_target"},
		{"", "", 429, "slow_down"}, // the fourth challenge this minute
	} {
		if status, e := asChallenge(t, issuer, "gw", "pw", tt.scope, tt.resource); status != tt.status || e != tt.err {
			t.Errorf("request %d: %d %q, want %d %q", i+1, status, e, tt.status, tt.err)
		}
	}
}

func TestAuthServerBadSettings(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"IVR_AS_CLIENTS": "gw:pw", "IVR_AS_CLIENT_RATE": "many"}, nil, "IVR_AS_CLIENT_RATE"},
		{map[string]string{"IVR_AS_CLIENTS": "gw:pw"}, []string{"-client-rate", "0"}, "client-rate"},
		{map[string]string{"IVR_AS_CLIENTS": "gw:pw"}, []string{"-resources", "not-a-uri"}, "resources"},
		{map[string]string{"IVR_AS_CLIENTS": `[{"client_id":"gw"}]`}, nil, "client_secret"},
	} {
		err := Run(context.Background(), append([]string{"authserver", "-addr", "127.0.0.1:0"}, tt.args...), envOf(tt.env), nil, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v %v: err = %v, want one naming %s", tt.env, tt.args, err, tt.want)
		}
	}
}
