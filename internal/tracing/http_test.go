package tracing_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ivr-gateway/ivr/internal/redistest"
	"github.com/ivr-gateway/ivr/internal/tracing"
	"github.com/ivr-gateway/ivr/internal/tracing/calltrace"
)

const sid = "CA0123456789abcdef0123456789abcdef"

// recorded returns a provider that keeps its spans in memory.
func recorded() (trace.TracerProvider, *tracetest.SpanRecorder) {
	rec := tracetest.NewSpanRecorder()
	return tracing.New(tracing.Settings{}, rec).Provider("test"), rec
}

func attr(s sdktrace.ReadOnlySpan, k attribute.Key) string {
	for _, kv := range s.Attributes() {
		if kv.Key == k {
			return kv.Value.Emit()
		}
	}
	return ""
}

// echo answers with the body it read, so a test sees whether a wrapper
// changed it.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	w.Write(b)
})

func TestGatewaySpans(t *testing.T) {
	tp, rec := recorded()
	h := tracing.Gateway(echo, tp)
	callTrace := calltrace.TraceID(sid).String()
	foreign := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5}, TraceFlags: trace.FlagsSampled})
	inCall := trace.NewSpanContext(trace.SpanContextConfig{TraceID: calltrace.TraceID(sid), SpanID: trace.SpanID{7, 7}, TraceFlags: trace.FlagsSampled, Remote: true})
	traceparent := func(sc trace.SpanContext) http.Header {
		h := http.Header{}
		propagation.TraceContext{}.Inject(trace.ContextWithSpanContext(context.Background(), sc), propagation.HeaderCarrier(h))
		return h
	}
	form := url.Values{"CallSid": {sid}, "From": {"+15555550123"}, "SpeechResult": {"Maria Garcia"}}.Encode()
	tests := []struct {
		name, method, path, body string
		header                   http.Header
		wantSpan                 bool
		wantName                 string
		wantTrace                string // "" : any
		wantParent               trace.SpanID
		wantLink                 trace.SpanContext
	}{
		{name: "webhook", method: "POST", path: "/twilio/gather?step=3", body: form,
			wantSpan: true, wantName: "POST /twilio/gather", wantTrace: callTrace},
		{name: "webhook ignores an incoming traceparent", method: "POST", path: "/twilio/voice", body: form, header: traceparent(foreign),
			wantSpan: true, wantName: "POST /twilio/voice", wantTrace: callTrace},
		{name: "webhook without a valid CallSid", method: "POST", path: "/twilio/status", body: "CallSid=CA12&x=1",
			wantSpan: true, wantName: "POST /twilio/status"},
		{name: "an unknown path is not a span name", method: "POST", path: "/twilio/../twilio/secret-123", body: form,
			wantSpan: true, wantName: "POST /twilio/{other}", wantTrace: callTrace},
		{name: "an odd method is not a span name", method: "BREW", path: "/twilio/voice", body: form,
			wantSpan: true, wantName: "HTTP /twilio/voice"},
		{name: "agent request in the call's trace is a child", method: "GET", path: "/v1/calls/" + sid + "/token", header: traceparent(inCall),
			wantSpan: true, wantName: "GET /v1/calls/{CallSid}/token", wantTrace: callTrace, wantParent: inCall.SpanID()},
		{name: "agent request from another trace is linked", method: "GET", path: "/v1/calls/" + sid, header: traceparent(foreign),
			wantSpan: true, wantName: "GET /v1/calls/{CallSid}", wantTrace: callTrace, wantLink: foreign},
		{name: "agent request without a call", method: "GET", path: "/v1/other",
			wantSpan: true, wantName: "GET /v1/{other}"},
		{name: "health is not traced", method: "GET", path: "/healthz"},
		{name: "metrics are not traced", method: "GET", path: "/metrics"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := len(rec.Ended())
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			for k, v := range tt.header {
				req.Header[k] = v
			}
			rr := httptest.NewRecorder()
			h.ServeHTTP(rr, req)
			if rr.Body.String() != tt.body {
				t.Errorf("the handler read %q, want the body as sent", rr.Body.String())
			}
			spans := rec.Ended()[n:]
			if !tt.wantSpan {
				if len(spans) != 0 {
					t.Errorf("%d spans, want none", len(spans))
				}
				return
			}
			if len(spans) != 1 {
				t.Fatalf("%d spans, want 1", len(spans))
			}
			s := spans[0]
			if s.Name() != tt.wantName || s.SpanKind() != trace.SpanKindServer {
				t.Errorf("span %q (%v), want %q (server)", s.Name(), s.SpanKind(), tt.wantName)
			}
			if tt.wantTrace != "" {
				if got := s.SpanContext().TraceID().String(); got != tt.wantTrace {
					t.Errorf("trace %s, want the call's %s", got, tt.wantTrace)
				}
				if attr(s, calltrace.CallSidKey) != sid {
					t.Errorf("no call SID attribute: %v", s.Attributes())
				}
			} else if s.SpanContext().TraceID().String() == callTrace {
				t.Error("a request without a call SID joined the call's trace")
			}
			if s.Parent().SpanID() != tt.wantParent {
				t.Errorf("parent %s, want %s", s.Parent().SpanID(), tt.wantParent)
			}
			if tt.wantLink.IsValid() != (len(s.Links()) == 1) || (tt.wantLink.IsValid() && s.Links()[0].SpanContext.SpanID() != tt.wantLink.SpanID()) {
				t.Errorf("links %v, want %v", s.Links(), tt.wantLink)
			}
			for _, kv := range s.Attributes() {
				if v := kv.Value.Emit(); strings.Contains(v, "Garcia") || strings.Contains(v, "5555550123") || strings.Contains(v, "step=") {
					t.Errorf("attribute %s=%q carries the request's data", kv.Key, v)
				}
			}
		})
	}
}

// TestGatewayBodyLimit: the webhook body is read ahead for its CallSid, and
// a body past the gateway's limit still reaches the handler whole, so the
// handler's own limit decides as before.
func TestGatewayBodyLimit(t *testing.T) {
	tp, _ := recorded()
	var got int
	h := tracing.Gateway(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = len(b)
	}), tp)
	body := "CallSid=" + sid + "&pad=" + strings.Repeat("x", 200<<10)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/twilio/gather", strings.NewReader(body)))
	if got != len(body) {
		t.Errorf("handler read %d bytes, want %d", got, len(body))
	}
}

// TestOffIsIdentity: with a nil provider every wrapper gives back what it
// was given, so tracing off leaves the request path exactly as it was.
func TestOffIsIdentity(t *testing.T) {
	h := &countingHandler{}
	if got := tracing.Gateway(h, nil); got != http.Handler(h) {
		t.Errorf("Gateway(h, nil) = %T, want h", got)
	}
	if got := tracing.Server(h, nil); got != http.Handler(h) {
		t.Errorf("Server(h, nil) = %T, want h", got)
	}
	base := &http.Transport{}
	if got := tracing.Transport(base, nil, nil); got != http.RoundTripper(base) {
		t.Errorf("Transport(base, nil) = %T, want base", got)
	}
	if tracing.ChildOnly(nil) != nil {
		t.Error("ChildOnly(nil) is not nil")
	}
	if err := tracing.Redis(nil, nil); err != nil {
		t.Error(err)
	}
}

type countingHandler struct{ n int }

func (c *countingHandler) ServeHTTP(http.ResponseWriter, *http.Request) { c.n++ }

// TestServerSpans: the AS and the MCP server continue the caller's trace
// and name spans by their ServeMux pattern.
func TestServerSpans(t *testing.T) {
	tp, rec := recorded()
	mux := http.NewServeMux()
	mux.HandleFunc("/oauth/challenge", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("GET /oauth/jwks.json", func(http.ResponseWriter, *http.Request) {})
	h := tracing.Server(mux, tp)
	parent := trace.NewSpanContext(trace.SpanContextConfig{TraceID: calltrace.TraceID(sid), SpanID: trace.SpanID{9}, TraceFlags: trace.FlagsSampled})
	for _, tc := range []struct{ method, path, want string }{
		{"POST", "/oauth/challenge?given_name=Maria", "POST /oauth/challenge"},
		{"GET", "/oauth/jwks.json", "GET /oauth/jwks.json"},
		{"POST", "/nothing-here/123", "POST"},
	} {
		req := httptest.NewRequest(tc.method, tc.path, nil)
		propagation.TraceContext{}.Inject(trace.ContextWithSpanContext(context.Background(), parent), propagation.HeaderCarrier(req.Header))
		n := len(rec.Ended())
		h.ServeHTTP(httptest.NewRecorder(), req)
		spans := rec.Ended()[n:]
		if len(spans) != 1 {
			t.Fatalf("%s: %d spans", tc.path, len(spans))
		}
		s := spans[0]
		if s.Name() != tc.want || s.Parent().SpanID() != parent.SpanID() || s.SpanContext().TraceID() != parent.TraceID() {
			t.Errorf("%s: span %q parent %s trace %s", tc.path, s.Name(), s.Parent().SpanID(), s.SpanContext().TraceID())
		}
		for _, kv := range s.Attributes() {
			if strings.Contains(kv.Value.Emit(), "Maria") {
				t.Errorf("%s: attribute %s=%q carries the query", tc.path, kv.Key, kv.Value.Emit())
			}
		}
	}
}

// TestTransportSpans: a client span and a traceparent only inside a span.
func TestTransportSpans(t *testing.T) {
	tp, rec := recorded()
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Header.Get("traceparent"))
	}))
	defer srv.Close()
	c := &http.Client{Transport: tracing.Transport(nil, tp, func(*http.Request) string { return "AS challenge" })}
	do := func(ctx context.Context) {
		req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/oauth/challenge", strings.NewReader("ssn_last4=1234"))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	do(context.Background()) // outside any span: a readiness probe, start-up discovery
	ctx, parent := tp.Tracer("t").Start(context.Background(), "verification")
	do(ctx)
	parent.End()
	if seen[0] != "" || seen[1] == "" || !strings.Contains(seen[1], parent.SpanContext().TraceID().String()) {
		t.Errorf("traceparent headers %q: want none outside a span, the verification's trace inside", seen)
	}
	var client []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.SpanKind() == trace.SpanKindClient {
			client = append(client, s)
		}
	}
	if len(client) != 1 || client[0].Name() != "AS challenge" || client[0].Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Fatalf("client spans %v, want one AS challenge under the verification", client)
	}
}

// TestRedisSpans: a span per command under a span, none outside, and never
// the statement.
func TestRedisSpans(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	tp, rec := recorded()
	if err := tracing.Redis(rdb, tp); err != nil {
		t.Fatal(err)
	}
	secret := "sealed-answers-Maria-Garcia-1234"
	if err := rdb.Set(context.Background(), prefix+"outside", secret, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.Ended()); n != 0 {
		t.Errorf("%d spans for a command outside any span", n)
	}
	ctx, parent := tp.Tracer("t").Start(context.Background(), "dialog.step")
	rdb.Set(ctx, prefix+"k", secret, 0)
	rdb.Get(ctx, prefix+"missing") // redis.Nil is not an error
	pipe := rdb.Pipeline()
	pipe.HSet(ctx, prefix+"h", "answers", secret)
	pipe.Expire(ctx, prefix+"h", 0)
	pipe.Exec(ctx)
	parent.End()
	var names []string
	for _, s := range rec.Ended() {
		if s == nil || s.Name() == "dialog.step" {
			continue
		}
		names = append(names, s.Name())
		if s.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("%s: parent %s", s.Name(), s.Parent().SpanID())
		}
		if s.Status().Code != 0 {
			t.Errorf("%s: status %v", s.Name(), s.Status())
		}
		for _, kv := range s.Attributes() {
			v := kv.Value.Emit()
			if kv.Key == "db.statement" || strings.Contains(v, "Maria") || strings.Contains(v, prefix) || strings.Contains(v, "code.") {
				t.Errorf("%s: attribute %s=%q", s.Name(), kv.Key, v)
			}
		}
	}
	// The connection was dialled outside the span; its HELLO and CLIENT
	// SETINFO would not be spans anyway.
	if strings.Join(names, ",") != "set,get,redis.pipeline hset expire" {
		t.Errorf("Redis spans %v", names)
	}
}

// FuzzGateway feeds the gateway wrapper what an outsider controls (path,
// method, body): the handler reads the body as sent, and the span name
// comes from the fixed set.
func FuzzGateway(f *testing.F) {
	f.Add("POST", "/twilio/gather?step=1", "CallSid="+sid+"&Digits=1")
	f.Add("POST", "/twilio/voice", "CallSid=CA&CallSid="+sid)
	f.Add("GET", "/v1/calls/"+sid+"/token", "")
	f.Add("PUT", "/twilio/../v1/calls/x/y/z", "%zz")
	tp, rec := recorded()
	var read string
	h := tracing.Gateway(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		read = string(b)
	}), tp)
	allowed := map[string]bool{"/twilio/{other}": true, "/v1/{other}": true, "/v1/calls/{CallSid}": true, "/v1/calls/{CallSid}/token": true,
		"/twilio/voice": true, "/twilio/gather": true, "/twilio/poll": true, "/twilio/status": true, "/twilio/stream": true,
		"/twilio/stream-done": true, "/twilio/relay": true, "/twilio/relay-done": true}
	f.Fuzz(func(t *testing.T, method, path, body string) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \t\r\n#") || method == "" || strings.ContainsAny(method, " \t\r\n") {
			return
		}
		req, err := http.NewRequest(method, "http://gw.test"+path, strings.NewReader(body))
		if err != nil {
			return
		}
		n := len(rec.Ended())
		read = ""
		h.ServeHTTP(httptest.NewRecorder(), req)
		if read != body {
			t.Fatalf("handler read %q, want %q", read, body)
		}
		for _, s := range rec.Ended()[n:] {
			_, route, _ := strings.Cut(s.Name(), " ")
			if !allowed[route] {
				t.Fatalf("span name %q", s.Name())
			}
		}
	})
}
