package store

import (
	"context"
	"testing"
	"time"

	"github.com/ivr-gateway/ivr"
	"github.com/ivr-gateway/ivr/internal/redistest"
)

// eachModeB runs a benchmark per Redis mode (single, cluster, sentinel).
func eachModeB(b *testing.B, f func(b *testing.B, mode string)) {
	for _, mode := range redistest.Modes {
		b.Run(mode, func(b *testing.B) { f(b, mode) })
	}
}

// BenchmarkGatherStep measures one <Gather> step as the webhook does it:
// Load the session, then Save the next step with answers to seal. It reports
// the Redis round trips per step (the issue allows at most 2).
func BenchmarkGatherStep(b *testing.B) { eachModeB(b, benchmarkGatherStep) }

func benchmarkGatherStep(b *testing.B, mode string) {
	var rt RoundTripCounter
	rdb, prefix := redistest.ModeClient(b, mode)
	rdb.AddHook(&rt)
	s := newStoreOn(b, rdb, prefix)
	ctx := context.Background()
	sid := newSid()
	dialog := []byte(`{"question":"dob","misses":0,"lang":"en"}`)
	answers := []byte("Maria|Garcia|1980-01-05|1234")
	mustSave(b, s, Session{CallSid: sid, Step: 1, Phase: ivr.PhaseCollecting, Dialog: dialog, Answers: answers}, 0, SaveExtras{})
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
func BenchmarkGatherStepWithEvent(b *testing.B) { eachModeB(b, benchmarkGatherStepWithEvent) }

func benchmarkGatherStepWithEvent(b *testing.B, mode string) {
	var rt RoundTripCounter
	rdb, prefix := redistest.ModeClient(b, mode)
	rdb.AddHook(&rt)
	s := newStoreOn(b, rdb, prefix)
	ctx := context.Background()
	sid := newSid()
	tok := testToken()
	mustSave(b, s, Session{CallSid: sid, Step: 1, Phase: ivr.PhaseVerifying}, 0, SaveExtras{})
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
		sess.Phase = ivr.PhaseVerified
		if err := s.Save(ctx, sess, prev, SaveExtras{Event: ivr.EventVerified, Token: &tok}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rt.Count())/float64(b.N), "roundtrips/op")
}

// BenchmarkWakeUp measures a long-poll's whole path for one call: WaitToken
// subscribes (a shard channel per call on a cluster) and checks the key,
// then another Store saves the token and the waiter is woken with it.
func BenchmarkWakeUp(b *testing.B) { eachModeB(b, benchmarkWakeUp) }

func benchmarkWakeUp(b *testing.B, mode string) {
	rdb, prefix := redistest.ModeClient(b, mode)
	checks := countCommand(rdb, "hgetall")
	waiter := newStoreOn(b, rdb, prefix)
	writer := newStoreOn(b, redistest.Another(b, rdb), prefix)
	b.ReportAllocs()
	for b.Loop() {
		sid := newSid()
		before := checks.Load()
		done := make(chan error, 1)
		go func() {
			_, err := waiter.WaitToken(context.Background(), sid)
			done <- err
		}()
		for checks.Load() == before { // the waiter has not looked yet
			time.Sleep(10 * time.Microsecond)
		}
		saveToken(b, writer, sid)
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
}
