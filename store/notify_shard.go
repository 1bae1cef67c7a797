package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// shardNotifier carries wake-ups on a Redis Cluster: the save script
// SPUBLISHes on P notify:{CallSid}, a shard channel in the call's own slot
// (a script may only publish in its slot), and waiters subscribe per call,
// multiplexed: one sharded Pub/Sub connection per primary that owns a
// waited-for slot, not one per waiter. When a slot moves (a failover, a
// resharding) the node that lost it sends sunsubscribe for its channels; an
// error reply or a broken connection puts every channel of that connection
// in doubt. Either way the affected calls are resolved again from the
// (reloaded) slot map, subscribed where their slot now lives, and their
// waiters woken to re-check once the new subscription is confirmed.
type shardNotifier struct {
	cc     *redis.ClusterClient
	prefix string // channels are prefix + "notify:{" + CallSid + "}"
	doneCh chan struct{}
	wg     sync.WaitGroup // readers and delayed resolutions

	mu       sync.Mutex
	closed   bool
	calls    map[string]*waitedCall
	shards   map[string]*shard // by node address
	failures map[string]int    // troubles in a row per node address ("": the slot map): the backoff
}

// waitedCall is one call SID with local waiters.
type waitedCall struct {
	waiters map[chan struct{}]struct{}
	shard   *shard        // subscribed, or subscribing, there; nil while resolving
	ready   chan struct{} // closed when the subscription on shard is confirmed
	// confirmed: ready is closed. subscribedBefore: some subscription was
	// confirmed before, so the next confirmation must wake the waiters
	// (a wake-up may have been lost in between).
	confirmed, subscribedBefore bool
	confirmations               int // subscriptions confirmed so far (tests)
	// movedFrom is the node that last dropped the channel because the slot
	// left it, and movedAt when. Until the slot map stops naming that node
	// (or movedTrust has passed), resolve does not subscribe there again:
	// a just-demoted primary accepts SSUBSCRIBE as a replica of the slot's
	// new owner, but the owner's messages reach it only once the owner has
	// learnt by gossip that it is its replica; with Redis 7.0 we saw
	// messages lost for one to several seconds after a CLUSTER FAILOVER.
	movedFrom string
	movedAt   time.Time
}

// shard is one sharded Pub/Sub connection to one node.
type shard struct {
	addr string
	ps   *redis.PubSub

	// Guarded by shardNotifier.mu.
	want map[string]struct{} // call SIDs that should be subscribed here
	have map[string]struct{} // what our last commands asked for
	gone bool                // removed from shards; ps closed or closing
	// Replies not yet read to our own SSUBSCRIBE and SUNSUBSCRIBE per call
	// SID. Redis answers in order, so an sunsubscribe with none of ours
	// outstanding is the server's: the slot left this node.
	pendingSub, pendingUnsub map[string]int

	// subMu makes the commands go out in the order reconcile decided
	// them.
	subMu sync.Mutex
}

const (
	resolveTimeout   = 2 * time.Second
	subscribeTimeout = 2 * time.Second
	// movedTrust: how long a stale slot map may keep naming the node that
	// lost a slot before resolve believes it again (a coordinated failover
	// is gossiped in milliseconds; the reload takes one round trip).
	movedTrust = 5 * time.Second
	movedRetry = 50 * time.Millisecond
)

// retryDelay is the wait before resolving calls again after trouble on a
// node n times in a row: 25 ms doubling to 2 s, so a dead primary is not
// dialled in a tight loop while its replica takes over.
func retryDelay(n int) time.Duration {
	if n <= 0 {
		return 0
	}
	return min(2*time.Second, 25*time.Millisecond<<min(n-1, 7))
}

func newShardNotifier(cc *redis.ClusterClient, prefix string) *shardNotifier {
	return &shardNotifier{
		cc:       cc,
		prefix:   prefix,
		doneCh:   make(chan struct{}),
		calls:    make(map[string]*waitedCall),
		shards:   make(map[string]*shard),
		failures: make(map[string]int),
	}
}

func (n *shardNotifier) channel(callSid string) string {
	return n.prefix + "notify:{" + callSid + "}"
}

func (n *shardNotifier) sidOf(channel string) (string, bool) {
	rest, ok := strings.CutPrefix(channel, n.prefix+"notify:{")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, "}")
}

func (n *shardNotifier) done() <-chan struct{} { return n.doneCh }

func (n *shardNotifier) waiting(callSid string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if c := n.calls[callSid]; c != nil {
		return len(c.waiters)
	}
	return 0
}

func (n *shardNotifier) register(ctx context.Context, callSid string) (<-chan struct{}, func(), error) {
	ch := make(chan struct{}, 1)
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil, nil, ErrClosed
	}
	c := n.calls[callSid]
	first := c == nil
	if first {
		c = &waitedCall{waiters: make(map[chan struct{}]struct{}), ready: make(chan struct{})}
		n.calls[callSid] = c
	}
	c.waiters[ch] = struct{}{}
	ready := c.ready
	n.mu.Unlock()
	if first {
		n.resolve(ctx, []string{callSid})
	}
	unregister := func() { n.unregister(callSid, ch) }
	select {
	case <-ready:
		return ch, unregister, nil
	case <-ctx.Done():
		unregister()
		return nil, nil, ctx.Err()
	case <-n.doneCh:
		unregister()
		return nil, nil, ErrClosed
	}
}

func (n *shardNotifier) unregister(callSid string, ch chan struct{}) {
	n.mu.Lock()
	c := n.calls[callSid]
	if c == nil {
		n.mu.Unlock()
		return
	}
	delete(c.waiters, ch)
	var sh *shard
	if len(c.waiters) == 0 {
		delete(n.calls, callSid)
		if c.shard != nil {
			delete(c.shard.want, callSid)
			sh = c.shard
		}
	}
	n.mu.Unlock()
	if sh != nil {
		n.reconcile(sh)
	}
}

// resolve subscribes each call that has waiters and no shard on the
// primary that owns its slot (by the cluster client's slot map). Calls whose
// primary cannot be found (in resolveTimeout, or before ctx ends) are tried
// again later.
func (n *shardNotifier) resolve(ctx context.Context, sids []string) {
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	touched := make(map[*shard]bool)
	var retry, stale []string
	for _, sid := range sids {
		n.mu.Lock()
		c := n.calls[sid]
		pending := !n.closed && c != nil && c.shard == nil
		n.mu.Unlock()
		if !pending {
			continue
		}
		node, err := n.cc.MasterForKey(ctx, n.channel(sid))
		if err != nil {
			retry = append(retry, sid)
			continue
		}
		addr := node.Options().Addr
		n.mu.Lock()
		if c := n.calls[sid]; !n.closed && c != nil && c.shard == nil {
			if addr == c.movedFrom && time.Since(c.movedAt) < movedTrust {
				stale = append(stale, sid)
				n.mu.Unlock()
				continue
			}
			c.movedFrom = ""
			sh := n.shards[addr]
			if sh == nil {
				sh = n.openShard(addr, node)
			}
			c.shard = sh
			sh.want[sid] = struct{}{}
			touched[sh] = true
		}
		n.mu.Unlock()
	}
	for sh := range touched {
		n.reconcile(sh)
	}
	if len(stale) > 0 {
		n.cc.ReloadState(ctx)
	}
	n.mu.Lock()
	if len(retry) > 0 {
		// The slot map cannot be loaded: no node answers.
		n.failures[""]++
		n.resolveLater(retry, retryDelay(n.failures[""]))
	} else {
		delete(n.failures, "")
	}
	if len(stale) > 0 {
		n.resolveLater(stale, movedRetry)
	}
	n.mu.Unlock()
}

// resolveLater runs resolve after delay. n.mu must be held.
func (n *shardNotifier) resolveLater(sids []string, delay time.Duration) {
	if n.closed {
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-n.doneCh:
			return
		case <-t.C:
		}
		n.resolve(context.Background(), sids)
	}()
}

func (n *shardNotifier) wake(callSid string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if c := n.calls[callSid]; c != nil {
		wakeAll(c.waiters)
	}
}

func wakeAll(waiters map[chan struct{}]struct{}) {
	for ch := range waiters {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// unassign detaches c from its shard until it is resolved again. n.mu must
// be held.
func (n *shardNotifier) unassign(c *waitedCall) {
	c.shard = nil
	if c.confirmed {
		c.confirmed = false
		c.ready = make(chan struct{})
	}
}

func (n *shardNotifier) close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	close(n.doneCh)
	var shards []*shard
	for _, sh := range n.shards {
		sh.gone = true
		shards = append(shards, sh)
	}
	clear(n.shards)
	n.mu.Unlock()
	var errs []error
	for _, sh := range shards {
		if err := sh.ps.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	n.wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("store: close subscriptions: %w", err)
	}
	return nil
}
