package telephony

import (
	"context"
	"strconv"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ivr-gateway/ivr/dialog"
	"github.com/ivr-gateway/ivr/kba"
	"github.com/ivr-gateway/ivr/telephony/mediastream"
)

// segments looks up the audio of each prompt; each is followed by a mark
// named after it, so Twilio tells us when it has been heard.
func (s *streamSession) segments(says []dialog.Say, lang kba.Lang) []segment {
	out := make([]segment, 0, len(says))
	for _, say := range says {
		l := lang
		if say.Lang != "" {
			l = say.Lang
		}
		s.marks++
		out = append(out, segment{
			audio: s.g.audio.Clip(string(l), say.Prompt),
			mark:  string(say.Prompt) + "-" + strconv.Itoa(s.marks),
		})
	}
	return out
}

// play queues prompts and starts sending them in real time.
func (s *streamSession) play(segs []segment) {
	if len(segs) == 0 {
		return
	}
	s.queue = append(s.queue, segs...)
	if s.ticker == nil {
		s.ticker = s.clock.NewTicker(frameInterval)
		for i := 0; i < primeFrames && s.playing(); i++ {
			s.tick(context.Background())
		}
	}
}

func (s *streamSession) playing() bool { return len(s.queue) > 0 }

func (s *streamSession) tickC() <-chan time.Time {
	if s.ticker == nil {
		return nil
	}
	return s.ticker.C
}

// tick sends the next 20 ms frame, and the prompt's mark after its last
// frame. It reports whether that was the last frame queued.
func (s *streamSession) tick(ctx context.Context) bool {
	if len(s.queue) == 0 {
		return false
	}
	seg := &s.queue[0]
	if s.off < len(seg.audio) {
		n := min(mediastream.FrameBytes, len(seg.audio)-s.off)
		s.sendFrame(seg.audio[s.off : s.off+n])
		s.off += n
		if s.off < len(seg.audio) {
			return false
		}
	}
	s.sendMessage(ctx, &mediastream.Outbound{Event: "mark", StreamSid: s.streamSid, Mark: seg.mark})
	s.unacked++
	s.lastMark = seg.mark
	s.queue, s.off = s.queue[1:], 0
	if len(s.queue) > 0 {
		return false
	}
	s.stopPlay(false)
	return true
}

// stopPlay drops what is still queued; with clear it also tells Twilio to
// drop what it has buffered (barge-in).
func (s *streamSession) stopPlay(clear bool) {
	if clear && s.playing() {
		s.sendMessage(context.Background(), &mediastream.Outbound{Event: "clear", StreamSid: s.streamSid})
	}
	s.queue, s.off = nil, 0
	if s.ticker != nil {
		s.ticker.Stop()
		s.ticker = nil
	}
}

// acked records Twilio's echo of a mark and reports whether it was the
// last one sent.
func (s *streamSession) acked(name string) bool {
	if s.unacked > 0 {
		s.unacked--
	}
	return name == s.lastMark
}

// sendFrame queues one frame, padded with μ-law silence to 20 ms. When
// every buffer is still with the writer the connection is not keeping up:
// the frame is dropped and counted rather than delaying the session.
func (s *streamSession) sendFrame(audio []byte) {
	var b []byte
	select {
	case b = <-s.free:
	default:
		s.lostCount++
		s.m.framesLost.Inc()
		return
	}
	var frame [mediastream.FrameBytes]byte
	n := copy(frame[:], audio)
	for i := n; i < mediastream.FrameBytes; i++ {
		frame[i] = 0xFF
	}
	msg := mediastream.Outbound{Event: "media", StreamSid: s.streamSid, Payload: frame[:]}
	s.out <- msg.MarshalTo(b[:0])
	s.sentCount++
	s.m.framesSent.Inc()
}

// sendMessage queues a mark or clear; these are never dropped.
func (s *streamSession) sendMessage(ctx context.Context, msg *mediastream.Outbound) {
	select {
	case b := <-s.free:
		s.out <- msg.MarshalTo(b[:0])
	case <-ctx.Done():
	}
}

// write is the writer goroutine: the only one writing data frames (gorilla
// allows one concurrent writer). After a failed write it keeps returning
// buffers so the session never blocks, and cancels the session.
func (s *streamSession) write() {
	failed := false
	for b := range s.out {
		if !failed {
			s.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
			if err := s.conn.WriteMessage(websocket.TextMessage, b); err != nil {
				failed = true
				s.cancel(errStreamClosed)
			}
		}
		s.free <- b[:0]
	}
}
