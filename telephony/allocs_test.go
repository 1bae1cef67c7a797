package telephony_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"

	"github.com/ivr-gateway/ivr/internal/redistest"
	"github.com/ivr-gateway/ivr/internal/replay"
	"github.com/ivr-gateway/ivr/internal/twiliosim"
)

// maxStepAllocs bounds the allocations of one question step through the
// whole webhook handler (signature, parsing, the engine, the store's
// round trip through go-redis, TwiML, the log line, metrics): a guard
// against the webhook path growing fat again. It was about 270 before the
// work of issue 12, about 80 after it.
const maxStepAllocs = 100

// TestStepAllocations counts the allocations of a date-of-birth step on
// the instance that served the call's previous step, with the requests
// built before counting.
func TestStepAllocations(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts need a normal build")
	}
	rdb, prefix := redistest.Client(t)
	h, err := replay.Start(context.Background(), replay.HarnessConfig{
		PublicURL: publicURL, AuthToken: authToken, Redis: rdb, Prefix: prefix, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	const n = 200
	reqs := make([]*http.Request, n)
	recs := make([]*httptest.ResponseRecorder, n)
	for i := range n {
		sid := fmt.Sprintf("CA%032x", 0xa110c000+i)
		f := url.Values{"CallSid": {sid}, "From": {"+15555550123"}}
		post(h.App.Handler, "/twilio/voice", f, true)
		post(h.App.Handler, "/twilio/gather?step=1", url.Values{"CallSid": {sid}, "Digits": {"1"}}, true)
		post(h.App.Handler, "/twilio/gather?step=2", url.Values{"CallSid": {sid}, "SpeechResult": {"Maria Garcia"}, "Confidence": {"0.9"}}, true)
		form := url.Values{"CallSid": {sid}, "From": {"+15555550123"}, "Digits": {"01051980"}, "FinishedOnKey": {""}, "msg": {"Gather End"}}
		req := httptest.NewRequest("POST", "/twilio/gather?step=3", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", twiliosim.Sign(authToken, publicURL+"/twilio/gather?step=3", form))
		reqs[i], recs[i] = req, httptest.NewRecorder()
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range n {
		h.App.Handler.ServeHTTP(recs[i], reqs[i])
	}
	runtime.ReadMemStats(&after)
	for i := range n {
		if !strings.Contains(recs[i].Body.String(), "Social Security") {
			t.Fatalf("step %d did not reach the SSN question: %s", i, recs[i].Body.String())
		}
	}
	per := float64(after.Mallocs-before.Mallocs) / n
	t.Logf("%.1f allocations per step", per)
	if per > maxStepAllocs {
		t.Errorf("a question step allocates %.1f times, more than %d", per, maxStepAllocs)
	}
}
