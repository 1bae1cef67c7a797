package callflow

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/ivr-gateway/ivr/dialog"
	"github.com/ivr-gateway/ivr/internal/tracing/calltrace"
	"github.com/ivr-gateway/ivr/store"
)

// Spans of the engine. Every span is in the call's trace (calltrace): a
// webhook's span is its parent when the transport started one there, and a
// WebSocket session's span is linked. Attributes are bounded: the call SID,
// the step, the dialog node, the event name (never what the caller said),
// outcomes. No answer, token or auth_session is ever one.
const (
	spanStep         = "dialog.step"
	spanVerification = "verification"
	spanEnd          = "call.end"
)

// Span attributes.
const (
	attrStep    = attribute.Key("ivr.step")
	attrNode    = attribute.Key("ivr.node")
	attrEvent   = attribute.Key("ivr.event")
	attrOutcome = attribute.Key("ivr.outcome")
	attrVerify  = attribute.Key("ivr.verification.outcome")
	attrRounds  = attribute.Key("ivr.verification.rounds")
	attrFresh   = attribute.Key("ivr.verification.fresh")
	attrEnded   = attribute.Key("ivr.call.ended")
	attrLost    = attribute.Key("ivr.verification.lease_lost")
)

const tracerName = "github.com/ivr-gateway/ivr/callflow"

// startSpan starts a span of the call sid, or returns a nil span when
// tracing is off (the callers check; a no-op span would still cost a
// context allocation per webhook).
func (e *Engine) startSpan(ctx context.Context, sid, name string) (context.Context, trace.Span) {
	if e.tracer == nil {
		return ctx, nil
	}
	return calltrace.Start(ctx, e.tracer, sid, name)
}

// endStep ends a dialog step's span with where the step left the call.
func endStep(sp trace.Span, t Turn, err error) {
	sp.SetAttributes(attrStep.Int64(t.Step), attrNode.String(string(t.State.Node)), attrEvent.String(t.Event),
		attrOutcome.String(errorKind(err)))
	if err != nil {
		sp.SetStatus(codes.Error, errorKind(err))
	}
	sp.End()
}

// errorKind is a bounded description of an engine error for a span (the
// error's text is not exported: it is the log's).
func errorKind(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrBadCall):
		return "bad_call"
	case errors.Is(err, ErrState):
		return "state"
	case errors.Is(err, store.ErrConflict):
		return "conflict"
	case errors.Is(err, errShuttingDown):
		return "shutting_down"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "timeout"
	}
	return "store"
}

// verifySpan is a verification's span; nil when tracing is off. It
// outlives the request that started it when the AS is slow: the
// background verification ends it.
type verifySpan struct{ sp trace.Span }

func (e *Engine) startVerification(ctx context.Context, sid string, fresh bool) (context.Context, verifySpan) {
	ctx, sp := e.startSpan(ctx, sid, spanVerification)
	if sp != nil {
		sp.SetAttributes(attrFresh.Bool(fresh))
	}
	return ctx, verifySpan{sp}
}

// into returns ctx carrying the verification's span, so the AS requests
// made under ctx are its children.
func (v verifySpan) into(ctx context.Context) context.Context {
	if v.sp == nil {
		return ctx
	}
	return trace.ContextWithSpan(ctx, v.sp)
}

// held marks the moment the caller was put on hold.
func (v verifySpan) held() {
	if v.sp != nil {
		v.sp.AddEvent("caller on hold")
	}
}

// end ends the span with what the verification did: the last outcome at
// the AS, the number of AS rounds, whether another instance took it over.
func (v verifySpan) end(tl tally, err error) {
	if v.sp == nil {
		return
	}
	v.sp.SetAttributes(attrVerify.String(tl.outcome.String()), attrRounds.Int(tl.rounds))
	if tl.leaseLost {
		v.sp.SetAttributes(attrLost.Bool(true))
	}
	switch {
	case err != nil:
		v.sp.SetStatus(codes.Error, errorKind(err))
	case tl.outcome == dialog.OutcomeUnavailable && !tl.leaseLost:
		v.sp.SetStatus(codes.Error, "unavailable")
	}
	v.sp.End()
}

// tally is what a verification did, for its span.
type tally struct {
	outcome   dialog.Outcome
	rounds    int
	leaseLost bool // another instance took the verification over
}
