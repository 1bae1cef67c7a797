package telephony

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/ivr-gateway/ivr/audio"
	"github.com/ivr-gateway/ivr/telephony/mediastream"
)

// sampleLines reads a JSON-lines sample, dropping lines we would send
// ("_direction":"to-twilio").
func sampleLines(tb testing.TB, name string) [][]byte {
	tb.Helper()
	f, err := os.Open(filepath.Join("testdata", "streams", name))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || bytes.Contains(line, []byte(`"_direction":"to-twilio"`)) {
			continue
		}
		out = append(out, append([]byte(nil), line...))
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// mediaFrame is a media message as Twilio sends it, carrying audio.
func mediaFrame(payload []byte) []byte {
	return []byte(`{"event":"media","sequenceNumber":"2","media":{"track":"inbound","chunk":"1","timestamp":"155","payload":"` +
		base64.StdEncoding.EncodeToString(payload) + `"},"streamSid":"MZ5174584e1127285e2b015e720b3d9e68"}`)
}

func startedInbound(tb testing.TB) *inbound {
	in := newInbound(newStreamMetrics(nil), slog.New(slog.DiscardHandler), func(streamEvent) bool { return true })
	lines := sampleLines(tb, "media-streams-recorded.jsonl")
	in.handle(lines[1]) // start
	if !in.started || !in.inband {
		tb.Fatal("start not taken")
	}
	return in
}

// voiceFrame is 20 ms of a 440 Hz tone: audio, but no key.
func voiceFrame() []byte {
	pcm := make([]int16, mediastream.FrameBytes)
	for i := range pcm {
		pcm[i] = int16(8000 * math.Sin(2*math.Pi*440*float64(i)/8000))
	}
	return audio.EncodeMulaw(nil, pcm)
}

// TestMediaFrameNoAllocs: the per-frame path (JSON, base64, μ-law, DTMF
// detector) allocates nothing.
func TestMediaFrameNoAllocs(t *testing.T) {
	in := startedInbound(t)
	frame := mediaFrame(voiceFrame())
	if n := testing.AllocsPerRun(200, func() { in.handle(frame) }); n != 0 {
		t.Fatalf("per-frame path allocates %.1f times per frame", n)
	}
}

// BenchmarkMediaFrame is the per-frame path: one 20 ms media message.
//
//	go test -run '^$' -bench MediaFrame -benchmem ./telephony/
func BenchmarkMediaFrame(b *testing.B) {
	in := startedInbound(b)
	frame := mediaFrame(voiceFrame())
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		in.handle(frame)
	}
}

// outboundSession is a session with its queues but no connection: enough
// to measure building prompt frames.
func outboundSession() *streamSession {
	s := &streamSession{m: newStreamMetrics(nil), streamSid: "MZ5174584e1127285e2b015e720b3d9e68",
		out: make(chan []byte, outBuffers), free: make(chan []byte, outBuffers)}
	for range outBuffers {
		s.free <- make([]byte, 0, 512)
	}
	return s
}

// TestOutboundFrameNoAllocs: sending a prompt frame reuses the session's
// buffers.
func TestOutboundFrameNoAllocs(t *testing.T) {
	s := outboundSession()
	clip := voiceFrame()
	n := testing.AllocsPerRun(200, func() {
		s.sendFrame(clip[:100]) // a short last frame, padded
		b := <-s.out
		s.free <- b[:0]
	})
	if n != 0 {
		t.Fatalf("sending a frame allocates %.1f times", n)
	}
	s.sendFrame(clip)
	var m mediastream.Message
	if err := m.Unmarshal(<-s.out); err != nil || string(m.Event) != "media" {
		t.Fatalf("frame does not decode: %v", err)
	}
	var buf [mediastream.FrameBytes]byte
	if n, _ := mediastream.DecodePayload(&buf, m.Media.Payload, func([]byte) {}); n != mediastream.FrameBytes {
		t.Fatalf("frame holds %d bytes, want %d", n, mediastream.FrameBytes)
	}
}

// BenchmarkOutboundFrame is one 20 ms prompt frame: pad, base64, JSON.
func BenchmarkOutboundFrame(b *testing.B) {
	s := outboundSession()
	clip := voiceFrame()
	b.ReportAllocs()
	for b.Loop() {
		s.sendFrame(clip)
		buf := <-s.out
		s.free <- buf[:0]
	}
}
