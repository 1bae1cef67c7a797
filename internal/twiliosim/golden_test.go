package twiliosim

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "update golden files")

// TestGoldenRequests records every request of scripted calls, byte for byte
// (URL, signature, body), against testdata/golden/<name>.golden. Regenerate
// with: go test ./internal/twiliosim -run Golden -update
func TestGoldenRequests(t *testing.T) {
	t.Parallel()
	nameGather := `<Gather input="speech" language="en-US" speechTimeout="auto" action="/twilio/gather?step=1"><Say>Please say your full name.</Say></Gather><Redirect>/twilio/gather?step=1&amp;timeout=1</Redirect>`
	tests := []struct {
		name   string
		routes map[string][]reply
		script string
	}{
		{
			name: "verified",
			routes: map[string][]reply{
				"/twilio/voice": {{Body: twiml(`<Say>Welcome.</Say>` + nameGather)}},
				"/twilio/gather": {
					{Body: twiml(nameGather)}, // the timeout redirect re-asks
					{Body: twiml(dobGather)},
					{Body: twiml(`<Gather method="GET" numDigits="4" action="/twilio/gather?step=3"><Say>Last four digits.</Say></Gather>`)},
					{Body: twiml(`<Say>Checking.</Say><Redirect>/twilio/poll?step=4</Redirect>`)},
				},
				"/twilio/poll":   {{Body: twiml(`<Say>Thank you, you are verified.</Say><Redirect>https://agent.example.com/voice</Redirect>`)}},
				"/twilio/status": {{Status: http.StatusNoContent}},
			},
			script: "silence\nsay@0.9128386:Maria Garcia\ndtmf:01051980\ndtmf:1234#\nhangup\n",
		},
		{
			name: "keys-then-busy",
			routes: map[string][]reply{
				"/twilio/voice":  {{Body: twiml(`<Gather numDigits="1" finishOnKey="*" action="/twilio/gather?lang=es%2DUS"><Say>Para español, oprima dos.</Say></Gather>`)}},
				"/twilio/gather": {{Status: http.StatusFound, Location: "/twilio/moved"}},
				"/twilio/moved":  {{Body: twiml(`<Hangup/>`)}},
				"/twilio/status": {{}},
			},
			script: "dtmf:2\nhangup:busy\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := newGateway(t, tt.routes)
			var b strings.Builder
			now := time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC)
			cfg := g.config()
			cfg.Now = func() time.Time { return now }
			cfg.Record = func(e Exchange) {
				fmt.Fprintf(&b, "%s %s\nX-Twilio-Signature: %s\n%s\n-> %d\n\n", e.Method, e.URL, e.Signature, e.Body, e.Status)
			}
			lines, err := ParseScript(strings.NewReader(tt.script))
			if err != nil {
				t.Fatal(err)
			}
			c, turn, err := Dial(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range lines {
				now = now.Add(20 * time.Second)
				if turn.Ended && l.Kind != KindHangup {
					t.Fatalf("call ended (%s) before %v", turn.End, l)
				}
				if turn, err = c.Do(t.Context(), l); err != nil {
					t.Fatalf("%v: %v", l, err)
				}
			}
			golden := filepath.Join("testdata", "golden", tt.name+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(b.String(), string(want)); diff != "" {
				t.Errorf("requests (-got +want):\n%s", diff)
			}
		})
	}
}

// BenchmarkTurn measures one Press round trip against a loopback gateway.
func BenchmarkTurn(b *testing.B) {
	g := newGateway(b, map[string][]reply{
		"/twilio/voice":  {{Body: twiml(dobGather)}},
		"/twilio/gather": {{Body: twiml(dobGather)}},
	})
	c, _, err := Dial(b.Context(), g.config())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Press(b.Context(), "01051980"); err != nil {
			b.Fatal(err)
		}
	}
}
