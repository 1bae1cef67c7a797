// Package redistest gives tests a real Redis connection with a key prefix of
// their own, so packages and tests can share one deployment and run in
// parallel, in each of the gateway's Redis modes:
//
//   - single: REDIS_URL (scripts/test starts a throwaway redis-server and
//     sets it), else redis://127.0.0.1:6379;
//   - cluster: REDIS_CLUSTER_URL, a Redis Cluster's seed nodes
//     (redis://H:P1?addr=H:P2&...);
//   - sentinel: REDIS_SENTINEL_URL, sentinels and a master name
//     (redis://H:S1?addr=H:S2&master_name=NAME).
//
// scripts/test starts all three. Run elsewhere, a test of a mode whose
// variable is unset is skipped with a loud message; with REDISTEST_STRICT=1
// (scripts/test sets it) it fails instead, so CI never passes by skipping.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ivr-gateway/ivr/internal/redisconn"
)

// The modes, as IVR_REDIS_MODE names them.
const (
	Single   = redisconn.ModeSingle
	Cluster  = redisconn.ModeCluster
	Sentinel = redisconn.ModeSentinel
)

// Modes lists every mode, in the order EachMode runs them.
var Modes = []string{Single, Cluster, Sentinel}

// URL returns the Redis URL tests use in single mode.
func URL() string {
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// ClusterURL and SentinelURL return the URLs of the other modes, "" when
// unset.
func ClusterURL() string  { return os.Getenv("REDIS_CLUSTER_URL") }
func SentinelURL() string { return os.Getenv("REDIS_SENTINEL_URL") }

// ModeURL returns the URL of mode ("" when the mode is not available).
func ModeURL(mode string) string {
	switch mode {
	case Single:
		return URL()
	case Cluster:
		return ClusterURL()
	case Sentinel:
		return SentinelURL()
	}
	return ""
}

var modeVar = map[string]string{Cluster: "REDIS_CLUSTER_URL", Sentinel: "REDIS_SENTINEL_URL"}

// Client returns a single-mode client and a fresh key prefix ("t<random>:").
// Every key under the prefix is deleted when the test ends. The test fails
// at once, with the reason, when no server answers.
func Client(tb testing.TB) (redis.UniversalClient, string) {
	tb.Helper()
	return ModeClient(tb, Single)
}

// ClusterClient is Client on the Redis Cluster (cleanup scans every
// primary). Without REDIS_CLUSTER_URL the test is skipped (failed under
// REDISTEST_STRICT).
func ClusterClient(tb testing.TB) (redis.UniversalClient, string) {
	tb.Helper()
	return ModeClient(tb, Cluster)
}

// SentinelClient is Client on the Sentinel-managed primary. Without
// REDIS_SENTINEL_URL the test is skipped (failed under REDISTEST_STRICT).
func SentinelClient(tb testing.TB) (redis.UniversalClient, string) {
	tb.Helper()
	return ModeClient(tb, Sentinel)
}

// ModeClient returns a client of mode, built as the gateway builds it
// (redisconn.Open), and a fresh key prefix whose keys are deleted when the
// test ends.
func ModeClient(tb testing.TB, mode string) (redis.UniversalClient, string) {
	tb.Helper()
	rdb := Open(tb, mode, nil)
	prefix := Prefix()
	tb.Cleanup(func() { Flush(rdb, prefix) })
	return rdb, prefix
}

// Open returns a client of mode, adjusted by edit when it is not nil (a
// *redis.Options, *redis.ClusterOptions or *redis.FailoverOptions field
// such as ClientName cannot be set through the URL for every mode, so edit
// gets the client's URL and returns the one to open). It is closed when the
// test ends. An unavailable mode skips the test, or fails it under
// REDISTEST_STRICT; a deployment that does not answer fails it.
func Open(tb testing.TB, mode string, edit func(url string) string) redis.UniversalClient {
	tb.Helper()
	u := ModeURL(mode)
	if u == "" {
		msg := "redistest: " + modeVar[mode] + " is not set: SKIPPING the " + mode +
			"-mode run of this test (scripts/test starts a " + mode + " deployment and sets it)"
		if os.Getenv("REDISTEST_STRICT") != "" {
			tb.Fatal(msg + "; REDISTEST_STRICT is set, so this is a failure")
		}
		tb.Skip(msg)
	}
	if edit != nil {
		u = edit(u)
	}
	rdb, err := redisconn.Open(u, mode)
	if err != nil {
		tb.Fatalf("redistest: %s URL: %v", mode, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := redisconn.Ready(ctx, rdb, "redistest"); err != nil {
		rdb.Close()
		tb.Fatalf("redistest: the %s deployment does not serve (%v); run the tests with scripts/test, which starts one", mode, err)
	}
	tb.Cleanup(func() { rdb.Close() })
	return rdb
}

// Another returns a second, independent client of rdb's deployment (as
// another gateway instance would have), closed when the test ends.
func Another(tb testing.TB, rdb redis.UniversalClient) redis.UniversalClient {
	tb.Helper()
	return Open(tb, redisconn.ModeOf(rdb), nil)
}

// EachMode runs f as a parallel subtest per mode ("single", "cluster",
// "sentinel"), each with its own client and key prefix. Modes whose variable
// is unset are skipped loudly (failed under REDISTEST_STRICT).
func EachMode(t *testing.T, f func(t *testing.T, rdb redis.UniversalClient, prefix string)) {
	t.Helper()
	ForModes(t, Modes, f)
}

// ForModes is EachMode for some of the modes.
func ForModes(t *testing.T, modes []string, f func(t *testing.T, rdb redis.UniversalClient, prefix string)) {
	t.Helper()
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			rdb, prefix := ModeClient(t, mode)
			f(t, rdb, prefix)
		})
	}
}

// Prefix returns a fresh random key prefix.
func Prefix() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "t" + hex.EncodeToString(b) + ":"
}

// Keys returns every key matching pattern, on every primary of a cluster.
func Keys(ctx context.Context, rdb redis.UniversalClient, pattern string) ([]string, error) {
	var (
		mu   sync.Mutex
		keys []string
	)
	err := eachPrimary(ctx, rdb, func(ctx context.Context, c redis.UniversalClient) error {
		iter := c.Scan(ctx, 0, pattern, 500).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			keys = append(keys, iter.Val())
			mu.Unlock()
		}
		return iter.Err()
	})
	return keys, err
}

// Flush deletes every key that starts with prefix (on every primary of a
// cluster).
func Flush(rdb redis.UniversalClient, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = eachPrimary(ctx, rdb, func(ctx context.Context, c redis.UniversalClient) error {
		iter := c.Scan(ctx, 0, prefix+"*", 500).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		// One DEL per key: a multi-key DEL across slots is refused by a
		// cluster node even when it owns every slot.
		pipe := c.Pipeline()
		for i, k := range keys {
			pipe.Del(ctx, k)
			if i%500 == 499 {
				pipe.Exec(ctx)
			}
		}
		_, err := pipe.Exec(ctx)
		return err
	})
}

func eachPrimary(ctx context.Context, rdb redis.UniversalClient, f func(context.Context, redis.UniversalClient) error) error {
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return f(ctx, c) })
	}
	return f(ctx, rdb)
}

// MustKeys is Keys that fails the test on error.
func MustKeys(tb testing.TB, rdb redis.UniversalClient, pattern string) []string {
	tb.Helper()
	keys, err := Keys(context.Background(), rdb, pattern)
	if err != nil {
		tb.Fatalf("redistest: keys %q: %v", pattern, err)
	}
	return keys
}

// WithClientName returns a copy of a go-redis URL with client_name set, so
// a test can find its own connections in CLIENT LIST.
func WithClientName(u, name string) string {
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + "client_name=" + name
}
