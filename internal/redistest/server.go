package redistest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a redis-server process of a test's own.
type Server struct {
	Addr   string // 127.0.0.1:port
	cmd    *exec.Cmd
	exited chan struct{}
}

// Kill stops the server with SIGKILL (no shutdown, no save), as a crash
// would, and waits for it to exit.
func (s *Server) Kill() {
	s.cmd.Process.Kill()
	<-s.exited
}

// StartServer starts a throwaway redis-server of the test's own, on a free
// loopback port in a temporary directory, with args added to its command
// line (e.g. "--cluster-enabled", "yes"). It is killed when the test ends.
// For tests that must break a deployment (take slots away, kill a node)
// without disturbing the shared ones. Without a redis-server binary the
// test is skipped (failed under REDISTEST_STRICT).
func StartServer(tb testing.TB, args ...string) *Server {
	tb.Helper()
	return start(tb, "", args)
}

// start runs redis-server with args, or as a sentinel with the
// configuration file sentinelConf.
func start(tb testing.TB, sentinelConf string, args []string) *Server {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		msg := "redistest: no redis-server binary: SKIPPING (scripts/test installs it)"
		if os.Getenv("REDISTEST_STRICT") != "" {
			tb.Fatal(msg + "; REDISTEST_STRICT is set, so this is a failure")
		}
		tb.Skip(msg)
	}
	dir := tb.TempDir()
	for range 20 {
		port := freePort(tb)
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		base := []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--daemonize", "no", "--loglevel", "warning"}
		if sentinelConf != "" {
			base = append([]string{sentinelConf, "--sentinel"}, base...)
		} else {
			base = append(base, "--save", "", "--appendonly", "no", "--dir", dir)
		}
		cmd := exec.Command(bin, append(base, args...)...)
		log, err := os.Create(filepath.Join(dir, "log-"+strconv.Itoa(port)))
		if err != nil {
			tb.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			tb.Fatalf("redistest: start redis-server: %v", err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); log.Close(); close(exited) }()
		c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
		up := false
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			select {
			case <-exited: // the port was taken after all: try another
			default:
				if c.Ping(context.Background()).Err() == nil {
					up = true
				}
			}
			if up || isClosed(exited) {
				break
			}
		}
		c.Close()
		if up {
			srv := &Server{Addr: addr, cmd: cmd, exited: exited}
			tb.Cleanup(srv.Kill)
			return srv
		}
		cmd.Process.Kill()
		<-exited
	}
	tb.Fatal("redistest: redis-server did not start")
	return nil
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// freePort picks a free loopback port below the ephemeral range whose
// cluster-bus port (+10000) is free too: an ephemeral port held by some
// outgoing connection looks free but cannot be bound.
func freePort(tb testing.TB) int {
	hi := 32768 - 10000
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var lo int
		if _, err := fmt.Sscan(string(b), &lo); err == nil && lo-10000 > 11000 {
			hi = lo - 10000
		}
	}
	for range 200 {
		p := 10000 + rand.IntN(hi-10000)
		a, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		b, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+10000)))
		a.Close()
		if err != nil {
			continue
		}
		b.Close()
		return p
	}
	tb.Fatal("redistest: no free port")
	return 0
}

// StartSentinelSet starts a Sentinel deployment of the test's own: a
// primary, its replica and one sentinel (quorum 1, down-after 1 s), and
// returns its URL (redis://H:S?master_name=NAME). For tests that fail the
// primary over (SentinelFailover), which the shared deployment of
// REDIS_SENTINEL_URL must not see: writes racing a Sentinel failover can be
// lost, and other tests would fail for it.
func StartSentinelSet(tb testing.TB) string {
	tb.Helper()
	primary := StartServer(tb, "--repl-diskless-sync-delay", "0").Addr
	host, port, _ := net.SplitHostPort(primary)
	replica := StartServer(tb, "--repl-diskless-sync-delay", "0", "--replicaof", host, port).Addr
	rc := redis.NewClient(&redis.Options{Addr: replica})
	defer rc.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if info, _ := rc.Info(context.Background(), "replication").Result(); strings.Contains(info, "master_link_status:up") {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatal("redistest: the replica did not sync")
		}
	}
	const name = "ivrtestset"
	rhost, rport, _ := net.SplitHostPort(replica)
	conf := filepath.Join(tb.TempDir(), "sentinel.conf")
	body := fmt.Sprintf("dir %s\nsentinel monitor %s %s %s 1\nsentinel down-after-milliseconds %s 1000\n"+
		"sentinel failover-timeout %s 5000\nsentinel known-replica %s %s %s\n",
		filepath.Dir(conf), name, host, port, name, name, name, rhost, rport)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		tb.Fatal(err)
	}
	sentinel := start(tb, conf, nil)
	return "redis://" + sentinel.Addr + "?master_name=" + name
}

// StartCluster starts a Redis Cluster of the test's own: three primaries
// with one replica each (redis-cli --cluster create), a 2 s node timeout so
// that a killed primary's replica takes over in about three seconds, and
// waits until every node says cluster_state:ok. It returns the cluster's
// URL (redis://H:P1?addr=H:P2&...) and its nodes, for tests that kill one.
func StartCluster(tb testing.TB) (string, []*Server) {
	tb.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		tb.Fatal("redistest: no redis-cli binary (it comes with Debian's redis-server)")
	}
	var nodes []*Server
	args := []string{"--cluster", "create"}
	for range 6 {
		n := StartServer(tb, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000", "--cluster-replica-validity-factor", "0", "--repl-diskless-sync-delay", "0")
		nodes = append(nodes, n)
		args = append(args, n.Addr)
	}
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		tb.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	ctx := context.Background()
	for _, n := range nodes {
		c := redis.NewClient(&redis.Options{Addr: n.Addr})
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if info, _ := c.ClusterInfo(ctx).Result(); strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				c.Close()
				tb.Fatalf("redistest: node %s did not reach cluster_state:ok", n.Addr)
			}
		}
		c.Close()
	}
	u := "redis://" + nodes[0].Addr + "?"
	for _, n := range nodes[1:] {
		u += "addr=" + n.Addr + "&"
	}
	return strings.TrimSuffix(u, "&"), nodes
}
