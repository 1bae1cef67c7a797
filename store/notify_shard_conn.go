package store

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// The connections of the sharded notifier (notify_shard.go): opening a
// shard on a node, keeping its subscriptions what its waiters need, and
// reading its replies, which say what Redis actually did (a subscription
// confirmed, a channel dropped because its slot moved, a broken
// connection).

// openShard starts a sharded Pub/Sub on node and its reader. n.mu must be
// held.
func (n *shardNotifier) openShard(addr string, node *redis.Client) *shard {
	sh := &shard{
		addr:         addr,
		ps:           node.SSubscribe(context.Background()), // no channels: no I/O yet
		want:         make(map[string]struct{}),
		have:         make(map[string]struct{}),
		pendingSub:   make(map[string]int),
		pendingUnsub: make(map[string]int),
	}
	n.shards[addr] = sh
	n.wg.Add(1)
	go n.read(sh)
	return sh
}

// reconcile sends the SSUBSCRIBE and SUNSUBSCRIBE that make sh's
// subscriptions what sh.want says. A send that fails leaves the channel in
// go-redis's set; the reader then sees the broken connection and moves
// every call of the shard.
func (n *shardNotifier) reconcile(sh *shard) {
	sh.subMu.Lock()
	defer sh.subMu.Unlock()
	var add, del []string
	n.mu.Lock()
	if sh.gone {
		n.mu.Unlock()
		return
	}
	for sid := range sh.want {
		if _, ok := sh.have[sid]; !ok {
			add = append(add, sid)
			sh.have[sid] = struct{}{}
			sh.pendingSub[sid]++
		}
	}
	for sid := range sh.have {
		if _, ok := sh.want[sid]; !ok {
			del = append(del, sid)
			delete(sh.have, sid)
			sh.pendingUnsub[sid]++
		}
	}
	n.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), subscribeTimeout)
	defer cancel()
	for _, sid := range del {
		_ = sh.ps.SUnsubscribe(ctx, n.channel(sid))
	}
	for _, sid := range add {
		// One channel per command: an SSUBSCRIBE's channels must share a slot.
		_ = sh.ps.SSubscribe(ctx, n.channel(sid))
	}
}

func (n *shardNotifier) read(sh *shard) {
	defer n.wg.Done()
	ctx := context.Background()
	for {
		msg, err := sh.ps.ReceiveTimeout(ctx, healthEvery)
		n.mu.Lock()
		gone := sh.gone
		n.mu.Unlock()
		if gone {
			return
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if n.closeIfIdle(sh) {
					return
				}
				_ = sh.ps.Ping(ctx)
				continue
			}
			// A broken connection, or an error reply (MOVED to an
			// SSUBSCRIBE whose slot is not here): every subscription of
			// this connection is in doubt.
			n.abandon(sh)
			return
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if sid, ok := n.sidOf(m.Channel); ok {
				switch m.Kind {
				case "ssubscribe":
					n.subscribed(sh, sid)
				case "sunsubscribe":
					n.unsubscribed(sh, sid)
				}
			}
		case *redis.Message:
			if sid, ok := n.sidOf(m.Channel); ok {
				n.wake(sid)
			}
		}
	}
}

// subscribed handles the reply to our SSUBSCRIBE (or to go-redis's own
// resubscription after a reconnect).
func (n *shardNotifier) subscribed(sh *shard, sid string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	decrement(sh.pendingSub, sid)
	if sh.pendingSub[sid] > 0 || sh.pendingUnsub[sid] > 0 {
		return // a later command of ours for this channel is still unanswered
	}
	c := n.calls[sid]
	if c == nil || c.shard != sh {
		return
	}
	delete(n.failures, sh.addr)
	c.confirmations++
	if !c.confirmed {
		c.confirmed = true
		close(c.ready)
	}
	if c.subscribedBefore {
		wakeAll(c.waiters)
	}
	c.subscribedBefore = true
}

// decrement counts one reply down, forgetting the call SID at zero.
func decrement(m map[string]int, sid string) {
	if m[sid] <= 1 {
		delete(m, sid)
		return
	}
	m[sid]--
}

// unsubscribed handles an sunsubscribe: the reply to ours, or the server
// telling us that the channel's slot left this node.
func (n *shardNotifier) unsubscribed(sh *shard, sid string) {
	n.mu.Lock()
	if sh.pendingUnsub[sid] > 0 {
		decrement(sh.pendingUnsub, sid)
		n.mu.Unlock()
		return
	}
	c := n.calls[sid]
	_, wanted := sh.want[sid]
	if sh.gone || c == nil || c.shard != sh || !wanted {
		n.mu.Unlock()
		return
	}
	// The server has dropped it already: no SUNSUBSCRIBE. (go-redis keeps
	// the channel in its set, which only matters if it reconnects this
	// connection, and then the reader abandons the shard.)
	delete(sh.want, sid)
	delete(sh.have, sid)
	n.unassign(c)
	c.movedFrom, c.movedAt = sh.addr, time.Now()
	n.cc.ReloadState(context.Background())
	n.resolveLater([]string{sid}, movedRetry)
	n.mu.Unlock()
}

// abandon closes sh and resolves its calls again after a backoff, once the
// cluster client has reloaded its slot map.
func (n *shardNotifier) abandon(sh *shard) {
	n.cc.ReloadState(context.Background())
	n.mu.Lock()
	if sh.gone {
		n.mu.Unlock()
		return
	}
	sh.gone = true
	if n.shards[sh.addr] == sh {
		delete(n.shards, sh.addr)
	}
	n.failures[sh.addr]++
	var sids []string
	for sid := range sh.want {
		if c := n.calls[sid]; c != nil && c.shard == sh {
			n.unassign(c)
			sids = append(sids, sid)
		}
	}
	if len(sids) > 0 {
		n.resolveLater(sids, retryDelay(n.failures[sh.addr]))
	}
	n.mu.Unlock()
	_ = sh.ps.Close()
}

// closeIfIdle closes sh when no call is waited for on it any more.
func (n *shardNotifier) closeIfIdle(sh *shard) bool {
	n.mu.Lock()
	idle := len(sh.want) == 0 && !sh.gone
	if idle {
		sh.gone = true
		if n.shards[sh.addr] == sh {
			delete(n.shards, sh.addr)
		}
	}
	n.mu.Unlock()
	if idle {
		_ = sh.ps.Close()
	}
	return idle
}
