package twiliosim

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
)

// Script line kinds (the README's `ivr call`).
const (
	KindDTMF    = "dtmf"
	KindSay     = "say"
	KindSilence = "silence"
	KindHangup  = "hangup"
)

// DefaultConfidence is the Confidence sent for a "say:" line that names none.
const DefaultConfidence = 0.9

// ErrScript is wrapped by every ParseScript error. The messages name the
// line number and what was wrong, never the answer itself.
var ErrScript = errors.New("twiliosim: bad script")

// ScriptLine is one caller answer of a script: Kind is "dtmf", "say",
// "silence" or "hangup"; Value is the keys, the words, or for "hangup" the
// final CallStatus (default "completed"); Confidence is sent with "say"
// (negative: left out). A Value is a caller's answer, so String and
// LogValue redact it.
type ScriptLine struct {
	Kind, Value string
	Confidence  float64
}

// String returns the kind with the value redacted.
func (l ScriptLine) String() string {
	if l.Value == "" {
		return l.Kind
	}
	return l.Kind + ":[redacted]"
}

// LogValue implements slog.LogValuer; the value is never logged.
func (l ScriptLine) LogValue() slog.Value { return slog.StringValue(l.String()) }

// ParseScript reads a script (the README's `ivr call`): one answer per line,
// "dtmf:01051980", "say:Maria Garcia", "say@0.35:Maria Garcia" (with a
// Confidence in [0,1]), "silence", "hangup" or "hangup:busy". Lines whose
// first non-blank character is '#' and blank lines are ignored; there are no
// trailing comments, since '#' is also a keypad key.
func ParseScript(r io.Reader) ([]ScriptLine, error) {
	var out []ScriptLine
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		l, err := parseLine(s)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %s", ErrScript, n, err)
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("twiliosim: read script: %w", err)
	}
	return out, nil
}

// lineError is a script problem; it never carries the line's text.
type lineError string

func (e lineError) Error() string { return string(e) }

func parseLine(s string) (ScriptLine, error) {
	head, value, hasValue := strings.Cut(s, ":")
	head = strings.TrimSpace(head)
	value = strings.TrimSpace(value)
	kind, conf, hasConf := strings.Cut(head, "@")
	l := ScriptLine{Kind: kind, Value: value}
	if hasConf && kind != KindSay {
		return l, lineError("a confidence is only allowed on say")
	}
	switch kind {
	case KindDTMF:
		if value == "" {
			return l, lineError("dtmf needs keys")
		}
		if strings.Trim(value, "0123456789*#") != "" {
			return l, lineError("dtmf takes only 0-9, * and #")
		}
	case KindSay:
		if value == "" {
			return l, lineError("say needs words (use silence for none)")
		}
		l.Confidence = DefaultConfidence
		if hasConf {
			f, err := strconv.ParseFloat(strings.TrimSpace(conf), 64)
			if err != nil || !(f >= 0 && f <= 1) {
				return l, lineError("say confidence must be a number from 0 to 1")
			}
			l.Confidence = f
		}
	case KindSilence:
		if hasValue {
			return l, lineError("silence takes no value")
		}
	case KindHangup:
		if !hasValue {
			l.Value = "completed"
		} else if !terminal(value) {
			return l, lineError("hangup takes completed, busy, failed, no-answer or canceled")
		}
	default:
		return l, lineError("unknown kind (want dtmf, say, silence or hangup)")
	}
	return l, nil
}

func terminal(status string) bool {
	switch status {
	case "completed", "busy", "failed", "no-answer", "canceled":
		return true
	}
	return false
}

// Do plays one script line: Press, Say, Silence, or Hangup (which returns a
// Turn ending "caller-hangup").
func (c *Call) Do(ctx context.Context, l ScriptLine) (*Turn, error) {
	switch l.Kind {
	case KindDTMF:
		return c.Press(ctx, l.Value)
	case KindSay:
		return c.Say(ctx, l.Value, l.Confidence)
	case KindSilence:
		return c.Silence(ctx)
	case KindHangup:
		status := l.Value
		if status == "" {
			status = "completed"
		}
		if err := c.Hangup(ctx, status); err != nil {
			return nil, err
		}
		return &Turn{Ended: true, End: "caller-hangup"}, nil
	}
	return nil, fmt.Errorf("%w: unknown kind", ErrScript)
}
