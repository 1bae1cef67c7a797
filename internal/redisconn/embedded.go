package redisconn

import (
	"fmt"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Embedded starts the in-process Redis that `ivr serve`, `ivr authserver`
// and `ivr demo` use when no REDIS_URL is given, and a client on it; close
// the client, then the server.
//
// miniredis is made for tests: unless told to follow the clock, its keys
// never expire. Several TTLs here are promises, not housekeeping: the
// caller counter's hourly window (IVR_CALLER_LIMIT) ends only by expiry,
// and so do a call's session (2 hours) and its token, so without this the
// limit held for the life of the process and nothing was ever freed. Expiry
// follows the wall clock here, as on a real Redis.
func Embedded() (*miniredis.Miniredis, *redis.Client, error) {
	mr := miniredis.NewMiniRedis()
	mr.ClockTTL(true)
	if err := mr.Start(); err != nil {
		return nil, nil, fmt.Errorf("embedded redis: %w", err)
	}
	return mr, redis.NewClient(&redis.Options{Addr: mr.Addr()}), nil
}
