package composetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ivr-gateway/ivr/internal/redisconn"
	"github.com/ivr-gateway/ivr/internal/redistest"
)

// TestRedisClusterFormation runs the cluster profile's Redis part for real:
// six redis-servers with deploy/redis-cluster/node.conf's directives, the
// redis-cluster-init service's script with its REDIS_CLUSTER_NODES, then a
// gateway replica's REDIS_URL in cluster mode. Only what Docker provides is
// replaced: each service name becomes 127.0.0.1 and a port of the test's own
// (the nodes announce "localhost"), and the nodes, sharing one directory
// here, get a cluster-config-file each.
func TestRedisClusterFormation(t *testing.T) {
	if testing.Short() {
		t.Skip("starts six redis-servers")
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Skip("no redis-cli (it comes with redis-server; scripts/test installs it)")
	}
	cf := loadCompose(t)
	var conf []string
	for _, d := range nodeConfArgs(t) {
		if d[0] != "--port" { // the test's own port
			conf = append(conf, d...)
		}
	}
	addrs := map[string]string{} // "redis-node-N:6379" -> "127.0.0.1:P"
	for i, name := range clusterNodes(cf) {
		args := append(append([]string{}, conf...),
			"--cluster-config-file", fmt.Sprintf("nodes-%d.conf", i+1),
			"--cluster-announce-hostname", "localhost")
		srv := redistest.StartServer(t, args...)
		addrs[name+":6379"] = srv.Addr
	}
	local := func(s string) string {
		for svc, addr := range addrs {
			s = strings.ReplaceAll(s, svc, addr)
		}
		return s
	}

	initSvc := cf.Services["redis-cluster-init"]
	script := filepath.Join(root, createClusterScript)
	run := func() string {
		t.Helper()
		cmd := exec.Command("sh", script)
		cmd.Env = []string{"PATH=" + filepath.Dir(cli) + ":/usr/bin:/bin", "REDIS_CLUSTER_NODES=" + local(initSvc.Environment["REDIS_CLUSTER_NODES"])}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", createClusterScript, err, out)
		}
		return string(out)
	}
	if out := run(); !strings.Contains(out, "create-cluster: formed") {
		t.Fatalf("%s did not form the cluster:\n%s", createClusterScript, out)
	}
	if out := run(); !strings.Contains(out, "already formed") {
		t.Errorf("%s run again: want it to leave the cluster alone, got\n%s", createClusterScript, out)
	}

	env := map[string]string{}
	for k, v := range cf.Services["gateway-1"].Environment {
		env[k], _, _ = interpolate(v)
	}
	rdb, err := redisconn.Open(local(env["REDIS_URL"]), env["IVR_REDIS_MODE"])
	if err != nil {
		t.Fatalf("gateway-1's REDIS_URL in cluster mode: %v", err)
	}
	defer rdb.Close()
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		t.Fatalf("IVR_REDIS_MODE=%s gave a %T, want a cluster client", env["IVR_REDIS_MODE"], rdb)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// Three primaries with a replica each, every slot served, and clients
	// sent to the announced host names rather than addresses.
	shards, err := cc.ClusterShards(ctx).Result()
	if err != nil {
		t.Fatalf("CLUSTER SHARDS: %v", err)
	}
	if len(shards) != 3 {
		t.Errorf("%d shards, want 3", len(shards))
	}
	for _, sh := range shards {
		roles := map[string]int{}
		for _, n := range sh.Nodes {
			roles[n.Role]++
			if n.Hostname != "localhost" {
				t.Errorf("node %s:%d announces host name %q, want the one given on its command line", n.IP, n.Port, n.Hostname)
			}
		}
		if roles["master"] != 1 || roles["replica"] != 1 {
			t.Errorf("shard %v: roles %v, want one master and one replica", sh.Slots, roles)
		}
	}
	prefix := redistest.Prefix()
	t.Cleanup(func() { redistest.Flush(rdb, prefix) })
	for i := range 30 {
		k := fmt.Sprintf("%s{k%d}", prefix, i) // spread over the three primaries
		if err := cc.Set(ctx, k, "v", time.Minute).Err(); err != nil {
			t.Fatalf("SET %s through the cluster: %v", k, err)
		}
	}
	if err := redisconn.Ready(ctx, rdb, prefix+"readyz"); err != nil {
		t.Errorf("redisconn.Ready on the formed cluster (what /readyz asks): %v", err)
	}
}

// readNodeConf returns the directives of the Redis node configuration,
// with their arguments joined by spaces.
func readNodeConf(tb testing.TB) map[string]string {
	tb.Helper()
	out := map[string]string{}
	for _, d := range nodeConfArgs(tb) {
		out[strings.TrimPrefix(d[0], "--")] = strings.Join(d[1:], " ")
	}
	return out
}

// nodeConfArgs returns the node configuration's directives as redis-server
// command-line arguments (["--port", "6379"], ...); "" is an empty argument.
func nodeConfArgs(tb testing.TB) [][]string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(root, nodeConfFile))
	if err != nil {
		tb.Fatal(err)
	}
	var out [][]string
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		for j, a := range f {
			if a == `""` {
				f[j] = ""
			} else if strings.ContainsAny(a, `"'`) {
				tb.Fatalf("%s:%d: quoting beyond \"\" is not understood here: %s", nodeConfFile, i+1, line)
			}
		}
		out = append(out, append([]string{"--" + f[0]}, f[1:]...))
	}
	return out
}
