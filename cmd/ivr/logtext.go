package main

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
)

// compactHandler renders log lines for a person watching the demo's
// terminal rather than for a log pipeline: the time of day, the component,
// the message, then the attributes, one line per record:
//
//	17:49:05 gateway     call failed  call_sid=CA… reason=caller_limit attempts=0
//	17:49:05 WARN gateway     verification failed  call_sid=CA… outcome=unavailable
//
// Values go through LogValue like any slog handler's, so what the types
// redact stays redacted.
type compactHandler struct {
	mu     *sync.Mutex
	w      io.Writer
	level  slog.Leveler
	attrs  []slog.Attr // from WithAttrs, keys already prefixed with their groups
	prefix string      // the open groups, "a.b."
}

func newCompactHandler(w io.Writer, level slog.Leveler) *compactHandler {
	if level == nil {
		level = slog.LevelInfo
	}
	return &compactHandler{mu: &sync.Mutex{}, w: w, level: level}
}

func (h *compactHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

func (h *compactHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append([]slog.Attr(nil), h.attrs...)
	for _, a := range as {
		c.attrs = append(c.attrs, slog.Attr{Key: h.prefix + a.Key, Value: a.Value})
	}
	return &c
}

func (h *compactHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.prefix = h.prefix + name + "."
	return &c
}

func (h *compactHandler) Handle(_ context.Context, r slog.Record) error {
	var attrs []slog.Attr
	component := ""
	add := func(a slog.Attr) {
		if a.Key == "component" && component == "" {
			component = a.Value.Resolve().String()
			return
		}
		attrs = flatten(attrs, "", a)
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(func(a slog.Attr) bool {
		add(slog.Attr{Key: h.prefix + a.Key, Value: a.Value})
		return true
	})
	var b strings.Builder
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	b.WriteString(t.Format("15:04:05"))
	if r.Level != slog.LevelInfo {
		b.WriteByte(' ')
		b.WriteString(r.Level.String())
	}
	if component != "" {
		b.WriteByte(' ')
		b.WriteString(component)
		for range max(0, 11-len(component)) {
			b.WriteByte(' ')
		}
	}
	b.WriteByte(' ')
	b.WriteString(r.Message)
	if len(attrs) > 0 {
		b.WriteString(" ")
	}
	for _, a := range attrs {
		b.WriteByte(' ')
		b.WriteString(a.Key)
		b.WriteByte('=')
		b.WriteString(quoteIfNeeded(a.Value.String()))
	}
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

// flatten appends a, resolved, with groups spelled out as "group.key".
func flatten(out []slog.Attr, prefix string, a slog.Attr) []slog.Attr {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range v.Group() {
			out = flatten(out, p, g)
		}
		return out
	}
	if a.Key == "" {
		return out
	}
	return append(out, slog.Attr{Key: prefix + a.Key, Value: v})
}

func quoteIfNeeded(s string) string {
	if s == "" || strings.ContainsAny(s, " =\"\t\n\\") || !strconv.CanBackquote(s) {
		return strconv.Quote(s)
	}
	return s
}
