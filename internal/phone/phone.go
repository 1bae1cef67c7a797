// Package phone is the demo's phone in the browser: a page at /phone with
// a dial button, a keypad, a box for what the caller says and the
// transcript of what the caller hears, and the small JSON API behind it.
//
// The page does not talk to the gateway itself. Each browser call is a
// twiliosim.Call held here, server-side, so a call from the page is what a
// call from `ivr call` is: signed webhooks, real TwiML, <Gather>, Media
// Streams or ConversationRelay, whichever transport the gateway runs with.
// When the call ends verified, the example agent (package agent) fetches
// the token and calls the MCP server's tools, and the page shows their
// results, as `ivr call` prints them.
//
// The API places real calls, so it is bounded: a cap on simultaneous
// browser calls, each hung up (with the status callback, as a caller's
// hang-up sends it) after an idle timeout or a longest call; one step of a
// call at a time. Nothing a caller typed or heard is logged or kept: a
// call's state is dropped when it ends, and every answer the page gets is
// marked no-store. Only `ivr demo` mounts it; `ivr serve` never does.
package phone

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ivr-gateway/ivr/internal/twiliosim"
	"github.com/ivr-gateway/ivr/prompts"
)

// Defaults of Config.
const (
	// DefaultFrom is the number browser calls come from: fictional, and
	// none of the demo patients' numbers, so the demo's per-caller limit
	// counts the page's calls apart from `ivr call`'s.
	DefaultFrom        = "+15555550142"
	DefaultMaxCalls    = 4
	DefaultIdleTimeout = 2 * time.Minute
	DefaultMaxDuration = 15 * time.Minute
)

const (
	// stepTimeout bounds one step of a call (a webhook round, or a wait in
	// a WebSocket session for the gateway's own timers), under the demo
	// listener's 45 s write timeout.
	stepTimeout = 40 * time.Second
	// agentTimeout bounds the agent's token fetch and MCP calls.
	agentTimeout = 30 * time.Second
	// hangupTimeout bounds the status callback of a call ended here.
	hangupTimeout = 5 * time.Second
)

// Config configures the phone.
type Config struct {
	// GatewayURL is where the simulated Twilio sends requests; PublicURL
	// is the gateway's IVR_PUBLIC_URL, which they are signed for (default
	// GatewayURL).
	GatewayURL, PublicURL string
	// AuthToken is the gateway's Twilio auth token.
	AuthToken string
	// AgentKey is an agent API key: the call's state is read with it, and
	// the agent fetches a verified call's token with it.
	AgentKey string
	// MCPURL is the MCP server the agent calls after a verified call; ""
	// skips the agent.
	MCPURL string
	// From is the caller number of every browser call (default DefaultFrom).
	From string
	// MaxCalls caps the browser calls in progress at once (default
	// DefaultMaxCalls); beyond it a dial is refused with 429.
	MaxCalls int
	// IdleTimeout hangs up a call the page has not stepped for this long
	// (default DefaultIdleTimeout); MaxDuration one that has lasted this
	// long (default DefaultMaxDuration).
	IdleTimeout, MaxDuration time.Duration
	// PauseScale scales TwiML <Pause> as twiliosim.Config.PauseScale does
	// (0: no sleep); `ivr demo` uses 1, the pauses a caller hears.
	PauseScale float64
	// StreamKeys is how keys are pressed on a Media Stream
	// (twiliosim.Config.StreamKeys; default dtmf events).
	StreamKeys string
	// HTTPClient sends the simulated Twilio's requests and the agent's;
	// nil: a default client.
	HTTPClient *http.Client
	// Logger gets a line per call placed and ended (call SID, how it
	// ended), never what the caller typed or heard. nil: discard.
	Logger *slog.Logger
	// Now is the clock of the idle timeout and the longest call; nil:
	// time.Now.
	Now func() time.Time
}

// Server is the phone: its page, its API and the browser calls in progress.
type Server struct {
	cfg     Config
	log     *slog.Logger
	prompts *prompts.Catalogue
	hosts   map[string]bool // besides loopback names, the Host names the API answers
	mux     *http.ServeMux

	ctx    context.Context // ends with Close: in-flight steps stop
	cancel context.CancelFunc

	mu     sync.Mutex
	calls  map[string]*session
	closed bool
}

// session is one browser call. mu serialises its steps, the idle timer
// and the end; a step holds it while the call runs.
type session struct {
	id      string
	mu      sync.Mutex
	call    *twiliosim.Call
	lang    string // the language last heard, for a Media Stream's prompts
	started time.Time
	active  time.Time // the last step's start
	timer   *time.Timer
	done    bool
}

// New checks cfg and returns the phone.
func New(cfg Config) (*Server, error) {
	if cfg.GatewayURL == "" || cfg.AuthToken == "" || cfg.AgentKey == "" {
		return nil, errors.New("phone: GatewayURL, AuthToken and AgentKey are required")
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = cfg.GatewayURL
	}
	pub, err := url.Parse(cfg.PublicURL)
	if err != nil || pub.Host == "" {
		return nil, fmt.Errorf("phone: PublicURL %q is not an absolute URL", cfg.PublicURL)
	}
	if cfg.From == "" {
		cfg.From = DefaultFrom
	}
	if cfg.MaxCalls <= 0 {
		cfg.MaxCalls = DefaultMaxCalls
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxDuration <= 0 {
		cfg.MaxDuration = DefaultMaxDuration
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cat, err := prompts.Load("en-US")
	if err != nil {
		return nil, fmt.Errorf("phone: %w", err)
	}
	s := &Server{
		cfg: cfg, log: cfg.Logger, prompts: cat, calls: map[string]*session{},
		hosts: map[string]bool{strings.ToLower(pub.Hostname()): true},
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.routes()
	return s, nil
}

// Handler serves the page and its API under /phone.
func (s *Server) Handler() http.Handler { return s.mux }

// Mount serves /phone and everything under it from the phone, and every
// other path from next (the demo's gateway).
func (s *Server) Mount(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/phone" || strings.HasPrefix(r.URL.Path, "/phone/") {
			s.mux.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Close hangs up every browser call (status callbacks sent while the
// gateway still listens) and refuses new ones.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	calls := make([]*session, 0, len(s.calls))
	for _, c := range s.calls {
		calls = append(calls, c)
	}
	s.mu.Unlock()
	s.cancel()
	for _, c := range calls {
		c.mu.Lock()
		s.drop(c, whyShutdown)
		c.mu.Unlock()
	}
}

// Calls reports how many browser calls are in progress.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// Errors of dial.
var (
	// errBusy: MaxCalls browser calls are in progress.
	errBusy = errors.New("phone: too many browser calls at once")
	// errClosed: the phone is shutting down.
	errClosed = errors.New("phone: shutting down")
)

// dial reserves a place for a call, places it and returns its first turn
// with the session locked (the caller unlocks it). It returns errBusy or
// errClosed when no call may be placed.
func (s *Server) dial() (*session, *twiliosim.Turn, error) {
	id, err := newID()
	if err != nil {
		return nil, nil, err
	}
	now := s.cfg.Now()
	c := &session{id: id, started: now, active: now, lang: "en-US"}
	// The place is taken before the call is placed, so MaxCalls holds
	// while dials run; the session is locked until its first turn is shown.
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return nil, nil, errClosed
	case len(s.calls) >= s.cfg.MaxCalls:
		s.mu.Unlock()
		return nil, nil, errBusy
	}
	c.mu.Lock() // before Close can see it
	s.calls[id] = c
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(s.ctx, stepTimeout)
	defer cancel()
	call, turn, err := twiliosim.Dial(ctx, twiliosim.Config{
		BaseURL: s.cfg.GatewayURL, PublicURL: s.cfg.PublicURL, AuthToken: s.cfg.AuthToken, From: s.cfg.From,
		HTTPClient: s.cfg.HTTPClient, PauseScale: s.cfg.PauseScale, StreamKeys: s.cfg.StreamKeys, Now: s.cfg.Now,
	})
	if err != nil {
		s.forget(c)
		c.mu.Unlock()
		return nil, nil, fmt.Errorf("phone: dial: %w", err)
	}
	c.call = call
	c.timer = time.AfterFunc(s.cfg.IdleTimeout, func() { s.expire(c) })
	s.arm(c, now)
	s.log.LogAttrs(ctx, slog.LevelInfo, "phone call placed", slog.String("call_sid", call.Sid()))
	return c, turn, nil
}

// lookup returns the call with the page's id, or nil.
func (s *Server) lookup(id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[id]
}

// forget removes c from the calls in progress; c.mu is held.
func (s *Server) forget(c *session) {
	c.done = true
	if c.timer != nil {
		c.timer.Stop()
	}
	s.mu.Lock()
	delete(s.calls, c.id)
	s.mu.Unlock()
}

// Why drop hangs a call up, as logged.
const (
	whyEnded    = "ended" // the gateway ended it
	whyCaller   = "caller"
	whyIdle     = "idle"
	whyLongest  = "longest call"
	whyShutdown = "shutdown"
	whyError    = "error"
)

// drop ends c from this side: the status callback, as a caller hanging up
// sends it, then c is forgotten. c.mu is held.
func (s *Server) drop(c *session, why string) {
	if c.done {
		return
	}
	if c.call == nil { // never placed
		s.forget(c)
		return
	}
	// Its own deadline: s.ctx has ended when Close drops the calls.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), hangupTimeout)
	defer cancel()
	err := c.call.Hangup(ctx, "completed")
	s.forget(c)
	failed := err != nil && !errors.Is(err, twiliosim.ErrCallEnded)
	if why == whyEnded && !failed {
		return // finish logs the end
	}
	// The error names URLs only; still, that it failed is enough here.
	s.log.LogAttrs(ctx, slog.LevelInfo, "phone call hung up", slog.String("call_sid", c.call.Sid()), slog.String("why", why),
		slog.Bool("status_callback_failed", failed))
}

// expire runs when c's timer fires: it hangs c up when it has idled for
// IdleTimeout or lasted MaxDuration, and otherwise sets the timer again.
func (s *Server) expire(c *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return
	}
	now := s.cfg.Now()
	idleAt := c.active.Add(s.cfg.IdleTimeout)
	lastAt := c.started.Add(s.cfg.MaxDuration)
	switch {
	case !now.Before(lastAt):
		s.drop(c, whyLongest)
	case !now.Before(idleAt):
		s.drop(c, whyIdle)
	default:
		s.arm(c, now)
	}
}

// arm sets c's timer for when c will have idled for IdleTimeout since its
// last step, or lasted MaxDuration, whichever comes first. c.mu is held.
func (s *Server) arm(c *session, now time.Time) {
	idleAt := c.active.Add(s.cfg.IdleTimeout)
	lastAt := c.started.Add(s.cfg.MaxDuration)
	c.timer.Reset(max(0, min(idleAt.Sub(now), lastAt.Sub(now))))
}

func newID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("phone: call id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
