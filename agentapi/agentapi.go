// Package agentapi serves the downstream agent's API (contract §5): the
// access token obtained for a call, and the call's verification state, both
// by call SID, behind static bearer keys (IVR_AGENT_KEYS).
package agentapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/ivr-gateway/ivr/store"
)

// Calls is what the API needs of the call store.
type Calls interface {
	Load(ctx context.Context, callSid string) (store.Session, error)
	Token(ctx context.Context, callSid string) (store.Token, error)
	WaitToken(ctx context.Context, callSid string) (store.Token, error)
}

// Config configures the API.
type Config struct {
	// Keys are the accepted bearer keys; none means every request gets 401.
	Keys []string
	// MaxWait caps ?wait= (default 30 s), below common proxy idle timeouts.
	MaxWait time.Duration
	Logger  *slog.Logger
}

// API is the agent API handler.
type API struct {
	calls   Calls
	keys    [][32]byte
	maxWait time.Duration
	log     *slog.Logger
}

// New returns the API.
func New(cfg Config, calls Calls) *API {
	a := &API{calls: calls, maxWait: cfg.MaxWait, log: cfg.Logger}
	if a.maxWait <= 0 {
		a.maxWait = 30 * time.Second
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	for _, k := range cfg.Keys {
		if k = strings.TrimSpace(k); k != "" {
			a.keys = append(a.keys, sha256.Sum256([]byte(k)))
		}
	}
	return a
}

// Handler serves /v1/calls/{CallSid} and /v1/calls/{CallSid}/token.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/calls/{sid}/token", a.auth(a.token))
	mux.HandleFunc("GET /v1/calls/{sid}", a.auth(a.call))
	return mux
}

// auth checks the bearer key. Keys are compared as SHA-256 digests in
// constant time, so neither a key's length nor its prefix leaks.
func (a *API) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// The auth scheme is case-insensitive (RFC 9110 §11.1).
		scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		ok = ok && strings.EqualFold(scheme, "Bearer")
		match := 0
		if ok {
			sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
			for _, k := range a.keys {
				match |= subtle.ConstantTimeCompare(sum[:], k[:])
			}
		}
		if match != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ivr-agent-api"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized"})
			return
		}
		next(w, r)
	}
}

type tokenBody struct {
	CallSid     string `json:"call_sid"`
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresAt   string `json:"expires_at"`
	Scope       string `json:"scope"`
}

func (a *API) token(w http.ResponseWriter, r *http.Request) {
	sid := r.PathValue("sid")
	var wait time.Duration
	if s := r.URL.Query().Get("wait"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "wait must be a duration such as 20s"})
			return
		}
		wait = min(d, a.maxWait)
	}
	tok, err := a.calls.Token(r.Context(), sid)
	if errors.Is(err, store.ErrNotFound) && wait > 0 && a.mayBeVerified(r.Context(), sid) {
		ctx, cancel := context.WithTimeout(r.Context(), wait)
		tok, err = a.calls.WaitToken(ctx, sid)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			err = store.ErrNotFound
		}
	}
	if r.Context().Err() != nil {
		return // the agent stopped waiting: nobody to answer
	}
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrInvalid):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not_found"})
	case err != nil:
		a.log.Error("agent api: token", "call_sid", sid, "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable"})
	default:
		writeJSON(w, http.StatusOK, tokenBody{
			CallSid: sid, AccessToken: tok.AccessToken, TokenType: tok.TokenType,
			ExpiresAt: tok.ExpiresAt.UTC().Format(time.RFC3339), Scope: tok.Scope,
		})
	}
}

// mayBeVerified reports whether waiting can help: a call that has failed or
// ended will not get a token, so its long-poll answers 404 at once. An
// unknown call may simply not have rung yet, so it is waited for.
func (a *API) mayBeVerified(ctx context.Context, sid string) bool {
	sess, err := a.calls.Load(ctx, sid)
	if err != nil && !errors.Is(err, store.ErrSealBroken) {
		return true
	}
	return sess.Phase != "failed" && sess.Phase != "ended"
}

type callBody struct {
	CallSid    string  `json:"call_sid"`
	State      string  `json:"state"`
	Attempts   int     `json:"attempts"`
	VerifiedAt *string `json:"verified_at"`
}

func (a *API) call(w http.ResponseWriter, r *http.Request) {
	sid := r.PathValue("sid")
	sess, err := a.calls.Load(r.Context(), sid)
	if errors.Is(err, store.ErrSealBroken) {
		err = nil // state, attempts and verified_at are not sealed
	}
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrInvalid):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not_found"})
		return
	case err != nil:
		a.log.Error("agent api: call", "call_sid", sid, "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable"})
		return
	}
	body := callBody{CallSid: sid, State: sess.Phase, Attempts: sess.Attempts}
	if !sess.VerifiedAt.IsZero() {
		s := sess.VerifiedAt.UTC().Format(time.RFC3339)
		body.VerifiedAt = &s
	}
	writeJSON(w, http.StatusOK, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
