package telephony_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/ivr-gateway/ivr/internal/redistest"
	"github.com/ivr-gateway/ivr/internal/replay"
	"github.com/ivr-gateway/ivr/internal/twiliosim"
)

// BenchmarkVerifiedCall places whole calls that end verified (language by
// key, name by speech, date of birth and SSN-4 by keys) through the Twilio
// simulator, on each transport, against the in-process gateway, the AS
// double and Redis. Besides time it reports CPU per call (getrusage of the
// whole test process: gateway, simulator, AS double and Redis client, so
// an upper bound of the gateway's share) and, for WebSocket sessions, the
// messages each way.
//
//	go test ./telephony -run '^$' -bench VerifiedCall -benchtime 50x
func BenchmarkVerifiedCall(b *testing.B) {
	for _, transport := range []string{"gather", "stream", "relay"} {
		b.Run(transport, func(b *testing.B) {
			rdb, prefix := redistest.Client(b)
			env := replay.Env{}
			if transport != "gather" {
				env.Transport = transport
			}
			h, err := replay.Start(context.Background(), replay.HarnessConfig{
				PublicURL: publicURL, AuthToken: authToken, Redis: rdb, Prefix: prefix,
				Logger: slog.New(slog.DiscardHandler), Env: env, CallerLimit: 1 << 30,
			})
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
			defer hc.CloseIdleConnections()
			var in, out int
			call := func(i int) {
				cfg := twiliosim.Config{
					BaseURL: h.URL, PublicURL: publicURL, AuthToken: authToken, HTTPClient: hc,
					CallSid: fmt.Sprintf("CA%032x", 0xbe4c0000+i), From: fmt.Sprintf("+1555555%04d", i%10000),
					Quiet: 20 * time.Millisecond,
					Record: func(ex twiliosim.Exchange) {
						if ex.Socket == nil {
							return
						}
						for _, f := range ex.Socket.Frames {
							if f.Dir == twiliosim.FromTwilio {
								in++
							} else {
								out++
							}
						}
					},
				}
				ctx := context.Background()
				c, _, err := twiliosim.Dial(ctx, cfg)
				if err != nil {
					b.Fatal(err)
				}
				var t *twiliosim.Turn
				for _, step := range []func() (*twiliosim.Turn, error){
					func() (*twiliosim.Turn, error) { return c.Press(ctx, "1") },
					func() (*twiliosim.Turn, error) { return c.Say(ctx, "Maria Garcia", 0.9) },
					func() (*twiliosim.Turn, error) { return c.Press(ctx, "01051980") },
					func() (*twiliosim.Turn, error) { return c.Press(ctx, "1234") },
				} {
					if t, err = step(); err != nil {
						b.Fatal(err)
					}
				}
				if !t.Ended || t.End != "hangup" || heard(t) == "" {
					b.Fatalf("call %d ended %q:\n%s", i, t.End, heard(t))
				}
				if err := c.Hangup(ctx, "completed"); err != nil {
					b.Fatal(err)
				}
			}
			call(-1) // warm connections and scripts
			in, out = 0, 0
			before := cpu()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				call(i)
			}
			b.StopTimer()
			b.ReportMetric(float64((cpu()-before).Microseconds())/1000/float64(b.N), "cpu-ms/call")
			if transport != "gather" {
				b.ReportMetric(float64(in)/float64(b.N), "msgs-in/call")
				b.ReportMetric(float64(out)/float64(b.N), "msgs-out/call")
			}
		})
	}
}

// cpu is the process's user and system CPU time so far.
func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
