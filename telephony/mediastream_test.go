package telephony

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ivr-gateway/ivr/audio"
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

// reference is what encoding/json makes of a message: the decoder must
// agree with it on every valid message.
type reference struct {
	Event          string `json:"event"`
	SequenceNumber string `json:"sequenceNumber"`
	StreamSid      string `json:"streamSid"`
	Media          struct {
		Track, Chunk, Timestamp, Payload string
	} `json:"media"`
	DTMF struct {
		Track, Digit string
	} `json:"dtmf"`
	Mark struct{ Name string } `json:"mark"`
	Stop struct {
		AccountSid string `json:"accountSid"`
		CallSid    string `json:"callSid"`
	} `json:"stop"`
}

func (m *mediaMessage) asReference() reference {
	var r reference
	r.Event, r.SequenceNumber, r.StreamSid = string(m.Event), string(m.SequenceNumber), string(m.StreamSid)
	r.Media.Track, r.Media.Chunk, r.Media.Timestamp, r.Media.Payload = string(m.Media.Track), string(m.Media.Chunk), string(m.Media.Timestamp), string(m.Media.Payload)
	r.DTMF.Track, r.DTMF.Digit = string(m.DTMF.Track), string(m.DTMF.Digit)
	r.Mark.Name = string(m.Mark.Name)
	r.Stop.AccountSid, r.Stop.CallSid = string(m.Stop.AccountSid), string(m.Stop.CallSid)
	return r
}

func TestUnmarshalSamples(t *testing.T) {
	for _, file := range []string{"media-streams-recorded.jsonl", "media-streams-docs-examples.jsonl"} {
		for i, line := range sampleLines(t, file) {
			var m mediaMessage
			if err := m.unmarshal(line); err != nil {
				t.Fatalf("%s line %d: %v", file, i+1, err)
			}
			var want reference
			if err := json.Unmarshal(line, &want); err != nil {
				t.Fatal(err)
			}
			if got := m.asReference(); got != want {
				t.Errorf("%s line %d:\n got %+v\nwant %+v", file, i+1, got, want)
			}
			if string(m.Event) == "start" {
				st, err := m.decodeStart()
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(st.CallSid, "CA") || st.MediaFormat.Encoding != "audio/x-mulaw" || st.MediaFormat.SampleRate != 8000 || st.MediaFormat.Channels != 1 {
					t.Errorf("%s: start decoded as %+v", file, st)
				}
			}
		}
	}
}

func TestUnmarshalRecordedPayload(t *testing.T) {
	lines := sampleLines(t, "media-streams-recorded.jsonl")
	var m mediaMessage
	if err := m.unmarshal(lines[2]); err != nil {
		t.Fatal(err)
	}
	var buf [frameBytes]byte
	var got []byte
	n, err := decodePayload(&buf, m.Media.Payload, func(b []byte) { got = append(got, b...) })
	if err != nil || n != frameBytes {
		t.Fatalf("decodePayload = %d, %v; want %d bytes (20 ms)", n, err, frameBytes)
	}
	want, _ := base64.StdEncoding.DecodeString(string(m.Media.Payload))
	if !bytes.Equal(got, want) {
		t.Error("chunked decode differs from base64.DecodeString")
	}
}

func TestUnmarshalMalformed(t *testing.T) {
	tests := []struct{ name, in string }{
		{"empty", ``},
		{"not an object", `["media"]`},
		{"truncated", `{"event":"media","media":{"payload":"AAAA"`},
		{"trailing data", `{"event":"stop"} {}`},
		{"no event", `{"streamSid":"MZ1"}`},
		{"event not a string", `{"event":7}`},
		{"sequenceNumber as number", `{"event":"media","sequenceNumber":2}`},
		{"payload not a string", `{"event":"media","media":{"payload":null}}`},
		{"media not an object", `{"event":"media","media":"x"}`},
		{"start not an object", `{"event":"start","start":[]}`},
		{"bad escape", `{"event":"mark","mark":{"name":"\x"}}`},
		{"control character", "{\"event\":\"mark\",\"mark\":{\"name\":\"a\nb\"}}"},
		{"bad number", `{"event":"x","n":01}`},
		{"bad literal", `{"event":"x","n":tru}`},
		{"too deep", `{"event":"x","n":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`},
		{"missing colon", `{"event" "media"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m mediaMessage
			err := m.unmarshal([]byte(tt.in))
			if !errors.Is(err, errMalformed) {
				t.Fatalf("unmarshal(%q) = %v, want errMalformed", tt.in, err)
			}
		})
	}
}

func TestUnmarshalEscapes(t *testing.T) {
	in := `{"event":"mark","mark":{"name":"a\"b\\c\/d\u00e9\ud83d\ude00\ud800x\n"},"streamSid":"MZ\u0031"}`
	var m mediaMessage
	if err := m.unmarshal([]byte(in)); err != nil {
		t.Fatal(err)
	}
	var want reference
	json.Unmarshal([]byte(in), &want)
	if got := m.asReference(); got != want {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestMarshalTo(t *testing.T) {
	tests := []struct {
		msg  outMessage
		want string
	}{
		{outMessage{Event: "media", StreamSid: "MZ1", Payload: []byte{0xff, 0x7f, 0x00}}, `{"event":"media","streamSid":"MZ1","media":{"payload":"/38A"}}`},
		{outMessage{Event: "mark", StreamSid: "MZ1", Mark: `ask_dob-1 "<&>"`}, `{"event":"mark","streamSid":"MZ1","mark":{"name":"ask_dob-1 \"\u003c\u0026\u003e\""}}`},
		{outMessage{Event: "clear", StreamSid: "MZ1"}, `{"event":"clear","streamSid":"MZ1"}`},
	}
	for _, tt := range tests {
		got := string(tt.msg.MarshalTo(nil))
		if got != tt.want {
			t.Errorf("MarshalTo = %s\nwant %s", got, tt.want)
		}
		var m mediaMessage
		if err := m.unmarshal([]byte(got)); err != nil || string(m.Event) != tt.msg.Event || string(m.Mark.Name) != tt.msg.Mark {
			t.Errorf("round trip of %s: %v", got, err)
		}
	}
}

// FuzzMediaMessage: the decoder never panics, accepts only valid JSON, and
// agrees with encoding/json on what it accepts; outbound messages always
// decode again.
func FuzzMediaMessage(f *testing.F) {
	for _, file := range []string{"media-streams-recorded.jsonl", "media-streams-docs-examples.jsonl"} {
		for _, line := range sampleLines(f, file) {
			f.Add(line)
		}
	}
	f.Add([]byte(`{"event":"mark","mark":{"name":"\ud800\u0041"}}`))
	f.Add([]byte(`{"event":"x","a":[1,-0.5e+3,true,null,{"b":"c"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var m mediaMessage
		err := m.unmarshal(data)
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("error not errMalformed: %v", err)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		var ref reference
		if json.Unmarshal(data, &ref) == nil && utf8.Valid(data) && !bytes.ContainsAny(data, "ABCDEFGHIJKLMNOPQRSTUVWXYZ\\") {
			// encoding/json matches keys case-insensitively and replaces
			// invalid UTF-8; we do neither (the fields we use are ASCII).
			// Compare only where that cannot matter.
			if got := m.asReference(); got != ref {
				t.Fatalf("decoded %+v, encoding/json %+v", got, ref)
			}
		}
		var buf [frameBytes]byte
		decodePayload(&buf, m.Media.Payload, func([]byte) {})
		out := outMessage{Event: "mark", StreamSid: string(m.StreamSid), Mark: string(m.Mark.Name)}
		var back mediaMessage
		if err := back.unmarshal(out.MarshalTo(nil)); err != nil {
			t.Fatalf("our own message does not decode: %v", err)
		}
	})
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
	pcm := make([]int16, frameBytes)
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

// BenchmarkMediaDecode is the JSON decode alone.
func BenchmarkMediaDecode(b *testing.B) {
	frame := mediaFrame(voiceFrame())
	var m mediaMessage
	b.ReportAllocs()
	for b.Loop() {
		m.unmarshal(frame)
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
	var m mediaMessage
	if err := m.unmarshal(<-s.out); err != nil || string(m.Event) != "media" {
		t.Fatalf("frame does not decode: %v", err)
	}
	var buf [frameBytes]byte
	if n, _ := decodePayload(&buf, m.Media.Payload, func([]byte) {}); n != frameBytes {
		t.Fatalf("frame holds %d bytes, want %d", n, frameBytes)
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
