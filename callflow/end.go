package callflow

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/codes"

	"github.com/ivr-gateway/ivr"
	"github.com/ivr-gateway/ivr/store"
)

// End ends a call the caller has left (the status callback, a relay or
// stream session that ended with the call): its answers are deleted, its
// token is revoked at the AS and removed after Config.TokenGrace. It reports
// whether this request ended the call (false for a repeated or unknown
// one: Twilio repeats status callbacks), so the call is counted once.
func (e *Engine) End(ctx context.Context, sid string) (bool, error) {
	if e.tracer == nil || !ivr.ValidCallSid(sid) {
		return e.end(ctx, sid)
	}
	ctx, sp := e.startSpan(ctx, sid, spanEnd)
	ended, err := e.end(ctx, sid)
	sp.SetAttributes(attrEnded.Bool(ended), attrOutcome.String(errorKind(err)))
	if err != nil {
		sp.SetStatus(codes.Error, errorKind(err))
	}
	sp.End()
	return ended, err
}

func (e *Engine) end(ctx context.Context, sid string) (bool, error) {
	if !ivr.ValidCallSid(sid) {
		return false, ErrBadCall
	}
	tok, err := e.store.EndCall(ctx, sid, e.cfg.TokenGrace)
	ended := false
	switch {
	case err == nil:
		ended = true
	case errors.Is(err, store.ErrEventNotAppended):
		ended = true
		e.obs.StoreError()
		e.log.Warn("event not appended to the stream", "call_sid", sid, "event", string(ivr.EventEnded), "err", err)
	case errors.Is(err, store.ErrAlreadyEnded):
	default:
		e.obs.StoreError()
		return false, fmt.Errorf("callflow: end call: %w", err)
	}
	if ended {
		e.obs.CallOutcome("ended")
	}
	// The token of an ended call is revoked even when the callback is a
	// repeat: the first one may have failed to reach the AS.
	e.revoke(ctx, sid, tok)
	return ended, nil
}
