package telephony

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ivr-gateway/ivr"
	"github.com/ivr-gateway/ivr/callflow"
	"github.com/ivr-gateway/ivr/dialog"
	"github.com/ivr-gateway/ivr/store"
)

// The webhook answers' header values.
var (
	twimlContentType = []string{"text/xml; charset=utf-8"}
	noStore          = []string{"no-store"}
)

// queryStep returns the (still escaped) value of the first "step" parameter
// of a raw query, as url.Values.Get would, without building the map.
func queryStep(raw string) string {
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		if k, v, _ := strings.Cut(kv, "="); k == "step" {
			if u, err := url.QueryUnescape(v); err == nil {
				return u
			}
			return "\x00" // unparseable: refused as a bad step below
		}
	}
	return ""
}

// maxWebhookBody caps a webhook body; Twilio's are about 1 KiB.
const maxWebhookBody = 64 << 10

// request is one signed Twilio webhook, reduced to what the engine needs.
type request struct {
	route      string
	call       callflow.Call
	callStatus string
	input      dialog.Input
	// relay is the <Connect action> after a ConversationRelay session
	// (relay_done.go); empty on every other route.
	relay relayResult
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
		req, err := parseRequest(route, g.callerRefs, r, form)
		ctx, cancel := context.WithTimeout(r.Context(), g.cfg.RequestTimeout)
		defer cancel()
		var res result
		if err == nil {
			// Every wait behind a handler (Redis with ContextTimeoutEnabled,
			// the AS client, the verification's hold timer) honours ctx, so
			// the deadline needs no goroutine of its own per request.
			res, err = handle(ctx, req)
		}
		outcome := "ok"
		if err != nil {
			outcome = errorKind(err)
			g.log.Error("webhook failed", "route", route, "call_sid", req.call.Sid, "kind", outcome, "err", err)
			res.twiml = g.troubleTwiML()
		}
		g.metrics.webhooks.WithLabelValues(route, outcome).Inc()
		g.metrics.stepSeconds.WithLabelValues(route).Observe(time.Since(start).Seconds())
		g.logWebhook(route, req.call.Sid, res, outcome, time.Since(start))
		h := w.Header()
		h["Content-Type"] = twimlContentType // shared, never modified: no allocation per answer
		h["Cache-Control"] = noStore
		io.WriteString(w, res.twiml)
	})
}

// logWebhook writes the webhook's line, as
// g.log.Info("webhook", "route", route, "call_sid", sid, ...) would, minus
// what Logger.Info adds that no handler here prints: the caller's program
// counter (a stack walk per webhook) and the parsing of loose key-value
// arguments.
func (g *Gateway) logWebhook(route, sid string, res result, outcome string, took time.Duration) {
	ctx := context.Background()
	h := g.log.Handler()
	if !h.Enabled(ctx, slog.LevelInfo) {
		return
	}
	r := slog.NewRecord(time.Now(), slog.LevelInfo, "webhook", 0)
	r.AddAttrs(slog.String("route", route), slog.String("call_sid", sid), slog.Int64("step", res.step),
		slog.String("node", string(res.node)), slog.String("event", res.event), slog.String("outcome", outcome),
		slog.Int64("ms", took.Milliseconds()))
	_ = h.Handle(ctx, r)
}

// errorKind is the one place engine and transport errors become a bounded
// label (the outcome of the webhook's log line and metric).
func errorKind(err error) string {
	switch {
	case errors.Is(err, errBadRequest), errors.Is(err, callflow.ErrBadCall):
		return "bad_request"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, store.ErrSealBroken), errors.Is(err, callflow.ErrState):
		return "state"
	}
	return "redis"
}

// authenticate reads the body and checks X-Twilio-Signature against
// PublicURL + the request URI exactly as received (query left encoded).
func (g *Gateway) authenticate(w http.ResponseWriter, r *http.Request) (form, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	if err != nil {
		return nil, false
	}
	form, err := parseForm(string(body))
	if err != nil {
		return nil, false
	}
	if !g.sig.valid(g.cfg.PublicURL+r.RequestURI, form, r.Header.Get("X-Twilio-Signature")) {
		return nil, false
	}
	return form, true
}

func parseRequest(route string, callerKey *callerRefs, r *http.Request, form form) (*request, error) {
	req := &request{
		route:      route,
		callStatus: form.get("CallStatus"),
		input: dialog.Input{
			Digits: form.get("Digits"),
			Speech: form.get("SpeechResult"),
		},
	}
	req.call.Caller = callerKey.ref(form.get("From"))
	if route == "relay-done" {
		req.relay = parseRelayResult(form)
	}
	if sid := form.get("CallSid"); ivr.ValidCallSid(sid) {
		req.call.Sid = sid
	} else {
		return req, fmt.Errorf("%w: no valid CallSid", errBadRequest)
	}
	if c := form.get("Confidence"); c != "" {
		if f, err := strconv.ParseFloat(c, 64); err == nil && f >= 0 && f <= 1 {
			req.input.Confidence, req.input.HasConfidence = f, true
		}
	}
	if s := queryStep(r.URL.RawQuery); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return req, fmt.Errorf("%w: bad step", errBadRequest)
		}
		req.call.Step = n
	}
	return req, nil
}

// advance runs one webhook's event through the engine and renders the turn
// as TwiML.
func (g *Gateway) advance(ctx context.Context, req *request, ev dialog.Event) (result, error) {
	t, err := g.engine.Advance(ctx, req.call, ev)
	if err != nil {
		return result{}, err
	}
	return result{twiml: g.render(t, req.call), node: t.State.Node, step: t.Step, event: t.Event}, nil
}

// render turns a turn into TwiML; the call is needed to bind a
// <Connect><Stream> to it.
func (g *Gateway) render(t callflow.Turn, c callflow.Call) string {
	view := turnView{actions: t.Actions, lang: string(t.State.Lang), step: t.Step, polls: t.State.Polls,
		perCall: g.cfg.Transport == TransportStream || g.cfg.Transport == TransportRelay}
	return g.cachedRender(view, func(step int64) string {
		r := g.renderer(t, c)
		r.step = step
		r.add(t.Actions)
		return r.xml()
	})
}

func (g *Gateway) renderer(t callflow.Turn, c callflow.Call) *renderer {
	return &renderer{bindKey: g.bindKey, cfg: &g.cfg, cat: g.cat, lang: t.State.Lang, step: t.Step, polls: t.State.Polls,
		call: c, langs: g.machine.Config().Languages}
}

func (g *Gateway) voice(ctx context.Context, req *request) (result, error) {
	if g.cfg.Transport == TransportRelay {
		// The whole call runs in the relay session, which starts it.
		return g.relayVoice(req), nil
	}
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

// terminalStatus lists the CallStatus values that end a call (docs/agent-api.md).
var terminalStatus = map[string]bool{"completed": true, "busy": true, "failed": true, "no-answer": true, "canceled": true}

// status handles the status callback: a call that ended loses its session's
// answers and its token, which is revoked at the AS.
func (g *Gateway) status(ctx context.Context, req *request) (result, error) {
	res := result{twiml: emptyTwiML, event: "status_" + req.callStatus}
	if !terminalStatus[req.callStatus] {
		return res, nil
	}
	ended, err := g.engine.End(ctx, req.call.Sid)
	if err != nil {
		return res, err
	}
	if ended {
		res.node = dialog.NodeEnded
	}
	return res, nil
}

// troubleTwiML is what the caller hears when the gateway itself cannot go
// on (Redis down, state unreadable): an apology and the failure path, never
// Twilio's application error.
func (g *Gateway) troubleTwiML() string {
	return g.render(g.engine.Trouble(""), callflow.Call{})
}
