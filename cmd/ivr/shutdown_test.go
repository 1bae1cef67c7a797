package main

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ivr-gateway/ivr/internal/app"
	"github.com/ivr-gateway/ivr/internal/asdouble"
	"github.com/ivr-gateway/ivr/internal/redistest"
	"github.com/ivr-gateway/ivr/internal/replay"
	"github.com/ivr-gateway/ivr/internal/twiliosim"
	"github.com/ivr-gateway/ivr/store"
)

// TestGracefulShutdown: a verification still running when the gateway is
// told to stop (the caller is on hold, the AS is slow) finishes and lands in
// Redis before the process lets go of it.
func TestGracefulShutdown(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	as := &asdouble.Server{ClientID: "c", ClientSecret: "s", Patients: replay.Patients}
	asSrv := httptest.NewServer(as.Handler())
	defer asSrv.Close()
	as.Issuer = asSrv.URL
	as.SetDelay(1500 * time.Millisecond)

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
		VerifyWait: 100 * time.Millisecond,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveUntilDone(ctx, ln, a, slog.New(slog.DiscardHandler), 0) }()

	call, turn, err := twiliosim.Dial(context.Background(), twiliosim.Config{BaseURL: base, PublicURL: base, AuthToken: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []func() (*twiliosim.Turn, error){
		func() (*twiliosim.Turn, error) { return call.Say(context.Background(), "Maria Garcia", 0.9) },
		func() (*twiliosim.Turn, error) { return call.Press(context.Background(), "01051980") },
	} {
		if turn, err = step(); err != nil || turn.Ended {
			t.Fatalf("turn: %v %+v", err, turn)
		}
	}
	// The last answer: the webhook puts the caller on hold and the
	// verification goes on in the background. The simulator would follow the
	// poll; stop the server while it is still waiting instead.
	go call.Press(context.Background(), "1234")
	deadline := time.Now().Add(5 * time.Second)
	for len(as.Requests()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("shutdown did not finish")
	}
	st, err := store.New(rdb, store.Options{Prefix: prefix, SessionKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sess, err := st.Load(context.Background(), call.Sid())
	if err != nil {
		t.Fatal(err)
	}
	if sess.Phase != "verified" {
		t.Errorf("phase after shutdown = %q, want verified (the background verification was lost)", sess.Phase)
	}
	if _, err := st.Token(context.Background(), call.Sid()); err != nil {
		t.Errorf("token after shutdown: %v", err)
	}
}
