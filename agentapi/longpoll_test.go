package agentapi_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ivr-gateway/ivr"
	"github.com/ivr-gateway/ivr/store"
)

// TestRegressionUnknownCallsDoNotWait is issue 9 item 5: 3,000 concurrent
// ?wait=30 requests for unknown call SIDs held 6,000 goroutines and 3,000
// file descriptors for 30 s. A call the gateway has never seen now answers
// 404 at once, without taking a waiting slot. The waits asked for (1 h) are
// far past the client's timeout, so a request that waited fails.
func TestRegressionUnknownCallsDoNotWait(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withMaxWait(time.Hour), withMaxWaiters(10))
	const n = 200
	results := make([]<-chan response, n)
	for i := range results {
		results[i] = h.getAsync("/v1/calls/"+newSid()+"/token?wait=1h", bearer(agentKey))
	}
	for _, done := range results {
		res := <-done
		if res.status != http.StatusNotFound {
			t.Fatalf("status = %d, want 404; body %s", res.status, res.body)
		}
		if diff := cmp.Diff(map[string]any{"error": "not_found"}, res.json(t)); diff != "" {
			t.Fatalf("body (-want +got):\n%s", diff)
		}
	}
	// None of them took a slot, so none was refused either (10 slots for
	// 200 requests).
	if got := h.metric(t, "ivr_agent_longpolls_refused_total", ""); got != 0 {
		t.Errorf("ivr_agent_longpolls_refused_total = %v, want 0", got)
	}
	if got := h.metric(t, "ivr_agent_longpolls_waiting", ""); got != 0 {
		t.Errorf("ivr_agent_longpolls_waiting = %v, want 0", got)
	}
}

// TestRegressionLongPollCap is the other half of issue 9 item 5: with a cap
// of N waiting requests, request N+1 gets 429 with Retry-After, is counted,
// and the waiting ones are unaffected. A plain read (no ?wait=) is never
// refused, and slots free up when waits end.
func TestRegressionLongPollCap(t *testing.T) {
	t.Parallel()
	const max = 5
	h := newHarness(t, withMaxWait(time.Hour), withMaxWaiters(max))
	sid := newSid()
	h.saveCall(t, sid, ivr.PhaseVerifying, 1, nil)
	path := "/v1/calls/" + sid + "/token"

	waiting := make([]<-chan response, max)
	for i := range waiting {
		waiting[i] = h.getAsync(path+"?wait=1h", bearer(agentKey))
	}
	h.waitForWaiters(t, max, nil)

	res := h.get(t, path+"?wait=1h", bearer(agentKey))
	if res.status != http.StatusTooManyRequests {
		t.Fatalf("request %d: status = %d, want 429; body %s", max+1, res.status, res.body)
	}
	if got := res.header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q, want \"1\"", got)
	}
	checkJSONHeaders(t, res)
	if diff := cmp.Diff(map[string]any{"error": "too_many_requests"}, res.json(t)); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	if got := h.metric(t, "ivr_agent_longpolls_refused_total", ""); got != 1 {
		t.Errorf("ivr_agent_longpolls_refused_total = %v, want 1", got)
	}
	if res := h.get(t, path, bearer(agentKey)); res.status != http.StatusNotFound {
		t.Errorf("plain read at the cap: status = %d, want 404; body %s", res.status, res.body)
	}

	sess := store.Session{CallSid: sid, Step: 2, Phase: ivr.PhaseVerified, Attempts: 1, VerifiedAt: verifiedAt}
	if err := h.store.Save(context.Background(), sess, 1, store.SaveExtras{Event: ivr.EventVerified, Token: testToken()}); err != nil {
		t.Fatalf("Save: %v", err)
	}
	for i, done := range waiting {
		if res := <-done; res.status != http.StatusOK {
			t.Errorf("waiter %d: status = %d, want 200; body %s", i, res.status, res.body)
		}
	}
	if got := h.metric(t, "ivr_agent_longpolls_waiting", ""); got != 0 {
		t.Errorf("ivr_agent_longpolls_waiting after the token = %v, want 0", got)
	}
	// The slots are free again: a wait on another call runs (and runs out).
	other := newSid()
	h.saveCall(t, other, ivr.PhaseCollecting, 0, nil)
	if res := h.get(t, "/v1/calls/"+other+"/token?wait=10ms", bearer(agentKey)); res.status != http.StatusNotFound {
		t.Errorf("wait after the slots freed: status = %d, want 404; body %s", res.status, res.body)
	}
}

// TestLongPollEndsWithTheCall: a call that fails, ends or vanishes while an
// agent waits answers 404 when the next status read sees it, not when the
// wait runs out (an hour here, past the client's timeout).
func TestLongPollEndsWithTheCall(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(t *testing.T, h *harness, sid string)
	}{
		{"failed", func(t *testing.T, h *harness, sid string) {
			sess := store.Session{CallSid: sid, Step: 2, Phase: ivr.PhaseFailed, Attempts: 3}
			if err := h.store.Save(context.Background(), sess, 1, store.SaveExtras{Event: ivr.EventFailed}); err != nil {
				t.Fatalf("Save: %v", err)
			}
		}},
		{"ended", func(t *testing.T, h *harness, sid string) {
			sess := store.Session{CallSid: sid, Step: 2, Phase: ivr.PhaseEnded, Attempts: 1}
			if err := h.store.Save(context.Background(), sess, 1, store.SaveExtras{Event: ivr.EventEnded}); err != nil {
				t.Fatalf("Save: %v", err)
			}
		}},
		{"session expired", func(t *testing.T, h *harness, sid string) {
			if err := h.rdb.Del(context.Background(), h.prefix+"call:{"+sid+"}").Err(); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, withMaxWait(time.Hour), withStatusEvery(10*time.Millisecond))
			sid := newSid()
			h.saveCall(t, sid, ivr.PhaseCollecting, 1, nil)
			done := h.getAsync("/v1/calls/"+sid+"/token?wait=1h", bearer(agentKey))
			h.waitForWaiter(t, done)
			tt.change(t, h, sid)
			res := <-done
			if res.status != http.StatusNotFound {
				t.Fatalf("status = %d, want 404; body %s", res.status, res.body)
			}
			if diff := cmp.Diff(map[string]any{"error": "not_found"}, res.json(t)); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLongPollOutlivesStatusReads: the periodic status reads do not end a
// wait on a call still in progress; the token still arrives.
func TestLongPollOutlivesStatusReads(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withMaxWait(time.Hour), withStatusEvery(time.Millisecond))
	sid := newSid()
	h.saveCall(t, sid, ivr.PhaseCollecting, 0, nil)
	done := h.getAsync("/v1/calls/"+sid+"/token?wait=1h", bearer(agentKey))
	h.waitForWaiter(t, done)
	// Let the watcher read the phase many times over.
	time.Sleep(50 * time.Millisecond)
	sess := store.Session{CallSid: sid, Step: 2, Phase: ivr.PhaseVerified, Attempts: 1, VerifiedAt: verifiedAt}
	if err := h.store.Save(context.Background(), sess, 1, store.SaveExtras{Event: ivr.EventVerified, Token: testToken()}); err != nil {
		t.Fatalf("Save: %v", err)
	}
	if res := <-done; res.status != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", res.status, res.body)
	}
}

func BenchmarkLongPollRefused(b *testing.B) {
	h := newHarness(b, withMaxWait(time.Hour), withMaxWaiters(1))
	sid := newSid()
	h.saveCall(b, sid, ivr.PhaseCollecting, 0, nil)
	done := h.getAsync("/v1/calls/"+sid+"/token?wait=1h", bearer(agentKey))
	h.waitForWaiter(b, done)
	b.ReportAllocs()
	for b.Loop() {
		if res := h.get(b, "/v1/calls/"+sid+"/token?wait=1h", bearer(agentKey)); res.status != http.StatusTooManyRequests {
			b.Fatalf("status %d", res.status)
		}
	}
	b.StopTimer()
	h.srv.CloseClientConnections()
	<-done
}

// waitForWaiter returns once a long-poll is waiting: it has looked for the
// token, not found it, and holds a waiting slot. A token written from then
// on wakes it (WaitToken looks again after subscribing).
func (h *harness) waitForWaiter(tb testing.TB, done <-chan response) {
	tb.Helper()
	h.waitForWaiters(tb, 1, done)
}

// waitForWaiters returns once n long-polls are waiting, read from the
// ivr_agent_longpolls_waiting gauge; nothing else signals it.
func (h *harness) waitForWaiters(tb testing.TB, n float64, done <-chan response) {
	tb.Helper()
	for h.metric(tb, "ivr_agent_longpolls_waiting", "") < n {
		select {
		case res := <-done:
			tb.Fatalf("long-poll answered %d (%s) before the token was written", res.status, res.body)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// metric returns the value of the metric name from the harness's registry,
// for the series whose agent label is agent ("" for unlabelled metrics);
// -1 when there is no such series.
func (h *harness) metric(tb testing.TB, name, agent string) float64 {
	tb.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		tb.Fatalf("Gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			label := ""
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "agent" {
					label = lp.GetValue()
				}
			}
			if label != agent {
				continue
			}
			switch {
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}
