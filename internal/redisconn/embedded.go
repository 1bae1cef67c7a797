package redisconn

import (
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// expiryTick is how often the embedded Redis's TTLs are moved on by the
// time that passed: a key expires at most this late.
const expiryTick = time.Second

// Embedded starts the in-process Redis that `ivr serve`, `ivr authserver`
// and `ivr demo` use when no REDIS_URL is given, and a client on it; close
// the client, then the server.
//
// miniredis is made for tests: its keys never expire on their own.
// Several TTLs here are promises, not housekeeping: the caller counter's
// hourly window (IVR_CALLER_LIMIT) ends only by expiry, and so do a call's
// session (2 hours) and its token; without expiry the limit held for the
// life of the process and nothing was ever freed. So a goroutine moves
// every TTL on by the wall-clock time that passed, once per expiryTick,
// until the server is closed. (miniredis's own ClockTTL does the same on
// every command, sorting every key each time: with the keys of a few
// thousand calls, the reference AS under measure.sh fell to a fifth of its
// throughput.)
func Embedded() (*miniredis.Miniredis, *redis.Client, error) {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		return nil, nil, fmt.Errorf("embedded redis: %w", err)
	}
	go followClock(mr, expiryTick)
	return mr, redis.NewClient(&redis.Options{Addr: mr.Addr()}), nil
}

// followClock fast-forwards mr's TTLs by the time elapsed, every tick,
// until mr is closed.
func followClock(mr *miniredis.Miniredis, tick time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-mr.Ctx.Done():
			return
		case now := <-t.C:
			mr.FastForward(now.Sub(last))
			last = now
		}
	}
}
