package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ivr-gateway/ivr"
)

func (s *Store) eventArgs(callSid string, event ivr.Event, at time.Time) *redis.XAddArgs {
	return &redis.XAddArgs{
		Stream: s.eventsKey(),
		MaxLen: s.maxLen,
		Approx: true, // MAXLEN ~ lets Redis trim whole nodes: cheap
		Values: []string{"call_sid", callSid, "event", string(event), "at", at.UTC().Format(time.RFC3339)},
	}
}

// AppendEvent appends one entry (call_sid, event, at) to the events stream,
// capped at about EventsMaxLen entries. event is verified, failed or ended.
func (s *Store) AppendEvent(ctx context.Context, callSid string, event ivr.Event) error {
	if err := checkSid(callSid); err != nil {
		return err
	}
	if !event.Valid() {
		return fmt.Errorf("%w: unknown event", ErrInvalid)
	}
	if err := s.rdb.XAdd(ctx, s.eventArgs(callSid, event, s.now())).Err(); err != nil {
		return fmt.Errorf("store: append event %s for %s: %w", event, callSid, err)
	}
	return nil
}

// endScript marks the session ended (bumping its step so that a late webhook
// loses its CAS), deletes the answers, and reads and retires the token.
//
// KEYS: call, token. ARGV: grace in ms (0 = delete the token now).
// Returns {changed (1 if the session went to ended now), token hash}.
var endScript = redis.NewScript(`
local changed = 0
local ph = redis.call('HGET', KEYS[1], 'phase')
if ph and ph ~= 'ended' then
  redis.call('HSET', KEYS[1], 'phase', 'ended')
  redis.call('HINCRBY', KEYS[1], 'step', 1)
  redis.call('HDEL', KEYS[1], 'answers')
  changed = 1
end
local tok = redis.call('HGETALL', KEYS[2])
if #tok > 0 then
  local grace = tonumber(ARGV[1])
  if grace > 0 then
    local ttl = redis.call('PTTL', KEYS[2])
    if ttl < 0 or ttl > grace then redis.call('PEXPIRE', KEYS[2], grace) end
  else
    redis.call('DEL', KEYS[2])
  end
end
return {changed, tok}
`)

// EndCall marks the session ended (Phase=ended, answers deleted, step bumped),
// appends the event "ended", and returns the token (if any) so the caller can
// revoke it; the token key is deleted after grace (0 = now; >0: its TTL is
// shortened to grace, never lengthened). Repeated calls (Twilio repeats status
// callbacks) append the event only once; a call with no session appends none.
// tok is nil when there is no unexpired token. If only the event could not be
// appended, the session is ended and tok is returned along with an error
// wrapping ErrEventNotAppended. A call with no session, or one already ended
// (a repeated callback), returns ErrAlreadyEnded, with any token left.
func (s *Store) EndCall(ctx context.Context, callSid string, grace time.Duration) (tok *Token, err error) {
	if err := checkSid(callSid); err != nil {
		return nil, err
	}
	if grace < 0 {
		grace = 0
	}
	s.recent.drop(callSid)
	graceMs := grace.Milliseconds()
	if grace > 0 && graceMs == 0 {
		graceMs = 1
	}
	// One round trip: the script and, pipelined with it, the event. The
	// stream is in another slot than the call, so the XADD cannot depend on
	// the script; when the call was already ended (a repeated callback), the
	// entry is withdrawn again, which costs a second round trip only then.
	now := s.now()
	keys := []string{s.callKey(callSid), s.tokenKey(callSid)}
	var script *redis.Cmd
	var xadd *redis.StringCmd
	for attempt := 0; attempt < 2; attempt++ {
		pipe := s.rdb.Pipeline()
		if attempt == 0 {
			script = endScript.EvalSha(ctx, pipe, keys, graceMs)
		} else {
			script = endScript.Eval(ctx, pipe, keys, graceMs)
		}
		xadd = pipe.XAdd(ctx, s.eventArgs(callSid, ivr.EventEnded, now))
		_, _ = pipe.Exec(ctx) // errors are read per command below
		if err := script.Err(); attempt == 0 && err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			if id, xerr := xadd.Result(); xerr == nil {
				_ = s.rdb.XDel(ctx, s.eventsKey(), id).Err()
			}
			continue
		}
		break
	}
	res, err := script.Slice()
	if err != nil {
		if id, xerr := xadd.Result(); xerr == nil {
			_ = s.rdb.XDel(ctx, s.eventsKey(), id).Err()
		}
		return nil, fmt.Errorf("store: end call %s: %w", callSid, err)
	}
	if len(res) != 2 {
		return nil, fmt.Errorf("store: end call %s: unexpected script reply", callSid)
	}
	changed, _ := res[0].(int64)
	fields, _ := res[1].([]any)
	m := make(map[string]string, len(fields)/2)
	for i := 0; i+1 < len(fields); i += 2 {
		k, _ := fields[i].(string)
		v, _ := fields[i+1].(string)
		m[k] = v
	}
	if len(m) > 0 {
		if t, derr := s.decodeToken(callSid, m, now); derr == nil {
			tok = &t
		}
	}
	if changed != 1 {
		// Best effort: a stray "ended" for a call that had already ended
		// is what at-least-once stream consumers tolerate anyway.
		if id, xerr := xadd.Result(); xerr == nil {
			_ = s.rdb.XDel(ctx, s.eventsKey(), id).Err()
		}
		return tok, ErrAlreadyEnded
	}
	if err := xadd.Err(); err != nil {
		return tok, fmt.Errorf("store: end call %s: %w: %w", callSid, ErrEventNotAppended, err)
	}
	return tok, nil
}

// callerKeyFor names the counter by an HMAC of the number, so the key reveals
// nothing about the number and cannot be reversed by hashing all numbers
// without the session key.
func (s *Store) callerKeyFor(number string) string {
	m := hmac.New(sha256.New, s.callerKey)
	m.Write([]byte(number))
	return s.prefix + "caller:{" + hex.EncodeToString(m.Sum(nil)) + "}"
}

// AllowCaller counts one verification attempt for this caller number and
// reports whether it is within CallerLimit per hour (a fixed window starting at
// the number's first attempt). One round trip. The number is used as given
// (Twilio's From, E.164); withheld numbers share one counter.
func (s *Store) AllowCaller(ctx context.Context, number string) (bool, error) {
	k := s.callerKeyFor(number)
	var n *redis.IntCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		n = p.Incr(ctx, k)
		// The window starts with the first attempt; a counter that lost its
		// TTL gets one again.
		p.ExpireNX(ctx, k, CallerWindow)
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("store: caller limit: %w", err)
	}
	return n.Val() <= s.limit, nil
}
