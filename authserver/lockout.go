package authserver

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// Brute-force counters (see "Lockouts" in the package doc).
//
// A counter is one Redis sorted set, fail:{mac}: a member per failure scored
// by its time, and while the counter is locked only the member "lock",
// scored by the lock's end. Everything about a counter happens in one script
// on that one key, so it is atomic, needs no cross-slot transaction (Redis
// Cluster) and serialises against concurrent requests: a burst of guesses
// gets no more than identityFailures of them past a counter. Reading a
// counter (modeCheck) is one ZRANGE of that key, equally atomic: a script
// costs Redis several times a plain read, and every claim reads its
// counters (a right answer does nothing else).

// counterScript runs one counter operation.
//
//	KEYS[1] the counter
//	ARGV[1] now (ms)          ARGV[2] window cutoff, "(" + (now - failureWindow) in ms
//	ARGV[3] identityFailures  ARGV[4] mode: "check" reads, "fail" records one failure
//	ARGV[5] failure member    ARGV[6] lock end (ms)
//	ARGV[7] failureWindow ms  ARGV[8] lockDuration ms
//
// It returns -1 while the counter is locked (and changes nothing), else the
// failures left before the lock, after this one in "fail" mode (0: this
// failure locked it). A lock that has ended is dropped with its count.
var counterScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local lock = redis.call('ZSCORE', KEYS[1], 'lock')
if lock then
  if tonumber(lock) > now then return -1 end
  redis.call('DEL', KEYS[1])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local limit = tonumber(ARGV[3])
if ARGV[4] ~= 'fail' then
  return math.max(limit - redis.call('ZCARD', KEYS[1]), 0)
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[5])
local n = redis.call('ZCARD', KEYS[1])
if n >= limit then
  redis.call('DEL', KEYS[1])
  redis.call('ZADD', KEYS[1], ARGV[6], 'lock')
  redis.call('PEXPIRE', KEYS[1], ARGV[8])
  return 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[7])
return limit - n
`)

// Counter modes.
const (
	modeCheck = "check"
	modeFail  = "fail"
)

// locked is what counterScript answers for a locked counter.
const locked = -1

// patientSlots is how many patient counters every claim touches: the
// patients it fits, padded with counters derived from the claim alone, so
// a claim that fits a patient sends Redis what a claim that fits nobody
// does. Two covers a claim that fits twins; a claim that fits three or more
// patients (same date of birth, similar names) touches one more each.
const patientSlots = 2

// counters are the failure counters one claim touches.
type counters struct {
	// keys: the claim's counters first (nClaim of them), then those of
	// the patients the claim fits (nPatient), then the padding.
	keys             [][]byte
	nClaim, nPatient int
}

// countersFor returns the counters of a claim (see "Lockouts" in the
// package doc):
//   - one per part of the claimed family name (the whole name and each part
//     of three letters or more), by its primary Double Metaphone code, with
//     the claimed birthdate: respelling a name, or putting another part in
//     front of it ("X-Garcia", "de Garcia"), still counts against "Garcia".
//     These decide what the caller is told (attempts_remaining, slow_down),
//     and depend on nothing but the claim.
//   - one per patient whose name and birthdate the claim fits, whatever the
//     SSN digits: every guess at a real patient counts against that patient,
//     however it is spelt. These are silent: while the counter of the
//     patient a right answer matches is locked, the answer is refused as a
//     wrong one is, and nobody is told.
func (s *Server) countersFor(a kbaAnswers, claimed []int) counters {
	var c counters
	seen := map[string]bool{}
	add := func(id []byte) {
		if !seen[string(id)] {
			seen[string(id)] = true
			c.keys = append(c.keys, id)
		}
	}
	for _, f := range a.family {
		if len(f.text) < 3 && len(a.family) > 1 {
			continue // particles and initials ("de", "x") identify nobody
		}
		code := f.primary
		if code == "" {
			code = f.text
		}
		add(mac(s.hashKey, macIdentity, code, a.birthdate.reveal()))
	}
	c.nClaim = len(c.keys)
	for _, i := range claimed {
		add(s.patientIdentity(&s.records[i]))
	}
	c.nPatient = len(c.keys) - c.nClaim
	for i := c.nPatient; i < patientSlots; i++ {
		// Nothing reads these (a success does not even clear them): they
		// only make the work equal.
		add(mac(s.hashKey, macIdentity, "unfit", strconv.Itoa(i), a.family[0].text, a.birthdate.reveal()))
	}
	return c
}

// claim returns the claim's counters of a touch's answers (or keys).
func claim[T any](c counters, all []T) []T { return all[:c.nClaim] }

// patients returns the answers (or keys) of the patients' counters,
// without the padding.
func patients[T any](c counters, all []T) []T { return all[c.nClaim : c.nClaim+c.nPatient] }

// patientIdentity is the counter of every guess at one patient.
func (s *Server) patientIdentity(r *record) []byte {
	return mac(s.hashKey, macIdentity, "patient", r.id)
}

// touch runs counterScript in mode on every counter, in one round trip
// (a pipeline, not a transaction: each counter is its own slot), and
// returns the answers in order.
func (s *Server) touch(ctx context.Context, mode string, ids [][]byte) ([]int, error) {
	now := s.now().UnixMilli()
	if mode == modeCheck {
		return s.check(ctx, now, ids)
	}
	args := []any{
		now, "(" + strconv.FormatInt(now-failureWindow.Milliseconds(), 10), identityFailures, mode, "",
		now + lockDuration.Milliseconds(), failureWindow.Milliseconds(), lockDuration.Milliseconds(),
	}
	cmds := make([]*redis.Cmd, len(ids))
	members := make([]string, len(ids))
	for i := range ids {
		if mode == modeFail {
			m, err := s.randToken(8)
			if err != nil {
				return nil, err
			}
			members[i] = m
		}
	}
	// The pipeline's error is its first command's; each is looked at below.
	argsOf := func(i int) []any {
		if mode != modeFail {
			return args // the same for every counter
		}
		a := append([]any(nil), args...)
		a[4] = members[i]
		return a
	}
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = counterScript.EvalSha(ctx, p, []string{s.key("fail", id)}, argsOf(i)...)
		}
		return nil
	})
	out := make([]int, len(ids))
	for i, cmd := range cmds {
		if redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
			// The script cache is empty (a restarted or promoted node):
			// this command did not run, so running it again counts once.
			cmd = counterScript.Run(ctx, s.rdb, []string{s.key("fail", ids[i])}, argsOf(i)...)
		}
		n, cerr := cmd.Int()
		if cerr != nil {
			return nil, fmt.Errorf("authserver: failure counter: %w", cerr)
		}
		out[i] = n
	}
	return out, nil
}

// check reads every counter in one round trip (one ZRANGE each, no
// script) and returns what counterScript answers in check mode: -1 while
// locked, else the failures left in the window. It writes nothing: what
// the script's check mode would tidy (an ended lock, failures out of the
// window) the next failure tidies, and the key's TTL in the end.
func (s *Server) check(ctx context.Context, now int64, ids [][]byte) ([]int, error) {
	cmds := make([]*redis.ZSliceCmd, len(ids))
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.ZRangeWithScores(ctx, s.key("fail", id), 0, -1)
		}
		return nil
	})
	out := make([]int, len(ids))
	for i, cmd := range cmds {
		zs, err := cmd.Result()
		if err != nil {
			return nil, fmt.Errorf("authserver: failure counter: %w", err)
		}
		out[i] = remainingAt(zs, now)
	}
	return out, nil
}

// remainingAt is counterScript's check mode over a counter's members.
func remainingAt(zs []redis.Z, now int64) int {
	cutoff := float64(now - failureWindow.Milliseconds())
	n := 0
	for _, z := range zs {
		if z.Member == "lock" {
			if z.Score > float64(now) {
				return locked
			}
			return identityFailures // an ended lock: the script drops it with its count
		}
		if z.Score >= cutoff {
			n++
		}
	}
	return max(identityFailures-n, 0)
}

// patientLocked reports whether a touch's answers say the patient counter id is
// locked.
func (c counters) patientLocked(answers []int, id []byte) bool {
	for i, k := range patients(c, c.keys) {
		if string(k) == string(id) {
			return patients(c, answers)[i] == locked
		}
	}
	return false
}

// anyLocked reports whether any answer of touch is "locked".
func anyLocked(ns []int) bool {
	for _, n := range ns {
		if n == locked {
			return true
		}
	}
	return false
}

// leastRemaining is the attempts_remaining of a refused claim: the fewest
// failures left on the claim's own counters (a locked one leaves none).
func leastRemaining(ns []int) int {
	r := identityFailures
	for _, n := range ns {
		r = min(r, max(n, 0))
	}
	return r
}
