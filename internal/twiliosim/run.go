package twiliosim

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// run executes verbs top to bottom (twilio-voice.md §2) until the call
// waits in a <Gather> or ends, following <Redirect>s to the gateway.
func (c *Call) run(ctx context.Context, t *Turn, d *document) error {
	for {
		if d.pos >= len(d.verbs) {
			c.finish(t, "no-twiml")
			return nil
		}
		v := d.verbs[d.pos]
		d.pos++
		switch v.Name {
		case "Say":
			t.Heard = append(t.Heard, says(v)...)
		case "Play", "Start", "Stop":
			// Audio and forked streams do not change the call flow.
		case "Pause":
			if err := c.pause(ctx, v); err != nil {
				return err
			}
		case "Gather":
			g, err := c.gather(ctx, t, d, v)
			if err != nil {
				return err
			}
			if g == nil {
				c.finish(t, "error:12200 invalid <Gather>")
				return nil
			}
			t.Gather = g
			c.pending = &pending{gather: *g, doc: d}
			return nil
		case "Redirect":
			next, end, err := c.redirect(ctx, t, d, v)
			if err != nil {
				return err
			}
			if end != "" {
				c.finish(t, end)
				return nil
			}
			d = next
		case "Dial":
			c.finish(t, "dial:"+dialTarget(v))
			return nil
		case "Hangup":
			c.finish(t, "hangup")
			return nil
		case "Reject":
			c.finish(t, "reject")
			return nil
		case "Connect":
			next, end, waiting, err := c.connect(ctx, t, d, v)
			switch {
			case err != nil:
				return err
			case waiting:
				return nil
			case end != "":
				c.finish(t, end)
				return nil
			}
			d = next
		default:
			c.finish(t, "error:12200 unsupported verb <"+v.Name+">")
			return nil
		}
	}
}

// says returns what a <Say> makes the caller hear; loop="N" repeats it
// (capped at 10; loop="0", "until hang-up", counts once).
func says(v *node) []Utterance {
	u := Utterance{Text: speech(v.Text), Voice: v.Attrs["voice"], Language: v.Attrs["language"]}
	n := 1
	if l, err := strconv.Atoi(v.Attrs["loop"]); err == nil && l > 1 {
		n = min(l, 10)
	}
	out := make([]Utterance, n)
	for i := range out {
		out[i] = u
	}
	return out
}

// pause sleeps length (default 1) seconds scaled by PauseScale.
func (c *Call) pause(ctx context.Context, v *node) error {
	secs := 1
	if l, err := strconv.Atoi(v.Attrs["length"]); err == nil && l > 0 {
		secs = l
	}
	d := time.Duration(float64(secs) * c.cfg.PauseScale * float64(time.Second))
	if d <= 0 {
		return nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("twiliosim: pause: %w", ctx.Err())
	}
}

// gather plays the nested verbs of a <Gather> (<Say>, <Play>, <Pause>) and
// returns it with Twilio's defaults (twilio-voice.md §2.1), or nil when an
// attribute is invalid.
func (c *Call) gather(ctx context.Context, t *Turn, d *document, v *node) (*Gather, error) {
	g := &Gather{
		Method:        http.MethodPost,
		Input:         "dtmf",
		Language:      "en-US",
		Timeout:       5,
		FinishOnKey:   "#",
		Hints:         v.Attrs["hints"],
		SpeechModel:   v.Attrs["speechModel"],
		SpeechTimeout: v.Attrs["speechTimeout"],
	}
	action := d.url
	if a, ok := v.attr("action"); ok {
		r, err := resolve(d.url, a)
		if err != nil {
			return nil, nil
		}
		action = r
	}
	g.Action = action
	if m, ok := v.attr("method"); ok {
		m = strings.ToUpper(m)
		if m != http.MethodGet && m != http.MethodPost {
			return nil, nil
		}
		g.Method = m
	}
	if in, ok := v.attr("input"); ok {
		g.Input = in
		if !g.accepts("dtmf") && !g.accepts("speech") {
			return nil, nil
		}
	}
	if l, ok := v.attr("language"); ok && l != "" {
		g.Language = l
	}
	if k, ok := v.attr("finishOnKey"); ok {
		if len(k) > 1 || (k != "" && !strings.Contains("0123456789*#", k)) {
			return nil, nil
		}
		g.FinishOnKey = k
	}
	for name, dst := range map[string]*int{"numDigits": &g.NumDigits, "timeout": &g.Timeout} {
		if s, ok := v.attr(name); ok && !(name == "timeout" && s == "auto") {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				return nil, nil
			}
			*dst = n
		}
	}
	g.ActionOnEmptyResult = v.Attrs["actionOnEmptyResult"] == "true"
	for _, n := range v.Children {
		switch n.Name {
		case "Say":
			t.Heard = append(t.Heard, says(n)...)
		case "Pause":
			if err := c.pause(ctx, n); err != nil {
				return nil, err
			}
		case "Play":
		default:
			return nil, nil
		}
	}
	if d.pos < len(d.verbs) && d.verbs[d.pos].Name == "Redirect" {
		if r, err := resolve(d.url, d.verbs[d.pos].Text); err == nil {
			g.AfterRedirect = r
		}
	}
	return g, nil
}

// redirect follows a <Redirect>. One to PublicURL/twilio/ is a poll of the
// gateway and returns the next document; anywhere else is a hand-off that
// ends the call's time with us ("redirect:URL").
func (c *Call) redirect(ctx context.Context, t *Turn, d *document, v *node) (*document, string, error) {
	u, err := resolve(d.url, v.Text)
	if err != nil || strings.TrimSpace(v.Text) == "" {
		return nil, "error:12200 invalid <Redirect>", nil
	}
	if !strings.HasPrefix(u, c.cfg.PublicURL+"/twilio/") {
		return nil, "redirect:" + u, nil
	}
	method := http.MethodPost
	if m, ok := v.attr("method"); ok {
		method = strings.ToUpper(m)
		if method != http.MethodGet && method != http.MethodPost {
			return nil, "error:12200 invalid <Redirect>", nil
		}
	}
	if t.Polls >= c.cfg.MaxRedirects {
		return nil, "error:redirect-loop", nil
	}
	t.Polls++
	return c.fetch(ctx, method, u, nil)
}

// dialTarget is the number (or client/SIP address) a <Dial> connects to:
// its text, or its first noun's.
func dialTarget(v *node) string {
	for _, n := range v.Children {
		switch n.Name {
		case "Number", "Client", "Sip", "Conference", "Queue":
			return strings.TrimSpace(n.Text)
		}
	}
	return strings.TrimSpace(v.Text)
}
