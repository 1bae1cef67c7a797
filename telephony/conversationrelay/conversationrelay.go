// Package conversationrelay is the wire codec of Twilio ConversationRelay
// (Twilio "ConversationRelay WebSocket messages"), both directions: what
// Twilio sends (setup, prompt, dtmf, interrupt, error, info) and what the
// application sends (text, play, sendDigits, language, end). The gateway
// decodes the first kind and encodes the second; the Twilio simulator does
// the opposite, so both live here.
//
// Every message is one JSON object in a text frame, named by its "type".
// A call sends a few dozen of them, so the codec uses encoding/json and
// favours strictness over speed: a known type whose fields have the wrong
// JSON types is malformed, and so is anything that is not one JSON object
// with a string "type". Keys are matched exactly (Twilio's camelCase);
// unknown ones are ignored (Twilio adds fields).
// Errors name the problem, never the content: a prompt holds what the
// caller said.
package conversationrelay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Message types.
const (
	// From Twilio.
	TypeSetup     = "setup"
	TypePrompt    = "prompt"
	TypeDTMF      = "dtmf"
	TypeInterrupt = "interrupt"
	TypeError     = "error"
	TypeInfo      = "info"
	// To Twilio.
	TypeText       = "text"
	TypePlay       = "play"
	TypeSendDigits = "sendDigits"
	TypeLanguage   = "language"
	TypeEnd        = "end"
)

var (
	// ErrMalformed is wrapped by every error about a message that is not
	// a ConversationRelay message: not JSON, not an object, no type, or a
	// known type with fields of the wrong JSON type.
	ErrMalformed = errors.New("conversationrelay: malformed message")
	// ErrUnknownType is wrapped when the message is well formed but its
	// type is not one this direction carries.
	ErrUnknownType = errors.New("conversationrelay: unknown message type")
)

// Message is any ConversationRelay message.
type Message interface {
	// MessageType is the message's "type".
	MessageType() string
}

// Setup is the first message of a session: the call it belongs to and the
// <Parameter>s of the TwiML that opened it.
type Setup struct {
	SessionID        string            `json:"sessionId"`
	AccountSid       string            `json:"accountSid"`
	ParentCallSid    string            `json:"parentCallSid"`
	CallSid          string            `json:"callSid"`
	From             string            `json:"from"`
	To               string            `json:"to"`
	ForwardedFrom    string            `json:"forwardedFrom"`
	CallerName       string            `json:"callerName"`
	Direction        string            `json:"direction"`
	CallType         string            `json:"callType"`
	CallStatus       string            `json:"callStatus"`
	CustomParameters map[string]string `json:"customParameters"`
}

// Prompt is what the caller said, transcribed. With partial prompts each
// message carries the whole utterance so far and Last marks the final one.
// ConversationRelay sends no recogniser confidence.
type Prompt struct {
	VoicePrompt string `json:"voicePrompt"`
	Lang        string `json:"lang"`
	Last        bool   `json:"last"`
}

// DTMF is one key the caller pressed (with dtmfDetection="true").
type DTMF struct {
	Digit string `json:"digit"`
}

// Interrupt: the caller cut the spoken text short, after
// UtteranceUntilInterrupt had been heard.
type Interrupt struct {
	UtteranceUntilInterrupt  string `json:"utteranceUntilInterrupt"`
	DurationUntilInterruptMs Millis `json:"durationUntilInterruptMs"`
}

// Error is Twilio reporting a problem, usually with a message we sent.
type Error struct {
	Description string `json:"description"`
}

// Info is a debugging event (only with the debug attribute).
type Info struct {
	Name  string `json:"name"`
	Value Scalar `json:"value"`
}

// Text is text to speak. Last ends the talk cycle. Lang, Interruptible and
// Preemptible override the session's for this token only.
type Text struct {
	Token         string `json:"token"`
	Last          bool   `json:"last"`
	Lang          string `json:"lang,omitempty"`
	Interruptible *bool  `json:"interruptible,omitempty"`
	Preemptible   *bool  `json:"preemptible,omitempty"`
}

// Play plays an audio file.
type Play struct {
	Source        string `json:"source"`
	Loop          *int   `json:"loop,omitempty"`
	Preemptible   *bool  `json:"preemptible,omitempty"`
	Interruptible *bool  `json:"interruptible,omitempty"`
}

// SendDigits plays DTMF tones to the caller.
type SendDigits struct {
	Digits string `json:"digits"`
}

// Language switches the session's speech (TTS) and recognition (STT)
// languages; at least one is set.
type Language struct {
	TTSLanguage           string `json:"ttsLanguage,omitempty"`
	TranscriptionLanguage string `json:"transcriptionLanguage,omitempty"`
}

// End ends the session; the call goes on at the <Connect action>, which
// receives HandoffData.
type End struct {
	HandoffData string `json:"handoffData,omitempty"`
}

func (Setup) MessageType() string      { return TypeSetup }
func (Prompt) MessageType() string     { return TypePrompt }
func (DTMF) MessageType() string       { return TypeDTMF }
func (Interrupt) MessageType() string  { return TypeInterrupt }
func (Error) MessageType() string      { return TypeError }
func (Info) MessageType() string       { return TypeInfo }
func (Text) MessageType() string       { return TypeText }
func (Play) MessageType() string       { return TypePlay }
func (SendDigits) MessageType() string { return TypeSendDigits }
func (Language) MessageType() string   { return TypeLanguage }
func (End) MessageType() string        { return TypeEnd }

// Millis is a duration in milliseconds. Twilio's documentation shows
// durationUntilInterruptMs as a number (460), its older sample code as a
// string ("460"): both decode. null and "" decode as 0.
type Millis int64

// UnmarshalJSON accepts a JSON number or a string holding one.
func (m *Millis) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s == "" {
			*m = 0
			return nil
		}
		b = []byte(s)
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || f < -1e15 || f > 1e15 {
		return fmt.Errorf("not a number of milliseconds")
	}
	*m = Millis(f)
	return nil
}

// Scalar is a JSON string, number or boolean read as text (info values are
// documented as strings but described as numbers and flags).
type Scalar string

// UnmarshalJSON accepts a string, a number, true, false or null.
func (s *Scalar) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return fmt.Errorf("empty value")
	case b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = Scalar(v)
	case string(b) == "null":
		*s = ""
	case string(b) == "true", string(b) == "false":
		*s = Scalar(b)
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("not a scalar")
		}
		*s = Scalar(n)
	}
	return nil
}

// MarshalJSON writes the value as a string.
func (s Scalar) MarshalJSON() ([]byte, error) { return json.Marshal(string(s)) }

// fromTwilio and toTwilio make the empty message of each type a direction
// carries.
var (
	fromTwilio = map[string]func() Message{
		TypeSetup:     func() Message { return &Setup{} },
		TypePrompt:    func() Message { return &Prompt{} },
		TypeDTMF:      func() Message { return &DTMF{} },
		TypeInterrupt: func() Message { return &Interrupt{} },
		TypeError:     func() Message { return &Error{} },
		TypeInfo:      func() Message { return &Info{} },
	}
	toTwilio = map[string]func() Message{
		TypeText:       func() Message { return &Text{} },
		TypePlay:       func() Message { return &Play{} },
		TypeSendDigits: func() Message { return &SendDigits{} },
		TypeLanguage:   func() Message { return &Language{} },
		TypeEnd:        func() Message { return &End{} },
	}
)

// DecodeFromTwilio decodes a message Twilio sends (the gateway's side). It
// returns a pointer to one of Setup, Prompt, DTMF, Interrupt, Error, Info;
// an error wrapping ErrMalformed, or ErrUnknownType together with the type
// (for counting: a bounded label only after the caller checks it).
func DecodeFromTwilio(data []byte) (Message, string, error) {
	return decode(data, fromTwilio)
}

// DecodeToTwilio decodes a message the application sends (the simulator's
// side): a pointer to one of Text, Play, SendDigits, Language, End.
func DecodeToTwilio(data []byte) (Message, string, error) {
	return decode(data, toTwilio)
}

func decode(data []byte, types map[string]func() Message) (Message, string, error) {
	// A JSON object is required: json.Unmarshal accepts null into a map.
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, "", fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &raw); err != nil {
		return nil, "", fmt.Errorf("%w: %s", ErrMalformed, jsonProblem(err))
	}
	var t string
	if rt, ok := raw["type"]; !ok || len(rt) == 0 || rt[0] != '"' || json.Unmarshal(rt, &t) != nil {
		return nil, "", fmt.Errorf("%w: no string type", ErrMalformed)
	}
	mk, ok := types[t]
	if !ok {
		return nil, t, ErrUnknownType
	}
	m := mk()
	// encoding/json matches keys case-insensitively; Twilio's are
	// camelCase, and "CallSid" next to "callSid" must not override it.
	// Only the exact names reach the struct.
	known := fieldNames(m)
	for k := range raw {
		if !known[k] {
			delete(raw, k)
		}
	}
	exact, err := json.Marshal(raw)
	if err == nil {
		err = json.Unmarshal(exact, m)
	}
	if err != nil {
		return nil, t, fmt.Errorf("%w: %s message: %s", ErrMalformed, t, jsonProblem(err))
	}
	return deref(m), t, nil
}

// fieldNames are the JSON names of a message struct's fields.
func fieldNames(m Message) map[string]bool {
	rt := reflect.TypeOf(m).Elem()
	out := make(map[string]bool, rt.NumField())
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		out[name] = true
	}
	return out
}

// deref returns the message as a value, so callers switch on value types.
func deref(m Message) Message {
	switch m := m.(type) {
	case *Setup:
		return *m
	case *Prompt:
		return *m
	case *DTMF:
		return *m
	case *Interrupt:
		return *m
	case *Error:
		return *m
	case *Info:
		return *m
	case *Text:
		return *m
	case *Play:
		return *m
	case *SendDigits:
		return *m
	case *Language:
		return *m
	case *End:
		return *m
	}
	return m
}

// jsonProblem describes a decoding error without quoting the input:
// encoding/json's messages can include the offending value.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at offset %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q is not a JSON %s", te.Field, te.Type.Kind())
	}
	return "invalid field value"
}

// Encode returns m as the JSON text of one frame, "type" first (as in
// Twilio's examples).
func Encode(m Message) ([]byte, error) {
	body, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("conversationrelay: encode %s: %w", m.MessageType(), err)
	}
	t, _ := json.Marshal(m.MessageType())
	out := make([]byte, 0, len(body)+len(t)+9)
	out = append(out, `{"type":`...)
	out = append(out, t...)
	if len(body) > 2 { // not "{}"
		out = append(out, ',')
	}
	return append(out, body[1:]...), nil
}
