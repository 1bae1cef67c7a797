package agentapi

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/ivr-gateway/ivr"
	"github.com/ivr-gateway/ivr/store"
)

// retryAfter is the Retry-After of a refused long-poll, in seconds. Slots
// free up as waits end (at most MaxWait each), and a plain poll without
// ?wait= is never refused, so a short pause is enough.
const retryAfter = 1

var (
	// errTooManyWaiters: MaxWaiters long-polls are already waiting.
	errTooManyWaiters = errors.New("agentapi: too many waiting requests")
	// errCallOver and errWaitOver end a wait without a token: the call
	// failed, ended or vanished; or the wait ran out.
	errCallOver = errors.New("agentapi: call failed or ended during the wait")
	errWaitOver = errors.New("agentapi: wait elapsed")
)

type tokenBody struct {
	CallSid     string `json:"call_sid"`
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresAt   string `json:"expires_at"`
	Scope       string `json:"scope"`
}

func (a *API) token(w http.ResponseWriter, r *http.Request, agent, sid string) {
	var wait time.Duration
	if s := r.URL.Query().Get("wait"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "wait must be a duration such as 20s"})
			return
		}
		wait = min(d, a.maxWait)
	}
	ctx := r.Context()
	tok, err := a.calls.Token(ctx, sid)
	if errors.Is(err, store.ErrNotFound) && wait > 0 {
		tok, err = a.longPoll(ctx, sid, wait)
	}
	if ctx.Err() != nil {
		return // the agent stopped waiting: nobody to answer
	}
	switch {
	case errors.Is(err, errTooManyWaiters):
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
		writeError(w, http.StatusTooManyRequests, "too_many_requests")
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrInvalid):
		if errors.Is(err, store.ErrSealBroken) {
			// Sealed under a key this instance does not hold: to the
			// agent there is no usable token, to the operator a
			// misconfigured IVR_SESSION_KEY or rotation.
			a.log.LogAttrs(ctx, slog.LevelWarn, "agent api: stored token does not open", slog.String("call_sid", sid))
		}
		writeError(w, http.StatusNotFound, "not_found")
	case err != nil:
		a.unavailable(w, r, "agent api: token", sid, err)
	default:
		writeJSON(w, http.StatusOK, tokenBody{
			CallSid: sid, AccessToken: tok.AccessToken, TokenType: tok.TokenType,
			ExpiresAt: tok.ExpiresAt.UTC().Format(time.RFC3339), Scope: tok.Scope,
		})
		a.released(r, agent, sid)
	}
}

// released writes the audit trail of one token handed out: a log line and
// a count per agent. It names the agent, never its key, and never logs the
// token.
func (a *API) released(r *http.Request, agent, sid string) {
	a.m.releases.WithLabelValues(agent).Inc()
	a.log.LogAttrs(r.Context(), slog.LevelInfo, "token released",
		slog.String("agent", agent),
		slog.String("call_sid", sid),
		slog.String("remote_addr", r.RemoteAddr),
	)
}

// longPoll waits up to wait for the token of a call whose token was just
// found missing. Only a call in progress is waited for: an unknown call
// (store.ErrNotFound) answers at once, as does one that has failed or
// ended; a verified call has its token read once more, since it may have
// been written between the two reads. Otherwise it returns
// errTooManyWaiters when MaxWaiters requests are already waiting, and
// store.ErrNotFound when the wait runs out or the call fails or ends
// meanwhile.
func (a *API) longPoll(ctx context.Context, sid string, wait time.Duration) (ivr.Token, error) {
	st, err := a.calls.Status(ctx, sid)
	if err != nil {
		return ivr.Token{}, err
	}
	switch st.Phase {
	case ivr.PhaseCollecting, ivr.PhaseVerifying:
	case ivr.PhaseVerified:
		return a.calls.Token(ctx, sid)
	default:
		return ivr.Token{}, store.ErrNotFound
	}

	if a.waiting.Add(1) > a.maxWaiters {
		a.waiting.Add(-1)
		a.m.refused.Inc()
		return ivr.Token{}, errTooManyWaiters
	}
	defer a.waiting.Add(-1)

	cctx, callOver := context.WithCancelCause(ctx)
	defer callOver(nil)
	wctx, cancel := context.WithTimeoutCause(cctx, wait, errWaitOver)
	defer cancel()
	stop := a.watch(wctx, sid, callOver)
	defer stop()

	tok, err := a.calls.WaitToken(wctx, sid)
	if err != nil && ctx.Err() == nil {
		if cause := context.Cause(wctx); errors.Is(cause, errCallOver) || errors.Is(cause, errWaitOver) {
			return ivr.Token{}, store.ErrNotFound
		}
	}
	return tok, err
}

// watch re-reads the call's phase about every StatusEvery while ctx lasts
// and calls over when the call has failed, ended or gone. The period is
// jittered (½ to 1½ StatusEvery) so waits that began together, as after a
// burst of agents, do not all read at the same instant. The token write is
// announced (it wakes WaitToken); a failure or an end is not, and this is
// the cheap way to hear of it: one HMGET of four small fields per waiting
// request per StatusEvery, on a timer that holds no goroutine between
// reads. A read that fails (Redis briefly away) is not a verdict; the next
// one decides.
func (a *API) watch(ctx context.Context, sid string, over context.CancelCauseFunc) (stop func()) {
	var (
		mu      sync.Mutex // guards t and stopped against a check that fires at once
		t       *time.Timer
		stopped bool
	)
	check := func() {
		st, err := a.calls.Status(ctx, sid)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, store.ErrNotFound) || err == nil && (st.Phase == ivr.PhaseFailed || st.Phase == ivr.PhaseEnded) {
			over(errCallOver)
			return
		}
		mu.Lock()
		if !stopped {
			t.Reset(a.nextStatusRead())
		}
		mu.Unlock()
	}
	mu.Lock()
	t = time.AfterFunc(a.nextStatusRead(), check)
	mu.Unlock()
	return func() {
		mu.Lock()
		stopped = true
		t.Stop()
		mu.Unlock()
	}
}

func (a *API) nextStatusRead() time.Duration {
	return a.statusEvery/2 + rand.N(a.statusEvery)
}
