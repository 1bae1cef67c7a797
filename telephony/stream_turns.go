package telephony

import (
	"context"
	"strconv"
	"time"

	"github.com/ivr-gateway/ivr/callflow"
	"github.com/ivr-gateway/ivr/dialog"
	"github.com/ivr-gateway/ivr/kba"
	"github.com/ivr-gateway/ivr/prompts"
)

// questionTimeout is the <Gather timeout> the webhooks use for the same
// question: the wait for the first key and between keys.
func questionTimeout(q dialog.Node) time.Duration {
	n, _ := strconv.Atoi(settingsFor(q).timeout)
	return time.Duration(n) * time.Second
}

// collect plays a question and gathers its digits the way <Gather> does:
// it ends at NumDigits keys, at '#', or when the caller stops pressing
// keys for the question's timeout (empty input when none were pressed). A
// key during the prompt stops it (clear): barge-in.
func (s *streamSession) collect(ctx context.Context, a dialog.Ask, lang kba.Lang) (dialog.Input, error) {
	s.lastLang = lang
	s.play(s.segments(a.Say, lang))
	timeout := questionTimeout(a.Question)
	var (
		buf    [16]byte
		digits = buf[:0]
		timer  *time.Timer
	)
	setTimer := func(d time.Duration) {
		// A new timer rather than Reset: Reset would bypass the Clock.
		if timer != nil {
			timer.Stop()
		}
		timer = s.clock.NewTimer(d)
	}
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	if !s.playing() {
		setTimer(timeout + markGrace)
	}
	for {
		var timerC <-chan time.Time
		if timer != nil {
			timerC = timer.C
		}
		select {
		case <-s.tickC():
			if s.tick(ctx) && len(digits) == 0 {
				setTimer(timeout + markGrace)
			}
		case ev, ok := <-s.events:
			if !ok {
				return dialog.Input{}, errStreamClosed
			}
			switch ev.kind {
			case evKey:
				if s.playing() {
					s.stopPlay(true)
				}
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
			case evMark:
				if s.acked(ev.name) && !s.playing() && len(digits) == 0 {
					// The question has been heard: the caller's time starts now.
					setTimer(timeout)
				}
			case evStop:
				return dialog.Input{}, errStreamEnded
			case evClosed:
				return dialog.Input{}, errStreamClosed
			}
		case <-timerC:
			return dialog.Input{Digits: string(digits)}, nil
		case <-ctx.Done():
			return dialog.Input{}, context.Cause(ctx)
		}
	}
}

// stepWithHold steps the dialog with the caller's input. A verification
// runs inside the step with no webhook deadline to meet; when it takes
// longer than holdAfter the caller hears the hold prompt meanwhile. Keys
// pressed during the step are dropped, as <Gather> would.
func (s *streamSession) stepWithHold(ctx context.Context, call callflow.Call, in dialog.Input) (callflow.Turn, error) {
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
	hold := s.clock.NewTimer(holdAfter)
	defer hold.Stop()
	var (
		res    result
		have   bool
		failed error
	)
	for {
		if have && !s.playing() {
			return res.t, res.err
		}
		if failed != nil {
			cancel()
			if !have {
				<-done
			}
			return callflow.Turn{}, failed
		}
		select {
		case res = <-done:
			have = true
		case <-hold.C:
			s.play(s.segments([]dialog.Say{{Prompt: prompts.Hold}}, s.lastLang))
		case <-s.tickC():
			s.tick(ctx)
		case ev, ok := <-s.events:
			switch {
			case !ok || ev.kind == evClosed:
				failed = errStreamClosed
			case ev.kind == evStop:
				failed = errStreamEnded
			case ev.kind == evMark:
				s.acked(ev.name)
			case ev.kind == evKey:
				s.m.digits.WithLabelValues("dropped").Inc()
			}
		case <-ctx.Done():
			failed = context.Cause(ctx)
		}
	}
}

// drain waits until every mark sent has been echoed (the caller has heard
// everything queued), for at most markGrace after the last frame.
func (s *streamSession) drain(ctx context.Context) error {
	var t *time.Timer
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for s.playing() || s.unacked > 0 {
		if t == nil && !s.playing() {
			t = s.clock.NewTimer(markGrace)
		}
		var tc <-chan time.Time
		if t != nil {
			tc = t.C
		}
		select {
		case <-s.tickC():
			s.tick(ctx)
		case ev, ok := <-s.events:
			switch {
			case !ok || ev.kind == evClosed:
				return errStreamClosed
			case ev.kind == evStop:
				return errStreamEnded
			case ev.kind == evMark:
				s.acked(ev.name)
			}
		case <-tc:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	return nil
}
