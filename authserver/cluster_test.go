package authserver

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/ivr-gateway/ivr/internal/redistest"
)

// Redis Cluster refuses a transaction, a script or a multi-key command
// whose keys are in more than one hash slot. Two checks keep the server
// within that rule:
//
//   - every test's Redis client carries slotGuard, which fails the test on
//     any such command, whatever Redis it talks to;
//   - TestOnRedisCluster runs every test of the package again against the
//     real cluster of REDIS_CLUSTER_URL (scripts/test starts one).

// testModeVar names the Redis mode newTestAS uses ("" is single);
// TestOnRedisCluster sets it for the run it starts.
const testModeVar = "AUTHSERVER_TEST_REDIS_MODE"

// TestOnRedisCluster runs the package's tests, each against the Redis
// Cluster, in a child process of this test binary.
func TestOnRedisCluster(t *testing.T) {
	if os.Getenv(testModeVar) != "" {
		t.Skip("already the cluster run")
	}
	if testing.Short() {
		t.Skip("runs the package's tests again")
	}
	// Skipped with a loud message (failed under REDISTEST_STRICT) without
	// REDIS_CLUSTER_URL; fails when the cluster does not serve.
	redistest.ClusterClient(t)
	args := []string{"-test.run", "^Test", "-test.skip", "^TestOnRedisCluster$", "-test.count", "1"}
	if testing.Verbose() {
		args = append(args, "-test.v")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), testModeVar+"="+redistest.Cluster)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the package's tests on the Redis Cluster: %v\n%s", err, out)
	}
	t.Logf("the package's tests passed on the Redis Cluster:\n%s", lastLines(string(out), 3))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// testRedis returns the Redis client and key prefix of one test: the mode
// testModeVar names, with slotGuard (except in benchmarks).
func testRedis(tb testing.TB) (redis.UniversalClient, string) {
	tb.Helper()
	mode := os.Getenv(testModeVar)
	if mode == "" {
		mode = redistest.Single
	}
	rdb, prefix := redistest.ModeClient(tb, mode)
	if _, bench := tb.(*testing.B); !bench {
		// Benchmarks measure the server, not the guard; the tests
		// check what they run.
		rdb.AddHook(newSlotGuard(tb, rdb))
	}
	return rdb, prefix
}

// slotGuard is a Redis hook that fails the test when a transaction, a
// script or a multi-key command names keys of more than one hash slot.
type slotGuard struct {
	tb   testing.TB
	once sync.Once
	rdb  redis.UniversalClient
	info map[string]*redis.CommandInfo
}

func newSlotGuard(tb testing.TB, rdb redis.UniversalClient) *slotGuard {
	return &slotGuard{tb: tb, rdb: rdb}
}

// keys returns the keys a command names.
func (g *slotGuard) keys(ctx context.Context, cmd redis.Cmder) []string {
	g.once.Do(func() {
		// COMMAND goes through the hooks too: fetch it with them off.
		info, err := g.rdb.Command(context.WithoutCancel(ctx)).Result()
		if err != nil {
			g.tb.Errorf("slotGuard: COMMAND: %v", err)
		}
		g.info = info
	})
	args := cmd.Args()
	str := func(i int) string {
		if i >= len(args) {
			return ""
		}
		return fmt.Sprint(args[i])
	}
	switch name := cmd.Name(); name {
	case "eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro":
		n, _ := strconv.Atoi(str(2))
		var ks []string
		for i := 3; i < 3+n && i < len(args); i++ {
			ks = append(ks, str(i))
		}
		return ks
	case "multi", "exec", "command":
		return nil
	default:
		ci := g.info[name]
		if ci == nil {
			g.tb.Errorf("slotGuard: unknown command %q", name)
			return nil
		}
		if ci.FirstKeyPos <= 0 {
			return nil
		}
		last := int(ci.LastKeyPos)
		if last < 0 {
			last = len(args) + last
		}
		step := max(int(ci.StepCount), 1)
		var ks []string
		for i := int(ci.FirstKeyPos); i <= last && i < len(args); i += step {
			ks = append(ks, str(i))
		}
		return ks
	}
}

func (g *slotGuard) check(ctx context.Context, what string, cmds []redis.Cmder) {
	slots := map[int]bool{}
	var keys []string
	for _, c := range cmds {
		for _, k := range g.keys(ctx, c) {
			slots[keySlot(k)] = true
			keys = append(keys, k)
		}
	}
	if len(slots) > 1 {
		g.tb.Errorf("%s spans %d hash slots, which Redis Cluster refuses: %q", what, len(slots), keys)
	}
}

func (g *slotGuard) DialHook(next redis.DialHook) redis.DialHook { return next }

func (g *slotGuard) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() != "command" {
			g.check(ctx, strings.ToUpper(cmd.Name()), []redis.Cmder{cmd})
		}
		return next(ctx, cmd)
	}
}

func (g *slotGuard) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && cmds[0].Name() == "multi" {
			g.check(ctx, "a transaction", cmds)
		} else {
			for _, c := range cmds {
				g.check(ctx, strings.ToUpper(c.Name())+" in a pipeline", []redis.Cmder{c})
			}
		}
		return next(ctx, cmds)
	}
}

// keySlot is the Redis Cluster hash slot of a key: CRC16 (XMODEM) of the
// key, or of its hash tag, the part between the first "{" and the next "}"
// when that part is not empty, modulo 16384.
func keySlot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for i := range len(key) {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}

func TestKeySlot(t *testing.T) {
	t.Parallel()
	// Values from the Redis Cluster specification and CLUSTER KEYSLOT.
	for key, want := range map[string]int{
		"123456789":            12739, // the spec's CRC16 check value 0x31C3
		"foo":                  12182,
		"{user1000}.following": keySlot("user1000"),
		"foo{}{bar}":           keySlot("foo{}{bar}"),
		"foo{{bar}}zap":        keySlot("{bar"),
		"foo{bar}{zap}":        keySlot("bar"),
	} {
		if got := keySlot(key); got != want {
			t.Errorf("keySlot(%q) = %d, want %d", key, got, want)
		}
	}
}

// TestSlotGuard: the guard sees what a cluster refuses, and lets through
// what it accepts.
func TestSlotGuard(t *testing.T) {
	t.Parallel()
	rdb, prefix := redistest.Client(t)
	rec := &recordingTB{TB: t}
	rdb.AddHook(newSlotGuard(rec, rdb))
	ctx := context.Background()
	a, b := prefix+"a", prefix+"b"
	tagged := func(k string) string { return prefix + "{tag}" + k }
	for _, tt := range []struct {
		name    string
		run     func()
		refused bool
	}{
		{"DEL of two slots", func() { rdb.Del(ctx, a, b) }, true},
		{"DEL of one tag", func() { rdb.Del(ctx, tagged("a"), tagged("b")) }, false},
		{"transaction of two slots", func() {
			rdb.TxPipelined(ctx, func(p redis.Pipeliner) error { p.Incr(ctx, a); p.Incr(ctx, b); return nil })
		}, true},
		{"transaction of one key", func() {
			rdb.TxPipelined(ctx, func(p redis.Pipeliner) error { p.Incr(ctx, a); p.Expire(ctx, a, 0); return nil })
		}, false},
		{"pipeline of two slots", func() {
			rdb.Pipelined(ctx, func(p redis.Pipeliner) error { p.Incr(ctx, a); p.Incr(ctx, b); return nil })
		}, false},
		{"script of two slots", func() { rdb.Eval(ctx, "return 1", []string{a, b}) }, true},
		{"script of one key", func() { counterScript.Run(ctx, rdb, []string{a}, 0, "(0", 3, modeCheck, "", 0, 1, 1) }, false},
	} {
		rec.errors = 0
		tt.run()
		if got := rec.errors > 0; got != tt.refused {
			t.Errorf("%s: refused = %v, want %v", tt.name, got, tt.refused)
		}
	}
}

// recordingTB counts Errorf calls instead of failing.
type recordingTB struct {
	testing.TB
	errors int
}

func (r *recordingTB) Errorf(string, ...any) { r.errors++ }

// TestScriptCacheLost: a Redis that lost its script cache (restarted, or a
// replica just promoted) answers NOSCRIPT; the counters fall back to EVAL
// and count each failure once. Run on the demo's embedded Redis
// (miniredis), since flushing the shared server's cache would disturb
// other tests.
func TestScriptCacheLost(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	as := newTestAS(t, "", func(c *Config) { c.Redis = rdb })
	_, ch := pkce(t)
	bad := kbaForm(ch, "Maria", "Garcia", "1980-01-05", "9999")
	for i, want := range []float64{2, 1} {
		if err := rdb.ScriptFlush(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
		if a := as.challenge(t, bad); a.status != 400 || a.body["attempts_remaining"] != want {
			t.Errorf("failure %d after SCRIPT FLUSH: %d %s, want %v remaining", i+1, a.status, a.raw, want)
		}
	}
	if a := as.challenge(t, bad); a.status != 400 || a.body["attempts_remaining"] != float64(0) {
		t.Errorf("third failure: %d %s", a.status, a.raw)
	}
	if a := as.challenge(t, mariaForm(ch)); a.status != 429 {
		t.Errorf("locked, on the embedded Redis: %d %s", a.status, a.raw)
	}
}
