package store

import (
	"github.com/ivr-gateway/ivr"

	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ivr-gateway/ivr/internal/redistest"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// After failed dials (the tests that kill a node), go-redis keeps
		// one goroutine redialling once a second until its pool is closed;
		// it notices the close at its next wake-up, which may be after the
		// last test.
		goleak.IgnoreTopFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"),
		goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"))
}

var testKey = bytes.Repeat([]byte{0x42}, 32)

// newStore returns a Store on a fresh client and prefix; opts may adjust Options.
func newStore(tb testing.TB, opts ...func(*Options)) (*Store, redis.UniversalClient, string) {
	tb.Helper()
	rdb, prefix := redistest.Client(tb)
	return newStoreOn(tb, rdb, prefix, opts...), rdb, prefix
}

func newStoreOn(tb testing.TB, rdb redis.UniversalClient, prefix string, opts ...func(*Options)) *Store {
	tb.Helper()
	opt := Options{Prefix: prefix, SessionKey: testKey}
	for _, f := range opts {
		f(&opt)
	}
	s, err := New(rdb, opt)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// eachMode runs f once per Redis mode (single, cluster, sentinel; see
// internal/redistest), each on its own client, prefix and Store.
func eachMode(t *testing.T, f func(t *testing.T, s *Store, rdb redis.UniversalClient, prefix string)) {
	t.Helper()
	redistest.EachMode(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		f(t, newStoreOn(t, rdb, prefix), rdb, prefix)
	})
}

// newSid returns a Twilio-shaped call SID.
func newSid() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "CA" + hex.EncodeToString(b)
}

func mustSave(tb testing.TB, s *Store, sess Session, prev int64, x SaveExtras) {
	tb.Helper()
	if err := s.Save(context.Background(), sess, prev, x); err != nil {
		tb.Fatalf("Save(step %d, prev %d): %v", sess.Step, prev, err)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	t.Parallel()
	redistest.EachMode(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		s := newStoreOn(t, rdb, prefix)
		ctx := context.Background()
		created := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
		tests := []struct {
			name string
			sess Session
		}{
			{"fresh", Session{Step: 1, Phase: ivr.PhaseCollecting, CreatedAt: created, Dialog: []byte(`{"q":"name"}`)}},
			{"answers", Session{Step: 1, Phase: ivr.PhaseCollecting, CreatedAt: created, Dialog: []byte{0, 1, 2, 255}, Answers: []byte("Maria|Garcia|1980-01-05|1234")}},
			{"verifying", Session{Step: 1, Phase: ivr.PhaseVerifying, Attempts: 2, CreatedAt: created, Answers: []byte("x")}},
			{"verified", Session{Step: 1, Phase: ivr.PhaseVerified, Attempts: 1, CreatedAt: created, VerifiedAt: created.Add(30 * time.Second)}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				tt.sess.CallSid = newSid()
				mustSave(t, s, tt.sess, 0, SaveExtras{})
				got, err := s.Load(ctx, tt.sess.CallSid)
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if diff := cmp.Diff(tt.sess, got); diff != "" {
					t.Errorf("Load (-want +got):\n%s", diff)
				}
				// A second step replaces every field.
				next := got
				next.Step, next.Phase, next.Dialog, next.Answers, next.Attempts = 2, ivr.PhaseFailed, nil, nil, 3
				next.VerifiedAt = time.Time{}
				mustSave(t, s, next, 1, SaveExtras{})
				got, err = s.Load(ctx, tt.sess.CallSid)
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if diff := cmp.Diff(next, got); diff != "" {
					t.Errorf("Load after update (-want +got):\n%s", diff)
				}
			})
		}
	})
}

func TestLoadNotFound(t *testing.T) {
	t.Parallel()
	redistest.EachMode(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		s := newStoreOn(t, rdb, prefix)
		if _, err := s.Load(context.Background(), newSid()); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Load of a missing call: err = %v, want ErrNotFound", err)
		}
	})
}

func TestSaveConflict(t *testing.T) {
	t.Parallel()
	redistest.EachMode(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		s := newStoreOn(t, rdb, prefix)
		ctx := context.Background()
		sid := newSid()
		mustSave(t, s, Session{CallSid: sid, Step: 1, Phase: ivr.PhaseCollecting}, 0, SaveExtras{})

		const n = 20
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				// Every contender reports a final outcome; only the winner's
				// event and token may survive.
				errs[i] = s.Save(ctx, Session{CallSid: sid, Step: 2, Phase: ivr.PhaseVerified, Attempts: i}, 1, SaveExtras{
					Event: ivr.EventVerified,
					Token: &Token{AccessToken: fmt.Sprintf("at-%d", i), TokenType: "Bearer", ExpiresAt: time.Now().Add(time.Hour)},
				})
			})
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("two winners: %d and %d", winner, i)
				}
				winner = i
			case !errors.Is(err, ErrConflict):
				t.Fatalf("contender %d: err = %v, want ErrConflict", i, err)
			}
		}
		if winner < 0 {
			t.Fatal("no contender won")
		}
		got, err := s.Load(ctx, sid)
		if err != nil {
			t.Fatal(err)
		}
		if got.Attempts != winner {
			t.Errorf("stored session is contender %d's, want the winner %d's", got.Attempts, winner)
		}
		tok, err := s.Token(ctx, sid)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("at-%d", winner); tok.AccessToken != want {
			t.Errorf("stored token is not the winner's")
		}
		entries, err := rdb.XRange(ctx, prefix+"events", "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 {
			t.Errorf("events after 20 contenders: %d entries, want 1 (losers' entries removed)", len(entries))
		}

		// The creation guard and a vanished session.
		if err := s.Save(ctx, Session{CallSid: sid, Step: 1, Phase: ivr.PhaseCollecting}, 0, SaveExtras{}); !errors.Is(err, ErrConflict) {
			t.Errorf("creating an existing session: err = %v, want ErrConflict", err)
		}
		if err := s.Save(ctx, Session{CallSid: newSid(), Step: 5, Phase: ivr.PhaseCollecting}, 4, SaveExtras{}); !errors.Is(err, ErrNotFound) {
			t.Errorf("updating a missing session: err = %v, want ErrNotFound", err)
		}
	})
}

func TestSaveInvalid(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t)
	tests := []struct {
		name string
		sess Session
		prev int64
		x    SaveExtras
	}{
		{"empty sid", Session{Step: 1, Phase: ivr.PhaseCollecting}, 0, SaveExtras{}},
		{"brace in sid", Session{CallSid: "CA}x{", Step: 1, Phase: ivr.PhaseCollecting}, 0, SaveExtras{}},
		{"long sid", Session{CallSid: string(bytes.Repeat([]byte("a"), 65)), Step: 1, Phase: ivr.PhaseCollecting}, 0, SaveExtras{}},
		{"unknown phase", Session{CallSid: newSid(), Step: 1, Phase: "done"}, 0, SaveExtras{}},
		{"step not increasing", Session{CallSid: newSid(), Step: 3, Phase: ivr.PhaseCollecting}, 3, SaveExtras{}},
		{"negative attempts", Session{CallSid: newSid(), Step: 1, Phase: ivr.PhaseCollecting, Attempts: -1}, 0, SaveExtras{}},
		{"unknown event", Session{CallSid: newSid(), Step: 1, Phase: ivr.PhaseCollecting}, 0, SaveExtras{Event: "started"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.Save(context.Background(), tt.sess, tt.prev, tt.x); !errors.Is(err, ErrInvalid) {
				t.Errorf("Save: err = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestNewOptions(t *testing.T) {
	t.Parallel()
	rdb, prefix := redistest.Client(t)
	tests := []struct {
		name string
		opt  Options
	}{
		{"short key", Options{Prefix: prefix, SessionKey: testKey[:16]}},
		{"no key", Options{Prefix: prefix}},
		{"brace prefix", Options{Prefix: "ivr{x}:", SessionKey: testKey}},
		{"short previous key", Options{Prefix: prefix, SessionKey: testKey, PreviousSessionKeys: [][]byte{testKey, testKey[:31]}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(rdb, tt.opt); !errors.Is(err, ErrInvalid) {
				t.Errorf("New: err = %v, want ErrInvalid", err)
			}
		})
	}
	if _, err := New(nil, Options{SessionKey: testKey}); !errors.Is(err, ErrInvalid) {
		t.Errorf("New(nil client): err = %v, want ErrInvalid", err)
	}
	s, err := New(rdb, Options{SessionKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.prefix != DefaultPrefix || s.ttl != DefaultSessionTTL || s.maxLen != DefaultEventsMaxLen || s.limit != DefaultCallerLimit {
		t.Errorf("defaults: prefix %q ttl %v maxLen %d limit %d", s.prefix, s.ttl, s.maxLen, s.limit)
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

// clockSlack absorbs the millisecond rounding between Go's clock and Redis's
// (PEXPIREAT takes whole milliseconds); the same host runs both.
const clockSlack = 5 * time.Millisecond

func TestTTL(t *testing.T) {
	t.Parallel()
	redistest.EachMode(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		s := newStoreOn(t, rdb, prefix)
		ctx := context.Background()
		pttl := func(key string) time.Duration {
			t.Helper()
			d, err := rdb.PTTL(ctx, key).Result()
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
		now := time.Now()

		t.Run("call key ends at creation+2h", func(t *testing.T) {
			sid := newSid()
			created := now.Add(-90 * time.Minute)
			mustSave(t, s, Session{CallSid: sid, Step: 1, Phase: ivr.PhaseCollecting, CreatedAt: created}, 0, SaveExtras{})
			limit := time.Until(created.Add(2*time.Hour)) + clockSlack
			first := pttl(prefix + "call:{" + sid + "}")
			if first <= 0 || first > limit || first < limit-time.Minute {
				t.Fatalf("PTTL = %v, want just under %v", first, limit)
			}
			for step := int64(2); step <= 4; step++ {
				mustSave(t, s, Session{CallSid: sid, Step: step, Phase: ivr.PhaseCollecting, CreatedAt: created}, step-1, SaveExtras{})
				if got := pttl(prefix + "call:{" + sid + "}"); got > first || got <= 0 {
					t.Fatalf("after step %d: PTTL = %v, want at most %v (never extended)", step, got, first)
				}
			}
		})

		t.Run("token key ends at its expiry", func(t *testing.T) {
			sid := newSid()
			exp := now.Add(10 * time.Minute)
			mustSave(t, s, Session{CallSid: sid, Step: 1, Phase: ivr.PhaseVerified, CreatedAt: now}, 0,
				SaveExtras{Token: &Token{AccessToken: "at", TokenType: "Bearer", ExpiresAt: exp}})
			want := time.Until(exp) + clockSlack
			got := pttl(prefix + "token:{" + sid + "}")
			if got <= 0 || got > want || got < want-time.Minute {
				t.Fatalf("PTTL = %v, want just under %v", got, want)
			}
		})

		t.Run("token without expiry ends with the call", func(t *testing.T) {
			sid := newSid()
			created := now.Add(-time.Hour)
			mustSave(t, s, Session{CallSid: sid, Step: 1, Phase: ivr.PhaseVerified, CreatedAt: created}, 0,
				SaveExtras{Token: &Token{AccessToken: "at", TokenType: "Bearer"}})
			limit := time.Until(created.Add(2*time.Hour)) + clockSlack
			got := pttl(prefix + "token:{" + sid + "}")
			if got <= 0 || got > limit {
				t.Fatalf("PTTL = %v, want at most %v", got, limit)
			}
		})

		t.Run("expired token is not found", func(t *testing.T) {
			sid := newSid()
			// The store's clock runs an hour ahead of Redis: the key still
			// exists, but the token is past its expires_at.
			late := newStoreOn(t, rdb, prefix, func(o *Options) { o.Now = func() time.Time { return time.Now().Add(time.Hour) } })
			mustSave(t, s, Session{CallSid: sid, Step: 1, Phase: ivr.PhaseVerified}, 0,
				SaveExtras{Token: &Token{AccessToken: "at", ExpiresAt: now.Add(10 * time.Minute)}})
			if _, err := late.Token(ctx, sid); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Token: err = %v, want ErrNotFound", err)
			}
		})
	})
}

func TestSealedAnswers(t *testing.T) {
	t.Parallel()
	redistest.EachMode(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		s := newStoreOn(t, rdb, prefix)
		ctx := context.Background()
		plain := []byte("Maria|Garcia|1980-01-05|1234")
		sid := newSid()
		mustSave(t, s, Session{CallSid: sid, Step: 1, Phase: ivr.PhaseCollecting, Answers: plain}, 0, SaveExtras{})
		raw, err := rdb.HGet(ctx, prefix+"call:{"+sid+"}", "answers").Bytes()
		if err != nil {
			t.Fatal(err)
		}
		for _, piece := range bytes.Split(plain, []byte("|")) {
			if bytes.Contains(raw, piece) {
				t.Fatalf("raw answers field contains a plaintext piece")
			}
		}

		flip := func(i int) []byte {
			b := bytes.Clone(raw)
			b[i] ^= 1
			return b
		}
		tests := []struct {
			name   string
			sealed []byte
			store  *Store
		}{
			{"tampered ciphertext", flip(len(raw) - 1), s},
			{"tampered nonce", flip(1), s},
			{"unknown version", flip(0), s},
			{"truncated", raw[:10], s},
			{"wrong key", raw, newStoreOn(t, rdb, prefix, func(o *Options) { o.SessionKey = bytes.Repeat([]byte{1}, 32) })},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				victim := newSid()
				mustSave(t, s, Session{CallSid: victim, Step: 1, Phase: ivr.PhaseCollecting, Dialog: []byte("d")}, 0, SaveExtras{})
				if err := rdb.HSet(ctx, prefix+"call:{"+victim+"}", "answers", tt.sealed).Err(); err != nil {
					t.Fatal(err)
				}
				got, err := tt.store.Load(ctx, victim)
				if !errors.Is(err, ErrSealBroken) {
					t.Fatalf("Load: err = %v, want ErrSealBroken", err)
				}
				if got.Answers != nil || got.Step != 1 || string(got.Dialog) != "d" {
					t.Errorf("Load returned %v, want the session without answers", got)
				}
			})
		}

		t.Run("moved to another call", func(t *testing.T) {
			other := newSid()
			mustSave(t, s, Session{CallSid: other, Step: 1, Phase: ivr.PhaseCollecting}, 0, SaveExtras{})
			if err := rdb.HSet(ctx, prefix+"call:{"+other+"}", "answers", raw).Err(); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Load(ctx, other); !errors.Is(err, ErrSealBroken) {
				t.Fatalf("Load: err = %v, want ErrSealBroken", err)
			}
		})

		t.Run("deleted when nil or terminal", func(t *testing.T) {
			for i, sess := range []Session{
				{CallSid: sid, Step: 2, Phase: ivr.PhaseVerifying},
				{CallSid: sid, Step: 3, Phase: ivr.PhaseCollecting, Answers: plain},
				{CallSid: sid, Step: 4, Phase: ivr.PhaseFailed, Answers: plain},
			} {
				mustSave(t, s, sess, sess.Step-1, SaveExtras{})
				exists, err := rdb.HExists(ctx, prefix+"call:{"+sid+"}", "answers").Result()
				if err != nil {
					t.Fatal(err)
				}
				if want := i == 1; exists != want {
					t.Errorf("step %d (%s, %d answer bytes): answers field exists = %v, want %v", sess.Step, sess.Phase, len(sess.Answers), exists, want)
				}
			}
		})
	})
}

func TestEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	at := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	redistest.EachMode(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		s := newStoreOn(t, rdb, prefix, func(o *Options) { o.Now = func() time.Time { return at } })
		sid := newSid()
		mustSave(t, s, Session{CallSid: sid, Step: 1, Phase: ivr.PhaseFailed}, 0, SaveExtras{Event: ivr.EventFailed})
		if err := s.AppendEvent(ctx, sid, ivr.EventEnded); err != nil {
			t.Fatal(err)
		}
		if err := s.AppendEvent(ctx, sid, "started"); !errors.Is(err, ErrInvalid) {
			t.Errorf("AppendEvent(unknown): err = %v, want ErrInvalid", err)
		}
		entries, err := rdb.XRange(ctx, prefix+"events", "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		var got []map[string]any
		for _, e := range entries {
			got = append(got, e.Values)
		}
		want := []map[string]any{
			{"call_sid": sid, "event": "failed", "at": "2026-01-05T10:00:00Z"},
			{"call_sid": sid, "event": "ended", "at": "2026-01-05T10:00:00Z"},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})
}

func TestEventsCapped(t *testing.T) {
	t.Parallel()
	const maxLen, n = 10, 1000
	redistest.EachMode(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		s := newStoreOn(t, rdb, prefix, func(o *Options) { o.EventsMaxLen = maxLen })
		ctx := context.Background()
		sid := newSid()
		for range n {
			if err := s.AppendEvent(ctx, sid, ivr.EventEnded); err != nil {
				t.Fatal(err)
			}
		}
		got, err := rdb.XLen(ctx, prefix+"events").Result()
		if err != nil {
			t.Fatal(err)
		}
		// MAXLEN ~ trims whole stream nodes (stream-node-max-entries, default
		// 100), so up to one node more than the cap may remain.
		if got < maxLen || got > maxLen+100 {
			t.Errorf("XLEN after %d appends = %d, want between %d and %d", n, got, maxLen, maxLen+100)
		}
	})
}

func TestAllowCaller(t *testing.T) {
	t.Parallel()
	redistest.EachMode(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		s := newStoreOn(t, rdb, prefix, func(o *Options) { o.CallerLimit = 3 })
		ctx := context.Background()
		const number, other = "+15550100123", "+15550100999"
		for i, want := range []bool{true, true, true, false, false} {
			got, err := s.AllowCaller(ctx, number)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("attempt %d: allowed = %v, want %v", i+1, got, want)
			}
		}
		if ok, err := s.AllowCaller(ctx, other); err != nil || !ok {
			t.Errorf("another number: allowed = %v, %v; want true", ok, err)
		}
		keys := redistest.MustKeys(t, rdb, prefix+"caller:*")
		if len(keys) != 2 {
			t.Fatalf("caller keys: %d, want 2", len(keys))
		}
		for _, k := range keys {
			assertNoPersonalData(t, k, number, other)
			ttl, err := rdb.PTTL(ctx, k).Result()
			if err != nil {
				t.Fatal(err)
			}
			if ttl <= 0 || ttl > CallerWindow {
				t.Errorf("caller key PTTL = %v, want within (0, %v]", ttl, CallerWindow)
			}
		}
		// The counter is shared by every Store with the same key, and by nobody else.
		s2 := newStoreOn(t, rdb, prefix, func(o *Options) { o.CallerLimit = 3 })
		if ok, _ := s2.AllowCaller(ctx, number); ok {
			t.Errorf("a second gateway instance does not see the first one's attempts")
		}
	})
}

// assertNoPersonalData fails when s contains any 7-character run of one of
// values (the whole value when shorter); a phone number is compared without '+'.
func assertNoPersonalData(t *testing.T, s string, values ...string) {
	t.Helper()
	for _, v := range values {
		v = strings.TrimPrefix(v, "+")
		w := min(len(v), 7)
		for i := 0; i+w <= len(v); i++ {
			if strings.Contains(s, v[i:i+w]) {
				t.Errorf("%q contains part of a personal value", s)
				return
			}
		}
	}
}

// TestSaveAfterScriptFlush runs Save against a script Redis has never seen
// (as after a restart or SCRIPT FLUSH, which a shared test server must not
// get): EVALSHA fails with NOSCRIPT, the event appended alongside it is
// withdrawn, and EVAL saves once, with one event.
func TestSaveAfterScriptFlush(t *testing.T) {
	t.Parallel()
	redistest.EachMode(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		var rt RoundTripCounter
		rdb.AddHook(&rt)
		s := newStoreOn(t, rdb, prefix)
		s.save = redis.NewScript(saveSrc + "\n-- uncached " + prefix)
		ctx := context.Background()
		sid := newSid()
		mustSave(t, s, Session{CallSid: sid, Step: 1, Phase: ivr.PhaseFailed}, 0, SaveExtras{Event: ivr.EventFailed})
		if n := countEvents(t, rdb, prefix, sid, ivr.EventFailed); n != 1 {
			t.Errorf("%d failed events, want 1", n)
		}
		if _, err := s.Load(ctx, sid); err != nil {
			t.Fatal(err)
		}
		// EVAL cached the script: the next save is one round trip again.
		rt.Reset()
		mustSave(t, s, Session{CallSid: sid, Step: 2, Phase: ivr.PhaseEnded}, 1, SaveExtras{Event: ivr.EventEnded})
		if got := rt.Count(); got != 1 {
			t.Errorf("round trips for the next save = %d, want 1", got)
		}
	})
}
