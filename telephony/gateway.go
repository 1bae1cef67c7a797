// Package telephony is everything Twilio: the voice webhooks, TwiML, request
// signatures and Media Streams (stream.go). Twilio's names and types stop here:
// the dialog sees events and returns actions, the store sees sessions.
package telephony

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ivr-gateway/ivr/authclient"
	"github.com/ivr-gateway/ivr/dialog"
	"github.com/ivr-gateway/ivr/kba"
	"github.com/ivr-gateway/ivr/prompts"
	"github.com/ivr-gateway/ivr/store"
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
	// TokenGrace is how long a call's token stays readable after the call
	// ends (IVR_TOKEN_GRACE); it is revoked at the AS at once either way.
	TokenGrace time.Duration
	// RequestTimeout bounds a webhook's own work, so that Twilio (15 s) always
	// gets TwiML well within the contract's 10 s. Default 8 s.
	RequestTimeout time.Duration
	// VerifyWait is how long a webhook waits for the AS before putting the
	// caller on hold and polling. Default 5 s.
	VerifyWait time.Duration
	// VerifyTimeout bounds one whole verification (challenge + token). Default 20 s.
	VerifyTimeout time.Duration
	// HoldPause is the <Pause> between polls while on hold. Default 2 s.
	HoldPause time.Duration
	// Transport is how keypad questions are asked (IVR_TRANSPORT):
	// "gather" (or "") by <Gather>, "stream" over a Media Stream
	// (<Connect><Stream>, GET /twilio/stream; see stream.go).
	Transport string
}

func (c *Config) voice(cat *prompts.Catalogue, lang kba.Lang) string {
	if v := c.Voices[string(lang)]; v != "" {
		return v
	}
	return cat.Lookup(string(lang)).Voice
}

// Sessions is what the gateway needs of the call store.
type Sessions interface {
	Load(ctx context.Context, callSid string) (store.Session, error)
	Save(ctx context.Context, sess store.Session, prevStep int64, x store.SaveExtras) error
	EndCall(ctx context.Context, callSid string, grace time.Duration) (*store.Token, error)
	AllowCaller(ctx context.Context, number string) (bool, error)
}

// Verifier is what the gateway needs of the authorization server client.
type Verifier interface {
	Verify(ctx context.Context, a authclient.Answers) authclient.Result
	Revoke(ctx context.Context, token string) error
}

// Deps are the gateway's collaborators.
type Deps struct {
	Machine  *dialog.Machine
	Prompts  *prompts.Catalogue
	Sessions Sessions
	Verifier Verifier
	Logger   *slog.Logger
	Metrics  *Metrics
	Now      func() time.Time
	// Clock drives the Media Streams timers (prompt pacing, key timeouts);
	// nil is the wall clock. Audio gives the prompts' μ-law clips; nil is
	// the embedded set (prompts/audio). Both are used by the stream transport only.
	Clock Clock
	Audio PromptAudio
}

// Gateway serves Twilio's webhooks.
type Gateway struct {
	cfg      Config
	machine  *dialog.Machine
	cat      *prompts.Catalogue
	sessions Sessions
	verifier Verifier
	log      *slog.Logger
	metrics  *Metrics
	now      func() time.Time
	sig      *signatureChecker
	clock    Clock       // Media Streams timers
	audio    PromptAudio // Media Streams prompts
	streams  streamSet   // live Media Streams, closed on Shutdown

	// Verifications outlive the webhook that started them when the AS is
	// slow; they run under bg and are waited for on Shutdown.
	bg       context.Context
	bgCancel context.CancelFunc
	bgWG     sync.WaitGroup
}

// New checks the configuration and returns a gateway.
func New(cfg Config, d Deps) (*Gateway, error) {
	switch {
	case cfg.AuthToken == "":
		return nil, errors.New("telephony: no Twilio auth token (TWILIO_AUTH_TOKEN)")
	case !strings.HasPrefix(cfg.PublicURL, "https://") && !strings.HasPrefix(cfg.PublicURL, "http://"):
		return nil, fmt.Errorf("telephony: public URL %q is not an http(s) URL (IVR_PUBLIC_URL)", cfg.PublicURL)
	case d.Machine == nil || d.Prompts == nil || d.Sessions == nil || d.Verifier == nil:
		return nil, errors.New("telephony: missing dependency")
	case cfg.Transport != "" && cfg.Transport != TransportGather && cfg.Transport != TransportStream:
		return nil, fmt.Errorf("telephony: transport %q is neither %q nor %q (IVR_TRANSPORT)", cfg.Transport, TransportGather, TransportStream)
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 8 * time.Second
	}
	if cfg.VerifyWait <= 0 {
		cfg.VerifyWait = 5 * time.Second
	}
	if cfg.VerifyTimeout <= 0 {
		cfg.VerifyTimeout = 20 * time.Second
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
		cfg: cfg, machine: d.Machine, cat: d.Prompts, sessions: d.Sessions, verifier: d.Verifier,
		log: d.Logger, metrics: d.Metrics, now: d.Now, sig: newSignatureChecker(cfg.AuthToken),
		clock: d.Clock, audio: d.Audio,
	}
	g.bg, g.bgCancel = context.WithCancel(context.Background())
	return g, nil
}

// Handler serves every /twilio/ route.
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /twilio/voice", g.webhook("voice", g.voice))
	mux.Handle("POST /twilio/gather", g.webhook("gather", g.gather))
	mux.Handle("POST /twilio/poll", g.webhook("poll", g.poll))
	mux.Handle("POST /twilio/status", g.webhook("status", g.status))
	// Media Streams (stream.go): the WebSocket, and the <Connect action>
	// Twilio requests when we close it.
	mux.HandleFunc("GET /twilio/stream", g.stream)
	mux.Handle("POST /twilio/stream-done", g.webhook("stream-done", g.streamDone))
	// Every other /twilio/ request (another path, another method) is
	// checked too: unsigned gets 403 like everywhere under /twilio/ (contract
	// §1), signed gets 404.
	mux.HandleFunc("/twilio/", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := g.authenticate(w, r); !ok {
			g.metrics.signatureFailures.Inc()
			w.WriteHeader(http.StatusForbidden)
			return
		}
		http.NotFound(w, r)
	})
	return mux
}

// Shutdown closes live Media Streams (their calls go on with the TwiML after
// <Connect>), waits for verifications still running in the background
// (their results must reach Redis), then cancels them when ctx ends.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.streams.closeAll()
	done := make(chan struct{})
	go func() { g.streams.wg.Wait(); g.bgWG.Wait(); close(done) }()
	select {
	case <-done:
		g.bgCancel()
		return nil
	case <-ctx.Done():
		g.bgCancel()
		<-done
		return ctx.Err()
	}
}
