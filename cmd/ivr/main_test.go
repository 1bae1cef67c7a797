package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ivr-gateway/ivr/internal/asdouble"
	"github.com/ivr-gateway/ivr/internal/redistest"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// TestServeConfiguration: a configuration with one problem stops start-up
// with one line naming it, and -h lists every variable.
func TestServeConfiguration(t *testing.T) {
	as := asdouble.Serve(t, &asdouble.Server{ClientID: "ivr-gateway", ClientSecret: "s"})
	_, prefix := redistest.Client(t) // its keys are deleted when the test ends
	good := map[string]string{
		"IVR_PUBLIC_URL": "https://ivr.example.test", "TWILIO_AUTH_TOKEN": "t",
		"IVR_SESSION_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "IVR_AUTH_ISSUER": as.Issuer,
		"IVR_CLIENT_ID": "ivr-gateway", "IVR_CLIENT_SECRET": "s", "REDIS_URL": redistest.URL(), "IVR_REDIS_PREFIX": prefix,
	}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range good {
			m[a] = b
		}
		m[k] = v
		return m
	}
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no auth token", with("TWILIO_AUTH_TOKEN", ""), "TWILIO_AUTH_TOKEN"},
		{"bad session key", with("IVR_SESSION_KEY", "short"), "IVR_SESSION_KEY"},
		{"bad number", with("IVR_MAX_ATTEMPTS", "three"), "IVR_MAX_ATTEMPTS"},
		{"bad duration", with("IVR_TOKEN_GRACE", "5"), "IVR_TOKEN_GRACE"},
		{"agent key without a name", with("IVR_AGENT_KEYS", "k1,:k2"), "IVR_AGENT_KEYS entry 2"},
		{"no long-poll allowed", with("IVR_AGENT_MAX_WAITERS", "0"), "IVR_AGENT_MAX_WAITERS"},
		{"no WebSocket session allowed", with("IVR_MAX_STREAMS", "0"), "IVR_MAX_STREAMS"},
		{"unknown Redis mode", with("IVR_REDIS_MODE", "clustered"), "IVR_REDIS_MODE"},
		{"unknown transport", with("IVR_TRANSPORT", "conversationrelay"), "IVR_TRANSPORT"},
		{"bad previous session key", with("IVR_SESSION_KEY_PREVIOUS", "MDEy"), "IVR_SESSION_KEY_PREVIOUS: key 1"},
		{"AS unreachable", with("IVR_AUTH_ISSUER", "http://127.0.0.1:1"), "authorization server"},
		{"wrong client secret", with("IVR_CLIENT_SECRET", "not-s"), "IVR_CLIENT_SECRET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A configuration that wrongly passes would serve until the
			// deadline.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var out, errb bytes.Buffer
			err := Run(ctx, []string{"serve", "-addr", "127.0.0.1:0"}, envOf(tt.env), nil, &out, &errb)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("err = %v; want one line mentioning %s", err, tt.want)
			}
		})
	}
	var out, errb bytes.Buffer
	err := Run(context.Background(), []string{"serve", "-h"}, envOf(nil), nil, &out, &errb)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("serve -h: %v", err)
	}
	for _, v := range []string{"IVR_ADDR", "IVR_PUBLIC_URL", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "REDIS_URL",
		"IVR_AUTH_ISSUER", "IVR_CLIENT_ID", "IVR_CLIENT_SECRET", "IVR_SCOPE", "IVR_RESOURCE", "IVR_AGENT_KEYS",
		"IVR_SESSION_KEY", "IVR_CALLER_LIMIT", "IVR_HANDOFF_URL", "IVR_HANDOFF_NUMBER", "IVR_FALLBACK_NUMBER",
		"IVR_MAX_ATTEMPTS", "IVR_TOKEN_GRACE", "IVR_REDIS_PREFIX", "IVR_AGENT_MAX_WAITERS",
		"IVR_REDIS_MODE", "IVR_SESSION_KEY_PREVIOUS", "IVR_MAX_STREAMS"} {
		if !strings.Contains(errb.String(), v) {
			t.Errorf("serve -h does not list %s", v)
		}
	}
}

func TestLoadECKey(t *testing.T) {
	dir := t.TempDir()
	write := func(name, pemType string, der []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: der}), 0o600)
		return p
	}
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	sec1, _ := x509.MarshalECPrivateKey(p256)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(p256)
	bad, _ := x509.MarshalECPrivateKey(p384)
	tests := []struct {
		path string
		ok   bool
	}{
		{write("sec1.pem", "EC PRIVATE KEY", sec1), true},
		{write("pkcs8.pem", "PRIVATE KEY", pkcs8), true},
		{write("p384.pem", "EC PRIVATE KEY", bad), false},
		{write("junk.pem", "EC PRIVATE KEY", []byte("junk")), false},
		{filepath.Join(dir, "missing.pem"), false},
	}
	for _, tt := range tests {
		if _, err := loadECKey(tt.path); (err == nil) != tt.ok {
			t.Errorf("%s: err=%v, want ok=%v", filepath.Base(tt.path), err, tt.ok)
		}
	}
}
