package agentapi_test

// Regression tests for bugs found in agentapi.go while writing its tests.

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ivr-gateway/ivr"
	"github.com/ivr-gateway/ivr/internal/redistest"
	"github.com/ivr-gateway/ivr/store"
)

// TestCallSealBroken: a call whose sealed answers no longer open (the
// session was written under another IVR_SESSION_KEY, e.g. during a key
// rotation) still has a known state; state, attempts and verified_at are not
// sealed, and the API reads only them (store.Status, issue 11).
func TestCallSealBroken(t *testing.T) {
	t.Parallel()
	rdb, prefix := redistest.Client(t)
	h := newHarnessOn(t, rdb, prefix)
	other, err := store.New(rdb, store.Options{Prefix: prefix, SessionKey: bytes.Repeat([]byte{0x01}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	sid := newSid()
	sess := store.Session{CallSid: sid, Step: 1, Phase: ivr.PhaseCollecting, Attempts: 1, Answers: []byte(personalData[0])}
	if err := other.Save(context.Background(), sess, 0, store.SaveExtras{}); err != nil {
		t.Fatal(err)
	}

	res := h.get(t, "/v1/calls/"+sid, bearer(agentKey))
	if res.status != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", res.status, res.body)
	}
	want := map[string]any{"call_sid": sid, "state": "collecting", "attempts": float64(1), "verified_at": nil}
	if diff := cmp.Diff(want, res.json(t)); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

// TestClientGivesUpIsNotAnError: an agent that stops waiting (its own
// timeout, a redeploy) is routine; the long-poll ends without an error log
// line and without answering 503 to nobody.
func TestClientGivesUpIsNotAnError(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withMaxWait(time.Hour))
	sid := newSid()
	h.saveCall(t, sid, ivr.PhaseVerifying, 1, nil)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := h.do(ctx, "/v1/calls/"+sid+"/token?wait=1h", bearer(agentKey))
		errc <- err
	}()
	h.waitForWaiter(t, nil)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("request error = %v, want context.Canceled", err)
	}
	h.srv.Close() // waits for the handler to return
	if logs := h.logs.String(); strings.Contains(logs, `"level":"ERROR"`) {
		t.Errorf("a cancelled long-poll logged an error:\n%s", logs)
	}
}

// TestBearerSchemeCaseInsensitive: RFC 9110 §11.1 makes the auth scheme
// case-insensitive, and some HTTP clients send "bearer".
func TestBearerSchemeCaseInsensitive(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	sid := newSid()
	h.saveCall(t, sid, ivr.PhaseCollecting, 0, nil)
	for _, auth := range []string{"bearer " + agentKey, "BEARER " + agentKey} {
		if res := h.get(t, "/v1/calls/"+sid, auth); res.status != http.StatusOK {
			t.Errorf("Authorization %q...: status %d, want 200", auth[:6], res.status)
		}
	}
}

// TestTokenSealedUnderAnotherKey: a token this instance cannot open (sealed
// under an IVR_SESSION_KEY it does not hold) is no token to the agent, 404
// at once even with ?wait=, and a warning to the operator that names the
// call and nothing of the token.
func TestTokenSealedUnderAnotherKey(t *testing.T) {
	t.Parallel()
	rdb, prefix := redistest.Client(t)
	h := newHarnessOn(t, rdb, prefix, withMaxWait(time.Hour))
	other, err := store.New(rdb, store.Options{Prefix: prefix, SessionKey: bytes.Repeat([]byte{0x01}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	sid := newSid()
	sess := store.Session{CallSid: sid, Step: 1, Phase: ivr.PhaseVerified, Attempts: 1, VerifiedAt: verifiedAt}
	if err := other.Save(context.Background(), sess, 0, store.SaveExtras{Token: testToken()}); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v1/calls/" + sid + "/token", "/v1/calls/" + sid + "/token?wait=1h"} {
		if res := h.get(t, path, bearer(agentKey)); res.status != http.StatusNotFound {
			t.Errorf("%s: status = %d, want 404; body %s", path, res.status, res.body)
		}
	}
	logs := h.logs.String()
	if !strings.Contains(logs, "stored token does not open") || !strings.Contains(logs, sid) {
		t.Errorf("no warning naming the call:\n%s", logs)
	}
	if strings.Contains(logs, testToken().AccessToken) || strings.Contains(logs, "token released") {
		t.Errorf("the logs hold the token or a release:\n%s", logs)
	}
}
