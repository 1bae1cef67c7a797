package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/ivr-gateway/ivr/internal/app"
)

func runServe(ctx context.Context, args []string, env environ, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	g := addGatewayFlags(fs, env)
	pprofAddr := fs.String("pprof", "", "serve Go's profiler on this loopback address, e.g. 127.0.0.1:6060 (off when empty)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	cfg := g.config()
	log, closeLog := newServingLogger(g.logFormat, stderr)
	defer closeLog()
	tr, flushTraces, err := startTracing(ctx, env, log)
	if err != nil {
		return err
	}
	defer flushTraces() // after the shutdown below: background verifications' spans too
	cfg.TracerProvider = tr.Provider("ivr-gateway")
	if *pprofAddr != "" {
		stop, err := startPprof(*pprofAddr, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	startCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	a, err := app.New(startCtx, cfg, log)
	cancel()
	if err != nil {
		return g.sortProblems(err)
	}
	ln, err := net.Listen("tcp", g.addr)
	if err != nil {
		a.Close()
		return err
	}
	log.Info("gateway listening", "addr", ln.Addr().String(), "public_url", cfg.PublicURL, "issuer", a.Metadata.Issuer)
	return serveUntilDone(ctx, ln, a, log, g.drainDelay)
}

// serveUntilDone serves until ctx ends, then shuts down gracefully, in the
// order a balanced deployment needs: /readyz turns 503 at once and the
// instance keeps serving for drainDelay, so the balancer's health check
// takes it out of the pool before anything is refused; then the listener
// closes, in-flight webhooks finish, streams hand their calls back to TwiML,
// and background verifications land in Redis or hand their lease back for
// another instance to take over; then Redis connections close.
func serveUntilDone(ctx context.Context, ln net.Listener, a *app.App, log *slog.Logger, drainDelay time.Duration) error {
	srv := newHTTPServer(a.Handler)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		a.Close()
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: draining", "delay", drainDelay.String())
	a.Drain()
	if drainDelay > 0 {
		select {
		case <-time.After(drainDelay):
		case err := <-errc:
			a.Close()
			return err
		}
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := a.Shutdown(sctx); err == nil {
		err = serr
	}
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		// Long enough for the agent API's long-poll (at most 30 s).
		WriteTimeout: 45 * time.Second,
		IdleTimeout:  90 * time.Second,
	}
}
