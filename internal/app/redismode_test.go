package app

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ivr-gateway/ivr/internal/asdouble"
	"github.com/ivr-gateway/ivr/internal/redistest"
	"github.com/ivr-gateway/ivr/internal/twiliosim"
)

// TestRedisModes builds the gateway from REDIS_URL and IVR_REDIS_MODE in
// each mode (through internal/redisconn) and checks that /readyz names the
// mode.
func TestRedisModes(t *testing.T) {
	as := &asdouble.Server{ClientID: "c", ClientSecret: "s", Patients: []asdouble.Patient{
		{ID: "pat-1", Given: "Maria", Family: "Garcia", Birthdate: "1980-01-05", SSN4: "1234"}}}
	srv := httptest.NewServer(as.Handler())
	defer srv.Close()
	as.Issuer = srv.URL
	for _, mode := range redistest.Modes {
		t.Run(mode, func(t *testing.T) {
			_, prefix := redistest.ModeClient(t, mode) // skips (or fails) when the mode is not available
			cfg := testConfig(t, srv.URL)
			cfg.Redis, cfg.RedisURL, cfg.RedisMode, cfg.RedisPrefix = nil, redistest.ModeURL(mode), mode, prefix
			a, err := New(context.Background(), cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			code, body := get(t, a.Handler, "/readyz")
			if code != 200 || !strings.Contains(body, `"redis":"ok"`) || !strings.Contains(body, `"redis_mode":"`+mode+`"`) {
				t.Errorf("readyz: %d %q", code, body)
			}
			// A whole call on this mode: verified, and its token handed to
			// the agent (the long-poll wake-up crosses Pub/Sub of the mode).
			gw := httptest.NewServer(a.Handler)
			defer gw.Close()
			call, turn, err := twiliosim.Dial(context.Background(), twiliosim.Config{BaseURL: gw.URL, PublicURL: cfg.PublicURL, AuthToken: cfg.AuthToken})
			if err != nil {
				t.Fatal(err)
			}
			waited := make(chan int, 1)
			go func() {
				req, _ := http.NewRequest("GET", gw.URL+"/v1/calls/"+call.Sid()+"/token?wait=10s", nil)
				req.Header.Set("Authorization", "Bearer k")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					waited <- 0
					return
				}
				resp.Body.Close()
				waited <- resp.StatusCode
			}()
			for _, answer := range []func() (*twiliosim.Turn, error){
				func() (*twiliosim.Turn, error) { return call.Say(context.Background(), "Maria Garcia", 0.9) },
				func() (*twiliosim.Turn, error) { return call.Press(context.Background(), "01051980") },
				func() (*twiliosim.Turn, error) { return call.Press(context.Background(), "1234") },
			} {
				if turn.Ended {
					t.Fatalf("call ended early: %s", turn.End)
				}
				if turn, err = answer(); err != nil {
					t.Fatal(err)
				}
			}
			if !turn.Ended || len(turn.Heard) == 0 || !strings.Contains(turn.Heard[0].Text, "verified") {
				t.Fatalf("last turn: %+v", turn)
			}
			if got := <-waited; got != http.StatusOK {
				t.Errorf("agent long-poll answered %d, want 200", got)
			}
		})
	}
	t.Run("a mode without REDIS_URL", func(t *testing.T) {
		cfg := testConfig(t, srv.URL)
		cfg.Redis, cfg.RedisURL, cfg.RedisMode = nil, "", "cluster"
		if _, err := New(context.Background(), cfg, nil); err == nil || !strings.Contains(err.Error(), "needs REDIS_URL") {
			t.Errorf("New: err = %v, want one saying the mode needs REDIS_URL", err)
		}
	})
	t.Run("several nodes in single mode", func(t *testing.T) {
		cfg := testConfig(t, srv.URL)
		cfg.Redis, cfg.RedisURL, cfg.RedisMode = nil, "redis://127.0.0.1:7101?addr=127.0.0.1:7102", ""
		if _, err := New(context.Background(), cfg, nil); err == nil || !strings.Contains(err.Error(), "set IVR_REDIS_MODE=cluster or sentinel") {
			t.Errorf("New: err = %v, want the hint to set IVR_REDIS_MODE", err)
		}
	})
}

// TestReadyClusterNotServing: /readyz answers 503 while the cluster says it
// cannot serve (a slot without a primary), and 200 once it can. The
// cluster is a one-node cluster of this test's own, so that taking a slot
// away disturbs no other test.
func TestReadyClusterNotServing(t *testing.T) {
	addr := redistest.StartServer(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf").Addr
	ctx := context.Background()
	node := redis.NewClient(&redis.Options{Addr: addr})
	defer node.Close()
	if err := node.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err(); err != nil {
		t.Fatal(err)
	}
	state := func(want string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if info, _ := node.ClusterInfo(ctx).Result(); strings.Contains(info, "cluster_state:"+want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the cluster did not reach cluster_state:%s", want)
			}
		}
	}
	as := &asdouble.Server{ClientID: "c", ClientSecret: "s", Patients: []asdouble.Patient{
		{ID: "pat-1", Given: "Maria", Family: "Garcia", Birthdate: "1980-01-05", SSN4: "1234"}}}
	srv := httptest.NewServer(as.Handler())
	defer srv.Close()
	as.Issuer = srv.URL
	ready := func() (int, string) {
		t.Helper()
		cfg := testConfig(t, srv.URL)
		cfg.Redis, cfg.RedisURL, cfg.RedisMode = nil, "redis://"+addr, "cluster"
		a, err := New(ctx, cfg, nil) // a fresh App: /readyz caches its answer
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		return get(t, a.Handler, "/readyz")
	}

	state("ok")
	if code, body := ready(); code != 200 || !strings.Contains(body, `"redis_mode":"cluster"`) {
		t.Errorf("readyz of a serving cluster: %d %q", code, body)
	}
	if err := node.Do(ctx, "CLUSTER", "DELSLOTS", 7000).Err(); err != nil {
		t.Fatal(err)
	}
	state("fail")
	if code, body := ready(); code != 503 || !strings.Contains(body, `"redis":"not_serving"`) {
		t.Errorf("readyz of a cluster missing a slot: %d %q", code, body)
	}
	if err := node.Do(ctx, "CLUSTER", "ADDSLOTS", 7000).Err(); err != nil {
		t.Fatal(err)
	}
	state("ok")
	if code, body := ready(); code != 200 {
		t.Errorf("readyz once the slot is back: %d %q", code, body)
	}
}
