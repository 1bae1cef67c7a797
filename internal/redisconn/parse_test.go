package redisconn

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
)

// secret is the password in the URLs below; no error may repeat it.
const secret = "s3cr3t-pw"

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, url, mode string
		want            any    // the fields checked, as a comparable summary
		wantErr         string // a substring of the error; "" = no error
	}{
		{
			name: "single, default mode", url: "redis://:" + secret + "@10.0.0.1:6380/2",
			want: summary{Addrs: []string{"10.0.0.1:6380"}, DB: 2, Password: secret, ContextTimeout: true},
		},
		{
			name: "single, explicit", url: "rediss://10.0.0.1:6380", mode: "single",
			want: summary{Addrs: []string{"10.0.0.1:6380"}, TLS: true, ContextTimeout: true},
		},
		{
			name: "single keeps go-redis's defaults", url: "redis://h:1?max_retries=7", mode: "single",
			want: summary{Addrs: []string{"h:1"}, MaxRetries: 7, ContextTimeout: true},
		},
		{
			name: "single with several nodes", url: "redis://h1:1?addr=h2:2", mode: "",
			wantErr: "set IVR_REDIS_MODE=cluster or sentinel",
		},
		{
			name: "single with master_name", url: "redis://h1:1?master_name=m", mode: "single",
			wantErr: "set IVR_REDIS_MODE=sentinel",
		},
		{
			name: "cluster seeds", url: "redis://user:" + secret + "@h1:7000?addr=h2:7001&addr=h3:7002", mode: "cluster",
			want: summary{
				Addrs: []string{"h1:7000", "h2:7001", "h3:7002"}, Username: "user", Password: secret, ContextTimeout: true,
				DialTimeout: dialTimeout, ReadTimeout: ioTimeout, WriteTimeout: ioTimeout,
				MaxRetries: retries, MinBackoff: minRetryBackoff, MaxBackoff: maxRetryBackoff, Reload: stateReload,
			},
		},
		{
			name: "cluster: the URL's options win", url: "rediss://h1:7000/0?addr=h2:7001&max_redirects=2&dial_timeout=7s&read_timeout=1", mode: "cluster",
			want: summary{
				Addrs: []string{"h1:7000", "h2:7001"}, TLS: true, ContextTimeout: true,
				DialTimeout: 7 * time.Second, ReadTimeout: time.Second, WriteTimeout: ioTimeout,
				MaxRetries: 2, MinBackoff: minRetryBackoff, MaxBackoff: maxRetryBackoff, Reload: stateReload,
			},
		},
		{
			name: "cluster with a database", url: "redis://h1:7000/3", mode: "cluster",
			wantErr: "a Redis Cluster has only database 0",
		},
		{
			name: "cluster with master_name", url: "redis://h1:7000?master_name=m", mode: "cluster",
			wantErr: "master_name, which is for IVR_REDIS_MODE=sentinel",
		},
		{
			name: "cluster with an unknown option", url: "redis://h1:7000?colour=blue", mode: "cluster",
			wantErr: "unexpected option: colour",
		},
		{
			name: "cluster with a bad addr", url: "redis://h1:7000?addr=nohostport", mode: "cluster",
			wantErr: "unable to parse addr param",
		},
		{
			name: "sentinel", url: "redis://suser:" + secret + "@s1:26379?addr=s2:26379&master_name=mymaster&password=" + secret + "&db=1", mode: "sentinel",
			want: summary{
				Addrs: []string{"s1:26379", "s2:26379"}, Master: "mymaster", DB: 1, Password: secret,
				SentinelUser: "suser", SentinelPass: secret, ContextTimeout: true,
				DialTimeout: dialTimeout, ReadTimeout: ioTimeout, WriteTimeout: ioTimeout,
				MaxRetries: retries, MinBackoff: minRetryBackoff, MaxBackoff: maxRetryBackoff,
			},
		},
		{
			name: "sentinel without master_name", url: "redis://s1:26379?addr=s2:26379", mode: "sentinel",
			wantErr: "no master_name",
		},
		{name: "unknown mode", url: "redis://h:1", mode: "clustered", wantErr: `IVR_REDIS_MODE="clustered": want single, cluster or sentinel`},
		{name: "empty URL", url: "", mode: "cluster", wantErr: "REDIS_URL is empty"},
		{name: "scheme", url: "http://h:1", mode: "single", wantErr: `scheme "http"`},
		{name: "not a URL, password kept out of the error", url: "redis://u:" + secret + "@h:1/%zz", mode: "cluster", wantErr: "not a URL"},
		{name: "bad port, password kept out of the error", url: "redis://u:" + secret + "@h:port", mode: "single", wantErr: "not a URL"},
		{name: "host forgotten: the password would be the port", url: "redis://default:" + secret, mode: "sentinel", wantErr: "not a URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opt, err := parse(tt.url, tt.mode)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parse: err = %v, want one saying %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("the error repeats the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, summarize(opt)); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

// summary is what TestParse checks of the three option types.
type summary struct {
	Addrs                                  []string
	DB                                     int
	Username, Password                     string
	SentinelUser, SentinelPass, Master     string
	TLS, ContextTimeout                    bool
	DialTimeout, ReadTimeout, WriteTimeout time.Duration
	MaxRetries                             int
	MinBackoff, MaxBackoff, Reload         time.Duration
}

func summarize(opt any) summary {
	switch o := opt.(type) {
	case *redis.Options:
		return summary{
			Addrs: []string{o.Addr}, DB: o.DB, Username: o.Username, Password: o.Password,
			TLS: o.TLSConfig != nil, ContextTimeout: o.ContextTimeoutEnabled,
			DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
			MaxRetries: o.MaxRetries, MinBackoff: o.MinRetryBackoff, MaxBackoff: o.MaxRetryBackoff,
		}
	case *redis.ClusterOptions:
		return summary{
			Addrs: o.Addrs, Username: o.Username, Password: o.Password,
			TLS: o.TLSConfig != nil, ContextTimeout: o.ContextTimeoutEnabled,
			DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
			MaxRetries: o.MaxRedirects, MinBackoff: o.MinRetryBackoff, MaxBackoff: o.MaxRetryBackoff,
			Reload: o.ClusterStateReloadInterval,
		}
	case *redis.FailoverOptions:
		return summary{
			Addrs: o.SentinelAddrs, DB: o.DB, Username: o.Username, Password: o.Password,
			SentinelUser: o.SentinelUsername, SentinelPass: o.SentinelPassword, Master: o.MasterName,
			TLS: o.TLSConfig != nil, ContextTimeout: o.ContextTimeoutEnabled,
			DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
			MaxRetries: o.MaxRetries, MinBackoff: o.MinRetryBackoff, MaxBackoff: o.MaxRetryBackoff,
		}
	}
	panic("unknown options type")
}

func TestClusterState(t *testing.T) {
	t.Parallel()
	tests := []struct {
		info string
		ok   bool
	}{
		{"cluster_state:ok\r\ncluster_slots_assigned:16384\r\n", true},
		{"cluster_enabled:1\r\ncluster_state:fail\r\n", false},
		{"cluster_slots_assigned:16384\r\n", false},
		{"", false},
	}
	for _, tt := range tests {
		err := clusterState(tt.info)
		if (err == nil) != tt.ok {
			t.Errorf("clusterState(%q) = %v, want ok=%v", tt.info, err, tt.ok)
		}
	}
}

// FuzzParse: no URL makes parse panic or repeat a password in its error.
func FuzzParse(f *testing.F) {
	for _, u := range []string{
		"redis://h:1", "redis://:pwsecretpw@h:1/2", "rediss://u:pwsecretpw@h1:7000?addr=h2:7001&addr=h3:7002",
		"redis://s1:26379?addr=s2:26379&master_name=m&password=pwsecretpw", "redis://h:1?addr=", "redis://[::1]:6379",
		"redis://u:pwsecretpw@h:1/%zz", "redis://u:pwsecretpw@h:port", "redis://h:1?dial_timeout=x",
	} {
		for _, m := range []string{"", "single", "cluster", "sentinel", "x"} {
			f.Add(u, m)
		}
	}
	f.Fuzz(func(t *testing.T, u, mode string) {
		_, err := parse(u, mode)
		if err != nil && strings.Contains(u, "pwsecretpw") && strings.Contains(err.Error(), "pwsecretpw") {
			t.Fatalf("error repeats the password: %v", err)
		}
	})
}

func TestTroubled(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{redis.Nil, false},
		{proto("NOSCRIPT No matching script"), false},
		{proto("CLUSTERDOWN The cluster is down"), true},
		{proto("TRYAGAIN Multiple keys request during rehashing of slot"), true},
		{proto("MASTERDOWN Link with MASTER is down"), true},
		{proto("READONLY You can't write against a read only replica."), true},
		{io.EOF, true},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
	}
	for _, tt := range tests {
		if got := troubled(tt.err); got != tt.want {
			t.Errorf("troubled(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// proto is an error reply as go-redis returns it.
type proto string

func (e proto) Error() string { return string(e) }
func (proto) RedisError()     {}
