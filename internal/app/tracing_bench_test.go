package app_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ivr-gateway/ivr/internal/app"
	"github.com/ivr-gateway/ivr/internal/asdouble"
	"github.com/ivr-gateway/ivr/internal/redistest"
	"github.com/ivr-gateway/ivr/internal/tracing"
	"github.com/ivr-gateway/ivr/internal/twiliosim"
)

// BenchmarkGatherStepTracing measures one <Gather> answer (a keypad date
// of birth) through the whole gateway handler with tracing off (no
// provider: the request path is the untraced one) and on (every span
// recorded and batched to an exporter that drops them, so the export's
// network cost is left out).
func BenchmarkGatherStepTracing(b *testing.B) {
	for _, mode := range []string{"off", "on"} {
		b.Run(mode, func(b *testing.B) {
			var tp trace.TracerProvider
			if mode == "on" {
				tr := tracing.New(tracing.Settings{}, sdktrace.NewBatchSpanProcessor(tracetest.NewNoopExporter()))
				defer tr.Shutdown(context.Background())
				tp = tr.Provider("ivr-gateway")
			}
			benchmarkGatherStep(b, tp)
		})
	}
}

func benchmarkGatherStep(b *testing.B, tp trace.TracerProvider) {
	const publicURL, authToken = "https://ivr.example.test", "bench-token"
	rdb, prefix := redistest.Client(b)
	as := asdouble.Serve(b, &asdouble.Server{ClientID: "c", ClientSecret: "s"})
	key := make([]byte, 32)
	rand.Read(key)
	a, err := app.New(context.Background(), app.Config{
		PublicURL: publicURL, AuthToken: authToken, Redis: rdb, RedisPrefix: prefix, AuthIssuer: as.Issuer,
		ClientID: "c", ClientSecret: "s", SessionKey: key, CallerLimit: 100, MaxAttempts: 3,
		Languages: []string{"en-US", "es-US"}, TracerProvider: tp,
	}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Shutdown(context.Background())
	post := func(path string, form url.Values) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", twiliosim.Sign(authToken, publicURL+path, form))
		rec := httptest.NewRecorder()
		a.Handler.ServeHTTP(rec, req)
		return rec
	}
	toDOB := func(sid string) {
		post("/twilio/voice", url.Values{"CallSid": {sid}, "From": {"+15555550123"}})
		post("/twilio/gather?step=1", url.Values{"CallSid": {sid}, "Digits": {"1"}})
		post("/twilio/gather?step=2", url.Values{"CallSid": {sid}, "SpeechResult": {"Maria Garcia"}, "Confidence": {"0.9"}})
	}
	sid := func(i int) string { return fmt.Sprintf("CA%032x", i+1) }
	toDOB(sid(-1))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		toDOB(sid(i))
		form := url.Values{"CallSid": {sid(i)}, "Digits": {"01051980"}}
		b.StartTimer()
		rec := post("/twilio/gather?step=3", form)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "Social Security") {
			b.Fatalf("step did not reach the SSN question: %d %s", rec.Code, rec.Body.String())
		}
	}
}
