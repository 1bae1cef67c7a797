package telephony_test

import (
	"context"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/ivr-gateway/ivr/internal/redistest"
	"github.com/ivr-gateway/ivr/internal/replay"
)

// TestVerifiedDespiteEventStreamFailure: when only the events stream cannot
// be written (a wrong type here; a Cluster node down in real life), the
// verified caller is still handed off: the call and its token are saved.
func TestVerifiedDespiteEventStreamFailure(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	h, err := replay.Start(context.Background(), replay.HarnessConfig{
		PublicURL: publicURL, AuthToken: authToken, Redis: rdb, Prefix: prefix, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	// The events stream is unwritable (wrong type), the call hash is fine.
	rdb.Set(context.Background(), prefix+"events", "x", 0)
	sid := "CA0123456789abcdef0123456789abcd77"
	stepRe := regexp.MustCompile(`gather\?step=(\d+)`)
	base := url.Values{"CallSid": {sid}, "From": {"+15555550100"}}
	rec := post(h.App.Handler, "/twilio/voice", base, true)
	step := stepRe.FindStringSubmatch(rec.Body.String())[1]
	inputs := []url.Values{
		{"Digits": {"1"}},
		{"SpeechResult": {"Maria Garcia"}, "Confidence": {"0.9"}},
		{"Digits": {"01051980"}},
		{"Digits": {"1234"}},
	}
	for _, in := range inputs {
		f := url.Values{"CallSid": {sid}, "From": {"+15555550100"}}
		for k, v := range in {
			f[k] = v
		}
		rec = post(h.App.Handler, "/twilio/gather?step="+step, f, true)
		if m := stepRe.FindStringSubmatch(rec.Body.String()); m != nil {
			step = m[1]
		}
	}
	if body := rec.Body.String(); !strings.Contains(body, "you are verified") || strings.Contains(body, "could not verify") {
		t.Errorf("caller heard: %s", body)
	}
	ph, _ := rdb.HGet(context.Background(), prefix+"call:{"+sid+"}", "phase").Result()
	n, _ := rdb.Exists(context.Background(), prefix+"token:{"+sid+"}").Result()
	if ph != "verified" || n != 1 {
		t.Errorf("stored phase=%s token exists=%d, want verified and 1", ph, n)
	}
}

// TestUnreadableAnswersAreAskedAgain: answers that cannot be opened (the
// session key was rotated, the data damaged) send the caller back to the
// name question instead of failing every webhook of the call.
func TestUnreadableAnswersAreAskedAgain(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	h, err := replay.Start(context.Background(), replay.HarnessConfig{
		PublicURL: publicURL, AuthToken: authToken, Redis: rdb, Prefix: prefix, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	sid := "CA0123456789abcdef0123456789abcd78"
	form := func(kv ...string) url.Values {
		f := url.Values{"CallSid": {sid}, "From": {"+15555550100"}}
		for i := 0; i+1 < len(kv); i += 2 {
			f.Set(kv[i], kv[i+1])
		}
		return f
	}
	post(h.App.Handler, "/twilio/voice", form(), true)
	post(h.App.Handler, "/twilio/gather?step=1", form("Digits", "1"), true)
	post(h.App.Handler, "/twilio/gather?step=2", form("SpeechResult", "Maria Garcia", "Confidence", "0.9"), true)
	// Damage the sealed answers, and let the next webhook reach another
	// instance, whose session key differs (a key rotated without
	// IVR_SESSION_KEY_PREVIOUS): it reads the call from Redis and cannot
	// open them. (The instance that served the last step would not read:
	// what it wrote is what it remembers, and the step did not move.)
	if err := rdb.HSet(context.Background(), prefix+"call:{"+sid+"}", "answers", "not a sealed value").Err(); err != nil {
		t.Fatal(err)
	}
	h2, err := replay.Start(context.Background(), replay.HarnessConfig{
		PublicURL: publicURL, AuthToken: authToken, Redis: rdb, Prefix: prefix, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	rec := post(h2.App.Handler, "/twilio/gather?step=3", form("Digits", "01051980"), true)
	if body := rec.Body.String(); rec.Code != 200 || !strings.Contains(body, "first and last name") {
		t.Fatalf("after unreadable answers the caller heard (%d): %s", rec.Code, body)
	}
	post(h2.App.Handler, "/twilio/gather?step=4", form("SpeechResult", "Maria Garcia", "Confidence", "0.9"), true)
	post(h2.App.Handler, "/twilio/gather?step=5", form("Digits", "01051980"), true)
	rec = post(h2.App.Handler, "/twilio/gather?step=6", form("Digits", "1234"), true)
	if !strings.Contains(rec.Body.String(), "you are verified") {
		t.Errorf("call did not recover: %s", rec.Body.String())
	}
}

// TestCallerLimit: verification attempts are limited per caller number
// across calls; withheld caller IDs are not lumped into one shared bucket.
func TestCallerLimit(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	h, err := replay.Start(context.Background(), replay.HarnessConfig{
		PublicURL: publicURL, AuthToken: authToken, Redis: rdb, Prefix: prefix, Logger: slog.New(slog.DiscardHandler),
		CallerLimit: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	call := func(sid, from string) string {
		form := func(kv ...string) url.Values {
			f := url.Values{"CallSid": {sid}, "From": {from}}
			for i := 0; i+1 < len(kv); i += 2 {
				f.Set(kv[i], kv[i+1])
			}
			return f
		}
		post(h.App.Handler, "/twilio/voice", form(), true)
		post(h.App.Handler, "/twilio/gather?step=1", form("Digits", "1"), true)
		post(h.App.Handler, "/twilio/gather?step=2", form("SpeechResult", "Maria Garcia", "Confidence", "0.9"), true)
		post(h.App.Handler, "/twilio/gather?step=3", form("Digits", "01051980"), true)
		return post(h.App.Handler, "/twilio/gather?step=4", form("Digits", "1234"), true).Body.String()
	}
	tests := []struct {
		sid, from string
		verified  bool
	}{
		{"CA0123456789abcdef0123456789abc001", "+15555550142", true},
		{"CA0123456789abcdef0123456789abc002", "+15555550142", false}, // over the limit
		{"CA0123456789abcdef0123456789abc003", "+15555550143", true},  // another number
		{"CA0123456789abcdef0123456789abc004", "anonymous", true},
		{"CA0123456789abcdef0123456789abc005", "anonymous", true}, // no shared bucket
	}
	for _, tt := range tests {
		body := call(tt.sid, tt.from)
		if got := strings.Contains(body, "you are verified"); got != tt.verified {
			t.Errorf("%s from %s: verified=%v, want %v: %s", tt.sid, tt.from, got, tt.verified, body)
		}
	}
}
