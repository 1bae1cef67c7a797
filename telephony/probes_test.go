package telephony_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/ivr-gateway/ivr/internal/redistest"
	"github.com/ivr-gateway/ivr/internal/replay"
	"github.com/ivr-gateway/ivr/internal/twiliosim"
)

// TestSignatureGames re-runs the security review's probes (issue 9):
// a signature is good for exactly one URL and one form. Each probe is a
// signed request changed the way an attacker who saw it would change it;
// every one gets a bare 403 and changes nothing.
func TestSignatureGames(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	h, err := replay.Start(context.Background(), replay.HarnessConfig{
		PublicURL: publicURL, AuthToken: authToken, Redis: rdb, Prefix: prefix,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	const sid = "CA000000000000000000000000000b10b5"
	const other = "CA000000000000000000000000000a77ac"
	for _, s := range []string{sid, other} {
		if rec := post(h.App.Handler, "/twilio/voice", url.Values{"CallSid": {s}, "From": {"+15555550123"}}, true); rec.Code != 200 {
			t.Fatalf("voice: %d", rec.Code)
		}
	}
	form := url.Values{"CallSid": {sid}, "From": {"+15555550123"}, "Digits": {"1"}, "FinishedOnKey": {""}}
	good := twiliosim.Sign(authToken, publicURL+"/twilio/gather?step=1&x=2", form)
	send := func(target, host string, f url.Values, sig string) int {
		req := httptest.NewRequest("POST", target, strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", sig)
		if host != "" {
			req.Host = host
			req.Header.Set("X-Forwarded-Host", host)
			req.Header.Set("X-Forwarded-Proto", "http")
		}
		rec := httptest.NewRecorder()
		h.App.Handler.ServeHTTP(rec, req)
		if rec.Code == http.StatusForbidden && rec.Body.Len() != 0 {
			t.Errorf("403 with a body: %q", rec.Body.String())
		}
		return rec.Code
	}
	with := func(k, v string) url.Values {
		f := url.Values{}
		for kk, vv := range form {
			f[kk] = append([]string(nil), vv...)
		}
		f.Set(k, v)
		return f
	}
	probes := []struct {
		name, target, host string
		form               url.Values
	}{
		{"the query reordered", "/twilio/gather?x=2&step=1", "", form},
		{"the query re-encoded", "/twilio/gather?step=%31&x=2", "", form},
		{"another step", "/twilio/gather?step=2&x=2", "", form},
		{"a parameter dropped from the query", "/twilio/gather?step=1", "", form},
		{"another call's SID", "/twilio/gather?step=1&x=2", "", with("CallSid", other)},
		{"another answer", "/twilio/gather?step=1&x=2", "", with("Digits", "2")},
		{"a parameter added", "/twilio/gather?step=1&x=2", "", with("SpeechResult", "Maria Garcia")},
		{"another route", "/twilio/poll?step=1&x=2", "", form},
		{"a path trick", "/twilio/../twilio/gather?step=1&x=2", "", form},
		{"a double slash", "//twilio/gather?step=1&x=2", "", form},
	}
	for _, p := range probes {
		if got := send(p.target, p.host, p.form, good); got != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", p.name, got)
		}
	}
	// The Host header is not what is signed: a proxy that rewrites it does
	// not break the signature, and an attacker who sets it gains nothing.
	if got := send("/twilio/gather?step=1&x=2", "evil.example", form, good); got != http.StatusOK {
		t.Errorf("Host rewritten by a proxy: %d, want 200 (IVR_PUBLIC_URL is what is signed)", got)
	}
	if got := send("/twilio/gather?step=1&x=2", "", form, twiliosim.Sign(authToken, "https://evil.example/twilio/gather?step=1&x=2", form)); got != http.StatusForbidden {
		t.Errorf("signed for another host: %d, want 403", got)
	}
	// Oversized body: refused before anything is parsed.
	big := with("SpeechResult", strings.Repeat("a", 70<<10))
	if got := send("/twilio/gather?step=1&x=2", "", big, twiliosim.Sign(authToken, publicURL+"/twilio/gather?step=1&x=2", big)); got != http.StatusForbidden {
		t.Errorf("70 KiB body: %d, want 403", got)
	}
	// Nothing moved: the other call still asks its first question.
	st, err := h.App.Store.Load(context.Background(), other)
	if err != nil || st.Step != 1 {
		t.Errorf("the other call: step %d, %v; want 1", st.Step, err)
	}
}

// TestStreamOversizedFrame: a frame over the limit ends the stream (1009)
// and changes nothing.
func TestStreamOversizedFrame(t *testing.T) {
	checkLeaks(t)
	e := newStreamEnv(t, fastClock{20})
	sid := "CA0000000000000000000000000000b1a5"
	doc := e.toDOB(sid)
	ts := e.open(doc, sid)
	ts.next("media")
	ts.send(`{"event":"mark","mark":{"name":"` + strings.Repeat("x", 70<<10) + `"}}`)
	if code := ts.closed(); code != websocket.CloseMessageTooBig && code != websocket.CloseAbnormalClosure {
		t.Fatalf("close code %d, want 1009 (or the connection cut)", code)
	}
	if twiml := e.finish(doc, sid); !strings.Contains(twiml, "stream-done?step=3") {
		t.Errorf("the call moved: %s", twiml)
	}
}
