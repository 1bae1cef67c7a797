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
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/ivr-gateway/ivr/agentapi"
	"github.com/ivr-gateway/ivr/authclient"
	"github.com/ivr-gateway/ivr/dialog"
	"github.com/ivr-gateway/ivr/kba"
	"github.com/ivr-gateway/ivr/prompts"
	"github.com/ivr-gateway/ivr/store"
	"github.com/ivr-gateway/ivr/telephony"
)

// Config is everything `ivr serve` is configured with (contract §6). cmd/ivr
// fills it from flags and the environment.
type Config struct {
	PublicURL                 string
	AccountSID, AuthToken     string
	RedisURL                  string // "": an embedded in-process Redis
	RedisPrefix               string
	AuthIssuer                string // or Resource alone (RFC 9728 discovery)
	ClientID, ClientSecret    string
	Scope, Resource           string
	AgentKeys                 []string
	SessionKey                []byte
	CallerLimit               int
	HandoffURL, HandoffNumber string
	FallbackNumber            string
	MaxAttempts               int
	TokenGrace                time.Duration
	OrgName                   string
	Languages                 []string // offered at the greeting; first is the default
	Voices                    map[string]string
	VerifyWait, VerifyTimeout time.Duration
	HoldPause                 time.Duration
	Transport                 string                // IVR_TRANSPORT: "gather" (default) or "stream"
	HTTPClient                *http.Client          // for the AS; default: 10 s timeout
	Redis                     redis.UniversalClient // overrides RedisURL (tests)
	Now                       func() time.Time
	Registry                  *prometheus.Registry // default: a new one with Go and process collectors
}

// App is the assembled gateway.
type App struct {
	Handler  http.Handler
	Gateway  *telephony.Gateway
	Store    *store.Store
	Redis    redis.UniversalClient
	Registry *prometheus.Registry
	Metadata *authclient.Metadata

	mini    *miniredis.Miniredis
	ownsRDB bool

	readyMu     sync.Mutex
	readyAt     time.Time
	readyStatus int
	readyBody   []byte
	log         *slog.Logger
	hc          *http.Client
}

// New builds the gateway. A configuration that cannot work (no auth token,
// AS metadata unreachable or incomplete, bad session key) is one clear error.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*App, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.AuthToken == "" {
		return nil, errors.New("TWILIO_AUTH_TOKEN is not set: it is needed to check X-Twilio-Signature")
	}
	if cfg.PublicURL == "" {
		return nil, errors.New("IVR_PUBLIC_URL is not set: it is the URL Twilio signs and the base of TwiML URLs")
	}
	if len(cfg.SessionKey) != 32 {
		return nil, fmt.Errorf("IVR_SESSION_KEY must be 32 bytes in base64 (got %d bytes)", len(cfg.SessionKey))
	}
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
	hc.Transport = ast
	var (
		md  *authclient.Metadata
		err error
	)
	switch {
	case cfg.AuthIssuer != "":
		md, err = authclient.Discover(ctx, hc, cfg.AuthIssuer)
	case cfg.Resource != "":
		md, err = authclient.DiscoverFromResource(ctx, hc, cfg.Resource)
	default:
		err = errors.New("neither IVR_AUTH_ISSUER nor IVR_RESOURCE is set")
	}
	if err != nil {
		return nil, fmt.Errorf("authorization server: %w", err)
	}
	ast.learn(md)
	ac, err := authclient.New(authclient.Config{
		Metadata: md, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
		Scope: cfg.Scope, Resource: cfg.Resource, HTTPClient: hc, Now: cfg.Now,
	})
	if err != nil {
		return nil, err
	}

	a := &App{Metadata: md, log: log, hc: hc}
	switch {
	case cfg.Redis != nil:
		a.Redis = cfg.Redis
	case cfg.RedisURL == "":
		a.mini, err = miniredis.Run()
		if err != nil {
			return nil, fmt.Errorf("embedded redis: %w", err)
		}
		log.Warn("REDIS_URL is not set: using an embedded in-process Redis; state is lost on restart and not shared between instances")
		a.Redis, a.ownsRDB = redis.NewClient(&redis.Options{Addr: a.mini.Addr()}), true
	default:
		opt, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		// Webhooks have a deadline; without this go-redis keeps reading a
		// stalled reply past it (and retries it).
		opt.ContextTimeoutEnabled = true
		a.Redis, a.ownsRDB = redis.NewClient(opt), true
	}
	a.Store, err = store.New(a.Redis, store.Options{
		Prefix: cfg.RedisPrefix, SessionKey: cfg.SessionKey, CallerLimit: cfg.CallerLimit, Now: cfg.Now,
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
	a.Gateway, err = telephony.New(telephony.Config{
		PublicURL: cfg.PublicURL, AuthToken: cfg.AuthToken, OrgName: cfg.OrgName, Voices: cfg.Voices,
		HandoffURL: cfg.HandoffURL, HandoffNumber: cfg.HandoffNumber, FallbackNumber: cfg.FallbackNumber,
		TokenGrace: cfg.TokenGrace, VerifyWait: cfg.VerifyWait, VerifyTimeout: cfg.VerifyTimeout, HoldPause: cfg.HoldPause,
		Transport: cfg.Transport,
	}, telephony.Deps{
		Machine: machine, Prompts: cat, Sessions: a.Store, Verifier: ac,
		Logger: log, Metrics: telephony.NewMetrics(a.Registry), Now: cfg.Now,
	})
	if err != nil {
		a.Close()
		return nil, err
	}
	api := agentapi.New(agentapi.Config{Keys: cfg.AgentKeys, Logger: log}, a.Store)

	mux := http.NewServeMux()
	mux.Handle("/twilio/", a.Gateway.Handler())
	mux.Handle("/v1/", api.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", a.ready)
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.Registry, promhttp.HandlerOpts{}))
	a.Handler = mux
	return a, nil
}

// ready reports whether Redis answers and the AS metadata is reachable.
// The answer is kept for readyTTL, so probes (and anyone else who can reach
// the listener) cannot turn it into traffic at the AS.
func (a *App) ready(w http.ResponseWriter, r *http.Request) {
	a.readyMu.Lock()
	if time.Since(a.readyAt) > readyTTL {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		checks := map[string]string{"redis": "ok", "authorization_server": "ok"}
		status := http.StatusOK
		if err := a.Store.Ping(ctx); err != nil {
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

// Shutdown lets verifications still running finish (their results must
// reach Redis), then closes the store and Redis.
func (a *App) Shutdown(ctx context.Context) error {
	err := a.Gateway.Shutdown(ctx)
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
