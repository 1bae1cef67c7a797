package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ivr-gateway/ivr"
)

// Session is one call's state. Dialog is the dialog's own state, opaque bytes
// that hold no personal data. Answers holds the collected answers in plaintext
// in memory only; it is sealed (AES-GCM, random nonce, AAD = the call SID) when
// written and opened when read; nil/empty Answers deletes the field.
type Session struct {
	CallSid    string
	Step       int64 // bumped by the caller on every change; the CAS guard
	Phase      ivr.Phase
	Attempts   int       // verification attempts used in this call
	VerifiedAt time.Time // zero unless verified
	CreatedAt  time.Time
	Dialog     []byte
	Answers    []byte
	// Lease is the running verification's owner (see Lease); Save leaves
	// it as stored unless SaveExtras.Lease says otherwise.
	Lease Lease
}

// String describes the session without its answers.
func (s Session) String() string {
	return fmt.Sprintf("store.Session{CallSid:%s Step:%d Phase:%s Attempts:%d Answers:[redacted %d bytes]}",
		s.CallSid, s.Step, s.Phase, s.Attempts, len(s.Answers))
}

// GoString keeps %#v from printing the answers.
func (s Session) GoString() string { return s.String() }

// LogValue logs the session without its answers or dialog bytes.
func (s Session) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("call_sid", s.CallSid),
		slog.Int64("step", s.Step),
		slog.String("phase", string(s.Phase)),
		slog.Int("attempts", s.Attempts),
		slog.Bool("has_answers", len(s.Answers) > 0),
	)
}

// Hash fields of P call:{CallSid}.
const (
	fStep       = "step"
	fPhase      = "phase"
	fAttempts   = "attempts"
	fVerifiedAt = "verified_at"
	fCreatedAt  = "created_at"
	fDialog     = "dialog"
	fAnswers    = "answers"
)

// Load reads the call's session in one round trip (HGETALL) and opens its
// answers. It returns ErrNotFound when there is no session. When the answers
// cannot be opened it returns the session without them together with an error
// wrapping ErrSealBroken, so the caller can ask again instead of failing the call.
func (s *Store) Load(ctx context.Context, callSid string) (Session, error) {
	if err := checkSid(callSid); err != nil {
		return Session{}, err
	}
	m, err := s.rdb.HGetAll(ctx, s.callKey(callSid)).Result()
	if err != nil {
		s.recent.drop(callSid)
		return Session{}, fmt.Errorf("store: load session %s: %w", callSid, err)
	}
	if len(m) == 0 {
		s.recent.drop(callSid)
		return Session{}, fmt.Errorf("store: load session %s: %w", callSid, ErrNotFound)
	}
	sess, err := s.decode(callSid, m)
	if err == nil {
		s.recent.put(callSid, &cached{step: sess.Step, fields: m, answersSum: answersSum(sess.Answers)})
	}
	return sess, err
}

// LoadAt is Load for a request that was issued for step: when this
// instance last saw the call at that step (it served the call's previous
// step), the session comes from memory and no round trip is made; the
// compare-and-set of the next Save tells whether anything changed in
// between. Otherwise it is Load.
func (s *Store) LoadAt(ctx context.Context, callSid string, step int64) (Session, error) {
	if err := checkSid(callSid); err != nil {
		return Session{}, err
	}
	if c := s.recent.get(callSid, step); c != nil {
		return s.decode(callSid, c.fields)
	}
	return s.Load(ctx, callSid)
}

// decode turns a session hash into a Session with its answers opened; see
// Load for the errors.
func (s *Store) decode(callSid string, m map[string]string) (Session, error) {
	sess, err := decodeSession(callSid, m)
	if err != nil {
		return Session{}, fmt.Errorf("store: load session %s: %w", callSid, err)
	}
	if sealed := m[fAnswers]; sealed != "" {
		plain, err := s.open(callSid, []byte(sealed))
		if err != nil {
			return sess, fmt.Errorf("store: load session %s: %w", callSid, err)
		}
		sess.Answers = plain
	}
	return sess, nil
}

// decodeSession parses a session hash; answers are left to the caller.
func decodeSession(callSid string, m map[string]string) (Session, error) {
	sess := Session{CallSid: callSid, Phase: ivr.Phase(m[fPhase])}
	var err error
	if sess.Step, err = strconv.ParseInt(m[fStep], 10, 64); err != nil || sess.Step <= 0 {
		return Session{}, errors.New("corrupt session: bad step")
	}
	if !sess.Phase.Valid() {
		return Session{}, errors.New("corrupt session: bad phase")
	}
	if v := m[fAttempts]; v != "" {
		if sess.Attempts, err = strconv.Atoi(v); err != nil || sess.Attempts < 0 {
			return Session{}, errors.New("corrupt session: bad attempts")
		}
	}
	if v := m[fVerifiedAt]; v != "" {
		if sess.VerifiedAt, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return Session{}, errors.New("corrupt session: bad verified_at")
		}
	}
	if v := m[fCreatedAt]; v != "" {
		if sess.CreatedAt, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return Session{}, errors.New("corrupt session: bad created_at")
		}
	}
	if v := m[fDialog]; v != "" {
		sess.Dialog = []byte(v)
	}
	if sess.Lease, err = decodeLease(m[fLease]); err != nil {
		return Session{}, err
	}
	return sess, nil
}

// seal and open (the answers) are in seal.go, with key rotation.

// SaveExtras are written in the same round trip as the session: an event for
// the events stream and the access token (which wakes WaitToken).
type SaveExtras struct {
	Event ivr.Event // "", or an event of the events stream
	Token *Token
	// Lease, when set, replaces the stored lease (a zero Lease deletes
	// it); nil leaves it as it is, so a caller's poll never shortens a
	// lease its owner renewed meanwhile.
	Lease *Lease
}

// saveScript is a compare-and-set on the session's step. The token key shares
// the call's hash tag, so writing it here makes it conditional on winning.
//
// KEYS: call, token. ARGV: prevStep, callExpireAtMs, nDel, nSet,
// tokenExpireAtMs ("" = no token), channel, callSid, nTok, then the nDel
// fields to delete, the nSet field/value items, the nTok token items.
// Returns 1 on success, 0 on a step mismatch, -1 when the session is gone.
var saveScript = redis.NewScript(saveSrc)

const saveSrc = `
local cur = redis.call('HGET', KEYS[1], 'step')
if ARGV[1] == '0' then
  if cur then return 0 end
elseif not cur then
  return -1
elseif cur ~= ARGV[1] then
  return 0
end
local i = 9
local nDel = tonumber(ARGV[3])
if nDel > 0 then redis.call('HDEL', KEYS[1], unpack(ARGV, i, i + nDel - 1)) end
i = i + nDel
local nSet = tonumber(ARGV[4])
redis.call('HSET', KEYS[1], unpack(ARGV, i, i + nSet - 1))
i = i + nSet
if ARGV[1] == '0' then redis.call('PEXPIREAT', KEYS[1], ARGV[2]) end
if ARGV[5] ~= '' then
  local nTok = tonumber(ARGV[8])
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[2], unpack(ARGV, i, i + nTok - 1))
  redis.call('PEXPIREAT', KEYS[2], ARGV[5])
  -- A hash-tagged channel (P notify:{CallSid}, cluster mode) is a shard
  -- channel in this script's slot; the classic one (P notify) has no braces.
  if string.find(ARGV[6], '{', 1, true) then
    redis.call('SPUBLISH', ARGV[6], ARGV[7])
  else
    redis.call('PUBLISH', ARGV[6], ARGV[7])
  end
end
return 1
`

// Save writes sess if the stored step is still prevStep (0 = must not exist
// yet), else it returns ErrConflict (or ErrNotFound when prevStep > 0 and the
// session has gone). sess.Step must be greater than prevStep.
//
// One round trip: the CAS script (EVALSHA; EVAL after a script-cache flush)
// and, in the same pipeline, the XADD of x.Event. x.Token is written inside
// the script, so it is only stored when the CAS wins. The session's TTL is set
// at creation to CreatedAt+SessionTTL and kept by later saves.
//
// If the session was saved but the event's XADD failed, the error wraps
// ErrEventNotAppended: the new step stands, only the event is missing.
//
// Answers are sealed before they leave the process; nil answers, or a phase of
// verified, failed or ended, delete them.
func (s *Store) Save(ctx context.Context, sess Session, prevStep int64, x SaveExtras) error {
	_, err := s.saveSession(ctx, sess, prevStep, x, "")
	return err
}

// SaveCountingCaller is Save that also counts one verification attempt for
// callerRef (AllowCaller's counter), in the same round trip: the save that
// starts a verification. allowed reports whether the attempt is within the
// hourly limit. An attempt counted for a save that lost its
// compare-and-set (a repeated webhook) is withdrawn.
func (s *Store) SaveCountingCaller(ctx context.Context, sess Session, prevStep int64, x SaveExtras, callerRef string) (allowed bool, err error) {
	return s.saveSession(ctx, sess, prevStep, x, callerRef)
}

func (s *Store) saveSession(ctx context.Context, sess Session, prevStep int64, x SaveExtras, callerRef string) (allowed bool, err error) {
	defer func() {
		if err != nil {
			allowed = false
		}
	}()
	if err := checkSid(sess.CallSid); err != nil {
		return false, err
	}
	if prevStep < 0 || sess.Step <= prevStep {
		return false, fmt.Errorf("%w: step %d must be greater than previous step %d", ErrInvalid, sess.Step, prevStep)
	}
	if !sess.Phase.Valid() {
		return false, fmt.Errorf("%w: unknown phase", ErrInvalid)
	}
	if sess.Attempts < 0 {
		return false, fmt.Errorf("%w: negative attempts", ErrInvalid)
	}
	if x.Event != "" && !x.Event.Valid() {
		return false, fmt.Errorf("%w: unknown event", ErrInvalid)
	}
	if s.closed.Load() {
		return false, ErrClosed
	}
	now := s.now()
	if sess.CreatedAt.IsZero() {
		sess.CreatedAt = now
	}
	deadline := sess.CreatedAt.Add(s.ttl)

	// What the hash holds now, when this instance knows it (it read or
	// wrote the call at prevStep): then only what differs is written.
	var before map[string]string
	var beforeSum [32]byte
	if c := s.recent.get(sess.CallSid, prevStep); c != nil {
		before, beforeSum = c.fields, c.answersSum
	}
	after := make(map[string]string, len(before)+4)
	for k, v := range before {
		after[k] = v
	}
	args := make([]any, 8, 8+24)
	args[0] = prevStep
	args[1] = deadline.UnixMilli()
	// Sized for the most a save writes, so appending never grows them.
	set := make([]any, 0, 16)
	del := make([]any, 0, 4)
	put := func(field, value string) {
		if old, ok := before[field]; ok && old == value {
			return
		}
		set = append(set, field, value)
		after[field] = value
	}
	remove := func(field string) {
		if _, ok := before[field]; before != nil && !ok {
			return
		}
		del = append(del, field)
		delete(after, field)
	}
	put(fStep, strconv.FormatInt(sess.Step, 10))
	put(fPhase, string(sess.Phase))
	put(fAttempts, strconv.Itoa(sess.Attempts))
	if _, known := before[fCreatedAt]; !known {
		// Written once, at creation (or when the hash is not known here).
		put(fCreatedAt, sess.CreatedAt.UTC().Format(time.RFC3339Nano))
	}
	if sess.VerifiedAt.IsZero() {
		remove(fVerifiedAt)
	} else {
		put(fVerifiedAt, sess.VerifiedAt.UTC().Format(time.RFC3339Nano))
	}
	if len(sess.Dialog) == 0 {
		remove(fDialog)
	} else {
		put(fDialog, string(sess.Dialog))
	}
	if x.Lease != nil {
		if x.Lease.IsZero() {
			remove(fLease)
		} else {
			put(fLease, x.Lease.encode())
		}
	}
	terminal := sess.Phase.Final()
	sum := answersSum(sess.Answers)
	switch {
	case len(sess.Answers) == 0 || terminal:
		remove(fAnswers)
		sum = [32]byte{}
	case before != nil && sum == beforeSum:
		// Unchanged: the sealed value stays as it is, not sealed again.
	default:
		sealed, err := s.seal(sess.CallSid, sess.Answers)
		if err != nil {
			return false, err
		}
		set = append(set, fAnswers, sealed)
		after[fAnswers] = string(sealed)
	}
	args[2] = len(del)
	args[3] = len(set)
	args[4], args[5], args[6], args[7] = "", "", "", 0
	var tok []any
	if x.Token != nil {
		t := *x.Token
		if t.ExpiresAt.IsZero() {
			// No expires_in from the AS: the token lives no longer than the call.
			t.ExpiresAt = deadline
		}
		var err error
		if tok, err = s.tokenFields(sess.CallSid, t); err != nil {
			return false, err
		}
		args[4] = t.ExpiresAt.UnixMilli()
		args[5] = s.notify.channel(sess.CallSid)
		args[6] = sess.CallSid
		args[7] = len(tok)
	}
	args = append(args, del...)
	args = append(args, set...)
	args = append(args, tok...)
	keys := []string{s.callKey(sess.CallSid), s.tokenKey(sess.CallSid)}

	var callerKey string
	if callerRef != "" {
		callerKey = s.callerKeyFor(callerRef)
	}
	var res, n int64
	if prevStep == 0 && x.Event == "" && x.Token == nil && callerKey == "" {
		res, err = s.createSession(ctx, sess.CallSid, set, deadline.UnixMilli())
	} else {
		res, n, err = s.runSave(ctx, keys, args, x.Event, sess.CallSid, now, callerKey)
	}
	allowed = n != 0 && n <= s.limit // -1: saved, not counted (runSaveCounting)
	if err != nil && !errors.Is(err, ErrEventNotAppended) {
		s.recent.drop(sess.CallSid)
		return false, fmt.Errorf("store: save session %s: %w", sess.CallSid, err)
	}
	switch res {
	case 1:
		s.recent.put(sess.CallSid, &cached{step: sess.Step, fields: after, answersSum: sum})
		if err != nil {
			return false, fmt.Errorf("store: save session %s: %w", sess.CallSid, err)
		}
		return allowed, nil
	case -1:
		s.recent.drop(sess.CallSid)
		return false, fmt.Errorf("store: save session %s: %w", sess.CallSid, ErrNotFound)
	default:
		s.recent.drop(sess.CallSid)
		return false, fmt.Errorf("store: save session %s at step %d: %w", sess.CallSid, prevStep, ErrConflict)
	}
}

// runSave pipelines the script with the event's XADD. A pipeline cannot make
// the XADD depend on the script (the stream is in another Cluster slot), so
// when the script does not win the entry is removed again with XDEL: an extra
// round trip only on the rare losing path.
func (s *Store) runSave(ctx context.Context, keys []string, args []any, event ivr.Event, callSid string, now time.Time, callerKey string) (res, count int64, err error) {
	if callerKey != "" {
		return s.runSaveCounting(ctx, keys, args, event, callSid, now, callerKey)
	}
	res, err = s.runSaveEvent(ctx, keys, args, event, callSid, now)
	return res, 0, err
}

// runSaveCounting pipelines the save (with its event) and the caller's
// counter (INCR, and the window's TTL when the counter has none), then
// withdraws the count if the save lost.
func (s *Store) runSaveCounting(ctx context.Context, keys []string, args []any, event ivr.Event, callSid string, now time.Time, callerKey string) (res, count int64, err error) {
	for attempt := 0; ; attempt++ {
		pipe := s.rdb.Pipeline()
		var script *redis.Cmd
		if attempt == 0 {
			script = s.save.EvalSha(ctx, pipe, keys, args...)
		} else {
			script = s.save.Eval(ctx, pipe, keys, args...)
		}
		var xadd *redis.StringCmd
		if event != "" {
			xadd = pipe.XAdd(ctx, s.eventArgs(callSid, event, now))
		}
		incr := pipe.Incr(ctx, callerKey)
		pipe.ExpireNX(ctx, callerKey, CallerWindow) // only a counter with no TTL (new, or one that lost it) gets the window
		_, _ = pipe.Exec(ctx)
		res, err = script.Int64()
		won := err == nil && res == 1
		if !won {
			undo := []func(){}
			if xadd != nil {
				if id, xerr := xadd.Result(); xerr == nil {
					undo = append(undo, func() { _ = s.rdb.XDel(ctx, s.eventsKey(), id).Err() })
				}
			}
			if incr.Err() == nil {
				undo = append(undo, func() { _ = s.rdb.Decr(ctx, callerKey).Err() })
			}
			for _, f := range undo {
				f() // best effort: rare (a lost race, a flushed script cache)
			}
		}
		if err != nil && attempt == 0 && redis.HasErrorPrefix(err, "NOSCRIPT") {
			continue
		}
		if err != nil {
			return 0, 0, err
		}
		if won {
			count = incr.Val()
			if incr.Err() != nil {
				// Saved, but the counter did not answer (on a cluster it
				// lives on another node): the attempt goes on uncounted
				// rather than the caller hearing an apology for it; the
				// AS's own lockouts and the per-call limit still hold.
				count = -1
			}
			if xadd != nil {
				if xerr := xadd.Err(); xerr != nil {
					return res, count, fmt.Errorf("%w: %w", ErrEventNotAppended, xerr)
				}
			}
		}
		return res, count, nil
	}
}

func (s *Store) runSaveEvent(ctx context.Context, keys []string, args []any, event ivr.Event, callSid string, now time.Time) (int64, error) {
	if event == "" {
		// Nothing to pipeline: the script alone, one round trip (EVAL
		// after a script-cache flush).
		res, err := s.save.EvalSha(ctx, s.rdb, keys, args...).Int64()
		if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			res, err = s.save.Eval(ctx, s.rdb, keys, args...).Int64()
		}
		return res, err
	}
	var phantom string // an XADD whose save did not happen
	for attempt := 0; ; attempt++ {
		pipe := s.rdb.Pipeline()
		if phantom != "" {
			pipe.XDel(ctx, s.eventsKey(), phantom)
			phantom = ""
		}
		var script *redis.Cmd
		if attempt == 0 {
			script = s.save.EvalSha(ctx, pipe, keys, args...)
		} else {
			script = s.save.Eval(ctx, pipe, keys, args...)
		}
		var xadd *redis.StringCmd
		if event != "" {
			xadd = pipe.XAdd(ctx, s.eventArgs(callSid, event, now))
		}
		_, _ = pipe.Exec(ctx) // errors are read per command below
		res, err := script.Int64()
		won := err == nil && res == 1
		if xadd != nil && !won {
			if id, xerr := xadd.Result(); xerr == nil {
				phantom = id
			}
		}
		if err != nil && attempt == 0 && redis.HasErrorPrefix(err, "NOSCRIPT") {
			continue
		}
		if phantom != "" {
			// Best effort; a failure here leaves one stray event, which
			// stream consumers must tolerate anyway (at-least-once).
			_ = s.rdb.XDel(ctx, s.eventsKey(), phantom).Err()
		}
		if err != nil {
			return 0, err
		}
		if xadd != nil && won {
			if xerr := xadd.Err(); xerr != nil {
				return res, fmt.Errorf("%w: %w", ErrEventNotAppended, xerr)
			}
		}
		return res, nil
	}
}
