// Package redistest gives tests a real Redis connection with a key prefix of
// their own, so packages and tests can share one server and run in parallel.
//
// The server is REDIS_URL when set (scripts/test starts a throwaway
// redis-server and sets it), else redis://127.0.0.1:6379.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// URL returns the Redis URL tests use.
func URL() string {
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// Client returns a client for the test server and a fresh key prefix
// ("t<random>:"). Every key under the prefix is deleted when the test ends.
// The test fails at once, with the reason, when no server answers.
func Client(tb testing.TB) (redis.UniversalClient, string) {
	tb.Helper()
	opt, err := redis.ParseURL(URL())
	if err != nil {
		tb.Fatalf("redistest: REDIS_URL: %v", err)
	}
	rdb := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		tb.Fatalf("redistest: no Redis at %s (%v); run the tests with scripts/test, which starts one", URL(), err)
	}
	prefix := Prefix()
	tb.Cleanup(func() {
		Flush(rdb, prefix)
		rdb.Close()
	})
	return rdb, prefix
}

// Prefix returns a fresh random key prefix.
func Prefix() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "t" + hex.EncodeToString(b) + ":"
}

// Flush deletes every key that starts with prefix.
func Flush(rdb redis.UniversalClient, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	iter := rdb.Scan(ctx, 0, prefix+"*", 500).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	for len(keys) > 0 {
		n := min(len(keys), 500)
		rdb.Del(ctx, keys[:n]...)
		keys = keys[n:]
	}
}
