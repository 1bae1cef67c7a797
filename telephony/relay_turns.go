package telephony

import (
	"context"
	"errors"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/ivr-gateway/ivr/callflow"
	"github.com/ivr-gateway/ivr/dialog"
	"github.com/ivr-gateway/ivr/kba"
	"github.com/ivr-gateway/ivr/prompts"
	"github.com/ivr-gateway/ivr/telephony/conversationrelay"
)

// speak sends each prompt as one text message ending its talk cycle
// (last: true), in the prompt's own language (the language menu speaks
// each language in its voice). A question may be interrupted (the
// session's interruptible="any"); what asks for no answer ("please hold")
// is sent with interruptible false. It returns how long Twilio will take
// to say it all, as far as we can tell.
func (s *relaySession) speak(says []dialog.Say, question bool) (time.Duration, error) {
	var interruptible *bool
	if !question {
		interruptible = new(bool)
	}
	chars := 0
	for _, say := range says {
		text, lang := s.g.promptText(say, s.lang)
		chars += utf8.RuneCountInString(text)
		if err := s.send(conversationrelay.Text{Token: text, Last: true, Lang: lang, Interruptible: interruptible}); err != nil {
			return 0, err
		}
	}
	if chars == 0 {
		return 0, nil
	}
	return speechLatency + time.Duration(chars)*time.Second/speechRate, nil
}

// promptText is a prompt's text (with {org} and {date} filled in) and the
// language code it is spoken in.
func (g *Gateway) promptText(say dialog.Say, lang kba.Lang) (string, string) {
	if say.Lang != "" {
		lang = say.Lang
	}
	vars := []string{"org", g.cfg.OrgName}
	if !say.Date.IsZero() {
		vars = append(vars, "date", kba.SpeakDate(say.Date, lang))
	}
	return g.cat.Text(string(lang), say.Prompt, vars...), g.cat.Lookup(string(lang)).Code
}

// collect asks a question and waits for its answer, with our own timers
// (ConversationRelay has none): a final transcript is the answer; keys are
// gathered as <Gather> gathers them (up to NumDigits, or '#', or the
// question's timeout after the last key); nothing within the time it takes
// to say the question plus its timeout is no input. Whichever input comes
// first wins, as in <Gather>: once a key is pressed, speech is ignored.
func (s *relaySession) collect(ctx context.Context, a dialog.Ask) (dialog.Input, error) {
	speaking, err := s.speak(a.Say, true)
	if err != nil {
		return dialog.Input{}, err
	}
	timeout := questionTimeout(a.Question)
	var (
		buf    [16]byte
		digits = buf[:0]
		timer  = s.g.clock.NewTimer(speaking + timeout)
	)
	setTimer := func(d time.Duration) {
		// A new timer rather than Reset: Reset would bypass the Clock.
		timer.Stop()
		timer = s.g.clock.NewTimer(d)
	}
	defer func() { timer.Stop() }()
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				return dialog.Input{}, errRelayClosed
			}
			switch ev.kind {
			case relayClosedEv:
				return dialog.Input{}, errRelayClosed
			case relayKeyEv:
				if !a.DTMF {
					s.m.inputs.WithLabelValues("key_ignored").Inc()
					continue
				}
				s.m.inputs.WithLabelValues("key").Inc()
				if ev.digit == '#' {
					return dialog.Input{Digits: string(digits)}, nil
				}
				if len(digits) < cap(buf) {
					digits = append(digits, ev.digit)
				}
				if a.NumDigits > 0 && len(digits) >= a.NumDigits {
					return dialog.Input{Digits: string(digits)}, nil
				}
				setTimer(timeout)
			case relayPromptEv:
				switch {
				case !ev.last:
					// A partial transcript: the caller is still talking.
					setTimer(timeout)
				case len(digits) > 0 || !a.Speech:
					s.m.inputs.WithLabelValues("speech_ignored").Inc()
				default:
					s.m.inputs.WithLabelValues("speech").Inc()
					// No confidence: ConversationRelay sends none.
					return dialog.Input{Speech: ev.text}, nil
				}
			case relayInterruptEv:
				// The caller talked over the question: it stopped, and the
				// answer's time starts now.
				if len(digits) == 0 {
					setTimer(timeout)
				}
			}
		case <-timer.C:
			if len(digits) == 0 {
				s.m.inputs.WithLabelValues("none").Inc()
			}
			return dialog.Input{Digits: string(digits)}, nil
		case <-ctx.Done():
			return dialog.Input{}, context.Cause(ctx)
		}
	}
}

// stepWithHold steps the engine with the caller's answer. A verification
// runs inside the step, with no webhook deadline to meet; when it takes
// longer than holdAfter the caller hears the hold prompt meanwhile. That
// timer runs on the wall clock, not the gateway's Clock: it races the AS,
// whose time tests do not scale. Input during the step is dropped, as
// <Gather> would.
func (s *relaySession) stepWithHold(ctx context.Context, call callflow.Call, in dialog.Input) (callflow.Turn, error) {
	type result struct {
		t   callflow.Turn
		err error
	}
	stepCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan result, 1)
	go func() {
		t, err := s.g.engine.Advance(stepCtx, call, in)
		done <- result{t, err}
	}()
	hold := time.NewTimer(holdAfter)
	defer hold.Stop()
	fail := func(err error) (callflow.Turn, error) {
		cancel()
		<-done
		return callflow.Turn{}, err
	}
	for {
		select {
		case r := <-done:
			return r.t, r.err
		case <-hold.C:
			if _, err := s.speak([]dialog.Say{{Prompt: prompts.Hold}}, false); err != nil {
				return fail(err)
			}
		case ev, ok := <-s.events:
			switch {
			case !ok || ev.kind == relayClosedEv:
				return fail(errRelayClosed)
			case ev.kind == relayKeyEv, ev.kind == relayPromptEv && ev.last:
				s.m.inputs.WithLabelValues("dropped").Inc()
			}
		case <-ctx.Done():
			return fail(context.Cause(ctx))
		}
	}
}

// read is the reader goroutine: it reads every frame (so control frames
// are answered), decodes it and forwards what the session needs. What
// cannot be used is counted and logged once per kind, without content,
// and the session goes on.
func (s *relaySession) read() {
	defer close(s.events)
	logged := map[string]bool{}
	refuse := func(kind string) {
		s.m.errors.WithLabelValues(kind).Inc()
		if !logged[kind] {
			logged[kind] = true
			s.log.Warn("relay message refused", "kind", kind)
		}
	}
	setup := false
	for {
		s.conn.SetReadDeadline(time.Now().Add(relayIdle))
		mt, data, err := s.conn.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			s.twilioClosed.Store(errors.As(err, &ce))
			s.deliver(relayEvent{kind: relayClosedEv})
			return
		}
		if mt != websocket.TextMessage {
			refuse("binary")
			continue
		}
		m, _, err := conversationrelay.DecodeFromTwilio(data)
		switch {
		case errors.Is(err, conversationrelay.ErrUnknownType):
			refuse("unknown_type")
			continue
		case err != nil:
			refuse("malformed")
			continue
		}
		s.m.messages.WithLabelValues(m.MessageType()).Inc()
		s.received.Add(1)
		if _, isSetup := m.(conversationrelay.Setup); !isSetup && !setup {
			refuse("before_setup")
			continue
		}
		switch m := m.(type) {
		case conversationrelay.Setup:
			if setup {
				refuse("duplicate_setup")
				continue
			}
			setup = true
			s.deliver(relayEvent{kind: relaySetupEv, setup: m})
		case conversationrelay.Prompt:
			s.deliver(relayEvent{kind: relayPromptEv, text: m.VoicePrompt, last: m.Last})
		case conversationrelay.DTMF:
			if len(m.Digit) != 1 || !isKey(m.Digit[0]) {
				refuse("bad_dtmf")
				continue
			}
			s.deliver(relayEvent{kind: relayKeyEv, digit: m.Digit[0]})
		case conversationrelay.Interrupt:
			s.deliver(relayEvent{kind: relayInterruptEv})
		case conversationrelay.Error:
			// Twilio refused something we sent (its description may quote
			// it, so it is not logged).
			refuse("twilio_error")
		case conversationrelay.Info:
			// Debugging events (only with the debug attribute): counted.
		}
	}
}

// deliver hands an event to the session unless it has stopped listening.
func (s *relaySession) deliver(ev relayEvent) {
	select {
	case s.events <- ev:
	case <-s.quit:
	}
}
