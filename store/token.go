package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Token is the access token stored for a verified call (contract §4, §5).
// String, GoString and LogValue never show AccessToken.
type Token struct {
	AccessToken, TokenType, Scope, Resource string
	ExpiresAt                               time.Time
}

// String describes the token without the access token itself.
func (t Token) String() string {
	return fmt.Sprintf("store.Token{AccessToken:[redacted] TokenType:%s Scope:%q Resource:%q ExpiresAt:%s}",
		t.TokenType, t.Scope, t.Resource, t.ExpiresAt.UTC().Format(time.RFC3339))
}

// GoString keeps %#v from printing the access token.
func (t Token) GoString() string { return t.String() }

// LogValue logs the token without the access token itself.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("access_token", "[redacted]"),
		slog.String("token_type", t.TokenType),
		slog.String("scope", t.Scope),
		slog.String("resource", t.Resource),
		slog.Time("expires_at", t.ExpiresAt),
	)
}

// Hash fields of P token:{CallSid} (contract §4).
const (
	fAccessToken = "access_token"
	fTokenType   = "token_type"
	fExpiresAt   = "expires_at"
	fScope       = "scope"
	fResource    = "resource"
)

func (t Token) fields() []any {
	return []any{
		fAccessToken, t.AccessToken,
		fTokenType, t.TokenType,
		fExpiresAt, t.ExpiresAt.UTC().Format(time.RFC3339),
		fScope, t.Scope,
		fResource, t.Resource,
	}
}

// decodeToken parses a token hash; an empty or expired one is ErrNotFound.
func decodeToken(m map[string]string, now time.Time) (Token, error) {
	if len(m) == 0 || m[fAccessToken] == "" {
		return Token{}, ErrNotFound
	}
	exp, err := time.Parse(time.RFC3339, m[fExpiresAt])
	if err != nil {
		return Token{}, errors.New("corrupt token: bad expires_at")
	}
	if !exp.After(now) {
		// Redis expiry is the rule; this covers clock skew between us and it.
		return Token{}, ErrNotFound
	}
	return Token{
		AccessToken: m[fAccessToken],
		TokenType:   m[fTokenType],
		Scope:       m[fScope],
		Resource:    m[fResource],
		ExpiresAt:   exp,
	}, nil
}

// Token returns the call's access token, or ErrNotFound when there is none or
// it has expired. Tokens are written by Save (SaveExtras.Token).
func (s *Store) Token(ctx context.Context, callSid string) (Token, error) {
	if err := checkSid(callSid); err != nil {
		return Token{}, err
	}
	m, err := s.rdb.HGetAll(ctx, s.tokenKey(callSid)).Result()
	if err != nil {
		return Token{}, fmt.Errorf("store: token %s: %w", callSid, err)
	}
	t, err := decodeToken(m, s.now())
	if err != nil {
		return Token{}, fmt.Errorf("store: token %s: %w", callSid, err)
	}
	return t, nil
}

// DeleteToken deletes the call's token; a missing token is not an error.
func (s *Store) DeleteToken(ctx context.Context, callSid string) error {
	if err := checkSid(callSid); err != nil {
		return err
	}
	if err := s.rdb.Del(ctx, s.tokenKey(callSid)).Err(); err != nil {
		return fmt.Errorf("store: delete token %s: %w", callSid, err)
	}
	return nil
}

// WaitToken blocks until the call's token exists or ctx ends (long-poll for
// the agent API), returning ctx's error wrapped, or ErrClosed after Close.
//
// One Pub/Sub subscription per Store (started by the first WaitToken, stopped
// by Close) fans out to local waiters. The waiter is registered, and the
// subscription confirmed, before the key is checked, so a token written at any
// moment after that check wakes it. After a reconnect every waiter re-checks,
// since a notification may have been missed while the connection was down.
func (s *Store) WaitToken(ctx context.Context, callSid string) (Token, error) {
	if err := checkSid(callSid); err != nil {
		return Token{}, err
	}
	wake, unregister, err := s.notify.register(ctx, callSid)
	if err != nil {
		return Token{}, fmt.Errorf("store: wait token %s: %w", callSid, err)
	}
	defer unregister()
	for {
		t, err := s.Token(ctx, callSid)
		if !errors.Is(err, ErrNotFound) {
			return t, err
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return Token{}, fmt.Errorf("store: wait token %s: %w", callSid, ctx.Err())
		case <-s.notify.done:
			return Token{}, fmt.Errorf("store: wait token %s: %w", callSid, ErrClosed)
		}
	}
}

// notifier owns the Store's one subscription to P+"notify" and fans its
// messages (call SIDs) out to the local WaitToken callers.
type notifier struct {
	rdb     redis.UniversalClient
	channel string

	ready chan struct{} // closed once the first SUBSCRIBE is confirmed
	done  chan struct{} // closed by close

	mu      sync.Mutex
	closed  bool
	ps      *redis.PubSub // nil until the first waiter
	cancel  context.CancelFunc
	exited  chan struct{} // closed when run returns
	waiters map[string]map[chan struct{}]struct{}
}

func newNotifier(rdb redis.UniversalClient, channel string) *notifier {
	return &notifier{
		rdb:     rdb,
		channel: channel,
		ready:   make(chan struct{}),
		done:    make(chan struct{}),
		waiters: make(map[string]map[chan struct{}]struct{}),
	}
}

// register adds a waiter for callSid, starts the subscription if needed and
// waits until it is confirmed.
func (n *notifier) register(ctx context.Context, callSid string) (<-chan struct{}, func(), error) {
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
	set := n.waiters[callSid]
	if set == nil {
		set = make(map[chan struct{}]struct{})
		n.waiters[callSid] = set
	}
	set[ch] = struct{}{}
	n.mu.Unlock()

	unregister := func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		if set := n.waiters[callSid]; set != nil {
			delete(set, ch)
			if len(set) == 0 {
				delete(n.waiters, callSid)
			}
		}
	}
	select {
	case <-n.ready:
		return ch, unregister, nil
	case <-ctx.Done():
		unregister()
		return nil, nil, ctx.Err()
	case <-n.done:
		unregister()
		return nil, nil, ErrClosed
	}
}

// healthEvery is how long the subscription may stay silent before run pings
// it, so a dead connection is noticed and re-established.
const healthEvery = 30 * time.Second

func (n *notifier) run(ctx context.Context, ps *redis.PubSub, exited chan struct{}) {
	defer close(exited)
	_ = ps.Subscribe(ctx, n.channel) // on error, the next receive reconnects and resubscribes
	confirmed := false
	backoff := 50 * time.Millisecond
	for {
		msg, err := ps.ReceiveTimeout(ctx, healthEvery)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				_ = ps.Ping(ctx)
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
				n.wakeAll() // resubscribed: something may have been missed
			}
		case *redis.Message:
			n.wake(m.Payload)
		}
	}
}

func (n *notifier) wake(callSid string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for ch := range n.waiters[callSid] {
		select {
		case ch <- struct{}{}:
		default: // already has a pending wake-up
		}
	}
}

func (n *notifier) wakeAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, set := range n.waiters {
		for ch := range set {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}

func (n *notifier) close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	close(n.done)
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
