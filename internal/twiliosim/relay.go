package twiliosim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"strconv"
	"strings"

	"github.com/ivr-gateway/ivr/telephony/conversationrelay"
)

// relaySession plays Twilio's side of <Connect><ConversationRelay>
// (twilio-voice.md §5): it sends setup with the TwiML's <Parameter>s as
// customParameters, turns the caller's speech into prompt messages (final
// transcripts: last true, no confidence) and keys into dtmf messages,
// collects the text tokens the gateway sends into what the caller hears
// (last: true ends an utterance), follows language switches, and on end
// gives the call back to TwiML with the handoffData.
type relaySession struct {
	c         *Call
	s         *socket
	t         *Turn // the turn being filled
	lang      string
	voices    map[string]string // language code → "Provider.voice" from the <Language>s
	sessionID string
	token     strings.Builder // text tokens of the utterance being spoken
	handoff   *string         // set when end arrived
}

func (c *Call) openRelay(ctx context.Context, v *node) (*relaySession, error) {
	r := &relaySession{c: c, lang: v.Attrs["language"], voices: map[string]string{}}
	if r.lang == "" {
		r.lang = "en-US"
	}
	params := map[string]string{}
	for _, n := range v.Children {
		switch n.Name {
		case "Language":
			if p, vc := n.Attrs["ttsProvider"], n.Attrs["voice"]; vc != "" {
				r.voices[n.Attrs["code"]] = strings.TrimPrefix(p+"."+vc, ".")
			}
		case "Parameter":
			params[n.Attrs["name"]] = n.Attrs["value"]
		}
	}
	var b [16]byte
	rand.Read(b[:])
	r.sessionID = "VX" + hex.EncodeToString(b[:])
	s, err := c.dialSocket(ctx, SessionRelay, v.Attrs["url"])
	r.s = s
	if err != nil {
		return r, err
	}
	setup := conversationrelay.Setup{
		SessionID: r.sessionID, AccountSid: c.cfg.AccountSid, CallSid: c.cfg.CallSid,
		From: c.cfg.From, To: c.cfg.To, Direction: "inbound", CallType: "PSTN", CallStatus: "IN_PROGRESS",
		CustomParameters: params,
	}
	return r, r.sendMsg(setup, "")
}

func (r *relaySession) kind() string       { return SessionRelay }
func (r *relaySession) socket() *socket    { return r.s }
func (r *relaySession) setTurn(t *Turn)    { r.t = t }
func (r *relaySession) endSignal() *string { return r.handoff }

func (r *relaySession) sendMsg(m conversationrelay.Message, tamper string) error {
	b, err := conversationrelay.Encode(m)
	if err != nil {
		return err
	}
	return r.s.send(b, tamper)
}

// press sends one dtmf message per key, as ConversationRelay does with
// dtmfDetection="true".
func (r *relaySession) press(ctx context.Context, digits string) error {
	for _, d := range digits {
		if err := r.sendMsg(conversationrelay.DTMF{Digit: string(d)}, ""); err != nil {
			return err
		}
	}
	return nil
}

// say sends the final transcript of what the caller said.
func (r *relaySession) say(ctx context.Context, text string) error {
	return r.sendMsg(conversationrelay.Prompt{VoicePrompt: text, Lang: r.lang, Last: true}, "")
}

// handle is one frame from the gateway.
func (r *relaySession) handle(data []byte) (answerable, stop bool, err error) {
	m, _, derr := conversationrelay.DecodeToTwilio(data)
	if derr != nil {
		// Twilio answers a message it cannot use with an error message
		// (64107) and goes on.
		return false, false, r.sendMsg(conversationrelay.Error{Description: "Invalid message received"}, "")
	}
	switch m := m.(type) {
	case conversationrelay.Text:
		r.token.WriteString(m.Token)
		if !m.Last {
			return false, false, nil
		}
		lang := r.lang
		if m.Lang != "" {
			lang = m.Lang
		}
		r.t.Heard = append(r.t.Heard, Utterance{Text: speech(r.token.String()), Voice: r.voices[lang], Language: lang})
		r.token.Reset()
		// Text nobody may interrupt ("please hold") asks for no answer.
		return m.Interruptible == nil || *m.Interruptible, false, nil
	case conversationrelay.Language:
		if m.TTSLanguage != "" {
			r.lang = m.TTSLanguage
		}
	case conversationrelay.End:
		h := m.HandoffData
		r.handoff = &h
		return false, true, nil
	}
	return false, false, nil
}

// ended returns the <Connect action> parameters for a session that ended:
// by end (SessionStatus ended, with HandoffData), by the gateway dropping
// the connection or refusing it (failed, with Twilio's error 39001), or by
// the caller hanging up (completed).
func (r *relaySession) ended(hungUp bool, secs int) url.Values {
	v := url.Values{"SessionId": {r.sessionID}, "SessionDuration": {strconv.Itoa(secs)}}
	switch {
	case hungUp:
		v.Set("SessionStatus", "completed")
	case r.handoff != nil:
		v.Set("SessionStatus", "ended")
		if *r.handoff != "" {
			v.Set("HandoffData", *r.handoff)
		}
	default:
		v.Set("SessionStatus", "failed")
		v.Set("ErrorCode", "39001")
		v.Set("ErrorMessage", "Network connection to WebSocket server failed.")
	}
	return v
}

// hangup: the caller left; Twilio closes the session.
func (r *relaySession) hangup(ctx context.Context) {
	r.s.close(1000)
}
