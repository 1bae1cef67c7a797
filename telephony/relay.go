package telephony

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"go.opentelemetry.io/otel/trace"

	"github.com/ivr-gateway/ivr"
	"github.com/ivr-gateway/ivr/callflow"
	"github.com/ivr-gateway/ivr/dialog"
	"github.com/ivr-gateway/ivr/kba"
	"github.com/ivr-gateway/ivr/telephony/conversationrelay"
)

// This file is the ConversationRelay transport (IVR_TRANSPORT=relay):
// Twilio recognises speech and speaks text itself, and talks to us in JSON
// over one signed WebSocket per call. /twilio/voice answers at once with
// <Connect><ConversationRelay> bound to step 0; Twilio opens
// GET /twilio/relay and sends setup; the session starts the call in the
// engine and runs the whole dialog: it speaks each question as text,
// collects the answer (a transcript, or keys the way <Gather> collects
// them), steps the engine, and says "please hold" when the AS is slow.
// When the dialog reaches an end (verified, failed) or needs TwiML (a
// caller on hold past the session's wait), the session sends end, and
// Twilio requests the <Connect action> (/twilio/relay-done, relay_done.go),
// which renders the hand-off, the fallback or the hold.

// TransportRelay is Config.Transport for ConversationRelay.
const TransportRelay = "relay"

// Relay timing. The waits for the caller run on the gateway's Clock
// (tests run it faster); the hold prompt does not (see stepWithHold).
const (
	// setupTimeout bounds the wait for the setup message.
	setupTimeout = 10 * time.Second
	// relayIdle ends a session from which nothing (not even a close) has
	// come for this long. Twilio sends nothing while the caller is silent,
	// and every question of ours times out well before.
	relayIdle = 2 * time.Minute
	// maxRelayMessage caps one inbound frame; Twilio's are a few hundred
	// bytes (a setup with parameters, a long transcript).
	maxRelayMessage = 64 << 10
	// speechRate estimates how fast Twilio speaks our text, in characters
	// a second (neural voices read about 14): a question's time for an
	// answer starts when it has been spoken, and ConversationRelay does
	// not say when that is.
	speechRate = 14
	// speechLatency is added once per question: TTS start-up and the
	// network.
	speechLatency = time.Second
	// relayEventBuffer is how many events the reader may queue.
	relayEventBuffer = 32
)

var (
	errRelayClosed = errors.New("telephony: relay session connection lost")
	errNoSetup     = errors.New("telephony: relay session sent no setup")
)

// Outcomes carried in the end message's handoffData (and, but for trouble,
// counted as the session's outcome). They are the only values relay-done
// reads back.
const (
	relayVerified = "verified"
	relayFailed   = "failed"
	relayHold     = "hold"     // verifying past the session's wait: TwiML holds and polls
	relayHandback = "handback" // collecting, but this session cannot go on (shutdown, stale step)
	relayTrouble  = "trouble"  // the engine failed (Redis): relay-done apologises
)

// handoff is the end message's handoffData: where the call is, never what
// the caller said.
type handoff struct {
	Outcome string `json:"outcome"`
	Step    int64  `json:"step"`
	Reason  string `json:"reason,omitempty"` // dialog.Reason*, for failed calls
}

// relay serves GET /twilio/relay.
func (g *Gateway) relay(w http.ResponseWriter, r *http.Request) {
	if !g.streamSigned(r) {
		g.metrics.signatureFailures.Inc()
		g.log.Warn("webhook signature rejected", "route", "relay")
		w.WriteHeader(http.StatusForbidden)
		return
	}
	sm := g.metrics.stream // the cap and the active gauge are per WebSocket, whatever the transport
	base := context.Background()
	if sp := trace.SpanFromContext(r.Context()); sp.SpanContext().IsValid() {
		// Traced: the steps run from the session link to its request's span.
		base = trace.ContextWithSpan(base, sp)
	}
	ctx, cancel := context.WithCancelCause(base)
	live, err := g.live.add(cancel)
	if err != nil {
		// Over the cap or shutting down: refused before the upgrade.
		// Twilio reports the session failed and requests the <Connect
		// action>, which apologises and ends the call safely.
		cancel(err)
		reason := "cap"
		if errors.Is(err, errShutdown) {
			reason = "shutdown"
		}
		sm.refused.WithLabelValues(reason).Inc()
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	defer g.live.remove(live)
	up := websocket.Upgrader{
		ReadBufferSize:  4096,
		WriteBufferSize: 4096,
		// Twilio sends no Origin; the signature authenticates the upgrade.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		cancel(err)
		g.log.Warn("relay upgrade failed", "err", err)
		g.metrics.relay.ended.WithLabelValues("upgrade_failed").Inc()
		return
	}
	sm.active.Inc()
	defer sm.active.Dec()
	s := &relaySession{g: g, m: g.metrics.relay, conn: conn, cancel: cancel, log: g.log}
	s.serve(ctx)
}

// relaySession is one ConversationRelay connection. Two goroutines: the
// reader (decodes frames, forwards events) and the session itself (the
// handler's goroutine), which is also the only writer of data frames.
type relaySession struct {
	g      *Gateway
	m      *relayMetrics
	conn   *websocket.Conn
	cancel context.CancelCauseFunc
	log    *slog.Logger

	events chan relayEvent // reader → session; closed when the reader ends
	quit   chan struct{}   // closed when the session stops listening

	callSid      string
	lang         kba.Lang     // the session's speech and recognition language
	ended        string       // the outcome sent in end, once sent
	sent         int          // messages sent
	received     atomic.Int64 // messages received (counted by the reader)
	twilioClosed atomic.Bool  // the reader saw Twilio's close frame
	step         int64        // the call's step, for end
}

type relayEventKind uint8

const (
	relaySetupEv relayEventKind = iota + 1
	relayPromptEv
	relayKeyEv
	relayInterruptEv
	relayClosedEv
)

// relayEvent is what the reader tells the session. Transcripts and keys
// are the caller's answers: they are never logged.
type relayEvent struct {
	kind  relayEventKind
	setup conversationrelay.Setup
	text  string
	last  bool
	digit byte
}

func (s *relaySession) serve(ctx context.Context) {
	s.events = make(chan relayEvent, relayEventBuffer)
	s.quit = make(chan struct{})
	s.conn.SetReadLimit(maxRelayMessage)
	readerDone := make(chan struct{})
	go func() { defer close(readerDone); s.read() }()

	start := time.Now()
	err := s.run(ctx)
	outcome, code := s.ended, websocket.CloseNormalClosure
	switch {
	case errors.Is(context.Cause(ctx), errShutdown):
		// The call goes on at the <Connect action>, which opens a session
		// on another instance.
		outcome, code = "shutdown", websocket.CloseGoingAway
		if s.callSid != "" && s.ended == "" {
			s.end(handoff{Outcome: relayHandback, Step: s.step})
		}
	case errors.Is(err, errRelayClosed) && s.twilioClosed.Load():
		outcome = "closed_by_twilio" // the caller hung up, or Twilio gave up
	case errors.Is(err, errRelayClosed):
		outcome = "lost"
	case errors.Is(err, errNoSetup):
		outcome, code = "no_setup", websocket.ClosePolicyViolation
	case errors.Is(err, errBinding):
		outcome, code = "unbound", websocket.ClosePolicyViolation
		s.g.metrics.stream.refused.WithLabelValues("binding").Inc()
		s.log.Warn("relay session refused: not bound to its call", "call_sid", s.callSid)
	case errors.Is(err, errDuplicate):
		outcome, code = "duplicate", websocket.ClosePolicyViolation
		s.g.metrics.stream.refused.WithLabelValues("duplicate").Inc()
		s.log.Warn("relay session refused: the call already has a live session", "call_sid", s.callSid)
	case err != nil:
		// The engine failed (Redis down, unreadable state): Twilio
		// continues at the <Connect action>, which apologises.
		outcome = "error"
		s.log.Error("relay session failed", "call_sid", s.callSid, "kind", errorKind(err), "err", err)
		if s.ended == "" {
			s.end(handoff{Outcome: relayTrouble, Step: s.step})
		}
	}
	if outcome == "" {
		outcome = "closed"
	}
	// Counted and logged before the close handshake, so that whoever sees
	// the close also sees the count.
	s.m.ended.WithLabelValues(outcome).Inc()
	s.log.Info("relay", "call_sid", s.callSid, "outcome", outcome, "messages_in", s.received.Load(),
		"messages_out", s.sent, "ms", time.Since(start).Milliseconds())
	switch {
	case outcome == "lost" || outcome == "closed_by_twilio":
	case s.ended != "" && code == websocket.CloseNormalClosure && s.awaitClose():
		// After end, Twilio closes the session itself.
	default:
		deadline := time.Now().Add(writeTimeout)
		if s.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), deadline) == nil {
			s.awaitClose()
		}
	}
	close(s.quit)
	s.conn.Close()
	<-readerDone
	s.cancel(nil)
}

// awaitClose drains events until the reader sees Twilio's close frame (or
// the connection ends), for at most closeWait; it reports whether it did.
func (s *relaySession) awaitClose() bool {
	t := time.NewTimer(closeWait)
	defer t.Stop()
	for {
		select {
		case _, ok := <-s.events:
			if !ok {
				return true
			}
		case <-t.C:
			return false
		}
	}
}

// run is the session: setup, binding, then question after question until
// the dialog ends or needs TwiML.
func (s *relaySession) run(ctx context.Context) error {
	g := s.g
	setup, err := s.awaitSetup(ctx)
	if err != nil {
		return err
	}
	if ivr.ValidCallSid(setup.CallSid) {
		s.callSid = setup.CallSid // for the log lines; only a SID's shape is trusted
	}
	step, caller, err := g.bound("relay", setup.CallSid, setup.CustomParameters)
	if err != nil {
		return err
	}
	release, err := g.claim(ctx, s.callSid)
	if err != nil {
		return err
	}
	defer release()
	call := callflow.Call{Sid: s.callSid, Caller: caller, Step: step, Wait: g.cfg.StreamVerifyWait}
	var t callflow.Turn
	if step == 0 {
		// Opened by /twilio/voice: the call starts here (or, for a call
		// Twilio announced twice, resumes where it is).
		t, err = g.engine.Advance(ctx, call, dialog.Start{})
	} else {
		t, err = g.engine.Current(ctx, s.callSid)
	}
	switch {
	case errors.Is(err, callflow.ErrUnknownCall):
		s.log.Warn("relay session for an unknown call", "call_sid", s.callSid)
		return s.end(handoff{Outcome: relayHandback, Step: step})
	case err != nil:
		return err
	case step != 0 && t.Step != step:
		// Bound to an older step (another request moved the call): the
		// <Connect action> renders where the call is.
		s.log.Info("relay session for an older step", "call_sid", s.callSid, "bound_step", step, "step", t.Step)
		return s.end(handoff{Outcome: relayHandback, Step: t.Step})
	}
	s.lang = t.State.Lang
	for {
		s.step, call.Step = t.Step, t.Step
		a, ok := relayAsk(t.Actions)
		if !ok {
			return s.end(outcomeOf(t))
		}
		if t.State.Lang != s.lang {
			// The caller chose another language: Twilio speaks and listens
			// in it from now on (the voices are the TwiML's <Language>s).
			code := g.cat.Lookup(string(t.State.Lang)).Code
			if err := s.send(conversationrelay.Language{TTSLanguage: code, TranscriptionLanguage: code}); err != nil {
				return err
			}
			s.lang = t.State.Lang
		}
		in, err := s.collect(ctx, a)
		if err != nil {
			return err
		}
		in.At = g.now()
		if t, err = s.stepWithHold(ctx, call, in); err != nil {
			return err
		}
	}
}

// relayAsk returns the question when the turn is one (every question runs
// in the session: speech and keys alike).
func relayAsk(actions []dialog.Action) (dialog.Ask, bool) {
	for _, a := range actions {
		if ask, ok := a.(dialog.Ask); ok {
			return ask, true
		}
	}
	return dialog.Ask{}, false
}

// outcomeOf names a turn that is not a question, for end.
func outcomeOf(t callflow.Turn) handoff {
	h := handoff{Step: t.Step}
	switch t.State.Node {
	case dialog.NodeVerified:
		h.Outcome = relayVerified
	case dialog.NodeFailed:
		h.Outcome, h.Reason = relayFailed, t.State.Reason
	default:
		h.Outcome = relayHold
	}
	return h
}

// end sends the end message: Twilio closes the session and requests the
// <Connect action> with handoffData.
func (s *relaySession) end(h handoff) error {
	b, _ := json.Marshal(h)
	s.ended = h.Outcome
	return s.send(conversationrelay.End{HandoffData: string(b)})
}

// send writes one message (the session goroutine is the only writer).
func (s *relaySession) send(m conversationrelay.Message) error {
	b, err := conversationrelay.Encode(m)
	if err != nil {
		return err
	}
	s.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := s.conn.WriteMessage(websocket.TextMessage, b); err != nil {
		return fmt.Errorf("%w: %v", errRelayClosed, err)
	}
	s.sent++
	s.m.sent.WithLabelValues(m.MessageType()).Inc()
	return nil
}

func (s *relaySession) awaitSetup(ctx context.Context) (conversationrelay.Setup, error) {
	t := s.g.clock.NewTimer(setupTimeout)
	defer t.Stop()
	for {
		select {
		case ev, ok := <-s.events:
			if !ok || ev.kind == relayClosedEv {
				return conversationrelay.Setup{}, errRelayClosed
			}
			if ev.kind == relaySetupEv {
				return ev.setup, nil
			}
		case <-t.C:
			return conversationrelay.Setup{}, errNoSetup
		case <-ctx.Done():
			return conversationrelay.Setup{}, context.Cause(ctx)
		}
	}
}
