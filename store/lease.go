package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrLeaseLost: RenewLease found the lease held by someone else (a takeover)
// or gone (the verification ended, or the session expired).
var ErrLeaseLost = errors.New("store: verification lease lost")

// Lease says which gateway instance runs a call's verification, and until
// when it may be presumed alive. An instance that dies stops renewing; once
// Until has passed, any instance may take the verification over. Owner is
// an opaque token of the running verification (no personal data).
type Lease struct {
	Owner string
	Until time.Time
}

// IsZero reports whether there is no lease.
func (l Lease) IsZero() bool { return l.Owner == "" }

// Expired reports whether the lease no longer protects its owner at now.
func (l Lease) Expired(now time.Time) bool { return l.IsZero() || !now.Before(l.Until) }

// fLease is the session hash field holding "owner|until-unix-ms".
const fLease = "lease"

func (l Lease) encode() string {
	return l.Owner + "|" + strconv.FormatInt(l.Until.UnixMilli(), 10)
}

func decodeLease(v string) (Lease, error) {
	if v == "" {
		return Lease{}, nil
	}
	owner, ms, ok := strings.Cut(v, "|")
	n, err := strconv.ParseInt(ms, 10, 64)
	if !ok || owner == "" || err != nil {
		return Lease{}, errors.New("corrupt session: bad lease")
	}
	return Lease{Owner: owner, Until: time.UnixMilli(n)}, nil
}

// renewScript extends the lease if its owner still holds it.
// KEYS: call. ARGV: owner, new encoded lease. Returns 1, or 0 when lost.
var renewScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'lease')
if not cur then return 0 end
local sep = string.find(cur, '|', 1, true)
if not sep or string.sub(cur, 1, sep - 1) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'lease', ARGV[2])
return 1
`)

// RenewLease moves the lease's end to until if owner still holds it; it
// returns ErrLeaseLost otherwise. It does not change the session's step:
// renewing is not a dialog event, and must not make a caller's webhook lose
// its compare-and-set.
func (s *Store) RenewLease(ctx context.Context, callSid, owner string, until time.Time) error {
	if err := checkSid(callSid); err != nil {
		return err
	}
	if owner == "" || strings.Contains(owner, "|") {
		return fmt.Errorf("%w: lease owner", ErrInvalid)
	}
	enc := Lease{owner, until}.encode()
	n, err := renewScript.Run(ctx, s.rdb, []string{s.callKey(callSid)}, owner, enc).Int64()
	if err != nil {
		s.recent.drop(callSid)
		return fmt.Errorf("store: renew lease %s: %w", callSid, err)
	}
	if n != 1 {
		s.recent.drop(callSid)
		return fmt.Errorf("store: renew lease %s: %w", callSid, ErrLeaseLost)
	}
	s.recent.setField(callSid, fLease, enc)
	return nil
}
