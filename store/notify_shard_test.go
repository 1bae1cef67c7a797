package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ivr-gateway/ivr"
	"github.com/ivr-gateway/ivr/internal/redisconn"
	"github.com/ivr-gateway/ivr/internal/redistest"
)

func clusterStore(t *testing.T, name string) (*Store, *redis.ClusterClient, string) {
	t.Helper()
	prefix := redistest.Prefix()
	rdb := redistest.Open(t, redistest.Cluster, func(u string) string { return redistest.WithClientName(u, name) })
	t.Cleanup(func() { redistest.Flush(rdb, prefix) })
	return newStoreOn(t, rdb, prefix), rdb.(*redis.ClusterClient), prefix
}

// confirmedOn reports whether the sharded subscription of sid is confirmed.
func confirmedOn(s *Store, sid string) bool {
	n := s.notify.(*shardNotifier)
	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.calls[sid]
	return c != nil && c.confirmed
}

// TestShardedNotify checks the cluster's wake-ups (sharded Pub/Sub) beyond
// what TestWaitToken runs in every mode.
func TestShardedNotify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("channels share the call's slot and the save script publishes there", func(t *testing.T) {
		t.Parallel()
		s, cc, prefix := clusterStore(t, "")
		sid := newSid()
		ch := s.notify.channel(sid)
		if ch != prefix+"notify:{"+sid+"}" {
			t.Fatalf("channel = %q", ch)
		}
		a, err1 := cc.ClusterKeySlot(ctx, ch).Result()
		b, err2 := cc.ClusterKeySlot(ctx, s.callKey(sid)).Result()
		if err1 != nil || err2 != nil || a != b {
			t.Fatalf("slots: channel %d (%v), call %d (%v); want one slot", a, err1, b, err2)
		}
		// Subscribe by hand on the slot's primary and save a token: the
		// script's SPUBLISH arrives (a classic PUBLISH would not).
		node, err := cc.MasterForKey(ctx, ch)
		if err != nil {
			t.Fatal(err)
		}
		ps := node.SSubscribe(ctx, ch)
		defer ps.Close()
		if _, err := ps.ReceiveTimeout(ctx, 5*time.Second); err != nil { // the ssubscribe reply
			t.Fatal(err)
		}
		saveToken(t, s, sid)
		msg, err := ps.ReceiveTimeout(ctx, 5*time.Second)
		if m, ok := msg.(*redis.Message); err != nil || !ok || m.Channel != ch || m.Payload != sid {
			t.Fatalf("received %v, %v; want the call SID on %s", msg, err, ch)
		}
	})

	t.Run("many waiters on many slots use at most one connection per primary", func(t *testing.T) {
		t.Parallel()
		name := "storetest-many-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		s, cc, _ := clusterStore(t, name)
		const calls, perCall = 60, 3
		sids := make([]string, calls)
		results := make([][]<-chan waitResult, calls)
		for i := range sids {
			sids[i] = newSid()
			for range perCall {
				results[i] = append(results[i], startWait(s, sids[i]))
			}
		}
		waitFor(t, func() bool {
			for _, sid := range sids {
				if s.notify.waiting(sid) != perCall || !confirmedOn(s, sid) {
					return false
				}
			}
			return true
		})
		// Every primary owns some of 60 random slots (almost surely): count
		// our subscribed connections and channels on each.
		var mu sync.Mutex
		primaries, channels := 0, 0
		err := cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			conns, subs := 0, 0
			for _, c := range clientList(t, node) {
				if c["name"] == name && c["ssub"] != "0" {
					conns++
					n, _ := strconv.Atoi(c["ssub"])
					subs += n
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if conns > 1 {
				t.Errorf("primary %s: %d sharded subscription connections, want at most 1", node.Options().Addr, conns)
			}
			primaries += conns
			channels += subs
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if channels != calls {
			t.Errorf("%d shard channels subscribed, want %d (one per call, not per waiter)", channels, calls)
		}
		t.Logf("%d calls × %d waiters: %d connections, %d channels", calls, perCall, primaries, channels)
		writer := newStoreOn(t, redistest.Another(t, cc), s.prefix)
		for i, sid := range sids {
			tok := saveToken(t, writer, sid)
			for _, done := range results[i] {
				expectWoken(t, done, tok)
			}
		}
		for _, sid := range sids {
			if n := s.notify.waiting(sid); n != 0 {
				t.Errorf("%d waiters of %s left", n, sid)
			}
		}
	})

	t.Run("a failover of the waited slot's primary", func(t *testing.T) {
		// Not parallel with the other cluster subtests' counts: it moves a
		// primary. Other packages' tests see MOVED and retry.
		s, cc, _ := clusterStore(t, "")
		sid := newSid()
		checks := countCommand(cc, "hgetall")
		done := startWait(s, sid)
		waitFor(t, func() bool { return checks.Load() >= 1 })
		confirmations := func() int {
			n := s.notify.(*shardNotifier)
			n.mu.Lock()
			defer n.mu.Unlock()
			if c := n.calls[sid]; c != nil && c.confirmed {
				return c.confirmations
			}
			return 0
		}
		if got := confirmations(); got != 1 {
			t.Fatalf("confirmations before the failover = %d, want 1", got)
		}
		oldPrimary, newPrimary := redistest.ClusterFailover(t, cc, s.notify.channel(sid))
		t.Logf("slot of %s moved from %s to %s", sid, oldPrimary, newPrimary)
		// The old primary drops the channel (sunsubscribe); the notifier
		// subscribes again where the slot now is, and only then is the
		// token written: the new subscription must carry the wake-up.
		deadline := time.Now().Add(10 * time.Second)
		for confirmations() < 2 {
			if time.Now().After(deadline) {
				t.Fatal("the notifier did not subscribe again after the failover")
			}
			time.Sleep(time.Millisecond)
		}
		n := s.notify.(*shardNotifier)
		n.mu.Lock()
		at := n.calls[sid].shard.addr
		n.mu.Unlock()
		if at != newPrimary {
			t.Errorf("subscribed again on %s, want the new primary %s", at, newPrimary)
		}
		select {
		case r := <-done:
			t.Fatalf("WaitToken returned %v, %v before any token", r.tok, r.err)
		default:
		}
		writer := newStoreOn(t, redistest.Another(t, cc), s.prefix)
		expectWoken(t, done, saveToken(t, writer, sid))
	})
}

// TestClusterSingleSlot runs every script and pipeline of the store once
// on the real cluster: a script touching two slots fails with CROSSSLOT
// there, and nowhere else. The per-mode runs of the other tests cover the
// same paths in depth; this one names them.
func TestClusterSingleSlot(t *testing.T) {
	t.Parallel()
	rdb, prefix := redistest.ClusterClient(t)
	s := newStoreOn(t, rdb, prefix)
	ctx := context.Background()
	sid := newSid()
	tok := testToken()
	steps := []struct {
		name string
		run  func() error
	}{
		{"save script + XADD pipeline (create)", func() error {
			return s.Save(ctx, Session{CallSid: sid, Step: 1, Phase: ivr.PhaseCollecting, Answers: []byte("a")}, 0, SaveExtras{})
		}},
		{"save script with token and SPUBLISH + XADD", func() error {
			return s.Save(ctx, Session{CallSid: sid, Step: 2, Phase: ivr.PhaseVerified}, 1, SaveExtras{Event: ivr.EventVerified, Token: &tok})
		}},
		{"losing save: script + XADD, then XDEL", func() error {
			err := s.Save(ctx, Session{CallSid: sid, Step: 3, Phase: ivr.PhaseFailed}, 1, SaveExtras{Event: ivr.EventFailed})
			if errors.Is(err, ErrConflict) {
				return nil
			}
			return fmt.Errorf("want ErrConflict, got %w", err)
		}},
		{"HGETALL session", func() error { _, err := s.Load(ctx, sid); return err }},
		{"HGETALL token", func() error { _, err := s.Token(ctx, sid); return err }},
		{"renew script", func() error {
			if err := s.RenewLease(ctx, sid, "owner", time.Now().Add(time.Minute)); !errors.Is(err, ErrLeaseLost) {
				return fmt.Errorf("want ErrLeaseLost, got %w", err)
			}
			return nil
		}},
		{"caller counter", func() error { _, err := s.AllowCaller(ctx, "+15550100123"); return err }},
		{"XADD", func() error { return s.AppendEvent(ctx, sid, ivr.EventEnded) }},
		{"end script + XADD", func() error { _, err := s.EndCall(ctx, sid, 0); return err }},
		{"DEL token", func() error { return s.DeleteToken(ctx, sid) }},
	}
	for _, st := range steps {
		if err := st.run(); err != nil {
			t.Errorf("%s: %v", st.name, err)
		}
	}
	if n := countEvents(t, rdb, prefix, sid, ivr.EventFailed); n != 0 {
		t.Errorf("the losing save left %d failed events", n)
	}
}

// TestShardedNotifyPrimaryKilled: the primary that owns a waited slot is
// killed (SIGKILL). Its replica takes over after the node timeout; the
// notifier, whose connection broke, subscribes again on the new primary,
// and a token written there afterwards wakes the waiter. The cluster is the
// test's own, so that no other test sees a primary die.
func TestShardedNotifyPrimaryKilled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, nodes := redistest.StartCluster(t)
	open := func() *redis.ClusterClient {
		rdb, err := redisconn.Open(url, redisconn.ModeCluster)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rdb.Close() })
		return rdb.(*redis.ClusterClient)
	}
	cc := open()
	s := newStoreOn(t, cc, "t:")
	sid := newSid()
	checks := countCommand(cc, "hgetall")
	done := startWait(s, sid)
	waitFor(t, func() bool { return checks.Load() >= 1 })
	owner, err := cc.MasterForKey(ctx, s.notify.channel(sid))
	if err != nil {
		t.Fatal(err)
	}
	var survivor *redistest.Server
	for _, n := range nodes {
		if n.Addr == owner.Options().Addr {
			n.Kill()
		} else {
			survivor = n
		}
	}
	sc := redis.NewClient(&redis.Options{Addr: survivor.Addr})
	defer sc.Close()
	deadline := time.Now().Add(30 * time.Second)
	confirmed := func() bool {
		n := s.notify.(*shardNotifier)
		n.mu.Lock()
		defer n.mu.Unlock()
		c := n.calls[sid]
		return c != nil && c.confirmed && c.confirmations >= 2 && c.shard.addr != owner.Options().Addr
	}
	for !confirmed() {
		if time.Now().After(deadline) {
			info, _ := sc.ClusterInfo(ctx).Result()
			t.Fatalf("the notifier did not subscribe again after the primary died; a survivor says %q", info)
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case r := <-done:
		t.Fatalf("WaitToken returned %v, %v before any token", r.tok, r.err)
	default:
	}
	expectWoken(t, done, saveToken(t, newStoreOn(t, open(), "t:"), sid))
}
