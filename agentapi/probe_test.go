package agentapi_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ivr-gateway/ivr"
	"github.com/ivr-gateway/ivr/internal/redistest"
)

// redisCommands is a go-redis hook that records every command the store
// sends, so a test can show that a request never reached Redis.
type redisCommands struct {
	mu   sync.Mutex
	cmds []string
}

func (c *redisCommands) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return next(ctx, network, addr)
	}
}

func (c *redisCommands) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.add(cmd)
		return next(ctx, cmd)
	}
}

func (c *redisCommands) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			c.add(cmd)
		}
		return next(ctx, cmds)
	}
}

func (c *redisCommands) add(cmd redis.Cmder) {
	s := fmt.Sprint(cmd.Args()...)
	c.mu.Lock()
	c.cmds = append(c.cmds, s)
	c.mu.Unlock()
}

func (c *redisCommands) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	cmds := c.cmds
	c.cmds = nil
	return cmds
}

// TestProbes re-runs the security review's probes of the agent API (issue
// 9, "Also"): path tricks, odd call SIDs, absurd waits, wrong methods and
// oversized headers. Each gets a clear 4xx (401 first when the key is
// missing), never a 5xx, a redirect or a wait (MaxWait is an hour, past the
// client's timeout), and none reaches Redis, so no key name is ever built
// from the raw input.
func TestProbes(t *testing.T) {
	t.Parallel()
	rdb, prefix := redistest.Client(t)
	cmds := &redisCommands{}
	rdb.AddHook(cmds)
	h := newHarnessOn(t, rdb, prefix, withMaxWait(time.Hour))
	// Redirects are answers to check, not to follow.
	h.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	verified, collecting := newSid(), newSid()
	h.saveCall(t, verified, ivr.PhaseVerified, 1, testToken())
	h.saveCall(t, collecting, ivr.PhaseCollecting, 0, nil)
	hexPart := verified[2:]
	if len(cmds.take()) == 0 {
		t.Fatal("the hook saw none of the setup's commands")
	}

	tests := []struct {
		name   string
		method string
		path   string
		header http.Header
		want   int // with the right key; without it, 401
	}{
		{"dot-dot slash encoded", "GET", "/v1/calls/..%2f" + verified + "/token", nil, 404},
		{"dot-dot slash encoded, upper case", "GET", "/v1/calls/..%2F" + verified + "/token", nil, 404},
		{"slash inside the SID", "GET", "/v1/calls/" + verified + "%2Ftoken", nil, 404},
		{"dot segment", "GET", "/v1/calls/./" + verified + "/token", nil, 404},
		{"dot-dot segment", "GET", "/v1/calls/x/../" + verified + "/token", nil, 404},
		{"dot-dot out of the API", "GET", "/v1/calls/../../v1/calls/" + verified + "/token", nil, 404},
		{"double slash before the SID", "GET", "/v1/calls//" + verified + "/token", nil, 404},
		{"double slash in the prefix", "GET", "/v1//calls/" + verified + "/token", nil, 404},
		{"double slash before token", "GET", "/v1/calls/" + verified + "//token", nil, 404},
		{"trailing slash after token", "GET", "/v1/calls/" + verified + "/token/", nil, 404},
		{"trailing slash after the SID", "GET", "/v1/calls/" + verified + "/", nil, 404},
		{"no SID", "GET", "/v1/calls/", nil, 404},
		{"no SID, token", "GET", "/v1/calls//token", nil, 404},
		{"percent-encoded SID", "GET", "/v1/calls/%43%41" + hexPart + "/token", nil, 404},
		{"SID with braces (hash tag)", "GET", "/v1/calls/%7B" + verified + "%7D/token", nil, 404},
		{"SID with a brace inside", "GET", "/v1/calls/CA%7B" + hexPart[1:] + "/token", nil, 404},
		{"SID with a colon", "GET", "/v1/calls/CA:" + hexPart[1:] + "/token", nil, 404},
		{"SID with a star", "GET", "/v1/calls/CA*/token", nil, 404},
		{"SID with a NUL", "GET", "/v1/calls/" + verified + "%00/token", nil, 404},
		{"10 KB SID", "GET", "/v1/calls/CA" + strings.Repeat("a", 10240) + "/token", nil, 404},
		{"10 KB SID, status", "GET", "/v1/calls/CA" + strings.Repeat("0", 10240), nil, 404},
		{"unknown subresource", "GET", "/v1/calls/" + verified + "/answers", nil, 404},
		{"outside the API", "GET", "/v1/admin", nil, 404},
		{"wait in exponent form", "GET", "/v1/calls/" + collecting + "/token?wait=1e9h", nil, 400},
		{"negative wait", "GET", "/v1/calls/" + collecting + "/token?wait=-1s", nil, 400},
		{"overflowing wait", "GET", "/v1/calls/" + collecting + "/token?wait=9999999999999h", nil, 400},
		{"wait with a unit only", "GET", "/v1/calls/" + collecting + "/token?wait=h", nil, 400},
		{"POST", "POST", "/v1/calls/" + verified + "/token", nil, 405},
		{"PUT", "PUT", "/v1/calls/" + verified + "/token", nil, 405},
		{"DELETE", "DELETE", "/v1/calls/" + verified, nil, 405},
		{"PATCH", "PATCH", "/v1/calls/" + verified, nil, 405},
		{"HEAD", "HEAD", "/v1/calls/" + verified + "/token", nil, 405},
		{"OPTIONS", "OPTIONS", "/v1/calls/" + verified + "/token", nil, 405},
		{"64 KB header", "GET", "/v1/calls/" + collecting + "/token?wait=1e9h", http.Header{"X-Junk": {strings.Repeat("j", 64<<10)}}, 400},
		// Past the server's MaxHeaderBytes: net/http answers before any
		// handler, with or without a key.
		{"2 MB header", "GET", "/v1/calls/" + verified + "/token", http.Header{"X-Junk": {strings.Repeat("j", 2<<20)}}, 431},
	}
	for _, tt := range tests {
		for _, withKey := range []bool{true, false} {
			want := tt.want
			auth := ""
			if withKey {
				auth = bearer(agentKey)
			} else if want != http.StatusRequestHeaderFieldsTooLarge {
				want = http.StatusUnauthorized
			}
			t.Run(fmt.Sprintf("%s key=%v", tt.name, withKey), func(t *testing.T) {
				t.Parallel()
				req, err := http.NewRequest(tt.method, h.srv.URL+tt.path, nil)
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range tt.header {
					req.Header[k] = v
				}
				if auth != "" {
					req.Header.Set("Authorization", auth)
				}
				res, err := h.client.Do(req)
				if err != nil {
					t.Fatalf("%s %s: %v", tt.method, tt.path, err)
				}
				defer res.Body.Close()
				body, _ := io.ReadAll(res.Body)
				if res.StatusCode != want {
					t.Fatalf("status = %d, want %d; body %.200s", res.StatusCode, want, body)
				}
				if want == http.StatusRequestHeaderFieldsTooLarge || tt.method == http.MethodHead {
					return
				}
				checkJSONHeaders(t, response{status: res.StatusCode, header: res.Header, body: body})
				if want == http.StatusMethodNotAllowed && res.Header.Get("Allow") != "GET" {
					t.Errorf("Allow = %q, want GET", res.Header.Get("Allow"))
				}
			})
		}
	}
	t.Cleanup(func() {
		// Runs after the parallel subtests.
		if got := cmds.take(); len(got) > 0 {
			t.Errorf("the probes reached Redis:\n%s", strings.Join(got, "\n"))
		}
	})
}

// TestProbesThroughWrap: mounted in front of the gateway's other routes
// (Wrap), the API answers the paths a ServeMux would redirect (double
// slashes, dot segments) itself: 401 without a key, 404 with one, and never
// a redirect. Other paths go on to the next handler.
func TestProbesThroughWrap(t *testing.T) {
	t.Parallel()
	rdb, prefix := redistest.Client(t)
	h := newHarnessOn(t, rdb, prefix)
	sid := newSid()
	h.saveCall(t, sid, ivr.PhaseVerified, 1, testToken())

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	srv := httptest.NewServer(h.api.Wrap(mux))
	t.Cleanup(srv.Close)
	client := srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	tests := []struct {
		path          string
		withKey, want int
	}{
		{"/v1/calls/" + sid + "/token", 200, 401},
		{"/v1/calls//" + sid + "/token", 404, 401},
		{"/v1//calls/" + sid, 404, 401},
		{"/v1/calls/../calls/" + sid + "/token", 404, 401},
		{"/v1/./calls/" + sid, 404, 401},
		{"/v1", 404, 401},
		{"/healthz", 200, 200},
	}
	for _, tt := range tests {
		for _, withKey := range []bool{true, false} {
			req, err := http.NewRequest("GET", srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if withKey {
				req.Header.Set("Authorization", bearer(agentKey))
				want = tt.withKey
			}
			res, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != want {
				t.Errorf("GET %s (key %v): status %d, want %d", tt.path, withKey, res.StatusCode, want)
			}
		}
	}
}
