package callflow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ivr-gateway/ivr"
	"github.com/ivr-gateway/ivr/dialog"
	"github.com/ivr-gateway/ivr/store"
)

// Errors returned by Advance and Current; check them with errors.Is. Any
// other error is a store failure (the transport apologises; see Trouble).
var (
	// ErrBadCall: the call SID is not a Twilio call SID.
	ErrBadCall = errors.New("callflow: not a valid call SID")
	// ErrUnknownCall: Current found no session for the call.
	ErrUnknownCall = errors.New("callflow: unknown call")
	// ErrState: the stored dialog state cannot be read.
	ErrState = errors.New("callflow: stored dialog state unreadable")
)

// Call names the call an event belongs to, as the transport knows it.
type Call struct {
	Sid string
	// Caller is a keyed reference to the caller's number (never the number
	// itself), for the per-caller attempt limit; "" when the number is
	// withheld or not a phone number: such callers share no bucket.
	Caller string
	// Step is the step the transport's request was issued for (the step in
	// a webhook's action URL, or a stream's bound step). An event whose
	// step is not the call's current step is a repeat or a late arrival: it
	// only re-asks the current question.
	Step int64
	// Wait is how long Advance may wait for a verification before it
	// answers with Hold; 0 takes Config.VerifyWait.
	Wait time.Duration
}

// Turn is the outcome of one event: where the call is now and what the
// caller must hear or do next.
type Turn struct {
	State   dialog.State
	Actions []dialog.Action
	// Step is the call's step after the turn: the transport puts it in the
	// next request it expects (an action URL, a stream parameter).
	Step int64
	// Event names what was applied, for the transport's log line.
	Event string
}

// Event names for Turn.Event; they never carry what the caller said.
const (
	EventStart       = "start"
	EventDTMF        = "dtmf"
	EventSpeech      = "speech"
	EventNoInput     = "no_input"
	EventPoll        = "poll"
	EventResume      = "resume"
	EventAnswersLost = "answers_lost"
	EventTakeover    = "takeover"
	EventTrouble     = "trouble"
	EventOther       = "other"
)

// EventName names an event for logs and metrics.
func EventName(ev dialog.Event) string {
	switch ev := ev.(type) {
	case dialog.Start:
		return EventStart
	case dialog.Input:
		switch {
		case ev.Digits != "":
			return EventDTMF
		case ev.Speech != "":
			return EventSpeech
		}
		return EventNoInput
	case dialog.Poll:
		return EventPoll
	case dialog.Resume:
		return EventResume
	case dialog.VerifyResult:
		return "verify_" + ev.Outcome.String()
	case dialog.AnswersLost:
		return EventAnswersLost
	}
	return EventOther
}

// snapshot is one call as loaded from (or saved to) the store.
type snapshot struct {
	sess        store.Session
	state       dialog.State
	isNew       bool
	answersLost bool
	// callerAllowed: the save counted a verification attempt for the
	// caller (saveExtras.countCaller) and it is within the limit.
	callerAllowed bool
}

// load reads the call; with step > 0 it may come from what this instance
// last saw of the call at that step (store.LoadAt).
func (e *Engine) load(ctx context.Context, sid string, step int64) (snapshot, error) {
	var (
		sess store.Session
		err  error
	)
	if step > 0 {
		sess, err = e.store.LoadAt(ctx, sid, step)
	} else {
		sess, err = e.store.Load(ctx, sid)
	}
	if errors.Is(err, store.ErrNotFound) {
		return snapshot{sess: store.Session{CallSid: sid}, isNew: true}, nil
	}
	lost := errors.Is(err, store.ErrSealBroken)
	if lost {
		// The session is there but its answers cannot be opened (a rotated
		// key, damaged data): the dialog asks for them again.
		e.log.Warn("sealed answers unreadable; asking again", "call_sid", sid)
		err = nil
	}
	if err != nil {
		e.obs.StoreError()
		return snapshot{}, fmt.Errorf("callflow: load call: %w", err)
	}
	s := snapshot{sess: sess, answersLost: lost}
	if err := s.state.UnmarshalText(sess.Dialog); err != nil {
		return snapshot{}, fmt.Errorf("%w: %v", ErrState, err)
	}
	if lost {
		return s, nil
	}
	if err := s.state.Answers.UnmarshalBinary(sess.Answers); err != nil {
		return snapshot{}, fmt.Errorf("%w: %v", ErrState, err)
	}
	return s, nil
}

// Current says where the call is without changing it: the current
// question (or outcome) as a Turn. It returns ErrUnknownCall when the call
// has no session.
func (e *Engine) Current(ctx context.Context, sid string) (Turn, error) {
	if !ivr.ValidCallSid(sid) {
		return Turn{}, ErrBadCall
	}
	cur, err := e.load(ctx, sid, 0)
	if err != nil {
		return Turn{}, err
	}
	if cur.isNew {
		return Turn{}, ErrUnknownCall
	}
	st, actions := e.machine.Step(cur.state, dialog.Resume{})
	return Turn{State: st, Actions: actions, Step: cur.sess.Step, Event: EventResume}, nil
}

// Advance applies what the caller did to the call and returns what the
// caller must hear next. It is the one way calls move, whatever the
// transport:
//
//   - a call with no session starts, whatever the event;
//   - an event for another step than the call's (a repeated or late
//     request), and a Start for a call already started (Twilio repeated
//     the incoming-call webhook), only re-ask the current question;
//   - otherwise the dialog steps and the result is saved with a
//     compare-and-set on the step: of two concurrent copies of one request,
//     one advances the call and the other answers where it left it;
//   - when the dialog asks for a verification, the engine runs it (see
//     verify.go), waiting up to Call.Wait before answering with Hold;
//   - a call whose verification lost its owner (an instance died) is taken
//     over by whoever sees it next.
func (e *Engine) Advance(ctx context.Context, c Call, ev dialog.Event) (Turn, error) {
	if e.tracer == nil || !ivr.ValidCallSid(c.Sid) {
		return e.advance(ctx, c, ev)
	}
	ctx, sp := e.startSpan(ctx, c.Sid, spanStep)
	t, err := e.advance(ctx, c, ev)
	endStep(sp, t, err)
	return t, err
}

func (e *Engine) advance(ctx context.Context, c Call, ev dialog.Event) (Turn, error) {
	if !ivr.ValidCallSid(c.Sid) {
		return Turn{}, ErrBadCall
	}
	if c.Wait <= 0 {
		c.Wait = e.cfg.VerifyWait
	}
	if _, start := ev.(dialog.Start); start {
		// A call's first webhook is almost always for a call nobody has seen:
		// create it without reading first. If it exists (Twilio repeated the
		// webhook), the create loses its compare-and-set and the call is
		// read and resumed below.
		next, actions := e.machine.Step(dialog.State{}, dialog.Start{})
		saved, err := e.save(ctx, snapshot{sess: store.Session{CallSid: c.Sid}, isNew: true}, next, saveExtras{})
		if err == nil {
			return Turn{State: next, Actions: actions, Step: saved.sess.Step, Event: EventStart}, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return Turn{}, err
		}
	}
	for range 3 {
		cur, err := e.load(ctx, c.Sid, c.Step)
		if err != nil {
			return Turn{}, err
		}
		orphaned := func() bool {
			return cur.state.Node == dialog.NodeVerifying && !cur.isNew && !cur.answersLost && cur.sess.Lease.Expired(e.now())
		}
		if orphaned() && c.Step > 0 {
			// What this instance remembers of the lease may be older than
			// its owner's last renewal (which does not move the step): read
			// it again before taking anything over.
			if cur, err = e.load(ctx, c.Sid, 0); err != nil {
				return Turn{}, err
			}
		}
		if orphaned() {
			t, err := e.takeover(ctx, c, cur)
			if errors.Is(err, store.ErrConflict) {
				continue // someone else took it over first: look again
			}
			return t, err
		}
		applied := ev
		switch _, isStart := ev.(dialog.Start); {
		case cur.isNew:
			applied = dialog.Start{}
		case cur.answersLost:
			applied = dialog.AnswersLost{}
		case isStart, c.Step != cur.sess.Step:
			applied = dialog.Resume{}
		}
		next, actions := e.machine.Step(cur.state, applied)
		if _, resume := applied.(dialog.Resume); resume {
			return Turn{State: next, Actions: actions, Step: cur.sess.Step, Event: EventName(applied)}, nil
		}
		x := saveExtras{}
		if v, ok := verifyAction(actions); ok {
			// Entering (or staying in) verification: this instance runs it,
			// under a lease saved with the step that asked for it.
			x.lease = e.newLease()
			if v.Fresh && c.Caller != "" {
				// A new set of answers counts against the caller number's
				// hourly limit, across calls and transports: counted with
				// the save, so only the copy that wins counts.
				x.countCaller = c.Caller
			}
			saved, err := e.save(ctx, cur, next, x)
			if errors.Is(err, store.ErrConflict) {
				ev, c.Step = dialog.Resume{}, 0 // a concurrent copy won: answer where it left the call
				continue
			}
			if err != nil {
				return Turn{}, err
			}
			t, err := e.verification(ctx, c, saved, v.Fresh)
			t.Event = EventName(applied)
			return t, err
		}
		if cur.state.Node == dialog.NodeVerifying && next.Node != dialog.NodeVerifying {
			x.dropLease = true // polls exhausted: the verification is abandoned
		}
		saved, err := e.save(ctx, cur, next, x)
		if errors.Is(err, store.ErrConflict) {
			ev, c.Step = dialog.Resume{}, 0
			continue
		}
		if err != nil {
			return Turn{}, err
		}
		return Turn{State: next, Actions: actions, Step: saved.sess.Step, Event: EventName(applied)}, nil
	}
	return Turn{}, fmt.Errorf("callflow: advance %s: %w", c.Sid, store.ErrConflict)
}

func verifyAction(actions []dialog.Action) (dialog.Verify, bool) {
	for _, a := range actions {
		if v, ok := a.(dialog.Verify); ok {
			return v, true
		}
	}
	return dialog.Verify{}, false
}

// saveExtras are what a save writes besides the dialog state.
type saveExtras struct {
	token     *ivr.Token   // verified: the call's access token
	lease     *store.Lease // a new verification lease
	dropLease bool         // the verification is over
	// countCaller counts a fresh attempt for this caller reference in the
	// save's round trip (the per-caller hourly limit).
	countCaller string
}

// save writes next as the step after cur's. The call's phase, attempts and
// timestamps follow the dialog state; an event is appended when the call
// reaches verified or failed. What the save decided (a verified or failed
// call) is counted and logged only once it has won the compare-and-set.
func (e *Engine) save(ctx context.Context, cur snapshot, next dialog.State, x saveExtras) (snapshot, error) {
	blob, err := next.MarshalText()
	if err != nil {
		return cur, fmt.Errorf("callflow: encode state: %w", err)
	}
	answers, err := next.Answers.MarshalBinary()
	if err != nil {
		return cur, fmt.Errorf("callflow: encode answers: %w", err)
	}
	now := e.now()
	sess := cur.sess
	sess.Step = cur.sess.Step + 1
	sess.Phase = next.Phase()
	sess.Attempts = next.Attempts
	sess.Dialog = blob
	sess.Answers = answers
	if cur.isNew {
		sess.CreatedAt = now
	}
	var sx store.SaveExtras
	changed := next.Phase() != cur.state.Phase() || cur.isNew
	if changed {
		switch next.Phase() {
		case ivr.PhaseVerified:
			sess.VerifiedAt = now
			sx.Event = ivr.EventVerified
		case ivr.PhaseFailed:
			sx.Event = ivr.EventFailed
		}
	}
	sx.Token = x.token
	switch {
	case x.lease != nil:
		sx.Lease = x.lease
		sess.Lease = *x.lease
	case x.dropLease || (next.Phase().Final() && next.Phase() != ivr.PhaseVerified):
		sx.Lease = &store.Lease{}
		sess.Lease = store.Lease{}
	}
	allowed := false
	if x.countCaller != "" {
		allowed, err = e.store.SaveCountingCaller(ctx, sess, cur.sess.Step, sx, x.countCaller)
	} else {
		err = e.store.Save(ctx, sess, cur.sess.Step, sx)
	}
	switch {
	case err == nil:
	case errors.Is(err, store.ErrEventNotAppended):
		// The call and its token are saved; only the audit stream missed
		// an entry. The caller must not hear a failure for it.
		e.obs.StoreError()
		e.log.Warn("event not appended to the stream", "call_sid", sess.CallSid, "event", string(sx.Event), "err", err)
	case errors.Is(err, store.ErrConflict):
		return cur, err
	default:
		e.obs.StoreError()
		return cur, fmt.Errorf("callflow: save call: %w", err)
	}
	if changed {
		switch next.Phase() {
		case ivr.PhaseVerified:
			e.obs.CallOutcome("verified")
		case ivr.PhaseFailed:
			e.obs.CallOutcome("failed_" + next.Reason)
			// One line per failed call saying why, so an operator (or a
			// newcomer at the demo) never has to guess from /metrics.
			e.log.Info("call failed", "call_sid", sess.CallSid, "reason", next.Reason, "attempts", next.Attempts)
		}
	}
	return snapshot{sess: sess, state: next, callerAllowed: allowed}, nil
}
