package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ivr-gateway/ivr/internal/replay"
)

// runReplay replays recorded call fixtures (docs/fixtures.md) against an
// in-process gateway with the AS double, or against a running gateway.
func runReplay(ctx context.Context, args []string, env environ, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	target := fs.String("url", "", "gateway base URL; empty: an in-process gateway with the AS double")
	public := fs.String("public-url", env("IVR_PUBLIC_URL"), "the gateway's IVR_PUBLIC_URL (default: -url)")
	token := fs.String("token", env("TWILIO_AUTH_TOKEN"), "the gateway's Twilio auth token, to sign requests (TWILIO_AUTH_TOKEN)")
	agentKey := fs.String("agent-key", firstAgentKey(env), "an agent API key, to check tokens (IVR_AGENT_KEYS)")
	transport := fs.String("transport", env.or("IVR_TRANSPORT", "gather"), "with -url: the gateway's IVR_TRANSPORT; fixtures recorded on another transport are skipped")
	verbose := fs.Bool("v", false, "print every mismatch")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: ivr replay [flags] FIXTURE.jsonl...")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errUsage
	}
	if *target != "" && *public == "" {
		*public = *target
	}
	passed, failed, skipped := 0, 0, 0
	for _, path := range fs.Args() {
		start := time.Now()
		fx, err := replay.Load(path)
		if err != nil {
			fmt.Fprintf(stdout, "FAIL %s: %v\n", path, err)
			failed++
			continue
		}
		var mm []replay.Mismatch
		if *target == "" {
			mm, err = replayInProcess(ctx, fx, env)
		} else {
			if t := cmp.Or(fx.Header.Env.Transport, "gather"); t != cmp.Or(*transport, "gather") {
				fmt.Fprintf(stdout, "SKIP %s: recorded on the %s transport (-transport)\n", fx.Header.Fixture, t)
				skipped++
				continue
			}
			if !fx.Header.Env.DefaultFor(*transport) {
				fmt.Fprintf(stdout, "SKIP %s: needs the in-process environment (as=%s redis=%s)\n", fx.Header.Fixture, fx.Header.Env.AS, fx.Header.Env.Redis)
				skipped++
				continue
			}
			// A fresh call SID and caller number per fixture: a running
			// gateway keeps what earlier runs did (calls, per-caller limits).
			mm, err = replay.Run(ctx, withCaller(fx, fictionalCaller()), replay.Target{
				BaseURL: *target, PublicURL: *public, AuthToken: *token, FreshCallSid: newCallSid(), AgentKey: *agentKey,
			})
		}
		took := time.Since(start).Round(time.Millisecond)
		switch {
		case err != nil:
			fmt.Fprintf(stdout, "FAIL %s: %v\n", fx.Header.Fixture, err)
			failed++
		case len(mm) > 0:
			fmt.Fprintf(stdout, "FAIL %s: %d mismatches (%s)\n", fx.Header.Fixture, len(mm), took)
			for i, m := range mm {
				if i == 3 && !*verbose {
					fmt.Fprintf(stdout, "  ... (-v for all)\n")
					break
				}
				fmt.Fprintf(stdout, "  %s\n", m)
			}
			failed++
		default:
			fmt.Fprintf(stdout, "ok   %s: %d requests (%s)\n", fx.Header.Fixture, len(fx.Lines), took)
			passed++
		}
	}
	if skipped > 0 {
		fmt.Fprintf(stdout, "%d passed, %d failed, %d skipped\n", passed, failed, skipped)
	} else {
		fmt.Fprintf(stdout, "%d passed, %d failed\n", passed, failed)
	}
	if failed > 0 {
		return exitCode(1)
	}
	return nil
}

// replayInProcess runs a fixture against a fresh in-process gateway: on
// REDIS_URL under a throwaway key prefix when set, else on embedded Redis.
func replayInProcess(ctx context.Context, fx *replay.Fixture, env environ) (mm []replay.Mismatch, err error) {
	hc := replay.HarnessConfig{PublicURL: fx.Header.PublicURL, AuthToken: fx.Header.AuthToken, Env: fx.Header.Env,
		Logger: slog.New(slog.DiscardHandler)}
	if u := env("REDIS_URL"); u != "" {
		opt, perr := redis.ParseURL(u)
		if perr != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", perr)
		}
		rdb := redis.NewClient(opt)
		prefix := "replay:" + newCallSid()[2:14] + ":"
		hc.Redis, hc.Prefix = rdb, prefix
		// After the harness has shut down (deferred below, so run first):
		// the replay leaves nothing in a Redis others use.
		defer func() {
			if cerr := deletePrefix(rdb, prefix); err == nil {
				err = cerr
			}
			rdb.Close()
		}()
	}
	h, err := replay.Start(ctx, hc)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	return replay.Run(ctx, fx, replay.Target{
		BaseURL: h.URL, PublicURL: fx.Header.PublicURL, AuthToken: fx.Header.AuthToken,
		AgentKey: replay.AgentKey, Harness: h,
	})
}

func newCallSid() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "CA" + hex.EncodeToString(b)
}

func firstOf(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}
