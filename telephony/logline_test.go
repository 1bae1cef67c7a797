package telephony

import (
	"bytes"
	"log/slog"
	"testing"
	"time"

	"github.com/ivr-gateway/ivr/dialog"
)

// TestWebhookLineAsSlogWritesIt: logWebhook builds its record by hand, and
// writes what Logger.Info with the same arguments writes, in JSON and text.
func TestWebhookLineAsSlogWritesIt(t *testing.T) {
	noTime := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	res := result{node: dialog.Node("ask_dob"), step: 4, event: "digits"}
	for _, format := range []string{"json", "text"} {
		var got, want bytes.Buffer
		handler := func(b *bytes.Buffer) slog.Handler {
			if format == "text" {
				return slog.NewTextHandler(b, &slog.HandlerOptions{ReplaceAttr: noTime})
			}
			return slog.NewJSONHandler(b, &slog.HandlerOptions{ReplaceAttr: noTime})
		}
		g := &Gateway{log: slog.New(handler(&got))}
		g.logWebhook("gather", "CA0123456789abcdef0123456789abcdef", res, "ok", 12*time.Millisecond)
		slog.New(handler(&want)).Info("webhook", "route", "gather", "call_sid", "CA0123456789abcdef0123456789abcdef",
			"step", res.step, "node", string(res.node), "event", res.event, "outcome", "ok", "ms", int64(12))
		if got.String() != want.String() || got.Len() == 0 {
			t.Errorf("%s:\n got %s\nwant %s", format, got.String(), want.String())
		}
		// Below the handler's level, nothing is written.
		got.Reset()
		g.log = slog.New(slog.NewJSONHandler(&got, &slog.HandlerOptions{Level: slog.LevelWarn}))
		g.logWebhook("gather", "CA0123456789abcdef0123456789abcdef", res, "ok", time.Millisecond)
		if got.Len() != 0 {
			t.Errorf("%s: a line below the level: %s", format, got.String())
		}
	}
}
