package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/ivr-gateway/ivr/internal/tracing"
)

// flushTimeout bounds the export of the spans still buffered at exit.
const flushTimeout = 5 * time.Second

// startTracing sets up tracing from the OTEL_* variables (off unless an
// OTLP endpoint is set: then it has started nothing). flush exports what
// is buffered and stops the exporter; the commands defer it, so it runs
// after their servers and background work have stopped.
func startTracing(ctx context.Context, env environ, log *slog.Logger) (tr *tracing.Tracing, flush func(), err error) {
	tr, err = tracing.Setup(ctx, env)
	if err != nil {
		return nil, func() {}, err
	}
	if !tr.Enabled() {
		return tr, func() {}, nil
	}
	log.Info("tracing on", "exporter", tr.String())
	return tr, func() {
		fctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
		defer cancel()
		if err := tr.Shutdown(fctx); err != nil {
			log.Warn("spans not exported at exit", "err", err)
		}
	}, nil
}
