package telephony

import (
	"strconv"
	"strings"
	"sync"

	"github.com/ivr-gateway/ivr/dialog"
)

// TwiML for one (question, language, re-prompt, notice) is the same for
// every call but for the step in its URLs. Building it through twilio-go's
// XML tree costs more than everything else a webhook does, so each such
// document is rendered once, with twilio-go as always, and kept as a
// template with the step left open. Documents that differ per call (a date
// read back to the caller, a stream or relay session bound to the call) are
// never kept.

// stepHole stands for the step while a template is rendered; it cannot
// occur in a prompt or a configured URL.
const stepHole = -7394018245

// maxTemplates bounds the cache: the gateway has a few hundred distinct
// documents; past the bound, documents are rendered as before.
const maxTemplates = 4096

type twimlCache struct {
	mu sync.RWMutex
	m  map[string][]string // key -> the document split at each step
}

// render returns the TwiML of t, from a template when one is kept.
func (g *Gateway) cachedRender(t turnView, build func(step int64) string) string {
	key, ok := templateKey(t)
	if !ok {
		return build(t.step)
	}
	g.twiml.mu.RLock()
	parts, hit := g.twiml.m[key]
	g.twiml.mu.RUnlock()
	if !hit {
		doc := build(stepHole)
		parts = strings.Split(doc, strconv.FormatInt(stepHole, 10))
		g.twiml.mu.Lock()
		if g.twiml.m == nil {
			g.twiml.m = make(map[string][]string)
		}
		if len(g.twiml.m) < maxTemplates {
			g.twiml.m[key] = parts
		}
		g.twiml.mu.Unlock()
	}
	if len(parts) == 1 {
		return parts[0]
	}
	step := strconv.AppendInt(make([]byte, 0, 20), t.step, 10)
	n := len(step) * (len(parts) - 1)
	for _, p := range parts {
		n += len(p)
	}
	var b strings.Builder
	b.Grow(n)
	for i, p := range parts {
		if i > 0 {
			b.Write(step)
		}
		b.WriteString(p)
	}
	return b.String()
}

// turnView is what a document depends on besides the gateway's
// configuration.
type turnView struct {
	actions []dialog.Action
	lang    string
	step    int64
	polls   int
	// perCall: the document binds a WebSocket session to the call.
	perCall bool
}

// templateKey names the document of t, or reports that it is not one to
// keep. The key holds prompt IDs, node names and flags, never what a caller
// said.
func templateKey(t turnView) (string, bool) {
	if t.perCall {
		return "", false
	}
	var b strings.Builder
	b.Grow(64)
	b.WriteString(t.lang)
	if t.polls == 0 {
		b.WriteString("|p0")
	}
	say := func(s dialog.Say) bool {
		if !s.Date.IsZero() {
			return false // the caller's date of birth, read back
		}
		b.WriteString("|s:")
		b.WriteString(string(s.Prompt))
		b.WriteByte('/')
		b.WriteString(string(s.Lang))
		return true
	}
	for _, a := range t.actions {
		switch a := a.(type) {
		case dialog.Say:
			if !say(a) {
				return "", false
			}
		case dialog.Ask:
			b.WriteString("|a:")
			b.WriteString(string(a.Question))
			b.WriteByte('/')
			b.WriteString(strconv.Itoa(a.NumDigits))
			if a.DTMF {
				b.WriteString("/k")
			}
			if a.Speech {
				b.WriteString("/v")
			}
			for _, s := range a.Say {
				if !say(s) {
					return "", false
				}
			}
		case dialog.Hold:
			b.WriteString("|hold")
		case dialog.Handoff:
			b.WriteString("|handoff")
		case dialog.Transfer:
			b.WriteString("|transfer")
		case dialog.Hangup:
			b.WriteString("|hangup")
		default:
			return "", false // an action this cache does not know
		}
	}
	return b.String(), true
}
