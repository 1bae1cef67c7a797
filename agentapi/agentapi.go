// Package agentapi serves the downstream agent's API (docs/agent-api.md): the
// access token obtained for a call, and the call's verification state, both
// by call SID, behind static bearer keys (IVR_AGENT_KEYS).
//
// Every token handed out is written to the log as one "token released" line
// naming the agent (never its key) and the call, and counted per agent.
// Long-polls are bounded: only a call in progress is waited for, at most
// Config.MaxWaiters requests wait at once, and each for at most MaxWait.
package agentapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ivr-gateway/ivr"
	"github.com/ivr-gateway/ivr/store"
)

// Calls is what the API needs of the call store. Status never opens the
// caller's sealed answers. Each method returns an error wrapping
// store.ErrNotFound when there is nothing to return.
type Calls interface {
	Status(ctx context.Context, callSid string) (ivr.CallStatus, error)
	Token(ctx context.Context, callSid string) (ivr.Token, error)
	WaitToken(ctx context.Context, callSid string) (ivr.Token, error)
}

// Defaults for zero Config fields.
const (
	DefaultMaxWait     = 30 * time.Second
	DefaultMaxWaiters  = 1000
	DefaultStatusEvery = 2 * time.Second
)

// Config configures the API. Zero fields take the documented defaults.
type Config struct {
	// Keys are the IVR_AGENT_KEYS entries, "name:key" or a bare "key"
	// (named agent-N by its 1-based position); none means every request
	// gets 401.
	Keys []string
	// MaxWait caps ?wait= (default 30 s), below common proxy idle timeouts.
	MaxWait time.Duration
	// MaxWaiters caps the long-polls waiting at once on this instance
	// (IVR_AGENT_MAX_WAITERS, default 1000); beyond it a long-poll is
	// answered 429 with Retry-After.
	MaxWaiters int
	// StatusEvery is how often a waiting long-poll re-reads its call's
	// phase, so a call that fails or ends meanwhile answers 404 then
	// rather than when the wait runs out (default 2 s).
	StatusEvery time.Duration
	Logger      *slog.Logger
	// Registerer receives the API's metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
}

// API is the agent API handler.
type API struct {
	calls       Calls
	keys        []agentKey
	maxWait     time.Duration
	maxWaiters  int64
	statusEvery time.Duration
	log         *slog.Logger
	m           metrics
	waiting     atomic.Int64 // long-polls waiting now
}

// New returns the API. It fails on a malformed key entry (the error never
// quotes the entry) and when the metrics cannot be registered.
func New(cfg Config, calls Calls) (*API, error) {
	keys, err := parseKeys(cfg.Keys)
	if err != nil {
		return nil, err
	}
	a := &API{
		calls:       calls,
		keys:        keys,
		maxWait:     cfg.MaxWait,
		maxWaiters:  int64(cfg.MaxWaiters),
		statusEvery: cfg.StatusEvery,
		log:         cfg.Logger,
	}
	if a.maxWait <= 0 {
		a.maxWait = DefaultMaxWait
	}
	if a.maxWaiters <= 0 {
		a.maxWaiters = DefaultMaxWaiters
	}
	if a.statusEvery <= 0 {
		a.statusEvery = DefaultStatusEvery
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.m, err = newMetrics(cfg.Registerer, func() float64 { return float64(a.waiting.Load()) }, keys); err != nil {
		return nil, err
	}
	return a, nil
}

// Handler serves GET /v1/calls/{CallSid} and GET /v1/calls/{CallSid}/token.
// It routes by itself rather than through a ServeMux: a mux redirects
// unclean paths (double slashes, dot segments) before any handler runs, so
// an unauthenticated request would get a 3xx instead of 401, and it decodes
// %2F inside a wildcard. Here the key is checked first, then the path is
// matched in its escaped form against a strict call SID, so nothing but
// "CA" + 32 hex digits ever reaches the store.
func (a *API) Handler() http.Handler { return http.HandlerFunc(a.serve) }

// Wrap returns a handler that serves every request whose path is under
// /v1/ once cleaned (so double slashes and dot segments included) with the
// API, and passes the others to next. Mounting the API on a ServeMux
// instead would let the mux redirect those paths before the API answers
// 401 or 404.
func (a *API) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := path.Clean("/" + r.URL.Path); p == "/v1" || strings.HasPrefix(p, "/v1/") {
			a.serve(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (a *API) serve(w http.ResponseWriter, r *http.Request) {
	agent, ok := a.authenticate(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ivr-agent-api"`)
		writeError(w, http.StatusUnauthorized, "unauthorized")
		return
	}
	sid, wantToken, ok := route(r.URL.EscapedPath())
	if !ok {
		writeError(w, http.StatusNotFound, "not_found")
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed")
		return
	}
	if wantToken {
		a.token(w, r, agent, sid)
		return
	}
	a.call(w, r, sid)
}

// route matches /v1/calls/{CallSid} and /v1/calls/{CallSid}/token, where
// the SID must be valid (ivr.ValidCallSid). A valid SID needs no escaping,
// so matching the escaped path refuses %2F, dot segments and every other
// trick in one comparison.
func route(escapedPath string) (sid string, token, ok bool) {
	rest, ok := strings.CutPrefix(escapedPath, "/v1/calls/")
	if !ok {
		return "", false, false
	}
	sid, tail, hasTail := strings.Cut(rest, "/")
	if hasTail && tail != "token" || !ivr.ValidCallSid(sid) {
		return "", false, false
	}
	return sid, hasTail, true
}

type callBody struct {
	CallSid    string  `json:"call_sid"`
	State      string  `json:"state"`
	Attempts   int     `json:"attempts"`
	VerifiedAt *string `json:"verified_at"`
}

func (a *API) call(w http.ResponseWriter, r *http.Request, sid string) {
	st, err := a.calls.Status(r.Context(), sid)
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrInvalid):
		writeError(w, http.StatusNotFound, "not_found")
		return
	case err != nil:
		a.unavailable(w, r, "agent api: call status", sid, err)
		return
	}
	body := callBody{CallSid: sid, State: string(st.Phase), Attempts: st.Attempts}
	if !st.VerifiedAt.IsZero() {
		s := st.VerifiedAt.UTC().Format(time.RFC3339)
		body.VerifiedAt = &s
	}
	writeJSON(w, http.StatusOK, body)
}

// unavailable answers 503 for a store failure. A request whose agent has
// gone is not an error: nobody is left to answer.
func (a *API) unavailable(w http.ResponseWriter, r *http.Request, msg, sid string, err error) {
	if r.Context().Err() != nil {
		return
	}
	a.log.LogAttrs(r.Context(), slog.LevelError, msg, slog.String("call_sid", sid), slog.String("err", err.Error()))
	writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable")
}

func writeError(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, map[string]string{"error": code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
