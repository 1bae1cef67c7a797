package telephony

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ivr-gateway/ivr/authclient"
	"github.com/ivr-gateway/ivr/dialog"
	"github.com/ivr-gateway/ivr/store"
)

type verifyDone struct {
	state   dialog.State
	actions []dialog.Action
	call    call
	err     error
}

// runVerify runs the verification the dialog asked for. It waits up to
// wait for the AS; past that the caller is put on hold (a <Redirect>
// poll) while the verification finishes in the background and writes its
// result to Redis, where the next poll finds it. Either way the result is
// applied by the same code (finish), so a slow AS and a fast one end the same.
func (g *Gateway) runVerify(ctx context.Context, req *request, prev dialog.State, c call, wait time.Duration) (dialog.State, []dialog.Action, call, error) {
	if prev.Node == dialog.NodeSSN4 && req.caller != "" {
		// A fresh attempt (not an OTP or a session retry) counts against the
		// caller number's hourly limit, across calls and transports.
		ok, err := g.sessions.AllowCaller(ctx, req.caller)
		if err != nil {
			return c.state, nil, c, fmt.Errorf("telephony: caller limit: %w", err)
		}
		if !ok {
			g.metrics.verifications.WithLabelValues(dialog.OutcomeCallerLimited.String()).Inc()
			st, acts, c2, err := g.finish(ctx, c, dialog.VerifyResult{Outcome: dialog.OutcomeCallerLimited, AttemptsRemaining: -1}, nil)
			return st, acts, c2, err
		}
	}
	done := make(chan verifyDone, 1)
	g.bgWG.Add(1)
	go func() {
		defer g.bgWG.Done()
		done <- g.verifyInBackground(c)
	}()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case d := <-done:
		return d.state, d.actions, d.call, d.err
	case <-timer.C:
	case <-ctx.Done():
	}
	g.log.Info("authorization server slow; caller on hold", "call_sid", req.callSid, "step", c.sess.Step)
	return c.state, []dialog.Action{dialog.Hold{}}, c, nil
}

// verifyInBackground runs the AS round trips under the gateway's background
// context, bounded by VerifyTimeout, and applies the result. A dialog that
// answers a result with another Verify (an invalid_session retry) is served
// in the same goroutine.
func (g *Gateway) verifyInBackground(c call) verifyDone {
	ctx, cancel := context.WithTimeout(g.bg, g.cfg.VerifyTimeout+5*time.Second)
	defer cancel()
	for range 3 {
		vctx, vcancel := context.WithTimeout(ctx, g.cfg.VerifyTimeout)
		start := time.Now()
		res := g.verifier.Verify(vctx, toAuthAnswers(c.state.Answers))
		vcancel()
		ev, tok := fromAuthResult(res)
		g.metrics.verifications.WithLabelValues(ev.Outcome.String()).Inc()
		g.metrics.verifySeconds.WithLabelValues(ev.Outcome.String()).Observe(time.Since(start).Seconds())
		if res.Err != nil {
			g.log.Warn("verification failed", "call_sid", c.sess.CallSid, "outcome", ev.Outcome.String(), "err", res.Err)
		}
		st, acts, c2, err := g.finish(ctx, c, ev, tok)
		if err != nil || !hasVerify(acts) {
			return verifyDone{st, acts, c2, err}
		}
		c = c2
	}
	st, acts, c2, err := g.finish(ctx, c, dialog.VerifyResult{Outcome: dialog.OutcomeUnavailable, AttemptsRemaining: -1}, nil)
	return verifyDone{st, acts, c2, err}
}

// finish applies a verification result to the call and saves it, with the
// token when verified. Polls may have moved the step meanwhile: on a
// conflict it reloads and applies the result to the newer state. A call that
// ended while the AS was working gets no token: it is revoked instead.
func (g *Gateway) finish(ctx context.Context, c call, ev dialog.VerifyResult, tok *store.Token) (dialog.State, []dialog.Action, call, error) {
	for range 5 {
		if c.sess.Phase == string(dialog.PhaseEnded) || c.state.Node != dialog.NodeVerifying {
			if tok != nil {
				if err := g.verifier.Revoke(ctx, tok.AccessToken); err != nil {
					g.log.Warn("token revocation failed", "call_sid", c.sess.CallSid, "err", err)
				}
			}
			return c.state, nil, c, nil
		}
		next, actions := g.machine.Step(c.state, ev)
		var t *store.Token
		if next.Phase() == dialog.PhaseVerified {
			t = tok
		}
		saved, err := g.save(ctx, c, next, t)
		if err == nil {
			return next, actions, saved, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return c.state, nil, c, err
		}
		if c, err = g.load(ctx, c.sess.CallSid); err != nil {
			return c.state, nil, c, err
		}
	}
	return c.state, nil, c, fmt.Errorf("telephony: save verification result: %w", store.ErrConflict)
}

func toAuthAnswers(a dialog.Answers) authclient.Answers {
	out := authclient.Answers{
		GivenName:   a.Name.Given,
		FamilyName:  a.Name.Family,
		SSNLast4:    a.SSN4,
		OTP:         a.OTP,
		AuthSession: a.AuthSession,
	}
	if !a.DOB.IsZero() {
		out.Birthdate = a.DOB.ISO()
	}
	return out
}

func fromAuthResult(r authclient.Result) (dialog.VerifyResult, *store.Token) {
	ev := dialog.VerifyResult{AuthSession: r.AuthSession, AttemptsRemaining: r.AttemptsRemaining}
	switch r.Outcome {
	case authclient.Verified:
		ev.Outcome = dialog.OutcomeVerified
	case authclient.OTPRequired:
		ev.Outcome = dialog.OutcomeOTPRequired
	case authclient.Denied:
		ev.Outcome = dialog.OutcomeDenied
	case authclient.InvalidSession:
		ev.Outcome = dialog.OutcomeInvalidSession
	case authclient.RedirectToWeb:
		ev.Outcome = dialog.OutcomeRedirectToWeb
	case authclient.Locked:
		ev.Outcome = dialog.OutcomeLocked
	default:
		ev.Outcome = dialog.OutcomeUnavailable
	}
	var tok *store.Token
	if ev.Outcome == dialog.OutcomeVerified {
		if r.Token == nil || r.Token.AccessToken == "" {
			ev.Outcome = dialog.OutcomeUnavailable
		} else {
			tok = &store.Token{
				AccessToken: r.Token.AccessToken,
				TokenType:   r.Token.TokenType,
				Scope:       r.Token.Scope,
				Resource:    r.Token.Resource,
				ExpiresAt:   r.Token.ExpiresAt,
			}
		}
	}
	return ev, tok
}
