// Package app assembles the gateway from its parts: Redis, the
// authorization server client, the store, the dialog, the Twilio webhooks,
// the agent API, health and metrics. `ivr serve`, `ivr demo`, `ivr replay`
// and the end-to-end tests all build the same thing through New.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/ivr-gateway/ivr/agentapi"
	"github.com/ivr-gateway/ivr/authclient"
	"github.com/ivr-gateway/ivr/callflow"
	"github.com/ivr-gateway/ivr/dialog"
	"github.com/ivr-gateway/ivr/internal/redisconn"
	"github.com/ivr-gateway/ivr/internal/tracing"
	"github.com/ivr-gateway/ivr/kba"
	"github.com/ivr-gateway/ivr/prompts"
	"github.com/ivr-gateway/ivr/store"
	"github.com/ivr-gateway/ivr/telephony"
)

// Config is everything `ivr serve` is configured with (the README's
// configuration table). cmd/ivr fills it from flags and the environment.
type Config struct {
	PublicURL                 string
	AccountSID, AuthToken     string
	RedisURL                  string // "": an embedded in-process Redis
	RedisMode                 string // IVR_REDIS_MODE: "single" (""), "cluster" or "sentinel" (internal/redisconn)
	RedisPrefix               string
	AuthIssuer                string // or Resource alone (RFC 9728 discovery)
	ClientID, ClientSecret    string
	Scope, Resource           string
	AgentKeys                 []string // IVR_AGENT_KEYS entries, "name:key" or "key"
	AgentMaxWaiters           int      // IVR_AGENT_MAX_WAITERS; 0: 1000
	SessionKey                []byte
	PreviousSessionKeys       [][]byte // IVR_SESSION_KEY_PREVIOUS: still open what they sealed
	CallerLimit               int
	HandoffURL, HandoffNumber string
	FallbackNumber            string
	MaxAttempts               int
	TokenGrace                time.Duration
	OrgName                   string
	Languages                 []string // offered at the greeting; first is the default
	Voices                    map[string]string
	VerifyWait, VerifyTimeout time.Duration
	LeaseTTL                  time.Duration // a verification's lease (callflow.Config); 0: 6 s
	HoldPause                 time.Duration
	Transport                 string                // IVR_TRANSPORT: "gather" (default), "stream" or "relay"
	MaxStreams                int                   // IVR_MAX_STREAMS: live WebSocket sessions per instance; 0: 1000
	SocketClock               telephony.Clock       // the WebSocket transports' timers; nil: the wall clock (tests run it faster)
	HTTPClient                *http.Client          // for the AS; default: 10 s timeout
	Redis                     redis.UniversalClient // overrides RedisURL (tests)
	Now                       func() time.Time
	Registry                  *prometheus.Registry // default: a new one with Go and process collectors
	// TracerProvider traces webhooks, agent-API requests, dialog steps,
	// verifications, AS requests and Redis commands (internal/tracing); New
	// adds its Redis hook to the client it uses, Config.Redis included.
	// nil: no tracing, at no cost.
	TracerProvider trace.TracerProvider
	// CheckClient has New authenticate the client at the AS once
	// (authclient's CheckCredentials), so a wrong IVR_CLIENT_SECRET stops
	// start-up; `ivr serve` and `ivr demo` set it. Tests that count AS
	// requests leave it off.
	CheckClient bool
	// Problems are what the caller found wrong in its own parsing (flags,
	// environment); New reports them together with its own in one
	// *ConfigError.
	Problems []Problem
}

// App is the assembled gateway.
type App struct {
	Handler  http.Handler
	Engine   *callflow.Engine
	Gateway  *telephony.Gateway
	Store    *store.Store
	Redis    redis.UniversalClient
	Registry *prometheus.Registry
	Metadata *authclient.Metadata

	mini      *miniredis.Miniredis
	ownsRDB   bool
	redisMode string // reported by /readyz
	probeKey  string // its slot picks the cluster node /readyz asks

	draining    atomic.Bool
	readyMu     sync.Mutex
	readyAt     time.Time
	readyStatus int
	readyBody   []byte
	log         *slog.Logger
	hc          *http.Client
}

// New builds the gateway. A configuration that cannot work (no auth token,
// AS metadata unreachable or incomplete, bad session key, a client the AS
// refuses when Config.CheckClient is set) is a *ConfigError listing every
// such problem, one line each.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*App, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Every problem found before start-up is reported at once.
	problems := merge(cfg.Problems, cfg.staticProblems())
	cfg.PublicURL = publicURL(cfg.PublicURL, log)
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	if cfg.HTTPClient != nil {
		*hc = *cfg.HTTPClient
	}
	ast := newASTransport(hc.Transport, reg)
	hc.Transport = tracing.Transport(ast, cfg.TracerProvider, ast.spanName)
	md, ac, asProblems := connectAS(ctx, cfg, hc, cfg.CheckClient, ast.learn, log)
	if problems = merge(problems, asProblems); len(problems) > 0 {
		return nil, &ConfigError{Problems: problems}
	}

	a := &App{Metadata: md, log: log, hc: hc}
	var err error
	switch {
	case cfg.Redis != nil:
		a.Redis = cfg.Redis
	case cfg.RedisURL == "":
		var c *redis.Client
		if a.mini, c, err = redisconn.Embedded(); err != nil {
			return nil, err
		}
		log.Warn("REDIS_URL is not set: using an embedded in-process Redis; state is lost on restart and not shared between instances")
		a.Redis, a.ownsRDB = c, true
	default:
		// single, cluster or sentinel, with the deadlines and failover
		// retries of internal/redisconn.
		if a.Redis, err = redisconn.Open(cfg.RedisURL, cfg.RedisMode); err != nil {
			return nil, err
		}
		a.ownsRDB = true
	}
	if err := tracing.Redis(a.Redis, cfg.TracerProvider); err != nil {
		a.Close()
		return nil, err
	}
	a.redisMode = redisconn.ModeOf(a.Redis)
	a.probeKey = cfg.RedisPrefix + "readyz"
	a.Store, err = store.New(a.Redis, store.Options{
		Prefix: cfg.RedisPrefix, SessionKey: cfg.SessionKey, PreviousSessionKeys: cfg.PreviousSessionKeys,
		CallerLimit: cfg.CallerLimit, Now: cfg.Now,
	})
	if err != nil {
		a.Close()
		return nil, err
	}
	cat, err := prompts.Load("en-US")
	if err != nil {
		a.Close()
		return nil, err
	}
	langs := make([]kba.Lang, 0, len(cfg.Languages))
	for _, l := range cfg.Languages {
		if !cat.Has(l) {
			a.Close()
			return nil, fmt.Errorf("language %q has no prompt catalogue (have %s)", l, strings.Join(cat.Languages(), ", "))
		}
		langs = append(langs, kba.Lang(l))
	}
	machine := dialog.New(dialog.Config{
		Languages: langs, MaxAttempts: cfg.MaxAttempts, HasFallback: cfg.FallbackNumber != "",
	})
	a.Registry = reg
	metrics := telephony.NewMetrics(a.Registry)
	a.Engine, err = callflow.New(callflow.Config{
		VerifyWait: cfg.VerifyWait, VerifyTimeout: cfg.VerifyTimeout, TokenGrace: cfg.TokenGrace, LeaseTTL: cfg.LeaseTTL,
	}, callflow.Deps{
		Machine: machine, Store: a.Store, Verifier: asVerifier{ac}, Observer: metrics, Logger: log, Now: cfg.Now,
		TracerProvider: cfg.TracerProvider,
	})
	if err != nil {
		a.Close()
		return nil, err
	}
	a.Gateway, err = telephony.New(telephony.Config{
		PublicURL: cfg.PublicURL, AuthToken: cfg.AuthToken, OrgName: cfg.OrgName, Voices: cfg.Voices,
		HandoffURL: cfg.HandoffURL, HandoffNumber: cfg.HandoffNumber, FallbackNumber: cfg.FallbackNumber,
		HoldPause: cfg.HoldPause, Transport: cfg.Transport, Secret: cfg.SessionKey, MaxSockets: cfg.MaxStreams,
	}, telephony.Deps{
		Engine: a.Engine, Prompts: cat, Logger: log, Metrics: metrics, Now: cfg.Now, Sockets: a.Store,
		Clock: cfg.SocketClock,
	})
	if err != nil {
		a.Close()
		return nil, err
	}
	api, err := agentapi.New(agentapi.Config{
		Keys: cfg.AgentKeys, MaxWaiters: cfg.AgentMaxWaiters, Logger: log, Registerer: a.Registry,
	}, a.Store)
	if err != nil {
		a.Close()
		return nil, err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", a.ready)
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.Registry, promhttp.HandlerOpts{}))
	// The gateway and the agent API answer their own paths, even those a
	// mux would redirect (a signature or a key is checked first).
	a.Handler = tracing.Gateway(api.Wrap(a.Gateway.Wrap(mux)), cfg.TracerProvider)
	return a, nil
}

// ready reports whether Redis can serve (redisconn.Ready: a PING, or on a
// cluster CLUSTER INFO of one primary saying cluster_state:ok) and the AS
// metadata is reachable, and names the Redis mode. The answer is kept for
// readyTTL, so probes (and anyone else who can reach the listener) cannot
// turn it into traffic at the AS or Redis.
func (a *App) ready(w http.ResponseWriter, r *http.Request) {
	if a.draining.Load() {
		// Going away: a balancer must stop sending before the listener
		// closes (Drain), whatever Redis and the AS say.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"status":"draining"}` + "\n"))
		return
	}
	a.readyMu.Lock()
	if time.Since(a.readyAt) > readyTTL {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		checks := map[string]string{"redis": "ok", "redis_mode": a.redisMode, "authorization_server": "ok"}
		status := http.StatusOK
		if err := redisconn.Ready(ctx, a.Redis, a.probeKey); errors.Is(err, redisconn.ErrNotServing) {
			checks["redis"], status = "not_serving", http.StatusServiceUnavailable
		} else if err != nil {
			checks["redis"], status = "unreachable", http.StatusServiceUnavailable
		}
		if _, err := authclient.Discover(ctx, a.hc, a.Metadata.Issuer); err != nil {
			checks["authorization_server"], status = "unreachable", http.StatusServiceUnavailable
		}
		cancel()
		a.readyBody, _ = json.Marshal(checks)
		a.readyStatus, a.readyAt = status, time.Now()
	}
	body, status := a.readyBody, a.readyStatus
	a.readyMu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

const readyTTL = 2 * time.Second

// Drain makes /readyz answer 503 from now on: the first step of a graceful
// shutdown, so that a load balancer takes the instance out of its pool
// while it still answers what is sent to it.
func (a *App) Drain() { a.draining.Store(true) }

// Shutdown closes live streams, lets verifications still running finish
// (their results must reach Redis) until ctx ends, then closes the store and
// Redis. A verification cut short is taken over by another instance.
func (a *App) Shutdown(ctx context.Context) error {
	err := a.Gateway.Shutdown(ctx)
	if eerr := a.Engine.Shutdown(ctx); err == nil {
		err = eerr
	}
	a.Close()
	return err
}

// Close releases Redis without waiting.
func (a *App) Close() {
	if a.Store != nil {
		a.Store.Close()
	}
	if a.ownsRDB && a.Redis != nil {
		a.Redis.Close()
	}
	if a.mini != nil {
		a.mini.Close()
	}
}
