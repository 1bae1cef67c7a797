package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ivr-gateway/ivr/internal/asdouble"
	"github.com/ivr-gateway/ivr/internal/redistest"
)

// TestPhoneIsTheDemos (issue 13): `ivr demo` serves the phone in the
// browser at the URL its banner prints, and when it stops it hangs the
// page's calls up (the status callback reaches the gateway) before the
// gateway stops; `ivr serve` never serves the page or its API.
func TestPhoneIsTheDemos(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"demo", "-addr", "127.0.0.1:0", "-patients", "../../authserver/testdata/patients.json"},
			envOf(map[string]string{}), nil, &stdout, &stderr)
	}()
	stdout.waitFor(t, "/phone\n")
	m := regexp.MustCompile(`phone in the browser: (http://\S+/phone)\n`).FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("no phone URL in the banner:\n%s", stdout.String())
	}
	resp, err := http.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), `id="dial"`) {
		t.Fatalf("GET %s: %d\n%.300s", m[1], resp.StatusCode, page)
	}
	resp, err = http.Post(m[1]+"/api/calls", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	var call struct {
		CallSid string `json:"call_sid"`
	}
	json.NewDecoder(resp.Body).Decode(&call)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || call.CallSid == "" {
		t.Fatalf("dial from the page: %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the demo did not stop")
	}
	logs := stderr.String()
	if !regexp.MustCompile(`route=status call_sid=`+call.CallSid+` .*event=status_completed`).MatchString(logs) ||
		!strings.Contains(logs, "phone call hung up  call_sid="+call.CallSid+" why=shutdown status_callback_failed=false") {
		t.Errorf("the page's call was not hung up before the gateway stopped:\n%s", logs)
	}

	// ivr serve, on the same kind of gateway: no page, no API.
	as := asdouble.Serve(t, &asdouble.Server{ClientID: "ivr-gateway", ClientSecret: "s"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	base := "http://" + addr
	_, prefix := redistest.Client(t) // its keys are deleted when the test ends
	env := map[string]string{
		"IVR_PUBLIC_URL": base, "TWILIO_AUTH_TOKEN": "t", "IVR_SESSION_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		"IVR_AUTH_ISSUER": as.Issuer, "IVR_CLIENT_ID": "ivr-gateway", "IVR_CLIENT_SECRET": "s",
		"REDIS_URL": redistest.URL(), "IVR_REDIS_PREFIX": prefix, "IVR_DRAIN_DELAY": "0s",
	}
	sctx, scancel := context.WithCancel(context.Background())
	defer scancel()
	sdone := make(chan error, 1)
	go func() { sdone <- Run(sctx, []string{"serve", "-addr", addr}, envOf(env), nil, io.Discard, io.Discard) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ivr serve did not listen: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, r := range []struct{ method, path string }{{"GET", "/phone"}, {"GET", "/phone/static/phone.js"}, {"POST", "/phone/api/calls"}} {
		req, _ := http.NewRequest(r.method, base+r.path, strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("ivr serve answers %s %s with %d, want 404", r.method, r.path, resp.StatusCode)
		}
	}
	scancel()
	<-sdone
}
