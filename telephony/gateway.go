// Package telephony is everything Twilio: the voice webhooks, TwiML, request
// signatures, Media Streams (stream.go) and ConversationRelay (relay.go). Twilio's names and types stop here:
// the dialog sees events and returns actions, the store sees sessions.
package telephony

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/ivr-gateway/ivr/callflow"
	"github.com/ivr-gateway/ivr/dialog"
	"github.com/ivr-gateway/ivr/kba"
	"github.com/ivr-gateway/ivr/prompts"
)

// Config is the gateway's Twilio-facing configuration.
type Config struct {
	// PublicURL is the base URL as Twilio reaches it (IVR_PUBLIC_URL): the
	// URL signatures are checked against, and the base of every URL in TwiML.
	PublicURL string
	// AuthToken is the Twilio auth token (TWILIO_AUTH_TOKEN).
	AuthToken string
	// OrgName is said in the greeting.
	OrgName string
	// Voices overrides the catalogue's <Say> voice per language code.
	Voices map[string]string
	// HandoffURL (a <Redirect>) or HandoffNumber (a <Dial>) takes a verified
	// call; FallbackNumber takes a failed one (IVR_HANDOFF_URL,
	// IVR_HANDOFF_NUMBER, IVR_FALLBACK_NUMBER).
	HandoffURL, HandoffNumber, FallbackNumber string
	// RequestTimeout bounds a webhook's own work, so that Twilio (15 s) always
	// gets TwiML well within the contract's 10 s. Default 8 s.
	RequestTimeout time.Duration
	// StreamVerifyWait is how long a WebSocket session waits for a
	// verification (playing the hold prompt meanwhile); it has no webhook
	// deadline to meet. Default 25 s, past the engine's verification bound.
	StreamVerifyWait time.Duration
	// HoldPause is the <Pause> between polls while on hold. Default 2 s.
	HoldPause time.Duration
	// Secret keys the caller references and the WebSocket bindings
	// (derived from IVR_SESSION_KEY; at least 32 bytes). Required.
	Secret []byte
	// MaxSockets caps the live WebSocket sessions (Media Streams,
	// ConversationRelay) of this instance (IVR_MAX_STREAMS); past it the
	// upgrade is refused with 503. Default 1000.
	MaxSockets int
	// Transport is how questions are asked (IVR_TRANSPORT): "gather" (or
	// "") by <Gather>, "stream" the keypad ones over a Media Stream
	// (<Connect><Stream>, GET /twilio/stream; see stream.go), "relay" all
	// of them in a ConversationRelay session (<Connect><ConversationRelay>,
	// GET /twilio/relay; see relay.go).
	Transport string
}

func (c *Config) voice(cat *prompts.Catalogue, lang kba.Lang) string {
	if v := c.Voices[string(lang)]; v != "" {
		return v
	}
	return cat.Lookup(string(lang)).Voice
}

// Deps are the gateway's collaborators.
type Deps struct {
	// Engine advances the calls; the gateway only adapts Twilio to it.
	Engine  *callflow.Engine
	Prompts *prompts.Catalogue
	Logger  *slog.Logger
	// Metrics must be the engine's Observer too, so one registry holds
	// both (NewMetrics).
	Metrics *Metrics
	// Sockets keeps one live WebSocket session per call across instances
	// (store.Store); nil admits every bound session.
	Sockets SocketClaims
	Now     func() time.Time
	// Clock drives the Media Streams timers (prompt pacing, key timeouts);
	// nil is the wall clock. Audio gives the prompts' μ-law clips; nil is
	// the embedded set (prompts/audio). Both are used by the stream transport only.
	Clock Clock
	Audio PromptAudio
}

// Gateway serves Twilio's webhooks.
type Gateway struct {
	cfg     Config
	engine  *callflow.Engine
	machine *dialog.Machine
	cat     *prompts.Catalogue
	log     *slog.Logger
	metrics *Metrics
	now     func() time.Time
	sig     *signatureChecker
	clock   Clock       // Media Streams timers
	audio   PromptAudio // Media Streams prompts
	live    liveSet     // live WebSocket sessions, closed on Shutdown
	twiml   twimlCache  // rendered documents, the step left open
	sockets SocketClaims
	// callerKey keys caller references (callerRefs computes them), bindKey
	// the WebSocket bindings.
	callerKey, bindKey []byte
	callerRefs         *callerRefs
}

// New checks the configuration and returns a gateway.
func New(cfg Config, d Deps) (*Gateway, error) {
	switch {
	case cfg.AuthToken == "":
		return nil, errors.New("telephony: no Twilio auth token (TWILIO_AUTH_TOKEN)")
	case !strings.HasPrefix(cfg.PublicURL, "https://") && !strings.HasPrefix(cfg.PublicURL, "http://"):
		return nil, fmt.Errorf("telephony: public URL %q is not an http(s) URL (IVR_PUBLIC_URL)", cfg.PublicURL)
	case len(cfg.Secret) < 32:
		return nil, errors.New("telephony: no secret (at least 32 bytes, from IVR_SESSION_KEY)")
	case d.Engine == nil || d.Prompts == nil:
		return nil, errors.New("telephony: missing dependency")
	case cfg.Transport != "" && cfg.Transport != TransportGather && cfg.Transport != TransportStream && cfg.Transport != TransportRelay:
		return nil, fmt.Errorf("telephony: transport %q is not %q, %q or %q (IVR_TRANSPORT)", cfg.Transport, TransportGather, TransportStream, TransportRelay)
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 8 * time.Second
	}
	if cfg.MaxSockets <= 0 {
		cfg.MaxSockets = 1000
	}
	if cfg.StreamVerifyWait <= 0 {
		cfg.StreamVerifyWait = 25 * time.Second
	}
	if cfg.HoldPause <= 0 {
		cfg.HoldPause = 2 * time.Second
	}
	if cfg.OrgName == "" {
		cfg.OrgName = "our clinic"
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Metrics == nil {
		d.Metrics = NewMetrics(nil)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Clock == nil {
		d.Clock = wallClock{}
	}
	if d.Audio == nil {
		d.Audio = embeddedAudio{}
	}
	g := &Gateway{
		cfg: cfg, engine: d.Engine, machine: d.Engine.Machine(), cat: d.Prompts,
		log: d.Logger, metrics: d.Metrics, now: d.Now, sig: newSignatureChecker(cfg.AuthToken),
		clock: d.Clock, audio: d.Audio, sockets: d.Sockets,
		callerKey: deriveKey(cfg.Secret, "caller-ref"), bindKey: deriveKey(cfg.Secret, "socket-binding"),
	}
	g.live.max = cfg.MaxSockets
	g.callerRefs = newCallerRefs(g.callerKey)
	return g, nil
}

// Handler serves every /twilio/ route.
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /twilio/voice", g.webhook("voice", g.voice))
	mux.Handle("POST /twilio/gather", g.webhook("gather", g.gather))
	mux.Handle("POST /twilio/poll", g.webhook("poll", g.poll))
	mux.Handle("POST /twilio/status", g.webhook("status", g.status))
	if g.cfg.Transport == TransportStream {
		// Media Streams (stream.go): the WebSocket, and the <Connect action>
		// Twilio requests when we close it. Mounted only when the transport
		// uses them: an unused WebSocket route is only attack surface.
		mux.HandleFunc("GET /twilio/stream", g.stream)
		mux.Handle("POST /twilio/stream-done", g.webhook("stream-done", g.streamDone))
	}
	if g.cfg.Transport == TransportRelay {
		// ConversationRelay (relay.go): the WebSocket, and the <Connect
		// action> Twilio requests when the session ends.
		mux.HandleFunc("GET /twilio/relay", g.relay)
		mux.Handle("POST /twilio/relay-done", g.webhook("relay-done", g.relayDone))
	}
	// Every other /twilio/ request (another path, another method) is
	// checked too: unsigned gets 403 like everywhere under /twilio/
	// (docs/routes.md), signed gets 404.
	other := func(w http.ResponseWriter, r *http.Request) {
		if _, ok := g.authenticate(w, r); !ok {
			g.metrics.signatureFailures.Inc()
			w.WriteHeader(http.StatusForbidden)
			return
		}
		http.NotFound(w, r)
	}
	mux.HandleFunc("/twilio/", other)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A path the mux would clean ("//", "/./", "/../") gets no
		// redirect: Twilio never asks for one, and an unsigned request
		// gets 403 whatever its path.
		if p := r.URL.Path; path.Clean(p) != p && path.Clean(p)+"/" != p {
			other(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// Wrap sends every request whose path is under /twilio/ (once cleaned) to
// the gateway, and the rest to next: an outer mux would otherwise answer
// "/twilio/../twilio/voice" with a redirect before any signature check.
func (g *Gateway) Wrap(next http.Handler) http.Handler {
	h := g.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(path.Clean("/"+r.URL.Path)+"/", "/twilio/") {
			h.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Shutdown closes live WebSocket sessions, Media Streams and
// ConversationRelay (their calls go on with the TwiML of the <Connect
// action>), and waits for them to end, or for ctx. The engine's background
// verifications are the engine's to drain (callflow.Engine.Shutdown).
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.live.closeAll()
	done := make(chan struct{})
	go func() { g.live.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		<-done
		return ctx.Err()
	}
}
