package mediastream

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// sampleLines reads a JSON-lines sample of the telephony package's stream
// fixtures, dropping lines we would send ("_direction":"to-twilio").
func sampleLines(tb testing.TB, name string) [][]byte {
	tb.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", "streams", name))
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

func (m *Message) asReference() reference {
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
			var m Message
			if err := m.Unmarshal(line); err != nil {
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
				st, err := m.DecodeStart()
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
	var m Message
	if err := m.Unmarshal(lines[2]); err != nil {
		t.Fatal(err)
	}
	var buf [FrameBytes]byte
	var got []byte
	n, err := DecodePayload(&buf, m.Media.Payload, func(b []byte) { got = append(got, b...) })
	if err != nil || n != FrameBytes {
		t.Fatalf("DecodePayload = %d, %v; want %d bytes (20 ms)", n, err, FrameBytes)
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
			var m Message
			err := m.Unmarshal([]byte(tt.in))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("unmarshal(%q) = %v, want ErrMalformed", tt.in, err)
			}
		})
	}
}

func TestUnmarshalEscapes(t *testing.T) {
	in := `{"event":"mark","mark":{"name":"a\"b\\c\/d\u00e9\ud83d\ude00\ud800x\n"},"streamSid":"MZ\u0031"}`
	var m Message
	if err := m.Unmarshal([]byte(in)); err != nil {
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
		msg  Outbound
		want string
	}{
		{Outbound{Event: "media", StreamSid: "MZ1", Payload: []byte{0xff, 0x7f, 0x00}}, `{"event":"media","streamSid":"MZ1","media":{"payload":"/38A"}}`},
		{Outbound{Event: "mark", StreamSid: "MZ1", Mark: `ask_dob-1 "<&>"`}, `{"event":"mark","streamSid":"MZ1","mark":{"name":"ask_dob-1 \"\u003c\u0026\u003e\""}}`},
		{Outbound{Event: "clear", StreamSid: "MZ1"}, `{"event":"clear","streamSid":"MZ1"}`},
	}
	for _, tt := range tests {
		got := string(tt.msg.MarshalTo(nil))
		if got != tt.want {
			t.Errorf("MarshalTo = %s\nwant %s", got, tt.want)
		}
		var m Message
		if err := m.Unmarshal([]byte(got)); err != nil || string(m.Event) != tt.msg.Event || string(m.Mark.Name) != tt.msg.Mark {
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
		var m Message
		err := m.Unmarshal(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
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
		var buf [FrameBytes]byte
		DecodePayload(&buf, m.Media.Payload, func([]byte) {})
		out := Outbound{Event: "mark", StreamSid: string(m.StreamSid), Mark: string(m.Mark.Name)}
		var back Message
		if err := back.Unmarshal(out.MarshalTo(nil)); err != nil {
			t.Fatalf("our own message does not decode: %v", err)
		}
	})
}

// TestInboundRoundTrip: what Inbound writes is what Message reads, and it
// has the shape of Twilio's own messages (the samples).
func TestInboundRoundTrip(t *testing.T) {
	payload := bytes.Repeat([]byte{0xff}, FrameBytes)
	tests := []Inbound{
		{Event: "connected"},
		{Event: "start", Sequence: 1, StreamSid: "MZ1", AccountSid: "AC1", CallSid: "CA1", Parameters: map[string]string{"step": "3", "b": "x\"y"}},
		{Event: "media", Sequence: 2, StreamSid: "MZ1", Payload: payload, Chunk: 1, TimestampMS: 20},
		{Event: "dtmf", Sequence: 3, StreamSid: "MZ1", Digit: "7"},
		{Event: "mark", Sequence: 4, StreamSid: "MZ1", Mark: "ask_dob-1"},
		{Event: "stop", Sequence: 5, StreamSid: "MZ1", AccountSid: "AC1", CallSid: "CA1"},
	}
	for _, in := range tests {
		data := in.MarshalTo(nil)
		if !json.Valid(data) {
			t.Fatalf("%s: invalid JSON %s", in.Event, data)
		}
		var m Message
		if err := m.Unmarshal(data); err != nil {
			t.Fatalf("%s: %v", in.Event, err)
		}
		if string(m.Event) != in.Event {
			t.Errorf("event %q, want %q", m.Event, in.Event)
		}
		switch in.Event {
		case "start":
			st, err := m.DecodeStart()
			if err != nil || st.CallSid != "CA1" || st.StreamSid != "MZ1" || st.CustomParameters["b"] != "x\"y" || st.MediaFormat.SampleRate != 8000 {
				t.Errorf("start decoded as %+v, %v", st, err)
			}
		case "media":
			var buf [FrameBytes]byte
			if n, err := DecodePayload(&buf, m.Media.Payload, func([]byte) {}); err != nil || n != FrameBytes {
				t.Errorf("payload %d, %v", n, err)
			}
		case "dtmf":
			if string(m.DTMF.Digit) != "7" || string(m.DTMF.Track) != "inbound_track" {
				t.Errorf("dtmf %+v", m.DTMF)
			}
		case "mark":
			if string(m.Mark.Name) != "ask_dob-1" {
				t.Errorf("mark %q", m.Mark.Name)
			}
		case "stop":
			if string(m.Stop.CallSid) != "CA1" {
				t.Errorf("stop %+v", m.Stop)
			}
		}
	}
}

// TestUnmarshalNoAllocs: decoding a media message allocates nothing.
func TestUnmarshalNoAllocs(t *testing.T) {
	frame := (&Inbound{Event: "media", Sequence: 2, StreamSid: "MZ1", Payload: make([]byte, FrameBytes), Chunk: 1}).MarshalTo(nil)
	var m Message
	if n := testing.AllocsPerRun(200, func() { m.Unmarshal(frame) }); n != 0 {
		t.Fatalf("Unmarshal allocates %.1f times per media message", n)
	}
}

// BenchmarkMediaDecode is the JSON decode alone.
func BenchmarkMediaDecode(b *testing.B) {
	frame := (&Inbound{Event: "media", Sequence: 2, StreamSid: "MZ5174584e1127285e2b015e720b3d9e68", Payload: make([]byte, FrameBytes), Chunk: 1, TimestampMS: 155}).MarshalTo(nil)
	var m Message
	b.ReportAllocs()
	for b.Loop() {
		m.Unmarshal(frame)
	}
}
