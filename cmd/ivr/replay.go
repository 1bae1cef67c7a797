package main

import (
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
	fs.SetOutput(stderr)
	target := fs.String("url", "", "gateway base URL; empty: an in-process gateway with the AS double")
	public := fs.String("public-url", env("IVR_PUBLIC_URL"), "the gateway's IVR_PUBLIC_URL (default: -url)")
	token := fs.String("token", env("TWILIO_AUTH_TOKEN"), "the gateway's Twilio auth token, to sign requests (TWILIO_AUTH_TOKEN)")
	agentKey := fs.String("agent-key", firstOf(splitList(env("IVR_AGENT_KEYS"))), "an agent API key, to check tokens (IVR_AGENT_KEYS)")
	verbose := fs.Bool("v", false, "print every mismatch")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: ivr replay [flags] FIXTURE.jsonl...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return flag.ErrHelp
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
			if !fx.Header.Env.Default() {
				fmt.Fprintf(stdout, "SKIP %s: needs the in-process environment (as=%s redis=%s)\n", fx.Header.Fixture, fx.Header.Env.AS, fx.Header.Env.Redis)
				skipped++
				continue
			}
			mm, err = replay.Run(ctx, fx, replay.Target{
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
func replayInProcess(ctx context.Context, fx *replay.Fixture, env environ) ([]replay.Mismatch, error) {
	hc := replay.HarnessConfig{PublicURL: fx.Header.PublicURL, AuthToken: fx.Header.AuthToken, Env: fx.Header.Env,
		Logger: slog.New(slog.DiscardHandler)}
	if u := env("REDIS_URL"); u != "" {
		opt, err := redis.ParseURL(u)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		rdb := redis.NewClient(opt)
		defer rdb.Close()
		hc.Redis, hc.Prefix = rdb, "replay:"+newCallSid()[2:14]+":"
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
