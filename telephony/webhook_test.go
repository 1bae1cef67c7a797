package telephony_test

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/ivr-gateway/ivr/internal/redistest"
	"github.com/ivr-gateway/ivr/internal/replay"
	"github.com/ivr-gateway/ivr/internal/twiliosim"
	"github.com/ivr-gateway/ivr/store"
)

// post sends a signed webhook straight to the handler.
func post(h http.Handler, path string, form url.Values, sign bool) *httptest.ResponseRecorder {
	body := form.Encode()
	req := httptest.NewRequest("POST", path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if sign {
		req.Header.Set("X-Twilio-Signature", twiliosim.Sign(authToken, publicURL+path, form))
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func validTwiML(t testing.TB, body string) {
	t.Helper()
	var doc struct {
		XMLName xml.Name
	}
	if err := xml.Unmarshal([]byte(body), &doc); err != nil || doc.XMLName.Local != "Response" {
		t.Fatalf("not TwiML (%v): %q", err, body)
	}
}

// FuzzWebhook sends signed webhooks with arbitrary form fields and query
// strings: the gateway must answer valid TwiML (or 403 for a body that is
// not a form), never a 5xx, never panic.
func FuzzWebhook(f *testing.F) {
	f.Add("CallSid=CA0123456789abcdef0123456789abcdef&Digits=01051980", "step=1")
	f.Add("CallSid=CA0123456789abcdef0123456789abcdef&SpeechResult=Maria+Garcia&Confidence=0.9", "step=2")
	f.Add("CallSid=CA0123456789abcdef0123456789abcdef&Digits=%00%FF&Confidence=NaN", "step=-1")
	f.Add("CallSid=../../etc&Digits=1", "step=99999999999999999999")
	f.Add("CallSid=CA0123456789abcdef0123456789abcdef&CallSid=CAffffffffffffffffffffffffffffffff", "step=1&step=2")
	f.Add("", "")
	rdb, prefix := redistest.Client(f)
	h, err := replay.Start(context.Background(), replay.HarnessConfig{
		PublicURL: publicURL, AuthToken: authToken, Redis: rdb, Prefix: prefix, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(h.Close)
	f.Fuzz(func(t *testing.T, body, query string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return // Twilio always sends a well-formed form; such bodies get 403
		}
		for _, route := range []string{"/twilio/voice", "/twilio/gather", "/twilio/poll", "/twilio/status"} {
			path := route
			if query != "" {
				path += "?" + url.PathEscape(query)
			}
			if _, err := url.ParseRequestURI(path); err != nil {
				continue
			}
			rec := post(h.App.Handler, path, form, true)
			if rec.Code != http.StatusOK {
				t.Fatalf("%s: status %d", path, rec.Code)
			}
			validTwiML(t, rec.Body.String())
		}
	})
}

// TestUnsignedChangesNothing: a request without a valid signature gets 403
// with an empty body, and no Redis key is written.
func TestUnsignedChangesNothing(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	h, err := replay.Start(context.Background(), replay.HarnessConfig{
		PublicURL: publicURL, AuthToken: authToken, Redis: rdb, Prefix: prefix, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	form := url.Values{"CallSid": {"CA0123456789abcdef0123456789abcdef"}, "From": {"+15555550123"}}
	for _, tc := range []struct {
		name string
		sign bool
		path string
	}{{"unsigned voice", false, "/twilio/voice"}, {"unsigned status", false, "/twilio/status"}} {
		rec := post(h.App.Handler, tc.path, form, tc.sign)
		if rec.Code != http.StatusForbidden || rec.Body.Len() != 0 {
			t.Errorf("%s: %d %q, want 403 and no body", tc.name, rec.Code, rec.Body.String())
		}
	}
	// Other paths and methods under /twilio/: 403 unsigned, 404 signed.
	for _, tc := range []struct {
		method, path string
		sign         bool
		want         int
	}{
		{"POST", "/twilio/other", false, 403}, {"GET", "/twilio/voice", false, 403}, {"POST", "/twilio/", false, 403},
		{"POST", "/twilio/other", true, 404},
	} {
		req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(form.Encode()))
		if tc.sign {
			req.Header.Set("X-Twilio-Signature", twiliosim.Sign(authToken, publicURL+tc.path, form))
		}
		rec := httptest.NewRecorder()
		h.App.Handler.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("%s %s signed=%v: %d, want %d", tc.method, tc.path, tc.sign, rec.Code, tc.want)
		}
	}
	// Signed for another URL (a proxy that rewrote the host): 403 too.
	req := httptest.NewRequest("POST", "/twilio/voice", strings.NewReader(form.Encode()))
	req.Header.Set("X-Twilio-Signature", twiliosim.Sign(authToken, "https://elsewhere.example/twilio/voice", form))
	rec := httptest.NewRecorder()
	h.App.Handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Errorf("signature for another host: %d, want 403", rec.Code)
	}
	keys, err := rdb.Keys(context.Background(), prefix+"*").Result()
	if err != nil || len(keys) != 0 {
		t.Errorf("keys after refused requests: %v (%v)", keys, err)
	}
}

// BenchmarkGatherStep measures one <Gather> answer (a keypad date of birth)
// through the whole handler: signature check, Redis load, dialog step,
// Redis save, TwiML. The AS is not involved. It reports Redis round trips
// per step.
func BenchmarkGatherStep(b *testing.B) {
	rdb, prefix := redistest.Client(b)
	counter := &store.RoundTripCounter{}
	rdb.AddHook(counter)
	h, err := replay.Start(context.Background(), replay.HarnessConfig{
		PublicURL: publicURL, AuthToken: authToken, Redis: rdb, Prefix: prefix, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	handler := h.App.Handler
	// Each iteration is a new call brought to the date-of-birth question by
	// the real webhooks (not timed), then the timed step.
	steps := func(sid string) {
		f := url.Values{"CallSid": {sid}, "From": {"+15555550123"}}
		post(handler, "/twilio/voice", f, true)
		post(handler, "/twilio/gather?step=1", url.Values{"CallSid": {sid}, "Digits": {"1"}}, true)
		post(handler, "/twilio/gather?step=2", url.Values{"CallSid": {sid}, "SpeechResult": {"Maria Garcia"}, "Confidence": {"0.9"}}, true)
	}
	sid := func(i int) string { return fmt.Sprintf("CA%032x", i+1) }
	steps(sid(-1)) // warm connections and scripts
	b.ReportAllocs()
	var trips int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		steps(sid(i))
		form := url.Values{"CallSid": {sid(i)}, "Digits": {"01051980"}, "FinishedOnKey": {""}, "msg": {"Gather End"}}
		before := counter.Count()
		b.StartTimer()
		rec := post(handler, "/twilio/gather?step=3", form, true)
		b.StopTimer()
		trips += counter.Count() - before
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), "Social Security") {
			b.Fatalf("step did not reach the SSN question: %d %s", rec.Code, rec.Body.String())
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(trips)/float64(b.N), "redis-trips/op")
	io.Discard.Write(nil)
}
