package telephony_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ivr-gateway/ivr/internal/redistest"
	"github.com/ivr-gateway/ivr/internal/replay"
	"github.com/ivr-gateway/ivr/internal/twiliosim"
)

// The review's attack (issue 9, item 2): the upgrade of /twilio/stream is
// signed over the same URL for every call, so one leaked signature opens a
// stream for anyone. The binding in the start message must stop such a
// stream from touching any call but the one (and the step) its TwiML was
// given for, and from dropping or changing the caller reference.
func TestStreamBindingAttacks(t *testing.T) {
	tamper := []struct {
		name   string
		change func(sid string, p map[string]string) (string, map[string]string)
	}{
		{"another call's SID", func(sid string, p map[string]string) (string, map[string]string) {
			return "CA" + strings.Repeat("ab", 16), p
		}},
		{"no binding", func(sid string, p map[string]string) (string, map[string]string) {
			delete(p, "bind")
			return sid, p
		}},
		{"caller reference dropped", func(sid string, p map[string]string) (string, map[string]string) {
			delete(p, "caller")
			return sid, p
		}},
		{"caller reference changed", func(sid string, p map[string]string) (string, map[string]string) {
			p["caller"] = strings.Repeat("0", 32)
			return sid, p
		}},
		{"another step", func(sid string, p map[string]string) (string, map[string]string) {
			p["step"] = "4"
			return sid, p
		}},
		{"binding of another call", func(sid string, p map[string]string) (string, map[string]string) {
			p["bind"] = strings.Repeat("A", 43)
			return sid, p
		}},
	}
	for i, tt := range tamper {
		t.Run(tt.name, func(t *testing.T) {
			checkLeaks(t)
			e := newStreamEnv(t, fastClock{20})
			sid := fmt.Sprintf("CA%032x", 0xb1d000+i)
			doc := e.toDOB(sid)
			// A second call whose SID the attacker may name.
			e.toDOB("CA" + strings.Repeat("ab", 16))
			ts, _, err := e.dial(twiliosim.Sign(authToken, doc.Connect.Stream.URL, nil))
			if err != nil {
				t.Fatal(err)
			}
			ts.send(`{"event":"connected","protocol":"Call","version":"1.0.0"}`)
			target, params := tt.change(sid, doc.params())
			ts.start(target, params)
			ts.dtmf("01051980")
			if code := ts.closed(); code != websocket.ClosePolicyViolation {
				t.Fatalf("close code %d, want 1008", code)
			}
			if got := e.metric("ivr_streams_refused_total", "reason", "binding"); got != 1 {
				t.Errorf("refused{binding} = %v, want 1", got)
			}
			for _, s := range []string{sid, "CA" + strings.Repeat("ab", 16)} {
				// Both calls are still at the date of birth, unanswered.
				if twiml := e.finish(doc, s); !strings.Contains(twiml, "stream-done?step=3") {
					t.Errorf("call %s moved: %s", s, twiml)
				}
			}
		})
	}
}

// TestStreamOnePerCall: a second stream for a call that has a live one is
// refused, wherever it lands (the claim is in Redis); the first goes on.
func TestStreamOnePerCall(t *testing.T) {
	checkLeaks(t)
	e := newStreamEnv(t, fastClock{1})
	sid := "CA000000000000000000000000000d0b1e"
	doc := e.toDOB(sid)
	first := e.open(doc, sid)
	first.next("media") // the first stream is live: its prompt plays
	second := e.open(doc, sid)
	if code := second.closed(); code != websocket.ClosePolicyViolation {
		t.Fatalf("second stream: close code %d, want 1008", code)
	}
	if got := e.metric("ivr_streams_refused_total", "reason", "duplicate"); got != 1 {
		t.Errorf("refused{duplicate} = %v, want 1", got)
	}
	first.dtmf("01051980")
	first.next("clear")
	first.next("media") // the SSN question: the first stream still serves the call
}

// TestStreamCap: past IVR_MAX_STREAMS live sessions the upgrade is refused
// (503) before it happens, and counted.
func TestStreamCap(t *testing.T) {
	checkLeaks(t)
	e := newStreamEnv(t, fastClock{1})
	sig := twiliosim.Sign(authToken, "wss://ivr.example.test/twilio/stream", nil)
	for range maxSockets {
		if _, _, err := e.dial(sig); err != nil {
			t.Fatal(err)
		}
	}
	waitMetric(t, e, "ivr_streams_active", maxSockets)
	_, resp, err := e.dial(sig)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("upgrade past the cap: %v %v, want 503", resp, err)
	}
	if got := e.metric("ivr_streams_refused_total", "reason", "cap"); got != 1 {
		t.Errorf("refused{cap} = %v, want 1", got)
	}
}

func waitMetric(t *testing.T, e *streamEnv, name string, want float64) {
	t.Helper()
	end := time.Now().Add(5 * time.Second)
	for e.metric(name) != want {
		if time.Now().After(end) {
			t.Fatalf("%s = %v, want %v", name, e.metric(name), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStreamRouteOnlyWhenUsed: with IVR_TRANSPORT=gather the stream routes
// are not there: an upgrade, signed for a stream or not, is answered by the
// catch-all for /twilio/ (403: it is not a signed webhook), and nothing is
// upgraded.
func TestStreamRouteOnlyWhenUsed(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	h, err := replay.Start(context.Background(), replay.HarnessConfig{
		PublicURL: publicURL, AuthToken: authToken, Redis: rdb, Prefix: prefix,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	url := "ws" + strings.TrimPrefix(h.URL, "http") + "/twilio/stream"
	for _, tt := range []struct {
		sig  string
		want int
	}{
		{twiliosim.Sign(authToken, "wss://ivr.example.test/twilio/stream", nil), http.StatusForbidden},
		{"", http.StatusForbidden},
	} {
		hdr := http.Header{}
		if tt.sig != "" {
			hdr.Set("X-Twilio-Signature", tt.sig)
		}
		_, resp, err := websocket.DefaultDialer.Dial(url, hdr)
		if err == nil || resp == nil || resp.StatusCode != tt.want {
			t.Errorf("upgrade (signed: %v): %v %v, want %d", tt.sig != "", resp, err, tt.want)
		}
	}
}
