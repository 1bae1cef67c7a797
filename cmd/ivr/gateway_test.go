package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ivr-gateway/ivr/internal/app"
	"github.com/ivr-gateway/ivr/internal/asdouble"
	"github.com/ivr-gateway/ivr/internal/redistest"
	"github.com/ivr-gateway/ivr/internal/replay"
	"github.com/ivr-gateway/ivr/internal/testlog"
)

// testGateway is an in-process gateway on loopback with the AS double and
// the fixtures' patients and organisation, on the real Redis under a prefix
// of its own, its JSON log captured.
type testGateway struct {
	URL, Token string
	AS         *asdouble.Server
	App        *app.App
	Logs       *testlog.Buffer
}

const testAgentKey = "agent-key-for-cmd-tests"

// startGateway starts a testGateway; mod adjusts its configuration
// (CallerLimit, HandoffURL, ...) and asMod the AS double before either
// serves.
func startGateway(t *testing.T, mod func(*app.Config), asMod func(*asdouble.Server)) *testGateway {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	as := &asdouble.Server{ClientID: replay.ClientID, ClientSecret: replay.ClientSecret, Patients: replay.Patients,
		Scope: replay.Scope, Resource: replay.Resource}
	if asMod != nil {
		asMod(as)
	}
	asdouble.Serve(t, as)
	srv := httptest.NewUnstartedServer(nil)
	g := &testGateway{URL: "http://" + srv.Listener.Addr().String(), Token: "cmd-test-token", AS: as, Logs: &testlog.Buffer{}}
	key := make([]byte, 32)
	rand.Read(key)
	cfg := app.Config{
		PublicURL: g.URL, AuthToken: g.Token, Redis: rdb, RedisPrefix: prefix,
		AuthIssuer: as.Issuer, ClientID: replay.ClientID, ClientSecret: replay.ClientSecret, Scope: replay.Scope, Resource: replay.Resource,
		AgentKeys: []string{testAgentKey}, SessionKey: key, MaxAttempts: 3, Languages: []string{"en-US", "es-US"},
		OrgName: "Example Health", HoldPause: 100 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewJSONHandler(g.Logs, &slog.HandlerOptions{ReplaceAttr: testlog.NoTime})))
	if err != nil {
		t.Fatal(err)
	}
	g.App = a
	srv.Config.Handler = a.Handler
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		a.Shutdown(ctx)
	})
	return g
}

// logLine is one JSON log line of the gateway.
type logLine map[string]any

// lines returns the captured log lines whose msg is msg.
func (g *testGateway) lines(t *testing.T, msg string) []logLine {
	t.Helper()
	var out []logLine
	sc := bufio.NewScanner(strings.NewReader(g.Logs.String()))
	for sc.Scan() {
		var l logLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		if l["msg"] == msg {
			out = append(out, l)
		}
	}
	return out
}

// call runs `ivr call` in process against g with stdin.
func (g *testGateway) call(ctx context.Context, stdin string, args ...string) (string, error) {
	var out syncBuffer
	err := Run(ctx, append([]string{"call", "-url", g.URL, "-token", g.Token}, args...), envOf(nil), strings.NewReader(stdin), &out, &out)
	return out.String(), err
}

// syncBuffer is a strings.Builder safe for concurrent writes, which
// signals when what it holds first contains a string (see waitFor).
type syncBuffer struct {
	mu   sync.Mutex
	b    strings.Builder
	wake chan struct{}
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.wake != nil {
		close(b.wake)
		b.wake = nil
	}
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// waitFor waits until the buffer contains s, or fails the test after 10 s.
func (b *syncBuffer) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		b.mu.Lock()
		if strings.Contains(b.b.String(), s) {
			b.mu.Unlock()
			return
		}
		wake := make(chan struct{})
		b.wake = wake
		b.mu.Unlock()
		select {
		case <-wake:
		case <-deadline:
			t.Fatalf("timed out waiting for %q in:\n%s", s, b.String())
		}
	}
}
