package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// notifier tells WaitToken that a call's token may have been written. The
// save script publishes the call SID on channel(callSid) when it writes a
// token. A wake-up is a hint: the waiter re-reads the token key, which is
// the truth, so a spurious wake-up costs one HGETALL and a missed one is
// what every design choice below avoids.
type notifier interface {
	// register adds a waiter for callSid. When it returns without error the
	// subscription that carries callSid's wake-ups is confirmed, so a token
	// written from then on sends on wake (capacity 1: wake-ups merge).
	// unregister must be called exactly once.
	register(ctx context.Context, callSid string) (wake <-chan struct{}, unregister func(), err error)
	// channel is where the save script publishes callSid's wake-up: a
	// channel with a hash tag is a shard channel (SPUBLISH), one without a
	// classic channel (PUBLISH).
	channel(callSid string) string
	// done is closed by close.
	done() <-chan struct{}
	close() error
	// waiting counts callSid's registered waiters (tests).
	waiting(callSid string) int
}

// newNotifier picks the classic channel P notify for a single server or a
// Sentinel-managed primary (one subscription per Store; a PUBLISH reaches
// every subscriber), and sharded channels P notify:{CallSid} for a Redis
// Cluster, where a classic PUBLISH is broadcast to every node of the
// cluster while an SPUBLISH stays in the shard that owns the call.
func newNotifier(rdb redis.UniversalClient, prefix string) notifier {
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		return newShardNotifier(cc, prefix)
	}
	return newChannelNotifier(rdb, prefix+"notify")
}

// healthEvery is how long a subscription may stay silent before its reader
// pings it, so a dead connection is noticed and replaced.
const healthEvery = 30 * time.Second

// waiterSet holds the local waiters by call SID. Its owner's mutex guards it.
type waiterSet map[string]map[chan struct{}]struct{}

func (w waiterSet) add(callSid string, ch chan struct{}) {
	set := w[callSid]
	if set == nil {
		set = make(map[chan struct{}]struct{})
		w[callSid] = set
	}
	set[ch] = struct{}{}
}

func (w waiterSet) remove(callSid string, ch chan struct{}) {
	if set := w[callSid]; set != nil {
		delete(set, ch)
		if len(set) == 0 {
			delete(w, callSid)
		}
	}
}

func (w waiterSet) wake(callSid string) {
	for ch := range w[callSid] {
		select {
		case ch <- struct{}{}:
		default: // already has a pending wake-up
		}
	}
}

func (w waiterSet) wakeAll() {
	for sid := range w {
		w.wake(sid)
	}
}

// channelNotifier owns the Store's one subscription to the classic channel
// P notify and fans its messages (call SIDs) out to the local waiters.
type channelNotifier struct {
	rdb  redis.UniversalClient
	name string

	ready  chan struct{} // closed once the first SUBSCRIBE is confirmed
	doneCh chan struct{} // closed by close

	mu      sync.Mutex
	closed  bool
	ps      *redis.PubSub // nil until the first waiter
	cancel  context.CancelFunc
	exited  chan struct{} // closed when run returns
	waiters waiterSet
}

func newChannelNotifier(rdb redis.UniversalClient, name string) *channelNotifier {
	return &channelNotifier{
		rdb:     rdb,
		name:    name,
		ready:   make(chan struct{}),
		doneCh:  make(chan struct{}),
		waiters: make(waiterSet),
	}
}

func (n *channelNotifier) channel(string) string { return n.name }
func (n *channelNotifier) done() <-chan struct{} { return n.doneCh }

func (n *channelNotifier) waiting(callSid string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.waiters[callSid])
}

// register adds a waiter for callSid, starts the subscription if needed and
// waits until it is confirmed.
func (n *channelNotifier) register(ctx context.Context, callSid string) (<-chan struct{}, func(), error) {
	ch := make(chan struct{}, 1)
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil, nil, ErrClosed
	}
	if n.ps == nil {
		// Subscribe with no channels does no I/O; run does the rest.
		n.ps = n.rdb.Subscribe(context.Background())
		var runCtx context.Context
		runCtx, n.cancel = context.WithCancel(context.Background())
		n.exited = make(chan struct{})
		go n.run(runCtx, n.ps, n.exited)
	}
	n.waiters.add(callSid, ch)
	n.mu.Unlock()

	unregister := func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.waiters.remove(callSid, ch)
	}
	select {
	case <-n.ready:
		return ch, unregister, nil
	case <-ctx.Done():
		unregister()
		return nil, nil, ctx.Err()
	case <-n.doneCh:
		unregister()
		return nil, nil, ErrClosed
	}
}

// probeEvery: while anyone waits, the classic subscription is checked end
// to end this often. The run loop publishes a canary on the channel through
// the ordinary client, and expects it back on the subscription before the
// next check; if it does not come, the subscription is on a server the
// writes no longer reach, and is made again (which wakes every waiter). That
// covers a Sentinel failover whose old primary keeps running: go-redis moves
// its command connections to the new primary at once, but not a Pub/Sub
// connection, which would hear nothing until the old primary is demoted (by
// the sentinels' next look at it, up to 10 s later). It also notices a dead
// connection sooner than the health ping.
const probeEvery = time.Second

// canaryPrefix starts a canary's payload; no call SID has a '~' (checkSid),
// so waiters never mistake one for a wake-up.
const canaryPrefix = "~canary:"

func (n *channelNotifier) run(ctx context.Context, ps *redis.PubSub, exited chan struct{}) {
	defer close(exited)
	_ = ps.Subscribe(ctx, n.name) // on error, the next receive reconnects and resubscribes
	confirmed := false
	backoff := 50 * time.Millisecond
	canary := "" // the payload of the canary in flight
	lastProbe, lastPing := time.Now(), time.Now()
	for {
		msg, err := ps.ReceiveTimeout(ctx, probeEvery)
		if ctx.Err() != nil {
			return
		}
		if confirmed && time.Since(lastProbe) >= probeEvery {
			lastProbe = time.Now()
			if canary != "" {
				canary = ""
				if ps = n.resubscribe(ctx, ps); ps == nil {
					return // closed
				}
				continue
			}
			if n.hasWaiters() {
				canary = canaryPrefix + randomHex()
				pctx, cancel := context.WithTimeout(ctx, probeEvery)
				_ = n.rdb.Publish(pctx, n.name, canary).Err() // lost: the next check resubscribes
				cancel()
			}
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if time.Since(lastPing) >= healthEvery {
					lastPing = time.Now()
					_ = ps.Ping(ctx)
				}
				continue
			}
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind != "subscribe" {
				continue
			}
			if !confirmed {
				confirmed = true
				close(n.ready)
			} else {
				// Resubscribed after a reconnect, or on another primary:
				// something may have been missed.
				n.mu.Lock()
				n.waiters.wakeAll()
				n.mu.Unlock()
			}
		case *redis.Message:
			if canary != "" && m.Payload == canary {
				canary = ""
				continue
			}
			n.mu.Lock()
			n.waiters.wake(m.Payload)
			n.mu.Unlock()
		}
	}
}

// resubscribe replaces the subscription with a new one on a new connection
// (for a Sentinel client: to the primary the sentinels name now). It
// returns nil once the notifier is closed.
func (n *channelNotifier) resubscribe(ctx context.Context, old *redis.PubSub) *redis.PubSub {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	ps := n.rdb.Subscribe(context.Background())
	n.ps = ps
	n.mu.Unlock()
	_ = old.Close()
	_ = ps.Subscribe(ctx, n.name)
	return ps
}

func (n *channelNotifier) hasWaiters() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.waiters) > 0
}

func randomHex() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (n *channelNotifier) close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	close(n.doneCh)
	ps, cancel, exited := n.ps, n.cancel, n.exited
	n.mu.Unlock()
	if ps == nil {
		return nil
	}
	cancel()
	err := ps.Close() // unblocks a pending receive
	<-exited
	if err != nil {
		return fmt.Errorf("store: close subscription: %w", err)
	}
	return nil
}
