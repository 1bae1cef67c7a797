// Package mediastream is the wire codec of Twilio Media Streams (Twilio
// "Media Streams - WebSocket Messages"), both directions: Message decodes
// any message (what Twilio sends: connected, start, media, dtmf, mark, stop;
// and what we send: media, mark, clear), Outbound encodes what the gateway
// sends, Inbound encodes what Twilio sends (for the simulator and tests).
//
// Inbound messages arrive fifty times a second per call, so decoding reads
// into a reused Message whose fields alias the frame: no allocation per
// media message. The rare start message keeps its raw JSON and is decoded
// with encoding/json once per stream.
package mediastream

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// FrameBytes is one 20 ms frame of 8 kHz μ-law, the payload size Twilio
// sends and the size of the frames we send.
const FrameBytes = 160

// payloadChunk is how many base64 characters decode into at most FrameBytes
// bytes; longer payloads are decoded chunk by chunk into the same buffer.
const payloadChunk = FrameBytes / 3 * 4

// maxJSONDepth bounds nesting in skipped values, so hostile input cannot
// exhaust the stack.
const maxJSONDepth = 32

// ErrMalformed is wrapped by every decoding error: the message is not a
// Media Streams message. Errors name the problem, never the content.
var ErrMalformed = errors.New("mediastream: malformed message")

// Message is one decoded inbound message. Byte-slice fields alias the
// frame passed to Unmarshal (or the message's own scratch space for strings
// that held escapes) and are valid until the next Unmarshal. A field absent
// from the message is nil.
type Message struct {
	Event          []byte
	SequenceNumber []byte
	StreamSid      []byte
	Media          struct{ Track, Chunk, Timestamp, Payload []byte }
	DTMF           struct{ Track, Digit []byte }
	Mark           struct{ Name []byte }
	Stop           struct{ AccountSid, CallSid []byte }
	// Start is the raw JSON of the start object; see DecodeStart.
	Start []byte

	scratch []byte
}

// Start is the start message's "start" object.
type Start struct {
	AccountSid       string            `json:"accountSid"`
	StreamSid        string            `json:"streamSid"`
	CallSid          string            `json:"callSid"`
	Tracks           []string          `json:"tracks"`
	CustomParameters map[string]string `json:"customParameters"`
	MediaFormat      struct {
		Encoding   string `json:"encoding"`
		SampleRate int    `json:"sampleRate"`
		Channels   int    `json:"channels"`
	} `json:"mediaFormat"`
}

// DecodeStart decodes the start object of the last message.
func (m *Message) DecodeStart() (Start, error) {
	var s Start
	if m.Start == nil {
		return s, fmt.Errorf("%w: start message without start object", ErrMalformed)
	}
	if err := json.Unmarshal(m.Start, &s); err != nil {
		return s, fmt.Errorf("%w: start object: %v", ErrMalformed, err)
	}
	return s, nil
}

// Unmarshal decodes one text frame. Keys are matched exactly (Twilio's
// camelCase); unknown keys are skipped; a known key holding the wrong JSON
// type, or anything that is not one valid JSON object, is an error wrapping
// ErrMalformed. Errors name the problem, never the content.
func (m *Message) Unmarshal(data []byte) error {
	scratch := m.scratch[:0]
	*m = Message{scratch: scratch}
	d := decoder{b: data, m: m}
	if err := d.object(0, d.top); err != nil {
		return err
	}
	d.ws()
	if d.i != len(d.b) {
		return d.fail("trailing data")
	}
	if m.Event == nil {
		return d.fail("no event")
	}
	return nil
}

// decoder walks one JSON text. Its methods validate as they go, so a value
// is either fully valid or an error.
type decoder struct {
	b []byte
	i int
	m *Message
}

func (d *decoder) fail(what string) error {
	return fmt.Errorf("%w: %s at byte %d", ErrMalformed, what, d.i)
}

func (d *decoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// object parses an object, calling field for each key with the decoder
// positioned at the value; field must consume the value.
func (d *decoder) object(depth int, field func(key []byte, depth int) error) error {
	if depth > maxJSONDepth {
		return d.fail("nested too deep")
	}
	d.ws()
	if d.i >= len(d.b) || d.b[d.i] != '{' {
		return d.fail("not an object")
	}
	d.i++
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		return nil
	}
	for {
		d.ws()
		key, err := d.str()
		if err != nil {
			return err
		}
		d.ws()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return d.fail("missing colon")
		}
		d.i++
		d.ws()
		if err := field(key, depth+1); err != nil {
			return err
		}
		d.ws()
		if d.i >= len(d.b) {
			return d.fail("unterminated object")
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case '}':
			d.i++
			return nil
		default:
			return d.fail("expected comma or brace")
		}
	}
}

func (d *decoder) top(key []byte, depth int) error {
	m := d.m
	switch string(key) {
	case "event":
		return d.strInto(&m.Event)
	case "sequenceNumber":
		return d.strInto(&m.SequenceNumber)
	case "streamSid":
		return d.strInto(&m.StreamSid)
	case "media":
		return d.object(depth, d.media)
	case "dtmf":
		return d.object(depth, d.dtmf)
	case "mark":
		return d.object(depth, d.mark)
	case "stop":
		return d.object(depth, d.stop)
	case "start":
		d.ws()
		from := d.i
		if d.i >= len(d.b) || d.b[d.i] != '{' {
			return d.fail("start is not an object")
		}
		if err := d.skip(depth); err != nil {
			return err
		}
		m.Start = d.b[from:d.i]
		return nil
	}
	return d.skip(depth)
}

func (d *decoder) media(key []byte, depth int) error {
	switch string(key) {
	case "track":
		return d.strInto(&d.m.Media.Track)
	case "chunk":
		return d.strInto(&d.m.Media.Chunk)
	case "timestamp":
		return d.strInto(&d.m.Media.Timestamp)
	case "payload":
		return d.strInto(&d.m.Media.Payload)
	}
	return d.skip(depth)
}

func (d *decoder) dtmf(key []byte, depth int) error {
	switch string(key) {
	case "track":
		return d.strInto(&d.m.DTMF.Track)
	case "digit":
		return d.strInto(&d.m.DTMF.Digit)
	}
	return d.skip(depth)
}

func (d *decoder) mark(key []byte, depth int) error {
	if string(key) == "name" {
		return d.strInto(&d.m.Mark.Name)
	}
	return d.skip(depth)
}

func (d *decoder) stop(key []byte, depth int) error {
	switch string(key) {
	case "accountSid":
		return d.strInto(&d.m.Stop.AccountSid)
	case "callSid":
		return d.strInto(&d.m.Stop.CallSid)
	}
	return d.skip(depth)
}

// strInto decodes a string value into *dst; a duplicate key overwrites, as
// with encoding/json.
func (d *decoder) strInto(dst *[]byte) error {
	d.ws()
	s, err := d.str()
	if err != nil {
		return err
	}
	if s == nil {
		s = d.b[d.i:d.i] // present but empty: non-nil
	}
	*dst = s
	return nil
}

// str decodes a string at the cursor. Without escapes the result aliases
// the input; with escapes it is unescaped into the message's scratch space.
func (d *decoder) str() ([]byte, error) {
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return nil, d.fail("expected string")
	}
	d.i++
	start := d.i
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			s := d.b[start:d.i]
			d.i++
			return s, nil
		case c == '\\':
			return d.unescape(start)
		case c < 0x20:
			return nil, d.fail("control character in string")
		}
		d.i++
	}
	return nil, d.fail("unterminated string")
}

// unescape finishes a string that holds escapes (the cursor is at the first
// backslash), the way encoding/json does: invalid surrogates become U+FFFD.
func (d *decoder) unescape(start int) ([]byte, error) {
	m := d.m
	from := len(m.scratch)
	m.scratch = append(m.scratch, d.b[start:d.i]...)
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return m.scratch[from:len(m.scratch):len(m.scratch)], nil
		case c < 0x20:
			return nil, d.fail("control character in string")
		case c != '\\':
			m.scratch = append(m.scratch, c)
			d.i++
			continue
		}
		if d.i+1 >= len(d.b) {
			return nil, d.fail("unterminated escape")
		}
		e := d.b[d.i+1]
		d.i += 2
		switch e {
		case '"', '\\', '/':
			m.scratch = append(m.scratch, e)
		case 'b':
			m.scratch = append(m.scratch, '\b')
		case 'f':
			m.scratch = append(m.scratch, '\f')
		case 'n':
			m.scratch = append(m.scratch, '\n')
		case 'r':
			m.scratch = append(m.scratch, '\r')
		case 't':
			m.scratch = append(m.scratch, '\t')
		case 'u':
			r, ok := d.hex4()
			if !ok {
				return nil, d.fail("bad unicode escape")
			}
			if utf16.IsSurrogate(r) {
				r2 := rune(utf8.RuneError)
				save := d.i
				if d.i+1 < len(d.b) && d.b[d.i] == '\\' && d.b[d.i+1] == 'u' {
					d.i += 2
					if lo, ok := d.hex4(); ok {
						if dec := utf16.DecodeRune(r, lo); dec != utf8.RuneError {
							r2 = dec
						} else {
							d.i = save
						}
					} else {
						return nil, d.fail("bad unicode escape")
					}
				}
				r = r2
			}
			m.scratch = utf8.AppendRune(m.scratch, r)
		default:
			return nil, d.fail("bad escape")
		}
	}
	return nil, d.fail("unterminated string")
}

func (d *decoder) hex4() (rune, bool) {
	if d.i+4 > len(d.b) {
		return 0, false
	}
	var r rune
	for _, c := range d.b[d.i : d.i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	d.i += 4
	return r, true
}

// skip validates and steps over any JSON value.
func (d *decoder) skip(depth int) error {
	if depth > maxJSONDepth {
		return d.fail("nested too deep")
	}
	d.ws()
	if d.i >= len(d.b) {
		return d.fail("missing value")
	}
	switch c := d.b[d.i]; {
	case c == '"':
		_, err := d.str()
		return err
	case c == '{':
		return d.object(depth, func(_ []byte, depth int) error { return d.skip(depth) })
	case c == '[':
		d.i++
		d.ws()
		if d.i < len(d.b) && d.b[d.i] == ']' {
			d.i++
			return nil
		}
		for {
			if err := d.skip(depth + 1); err != nil {
				return err
			}
			d.ws()
			if d.i >= len(d.b) {
				return d.fail("unterminated array")
			}
			switch d.b[d.i] {
			case ',':
				d.i++
			case ']':
				d.i++
				return nil
			default:
				return d.fail("expected comma or bracket")
			}
		}
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		return d.number()
	}
	return d.fail("unexpected character")
}

func (d *decoder) literal(lit string) error {
	if len(d.b)-d.i < len(lit) || string(d.b[d.i:d.i+len(lit)]) != lit {
		return d.fail("bad literal")
	}
	d.i += len(lit)
	return nil
}

// number steps over a JSON number (RFC 8259 §6 grammar).
func (d *decoder) number() error {
	digits := func() int {
		n := 0
		for d.i < len(d.b) && '0' <= d.b[d.i] && d.b[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	if d.b[d.i] == '-' {
		d.i++
	}
	switch {
	case d.i < len(d.b) && d.b[d.i] == '0':
		d.i++
	case digits() == 0:
		return d.fail("bad number")
	}
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		if digits() == 0 {
			return d.fail("bad number")
		}
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		if digits() == 0 {
			return d.fail("bad number")
		}
	}
	return nil
}
