package store

import (
	"context"
	"testing"

	"github.com/ivr-gateway/ivr/internal/redistest"
)

// BenchmarkGatherStep measures one <Gather> step as the webhook does it:
// Load the session, then Save the next step with answers to seal. It reports
// the Redis round trips per step (the issue allows at most 2).
func BenchmarkGatherStep(b *testing.B) {
	var rt RoundTripCounter
	rdb, prefix := redistest.Client(b)
	rdb.AddHook(&rt)
	s := newStoreOn(b, rdb, prefix)
	ctx := context.Background()
	sid := newSid()
	dialog := []byte(`{"question":"dob","misses":0,"lang":"en"}`)
	answers := []byte("Maria|Garcia|1980-01-05|1234")
	mustSave(b, s, Session{CallSid: sid, Step: 1, Phase: PhaseCollecting, Dialog: dialog, Answers: answers}, 0, SaveExtras{})
	rt.Reset()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		sess, err := s.Load(ctx, sid)
		if err != nil {
			b.Fatal(err)
		}
		prev := sess.Step
		sess.Step++
		if err := s.Save(ctx, sess, prev, SaveExtras{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rt.Count())/float64(b.N), "roundtrips/op")
}

// BenchmarkGatherStepWithEvent is the final step: the save also appends an
// event and stores the token, still in one pipeline.
func BenchmarkGatherStepWithEvent(b *testing.B) {
	var rt RoundTripCounter
	rdb, prefix := redistest.Client(b)
	rdb.AddHook(&rt)
	s := newStoreOn(b, rdb, prefix)
	ctx := context.Background()
	sid := newSid()
	tok := testToken()
	mustSave(b, s, Session{CallSid: sid, Step: 1, Phase: PhaseVerifying}, 0, SaveExtras{})
	rt.Reset()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		sess, err := s.Load(ctx, sid)
		if err != nil {
			b.Fatal(err)
		}
		prev := sess.Step
		sess.Step++
		sess.Phase = PhaseVerified
		if err := s.Save(ctx, sess, prev, SaveExtras{Event: EventVerified, Token: &tok}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rt.Count())/float64(b.N), "roundtrips/op")
}
