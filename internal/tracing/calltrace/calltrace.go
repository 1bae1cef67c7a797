// Package calltrace makes one phone call one trace. The trace ID of a call
// is derived from its call SID, so every party that knows the SID (the
// gateway's webhooks, its dialog steps and verification, an agent that
// fetches the call's token) starts its spans in the same trace without
// asking anyone; the parties a W3C traceparent reaches from there (the
// authorization server, the MCP server) join it as children.
//
// It imports only the OpenTelemetry API (no net/http), so the
// transport-neutral call engine can use it.
package calltrace

import (
	"context"
	"crypto/sha256"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// CallSidKey is the span attribute naming the call a span belongs to. A
// call SID is not personal data (every log line carries it); it is what
// an operator searches for.
const CallSidKey = attribute.Key("ivr.call_sid")

// TraceID returns the trace ID of the call sid: the first 16 bytes of
// SHA-256 over "ivr-call:" and the SID. Hashed rather than the SID's own 32
// hex digits so that the traceparent sent to the authorization server and
// the MCP server does not hand them the call SID; uniformly distributed, so
// a ratio sampler keeps or drops a whole call.
func TraceID(sid string) trace.TraceID {
	sum := sha256.Sum256([]byte("ivr-call:" + sid))
	var id trace.TraceID
	copy(id[:], sum[:16])
	return id
}

type key struct{}

type call struct {
	sid string
	tid trace.TraceID
}

// With returns ctx asking that a root span started under it belong to the
// call sid's trace. The ID generator of package tracing honours it; a
// TracerProvider that does not know it starts an ordinary random trace.
func With(ctx context.Context, sid string) context.Context {
	return context.WithValue(ctx, key{}, call{sid, TraceID(sid)})
}

// From returns the trace ID With put in ctx.
func From(ctx context.Context) (trace.TraceID, bool) {
	c, ok := ctx.Value(key{}).(call)
	return c.tid, ok
}

// Sid returns the call SID With put in ctx.
func Sid(ctx context.Context) (string, bool) {
	c, ok := ctx.Value(key{}).(call)
	return c.sid, ok
}

// Start starts a span of the call sid: a child of the span in ctx when
// that span is already in the call's trace, or else the root of a new part
// of the call's trace, linked to the span in ctx (a WebSocket session or a
// caller's own trace), which gets the call SID as an attribute so the link
// can be followed both ways.
func Start(ctx context.Context, tr trace.Tracer, sid, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	tid := TraceID(sid)
	parent := trace.SpanFromContext(ctx)
	psc := parent.SpanContext()
	opts = append(opts, trace.WithAttributes(CallSidKey.String(sid)))
	if psc.TraceID() != tid {
		ctx = context.WithValue(ctx, key{}, call{sid, tid})
		opts = append(opts, trace.WithNewRoot())
		if psc.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: psc}))
			parent.SetAttributes(CallSidKey.String(sid))
		}
	}
	return tr.Start(ctx, name, opts...)
}
