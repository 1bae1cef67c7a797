package tracing

import (
	"fmt"

	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"
)

// Redis adds go-redis's OpenTelemetry hook to rdb: a client span per
// command or pipeline, named by the command names ("hgetall",
// "redis.pipeline evalsha xadd"), with the server address. The statement
// (the command's arguments: keys, sealed answers, tokens) is never
// recorded, nor the calling code's location; commands issued outside a
// span (pub/sub, readiness probes) make no span (ChildOnly), and neither do
// the commands that set a new connection up. With tp nil it
// does nothing. Add it once per client: each call adds another hook.
func Redis(rdb redis.UniversalClient, tp trace.TracerProvider) error {
	if tp == nil || rdb == nil {
		return nil
	}
	if err := redisotel.InstrumentTracing(rdb,
		redisotel.WithTracerProvider(ChildOnly(tp)),
		redisotel.WithDBStatement(false),
		redisotel.WithCallerEnabled(false),
		redisotel.WithCommandFilter(connectionSetup),
		redisotel.WithCommandsFilter(func(cmds []redis.Cmder) bool {
			for _, c := range cmds {
				if !connectionSetup(c) {
					return false
				}
			}
			return true
		}),
	); err != nil {
		return fmt.Errorf("tracing: redis: %w", err)
	}
	return nil
}

// connectionSetup reports whether cmd is one go-redis sends on a new
// connection (HELLO, AUTH, SELECT, CLIENT SETINFO...): part of the
// redis.dial span, not of the work, and CLIENT SETINFO fails harmlessly on
// servers older than 7.2, which would read as an error.
func connectionSetup(cmd redis.Cmder) bool {
	switch cmd.Name() {
	case "hello", "auth", "select", "client", "readonly":
		return true
	}
	return false
}
