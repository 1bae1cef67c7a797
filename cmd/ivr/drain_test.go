package main

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ivr-gateway/ivr/internal/app"
	"github.com/ivr-gateway/ivr/internal/asdouble"
	"github.com/ivr-gateway/ivr/internal/redistest"
	"github.com/ivr-gateway/ivr/internal/replay"
	"github.com/ivr-gateway/ivr/internal/twiliosim"
)

// TestDrainBeforeClosing: on SIGTERM /readyz turns 503 at once while the
// instance still answers webhooks for the drain delay, so a balancer takes
// it out of its pool before anything is refused; only then does the
// listener close.
func TestDrainBeforeClosing(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	as := &asdouble.Server{ClientID: "c", ClientSecret: "s", Patients: replay.Patients}
	asSrv := httptest.NewServer(as.Handler())
	defer asSrv.Close()
	as.Issuer = asSrv.URL
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	key := make([]byte, 32)
	rand.Read(key)
	a, err := app.New(context.Background(), app.Config{
		PublicURL: base, AuthToken: "tok", Redis: rdb, RedisPrefix: prefix, AuthIssuer: asSrv.URL,
		ClientID: "c", ClientSecret: "s", SessionKey: key, Languages: []string{"en-US"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	const delay = 700 * time.Millisecond
	go func() { done <- serveUntilDone(ctx, ln, a, slog.New(slog.DiscardHandler), delay) }()
	ready := func() int {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for deadline := time.Now().Add(5 * time.Second); ready() != http.StatusOK; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("never ready")
		}
	}
	stopped := time.Now()
	cancel()
	time.Sleep(50 * time.Millisecond)
	if got := ready(); got != http.StatusServiceUnavailable {
		t.Fatalf("/readyz while draining: %d, want 503", got)
	}
	// A call placed while draining is still served.
	_, turn, err := twiliosim.Dial(context.Background(), twiliosim.Config{BaseURL: base, PublicURL: base, AuthToken: "tok"})
	if err != nil || turn.Ended || turn.Gather == nil {
		t.Fatalf("a call while draining: %v %+v", err, turn)
	}
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if took := time.Since(stopped); took < delay {
		t.Errorf("the listener closed after %v, before the drain delay %v", took, delay)
	}
	if got := ready(); got != 0 {
		t.Errorf("/readyz after shutdown answered %d", got)
	}
}
