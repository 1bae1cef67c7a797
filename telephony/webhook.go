package telephony

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/ivr-gateway/ivr/dialog"
	"github.com/ivr-gateway/ivr/store"
)

// maxWebhookBody caps a webhook body; Twilio's are about 1 KiB.
const maxWebhookBody = 64 << 10

// request is one signed Twilio webhook, reduced to what the dialog needs.
type request struct {
	route   string
	callSid string
	// caller is a keyed hash of the caller's number (callerRef), for the
	// per-caller limit; "" when the number is withheld or not E.164, which
	// would otherwise put every anonymous caller in one shared bucket.
	caller     string
	step       int64 // from the action URL; 0 when absent
	callStatus string
	input      dialog.Input
}

// result is what a route handler produced, for the response and the log line.
type result struct {
	twiml string
	node  dialog.Node
	step  int64
	event string
}

// errBadRequest marks a signed request that cannot be a Twilio webhook (no
// call SID, say); the caller still gets TwiML, not an error page.
var errBadRequest = errors.New("telephony: malformed webhook")

// webhook wraps a route: signature check (403 on failure, nothing else
// done), form parsing, a deadline, and the single place where errors become
// TwiML the caller can hear.
func (g *Gateway) webhook(route string, handle func(context.Context, *request) (result, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		form, ok := g.authenticate(w, r)
		if !ok {
			g.metrics.signatureFailures.Inc()
			g.log.Warn("webhook signature rejected", "route", route)
			w.WriteHeader(http.StatusForbidden)
			return
		}
		req, err := parseRequest(route, g.cfg.AuthToken, r, form)
		ctx, cancel := context.WithTimeout(r.Context(), g.cfg.RequestTimeout)
		defer cancel()
		var res result
		if err == nil {
			res, err = g.bounded(ctx, req, handle)
		}
		outcome := "ok"
		if err != nil {
			outcome = errorKind(err)
			if outcome == "redis" {
				g.metrics.redisErrors.Inc()
			}
			g.log.Error("webhook failed", "route", route, "call_sid", req.callSid, "kind", outcome, "err", err)
			res.twiml = g.troubleTwiML()
		}
		g.metrics.webhooks.WithLabelValues(route, outcome).Inc()
		g.metrics.stepSeconds.WithLabelValues(route).Observe(time.Since(start).Seconds())
		g.log.Info("webhook", "route", route, "call_sid", req.callSid, "step", res.step,
			"node", string(res.node), "event", res.event, "outcome", outcome,
			"ms", time.Since(start).Milliseconds())
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, res.twiml)
	})
}

// bounded runs handle but answers by ctx's deadline whatever happens behind
// it: a Redis server that stalls mid-reply, or a client that retries, must
// not keep Twilio waiting past the contract's 10 s. The handler goroutine
// finishes on its own once its I/O gives up; its late result is dropped.
func (g *Gateway) bounded(ctx context.Context, req *request, handle func(context.Context, *request) (result, error)) (result, error) {
	type out struct {
		res result
		err error
	}
	done := make(chan out, 1)
	go func() {
		res, err := handle(ctx, req)
		done <- out{res, err}
	}()
	select {
	case o := <-done:
		return o.res, o.err
	case <-ctx.Done():
	}
	// The handler usually notices the deadline itself and returns at once.
	grace := time.NewTimer(100 * time.Millisecond)
	defer grace.Stop()
	select {
	case o := <-done:
		return o.res, o.err
	case <-grace.C:
		return result{}, fmt.Errorf("telephony: %s webhook: %w", req.route, context.DeadlineExceeded)
	}
}

func errorKind(err error) string {
	switch {
	case errors.Is(err, errBadRequest):
		return "bad_request"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, store.ErrSealBroken), errors.Is(err, errState):
		return "state"
	}
	return "redis"
}

// authenticate reads the body and checks X-Twilio-Signature against
// PublicURL + the request URI exactly as received (query left encoded).
func (g *Gateway) authenticate(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	if err != nil {
		return nil, false
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, false
	}
	if !g.sig.valid(g.cfg.PublicURL+r.RequestURI, form, r.Header.Get("X-Twilio-Signature")) {
		return nil, false
	}
	return form, true
}

func parseRequest(route, authToken string, r *http.Request, form url.Values) (*request, error) {
	req := &request{
		route:      route,
		callSid:    form.Get("CallSid"),
		callStatus: form.Get("CallStatus"),
		input: dialog.Input{
			Digits: form.Get("Digits"),
			Speech: form.Get("SpeechResult"),
		},
	}
	req.caller = callerRef(authToken, form.Get("From"))
	if !validSid(req.callSid) {
		req.callSid = ""
		return req, fmt.Errorf("%w: no valid CallSid", errBadRequest)
	}
	if c := form.Get("Confidence"); c != "" {
		if f, err := strconv.ParseFloat(c, 64); err == nil && f >= 0 && f <= 1 {
			req.input.Confidence, req.input.HasConfidence = f, true
		}
	}
	if s := r.URL.Query().Get("step"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return req, fmt.Errorf("%w: bad step", errBadRequest)
		}
		req.step = n
	}
	return req, nil
}

// validSid accepts Twilio call SIDs: "CA" and 32 hex digits. Anything else
// never reaches a Redis key.
func validSid(s string) bool {
	if len(s) != 34 || s[0] != 'C' || s[1] != 'A' {
		return false
	}
	for i := 2; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

var errState = errors.New("telephony: stored dialog state unreadable")

// call is one call's loaded state.
type call struct {
	sess        store.Session
	state       dialog.State
	isNew       bool
	answersLost bool
}

func (g *Gateway) load(ctx context.Context, callSid string) (call, error) {
	sess, err := g.sessions.Load(ctx, callSid)
	if errors.Is(err, store.ErrNotFound) {
		return call{sess: store.Session{CallSid: callSid}, isNew: true}, nil
	}
	lost := errors.Is(err, store.ErrSealBroken)
	if lost {
		// The session is there but its answers cannot be opened: the
		// dialog asks for them again (step turns the event into AnswersLost).
		g.log.Warn("sealed answers unreadable; asking again", "call_sid", callSid)
		err = nil
	}
	if err != nil {
		return call{}, fmt.Errorf("telephony: load call: %w", err)
	}
	c := call{sess: sess, answersLost: lost}
	if err := json.Unmarshal(sess.Dialog, &c.state); err != nil {
		return call{}, fmt.Errorf("%w: %v", errState, err)
	}
	if lost {
		return c, nil
	}
	if err := c.state.Answers.UnmarshalBinary(sess.Answers); err != nil {
		return call{}, fmt.Errorf("%w: %v", errState, err)
	}
	return c, nil
}

// save writes next as the step after c's, with the agent-visible fields and
// an event when the call reaches verified or failed.
func (g *Gateway) save(ctx context.Context, c call, next dialog.State, tok *store.Token) (call, error) {
	blob, err := json.Marshal(next)
	if err != nil {
		return c, fmt.Errorf("telephony: encode state: %w", err)
	}
	answers, err := next.Answers.MarshalBinary()
	if err != nil {
		return c, fmt.Errorf("telephony: encode answers: %w", err)
	}
	now := g.now()
	sess := c.sess
	sess.Step = c.sess.Step + 1
	sess.Phase = string(next.Phase())
	sess.Attempts = next.Attempts
	sess.Dialog = blob
	sess.Answers = answers
	if c.isNew {
		sess.CreatedAt = now
	}
	var x store.SaveExtras
	if next.Phase() != c.state.Phase() || c.isNew {
		switch next.Phase() {
		case dialog.PhaseVerified:
			sess.VerifiedAt = now
			x.Event = "verified"
			g.metrics.calls.WithLabelValues("verified").Inc()
		case dialog.PhaseFailed:
			x.Event = "failed"
			g.metrics.calls.WithLabelValues("failed_" + next.Reason).Inc()
		}
	}
	x.Token = tok
	if err := g.sessions.Save(ctx, sess, c.sess.Step, x); err != nil {
		if !errors.Is(err, store.ErrEventNotAppended) {
			return c, fmt.Errorf("telephony: save call: %w", err)
		}
		// The call and its token are saved; only the audit stream missed an
		// entry. The caller must not hear a failure for it.
		g.metrics.redisErrors.Inc()
		g.log.Warn("event not appended to the stream", "call_sid", sess.CallSid, "event", x.Event, "err", err)
	}
	return call{sess: sess, state: next}, nil
}

// advance runs one webhook's event through the call (step) and renders the
// resulting actions as TwiML.
func (g *Gateway) advance(ctx context.Context, req *request, ev dialog.Event) (result, error) {
	t, err := g.step(ctx, req, ev, g.cfg.VerifyWait)
	if err != nil {
		return result{}, err
	}
	r := &renderer{cfg: &g.cfg, cat: g.cat, lang: t.state.Lang, step: t.call.sess.Step, polls: t.state.Polls,
		caller: req.caller} // caller: for <Stream> (stream.go)
	r.add(t.actions)
	return result{twiml: r.xml(), node: t.state.Node, step: t.call.sess.Step, event: eventName(t.event)}, nil
}

// turn is the transport-neutral outcome of one event: the call after it and
// what the caller must hear or do next.
type turn struct {
	state   dialog.State
	actions []dialog.Action
	call    call
	event   dialog.Event
}

// step loads the call, applies ev when the request's step is current
// (otherwise the request is a repeat or stale and only re-renders the current
// question), saves, and runs a verification when the dialog asks for one,
// waiting up to verifyWait for the AS before answering with Hold. Every
// transport (webhooks, Media Streams) advances calls through here.
func (g *Gateway) step(ctx context.Context, req *request, ev dialog.Event, verifyWait time.Duration) (turn, error) {
	c, err := g.load(ctx, req.callSid)
	if err != nil {
		return turn{}, err
	}
	switch {
	case c.isNew:
		ev = dialog.Start{}
	case c.answersLost:
		ev = dialog.AnswersLost{}
	case req.route == "voice" || req.step != c.sess.Step:
		// Twilio repeated a webhook, or a request arrived out of order: the
		// dialog must not advance twice.
		ev = dialog.Resume{}
	}
	prev := c.state
	next, actions := g.machine.Step(c.state, ev)
	if _, resume := ev.(dialog.Resume); !resume {
		saved, err := g.save(ctx, c, next, nil)
		if errors.Is(err, store.ErrConflict) {
			// A concurrent copy of this request won; answer with where it left the call.
			return g.step(ctx, &request{route: "resume", callSid: req.callSid}, dialog.Resume{}, verifyWait)
		}
		if err != nil {
			return turn{}, err
		}
		c = saved
	}
	if hasVerify(actions) {
		next, actions, c, err = g.runVerify(ctx, req, prev, c, verifyWait)
		if err != nil {
			return turn{}, err
		}
	}
	return turn{state: next, actions: actions, call: c, event: ev}, nil
}

func hasVerify(actions []dialog.Action) bool {
	for _, a := range actions {
		if _, ok := a.(dialog.Verify); ok {
			return true
		}
	}
	return false
}

func eventName(ev dialog.Event) string {
	switch ev := ev.(type) {
	case dialog.Start:
		return "start"
	case dialog.Input:
		switch {
		case ev.Digits != "":
			return "dtmf"
		case ev.Speech != "":
			return "speech"
		}
		return "no_input"
	case dialog.Poll:
		return "poll"
	case dialog.Resume:
		return "resume"
	case dialog.VerifyResult:
		return "verify_" + ev.Outcome.String()
	case dialog.CallEnded:
		return "ended"
	case dialog.AnswersLost:
		return "answers_lost"
	}
	return "other"
}

func (g *Gateway) voice(ctx context.Context, req *request) (result, error) {
	return g.advance(ctx, req, dialog.Start{})
}

func (g *Gateway) gather(ctx context.Context, req *request) (result, error) {
	in := req.input
	in.At = g.now()
	return g.advance(ctx, req, in)
}

func (g *Gateway) poll(ctx context.Context, req *request) (result, error) {
	return g.advance(ctx, req, dialog.Poll{})
}

// streamDone is the <Connect action> after a Media Stream closed: the
// stream has already stepped the dialog, so this only renders where the
// call is now (hand-off, fallback, the name question, or a new stream).
func (g *Gateway) streamDone(ctx context.Context, req *request) (result, error) {
	return g.advance(ctx, req, dialog.Resume{})
}

// terminalStatus lists the CallStatus values that end a call (contract §5).
var terminalStatus = map[string]bool{"completed": true, "busy": true, "failed": true, "no-answer": true, "canceled": true}

// status handles the status callback: a call that ended loses its session's
// answers and its token, which is revoked at the AS.
func (g *Gateway) status(ctx context.Context, req *request) (result, error) {
	res := result{twiml: emptyTwiML, event: "status_" + req.callStatus}
	if !terminalStatus[req.callStatus] {
		return res, nil
	}
	tok, err := g.sessions.EndCall(ctx, req.callSid, g.cfg.TokenGrace)
	switch {
	case err == nil, errors.Is(err, store.ErrEventNotAppended):
		// Counted once per call, however often Twilio repeats the callback.
		g.metrics.calls.WithLabelValues("ended").Inc()
		res.node = dialog.NodeEnded
	case errors.Is(err, store.ErrAlreadyEnded):
	default:
		return res, fmt.Errorf("telephony: end call: %w", err)
	}
	if tok != nil && tok.AccessToken != "" {
		if err := g.verifier.Revoke(ctx, tok.AccessToken); err != nil {
			// The token dies on its own at expiry; a failed revocation is an
			// operator's concern, not the caller's (who has hung up).
			g.log.Warn("token revocation failed", "call_sid", req.callSid, "err", err)
		}
	}
	return res, nil
}

// troubleTwiML is what the caller hears when the gateway itself cannot go
// on (Redis down, state unreadable): an apology and the failure path, never
// Twilio's application error.
func (g *Gateway) troubleTwiML() string {
	lang := g.machine.Config().Languages[0]
	_, actions := g.machine.Step(dialog.State{Node: dialog.NodeFailed, Reason: dialog.ReasonUnavailable, Lang: lang}, dialog.Resume{})
	r := &renderer{cfg: &g.cfg, cat: g.cat, lang: lang}
	r.add(actions)
	return r.xml()
}

var _ slog.LogValuer = dialog.Answers{}
