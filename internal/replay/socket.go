package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ivr-gateway/ivr/internal/canon"
	"github.com/ivr-gateway/ivr/internal/twiliosim"
)

// recvTimeout bounds the wait for one message from the gateway. A silent
// caller waits for the gateway's own question timeouts, which run on the
// wall clock against a running gateway (about 20 s for the greeting).
const recvTimeout = 60 * time.Second

// wsBase is the wss:// (ws://) form of an https:// (http://) URL.
func wsBase(u string) string {
	if rest, ok := strings.CutPrefix(u, "https://"); ok {
		return "wss://" + rest
	}
	return "ws://" + strings.TrimPrefix(u, "http://")
}

// sessionParam matches the <Parameter>s that differ on every run: the
// binding MAC and the caller reference are keyed with the gateway's
// secret.
var sessionParam = regexp.MustCompile(`<Parameter name="(bind|caller)" value="[^"]*">`)

// normaliseTwiML is the canonical TwiML of a fixture: canon.TwiML, the
// WebSocket URL's base written {public_ws}, and the keyed session
// parameters replaced by their names.
func normaliseTwiML(body, publicURL string) string {
	out := canon.TwiML(body, publicURL)
	if publicURL != "" {
		out = strings.ReplaceAll(out, wsBase(publicURL), "{public_ws}")
	}
	return sessionParam.ReplaceAllString(out, `<Parameter name="$1" value="<$1>">`)
}

// liveParams are the <Parameter>s of a <Stream> or <ConversationRelay>
// in a TwiML answer (none: nil): the session it opens carries them in its
// setup (start), as Twilio sends them.
func liveParams(twiml string) map[string]string {
	var out map[string]string
	dec := xml.NewDecoder(strings.NewReader(twiml))
	for {
		tok, err := dec.Token()
		if err != nil {
			return out
		}
		el, ok := tok.(xml.StartElement)
		if !ok || el.Name.Local != "Parameter" {
			continue
		}
		var name, value string
		for _, a := range el.Attr {
			switch a.Name.Local {
			case "name":
				name = a.Value
			case "value":
				value = a.Value
			}
		}
		if out == nil {
			out = map[string]string{}
		}
		out[name] = value
	}
}

// tamper changes a session's parameters (and call SID) the way a forged
// setup in a fixture did; ok is false for an unknown tamper.
func tamper(kind, sid string, params map[string]string) (string, map[string]string, bool) {
	p := map[string]string{}
	for k, v := range params {
		p[k] = v
	}
	switch kind {
	case "":
	case "call_sid":
		sid = "CA" + strings.Repeat("ab", 16)
	case "caller":
		p["caller"] = strings.Repeat("0", 32)
	case "no_bind":
		delete(p, "bind")
	case "step":
		p["step"] += "1"
	default:
		return sid, p, false
	}
	return sid, p, true
}

// adaptFrame rewrites a setup (relay) or start (stream) message for this
// replay: the call SID and the parameters of the TwiML just received,
// changed as the fixture's tamper says. Every other frame is sent byte
// for byte (malformed ones included).
func adaptFrame(f Frame, sid string, params map[string]string) ([]byte, error) {
	var m map[string]any
	if json.Unmarshal(f.Send, &m) != nil {
		return f.Send, nil
	}
	sid, p, ok := tamper(f.Tamper, sid, params)
	if !ok {
		return nil, fmt.Errorf("unknown tamper %q", f.Tamper)
	}
	// Only the session's opening message carries customParameters; a
	// second setup sent on purpose is left as it was.
	target := m
	if st, ok := m["start"].(map[string]any); ok && m["event"] == "start" {
		target = st
	} else if m["type"] != "setup" {
		return f.Send, nil
	}
	if _, ok := target["customParameters"]; !ok {
		return f.Send, nil
	}
	target["callSid"], target["customParameters"] = sid, p
	return json.Marshal(m)
}

// canonJSON is a message in a comparable form (keys sorted), or the text
// itself when it is not JSON.
func canonJSON(b []byte) string {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return string(b)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

// isMedia reports a Media Streams media message (prompt audio).
func isMedia(b []byte) bool {
	return bytes.Contains(b, []byte(`"event":"media"`))
}

type wsIn struct {
	data []byte
	code int // close code when err is set
	err  error
}

// runSocket replays one session: the upgrade (re-signed for the target
// when needed), then the frames in order, each recv compared with what
// the gateway sent next. It returns the upgrade's status and the
// mismatches; a mismatch ends the session (what follows would only
// cascade).
func runSocket(ctx context.Context, fx *Fixture, l Line, t Target, sid string, params map[string]string) (int, []Mismatch, error) {
	sk := l.Socket
	rel := strings.TrimPrefix(sk.URL, wsBase(fx.Header.PublicURL))
	sig := sk.Signature
	if (t.PublicURL != fx.Header.PublicURL || t.AuthToken != fx.Header.AuthToken) && t.AuthToken != "" &&
		sig != "" && twiliosim.Sign(fx.Header.AuthToken, sk.URL, nil) == sig {
		sig = twiliosim.Sign(t.AuthToken, wsBase(t.PublicURL)+rel, nil)
	}
	h := http.Header{}
	if sig != "" {
		h.Set("X-Twilio-Signature", sig)
	}
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	conn, resp, err := d.DialContext(ctx, wsBase(t.BaseURL)+rel, h)
	status := 0
	if resp != nil {
		status = resp.StatusCode
		if resp.Body != nil {
			resp.Body.Close()
		}
	}
	if err != nil {
		if status != 0 {
			return status, nil, nil // refused: the status is the result
		}
		return 0, nil, err
	}
	defer conn.Close()
	in := make(chan wsIn, 4096)
	go func() {
		defer close(in)
		for {
			_, b, err := conn.ReadMessage()
			if err != nil {
				m := wsIn{err: err}
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					m.code = ce.Code
				}
				in <- m
				return
			}
			in <- wsIn{data: b}
		}
	}()
	var (
		out   []Mismatch
		media bool // media arrived since the last await
	)
	fail := func(field, want, got string) {
		out = append(out, Mismatch{l.N, field, want, got})
	}
	var back *wsIn // a message read ahead, not yet used
	read := func() (wsIn, bool) {
		if back != nil {
			m := *back
			back = nil
			return m, true
		}
		timer := time.NewTimer(recvTimeout)
		defer timer.Stop()
		select {
		case m, ok := <-in:
			if !ok {
				return wsIn{err: errors.New("closed")}, true
			}
			return m, true
		case <-timer.C:
		case <-ctx.Done():
		}
		return wsIn{}, false
	}
	// next returns the next message that is not prompt audio.
	next := func() (wsIn, bool) {
		for {
			m, ok := read()
			if ok && m.err == nil && isMedia(m.data) {
				media = true
				continue
			}
			return m, ok
		}
	}
	// awaitMedia waits for prompt audio, unless some came already.
	awaitMedia := func() (wsIn, bool) {
		for !media {
			m, ok := read()
			if !ok || m.err != nil || !isMedia(m.data) {
				back = &m
				return m, false
			}
			media = true
		}
		media = false
		return wsIn{}, true
	}
frames:
	for i, f := range sk.Frames {
		field := fmt.Sprintf("session frame %d", i+1)
		switch {
		case f.Send != nil || f.SendText != "":
			b := []byte(f.SendText)
			if f.Send != nil {
				if b, err = adaptFrame(f, sid, params); err != nil {
					return status, out, err
				}
			}
			conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if err := conn.WriteMessage(websocket.TextMessage, b); err != nil {
				fail(field, "sent", "connection closed: "+err.Error())
				break frames
			}
		case f.Await == "media":
			if m, ok := awaitMedia(); !ok {
				fail(field, "prompt audio", describe(m, m.err != nil || m.data != nil))
				break frames
			}
		case f.Recv != nil:
			m, ok := next()
			if !ok || m.err != nil {
				fail(field, string(f.Recv), describe(m, ok))
				break frames
			}
			if w, g := canonJSON(f.Recv), canonJSON(m.data); w != g {
				fail(field, w, g)
				break frames
			}
		}
	}
	if len(out) == 0 && sk.Close != nil {
		switch sk.Close.By {
		case "twilio":
			conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(sk.Close.Code, ""), time.Now().Add(2*time.Second))
			drain(in, 5*time.Second)
		case "gateway":
			m, ok := next()
			switch {
			case !ok:
				fail("session close", fmt.Sprintf("closed by the gateway (%d)", sk.Close.Code), "still open")
			case m.err == nil:
				fail("session close", fmt.Sprintf("closed by the gateway (%d)", sk.Close.Code), canonJSON(m.data))
			case m.code != sk.Close.Code:
				fail("session close code", fmt.Sprint(sk.Close.Code), fmt.Sprint(m.code))
			}
		}
	}
	conn.Close()
	for range in {
	}
	return status, out, nil
}

// drain discards messages until the connection ends or d passes.
func drain(in <-chan wsIn, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case m, ok := <-in:
			if !ok || m.err != nil {
				return
			}
		case <-t.C:
			return
		}
	}
}

func describe(m wsIn, ok bool) string {
	switch {
	case !ok:
		return fmt.Sprintf("nothing within %s", recvTimeout)
	case m.err != nil:
		return fmt.Sprintf("connection closed (%d)", m.code)
	}
	return canonJSON(m.data)
}
