package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestPprofLoopbackOnly: the profiler of `ivr serve -pprof` and `ivr
// authserver -pprof` listens on loopback only, and answers there.
func TestPprofLoopbackOnly(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tt := range []struct {
		addr, wantErr string
	}{
		{"127.0.0.1:0", ""},
		{"localhost:0", ""},
		{"[::1]:0", ""},
		{"0.0.0.0:6060", "only a loopback address"},
		{"10.0.0.5:6060", "only a loopback address"},
		{":6060", "only a loopback address"},
		{"6060", "want HOST:PORT"},
	} {
		t.Run(tt.addr, func(t *testing.T) {
			stop, err := startPprof(tt.addr, log)
			if tt.wantErr != "" {
				if err == nil {
					stop()
					t.Fatalf("startPprof(%q) listened; want an error mentioning %q", tt.addr, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("startPprof(%q): %v; want it to mention %q", tt.addr, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				if strings.Contains(tt.addr, "::1") {
					t.Skipf("no IPv6 loopback here: %v", err)
				}
				t.Fatal(err)
			}
			stop()
		})
	}
}

// TestAuthServerPprof: `ivr authserver -pprof ADDR` serves the profiler
// index while the AS runs, and refuses a non-loopback address at start.
func TestAuthServerPprof(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		var out, errb strings.Builder
		done <- Run(ctx, []string{"authserver", "-addr", "127.0.0.1:0", "-patients", "../../authserver/testdata/patients.json", "-pprof", addr},
			envOf(map[string]string{"IVR_AS_CLIENTS": "c:s"}), nil, &out, &errb)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/debug/pprof/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("profiler index: %s", resp.Status)
			}
			break
		}
		select {
		case err := <-done:
			t.Fatalf("authserver ended before its profiler answered: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("profiler not answering at %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("authserver ended with %v", err)
	}
	err = Run(context.Background(), []string{"authserver", "-addr", "127.0.0.1:0", "-pprof", "0.0.0.0:0"},
		envOf(map[string]string{"IVR_AS_CLIENTS": "c:s"}), nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("authserver -pprof 0.0.0.0:0: %v; want a refusal naming loopback", err)
	}
}
