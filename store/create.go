package store

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// newKey is where a session is built before createSession moves it into
// place; it exists only inside that transaction, never between commands.
func (s *Store) newKey(sid string) string { return s.prefix + "new:{" + sid + "}" }

// createSession writes a new session (set: its field/value items) only if
// the call has none, and reports whether it did: the compare-and-set of
// saveScript for prevStep 0, in plain commands. A call's first webhook
// always creates, and a script costs Redis several times what these do.
//
// One transaction on the call's slot: the session is written to newKey
// with its TTL, then RENAMENX moves it to callKey unless that exists, and
// whatever is left of newKey is deleted. Nothing else ever sees newKey,
// so no transaction finds one left over.
func (s *Store) createSession(ctx context.Context, sid string, set []any, expireAtMs int64) (int64, error) {
	tmp, key := s.newKey(sid), s.callKey(sid)
	var moved *redis.BoolCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, tmp, set...)
		p.PExpireAt(ctx, tmp, time.UnixMilli(expireAtMs))
		moved = p.RenameNX(ctx, tmp, key)
		p.Del(ctx, tmp)
		return nil
	})
	if err != nil {
		return 0, err
	}
	if moved.Val() {
		return 1, nil
	}
	return 0, nil // the call exists: the caller reads it, as on a lost CAS
}
