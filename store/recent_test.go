package store

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ivr-gateway/ivr"
	"github.com/ivr-gateway/ivr/internal/redistest"
)

// steps is a call's life as the engine saves it: created, three questions
// answered (the answers growing), verifying with a lease, verified.
func steps(sid string, created time.Time) []struct {
	sess Session
	x    SaveExtras
} {
	q := func(step int64, dialog, answers string) Session {
		return Session{CallSid: sid, Step: step, Phase: ivr.PhaseCollecting, CreatedAt: created, Dialog: []byte(dialog), Answers: []byte(answers)}
	}
	verifying := q(5, "d1|verifying|en-US|0|1|0|0||", "name+dob+ssn")
	verifying.Phase, verifying.Attempts = ivr.PhaseVerifying, 1
	lease := &Lease{Owner: "owner-1", Until: created.Add(time.Minute)}
	verified := Session{CallSid: sid, Step: 6, Phase: ivr.PhaseVerified, Attempts: 1, CreatedAt: created,
		VerifiedAt: created.Add(30 * time.Second), Dialog: []byte("d1|verified|en-US|0|1|0|0||")}
	return []struct {
		sess Session
		x    SaveExtras
	}{
		{q(1, "d1|language|en-US|0|0|0|0||", ""), SaveExtras{}},
		{q(2, "d1|name|en-US|0|0|0|0||", ""), SaveExtras{}},
		{q(3, "d1|dob|en-US|0|0|0|0||", "name"), SaveExtras{}},
		{q(4, "d1|ssn4|en-US|0|0|0|0||", "name+dob"), SaveExtras{}},
		{verifying, SaveExtras{Lease: lease}},
		{verified, SaveExtras{Event: ivr.EventVerified, Lease: &Lease{Owner: "owner-1", Until: created.Add(31 * time.Second)},
			Token: &Token{AccessToken: "at", TokenType: "Bearer", ExpiresAt: created.Add(time.Hour)}}},
	}
}

// TestRecentSkipsTheRead: a step saved by this instance is read back from
// memory (no round trip), and the next save writes what changed only; the
// hash ends up the same as when every step is read and written in full.
func TestRecentSkipsTheRead(t *testing.T) {
	t.Parallel()
	redistest.EachMode(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		var rt RoundTripCounter
		rdb.AddHook(&rt)
		with := newStoreOn(t, rdb, prefix)
		without := newStoreOn(t, rdb, prefix, func(o *Options) { o.RecentCalls = -1 })
		ctx := context.Background()
		created := time.Now().Truncate(time.Millisecond)
		hashes := map[*Store]map[string]string{}
		for _, s := range []*Store{with, without} {
			sid := newSid()
			for i, st := range steps(sid, created) {
				prev := st.sess.Step - 1
				if prev > 0 {
					rt.Reset()
					got, err := s.LoadAt(ctx, sid, prev)
					if err != nil {
						t.Fatal(err)
					}
					reads := rt.Count()
					if s == with && reads != 0 {
						t.Errorf("step %d: LoadAt made %d round trips, want 0 (this instance saved the step)", i+1, reads)
					}
					if s == without && reads != 1 {
						t.Errorf("step %d without the cache: %d round trips, want 1", i+1, reads)
					}
					if got.Step != prev {
						t.Fatalf("LoadAt: step %d, want %d", got.Step, prev)
					}
				}
				sess := st.sess
				if err := s.Save(ctx, sess, prev, st.x); err != nil {
					t.Fatalf("step %d: %v", i+1, err)
				}
			}
			h, err := rdb.HGetAll(ctx, prefix+"call:{"+sid+"}").Result()
			if err != nil {
				t.Fatal(err)
			}
			delete(h, fAnswers) // sealed with a random nonce: never the same twice
			hashes[s] = h
		}
		if !maps.Equal(hashes[with], hashes[without]) {
			t.Errorf("hash written by diffs:\n %v\nin full:\n %v", hashes[with], hashes[without])
		}
	})
}

// TestRecentStaleIsHarmless: another instance moves the call on; this one
// still remembers the old step. A request for the old step is answered from
// memory, but its save loses the compare-and-set, and the next read is
// from Redis.
func TestRecentStaleIsHarmless(t *testing.T) {
	t.Parallel()
	redistest.EachMode(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		a := newStoreOn(t, rdb, prefix)
		b := newStoreOn(t, redistest.Another(t, rdb), prefix)
		ctx := context.Background()
		sid := newSid()
		created := time.Now()
		st := steps(sid, created)
		mustSave(t, a, st[0].sess, 0, st[0].x)
		mustSave(t, a, st[1].sess, 1, st[1].x)
		// b moves the call to step 3.
		if _, err := b.Load(ctx, sid); err != nil {
			t.Fatal(err)
		}
		mustSave(t, b, st[2].sess, 2, st[2].x)
		// a still thinks step 2.
		got, err := a.LoadAt(ctx, sid, 2)
		if err != nil || got.Step != 2 {
			t.Fatalf("LoadAt(2) on a = %v, %v; want step 2 from memory", got.Step, err)
		}
		stale := st[2].sess
		stale.Dialog = []byte("d1|dob|en-US|1|0|0|0||")
		if err := a.Save(ctx, stale, 2, SaveExtras{}); !errors.Is(err, ErrConflict) {
			t.Fatalf("save from a stale memory: %v, want ErrConflict", err)
		}
		got, err = a.LoadAt(ctx, sid, 3)
		if err != nil || got.Step != 3 || string(got.Answers) != "name" {
			t.Fatalf("after the conflict: %+v, %v; want b's step 3", got, err)
		}
		// A lease renewal does not move the step; the instance that renews
		// remembers the new lease, the other reads it from Redis.
		mustSave(t, a, st[3].sess, 3, st[3].x)
		mustSave(t, a, st[4].sess, 4, st[4].x)
		until := created.Add(2 * time.Minute).Truncate(time.Millisecond)
		if err := a.RenewLease(ctx, sid, "owner-1", until); err != nil {
			t.Fatal(err)
		}
		if got, _ := a.LoadAt(ctx, sid, 5); !got.Lease.Until.Equal(until) {
			t.Errorf("renewer's memory has lease until %v, want %v", got.Lease.Until, until)
		}
		if got, _ := b.Load(ctx, sid); !got.Lease.Until.Equal(until) {
			t.Errorf("Redis has lease until %v, want %v", got.Lease.Until, until)
		}
		// EndCall forgets the call.
		if _, err := a.EndCall(ctx, sid, 0); err != nil {
			t.Fatal(err)
		}
		if got, err := a.LoadAt(ctx, sid, 5); err != nil || got.Phase != ivr.PhaseEnded {
			t.Fatalf("after EndCall: %v %v, want ended (read from Redis)", got.Phase, err)
		}
	})
}

// TestSaveCountingCaller: the save that starts a verification counts the
// caller's attempt in the same round trip; a save that loses its
// compare-and-set (a repeated webhook) withdraws its count.
func TestSaveCountingCaller(t *testing.T) {
	t.Parallel()
	redistest.EachMode(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		var rt RoundTripCounter
		rdb.AddHook(&rt)
		s := newStoreOn(t, rdb, prefix, func(o *Options) { o.CallerLimit = 2 })
		ctx := context.Background()
		sid := newSid()
		created := time.Now()
		st := steps(sid, created)
		mustSave(t, s, st[0].sess, 0, st[0].x)
		const ref = "0123456789abcdef0123456789abcdef"
		// Warm the pool: a connection's set-up is round trips of its own.
		warm := newSid()
		mustSave(t, s, steps(warm, created)[0].sess, 0, SaveExtras{})
		if _, err := s.SaveCountingCaller(ctx, steps(warm, created)[1].sess, 1, SaveExtras{}, "warm"); err != nil {
			t.Fatal(err)
		}
		rt.Reset()
		ok, err := s.SaveCountingCaller(ctx, st[1].sess, 1, st[1].x, ref)
		if err != nil || !ok {
			t.Fatalf("first attempt: %v %v", ok, err)
		}
		if n := rt.Count(); n != 1 {
			t.Errorf("save and count took %d round trips, want 1", n)
		}
		// The same step again (a repeated webhook): it loses, and its count is withdrawn.
		if ok, err := s.SaveCountingCaller(ctx, st[1].sess, 1, st[1].x, ref); !errors.Is(err, ErrConflict) || ok {
			t.Fatalf("repeat: %v %v, want ErrConflict", ok, err)
		}
		if ok, err := s.SaveCountingCaller(ctx, st[2].sess, 2, st[2].x, ref); err != nil || !ok {
			t.Fatalf("second attempt: %v %v (the repeat must not have counted)", ok, err)
		}
		if ok, err := s.SaveCountingCaller(ctx, st[3].sess, 3, st[3].x, ref); err != nil || ok {
			t.Fatalf("third attempt with a limit of 2: %v %v, want refused", ok, err)
		}
		ttl, err := rdb.TTL(ctx, s.callerKeyFor(ref)).Result()
		if err != nil || ttl <= 0 || ttl > CallerWindow {
			t.Errorf("counter TTL %v (%v), want the hour's window", ttl, err)
		}
	})
}
