package telephony

import (
	"io"
	"log/slog"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ivr-gateway/ivr/dtmf"
	"github.com/ivr-gateway/ivr/telephony/mediastream"
)

// read is the reader goroutine: it reads every frame (so control frames are
// answered), decodes it and forwards what the session needs.
func (s *streamSession) read() {
	defer close(s.events)
	in := newInbound(s.m, s.log, s.send)
	var buf []byte
	for {
		s.conn.SetReadDeadline(time.Now().Add(readIdle))
		mt, r, err := s.conn.NextReader()
		if err != nil {
			s.send(streamEvent{kind: evClosed, err: err})
			return
		}
		if mt != websocket.TextMessage {
			in.refuse("binary", "binary frame (Twilio sends text)")
			continue
		}
		buf, err = readFrame(r, buf[:0])
		if err != nil {
			s.send(streamEvent{kind: evClosed, err: err})
			return
		}
		in.handle(buf)
	}
}

// send hands an event to the session unless it has stopped listening.
func (s *streamSession) send(ev streamEvent) bool {
	select {
	case s.events <- ev:
		return true
	case <-s.quit:
		return false
	}
}

// readFrame reads one message into buf, growing it only when a message is
// larger than any before it.
func readFrame(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// inbound is the per-message path of one stream: decode, base64, in-band
// detector, key de-duplication. It allocates nothing per media message.
type inbound struct {
	m       *streamMetrics
	log     *slog.Logger
	deliver func(streamEvent) bool

	msg     mediastream.Message
	frame   [mediastream.FrameBytes]byte
	det     dtmf.Detector
	started bool
	inband  bool  // the start message announced 8 kHz μ-law
	samples int64 // inbound samples so far: the stream's own clock
	recent  [8]keyPress
	next    int
	logged  map[string]bool

	feed     func([]byte)
	emitTone func(dtmf.Event)
}

// keyPress is one key recently delivered, for de-duplication.
type keyPress struct {
	digit  byte
	atMS   int64
	inband bool
	paired bool
}

func newInbound(m *streamMetrics, log *slog.Logger, deliver func(streamEvent) bool) *inbound {
	in := &inbound{m: m, log: log, deliver: deliver, logged: map[string]bool{}}
	in.feed = func(b []byte) {
		if in.inband {
			in.det.WriteMulaw(b, in.emitTone)
		}
		in.samples += int64(len(b))
	}
	in.emitTone = func(e dtmf.Event) { in.key(e.Digit, true) }
	return in
}

// refuse counts a message the stream cannot use; the first of each kind is
// logged (never its content), the rest only counted.
func (in *inbound) refuse(kind, why string) {
	in.m.errors.WithLabelValues(kind).Inc()
	if !in.logged[kind] {
		in.logged[kind] = true
		in.log.Warn("stream message refused", "kind", kind, "why", why)
	}
}

// handle processes one text frame.
func (in *inbound) handle(data []byte) {
	m := &in.msg
	if err := m.Unmarshal(data); err != nil {
		in.m.errBadJSON.Inc()
		if !in.logged["malformed"] {
			in.logged["malformed"] = true
			in.log.Warn("stream message refused", "kind", "malformed", "err", err)
		}
		return
	}
	switch string(m.Event) {
	case "media":
		in.m.media.Inc()
		if !in.started {
			in.m.errEarly.Inc()
			if !in.logged["media_before_start"] {
				in.logged["media_before_start"] = true
				in.log.Warn("stream message refused", "kind", "media_before_start")
			}
			return
		}
		if string(m.Media.Track) == "outbound" {
			return
		}
		if _, err := mediastream.DecodePayload(&in.frame, m.Media.Payload, in.feed); err != nil {
			in.m.errBadAudio.Inc()
			if !in.logged["bad_payload"] {
				in.logged["bad_payload"] = true
				in.log.Warn("stream message refused", "kind", "bad_payload")
			}
		}
	case "dtmf":
		in.m.messages.WithLabelValues("dtmf").Inc()
		d := m.DTMF.Digit
		if !in.started || len(d) != 1 || !isKey(d[0]) {
			in.refuse("bad_dtmf", "dtmf event without one key, or before start")
			return
		}
		in.key(d[0], false)
	case "mark":
		in.m.messages.WithLabelValues("mark").Inc()
		in.deliver(streamEvent{kind: evMark, name: string(m.Mark.Name)})
	case "start":
		in.m.messages.WithLabelValues("start").Inc()
		if in.started {
			in.refuse("duplicate_start", "second start message")
			return
		}
		st, err := m.DecodeStart()
		if err != nil {
			in.refuse("malformed", err.Error())
			return
		}
		in.started = true
		f := st.MediaFormat
		in.inband = f.Encoding == "audio/x-mulaw" && f.SampleRate == 8000 && f.Channels == 1
		if !in.inband {
			in.log.Warn("stream media format not 8 kHz μ-law: in-band keys off", "encoding", f.Encoding, "rate", f.SampleRate)
		}
		in.deliver(streamEvent{kind: evStart, start: st})
	case "stop":
		in.m.messages.WithLabelValues("stop").Inc()
		in.deliver(streamEvent{kind: evStop})
	case "connected":
		in.m.messages.WithLabelValues("connected").Inc()
	default:
		in.refuse("unknown_event", "unknown event")
	}
}

func isKey(c byte) bool {
	return '0' <= c && c <= '9' || c == '*' || c == '#' || 'A' <= c && c <= 'D'
}

// key delivers a key press once. Twilio's dtmf events and the in-band
// detector may both hear the same press: a key from one source that matches
// an unpaired key from the other within dedupWindow (stream time) is that
// key again, and is dropped. Two presses of one key from one source always
// count twice.
func (in *inbound) key(digit byte, inband bool) {
	now := in.samples / 8
	for i := range in.recent {
		p := &in.recent[i]
		if p.digit == digit && !p.paired && p.inband != inband && now-p.atMS <= dedupWindow.Milliseconds() {
			p.paired = true
			in.m.digits.WithLabelValues("duplicate").Inc()
			return
		}
	}
	in.recent[in.next%len(in.recent)] = keyPress{digit: digit, atMS: now, inband: inband}
	in.next++
	if inband {
		in.m.digits.WithLabelValues("inband").Inc()
	} else {
		in.m.digits.WithLabelValues("event").Inc()
	}
	in.deliver(streamEvent{kind: evKey, digit: digit})
}
