package telephony

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/ivr-gateway/ivr"
)

// What every WebSocket transport (Media Streams, ConversationRelay) shares:
// a cap on live sessions per instance, the binding of a session to the
// call and step its TwiML opened it for, and the claim that keeps one live
// session per call across instances.

// SocketClaims is what the WebSocket transports need of the store to keep
// one live session per call (store.Store implements it). Renew returns an
// error wrapping store.ErrLeaseLost when the claim was lost.
type SocketClaims interface {
	ClaimSocket(ctx context.Context, callSid, owner string, ttl time.Duration) (bool, error)
	RenewSocket(ctx context.Context, callSid, owner string, ttl time.Duration) error
	ReleaseSocket(ctx context.Context, callSid, owner string) error
}

// socketTTL is how long a session's claim outlives its instance; the live
// session renews it every socketTTL/3.
const socketTTL = 30 * time.Second

var (
	errShutdown     = errors.New("telephony: gateway shutting down")
	errOverCap      = errors.New("telephony: too many live WebSocket sessions")
	errStreamEnded  = errors.New("telephony: stream ended by Twilio")
	errStreamClosed = errors.New("telephony: stream connection lost")
	// errBinding: the session's first message does not carry the binding
	// the TwiML gave it (missing, altered, or for another call or step).
	errBinding = errors.New("telephony: WebSocket session not bound to its call")
	// errDuplicate: the call already has a live session.
	errDuplicate = errors.New("telephony: the call already has a live WebSocket session")
)

// liveSet tracks live WebSocket sessions: http.Server.Shutdown does not
// wait for hijacked connections, so Gateway.Shutdown closes them itself,
// and max caps how many one instance holds (IVR_MAX_STREAMS).
type liveSet struct {
	mu     sync.Mutex
	live   map[*liveSocket]struct{}
	closed bool
	max    int
	wg     sync.WaitGroup
}

type liveSocket struct{ cancel context.CancelCauseFunc }

// add registers a session, or refuses it with errShutdown or errOverCap.
func (ls *liveSet) add(cancel context.CancelCauseFunc) (*liveSocket, error) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	switch {
	case ls.closed:
		return nil, errShutdown
	case ls.max > 0 && len(ls.live) >= ls.max:
		return nil, errOverCap
	}
	if ls.live == nil {
		ls.live = make(map[*liveSocket]struct{})
	}
	s := &liveSocket{cancel: cancel}
	ls.live[s] = struct{}{}
	ls.wg.Add(1)
	return s, nil
}

func (ls *liveSet) remove(s *liveSocket) {
	ls.mu.Lock()
	delete(ls.live, s)
	ls.mu.Unlock()
	ls.wg.Done()
}

// closeAll refuses new sessions and asks every live one to hand its call
// back to TwiML (close 1001); Twilio then requests the <Connect action>,
// which another instance can answer.
func (ls *liveSet) closeAll() {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.closed = true
	for s := range ls.live {
		s.cancel(errShutdown)
	}
}

// bindingParams are the <Parameter>s that bind a session to its call: the
// step, the caller reference and their MAC (streamBinding).
func bindingParams(key []byte, kind, callSid string, step int64, caller string) map[string]string {
	p := map[string]string{
		"step": strconv.FormatInt(step, 10),
		"bind": streamBinding(key, kind, callSid, step, caller),
	}
	if caller != "" {
		p["caller"] = caller
	}
	return p
}

// bound checks a session's parameters against its binding and returns the
// step and caller reference they carry; anything missing or altered is
// errBinding, and the session changes nothing.
func (g *Gateway) bound(kind, callSid string, params map[string]string) (int64, string, error) {
	if !ivr.ValidCallSid(callSid) {
		return 0, "", fmt.Errorf("%w: no valid call SID", errBinding)
	}
	// Step 0 is a relay session opened by the incoming-call webhook, before
	// the call has a session: the MAC covers it like any other step.
	step, err := strconv.ParseInt(params["step"], 10, 64)
	if err != nil || step < 0 {
		return 0, "", fmt.Errorf("%w: no step", errBinding)
	}
	caller := params["caller"]
	want := streamBinding(g.bindKey, kind, callSid, step, caller)
	if !hmac.Equal([]byte(want), []byte(params["bind"])) {
		return 0, "", errBinding
	}
	return step, caller, nil
}

// claim takes the call's one live session for this connection, renewing
// the claim until the returned release is called. Without a store of
// claims (tests of the transport alone) every session is admitted.
func (g *Gateway) claim(ctx context.Context, callSid string) (release func(), err error) {
	if g.sockets == nil {
		return func() {}, nil
	}
	var b [8]byte
	rand.Read(b[:])
	owner := hex.EncodeToString(b[:])
	ok, err := g.sockets.ClaimSocket(ctx, callSid, owner, socketTTL)
	if err != nil {
		return nil, fmt.Errorf("telephony: claim session: %w", err)
	}
	if !ok {
		return nil, errDuplicate
	}
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(socketTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				err := g.sockets.RenewSocket(rctx, callSid, owner, socketTTL)
				cancel()
				if err != nil {
					g.log.Warn("WebSocket session claim not renewed", "call_sid", callSid, "err", err)
				}
			}
		}
	}()
	return func() {
		close(quit)
		<-done
		rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := g.sockets.ReleaseSocket(rctx, callSid, owner); err != nil {
			g.log.Warn("WebSocket session claim not released", "call_sid", callSid, "err", err)
		}
	}, nil
}
