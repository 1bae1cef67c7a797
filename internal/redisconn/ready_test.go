package redisconn_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ivr-gateway/ivr/internal/redisconn"
	"github.com/ivr-gateway/ivr/internal/redistest"
)

// TestOpenAndReady opens each mode's test deployment as the gateway does
// and checks the client's type, its mode and that it can serve.
func TestOpenAndReady(t *testing.T) {
	t.Parallel()
	wantType := map[string]string{
		redistest.Single: "*redis.Client", redistest.Cluster: "*redis.ClusterClient", redistest.Sentinel: "*redis.Client",
	}
	for _, mode := range redistest.Modes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			rdb := redistest.Open(t, mode, nil) // redisconn.Open, then Ready
			if got := redisconn.ModeOf(rdb); got != mode {
				t.Errorf("ModeOf = %q, want %q", got, mode)
			}
			if got := typeName(rdb); got != wantType[mode] {
				t.Errorf("client type = %s, want %s", got, wantType[mode])
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := redisconn.Ready(ctx, rdb, "ivr:readyz"); err != nil {
				t.Errorf("Ready: %v", err)
			}
			// The client works: a write and a read through the right node.
			key := redistest.Prefix() + "k"
			if err := rdb.Set(ctx, key, "v", time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
			defer rdb.Del(ctx, key)
			if v, err := rdb.Get(ctx, key).Result(); err != nil || v != "v" {
				t.Errorf("GET = %q, %v", v, err)
			}
		})
	}
}

func typeName(v any) string {
	switch v.(type) {
	case *redis.ClusterClient:
		return "*redis.ClusterClient"
	case *redis.Client:
		return "*redis.Client"
	}
	return "?"
}

func TestReadyUnreachable(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ url, mode string }{
		// No retries, so the test is quick; the defaults retry until the
		// caller's deadline.
		{"redis://127.0.0.1:1?max_retries=-1", "single"},
		{"redis://127.0.0.1:1?addr=127.0.0.1:2&max_redirects=-1&dialer_retries=1", "cluster"},
		{"redis://127.0.0.1:1?master_name=m&max_retries=-1&dialer_retries=1", "sentinel"},
	} {
		rdb, err := redisconn.Open(tt.url, tt.mode)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err = redisconn.Ready(ctx, rdb, "ivr:readyz")
		cancel()
		rdb.Close()
		if err == nil {
			t.Errorf("%s: Ready with nothing listening = nil, want an error", tt.mode)
		}
		if errors.Is(err, redisconn.ErrNotServing) {
			t.Errorf("%s: Ready = %v; unreachable is not ErrNotServing", tt.mode, err)
		}
	}
}
