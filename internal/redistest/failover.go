package redistest

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// failoverMu serialises this process's failovers: two at once in one
// deployment refuse each other.
var failoverMu sync.Mutex

// ClusterFailover makes the replica of the primary that owns key's slot
// take it over with CLUSTER FAILOVER (coordinated: the old primary stops
// taking writes and the replica catches up first, so nothing is lost), and
// waits until every node sees cluster_state:ok, the replica owns the slot,
// and rdb's slot map says so. It returns the old and the new primary's
// addresses. Other tests on the cluster see MOVED replies and retry.
func ClusterFailover(tb testing.TB, rdb redis.UniversalClient, key string) (oldPrimary, newPrimary string) {
	tb.Helper()
	failoverMu.Lock()
	defer failoverMu.Unlock()
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		tb.Fatalf("redistest: ClusterFailover needs a cluster client, got %T", rdb)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	slot, err := cc.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		tb.Fatalf("redistest: keyslot: %v", err)
	}
	// A deployment just formed may not yet have told every node who
	// replicates whom (gossip): look until the slot's primary has a healthy
	// replica in the view of the node asked.
	var primary, replica *clusterNode
	for {
		nodes, err := clusterNodes(ctx, cc)
		if err != nil {
			tb.Fatal(err)
		}
		primary, replica = nil, nil
		for i, n := range nodes {
			if n.primary && n.owns(int(slot)) {
				primary = &nodes[i]
			}
		}
		if primary != nil {
			for i, n := range nodes {
				if n.primaryID == primary.id && !n.failed {
					replica = &nodes[i]
				}
			}
		}
		if replica != nil {
			break
		}
		if ctx.Err() != nil {
			if primary == nil {
				tb.Fatalf("redistest: no primary owns slot %d", slot)
			}
			tb.Fatalf("redistest: the primary of slot %d has no healthy replica", slot)
		}
		time.Sleep(50 * time.Millisecond)
	}
	rc := nodeClient(cc, replica.addr)
	defer rc.Close()
	// A coordinated failover waits for the replica to catch up with its
	// primary; a replica still syncing (a deployment just started, or a
	// loaded machine) would not take over in time, so wait for its link.
	for {
		if info, _ := rc.Info(ctx, "replication").Result(); strings.Contains(info, "master_link_status:up") {
			break
		}
		if ctx.Err() != nil {
			tb.Fatalf("redistest: the replica %s never synced with its primary", replica.addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := rc.Do(ctx, "CLUSTER", "FAILOVER").Err(); err != nil {
		tb.Fatalf("redistest: CLUSTER FAILOVER on %s: %v", replica.addr, err)
	}
	forced := false
	started := time.Now()
	for {
		if ctx.Err() != nil {
			tb.Fatalf("redistest: failover of slot %d to %s did not complete", slot, replica.addr)
		}
		if clusterSettled(ctx, cc, key, int(slot), replica.addr) {
			return primary.addr, replica.addr
		}
		if !forced && time.Since(started) > 8*time.Second {
			// The coordinated handshake stalled (a busy primary): take
			// over without it, as an operator would.
			forced = true
			if err := rc.Do(ctx, "CLUSTER", "FAILOVER", "FORCE").Err(); err != nil {
				tb.Logf("redistest: CLUSTER FAILOVER FORCE on %s: %v", replica.addr, err)
			}
		}
		cc.ReloadState(ctx)
		time.Sleep(50 * time.Millisecond)
	}
}

func clusterSettled(ctx context.Context, cc *redis.ClusterClient, key string, slot int, want string) bool {
	nodes, err := clusterNodes(ctx, cc)
	if err != nil {
		return false
	}
	owner := ""
	for _, n := range nodes {
		if n.primary && n.owns(slot) {
			owner = n.addr
		}
		c := nodeClient(cc, n.addr)
		info, err := c.ClusterInfo(ctx).Result()
		c.Close()
		if err != nil || !strings.Contains(info, "cluster_state:ok") {
			return false
		}
	}
	if owner != want {
		return false
	}
	m, err := cc.MasterForKey(ctx, key)
	return err == nil && m.Options().Addr == want
}

type clusterNode struct {
	id, addr, primaryID string
	primary, failed     bool
	slots               [][2]int
}

func (n clusterNode) owns(slot int) bool {
	for _, r := range n.slots {
		if r[0] <= slot && slot <= r[1] {
			return true
		}
	}
	return false
}

// clusterNodes parses CLUSTER NODES as one node sees it.
func clusterNodes(ctx context.Context, cc *redis.ClusterClient) ([]clusterNode, error) {
	text, err := cc.ClusterNodes(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("redistest: cluster nodes: %w", err)
	}
	var nodes []clusterNode
	for line := range strings.SplitSeq(strings.TrimSpace(text), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		flags := strings.Split(f[2], ",")
		n := clusterNode{
			id:      f[0],
			addr:    strings.SplitN(f[1], "@", 2)[0],
			primary: slices.Contains(flags, "master"),
			failed:  slices.Contains(flags, "fail") || slices.Contains(flags, "fail?"),
		}
		if f[3] != "-" {
			n.primaryID = f[3]
		}
		for _, r := range f[8:] {
			if strings.HasPrefix(r, "[") { // a slot being migrated
				continue
			}
			lo, hi, _ := strings.Cut(r, "-")
			a, err1 := strconv.Atoi(lo)
			b := a
			var err2 error
			if hi != "" {
				b, err2 = strconv.Atoi(hi)
			}
			if err1 == nil && err2 == nil {
				n.slots = append(n.slots, [2]int{a, b})
			}
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

// nodeClient is a plain client of one cluster node, with the cluster's
// credentials.
func nodeClient(cc *redis.ClusterClient, addr string) *redis.Client {
	o := cc.Options()
	return redis.NewClient(&redis.Options{
		Addr: addr, Username: o.Username, Password: o.Password, TLSConfig: o.TLSConfig,
		Dialer: o.Dialer, MaxRetries: -1,
	})
}

// SentinelFailover makes the sentinels of sentinelURL (go-redis's failover
// URL) fail the primary over to its replica (SENTINEL FAILOVER), and waits
// until the sentinels name the new primary and it answers as a primary. It
// returns the old and the new primary's addresses. The old primary, still
// alive, is turned into a replica only when the sentinel next looks at it
// (up to 10 s later); until then it still takes writes, which will be lost.
// Use it on a deployment of the test's own (StartSentinelSet).
func SentinelFailover(tb testing.TB, sentinelURL string) (oldPrimary, newPrimary string) {
	tb.Helper()
	failoverMu.Lock()
	defer failoverMu.Unlock()
	fo, err := redis.ParseFailoverURL(sentinelURL)
	if err != nil {
		tb.Fatalf("redistest: sentinel URL: %v", err)
	}
	sc := redis.NewSentinelClient(&redis.Options{
		Addr: fo.SentinelAddrs[0], Username: fo.SentinelUsername, Password: fo.SentinelPassword, TLSConfig: fo.TLSConfig,
	})
	defer sc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	addrOf := func() string {
		a, err := sc.GetMasterAddrByName(ctx, fo.MasterName).Result()
		if err != nil || len(a) != 2 {
			return ""
		}
		return a[0] + ":" + a[1]
	}
	old := addrOf()
	if old == "" {
		tb.Fatal("redistest: the sentinels name no primary")
	}
	for {
		err := sc.Failover(ctx, fo.MasterName).Err()
		if err == nil {
			break
		}
		// INPROGRESS: another process's failover; NOGOODSLAVE: the replica
		// is still syncing after the last one.
		if ctx.Err() != nil || !(strings.Contains(err.Error(), "INPROGRESS") || strings.Contains(err.Error(), "NOGOODSLAVE")) {
			tb.Fatalf("redistest: SENTINEL FAILOVER: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	data := func(addr string) *redis.Client {
		return redis.NewClient(&redis.Options{Addr: addr, Username: fo.Username, Password: fo.Password, TLSConfig: fo.TLSConfig, MaxRetries: -1})
	}
	for {
		if ctx.Err() != nil {
			tb.Fatalf("redistest: sentinel failover from %s did not complete", old)
		}
		if now := addrOf(); now != "" && now != old {
			nc := data(now)
			info, err := nc.Info(ctx, "replication").Result()
			nc.Close()
			if err == nil && strings.Contains(info, "role:master") {
				return old, now
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}
