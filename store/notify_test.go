package store

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ivr-gateway/ivr"
	"github.com/ivr-gateway/ivr/internal/redisconn"
	"github.com/ivr-gateway/ivr/internal/redistest"
)

type waitResult struct {
	tok Token
	err error
}

// startWait runs WaitToken in the background.
func startWait(s *Store, sid string) <-chan waitResult {
	done := make(chan waitResult, 1)
	go func() {
		tok, err := s.WaitToken(context.Background(), sid)
		done <- waitResult{tok, err}
	}()
	return done
}

func expectWoken(t testing.TB, done <-chan waitResult, want Token) {
	t.Helper()
	select {
	case r := <-done:
		if r.err != nil || r.tok.AccessToken != want.AccessToken {
			t.Fatalf("WaitToken = %v, %v; want the written token", r.tok, r.err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("WaitToken did not wake up")
	}
}

func saveToken(tb testing.TB, s *Store, sid string) Token {
	tb.Helper()
	tok := testToken()
	tok.AccessToken += "-" + sid
	mustSave(tb, s, Session{CallSid: sid, Step: 1, Phase: ivr.PhaseVerified}, 0, SaveExtras{Token: &tok})
	return tok
}

func TestWaitToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("returns at once when the token exists", func(t *testing.T) {
		t.Parallel()
		eachMode(t, func(t *testing.T, s *Store, _ redis.UniversalClient, _ string) {
			sid := newSid()
			want := saveToken(t, s, sid)
			got, err := s.WaitToken(ctx, sid)
			if err != nil || got.AccessToken != want.AccessToken {
				t.Fatalf("WaitToken = %v, %v; want the stored token", got, err)
			}
		})
	})

	// Instance A waits, instance B (another client, another Store) saves.
	t.Run("wakes on a write from another instance", func(t *testing.T) {
		t.Parallel()
		redistest.EachMode(t, func(t *testing.T, rdbA redis.UniversalClient, prefix string) {
			checks := countCommand(rdbA, "hgetall")
			waiter := newStoreOn(t, rdbA, prefix)
			writer := newStoreOn(t, redistest.Another(t, rdbA), prefix)
			sid, other := newSid(), newSid()
			done := startWait(waiter, sid)
			// Write once the waiter has checked the key (which it does only
			// once subscribed), so the wake-up path is the one under test.
			waitFor(t, func() bool { return checks.Load() >= 1 })
			// A token for another call must not end the wait.
			saveToken(t, writer, other)
			select {
			case r := <-done:
				t.Fatalf("WaitToken returned %v, %v for another call's token", r.tok, r.err)
			case <-time.After(50 * time.Millisecond):
			}
			expectWoken(t, done, saveToken(t, writer, sid))
		})
	})

	t.Run("deadline", func(t *testing.T) {
		t.Parallel()
		eachMode(t, func(t *testing.T, s *Store, _ redis.UniversalClient, _ string) {
			ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			if _, err := s.WaitToken(ctx, newSid()); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("WaitToken: err = %v, want DeadlineExceeded", err)
			}
		})
	})

	t.Run("close wakes waiters", func(t *testing.T) {
		t.Parallel()
		eachMode(t, func(t *testing.T, s *Store, _ redis.UniversalClient, _ string) {
			sid := newSid()
			done := startWait(s, sid)
			waitFor(t, func() bool { return s.notify.waiting(sid) == 1 })
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if r := <-done; !errors.Is(r.err, ErrClosed) {
				t.Fatalf("WaitToken after Close: err = %v, want ErrClosed", r.err)
			}
			if _, err := s.WaitToken(ctx, sid); !errors.Is(err, ErrClosed) {
				t.Fatalf("WaitToken on a closed Store: err = %v, want ErrClosed", err)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
		})
	})

	t.Run("many waiters share one subscription", func(t *testing.T) {
		t.Parallel()
		redistest.ForModes(t, []string{redistest.Single, redistest.Sentinel}, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
			s := newStoreOn(t, rdb, prefix)
			sid := newSid()
			var wg sync.WaitGroup
			errs := make(chan error, 10)
			for range 10 {
				wg.Go(func() {
					_, err := s.WaitToken(ctx, sid)
					errs <- err
				})
			}
			waitFor(t, func() bool { return s.notify.waiting(sid) == 10 })
			waitFor(t, func() bool {
				n, err := rdb.PubSubNumSub(ctx, prefix+"notify").Result()
				return err == nil && n[prefix+"notify"] >= 1
			})
			n, err := rdb.PubSubNumSub(ctx, prefix+"notify").Result()
			if err != nil || n[prefix+"notify"] != 1 {
				t.Errorf("subscribers on the notify channel = %v, %v; want 1", n, err)
			}
			saveToken(t, s, sid)
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("WaitToken: %v", err)
				}
			}
			if left := s.notify.waiting(sid); left != 0 {
				t.Errorf("%d waiters left registered", left)
			}
		})
	})

	// Kill only this test's subscription connection, then write the token
	// while it is down: the publish is lost, the resubscription must make
	// the waiter look again.
	t.Run("recovers a wake-up lost while reconnecting", func(t *testing.T) {
		t.Parallel()
		for _, mode := range redistest.Modes {
			t.Run(mode, func(t *testing.T) {
				t.Parallel()
				prefix := redistest.Prefix()
				name := "storetest-" + strings.TrimSuffix(prefix, ":")
				rdb := redistest.Open(t, mode, func(u string) string { return redistest.WithClientName(u, name) })
				t.Cleanup(func() { redistest.Flush(rdb, prefix) })
				s := newStoreOn(t, rdb, prefix)
				sid := newSid()
				checks := countCommand(rdb, "hgetall")
				done := startWait(s, sid)
				waitFor(t, func() bool { return checks.Load() >= 1 }) // subscribed and checked
				node, field := rdb, "sub"
				if cc, ok := rdb.(*redis.ClusterClient); ok {
					c, err := cc.MasterForKey(ctx, s.notify.channel(sid))
					if err != nil {
						t.Fatal(err)
					}
					node, field = c, "ssub"
				}
				if n := killSubscriptions(t, node, name, field); n != 1 {
					t.Fatalf("killed %d subscription connections, want 1", n)
				}
				writer := newStoreOn(t, redistest.Another(t, rdb), prefix)
				expectWoken(t, done, saveToken(t, writer, sid))
			})
		}
	})
}

// countCommand counts the commands named name that rdb sends (WaitToken
// reads the token key with HGETALL only once its subscription is
// confirmed). Connection set-up commands are not counted.
func countCommand(rdb redis.UniversalClient, name string) *atomic.Int64 {
	h := &commandCounter{name: name}
	rdb.AddHook(h)
	return &h.n
}

type commandCounter struct {
	name string
	n    atomic.Int64
}

func (c *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == c.name {
			c.n.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (c *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// killSubscriptions kills the connections named name that hold
// subscriptions (field "sub" for classic channels, "ssub" for shard
// channels) on the node rdb talks to, and returns how many it killed.
func killSubscriptions(t *testing.T, rdb redis.UniversalClient, name, field string) int {
	t.Helper()
	ctx := context.Background()
	killed := 0
	for _, c := range clientList(t, rdb) {
		if c["name"] != name || c[field] == "0" || c[field] == "" {
			continue
		}
		if err := rdb.Do(ctx, "CLIENT", "KILL", "ID", c["id"]).Err(); err != nil {
			t.Fatal(err)
		}
		killed++
	}
	return killed
}

// clientList parses CLIENT LIST of the node rdb talks to.
func clientList(t *testing.T, rdb redis.UniversalClient) []map[string]string {
	t.Helper()
	list, err := rdb.ClientList(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for line := range strings.SplitSeq(strings.TrimSpace(list), "\n") {
		c := map[string]string{}
		for f := range strings.FieldsSeq(line) {
			if k, v, ok := strings.Cut(f, "="); ok {
				c[k] = v
			}
		}
		out = append(out, c)
	}
	return out
}

// waitFor polls cond until it holds (the test's own timeout bounds it).
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	for !cond() {
		time.Sleep(time.Millisecond)
	}
}

// TestSentinelFailoverWakes: a waiter subscribed before its Sentinel-managed
// primary is failed over is still woken by a token written afterwards (on
// the new primary). The deployment is the test's own: a failover would
// lose other tests' writes on the shared one.
func TestSentinelFailoverWakes(t *testing.T) {
	t.Parallel()
	url := redistest.StartSentinelSet(t)
	open := func() redis.UniversalClient {
		rdb, err := redisconn.Open(url, redisconn.ModeSentinel)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rdb.Close() })
		return rdb
	}
	prefix := redistest.Prefix()
	rdb := open()
	s := newStoreOn(t, rdb, prefix)
	sid := newSid()
	checks := countCommand(rdb, "hgetall")
	done := startWait(s, sid)
	waitFor(t, func() bool { return checks.Load() >= 1 })
	oldPrimary, newPrimary := redistest.SentinelFailover(t, url)
	t.Logf("primary moved from %s to %s", oldPrimary, newPrimary)
	writer := newStoreOn(t, open(), prefix)
	expectWoken(t, done, saveToken(t, writer, sid))
}

// splitBrain is a client whose commands go to one server while its
// Subscribe dials another until flipped: what go-redis's Sentinel client
// does after a failover whose old primary still runs (commands move to the
// new primary, an open Pub/Sub connection stays on the old one).
type splitBrain struct {
	*redis.Client // commands: the new primary
	mu            sync.Mutex
	subs          *redis.Client // where Subscribe dials
}

func (c *splitBrain) Subscribe(ctx context.Context, channels ...string) *redis.PubSub {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.subs.Subscribe(ctx, channels...)
}

// TestClassicNotifyFollowsThePrimary: a waiter whose subscription sits on a
// server that no longer gets the writes is still woken, because the canary
// it publishes through the ordinary client does not come back and the
// subscription is made again where the writes go.
func TestClassicNotifyFollowsThePrimary(t *testing.T) {
	t.Parallel()
	client := func(addr string) *redis.Client {
		c := redis.NewClient(&redis.Options{Addr: addr})
		t.Cleanup(func() { c.Close() })
		return c
	}
	oldPrimary, newPrimary := client(redistest.StartServer(t).Addr), client(redistest.StartServer(t).Addr)
	rdb := &splitBrain{Client: newPrimary, subs: oldPrimary}
	s := newStoreOn(t, rdb, "t:")
	sid := newSid()
	checks := countCommand(newPrimary, "hgetall")
	done := startWait(s, sid)
	waitFor(t, func() bool { return checks.Load() >= 1 })
	if n, _ := oldPrimary.PubSubNumSub(context.Background(), "t:notify").Result(); n["t:notify"] != 1 {
		t.Fatalf("subscribers on the old primary = %v, want 1", n)
	}
	rdb.mu.Lock()
	rdb.subs = newPrimary
	rdb.mu.Unlock()
	expectWoken(t, done, saveToken(t, newStoreOn(t, newPrimary, "t:"), sid))
}
