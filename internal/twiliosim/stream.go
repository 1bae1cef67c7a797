package twiliosim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"math"
	"net/url"
	"strings"

	"github.com/ivr-gateway/ivr/audio"
	"github.com/ivr-gateway/ivr/telephony/mediastream"
)

// Keypad modes of a Media Stream (Config.StreamKeys).
const (
	KeysEvents = "events" // dtmf messages (the default)
	KeysTones  = "tones"  // in-band tones in the inbound audio only
	KeysBoth   = "both"   // tones, and the dtmf message halfway through each
)

// streamSession plays Twilio's side of a bidirectional <Connect><Stream>
// (twilio-voice.md §4): connected, then start with the TwiML's
// <Parameter>s as customParameters; keys as dtmf messages and/or in-band
// tones; marks echoed as soon as they arrive (the audio before them
// counts as heard). The simulator cannot transcribe the audio the gateway
// plays: what the caller hears is the marks' names, which are the
// gateway's prompt IDs ("ask_dob-1" is heard as "ask_dob"). When the
// gateway closes the socket, the call goes on at the <Connect action>.
type streamSession struct {
	c         *Call
	s         *socket
	t         *Turn
	streamSid string
	keys      string
	seq       int
	chunk     int
}

func (c *Call) openStream(ctx context.Context, v *node) (*streamSession, error) {
	st := &streamSession{c: c, keys: c.cfg.StreamKeys}
	if st.keys == "" {
		st.keys = KeysEvents
	}
	params := map[string]string{}
	for _, n := range v.Children {
		if n.Name == "Parameter" {
			params[n.Attrs["name"]] = n.Attrs["value"]
		}
	}
	var b [16]byte
	rand.Read(b[:])
	st.streamSid = "MZ" + hex.EncodeToString(b[:])
	s, err := c.dialSocket(ctx, SessionStream, v.Attrs["url"])
	st.s = s
	if err != nil {
		return st, err
	}
	if err := st.sendMsg(mediastream.Inbound{Event: "connected"}); err != nil {
		return st, err
	}
	return st, st.sendMsg(mediastream.Inbound{Event: "start", AccountSid: c.cfg.AccountSid, CallSid: c.cfg.CallSid, Parameters: params})
}

func (st *streamSession) kind() string       { return SessionStream }
func (st *streamSession) socket() *socket    { return st.s }
func (st *streamSession) setTurn(t *Turn)    { st.t = t }
func (st *streamSession) endSignal() *string { return nil }

// sendMsg numbers and sends one message (connected has no number).
func (st *streamSession) sendMsg(m mediastream.Inbound) error {
	if m.Event != "connected" {
		st.seq++
		m.Sequence = st.seq
	}
	m.StreamSid = st.streamSid
	return st.s.send(m.MarshalTo(nil), "")
}

// press sends the keys as st.keys says.
func (st *streamSession) press(ctx context.Context, digits string) error {
	for _, d := range digits {
		if st.keys == KeysEvents {
			if err := st.sendMsg(mediastream.Inbound{Event: "dtmf", Digit: string(d)}); err != nil {
				return err
			}
			continue
		}
		for i, f := range toneFrames(byte(d)) {
			st.chunk++
			if err := st.sendMsg(mediastream.Inbound{Event: "media", Payload: f, Chunk: st.chunk, TimestampMS: int64(20 * st.chunk)}); err != nil {
				return err
			}
			if st.keys == KeysBoth && i == 2 {
				if err := st.sendMsg(mediastream.Inbound{Event: "dtmf", Digit: string(d)}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// say: a stream has no recogniser; the words are only sound.
func (st *streamSession) say(ctx context.Context, text string) error { return nil }

// handle is one frame from the gateway.
func (st *streamSession) handle(data []byte) (answerable, stop bool, err error) {
	var m mediastream.Message
	if m.Unmarshal(data) != nil {
		return false, false, nil
	}
	switch string(m.Event) {
	case "mark":
		name := string(m.Mark.Name)
		if err := st.sendMsg(mediastream.Inbound{Event: "mark", Mark: name}); err != nil {
			return false, false, err
		}
		id := promptID(name)
		st.t.Heard = append(st.t.Heard, Utterance{Text: id, Voice: SessionStream})
		// The hold prompt asks for no answer.
		return id != "hold", false, nil
	}
	return false, false, nil
}

// promptID is a mark's prompt: the name without its "-N" counter.
func promptID(mark string) string {
	if i := strings.LastIndexByte(mark, '-'); i > 0 {
		return mark[:i]
	}
	return mark
}

// ended: Twilio requests the <Connect action> after a stream with the
// standard parameters only.
func (st *streamSession) ended(hungUp bool, secs int) url.Values { return nil }

// hangup: the caller left; Twilio sends stop and closes.
func (st *streamSession) hangup(ctx context.Context) {
	st.sendMsg(mediastream.Inbound{Event: "stop", AccountSid: st.c.cfg.AccountSid, CallSid: st.c.cfg.CallSid})
	st.s.close(1000)
}

// dtmfFreqs are the keypad's row and column tones.
var dtmfFreqs = map[byte][2]float64{
	'1': {697, 1209}, '2': {697, 1336}, '3': {697, 1477}, 'A': {697, 1633},
	'4': {770, 1209}, '5': {770, 1336}, '6': {770, 1477}, 'B': {770, 1633},
	'7': {852, 1209}, '8': {852, 1336}, '9': {852, 1477}, 'C': {852, 1633},
	'*': {941, 1209}, '0': {941, 1336}, '#': {941, 1477}, 'D': {941, 1633},
}

// toneFrames is one key press as a phone sends it in-band: 80 ms of its
// two tones (−10 dBm0 each) and 80 ms of silence, as 20 ms μ-law frames.
func toneFrames(d byte) [][]byte {
	f := dtmfFreqs[d]
	amp := 22300 * math.Pow(10, -10.0/20)
	pcm := make([]int16, mediastream.FrameBytes*8)
	for i := range mediastream.FrameBytes * 4 {
		x := float64(i) / 8000
		pcm[i] = int16(amp * (math.Sin(2*math.Pi*f[0]*x) + math.Sin(2*math.Pi*f[1]*x)))
	}
	mu := audio.EncodeMulaw(nil, pcm)
	out := make([][]byte, 0, 8)
	for i := 0; i < len(mu); i += mediastream.FrameBytes {
		out = append(out, mu[i:i+mediastream.FrameBytes])
	}
	return out
}
