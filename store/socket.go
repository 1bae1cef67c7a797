package store

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// A call's WebSocket session (Media Streams or ConversationRelay) is
// claimed in Redis, so at most one is live per call across every gateway
// instance: a second stream for the call, from a leaked signature or a
// confused proxy, is refused wherever it lands. The claim is
// P socket:{CallSid} (the call's hash slot) holding an opaque owner token,
// with a TTL the live session keeps renewing; a session whose instance died
// frees the call when the TTL runs out.

func (s *Store) socketKey(sid string) string { return s.prefix + "socket:{" + sid + "}" }

// renewSocketScript extends, and releaseSocketScript deletes, a claim if
// owner still holds it. KEYS: socket. ARGV: owner[, ttl ms]. Returns 1 or 0.
var (
	renewSocketScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)
	releaseSocketScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`)
)

// ClaimSocket claims the call's one live WebSocket session for owner for
// ttl, and reports whether it got it (false: another session holds it).
func (s *Store) ClaimSocket(ctx context.Context, callSid, owner string, ttl time.Duration) (bool, error) {
	if err := checkSid(callSid); err != nil {
		return false, err
	}
	ok, err := s.rdb.SetNX(ctx, s.socketKey(callSid), owner, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("store: claim socket %s: %w", callSid, err)
	}
	return ok, nil
}

// RenewSocket extends owner's claim by ttl; it returns ErrLeaseLost when
// owner no longer holds it.
func (s *Store) RenewSocket(ctx context.Context, callSid, owner string, ttl time.Duration) error {
	if err := checkSid(callSid); err != nil {
		return err
	}
	n, err := renewSocketScript.Run(ctx, s.rdb, []string{s.socketKey(callSid)}, owner, ttl.Milliseconds()).Int64()
	if err != nil {
		return fmt.Errorf("store: renew socket %s: %w", callSid, err)
	}
	if n != 1 {
		return fmt.Errorf("store: renew socket %s: %w", callSid, ErrLeaseLost)
	}
	return nil
}

// ReleaseSocket ends owner's claim; releasing a claim no longer held is not
// an error.
func (s *Store) ReleaseSocket(ctx context.Context, callSid, owner string) error {
	if err := checkSid(callSid); err != nil {
		return err
	}
	if err := releaseSocketScript.Run(ctx, s.rdb, []string{s.socketKey(callSid)}, owner).Err(); err != nil {
		return fmt.Errorf("store: release socket %s: %w", callSid, err)
	}
	return nil
}
