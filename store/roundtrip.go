package store

import (
	"context"
	"net"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// RoundTripCounter is a go-redis hook that counts round trips: one per
// command and one per pipeline. Add it with rdb.AddHook(&counter).
type RoundTripCounter struct{ n atomic.Int64 }

var _ redis.Hook = (*RoundTripCounter)(nil)

// Count returns the round trips seen so far.
func (c *RoundTripCounter) Count() int64 { return c.n.Load() }

// Reset sets the count to zero.
func (c *RoundTripCounter) Reset() { c.n.Store(0) }

// DialHook passes dials through uncounted.
func (c *RoundTripCounter) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return next(ctx, network, addr)
	}
}

// ProcessHook counts one round trip per command.
func (c *RoundTripCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook counts one round trip per pipeline.
func (c *RoundTripCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmds)
	}
}
