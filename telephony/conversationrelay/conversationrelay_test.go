package conversationrelay

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// samples reads testdata/conversationrelay-examples.jsonl (copied from
// Twilio's documentation and live-test notes), split by direction.
func samples(tb testing.TB) (fromTwilio, toTwilio [][]byte) {
	tb.Helper()
	f, err := os.Open(filepath.Join("testdata", "conversationrelay-examples.jsonl"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := append([]byte(nil), bytes.TrimSpace(sc.Bytes())...)
		if len(line) == 0 {
			continue
		}
		if bytes.Contains(line, []byte(`"_direction":"to-twilio"`)) {
			toTwilio = append(toTwilio, line)
		} else {
			fromTwilio = append(fromTwilio, line)
		}
	}
	return fromTwilio, toTwilio
}

func TestDecodeSamples(t *testing.T) {
	from, to := samples(t)
	if len(from) != 7 || len(to) != 5 {
		t.Fatalf("%d and %d sample lines", len(from), len(to))
	}
	var got []Message
	for _, line := range from {
		m, typ, err := DecodeFromTwilio(line)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if typ != m.MessageType() {
			t.Errorf("type %q, message %T", typ, m)
		}
		got = append(got, m)
	}
	setup := got[0].(Setup)
	if setup.CallSid != "CA00000000000000000000000000000000" || setup.CustomParameters["callReference"] != "bar" ||
		setup.CallStatus != "RINGING" || setup.SessionID != "VX00000000000000000000000000000000" {
		t.Errorf("setup %+v", setup)
	}
	if p := got[1].(Prompt); p.VoicePrompt != "Hi! Can you tell me about life?" || p.Lang != "en-US" || !p.Last {
		t.Errorf("prompt %+v", p)
	}
	if d := got[2].(DTMF); d.Digit != "1" {
		t.Errorf("dtmf %+v", d)
	}
	if i := got[3].(Interrupt); i.DurationUntilInterruptMs != 460 || i.UtteranceUntilInterrupt != "Life is a complex set of" {
		t.Errorf("interrupt %+v", i)
	}
	if e := got[4].(Error); !strings.HasPrefix(e.Description, "Invalid message") {
		t.Errorf("error %+v", e)
	}
	if i := got[5].(Info); i.Name != "roundTripDelayMs" || i.Value != "148" {
		t.Errorf("info %+v", i)
	}
	if s := got[6].(Setup); s.Direction != "outbound-api" || s.CallStatus != "IN_PROGRESS" {
		t.Errorf("live setup %+v", s)
	}
	for _, line := range to {
		m, _, err := DecodeToTwilio(line)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		// Our encoding of it decodes to the same message.
		b, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		back, _, err := DecodeToTwilio(b)
		if err != nil || !reflect.DeepEqual(back, m) {
			t.Errorf("%s: re-encoded as %s: %+v, %v", line, b, back, err)
		}
		// Each direction refuses the other's messages.
		if _, _, err := DecodeFromTwilio(line); !errors.Is(err, ErrUnknownType) {
			t.Errorf("%s decoded as a message from Twilio: %v", line, err)
		}
	}
}

// TestInterruptDuration: the documentation's number and the older
// samples' string both decode.
func TestInterruptDuration(t *testing.T) {
	tests := []struct {
		in   string
		want Millis
		ok   bool
	}{
		{`460`, 460, true},
		{`"460"`, 460, true},
		{`460.0`, 460, true},
		{`null`, 0, true},
		{`""`, 0, true},
		{`"soon"`, 0, false},
		{`true`, 0, false},
		{`[460]`, 0, false},
		{`1e300`, 0, false},
	}
	for _, tt := range tests {
		m, _, err := DecodeFromTwilio([]byte(`{"type":"interrupt","utteranceUntilInterrupt":"x","durationUntilInterruptMs":` + tt.in + `}`))
		if tt.ok != (err == nil) {
			t.Errorf("%s: err %v", tt.in, err)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("%s: error %v is not ErrMalformed", tt.in, err)
			}
			continue
		}
		if got := m.(Interrupt).DurationUntilInterruptMs; got != tt.want {
			t.Errorf("%s: %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestDecodeMalformed(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{``, ErrMalformed},
		{`null`, ErrMalformed},
		{`[]`, ErrMalformed},
		{`"setup"`, ErrMalformed},
		{`{"type":"prompt"`, ErrMalformed},
		{`{}`, ErrMalformed},
		{`{"type":7}`, ErrMalformed},
		{`{"type":null}`, ErrMalformed},
		{`{"type":"prompt","last":"true"}`, ErrMalformed},
		{`{"type":"prompt","voicePrompt":5}`, ErrMalformed},
		{`{"type":"setup","customParameters":["a"]}`, ErrMalformed},
		{`{"type":"setup","customParameters":{"a":1}}`, ErrMalformed},
		{`{"type":"dtmf","digit":1}`, ErrMalformed},
		{`{"type":"prompt"} {"type":"prompt"}`, ErrMalformed},
		{`{"type":"transcript","text":"hello"}`, ErrUnknownType},
		{`{"type":"text","token":"hello"}`, ErrUnknownType},
	}
	for _, tt := range tests {
		_, _, err := DecodeFromTwilio([]byte(tt.in))
		if !errors.Is(err, tt.want) {
			t.Errorf("%q: %v, want %v", tt.in, err, tt.want)
		}
	}
}

// TestErrorsOmitContent: an error never quotes what the message held.
func TestErrorsOmitContent(t *testing.T) {
	for _, in := range []string{
		`{"type":"prompt","voicePrompt":"my SSN is 1234","last":"yes 1234"}`,
		`{"type":"prompt","voicePrompt":["Maria","1234"]}`,
		`{"type":"setup","callSid":{"x":"1234"}}`,
		`{"type":"prompt","voicePrompt":"1234",}`,
	} {
		_, _, err := DecodeFromTwilio([]byte(in))
		if err == nil {
			t.Fatalf("%s decoded", in)
		}
		if strings.Contains(err.Error(), "1234") || strings.Contains(err.Error(), "Maria") {
			t.Errorf("error quotes content: %v", err)
		}
	}
}

// TestExactKeys: keys are Twilio's camelCase; another case does not
// override the real field.
func TestExactKeys(t *testing.T) {
	m, _, err := DecodeFromTwilio([]byte(`{"type":"setup","callSid":"CA1","CallSid":"CA2","CALLSID":"CA3"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.(Setup).CallSid; got != "CA1" {
		t.Errorf("callSid %q", got)
	}
	if _, _, err := DecodeFromTwilio([]byte(`{"TYPE":"setup"}`)); !errors.Is(err, ErrMalformed) {
		t.Errorf("TYPE accepted as type: %v", err)
	}
}

func TestEncode(t *testing.T) {
	no := false
	tests := []struct {
		m    Message
		want string
	}{
		{Text{Token: "Hello world!", Last: true, Lang: "en-US"}, `{"type":"text","token":"Hello world!","last":true,"lang":"en-US"}`},
		{Text{Token: "", Last: false, Interruptible: &no}, `{"type":"text","token":"","last":false,"interruptible":false}`},
		{Language{TTSLanguage: "es-US", TranscriptionLanguage: "es-US"}, `{"type":"language","ttsLanguage":"es-US","transcriptionLanguage":"es-US"}`},
		{End{HandoffData: `{"outcome":"verified"}`}, `{"type":"end","handoffData":"{\"outcome\":\"verified\"}"}`},
		{End{}, `{"type":"end"}`},
		{DTMF{Digit: "#"}, `{"type":"dtmf","digit":"#"}`},
		{Info{Name: "agentSpeaking", Value: "off"}, `{"type":"info","name":"agentSpeaking","value":"off"}`},
	}
	for _, tt := range tests {
		b, err := Encode(tt.m)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tt.want {
			t.Errorf("Encode(%T):\n got  %s\n want %s", tt.m, b, tt.want)
		}
		if !json.Valid(b) {
			t.Errorf("invalid JSON %s", b)
		}
	}
}

// FuzzDecode: decoding never panics; every error is ErrMalformed or
// ErrUnknownType; whatever decodes re-encodes to a message that decodes
// to the same value.
func FuzzDecode(f *testing.F) {
	from, to := samples(f)
	for _, l := range append(from, to...) {
		f.Add(l)
	}
	f.Add([]byte(`{"type":"interrupt","durationUntilInterruptMs":"460"}`))
	f.Add([]byte(`{"type":"info","name":"x","value":true}`))
	f.Add([]byte(`{"type":"setup","customParameters":{"step":"3","bind":"\u00e9"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, decode := range []func([]byte) (Message, string, error){DecodeFromTwilio, DecodeToTwilio} {
			m, _, err := decode(data)
			if err != nil {
				if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownType) {
					t.Fatalf("error %v is neither ErrMalformed nor ErrUnknownType", err)
				}
				continue
			}
			b, err := Encode(m)
			if err != nil {
				t.Fatalf("decoded %#v does not encode: %v", m, err)
			}
			back, _, err := decode(b)
			if err != nil {
				t.Fatalf("re-encoded %s does not decode: %v", b, err)
			}
			if !reflect.DeepEqual(normal(back), normal(m)) {
				t.Fatalf("round trip changed %#v into %#v", m, back)
			}
		}
	})
}

// normal maps a nil map to an empty one: null and {} both decode, and
// both encode back as what they were, so only emptiness matters.
func normal(m Message) Message {
	if s, ok := m.(Setup); ok && s.CustomParameters == nil {
		s.CustomParameters = map[string]string{}
		return s
	}
	return m
}
