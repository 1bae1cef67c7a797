package tracing

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"

	"github.com/ivr-gateway/ivr"
	"github.com/ivr-gateway/ivr/internal/tracing/calltrace"
)

// w3c is the only propagation the project speaks: W3C traceparent and
// tracestate. Baggage is not propagated (it would carry whatever a caller
// put in it to every party).
var w3c propagation.TextMapPropagator = propagation.TraceContext{}

// noPropagation ignores incoming trace headers: Twilio sends none, and
// whoever else sends one to a webhook must not choose its trace.
var noPropagation = propagation.NewCompositeTextMapPropagator()

// twilioRoutes are the gateway's webhook paths, the only route names a
// webhook span gets: an attacker's path must not become a span name.
var twilioRoutes = []string{
	"/twilio/voice", "/twilio/gather", "/twilio/poll", "/twilio/status",
	"/twilio/stream", "/twilio/stream-done", "/twilio/relay", "/twilio/relay-done",
}

// maxPeek is what a webhook body is read for its CallSid: the gateway's
// own cap on a webhook body (telephony refuses more).
const maxPeek = 64 << 10

// Gateway wraps the gateway's handler with a server span per Twilio webhook
// and per agent-API request, in the trace of the call the request is
// about (package calltrace): a webhook's call is its CallSid form field, an
// agent request's the SID in its path. Webhooks ignore incoming trace
// headers; an agent's traceparent is followed when it is already in the
// call's trace and linked otherwise. Health, readiness and metrics requests
// are not traced. With tp nil it returns h itself.
func Gateway(h http.Handler, tp trace.TracerProvider) http.Handler {
	if tp == nil {
		return h
	}
	common := []otelhttp.Option{
		otelhttp.WithTracerProvider(tp), otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return gatewayRoute(r) }),
	}
	// The server span gets the call SID as an attribute, to be found by.
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sid, ok := calltrace.Sid(r.Context()); ok {
			trace.SpanFromContext(r.Context()).SetAttributes(calltrace.CallSidKey.String(sid))
		}
		h.ServeHTTP(w, r)
	})
	webhooks := otelhttp.NewHandler(inner, "", append(common, otelhttp.WithPropagators(noPropagation))...)
	api := otelhttp.NewHandler(inner, "", append(common, otelhttp.WithPropagators(w3c),
		// A new root in the call's trace, linked to the agent's span,
		// unless the agent's span is in the call's trace already.
		otelhttp.WithPublicEndpointFn(func(r *http.Request) bool {
			tid, ok := calltrace.From(r.Context())
			return !ok || trace.SpanContextFromContext(r.Context()).TraceID() != tid
		}))...)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := path.Clean("/" + r.URL.Path)
		switch {
		case strings.HasPrefix(p+"/", "/twilio/"):
			r = r.WithContext(r.Context()) // a copy whose Body may be replaced
			if sid := peekCallSid(r); sid != "" {
				r = r.WithContext(calltrace.With(r.Context(), sid))
			}
			webhooks.ServeHTTP(w, r)
		case strings.HasPrefix(p+"/", "/v1/"):
			if sid := agentCallSid(p); sid != "" {
				r = r.WithContext(calltrace.With(r.Context(), sid))
			}
			api.ServeHTTP(w, r)
		default:
			h.ServeHTTP(w, r)
		}
	})
}

// peekCallSid reads a form-encoded body (up to maxPeek) for its CallSid and
// puts what it read back in front of the rest, so the handler reads the
// same bytes and meets the same limits. It returns "" for anything but a
// valid call SID.
func peekCallSid(r *http.Request) string {
	if r.Method != http.MethodPost || r.Body == nil || r.Body == http.NoBody {
		return ""
	}
	body := r.Body
	buf, err := io.ReadAll(io.LimitReader(body, maxPeek))
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(buf), body), body}
	if err != nil {
		return ""
	}
	for field := range strings.SplitSeq(string(buf), "&") {
		if v, ok := strings.CutPrefix(field, "CallSid="); ok && ivr.ValidCallSid(v) {
			return v
		}
	}
	return ""
}

// agentCallSid returns the call SID of an agent-API path,
// /v1/calls/{CallSid}[/token].
func agentCallSid(p string) string {
	rest, ok := strings.CutPrefix(p, "/v1/calls/")
	if !ok {
		return ""
	}
	sid, _, _ := strings.Cut(rest, "/")
	if !ivr.ValidCallSid(sid) {
		return ""
	}
	return sid
}

// gatewayRoute names a gateway span: the method and the route, from fixed
// sets ("POST /twilio/gather", "GET /v1/calls/{CallSid}/token").
func gatewayRoute(r *http.Request) string {
	p := path.Clean("/" + r.URL.Path)
	route := "/twilio/{other}"
	switch {
	case strings.HasPrefix(p+"/", "/v1/"):
		route = "/v1/{other}"
		if rest, ok := strings.CutPrefix(p, "/v1/calls/"); ok {
			switch _, tail, _ := strings.Cut(rest, "/"); tail {
			case "":
				route = "/v1/calls/{CallSid}"
			case "token":
				route = "/v1/calls/{CallSid}/token"
			}
		}
	default:
		for _, known := range twilioRoutes {
			if p == known {
				route = known
			}
		}
	}
	return method(r) + " " + route
}

// method is the request's method if it is a standard one: span names are
// bounded, and a method is whatever the client sent.
func method(r *http.Request) string {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return r.Method
	}
	return "HTTP"
}

// Server wraps a service's handler (the reference AS, the MCP server) with
// a server span per request that continues the caller's W3C trace. The span
// is named by the method and the ServeMux pattern that served it (a fixed
// set), or the method alone when no pattern matched. With tp nil it
// returns h itself.
func Server(h http.Handler, tp trace.TracerProvider) http.Handler {
	if tp == nil {
		return h
	}
	return otelhttp.NewHandler(h, "",
		otelhttp.WithTracerProvider(tp), otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithPropagators(w3c),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			if r.Pattern == "" {
				return method(r)
			}
			// A pattern may start with its own method ("GET /x").
			_, p, ok := strings.Cut(r.Pattern, " ")
			if !ok {
				p = r.Pattern
			}
			return method(r) + " " + p
		}))
}

// Transport wraps an HTTP client's transport with a client span per
// request, named by name (which must return a name from a fixed set), and
// sends the W3C traceparent. Requests made outside any span (start-up
// discovery, readiness probes) get no span and no header: a trace is made
// by the work it belongs to. With tp nil it returns base itself.
func Transport(base http.RoundTripper, tp trace.TracerProvider, name func(*http.Request) string) http.RoundTripper {
	if tp == nil {
		return base
	}
	if base == nil {
		base = http.DefaultTransport
	}
	return otelhttp.NewTransport(base,
		otelhttp.WithTracerProvider(ChildOnly(tp)), otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithPropagators(w3c),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return name(r) }))
}

// ChildOnly returns a TracerProvider whose tracers start spans only under
// a span: with none in the context, Start returns the context unchanged and
// a non-recording span, at no cost. It keeps client instrumentation (HTTP,
// Redis) from making a one-span trace of every background command.
func ChildOnly(tp trace.TracerProvider) trace.TracerProvider {
	if tp == nil {
		return nil
	}
	return childOnly{tp: tp}
}

type childOnly struct {
	embedded.TracerProvider
	tp trace.TracerProvider
}

func (c childOnly) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return childOnlyTracer{t: c.tp.Tracer(name, opts...)}
}

type childOnlyTracer struct {
	embedded.Tracer
	t trace.Tracer
}

func (c childOnlyTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, trace.SpanFromContext(ctx)
	}
	return c.t.Start(ctx, name, opts...)
}
