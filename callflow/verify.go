package callflow

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/ivr-gateway/ivr"
	"github.com/ivr-gateway/ivr/dialog"
	"github.com/ivr-gateway/ivr/store"
)

// A verification is owned: the instance that saved the step entering it
// holds a lease in the call's session and renews it while the AS works. The
// result is applied only by the lease's owner, with a compare-and-set on the
// step, so a call is verified once, with one token, however many instances
// see it. If the owner dies, its lease runs out; the next request for the
// call (a caller on hold polls every few seconds) takes the verification
// over from the sealed answers, with a fresh challenge.

func (e *Engine) newLease() *store.Lease {
	var b [6]byte
	rand.Read(b[:])
	return &store.Lease{Owner: e.instance + "-" + hex.EncodeToString(b[:]), Until: e.now().Add(e.cfg.LeaseTTL)}
}

type verifyDone struct {
	turn Turn
	err  error
}

// verification runs the verification the dialog asked for on the call just
// saved as verifying. It waits up to c.Wait for the AS; past that the
// caller is put on hold (Hold, then a Poll) while the verification finishes
// in the background and writes its result to the store, where a later
// Advance finds it. Either way the result is applied by the same code, so a
// slow AS and a fast one end the same.
func (e *Engine) verification(ctx context.Context, c Call, cur snapshot, fresh bool) (Turn, error) {
	owner := cur.sess.Lease.Owner
	ctx, vs := e.startVerification(ctx, cur.sess.CallSid, fresh)
	if fresh && c.Caller != "" {
		// The save that entered verification counted the attempt.
		if !cur.callerAllowed {
			e.obs.Verification(dialog.OutcomeCallerLimited.String(), 0)
			t, err := e.finish(ctx, cur, dialog.VerifyResult{Outcome: dialog.OutcomeCallerLimited, AttemptsRemaining: -1}, nil, owner)
			vs.end(tally{outcome: dialog.OutcomeCallerLimited}, err)
			return t, err
		}
	}
	done := make(chan verifyDone, 1)
	e.bgWG.Add(1)
	go func() {
		defer e.bgWG.Done()
		var tl tally
		d := e.runVerification(vs.into(e.bg), cur, owner, &tl)
		vs.end(tl, d.err)
		done <- d
	}()
	timer := time.NewTimer(c.Wait)
	defer timer.Stop()
	select {
	case d := <-done:
		if !errors.Is(d.err, errShuttingDown) {
			return d.turn, d.err
		}
		// This instance is going away mid-verification: the caller holds
		// and polls, and another instance takes the verification over.
	case <-timer.C:
	case <-ctx.Done():
	}
	vs.held()
	e.log.Info("authorization server slow; caller on hold", "call_sid", cur.sess.CallSid, "step", cur.sess.Step)
	return Turn{State: cur.state, Actions: []dialog.Action{dialog.Hold{}}, Step: cur.sess.Step}, nil
}

// takeover adopts a verification whose owner stopped renewing its lease:
// it saves a lease of its own (bumping the step, so the old owner's result,
// should it still come, loses its compare-and-set) and runs the
// verification again from the answers kept sealed in the session.
func (e *Engine) takeover(ctx context.Context, c Call, cur snapshot) (Turn, error) {
	saved, err := e.save(ctx, cur, cur.state, saveExtras{lease: e.newLease()})
	if err != nil {
		return Turn{}, err
	}
	e.log.Warn("verification taken over from an instance that stopped renewing its lease",
		"call_sid", c.Sid, "step", saved.sess.Step)
	t, err := e.verification(ctx, c, saved, false)
	t.Event = EventTakeover
	return t, err
}

// runVerification runs the AS round trips under base (the engine's
// background context, carrying the verification's span), bounded by
// VerifyTimeout, renewing the lease meanwhile, and applies the result. A
// dialog that answers a result with another Verify (an invalid_session
// retry) is served in the same goroutine. tl records the rounds and the
// last outcome.
func (e *Engine) runVerification(base context.Context, cur snapshot, owner string, tl *tally) verifyDone {
	tl.outcome = dialog.OutcomeUnavailable
	ctx, cancel := context.WithTimeout(base, e.cfg.VerifyTimeout+5*time.Second)
	defer cancel()
	vctx, lost := context.WithCancelCause(ctx)
	stopRenew := e.renewLease(vctx, cur.sess.CallSid, owner, lost)
	defer stopRenew()
	for range 3 {
		actx, acancel := context.WithTimeout(vctx, e.cfg.VerifyTimeout)
		start := time.Now()
		res, tok, verr := e.verifier.Verify(actx, cur.state.Answers)
		acancel()
		tl.rounds, tl.outcome = tl.rounds+1, res.Outcome
		if e.bg.Err() != nil {
			// Shutting down: an interrupted AS round trip is not the caller's
			// failure. Leave the call verifying and hand the lease back, so
			// the caller's next poll, on another instance, runs it again.
			e.revoke(context.WithoutCancel(ctx), cur.sess.CallSid, tok)
			e.releaseLease(cur.sess.CallSid, owner)
			return verifyDone{err: fmt.Errorf("callflow: verification of %s: %w", cur.sess.CallSid, errShuttingDown)}
		}
		if errors.Is(context.Cause(vctx), store.ErrLeaseLost) {
			// Another instance took the call over: its result counts.
			tl.leaseLost = true
			e.revoke(ctx, cur.sess.CallSid, tok)
			st, actions := e.machine.Step(cur.state, dialog.Resume{})
			return verifyDone{turn: Turn{State: st, Actions: actions, Step: cur.sess.Step}}
		}
		if res.Outcome == dialog.OutcomeVerified && (tok == nil || tok.AccessToken == "") {
			res.Outcome = dialog.OutcomeUnavailable
		}
		tl.outcome = res.Outcome
		e.obs.Verification(res.Outcome.String(), time.Since(start))
		if verr != nil {
			e.log.Warn("verification failed", "call_sid", cur.sess.CallSid, "outcome", res.Outcome.String(), "err", verr)
		}
		t, err := e.finish(ctx, cur, res, tok, owner)
		if err != nil {
			return verifyDone{t, err}
		}
		if _, again := verifyAction(t.Actions); !again {
			return verifyDone{t, nil}
		}
		if cur, err = e.load(ctx, cur.sess.CallSid, 0); err != nil {
			return verifyDone{Turn{}, err}
		}
	}
	t, err := e.finish(ctx, cur, dialog.VerifyResult{Outcome: dialog.OutcomeUnavailable, AttemptsRemaining: -1}, nil, owner)
	return verifyDone{t, err}
}

// renewLease renews the lease every LeaseTTL/3 until stopped; when the
// lease is lost it cancels ctx with store.ErrLeaseLost.
func (e *Engine) renewLease(ctx context.Context, sid, owner string, lost context.CancelCauseFunc) (stop func()) {
	quit := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(e.cfg.LeaseTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			err := e.store.RenewLease(ctx, sid, owner, e.now().Add(e.cfg.LeaseTTL))
			switch {
			case errors.Is(err, store.ErrLeaseLost):
				lost(store.ErrLeaseLost)
				return
			case err != nil:
				// The store is unreachable for a moment: try again at the
				// next tick; the lease still has two ticks to run.
				e.obs.StoreError()
			}
		}
	}()
	return func() { close(quit); <-exited }
}

var errShuttingDown = errors.New("callflow: shutting down")

// releaseLease ends the lease now, if still ours, so another instance may
// take the verification over at once.
func (e *Engine) releaseLease(sid, owner string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := e.store.RenewLease(ctx, sid, owner, e.now()); err != nil && !errors.Is(err, store.ErrLeaseLost) {
		e.obs.StoreError()
	}
}

// finish applies a verification result to the call and saves it, with the
// token when verified. Polls may have moved the step meanwhile: on a
// conflict it reloads and applies the result to the newer state, as long as
// the call is still verifying under this owner's lease. A call that ended,
// failed, or was taken over while the AS was working gets no token: it is
// revoked instead, and the turn says where the call is.
//
// A store error leaves the save's outcome unknown (the reply may be what
// was lost, as in a failover), so finish retries with a backoff until ctx
// ends: the compare-and-set makes a retry harmless, and a verified call
// keeps its owner in the lease field, so a retry can tell its own earlier
// success from another instance's.
func (e *Engine) finish(ctx context.Context, cur snapshot, res dialog.VerifyResult, tok *ivr.Token, owner string) (Turn, error) {
	sid := cur.sess.CallSid
	backoff := 50 * time.Millisecond
	var lastErr error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			var err error
			if cur, err = e.load(ctx, sid, 0); err != nil {
				lastErr = err
				if !sleep(ctx, &backoff) {
					break
				}
				continue
			}
		}
		if cur.state.Node == dialog.NodeVerified && cur.sess.Lease.Owner == owner {
			// An earlier attempt of ours was saved; only its reply was lost.
			st, actions := e.machine.Step(cur.state, dialog.Resume{})
			return Turn{State: st, Actions: actions, Step: cur.sess.Step}, nil
		}
		if cur.state.Node != dialog.NodeVerifying || cur.sess.Lease.Owner != owner {
			e.revoke(ctx, sid, tok)
			st, actions := e.machine.Step(cur.state, dialog.Resume{})
			return Turn{State: st, Actions: actions, Step: cur.sess.Step}, nil
		}
		next, actions := e.machine.Step(cur.state, res)
		x := saveExtras{}
		switch {
		case next.Phase() == ivr.PhaseVerified:
			// The lease stays as the record of who verified the call (it
			// no longer protects anything: the call is not verifying).
			x.token, x.lease = tok, &store.Lease{Owner: owner, Until: e.now()}
		case next.Node != dialog.NodeVerifying:
			x.dropLease = true
		}
		if x.token == nil {
			e.revoke(ctx, sid, tok)
			tok = nil
		}
		saved, err := e.save(ctx, cur, next, x)
		if err == nil {
			return Turn{State: next, Actions: actions, Step: saved.sess.Step}, nil
		}
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		lastErr = err
		if !sleep(ctx, &backoff) {
			break
		}
	}
	// Gave up: the token may or may not be the call's now; it was never
	// handed to anyone else, and it expires on its own.
	e.log.Error("verification result not saved", "call_sid", sid, "err", lastErr)
	return Turn{}, fmt.Errorf("callflow: save verification result: %w", lastErr)
}

// sleep waits *backoff (doubling it, up to a second) or until ctx ends,
// reporting whether to go on.
func sleep(ctx context.Context, backoff *time.Duration) bool {
	t := time.NewTimer(*backoff)
	defer t.Stop()
	*backoff = min(2**backoff, time.Second)
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// revoke revokes a token that will not be handed to anyone. A failed
// revocation is an operator's concern (the token dies at expiry anyway).
func (e *Engine) revoke(ctx context.Context, sid string, tok *ivr.Token) {
	if tok == nil || tok.AccessToken == "" {
		return
	}
	if err := e.verifier.Revoke(ctx, tok.AccessToken); err != nil {
		e.log.Warn("token revocation failed", "call_sid", sid, "err", err)
	}
}
