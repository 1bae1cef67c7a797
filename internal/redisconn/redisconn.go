// Package redisconn opens the gateway's Redis connection in one of three
// modes (the README's configuration table, IVR_REDIS_MODE): a single server, a Redis Cluster, or a
// primary managed by Sentinel, from a REDIS_URL in go-redis's URL form, and
// says whether that deployment can serve (for /readyz). Without a REDIS_URL,
// Embedded starts the in-process Redis whose keys expire as a real one's.
//
// The options it sets where the URL leaves them unset are chosen so that a
// webhook survives a failover: a dead primary's replica takes over in a few
// seconds (cluster-node-timeout or down-after-milliseconds plus an election),
// and go-redis keeps retrying MOVED, TRYAGAIN, CLUSTERDOWN, READONLY and
// connection errors with a capped backoff until it does, inside the caller's
// deadline (ContextTimeoutEnabled: a webhook's context bounds every retry).
package redisconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The modes of IVR_REDIS_MODE.
const (
	ModeSingle   = "single"
	ModeCluster  = "cluster"
	ModeSentinel = "sentinel"
)

// Failover tuning, used where the URL does not set the option.
const (
	// dialTimeout: a node that takes longer than this to accept a TCP
	// connection on a LAN is gone; waiting go-redis's default 5 s for it
	// would spend most of a webhook's 8 s budget on one attempt.
	dialTimeout = 2 * time.Second
	// ioTimeout: every command the gateway sends is O(1) and tiny, so a
	// reply that takes this long means a stalled or dead node.
	ioTimeout = 2 * time.Second
	// retries (MaxRedirects for a cluster, MaxRetries for Sentinel) and
	// the backoff cap keep a command retrying for roughly 4-8 s (backoff
	// 10 ms doubling to 500 ms, with jitter), the time a replica needs to
	// take over with a cluster-node-timeout or down-after of 2-3 s. The
	// webhook's deadline stops the retries first when it is shorter.
	retries         = 16
	minRetryBackoff = 10 * time.Millisecond
	maxRetryBackoff = 500 * time.Millisecond
	// stateReload bounds how stale the cluster client's slot map may get
	// when nothing else tells it (go-redis's default is 60 s); errors
	// reload it at once (see reloadOnTrouble).
	stateReload = 5 * time.Second
)

// Open returns a client for rawURL in mode ("" is single). It does not
// contact Redis. Errors name what is wrong with the URL without repeating
// it (it may hold a password).
//
//   - single: redis://[user:password@]host:port[/db][?options] (go-redis
//     ParseURL); addr= or master_name= are refused with a hint to set the mode.
//   - cluster: redis://host:port?addr=host2:port2&addr=host3:port3 (seed
//     nodes; go-redis ParseClusterURL); no database number, no master_name.
//   - sentinel: redis://host:port?addr=host2:port2&master_name=NAME: the
//     host and addr= are sentinels; user:password in the URL authenticate to
//     the sentinels, username= and password= to the data nodes (go-redis
//     ParseFailoverURL). master_name is required.
//
// rediss:// turns TLS on in every mode.
func Open(rawURL, mode string) (redis.UniversalClient, error) {
	opt, err := parse(rawURL, mode)
	if err != nil {
		return nil, err
	}
	switch o := opt.(type) {
	case *redis.ClusterOptions:
		cc := redis.NewClusterClient(o)
		reloadOnTrouble(cc)
		return cc, nil
	case *redis.FailoverOptions:
		return redis.NewFailoverClient(o), nil
	default:
		return redis.NewClient(opt.(*redis.Options)), nil
	}
}

// parse returns *redis.Options, *redis.ClusterOptions or
// *redis.FailoverOptions with the gateway's defaults applied.
func parse(rawURL, mode string) (any, error) {
	if rawURL == "" {
		return nil, errors.New("REDIS_URL is empty")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// Not even the parser's reason: it quotes parts of the URL, and in
		// redis://user:password with the host forgotten, the password is
		// what it calls an invalid port.
		return nil, errors.New("REDIS_URL is not a URL (want redis://[user:password@]host:port[?options], with reserved characters %-escaped)")
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fmt.Errorf("REDIS_URL: scheme %q: want redis:// or rediss://", u.Scheme)
	}
	q := u.Query()
	switch mode {
	case "", ModeSingle:
		if q.Has("addr") {
			return nil, errors.New("REDIS_URL names several nodes (addr=): set IVR_REDIS_MODE=cluster or sentinel")
		}
		if q.Has("master_name") {
			return nil, errors.New("REDIS_URL has master_name: set IVR_REDIS_MODE=sentinel")
		}
		o, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		// Webhooks have a deadline; without this go-redis keeps reading a
		// stalled reply past it (and retries it).
		o.ContextTimeoutEnabled = true
		return o, nil
	case ModeCluster:
		if q.Has("master_name") {
			return nil, errors.New("REDIS_URL has master_name, which is for IVR_REDIS_MODE=sentinel, not cluster")
		}
		if db := strings.Trim(u.Path, "/"); db != "" && db != "0" {
			return nil, fmt.Errorf("REDIS_URL selects database %q: a Redis Cluster has only database 0", db)
		}
		o, err := redis.ParseClusterURL(stripPath(u))
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		o.ContextTimeoutEnabled = true
		setDefault(&o.DialTimeout, dialTimeout)
		setDefault(&o.ReadTimeout, ioTimeout)
		setDefault(&o.WriteTimeout, ioTimeout)
		setDefault(&o.MaxRedirects, retries)
		setDefault(&o.MinRetryBackoff, minRetryBackoff)
		setDefault(&o.MaxRetryBackoff, maxRetryBackoff)
		setDefault(&o.ClusterStateReloadInterval, stateReload)
		return o, nil
	case ModeSentinel:
		if q.Get("master_name") == "" {
			return nil, errors.New("REDIS_URL has no master_name: IVR_REDIS_MODE=sentinel needs the name the sentinels monitor (…&master_name=NAME)")
		}
		o, err := redis.ParseFailoverURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		o.ContextTimeoutEnabled = true
		setDefault(&o.DialTimeout, dialTimeout)
		setDefault(&o.ReadTimeout, ioTimeout)
		setDefault(&o.WriteTimeout, ioTimeout)
		setDefault(&o.MaxRetries, retries)
		setDefault(&o.MinRetryBackoff, minRetryBackoff)
		setDefault(&o.MaxRetryBackoff, maxRetryBackoff)
		return o, nil
	default:
		return nil, fmt.Errorf("IVR_REDIS_MODE=%q: want single, cluster or sentinel", mode)
	}
}

// stripPath drops a "/0" path, which ParseClusterURL would otherwise
// ignore silently along with any other database number.
func stripPath(u *url.URL) string {
	c := *u
	c.Path, c.RawPath = "", ""
	return c.String()
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// reloadOnTrouble makes the cluster client re-read the slot map as soon as
// a node fails, not when its cached map is next due: after a primary dies,
// go-redis would otherwise keep sending that primary's slots to the dead
// address until the map expires, past the replica's takeover. The reload is
// asynchronous and coalesced by go-redis, so calling it on every failed
// command costs one CLUSTER SLOTS per 200 ms at most.
func reloadOnTrouble(cc *redis.ClusterClient) {
	h := troubleHook{reload: func() { cc.ReloadState(context.Background()) }}
	cc.OnNewNode(func(node *redis.Client) { node.AddHook(h) })
}

type troubleHook struct{ reload func() }

func (h troubleHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		cn, err := next(ctx, network, addr)
		if err != nil {
			h.reload()
		}
		return cn, err
	}
}

func (h troubleHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if troubled(err) {
			h.reload()
		}
		return err
	}
}

func (h troubleHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if troubled(err) {
			h.reload()
		} else {
			for _, c := range cmds {
				if troubled(c.Err()) {
					h.reload()
					break
				}
			}
		}
		return err
	}
}

// troubled reports errors that mean the slot map may be wrong: the node is
// unreachable, or the cluster is mid-failover.
func troubled(err error) bool {
	if err == nil || errors.Is(err, redis.Nil) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	return redis.IsClusterDownError(err) || redis.IsTryAgainError(err) ||
		redis.HasErrorPrefix(err, "MASTERDOWN") || redis.HasErrorPrefix(err, "READONLY")
}

// ModeOf tells the mode of a client built elsewhere (tests hand one in):
// cluster for a cluster client, sentinel for a failover client, else single.
func ModeOf(rdb redis.UniversalClient) string {
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		return ModeCluster
	case *redis.Client:
		if c.Options().Addr == "FailoverClient" { // what go-redis's NewFailoverClient sets
			return ModeSentinel
		}
	}
	return ModeSingle
}

// ErrNotServing: Ready's deployment answers but cannot serve.
var ErrNotServing = errors.New("redisconn: redis cannot serve")

// Ready checks, in one round trip, that the deployment can serve requests.
// Single server and Sentinel: PING (to the current primary, for Sentinel).
// Cluster: CLUSTER INFO on the primary that owns probeKey's slot must say
// cluster_state:ok. That node's own view of the whole cluster is the
// cluster's consensus (a slot without a primary makes it "fail" on every
// node once the failure is agreed), and reaching it proves the client's slot
// map leads somewhere; pinging every primary instead would cost a round trip
// per primary and add nothing the state does not say. It returns an error
// wrapping ErrNotServing when the cluster answers that it is not ok.
func Ready(ctx context.Context, rdb redis.UniversalClient, probeKey string) error {
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		if err := rdb.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("redisconn: ping: %w", err)
		}
		return nil
	}
	node, err := cc.MasterForKey(ctx, probeKey)
	if err != nil {
		return fmt.Errorf("redisconn: cluster slot map: %w", err)
	}
	info, err := node.ClusterInfo(ctx).Result()
	if err != nil {
		cc.ReloadState(ctx) // maybe that primary is gone: look again next time
		return fmt.Errorf("redisconn: cluster info: %w", err)
	}
	return clusterState(info)
}

// clusterState reads cluster_state from CLUSTER INFO.
func clusterState(info string) error {
	for line := range strings.SplitSeq(info, "\n") {
		if state, ok := strings.CutPrefix(strings.TrimSpace(line), "cluster_state:"); ok {
			if state == "ok" {
				return nil
			}
			return fmt.Errorf("%w: cluster_state:%s", ErrNotServing, state)
		}
	}
	return fmt.Errorf("%w: CLUSTER INFO without cluster_state", ErrNotServing)
}
