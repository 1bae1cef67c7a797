package store

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ivr-gateway/ivr"
)

// TestCreateWithoutScript: a call's first save (prevStep 0, nothing else
// with it) is the transaction of createSession, in every mode. It creates
// the session with its TTL in one round trip; a second create finds the
// call and changes nothing; of concurrent creates exactly one wins; and no
// P new:{CallSid} key is ever left behind.
func TestCreateWithoutScript(t *testing.T) {
	t.Parallel()
	eachMode(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, prefix string) {
		ctx := context.Background()
		var mu sync.Mutex
		var sent []string
		trips := 0
		rdb.AddHook(commandSpy(func(names []string) {
			mu.Lock()
			trips++
			sent = append(sent, names...)
			mu.Unlock()
		}))
		sid := newSid()
		created := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
		first := Session{CallSid: sid, Step: 1, Phase: ivr.PhaseCollecting, CreatedAt: created, Dialog: []byte("d1|first")}
		mustSave(t, s, first, 0, SaveExtras{})
		mu.Lock()
		if n := trips; n != 1 || slices.Contains(sent, "evalsha") || slices.Contains(sent, "eval") {
			t.Errorf("create: %d round trips, sending %q; want 1, and no script", n, sent)
		}
		mu.Unlock()
		ttl, err := rdb.PTTL(ctx, s.callKey(sid)).Result()
		if want := created.Add(s.ttl); err != nil || ttl <= 0 || time.Now().Add(ttl).After(want.Add(time.Second)) {
			t.Errorf("TTL %v (%v): the session must expire at CreatedAt+SessionTTL, %v", ttl, err, want)
		}

		// Twilio repeats the webhook: the create loses, the call is as it was.
		again := first
		again.Dialog = []byte("d1|second")
		if err := s.Save(ctx, again, 0, SaveExtras{}); !errors.Is(err, ErrConflict) {
			t.Fatalf("second create: %v, want ErrConflict", err)
		}
		got, err := s.Load(ctx, sid)
		if err != nil || string(got.Dialog) != "d1|first" || got.Step != 1 {
			t.Errorf("after the second create: %+v %v, want the first one's session", got, err)
		}

		// Concurrent creates of one call: one wins.
		sid2 := newSid()
		var wg sync.WaitGroup
		won, lost := 0, 0
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := s.Save(ctx, Session{CallSid: sid2, Step: 1, Phase: ivr.PhaseCollecting}, 0, SaveExtras{})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					won++
				case errors.Is(err, ErrConflict):
					lost++
				default:
					t.Errorf("concurrent create: %v", err)
				}
			}()
		}
		wg.Wait()
		if won != 1 || lost != 15 {
			t.Errorf("concurrent creates: %d won, %d lost; want 1 and 15", won, lost)
		}
		for _, id := range []string{sid, sid2} {
			if n, err := rdb.Exists(ctx, s.newKey(id)).Result(); err != nil || n != 0 {
				t.Errorf("%s left behind (%d, %v)", s.newKey(id), n, err)
			}
		}
	})
}

// commandSpy is a go-redis hook that reports the commands of every round
// trip (a command, a pipeline or a transaction), leaving out a new
// connection's handshake.
type commandSpy func(names []string)

func (f commandSpy) report(cmds []redis.Cmder) {
	var names []string
	for _, c := range cmds {
		switch n := c.Name(); n {
		case "hello", "client", "auth", "select", "readonly":
		default:
			names = append(names, n)
		}
	}
	if len(names) > 0 {
		f(names)
	}
}

func (f commandSpy) DialHook(next redis.DialHook) redis.DialHook { return next }
func (f commandSpy) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		f.report([]redis.Cmder{cmd})
		return next(ctx, cmd)
	}
}
func (f commandSpy) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		f.report(cmds)
		return next(ctx, cmds)
	}
}
