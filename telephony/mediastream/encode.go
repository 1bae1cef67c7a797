package mediastream

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"
)

// DecodePayload base64-decodes a media payload into buf, chunk by chunk,
// calling each with every decoded chunk (at most FrameBytes bytes). It
// returns the number of bytes decoded. Nothing is allocated.
func DecodePayload(buf *[FrameBytes]byte, payload []byte, each func([]byte)) (int, error) {
	total := 0
	for len(payload) > 0 {
		k := min(len(payload), payloadChunk)
		n, err := base64.StdEncoding.Decode(buf[:], payload[:k])
		if err != nil {
			return total, fmt.Errorf("%w: payload is not base64", ErrMalformed)
		}
		if len(payload) > k && n < k/4*3 {
			// Padding inside the payload: not one base64 string.
			return total, fmt.Errorf("%w: payload is not base64", ErrMalformed)
		}
		payload = payload[k:]
		total += n
		each(buf[:n])
	}
	return total, nil
}

// Outbound is one message we send to Twilio (bidirectional streams only):
// media, mark or clear. MarshalTo appends its JSON text without allocating
// beyond dst's growth.
type Outbound struct {
	Event     string // "media", "mark" or "clear"
	StreamSid string
	Payload   []byte // raw μ-law; base64-encoded on the wire
	Mark      string
}

// MarshalTo appends m as JSON to dst. Twilio's outbound messages carry no
// sequenceNumber.
func (m *Outbound) MarshalTo(dst []byte) []byte {
	dst = append(dst, `{"event":`...)
	dst = appendJSONString(dst, m.Event)
	dst = append(dst, `,"streamSid":`...)
	dst = appendJSONString(dst, m.StreamSid)
	switch m.Event {
	case "media":
		dst = append(dst, `,"media":{"payload":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, m.Payload)
		dst = append(dst, `"}`...)
	case "mark":
		dst = append(dst, `,"mark":{"name":`...)
		dst = appendJSONString(dst, m.Mark)
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, escaping what RFC 8259
// requires plus <, > and & (as encoding/json does).
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

// Inbound is one message as Twilio sends it (for simulators and tests: the
// gateway only decodes these). Event selects which fields are written:
// connected; start (StreamSid, AccountSid, CallSid, Parameters, 8 kHz μ-law);
// media (Payload, raw μ-law, base64-encoded on the wire; Chunk and
// Timestamp); dtmf (Digit); mark (Mark); stop (AccountSid, CallSid).
// Sequence is the message's sequenceNumber (omitted for connected).
type Inbound struct {
	Event                          string
	Sequence                       int
	StreamSid, AccountSid, CallSid string
	Parameters                     map[string]string
	Payload                        []byte
	Chunk                          int
	TimestampMS                    int64
	Digit                          string
	Mark                           string
}

// MarshalTo appends m as JSON to dst, in the shape of Twilio's own messages
// (string sequence numbers, chunk and timestamp).
func (m *Inbound) MarshalTo(dst []byte) []byte {
	if m.Event == "connected" {
		return append(dst, `{"event":"connected","protocol":"Call","version":"1.0.0"}`...)
	}
	dst = append(dst, `{"event":`...)
	dst = appendJSONString(dst, m.Event)
	dst = append(dst, `,"sequenceNumber":"`...)
	dst = strconv.AppendInt(dst, int64(m.Sequence), 10)
	dst = append(dst, '"')
	switch m.Event {
	case "start":
		dst = append(dst, `,"start":{"accountSid":`...)
		dst = appendJSONString(dst, m.AccountSid)
		dst = append(dst, `,"streamSid":`...)
		dst = appendJSONString(dst, m.StreamSid)
		dst = append(dst, `,"callSid":`...)
		dst = appendJSONString(dst, m.CallSid)
		dst = append(dst, `,"tracks":["inbound"],"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1},"customParameters":{`...)
		keys := make([]string, 0, len(m.Parameters))
		for k := range m.Parameters {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, k)
			dst = append(dst, ':')
			dst = appendJSONString(dst, m.Parameters[k])
		}
		dst = append(dst, `}}`...)
	case "media":
		dst = append(dst, `,"media":{"track":"inbound","chunk":"`...)
		dst = strconv.AppendInt(dst, int64(m.Chunk), 10)
		dst = append(dst, `","timestamp":"`...)
		dst = strconv.AppendInt(dst, m.TimestampMS, 10)
		dst = append(dst, `","payload":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, m.Payload)
		dst = append(dst, `"}`...)
	case "dtmf":
		dst = append(dst, `,"dtmf":{"track":"inbound_track","digit":`...)
		dst = appendJSONString(dst, m.Digit)
		dst = append(dst, '}')
	case "mark":
		dst = append(dst, `,"mark":{"name":`...)
		dst = appendJSONString(dst, m.Mark)
		dst = append(dst, '}')
	case "stop":
		dst = append(dst, `,"stop":{"accountSid":`...)
		dst = appendJSONString(dst, m.AccountSid)
		dst = append(dst, `,"callSid":`...)
		dst = appendJSONString(dst, m.CallSid)
		dst = append(dst, '}')
	}
	dst = append(dst, `,"streamSid":`...)
	dst = appendJSONString(dst, m.StreamSid)
	return append(dst, '}')
}
