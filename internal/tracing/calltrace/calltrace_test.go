package calltrace_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ivr-gateway/ivr/internal/tracing/calltrace"
)

// TestTraceID: one trace per call, the same wherever it is computed, and
// not the call SID itself (a traceparent reaches the AS and the MCP
// server, which have no business with the SID).
func TestTraceID(t *testing.T) {
	a := "CA0123456789abcdef0123456789abcdef"
	b := "CA0123456789abcdef0123456789abcdee"
	if calltrace.TraceID(a) != calltrace.TraceID(a) {
		t.Error("not deterministic")
	}
	if calltrace.TraceID(a) == calltrace.TraceID(b) || !calltrace.TraceID(a).IsValid() {
		t.Error("two calls share a trace, or the ID is invalid")
	}
	if strings.Contains(a, calltrace.TraceID(a).String()) || strings.Contains(calltrace.TraceID(a).String(), a[2:18]) {
		t.Error("the trace ID shows the call SID")
	}
	ctx := calltrace.With(context.Background(), a)
	if tid, ok := calltrace.From(ctx); !ok || tid != calltrace.TraceID(a) {
		t.Error("From does not return what With put")
	}
	if sid, ok := calltrace.Sid(ctx); !ok || sid != a {
		t.Error("Sid does not return what With put")
	}
	if _, ok := calltrace.From(context.Background()); ok {
		t.Error("From found a call in an empty context")
	}
}
