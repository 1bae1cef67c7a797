package callflow_test

import (
	"context"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ivr-gateway/ivr/callflow"
	"github.com/ivr-gateway/ivr/dialog"
	"github.com/ivr-gateway/ivr/internal/redistest"
	"github.com/ivr-gateway/ivr/internal/tracing"
	"github.com/ivr-gateway/ivr/internal/tracing/calltrace"
)

func recordedProvider() (trace.TracerProvider, *tracetest.SpanRecorder) {
	rec := tracetest.NewSpanRecorder()
	return tracing.New(tracing.Settings{}, rec).Provider("ivr-gateway"), rec
}

func spanAttr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

func named(spans []sdktrace.ReadOnlySpan, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// TestSpans: a verified call makes a dialog.step span per event, all in the
// call's trace; the verification is a child of the step that asked for it,
// and the AS requests and Redis commands are children of those. Nothing
// the caller said, and not the token, is in any span.
func TestSpans(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	tp, rec := recordedProvider()
	if err := tracing.Redis(rdb, tp); err != nil {
		t.Fatal(err)
	}
	in := newInstance(t, instanceOpts{rdb: rdb, prefix: prefix, key: newKey(), as: newAS(t), tp: tp})
	sid := newSid(t)
	tn := toSSN4(t, in, sid)
	tn = answer(t, in, sid, tn.Step, dialog.Input{Digits: "1234"})
	if tn.State.Node != dialog.NodeVerified {
		t.Fatalf("node %s, want verified", tn.State.Node)
	}
	tok, err := in.store.Token(context.Background(), sid)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.engine.End(context.Background(), sid); err != nil {
		t.Fatal(err)
	}
	spans := rec.Ended()
	steps := named(spans, "dialog.step")
	var events, nodes []string
	for _, s := range steps {
		events = append(events, spanAttr(s, "ivr.event"))
		nodes = append(nodes, spanAttr(s, "ivr.node"))
	}
	if got := strings.Join(events, ","); got != "start,dtmf,speech,dtmf,dtmf" {
		t.Errorf("step events %s", got)
	}
	if got := strings.Join(nodes, ","); got != "language,name,dob,ssn4,verified" {
		t.Errorf("step nodes %s", got)
	}
	verifications := named(spans, "verification")
	if len(verifications) != 1 {
		t.Fatalf("%d verification spans", len(verifications))
	}
	v, last := verifications[0], steps[len(steps)-1]
	if v.Parent().SpanID() != last.SpanContext().SpanID() {
		t.Error("the verification is not a child of the step that asked for it")
	}
	if spanAttr(v, "ivr.verification.outcome") != "verified" || spanAttr(v, "ivr.verification.rounds") != "1" {
		t.Errorf("verification attributes %v", v.Attributes())
	}
	end := named(spans, "call.end")
	if len(end) != 1 || spanAttr(end[0], "ivr.call.ended") != "true" {
		t.Fatalf("call.end spans %v", end)
	}
	var asSpans int
	ids := map[trace.SpanID]bool{}
	for _, s := range spans {
		ids[s.SpanContext().SpanID()] = true
	}
	want := calltrace.TraceID(sid)
	for _, s := range spans {
		if s.SpanContext().TraceID() != want {
			t.Errorf("span %s is in trace %s, not the call's", s.Name(), s.SpanContext().TraceID())
		}
		if strings.HasPrefix(s.Name(), "AS ") {
			asSpans++
			parent := v
			if strings.Contains(s.Name(), "revoke") {
				parent = end[0] // the call's end revokes its token
			}
			if s.Parent().SpanID() != parent.SpanContext().SpanID() {
				t.Errorf("%s is a child of %s, want %s", s.Name(), s.Parent().SpanID(), parent.Name())
			}
		}
		if s.Parent().IsValid() && !ids[s.Parent().SpanID()] {
			t.Errorf("%s has a parent that was not exported", s.Name())
		}
		for _, kv := range s.Attributes() {
			val := kv.Value.Emit()
			for _, secret := range []string{"Maria", "Garcia", "1980", "01051980", "1234", tok.AccessToken} {
				if strings.Contains(val, secret) && kv.Key != "network.peer.port" && kv.Key != "server.port" {
					t.Errorf("%s: attribute %s=%q contains %q", s.Name(), kv.Key, val, secret)
				}
			}
		}
	}
	if asSpans < 3 { // challenge, token, revocation
		t.Errorf("%d AS spans, want challenge, token and revocation", asSpans)
	}
	if len(named(spans, "evalsha")) == 0 && len(named(spans, "hgetall")) == 0 {
		t.Errorf("no Redis spans among %d", len(spans))
	}
}

// TestSpansOnHold: with the AS slower than the webhook may wait, the step
// answers with Hold while the verification goes on in the background; its
// span records the hold and ends when the result is saved.
func TestSpansOnHold(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	tp, rec := recordedProvider()
	as := newAS(t)
	as.SetDelay(300 * time.Millisecond)
	in := newInstance(t, instanceOpts{rdb: rdb, prefix: prefix, key: newKey(), as: as, tp: tp})
	sid := newSid(t)
	tn := toSSN4(t, in, sid)
	tn = answer(t, in, sid, tn.Step, dialog.Input{Digits: "1234"})
	if tn.State.Node != dialog.NodeVerifying {
		t.Fatalf("node %s, want verifying (on hold)", tn.State.Node)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(named(rec.Ended(), "verification")) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	vs := named(rec.Ended(), "verification")
	if len(vs) != 1 {
		t.Fatal("the verification span did not end")
	}
	v := vs[0]
	steps := named(rec.Ended(), "dialog.step")
	last := steps[len(steps)-1]
	if len(v.Events()) != 1 || v.Events()[0].Name != "caller on hold" {
		t.Errorf("verification events %v", v.Events())
	}
	if v.Parent().SpanID() != last.SpanContext().SpanID() || !v.EndTime().After(last.EndTime()) {
		t.Error("the verification should be the hold step's child and outlive it")
	}
	if spanAttr(v, "ivr.verification.outcome") != "verified" {
		t.Errorf("verification attributes %v", v.Attributes())
	}
}

// TestSpansFromASession: a step run from a span of another trace (a
// WebSocket session, whose request carried no call SID) starts a part of
// the call's trace linked to it, and the session's span learns the SID.
func TestSpansFromASession(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	tp, rec := recordedProvider()
	in := newInstance(t, instanceOpts{rdb: rdb, prefix: prefix, key: newKey(), as: newAS(t), tp: tp})
	sid := newSid(t)
	ctx, session := tp.Tracer("test").Start(context.Background(), "GET /twilio/stream")
	if _, err := in.engine.Advance(ctx, callflow.Call{Sid: sid}, dialog.Start{}); err != nil {
		t.Fatal(err)
	}
	session.End()
	step := named(rec.Ended(), "dialog.step")[0]
	sess := named(rec.Ended(), "GET /twilio/stream")[0]
	if step.SpanContext().TraceID() != calltrace.TraceID(sid) || step.Parent().IsValid() {
		t.Error("the step is not a root of the call's trace")
	}
	if len(step.Links()) != 1 || step.Links()[0].SpanContext.SpanID() != sess.SpanContext().SpanID() {
		t.Errorf("links %v, want the session's span", step.Links())
	}
	if spanAttr(sess, "ivr.call_sid") != sid {
		t.Errorf("session attributes %v lack the call SID", sess.Attributes())
	}
}
