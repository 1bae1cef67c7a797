package agentapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ivr-gateway/ivr"
	"github.com/ivr-gateway/ivr/agentapi"
	"github.com/ivr-gateway/ivr/store"
)

// The keys of TestTokenReleaseAudit: two named, one bare (the second entry,
// so it is named agent-2).
const (
	aliceKey = "alice-secret-0123456789"
	bareKey  = "bare-secret-9876543210"
	bobKey   = "bob-secret-abcdefabcdef"
)

// TestTokenReleaseAudit: every token handed out, at once or after a wait,
// leaves one "token released" line naming the agent and the call, and counts
// in ivr_agent_token_releases_total{agent}. Neither the token nor any key
// (a bare one least of all) reaches the logs or the metrics.
func TestTokenReleaseAudit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withKeys("alice:"+aliceKey, bareKey, " bob : "+bobKey+" "), withMaxWait(time.Minute))
	verified, pending := newSid(), newSid()
	h.saveCall(t, verified, ivr.PhaseVerified, 1, testToken())
	h.saveCall(t, pending, ivr.PhaseVerifying, 1, nil)
	tokenPath := func(sid string) string { return "/v1/calls/" + sid + "/token" }

	for _, key := range []string{aliceKey, aliceKey, bareKey} {
		if res := h.get(t, tokenPath(verified), bearer(key)); res.status != http.StatusOK {
			t.Fatalf("status = %d, want 200; body %s", res.status, res.body)
		}
	}
	// Bob waits, and gets the token when it is written.
	done := h.getAsync(tokenPath(pending)+"?wait=1m", bearer(bobKey))
	h.waitForWaiter(t, done)
	sess := store.Session{CallSid: pending, Step: 2, Phase: ivr.PhaseVerified, Attempts: 1, VerifiedAt: verifiedAt}
	if err := h.store.Save(context.Background(), sess, 1, store.SaveExtras{Event: ivr.EventVerified, Token: testToken()}); err != nil {
		t.Fatalf("Save: %v", err)
	}
	if res := <-done; res.status != http.StatusOK {
		t.Fatalf("long-poll: status = %d, want 200; body %s", res.status, res.body)
	}
	// What hands out no token is not a release.
	h.get(t, tokenPath(newSid()), bearer(aliceKey))               // 404
	h.get(t, tokenPath(verified), bearer("not-a-key"))            // 401
	h.get(t, "/v1/calls/"+verified, bearer(aliceKey))             // the status
	h.get(t, tokenPath(verified)+"?wait=soon", bearer(bobKey))    // 400
	h.get(t, tokenPath("CA%7Bx%7D")+"?wait=1s", bearer(aliceKey)) // 404

	type release struct{ Agent, CallSid string }
	var got []release
	for _, line := range strings.Split(strings.TrimSpace(h.logs.String()), "\n") {
		var rec struct {
			Msg     string `json:"msg"`
			Level   string `json:"level"`
			Agent   string `json:"agent"`
			CallSid string `json:"call_sid"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		if rec.Msg == "token released" {
			if rec.Level != "INFO" {
				t.Errorf("release logged at %s, want INFO", rec.Level)
			}
			got = append(got, release{rec.Agent, rec.CallSid})
		}
	}
	want := []release{{"alice", verified}, {"alice", verified}, {"agent-2", verified}, {"bob", pending}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("release log lines (-want +got):\n%s", diff)
	}

	for agent, n := range map[string]float64{"alice": 2, "agent-2": 1, "bob": 1} {
		if got := h.metric(t, "ivr_agent_token_releases_total", agent); got != n {
			t.Errorf("ivr_agent_token_releases_total{agent=%q} = %v, want %v", agent, got, n)
		}
	}

	exposition := gatherText(t, h.reg)
	for _, secret := range []string{aliceKey, bareKey, bobKey, testToken().AccessToken} {
		if strings.Contains(h.logs.String(), secret) {
			t.Errorf("the logs contain %q:\n%s", secret, h.logs)
		}
		if strings.Contains(exposition, secret) {
			t.Errorf("the metrics contain %q:\n%s", secret, exposition)
		}
	}
}

// gatherText renders every metric of reg, names, labels and values, as text.
func gatherText(tb testing.TB, reg *prometheus.Registry) string {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		b.WriteString(mf.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// TestKeyEntries: IVR_AGENT_KEYS entries are "name:key" or a bare key named
// by its position; what cannot work is refused at start-up with an error
// that never quotes the entry (it holds a secret).
func TestKeyEntries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		entries []string
		names   []string // the agent label values, sorted; nil: New fails
	}{
		{"bare keys", []string{"k-one", "k-two"}, []string{"agent-1", "agent-2"}},
		{"named and bare", []string{"ops:k-one", "k-two"}, []string{"agent-2", "ops"}},
		{"blank entries keep positions", []string{"", "k-two"}, []string{"agent-2"}},
		{"spaces trimmed", []string{"  ops :  k-one "}, []string{"ops"}},
		{"one name, two keys (rotation)", []string{"ops:old-key", "ops:new-key"}, []string{"ops"}},
		{"a colon in the key after a name", []string{"ops:k:one"}, []string{"ops"}},
		{"no keys", nil, []string{}},
		{"empty key", []string{"ops:"}, nil},
		{"empty name", []string{":k-one"}, nil},
		{"name with a space", []string{"my agent:k-one"}, nil},
		{"name with a brace", []string{"{ops}:k-one"}, nil},
		{"name too long", []string{strings.Repeat("n", 65) + ":k-one"}, nil},
		{"same key twice", []string{"k-one", "k-one"}, nil},
		{"same key under two names", []string{"a:k-one", "b:k-one"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := prometheus.NewRegistry()
			_, err := agentapi.New(agentapi.Config{Keys: tt.entries, Registerer: reg}, nil)
			if tt.names == nil {
				if err == nil {
					t.Fatal("New accepted the entries")
				}
				for _, e := range tt.entries {
					key := e
					if _, k, ok := strings.Cut(e, ":"); ok {
						key = k
					}
					if key != "" && strings.Contains(err.Error(), key) {
						t.Errorf("error %q quotes the key", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			names := []string{}
			for _, mf := range mfs {
				if mf.GetName() != "ivr_agent_token_releases_total" {
					continue
				}
				for _, m := range mf.GetMetric() {
					for _, lp := range m.GetLabel() {
						names = append(names, lp.GetValue())
					}
				}
			}
			sort.Strings(names)
			if diff := cmp.Diff(tt.names, names); diff != "" {
				t.Errorf("agent names (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNamedKeysAuthenticate: each key of a rotation authenticates, under the
// shared name; the name alone or the whole entry does not.
func TestNamedKeysAuthenticate(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withKeys("ops:old-key-0001", "ops:new-key-0002", "k:with:colon"))
	sid := newSid()
	h.saveCall(t, sid, ivr.PhaseCollecting, 0, nil)
	for key, want := range map[string]int{
		"old-key-0001":     http.StatusOK,
		"new-key-0002":     http.StatusOK,
		"with:colon":       http.StatusOK,
		"ops":              http.StatusUnauthorized,
		"ops:old-key-0001": http.StatusUnauthorized,
		"k:with:colon":     http.StatusUnauthorized,
	} {
		if res := h.get(t, "/v1/calls/"+sid, bearer(key)); res.status != want {
			t.Errorf("key %q: status %d, want %d", key, res.status, want)
		}
	}
}
