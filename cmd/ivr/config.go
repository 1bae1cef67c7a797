package main

import (
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ivr-gateway/ivr/agentapi"
	"github.com/ivr-gateway/ivr/internal/app"
	"github.com/ivr-gateway/ivr/internal/logsink"
)

// environ reads the environment; flags take their defaults from it, so
// `ivr serve -h` shows each variable next to its flag.
type environ func(string) string

func (e environ) or(name, def string) string {
	if v := e(name); v != "" {
		return v
	}
	return def
}

// gatewayFlags are the settings of the README's configuration table,
// shared by serve and demo.
type gatewayFlags struct {
	addr, publicURL, accountSID, authToken, redisURL, redisPrefix string
	issuer, clientID, clientSecret, scope, resource               string
	agentKeys, sessionKey, handoffURL, handoffNumber, fallback    string
	orgName, languages, voices, logFormat, transport              string
	redisMode, sessionKeyPrevious                                 string
	callerLimit, maxAttempts, agentMaxWaiters, maxStreams         int
	tokenGrace, verifyWait, drainDelay                            time.Duration
	// problems are what reading the environment found wrong.
	problems []app.Problem
	// order lists the variables as the flags were declared, which is the
	// order of the README's configuration table: problems are reported in
	// it.
	order []string
}

func (g *gatewayFlags) problem(envName, format string, args ...any) {
	g.problems = append(g.problems, app.Problem{Var: envName, Msg: fmt.Sprintf(format, args...)})
}

func (g *gatewayFlags) intVar(fs *flag.FlagSet, p *int, name, envName string, def int, help string, env environ) {
	g.order = append(g.order, envName)
	v := def
	if s := env(envName); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			g.problem(envName, "%s=%q is not a number", envName, s)
		}
		v = n
	}
	fs.IntVar(p, name, v, help+" ("+envName+")")
}

func (g *gatewayFlags) durationVar(fs *flag.FlagSet, p *time.Duration, name, envName string, def time.Duration, help string, env environ) {
	g.order = append(g.order, envName)
	v := def
	if s := env(envName); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			g.problem(envName, "%s=%q is not a duration such as 30s", envName, s)
		}
		v = d
	}
	fs.DurationVar(p, name, v, help+" ("+envName+")")
}

// addGatewayFlags declares the gateway's flags in the order of the README's
// configuration table (a test keeps them so), each defaulting to its
// variable.
func addGatewayFlags(fs *flag.FlagSet, env environ) *gatewayFlags {
	g := &gatewayFlags{}
	str := func(p *string, name, envName, def, help string) {
		g.order = append(g.order, envName)
		fs.StringVar(p, name, env.or(envName, def), help+" ("+envName+")")
	}
	str(&g.addr, "addr", "IVR_ADDR", ":8080", "listen address")
	str(&g.publicURL, "public-url", "IVR_PUBLIC_URL", "", "base URL as Twilio reaches it; signatures and TwiML URLs use it")
	str(&g.accountSID, "twilio-account-sid", "TWILIO_ACCOUNT_SID", "", "Twilio account SID")
	str(&g.authToken, "twilio-auth-token", "TWILIO_AUTH_TOKEN", "", "Twilio auth token; checks X-Twilio-Signature")
	str(&g.redisURL, "redis-url", "REDIS_URL", "", "redis:// or rediss:// URL; empty: embedded in-process Redis")
	str(&g.redisMode, "redis-mode", "IVR_REDIS_MODE", "single", "single, cluster (REDIS_URL names seed nodes: redis://H:P?addr=H2:P2&...) or sentinel (sentinels and &master_name=NAME)")
	str(&g.redisPrefix, "redis-prefix", "IVR_REDIS_PREFIX", "ivr:", "prefix of every Redis key")
	str(&g.issuer, "auth-issuer", "IVR_AUTH_ISSUER", "", "authorization server issuer (RFC 8414 discovery)")
	str(&g.resource, "resource", "IVR_RESOURCE", "", "resource (the MCP server URL); alone, RFC 9728 discovery")
	str(&g.clientID, "client-id", "IVR_CLIENT_ID", "", "OAuth client id of the gateway")
	str(&g.clientSecret, "client-secret", "IVR_CLIENT_SECRET", "", "OAuth client secret (client_secret_basic); checked at the AS at start-up")
	str(&g.scope, "scope", "IVR_SCOPE", "", "scope requested for the caller")
	str(&g.agentKeys, "agent-keys", "IVR_AGENT_KEYS", "", "comma-separated bearer keys of the agent API, each name:key or key (named agent-N)")
	g.intVar(fs, &g.agentMaxWaiters, "agent-max-waiters", "IVR_AGENT_MAX_WAITERS", 1000, "agent API long-polls waiting at once; beyond it 429", env)
	str(&g.sessionKey, "session-key", "IVR_SESSION_KEY", "", "32-byte base64 key sealing answers and tokens in Redis")
	str(&g.sessionKeyPrevious, "session-key-previous", "IVR_SESSION_KEY_PREVIOUS", "", "comma-separated base64 keys that sealed before the current one (rotation): still opened, never used to seal")
	g.intVar(fs, &g.callerLimit, "caller-limit", "IVR_CALLER_LIMIT", 6, "verification attempts per caller number per hour", env)
	g.intVar(fs, &g.maxAttempts, "max-attempts", "IVR_MAX_ATTEMPTS", 3, "verification attempts per call", env)
	str(&g.handoffURL, "handoff-url", "IVR_HANDOFF_URL", "", "TwiML URL a verified call is redirected to")
	str(&g.handoffNumber, "handoff-number", "IVR_HANDOFF_NUMBER", "", "number a verified call is dialled to")
	str(&g.fallback, "fallback-number", "IVR_FALLBACK_NUMBER", "", "number of the humans a failed call is transferred to")
	g.durationVar(fs, &g.tokenGrace, "token-grace", "IVR_TOKEN_GRACE", 0, "how long a token stays readable after its call ends", env)
	str(&g.orgName, "org-name", "IVR_ORG_NAME", "our clinic", "organisation named in the greeting")
	str(&g.languages, "languages", "IVR_LANGUAGES", "en-US,es-US", "languages offered at the greeting, default first")
	str(&g.voices, "voices", "IVR_VOICES", "", "per-language <Say> voice overrides, e.g. en-US=Polly.Joanna,es-US=Polly.Lupe")
	g.durationVar(fs, &g.verifyWait, "verify-wait", "IVR_VERIFY_WAIT", 5*time.Second, "how long a webhook waits for the AS before putting the caller on hold", env)
	g.durationVar(fs, &g.drainDelay, "drain-delay", "IVR_DRAIN_DELAY", 5*time.Second, "on SIGTERM, how long /readyz answers 503 while the instance still serves, before the listener closes", env)
	str(&g.logFormat, "log-format", "IVR_LOG_FORMAT", "json", "log format: json or text")
	str(&g.transport, "transport", "IVR_TRANSPORT", "gather", "gather: every question by <Gather>; stream: keypad questions over Media Streams; relay: the whole call in a ConversationRelay session")
	g.intVar(fs, &g.maxStreams, "max-streams", "IVR_MAX_STREAMS", 1000, "live Media Streams or ConversationRelay sessions per instance; beyond it 503 before the upgrade", env)
	return g
}

// config turns the flags into the app's configuration. What it finds wrong
// travels in Config.Problems, for app.New to report with its own findings
// in one error (see sortProblems).
func (g *gatewayFlags) config() app.Config {
	key, err := base64.StdEncoding.DecodeString(g.sessionKey)
	if g.sessionKey != "" && err != nil {
		g.problem("IVR_SESSION_KEY", "IVR_SESSION_KEY is not base64: it must be 32 random bytes in base64 (e.g. `openssl rand -base64 32`)")
	}
	voices := map[string]string{}
	for _, kv := range splitList(g.voices) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			g.problem("IVR_VOICES", "IVR_VOICES: %q is not language=voice", kv)
			continue
		}
		voices[k] = v
	}
	var previous [][]byte
	for i, k := range splitList(g.sessionKeyPrevious) {
		b, err := base64.StdEncoding.DecodeString(k)
		if err != nil || len(b) != 32 {
			g.problem("IVR_SESSION_KEY_PREVIOUS", "IVR_SESSION_KEY_PREVIOUS: key %d is not 32 bytes in base64", i+1)
			continue
		}
		previous = append(previous, b)
	}
	switch g.redisMode {
	case "single", "cluster", "sentinel":
	default:
		g.problem("IVR_REDIS_MODE", "IVR_REDIS_MODE=%q: want single, cluster or sentinel", g.redisMode)
	}
	if err := agentapi.CheckKeys(splitList(g.agentKeys)); err != nil {
		g.problem("IVR_AGENT_KEYS", "%s", err.Error())
	}
	if g.agentMaxWaiters < 1 {
		g.problem("IVR_AGENT_MAX_WAITERS", "IVR_AGENT_MAX_WAITERS must be at least 1")
	}
	if g.maxStreams < 1 {
		g.problem("IVR_MAX_STREAMS", "IVR_MAX_STREAMS must be at least 1")
	}
	if g.logFormat != "json" && g.logFormat != "text" {
		g.problem("IVR_LOG_FORMAT", "IVR_LOG_FORMAT=%q: want json or text", g.logFormat)
	}
	switch g.transport {
	case "gather", "stream", "relay":
	default:
		g.problem("IVR_TRANSPORT", "IVR_TRANSPORT=%q: want gather, stream or relay", g.transport)
	}
	return app.Config{
		PublicURL: g.publicURL, AccountSID: g.accountSID, AuthToken: g.authToken,
		RedisURL: g.redisURL, RedisMode: g.redisMode, RedisPrefix: g.redisPrefix, PreviousSessionKeys: previous,
		AuthIssuer: g.issuer, ClientID: g.clientID, ClientSecret: g.clientSecret, Scope: g.scope, Resource: g.resource,
		AgentKeys: splitList(g.agentKeys), AgentMaxWaiters: g.agentMaxWaiters, SessionKey: key, CallerLimit: g.callerLimit,
		HandoffURL: g.handoffURL, HandoffNumber: g.handoffNumber, FallbackNumber: g.fallback,
		MaxAttempts: g.maxAttempts, TokenGrace: g.tokenGrace, OrgName: g.orgName,
		Languages: splitList(g.languages), Voices: voices, VerifyWait: g.verifyWait, Transport: g.transport, MaxStreams: g.maxStreams,
		CheckClient: true, Problems: g.problems,
	}
}

// sortProblems puts the problems of app.New's error in the order of the
// README's configuration table (the flags' order); others go last.
func (g *gatewayFlags) sortProblems(err error) error {
	var ce *app.ConfigError
	if !errors.As(err, &ce) {
		return err
	}
	rank := func(v string) int {
		if i := slices.Index(g.order, v); i >= 0 {
			return i
		}
		return len(g.order)
	}
	slices.SortStableFunc(ce.Problems, func(a, b app.Problem) int { return rank(a.Var) - rank(b.Var) })
	return ce
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// newServingLogger is newLogger for a server's hot path: lines are
// buffered and written out every 100 ms (warnings and errors at once), so
// a webhook does not pay a write system call for its log line. close writes
// out what is left.
func newServingLogger(format string, w io.Writer) (log *slog.Logger, close func()) {
	sink := logsink.New(w, 0)
	var h slog.Handler = slog.NewJSONHandler(sink, nil)
	if format == "text" {
		h = slog.NewTextHandler(sink, nil)
	}
	return slog.New(sink.Handler(h)), func() { sink.Close() }
}

func newLogger(format string, w io.Writer) *slog.Logger {
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, nil))
	}
	return slog.New(slog.NewJSONHandler(w, nil))
}
