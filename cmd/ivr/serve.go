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
	fs.SetOutput(stderr)
	g := addGatewayFlags(fs, env)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := g.config()
	if err != nil {
		return err
	}
	log, closeLog := newServingLogger(g.logFormat, stderr)
	defer closeLog()
	startCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	a, err := app.New(startCtx, cfg, log)
	cancel()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", g.addr)
	if err != nil {
		a.Close()
		return err
	}
	log.Info("gateway listening", "addr", ln.Addr().String(), "public_url", cfg.PublicURL, "issuer", a.Metadata.Issuer)
	return serveUntilDone(ctx, ln, a, log)
}

// serveUntilDone serves until ctx ends, then shuts down gracefully:
// in-flight webhooks finish, background verifications land in Redis, Redis
// connections drain.
func serveUntilDone(ctx context.Context, ln net.Listener, a *app.App, log *slog.Logger) error {
	srv := newHTTPServer(a.Handler)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		a.Close()
		return err
	case <-ctx.Done():
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
