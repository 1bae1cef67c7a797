// Package store is the gateway's Redis layer: one hash per call for the
// dialog's state (collected answers sealed with AES-256-GCM), one hash per
// call for the access token the downstream agent fetches (the token sealed
// too), the capped events stream, and the per-caller attempt counter
// (docs/redis.md). It runs on a single server, a Sentinel-managed primary or a
// Redis Cluster (internal/redisconn builds the client).
//
// Key layout under the prefix P (default "ivr:"):
//
//	P call:{CallSid}    hash    session; TTL fixed at creation, at most SessionTTL
//	P token:{CallSid}   hash    access_token (sealed), token_type, expires_at, scope, resource; TTL = token lifetime
//	P events            stream  call_sid, event, at; XADD MAXLEN ~ EventsMaxLen
//	P caller:{hmac}     string  attempts per caller number in the current hour
//	P new:{CallSid}     hash    a session being created; only inside createSession's transaction
//	P notify            channel single server and Sentinel: a call SID whose token was just written (PUBLISH)
//	P notify:{CallSid}  channel Redis Cluster: the same, as a shard channel in the call's slot (SPUBLISH)
//
// The braces are Redis Cluster hash tags, so one call's keys and its shard
// channel share a slot and the Lua scripts that touch them stay single-slot
// (a cluster refuses a script that reaches another slot, SPUBLISH included).
// The events stream lives in its own slot and is only written by plain
// XADD and XDEL, alone or pipelined with a call's script (a cluster client
// splits a pipeline per node); a caller counter is one key, counted by
// INCR and EXPIRE NX. The one MULTI/EXEC, which creates a call
// (store/create.go), stays in the call's slot too: it builds the session
// under P new:{CallSid}, a name that exists only inside the transaction.
package store

import (
	"context"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ivr-gateway/ivr"
)

// Errors returned by Store methods; check them with errors.Is.
var (
	// ErrNotFound: the call's session or token does not exist (or has expired).
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: Save lost a race; the stored step is not the expected one.
	ErrConflict = errors.New("store: conflicting update")
	// ErrSealBroken: sealed answers could not be opened (tampered with, moved
	// to another call, or sealed under another key).
	ErrSealBroken = errors.New("store: sealed answers cannot be opened")
	// ErrInvalid: an argument is malformed (call SID, phase, event, options).
	ErrInvalid = errors.New("store: invalid argument")
	// ErrEventNotAppended: Save stored the session but could not append its
	// event to the stream.
	ErrEventNotAppended = errors.New("store: session saved, event not appended")
	// ErrAlreadyEnded: EndCall found no session to end (unknown call, or a
	// repeated status callback).
	ErrAlreadyEnded = errors.New("store: call already ended or unknown")
	// ErrClosed: the Store has been closed.
	ErrClosed = errors.New("store: closed")
)

// Defaults for zero Options fields.
const (
	DefaultPrefix       = "ivr:"
	DefaultSessionTTL   = 2 * time.Hour
	DefaultEventsMaxLen = 100000
	DefaultCallerLimit  = 6
	// CallerWindow is the fixed window AllowCaller counts attempts in.
	CallerWindow = time.Hour
)

// Options configures a Store. Zero fields take the documented defaults.
type Options struct {
	Prefix     string // default "ivr:"
	SessionKey []byte // 32 bytes, AES-256-GCM key for answers and tokens (IVR_SESSION_KEY)
	// PreviousSessionKeys (IVR_SESSION_KEY_PREVIOUS), 32 bytes each, still
	// open what they sealed, so the session key can be rotated under live
	// calls; only SessionKey seals. The caller-number HMAC key is derived
	// from SessionKey alone, so a rotation starts every caller's hourly
	// window afresh.
	PreviousSessionKeys [][]byte
	SessionTTL          time.Duration // default 2h: max call lifetime; the TTL is set at creation and never extended past creation+SessionTTL
	EventsMaxLen        int64         // default 100000
	CallerLimit         int           // per caller number per hour, default 6 (IVR_CALLER_LIMIT)
	// RecentCalls bounds the calls whose session this instance keeps in
	// memory, answers sealed, to skip the read of their next step (recent.go);
	// default 10000; negative: none.
	RecentCalls int
	Now         func() time.Time
}

// Store is the Redis layer. It is safe for concurrent use.
type Store struct {
	rdb       redis.UniversalClient
	prefix    string
	aeads     []cipher.AEAD // the current key's first, then the previous keys'
	callerKey []byte        // HMAC key for caller numbers, derived from SessionKey
	ttl       time.Duration
	maxLen    int64
	limit     int64
	now       func() time.Time
	notify    notifier      // notify.go: classic or sharded Pub/Sub
	recent    *recent       // recent.go; nil: none
	save      *redis.Script // saveScript; a test swaps in an uncached copy
	closed    atomic.Bool
}

// callerLabel separates the caller-number HMAC key from the sealing key, so
// the one secret never serves two purposes directly.
const callerLabel = "ivr-gateway store caller-limit v1"

// New returns a Store on rdb. It does not contact Redis; use Ping for that.
// Close stops the Store's subscription but leaves rdb open.
func New(rdb redis.UniversalClient, opt Options) (*Store, error) {
	if rdb == nil {
		return nil, fmt.Errorf("%w: nil redis client", ErrInvalid)
	}
	if len(opt.SessionKey) != 32 {
		return nil, fmt.Errorf("%w: session key must be 32 bytes, got %d", ErrInvalid, len(opt.SessionKey))
	}
	if opt.Prefix == "" {
		opt.Prefix = DefaultPrefix
	}
	if strings.ContainsAny(opt.Prefix, "{}") {
		// A brace in the prefix would become the hash tag and put every
		// call in one Cluster slot.
		return nil, fmt.Errorf("%w: prefix must not contain braces", ErrInvalid)
	}
	if opt.SessionTTL <= 0 {
		opt.SessionTTL = DefaultSessionTTL
	}
	if opt.EventsMaxLen <= 0 {
		opt.EventsMaxLen = DefaultEventsMaxLen
	}
	if opt.CallerLimit <= 0 {
		opt.CallerLimit = DefaultCallerLimit
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	aeads, err := newAEADs(opt.SessionKey, opt.PreviousSessionKeys)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, opt.SessionKey)
	m.Write([]byte(callerLabel))
	s := &Store{
		rdb:       rdb,
		prefix:    opt.Prefix,
		aeads:     aeads,
		callerKey: m.Sum(nil),
		ttl:       opt.SessionTTL,
		maxLen:    opt.EventsMaxLen,
		limit:     int64(opt.CallerLimit),
		now:       opt.Now,
		save:      saveScript,
	}
	s.notify = newNotifier(rdb, opt.Prefix)
	switch {
	case opt.RecentCalls == 0:
		s.recent = newRecent(10000)
	case opt.RecentCalls > 0:
		s.recent = newRecent(opt.RecentCalls)
	}
	return s, nil
}

// Ping checks that Redis answers (for /readyz).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Close stops the shared Pub/Sub subscription and wakes every WaitToken with
// ErrClosed. It does not close the Redis client. Close is idempotent.
func (s *Store) Close() error {
	s.closed.Store(true)
	return s.notify.close()
}

func (s *Store) callKey(sid string) string  { return s.prefix + "call:{" + sid + "}" }
func (s *Store) tokenKey(sid string) string { return s.prefix + "token:{" + sid + "}" }
func (s *Store) eventsKey() string          { return s.prefix + "events" }

// checkSid rejects anything but a Twilio call SID (ivr.ValidCallSid, the
// one rule every package applies) before it becomes part of a key name.
func checkSid(sid string) error {
	if !ivr.ValidCallSid(sid) {
		return fmt.Errorf("%w: not a call SID (CA and 32 hex digits)", ErrInvalid)
	}
	return nil
}
