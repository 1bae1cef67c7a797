package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Phases of a call (contract §5 "state").
const (
	PhaseCollecting = "collecting"
	PhaseVerifying  = "verifying"
	PhaseVerified   = "verified"
	PhaseFailed     = "failed"
	PhaseEnded      = "ended"
)

// Events appended to the events stream (contract §4).
const (
	EventVerified = "verified"
	EventFailed   = "failed"
	EventEnded    = "ended"
)

// Session is one call's state. Dialog is the dialog's own state, opaque bytes
// that hold no personal data. Answers holds the collected answers in plaintext
// in memory only; it is sealed (AES-GCM, random nonce, AAD = the call SID) when
// written and opened when read; nil/empty Answers deletes the field.
type Session struct {
	CallSid    string
	Step       int64     // bumped by the caller on every change; the CAS guard
	Phase      string    // collecting|verifying|verified|failed|ended (contract §5 "state")
	Attempts   int       // verification attempts used in this call
	VerifiedAt time.Time // zero unless verified
	CreatedAt  time.Time
	Dialog     []byte
	Answers    []byte
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
		slog.String("phase", s.Phase),
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

func validPhase(p string) bool {
	switch p {
	case PhaseCollecting, PhaseVerifying, PhaseVerified, PhaseFailed, PhaseEnded:
		return true
	}
	return false
}

func validEvent(e string) bool {
	switch e {
	case EventVerified, EventFailed, EventEnded:
		return true
	}
	return false
}

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
		return Session{}, fmt.Errorf("store: load session %s: %w", callSid, err)
	}
	if len(m) == 0 {
		return Session{}, fmt.Errorf("store: load session %s: %w", callSid, ErrNotFound)
	}
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
	sess := Session{CallSid: callSid, Phase: m[fPhase]}
	var err error
	if sess.Step, err = strconv.ParseInt(m[fStep], 10, 64); err != nil || sess.Step <= 0 {
		return Session{}, errors.New("corrupt session: bad step")
	}
	if !validPhase(sess.Phase) {
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
	return sess, nil
}

// sealVersion prefixes every sealed value so a later key rotation or format
// change can tell old values apart.
const sealVersion = 1

// seal encrypts plain with a random nonce; the call SID is the additional
// data, so a sealed value copied to another call does not open.
func (s *Store) seal(callSid string, plain []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plain)+s.aead.Overhead())
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("store: seal answers: %w", err)
	}
	return s.aead.Seal(out, out[1:], plain, []byte(callSid)), nil
}

func (s *Store) open(callSid string, sealed []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < 1+ns+s.aead.Overhead() || sealed[0] != sealVersion {
		return nil, ErrSealBroken
	}
	plain, err := s.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], []byte(callSid))
	if err != nil {
		return nil, ErrSealBroken // the AEAD error says nothing more useful
	}
	return plain, nil
}

// SaveExtras are written in the same round trip as the session: an event for
// the events stream and the access token (which wakes WaitToken).
type SaveExtras struct {
	Event string // "", or one of EventVerified, EventFailed, EventEnded
	Token *Token
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
  redis.call('PUBLISH', ARGV[6], ARGV[7])
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
	if err := checkSid(sess.CallSid); err != nil {
		return err
	}
	if prevStep < 0 || sess.Step <= prevStep {
		return fmt.Errorf("%w: step %d must be greater than previous step %d", ErrInvalid, sess.Step, prevStep)
	}
	if !validPhase(sess.Phase) {
		return fmt.Errorf("%w: unknown phase", ErrInvalid)
	}
	if sess.Attempts < 0 {
		return fmt.Errorf("%w: negative attempts", ErrInvalid)
	}
	if x.Event != "" && !validEvent(x.Event) {
		return fmt.Errorf("%w: unknown event", ErrInvalid)
	}
	if s.closed.Load() {
		return ErrClosed
	}
	now := s.now()
	if sess.CreatedAt.IsZero() {
		sess.CreatedAt = now
	}
	deadline := sess.CreatedAt.Add(s.ttl)

	args := make([]any, 8, 8+16)
	args[0] = prevStep
	args[1] = deadline.UnixMilli()
	var del []any
	set := []any{
		fStep, sess.Step,
		fPhase, sess.Phase,
		fAttempts, sess.Attempts,
		fCreatedAt, sess.CreatedAt.UTC().Format(time.RFC3339Nano),
	}
	if sess.VerifiedAt.IsZero() {
		del = append(del, fVerifiedAt)
	} else {
		set = append(set, fVerifiedAt, sess.VerifiedAt.UTC().Format(time.RFC3339Nano))
	}
	if len(sess.Dialog) == 0 {
		del = append(del, fDialog)
	} else {
		set = append(set, fDialog, sess.Dialog)
	}
	terminal := sess.Phase == PhaseVerified || sess.Phase == PhaseFailed || sess.Phase == PhaseEnded
	if len(sess.Answers) == 0 || terminal {
		del = append(del, fAnswers)
	} else {
		sealed, err := s.seal(sess.CallSid, sess.Answers)
		if err != nil {
			return err
		}
		set = append(set, fAnswers, sealed)
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
		tok = t.fields()
		args[4] = t.ExpiresAt.UnixMilli()
		args[5] = s.notify.channel
		args[6] = sess.CallSid
		args[7] = len(tok)
	}
	args = append(args, del...)
	args = append(args, set...)
	args = append(args, tok...)
	keys := []string{s.callKey(sess.CallSid), s.tokenKey(sess.CallSid)}

	res, err := s.runSave(ctx, keys, args, x.Event, sess.CallSid, now)
	if err != nil {
		return fmt.Errorf("store: save session %s: %w", sess.CallSid, err)
	}
	switch res {
	case 1:
		return nil
	case -1:
		return fmt.Errorf("store: save session %s: %w", sess.CallSid, ErrNotFound)
	default:
		return fmt.Errorf("store: save session %s at step %d: %w", sess.CallSid, prevStep, ErrConflict)
	}
}

// runSave pipelines the script with the event's XADD. A pipeline cannot make
// the XADD depend on the script (the stream is in another Cluster slot), so
// when the script does not win the entry is removed again with XDEL: an extra
// round trip only on the rare losing path.
func (s *Store) runSave(ctx context.Context, keys []string, args []any, event, callSid string, now time.Time) (int64, error) {
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
				return 0, fmt.Errorf("%w: %w", ErrEventNotAppended, xerr)
			}
		}
		return res, nil
	}
}
