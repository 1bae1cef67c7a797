package telephony

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"go.opentelemetry.io/otel/trace"

	"github.com/ivr-gateway/ivr/callflow"
	"github.com/ivr-gateway/ivr/dialog"
	"github.com/ivr-gateway/ivr/kba"
	"github.com/ivr-gateway/ivr/prompts"
	promptaudio "github.com/ivr-gateway/ivr/prompts/audio"
	"github.com/ivr-gateway/ivr/telephony/mediastream"
)

// This file is the Media Streams transport (IVR_TRANSPORT=stream): the
// keypad questions of the dialog run over a bidirectional <Connect><Stream>.
// The name is still asked by a speech <Gather>; when the dialog reaches a
// keypad question the webhook answers <Connect><Stream>, Twilio opens
// GET /twilio/stream, and this code plays the question as audio, collects
// the digits (dtmf events or in-band tones), steps the dialog through the
// same Gateway.step as the webhooks, and repeats until the dialog needs
// something a stream cannot do (speech, hand-off, transfer, hang-up, hold
// after a lost stream). Then it closes the socket; Twilio requests the
// <Connect action> (/twilio/stream-done), which renders the current node as
// TwiML.

// Transport names for Config.Transport (IVR_TRANSPORT).
const (
	TransportGather = "gather"
	TransportStream = "stream"
)

// Stream timing. Tests run them through a faster Clock.
const (
	frameInterval = 20 * time.Millisecond
	// primeFrames are sent at once when a prompt starts so Twilio's jitter
	// buffer never runs dry; the rest follow in real time.
	primeFrames = 3
	// markGrace is how long after the last frame was sent the question's
	// timeout starts anyway when Twilio's mark echo is late or lost.
	markGrace = 2 * time.Second
	// holdAfter is how long a step (a verification) may take before the
	// caller hears the hold prompt.
	holdAfter = time.Second
	// startTimeout bounds the wait for the start message.
	startTimeout = 10 * time.Second
	// readIdle ends a stream that has sent nothing (not even media) for this
	// long: Twilio sends fifty media messages a second.
	readIdle = 30 * time.Second
	// writeTimeout bounds one write to Twilio.
	writeTimeout = 5 * time.Second
	// closeWait is how long we wait for Twilio to answer our close frame.
	closeWait = 2 * time.Second
	// dedupWindow: a key heard in-band and reported by a dtmf event within
	// this much stream time is one key press (a dtmf event may come at
	// key release, a second after the tone began).
	dedupWindow = 1500 * time.Millisecond
	// maxStreamMessage caps one inbound frame; media messages are ~400 bytes.
	maxStreamMessage = 64 << 10
	// outBuffers is the depth of the outbound queue, in messages.
	outBuffers = 16
)

// Clock is what the stream's timers need of time. Tests pass one that runs
// faster than the wall clock; nothing in the stream sleeps. The stream never
// calls Reset on what it returns, so a Clock may scale durations.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) *time.Timer
	NewTicker(d time.Duration) *time.Ticker
}

type wallClock struct{}

func (wallClock) Now() time.Time                         { return time.Now() }
func (wallClock) NewTimer(d time.Duration) *time.Timer   { return time.NewTimer(d) }
func (wallClock) NewTicker(d time.Duration) *time.Ticker { return time.NewTicker(d) }

// PromptAudio gives the 8 kHz μ-law rendering of a prompt (no header), or
// nil when there is none; promptaudio.Clip is the default.
type PromptAudio interface {
	Clip(lang string, id prompts.ID) []byte
}

type embeddedAudio struct{}

func (embeddedAudio) Clip(lang string, id prompts.ID) []byte {
	return promptaudio.Clip(lang, string(id))
}

// streamQuestion reports whether a question runs on the stream: the keypad
// questions. The name, its spelling and the language menu need Twilio's
// speech recogniser and stay on <Gather>.
func streamQuestion(q dialog.Node) bool {
	switch q {
	case dialog.NodeDOB, dialog.NodeConfirmDOB, dialog.NodeSSN4, dialog.NodeOTP:
		return true
	}
	return false
}

// streamBase turns the public https (http) URL into its wss (ws) form.
func streamBase(publicURL string) string {
	if rest, ok := strings.CutPrefix(publicURL, "https://"); ok {
		return "wss://" + rest
	}
	return "ws://" + strings.TrimPrefix(publicURL, "http://")
}

// streamSigned checks X-Twilio-Signature on the upgrade. Twilio does not
// document the signed URL for WSS handshakes; it signs the <Stream url>
// (which may carry no query string) with no parameters, and its security
// notes say to try the URL with a trailing "/" when that fails. Exactly
// those two are accepted.
func (g *Gateway) streamSigned(r *http.Request) bool {
	sig := r.Header.Get("X-Twilio-Signature")
	if sig == "" || g.cfg.AuthToken == "" {
		return false
	}
	u := streamBase(g.cfg.PublicURL) + r.RequestURI
	if g.sig.validator.Validate(u, nil, sig) {
		return true
	}
	return r.URL.RawQuery == "" && !strings.HasSuffix(u, "/") && g.sig.validator.Validate(u+"/", nil, sig)
}

// stream serves GET /twilio/stream.
func (g *Gateway) stream(w http.ResponseWriter, r *http.Request) {
	m := g.metrics.stream
	if !g.streamSigned(r) {
		g.metrics.signatureFailures.Inc()
		g.log.Warn("webhook signature rejected", "route", "stream")
		w.WriteHeader(http.StatusForbidden)
		return
	}
	base := context.Background()
	if sp := trace.SpanFromContext(r.Context()); sp.SpanContext().IsValid() {
		// Traced: the steps run from the session link to its request's span.
		base = trace.ContextWithSpan(base, sp)
	}
	ctx, cancel := context.WithCancelCause(base)
	s := &streamSession{g: g, m: m, clock: g.clock, cancel: cancel}
	live, err := g.live.add(cancel)
	if err != nil {
		// Over the cap, or shutting down: refused before the upgrade, so
		// Twilio goes on with the <Connect action> (the call is not lost).
		cancel(err)
		reason := "cap"
		if errors.Is(err, errShutdown) {
			reason = "shutdown"
		}
		m.refused.WithLabelValues(reason).Inc()
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
		// Upgrade has answered the client already.
		cancel(err)
		g.log.Warn("stream upgrade failed", "err", err)
		m.ended.WithLabelValues("upgrade_failed").Inc()
		return
	}
	s.conn = conn
	m.active.Inc()
	defer m.active.Dec()
	s.serve(ctx)
}

// streamSession is one Media Streams connection. Three goroutines: the
// reader (decodes frames, runs the in-band detector, forwards events), the
// writer (the only one writing data frames) and the session itself (the
// handler's goroutine: prompts, digits, dialog steps).
type streamSession struct {
	g      *Gateway
	m      *streamMetrics
	clock  Clock
	conn   *websocket.Conn
	cancel context.CancelCauseFunc

	events chan streamEvent // reader → session; closed when the reader ends
	quit   chan struct{}    // closed when the session stops listening
	out    chan []byte      // session → writer
	free   chan []byte      // writer → session: reusable message buffers

	callSid, streamSid string
	log                *slog.Logger
	lastLang           kba.Lang // of the last question, for the hold prompt

	// playback
	queue     []segment
	off       int
	ticker    *time.Ticker
	lastMark  string
	unacked   int
	marks     int
	sentCount int
	lostCount int
}

// segment is one prompt's audio and the mark sent after it.
type segment struct {
	audio []byte
	mark  string
}

type eventKind uint8

const (
	evStart eventKind = iota + 1
	evKey
	evMark
	evStop
	evClosed
)

// streamEvent is what the reader tells the session. Keys carry no more than
// the key itself and are never logged.
type streamEvent struct {
	kind  eventKind
	digit byte
	name  string
	start mediastream.Start
	err   error
}

func (s *streamSession) serve(ctx context.Context) {
	g := s.g
	s.log = g.log
	s.events = make(chan streamEvent, 16)
	s.quit = make(chan struct{})
	s.out = make(chan []byte, outBuffers)
	s.free = make(chan []byte, outBuffers)
	for range outBuffers {
		s.free <- make([]byte, 0, 512)
	}
	s.conn.SetReadLimit(maxStreamMessage)
	readerDone := make(chan struct{})
	writerDone := make(chan struct{})
	go func() { defer close(readerDone); s.read() }()
	go func() { defer close(writerDone); s.write() }()

	start := s.clock.Now()
	err := s.run(ctx)
	outcome, code := "handback", websocket.CloseNormalClosure
	switch {
	case errors.Is(err, errStreamEnded):
		outcome = "stopped"
	case errors.Is(err, errStreamClosed):
		outcome = "lost"
	case errors.Is(context.Cause(ctx), errShutdown):
		outcome, code = "shutdown", websocket.CloseGoingAway
	case errors.Is(err, mediastream.ErrMalformed):
		outcome, code = "bad_start", websocket.ClosePolicyViolation
	case errors.Is(err, errBinding):
		outcome, code = "unbound", websocket.ClosePolicyViolation
		s.m.refused.WithLabelValues("binding").Inc()
		s.log.Warn("stream refused: not bound to its call", "call_sid", s.callSid)
	case errors.Is(err, errDuplicate):
		outcome, code = "duplicate", websocket.ClosePolicyViolation
		s.m.refused.WithLabelValues("duplicate").Inc()
		s.log.Warn("stream refused: the call already has a live stream", "call_sid", s.callSid)
	case err != nil:
		outcome, code = "error", websocket.CloseInternalServerErr
	}
	if err != nil && outcome == "error" {
		s.log.Error("stream failed", "call_sid", s.callSid, "kind", errorKind(err), "err", err)
	}
	s.stopPlay(false)
	// Counted and logged before the close handshake, so that whoever sees
	// the close also sees the count.
	s.m.ended.WithLabelValues(outcome).Inc()
	s.log.Info("stream", "call_sid", s.callSid, "stream_sid", s.streamSid, "outcome", outcome,
		"frames_sent", s.sentCount, "frames_lost", s.lostCount, "ms", s.clock.Now().Sub(start).Milliseconds())

	// Let the writer finish what is queued, then close the WebSocket the
	// way RFC 6455 §7 asks: our close frame, Twilio's answer, then TCP.
	close(s.out)
	<-writerDone
	if outcome != "lost" {
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
// the connection ends), for at most closeWait.
func (s *streamSession) awaitClose() {
	t := s.clock.NewTimer(closeWait)
	defer t.Stop()
	for {
		select {
		case _, ok := <-s.events:
			if !ok {
				return
			}
		case <-t.C:
			return
		}
	}
}

// run is the session: wait for start, then question after question until
// the dialog leaves the keypad questions.
func (s *streamSession) run(ctx context.Context) error {
	g := s.g
	st, err := s.awaitStart(ctx)
	if err != nil {
		return err
	}
	step, caller, err := g.bound("stream", st.CallSid, st.CustomParameters)
	if err != nil {
		return err
	}
	s.callSid, s.streamSid = st.CallSid, st.StreamSid
	release, err := g.claim(ctx, s.callSid)
	if err != nil {
		return err
	}
	defer release()
	t, err := g.engine.Current(ctx, s.callSid)
	if errors.Is(err, callflow.ErrUnknownCall) {
		// The session expired since the TwiML was given: hand the call
		// back, the <Connect action> starts over.
		s.log.Warn("stream for an unknown call", "call_sid", s.callSid)
		return nil
	}
	if err != nil {
		return err
	}
	if t.Step != step {
		// Bound to an older step (a repeated TwiML, or another request moved
		// the call): answer nothing here; the <Connect action> renders
		// where the call is.
		s.log.Info("stream for an older step", "call_sid", s.callSid, "bound_step", step, "step", t.Step)
		return nil
	}
	call := callflow.Call{Sid: s.callSid, Caller: caller, Step: t.Step, Wait: g.cfg.StreamVerifyWait}
	for {
		a, ok := streamAsk(t.Actions)
		if !ok {
			// The dialog needs TwiML (speech, hand-off, transfer, hang-up):
			// wait until what we played has been heard, then hand back.
			return s.drain(ctx)
		}
		in, err := s.collect(ctx, a, t.State.Lang)
		if err != nil {
			return err
		}
		in.At = g.now()
		t, err = s.stepWithHold(ctx, call, in)
		if err != nil {
			return err
		}
		call.Step = t.Step
	}
}

// streamAsk returns the question when actions are one keypad question.
func streamAsk(actions []dialog.Action) (dialog.Ask, bool) {
	if len(actions) != 1 {
		return dialog.Ask{}, false
	}
	a, ok := actions[0].(dialog.Ask)
	return a, ok && a.DTMF && streamQuestion(a.Question)
}

func (s *streamSession) awaitStart(ctx context.Context) (mediastream.Start, error) {
	t := s.clock.NewTimer(startTimeout)
	defer t.Stop()
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				return mediastream.Start{}, errStreamClosed
			}
			switch ev.kind {
			case evStart:
				return ev.start, nil
			case evStop:
				return mediastream.Start{}, errStreamEnded
			case evClosed:
				return mediastream.Start{}, errStreamClosed
			}
		case <-t.C:
			return mediastream.Start{}, fmt.Errorf("%w: no start message", mediastream.ErrMalformed)
		case <-ctx.Done():
			return mediastream.Start{}, context.Cause(ctx)
		}
	}
}
