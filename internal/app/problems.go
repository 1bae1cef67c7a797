package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/ivr-gateway/ivr/authclient"
	"github.com/ivr-gateway/ivr/internal/redisconn"
	"github.com/ivr-gateway/ivr/prompts"
)

// Problem is one thing wrong with a configuration, found before start-up.
type Problem struct {
	// Var is the environment variable that fixes it ("IVR_PUBLIC_URL"), so
	// a caller can order problems as its documentation lists the variables.
	Var string
	// Msg is one line saying what is wrong and what is wanted; it starts
	// with Var and never holds a secret.
	Msg string
}

// ConfigError is every problem New found, so an operator fixes them all
// after one attempt instead of one per restart. Its message is one line per
// problem.
type ConfigError struct{ Problems []Problem }

func (e *ConfigError) Error() string {
	if len(e.Problems) == 1 {
		return "configuration: " + e.Problems[0].Msg
	}
	var b strings.Builder
	fmt.Fprintf(&b, "configuration: %d problems:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.Msg)
	}
	return b.String()
}

// staticProblems are the problems visible in cfg itself, in the order of
// the README's configuration table.
func (cfg Config) staticProblems() []Problem {
	var out []Problem
	add := func(v, format string, args ...any) { out = append(out, Problem{v, fmt.Sprintf(format, args...)}) }
	if msg := checkPublicURL(cfg.PublicURL); msg != "" {
		add("IVR_PUBLIC_URL", "%s", msg)
	}
	if cfg.AuthToken == "" {
		add("TWILIO_AUTH_TOKEN", "TWILIO_AUTH_TOKEN is not set: it is needed to check X-Twilio-Signature (the account's primary auth token)")
	}
	if cfg.Redis == nil && cfg.RedisURL == "" && (cfg.RedisMode == redisconn.ModeCluster || cfg.RedisMode == redisconn.ModeSentinel) {
		add("REDIS_URL", "REDIS_URL is not set: IVR_REDIS_MODE=%s needs REDIS_URL naming the seed nodes", cfg.RedisMode)
	}
	if cfg.AuthIssuer == "" && cfg.Resource == "" {
		add("IVR_AUTH_ISSUER", "IVR_AUTH_ISSUER (or IVR_RESOURCE alone) is not set: the gateway needs an authorization server")
	}
	if cfg.Resource != "" {
		if u, err := url.Parse(cfg.Resource); err != nil || !u.IsAbs() || strings.Contains(cfg.Resource, "#") {
			add("IVR_RESOURCE", "IVR_RESOURCE=%q is not an absolute URI without a fragment (the MCP server's URL)", cfg.Resource)
		}
	}
	if cfg.ClientID == "" {
		add("IVR_CLIENT_ID", "IVR_CLIENT_ID is not set: the gateway's client at the authorization server")
	}
	if cfg.ClientSecret == "" {
		add("IVR_CLIENT_SECRET", "IVR_CLIENT_SECRET is not set: the gateway authenticates with client_secret_basic")
	}
	if len(cfg.SessionKey) == 0 {
		add("IVR_SESSION_KEY", "IVR_SESSION_KEY is not set: 32 random bytes in base64 seal answers in Redis (make one with `openssl rand -base64 32`)")
	} else if len(cfg.SessionKey) != 32 {
		add("IVR_SESSION_KEY", "IVR_SESSION_KEY must be 32 random bytes in base64 (got %d bytes; make one with `openssl rand -base64 32`)", len(cfg.SessionKey))
	}
	if cfg.CallerLimit < 0 {
		add("IVR_CALLER_LIMIT", "IVR_CALLER_LIMIT=%d: want a positive number (0: the default, 6)", cfg.CallerLimit)
	}
	if cfg.MaxAttempts < 0 {
		add("IVR_MAX_ATTEMPTS", "IVR_MAX_ATTEMPTS=%d: want a positive number (0: the default, 3)", cfg.MaxAttempts)
	}
	if cfg.HandoffURL != "" {
		if u, err := url.Parse(cfg.HandoffURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			add("IVR_HANDOFF_URL", "IVR_HANDOFF_URL=%q is not an http(s) URL (Twilio <Redirect>s the verified call there)", cfg.HandoffURL)
		}
	}
	if cfg.TokenGrace < 0 {
		add("IVR_TOKEN_GRACE", "IVR_TOKEN_GRACE=%s: want 0 or more", cfg.TokenGrace)
	}
	if cat, err := prompts.Load("en-US"); err == nil {
		for _, l := range cfg.Languages {
			if !cat.Has(l) {
				add("IVR_LANGUAGES", "IVR_LANGUAGES: language %q has no prompt catalogue (have %s)", l, strings.Join(cat.Languages(), ", "))
			}
		}
	}
	if cfg.VerifyWait < 0 {
		add("IVR_VERIFY_WAIT", "IVR_VERIFY_WAIT=%s: want 0 or more", cfg.VerifyWait)
	}
	switch cfg.Transport {
	case "", "gather", "stream", "relay":
	default:
		add("IVR_TRANSPORT", "IVR_TRANSPORT=%q: want gather, stream or relay", cfg.Transport)
	}
	return out
}

// checkPublicURL says what is wrong with IVR_PUBLIC_URL, "" when nothing.
// A trailing slash is not wrong: New drops it (see publicURL).
func checkPublicURL(s string) string {
	if s == "" {
		return "IVR_PUBLIC_URL is not set: it is the URL Twilio signs and the base of TwiML URLs (e.g. https://ivr.example.org)"
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Sprintf("IVR_PUBLIC_URL=%q is not a base URL such as https://ivr.example.org (scheme and host, no query)", s)
	}
	return ""
}

// publicURL drops trailing slashes from IVR_PUBLIC_URL, saying so: the
// gateway appends "/twilio/..." to it, and Twilio signs the URL as the
// console shows it, which has no "//". Refusing it instead would stop a
// gateway for a slash whose meaning is not in doubt.
func publicURL(s string, log *slog.Logger) string {
	t := strings.TrimRight(s, "/")
	if t != s && checkPublicURL(t) == "" {
		log.Warn("IVR_PUBLIC_URL ends with a slash; using it without one (set it as Twilio's console shows the host)", "public_url", t)
		return t
	}
	return s
}

// connectAS discovers the authorization server and, when check is set,
// has it authenticate the gateway's client once (authclient's
// CheckCredentials), so a wrong IVR_CLIENT_SECRET stops start-up instead of
// failing the first caller. learn is told the metadata before the probe is
// sent, so the probe is counted under its endpoint. A probe that decides
// nothing (the AS answers 5xx, or not at all) is a warning only: the AS may
// be down for a moment, and /readyz reports it.
func connectAS(ctx context.Context, cfg Config, hc *http.Client, check bool, learn func(*authclient.Metadata), log *slog.Logger) (*authclient.Metadata, *authclient.Client, []Problem) {
	var (
		md  *authclient.Metadata
		err error
		v   = "IVR_AUTH_ISSUER"
	)
	switch {
	case cfg.AuthIssuer != "":
		md, err = authclient.Discover(ctx, hc, cfg.AuthIssuer)
	case cfg.Resource != "":
		v = "IVR_RESOURCE"
		md, err = authclient.DiscoverFromResource(ctx, hc, cfg.Resource)
	default:
		return nil, nil, nil // a static problem already
	}
	if err != nil {
		return nil, nil, []Problem{{v, fmt.Sprintf("%s: authorization server: %v", v, err)}}
	}
	learn(md)
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return md, nil, nil // a static problem already
	}
	ac, err := authclient.New(authclient.Config{
		Metadata: md, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
		Scope: cfg.Scope, Resource: cfg.Resource, HTTPClient: hc, Now: cfg.Now,
	})
	if err != nil {
		return md, nil, []Problem{{v, fmt.Sprintf("%s: authorization server: %v", v, err)}}
	}
	if !check {
		return md, ac, nil
	}
	switch err := ac.CheckCredentials(ctx); {
	case err == nil:
	case errors.Is(err, authclient.ErrBadCredentials):
		return md, ac, []Problem{{"IVR_CLIENT_SECRET", fmt.Sprintf(
			"IVR_CLIENT_SECRET (or IVR_CLIENT_ID): the authorization server refused the client (%v); they must name a client registered there", err)}}
	case errors.Is(err, authclient.ErrMisconfigured):
		return md, ac, []Problem{{"IVR_CLIENT_ID", fmt.Sprintf(
			"IVR_CLIENT_ID: the authorization server accepts the client but refuses what the gateway needs of it (%v)", err)}}
	default:
		log.Warn("could not check the client credentials at the authorization server; starting anyway", "err", err)
	}
	return md, ac, nil
}

// merge adds New's own problems to the caller's, leaving out those about a
// variable the caller already reported: its finding (a session key that is
// not base64) says more than New's (a key of the wrong length).
func merge(caller, own []Problem) []Problem {
	out := append([]Problem(nil), caller...)
	reported := map[string]bool{}
	for _, p := range caller {
		reported[p.Var] = true
	}
	for _, p := range own {
		if !reported[p.Var] {
			out = append(out, p)
		}
	}
	return out
}
