package telephony

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ivr-gateway/ivr/dialog"
	"github.com/ivr-gateway/ivr/dtmf"
	"github.com/ivr-gateway/ivr/kba"
	"github.com/ivr-gateway/ivr/prompts"
	promptaudio "github.com/ivr-gateway/ivr/prompts/audio"
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

// callerRef stands for the caller's number wherever the gateway keeps it:
// the per-caller limit and the <Stream> parameters (so the number never goes
// into TwiML). A keyed hash, stable per number. Withheld and non-E.164
// caller IDs ("anonymous", "client:alice") get "": they share no bucket.
func callerRef(authToken, from string) string {
	if !e164(from) {
		return ""
	}
	m := hmac.New(sha256.New, []byte(authToken))
	m.Write([]byte("ivr-caller:" + from))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

func e164(s string) bool {
	if len(s) < 8 || len(s) > 16 || s[0] != '+' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// streamMetrics count what the streams did. Per-frame counters are resolved
// once, so counting a frame is one atomic add.
type streamMetrics struct {
	active      prometheus.Gauge
	ended       *prometheus.CounterVec
	messages    *prometheus.CounterVec
	media       prometheus.Counter
	errors      *prometheus.CounterVec
	digits      *prometheus.CounterVec
	framesSent  prometheus.Counter
	framesLost  prometheus.Counter
	errBadJSON  prometheus.Counter
	errBadAudio prometheus.Counter
	errEarly    prometheus.Counter
}

func newStreamMetrics(reg prometheus.Registerer) *streamMetrics {
	m := &streamMetrics{
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ivr_streams_active", Help: "Media Streams connections open now.",
		}),
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ivr_streams_total", Help: "Media Streams connections ended, by outcome.",
		}, []string{"outcome"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ivr_stream_messages_total", Help: "Media Streams messages received, by event.",
		}, []string{"event"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ivr_stream_errors_total", Help: "Media Streams messages refused, by kind.",
		}, []string{"kind"}),
		digits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ivr_stream_digits_total", Help: "Keys heard on streams, by source (event, inband, duplicate, dropped).",
		}, []string{"source"}),
		framesSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ivr_stream_frames_sent_total", Help: "20 ms prompt frames sent to Twilio.",
		}),
		framesLost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ivr_stream_frames_lost_total", Help: "Prompt frames dropped because the connection could not keep up.",
		}),
	}
	m.media = m.messages.WithLabelValues("media")
	m.errBadJSON = m.errors.WithLabelValues("malformed")
	m.errBadAudio = m.errors.WithLabelValues("bad_payload")
	m.errEarly = m.errors.WithLabelValues("media_before_start")
	if reg != nil {
		reg.MustRegister(m.active, m.ended, m.messages, m.errors, m.digits, m.framesSent, m.framesLost)
	}
	return m
}

// streamSet tracks live streams: http.Server.Shutdown does not wait for
// hijacked connections, so Gateway.Shutdown closes them itself.
type streamSet struct {
	mu     sync.Mutex
	live   map[*streamSession]struct{}
	closed bool
	wg     sync.WaitGroup
}

func (ss *streamSet) add(s *streamSession) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.closed {
		return false
	}
	if ss.live == nil {
		ss.live = make(map[*streamSession]struct{})
	}
	ss.live[s] = struct{}{}
	ss.wg.Add(1)
	return true
}

func (ss *streamSet) remove(s *streamSession) {
	ss.mu.Lock()
	delete(ss.live, s)
	ss.mu.Unlock()
	ss.wg.Done()
}

// closeAll refuses new streams and asks every live one to hand its call
// back to TwiML (close 1001); Twilio then requests the <Connect action>,
// which another instance can answer.
func (ss *streamSet) closeAll() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.closed = true
	for s := range ss.live {
		s.cancel(errShutdown)
	}
}

var (
	errShutdown     = errors.New("telephony: gateway shutting down")
	errStreamEnded  = errors.New("telephony: stream ended by Twilio")
	errStreamClosed = errors.New("telephony: stream connection lost")
)

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
	ctx, cancel := context.WithCancelCause(context.Background())
	s := &streamSession{g: g, m: m, clock: g.clock, cancel: cancel}
	if !g.streams.add(s) {
		cancel(errShutdown)
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	defer g.streams.remove(s)
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
	start streamStart
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
	case errors.Is(err, errMalformed):
		outcome, code = "bad_start", websocket.ClosePolicyViolation
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
	if !validSid(st.CallSid) {
		return fmt.Errorf("%w: start without a valid callSid", errMalformed)
	}
	s.callSid, s.streamSid = st.CallSid, st.StreamSid
	c, err := g.load(ctx, s.callSid)
	if err != nil {
		return err
	}
	if c.isNew {
		// A stream for a call that never reached /twilio/voice (or whose
		// session expired): hand it back, the <Connect action> starts over.
		s.log.Warn("stream for an unknown call", "call_sid", s.callSid)
		return nil
	}
	req := &request{route: "stream", callSid: s.callSid}
	if ref := st.CustomParameters["caller"]; ref != "" {
		req.caller = ref
	}
	if p := st.CustomParameters["step"]; p != strconv.FormatInt(c.sess.Step, 10) {
		// A stream opened for an older step (Twilio retried the TwiML, or
		// another request moved the call): the stored step wins.
		s.log.Info("stream for an older step", "call_sid", s.callSid, "param_step", p, "step", c.sess.Step)
	}
	// Resume never saves or verifies: it only says where the call is.
	state, actions := g.machine.Step(c.state, dialog.Resume{})
	req.step = c.sess.Step
	for {
		a, ok := streamAsk(actions)
		if !ok {
			// The dialog needs TwiML (speech, hand-off, transfer, hang-up):
			// wait until what we played has been heard, then hand back.
			return s.drain(ctx)
		}
		in, err := s.collect(ctx, a, state.Lang)
		if err != nil {
			return err
		}
		in.At = g.now()
		t, err := s.stepWithHold(ctx, req, in)
		if err != nil {
			return err
		}
		state, actions, req.step = t.state, t.actions, t.call.sess.Step
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

func (s *streamSession) awaitStart(ctx context.Context) (streamStart, error) {
	t := s.clock.NewTimer(startTimeout)
	defer t.Stop()
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				return streamStart{}, errStreamClosed
			}
			switch ev.kind {
			case evStart:
				return ev.start, nil
			case evStop:
				return streamStart{}, errStreamEnded
			case evClosed:
				return streamStart{}, errStreamClosed
			}
		case <-t.C:
			return streamStart{}, fmt.Errorf("%w: no start message", errMalformed)
		case <-ctx.Done():
			return streamStart{}, context.Cause(ctx)
		}
	}
}

// questionTimeout is the <Gather timeout> the webhooks use for the same
// question: the wait for the first key and between keys.
func questionTimeout(q dialog.Node) time.Duration {
	n, _ := strconv.Atoi(settingsFor(q).timeout)
	return time.Duration(n) * time.Second
}

// collect plays a question and gathers its digits the way <Gather> does:
// it ends at NumDigits keys, at '#', or when the caller stops pressing
// keys for the question's timeout (empty input when none were pressed). A
// key during the prompt stops it (clear): barge-in.
func (s *streamSession) collect(ctx context.Context, a dialog.Ask, lang kba.Lang) (dialog.Input, error) {
	s.lastLang = lang
	s.play(s.segments(a.Say, lang))
	timeout := questionTimeout(a.Question)
	var (
		buf    [16]byte
		digits = buf[:0]
		timer  *time.Timer
	)
	setTimer := func(d time.Duration) {
		// A new timer rather than Reset: Reset would bypass the Clock.
		if timer != nil {
			timer.Stop()
		}
		timer = s.clock.NewTimer(d)
	}
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	if !s.playing() {
		setTimer(timeout + markGrace)
	}
	for {
		var timerC <-chan time.Time
		if timer != nil {
			timerC = timer.C
		}
		select {
		case <-s.tickC():
			if s.tick(ctx) && len(digits) == 0 {
				setTimer(timeout + markGrace)
			}
		case ev, ok := <-s.events:
			if !ok {
				return dialog.Input{}, errStreamClosed
			}
			switch ev.kind {
			case evKey:
				if s.playing() {
					s.stopPlay(true)
				}
				if ev.digit == '#' {
					return dialog.Input{Digits: string(digits)}, nil
				}
				if len(digits) < cap(buf) {
					digits = append(digits, ev.digit)
				}
				if a.NumDigits > 0 && len(digits) >= a.NumDigits {
					return dialog.Input{Digits: string(digits)}, nil
				}
				setTimer(timeout)
			case evMark:
				if s.acked(ev.name) && !s.playing() && len(digits) == 0 {
					// The question has been heard: the caller's time starts now.
					setTimer(timeout)
				}
			case evStop:
				return dialog.Input{}, errStreamEnded
			case evClosed:
				return dialog.Input{}, errStreamClosed
			}
		case <-timerC:
			return dialog.Input{Digits: string(digits)}, nil
		case <-ctx.Done():
			return dialog.Input{}, context.Cause(ctx)
		}
	}
}

// stepWithHold steps the dialog with the caller's input. A verification
// runs inside the step with no webhook deadline to meet; when it takes
// longer than holdAfter the caller hears the hold prompt meanwhile. Keys
// pressed during the step are dropped, as <Gather> would.
func (s *streamSession) stepWithHold(ctx context.Context, req *request, in dialog.Input) (turn, error) {
	type result struct {
		t   turn
		err error
	}
	stepCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan result, 1)
	go func() {
		t, err := s.g.step(stepCtx, req, in, s.g.cfg.VerifyTimeout+5*time.Second)
		done <- result{t, err}
	}()
	hold := s.clock.NewTimer(holdAfter)
	defer hold.Stop()
	var (
		res    result
		have   bool
		failed error
	)
	for {
		if have && !s.playing() {
			return res.t, res.err
		}
		if failed != nil {
			cancel()
			if !have {
				<-done
			}
			return turn{}, failed
		}
		select {
		case res = <-done:
			have = true
		case <-hold.C:
			s.play(s.segments([]dialog.Say{{Prompt: prompts.Hold}}, s.lastLang))
		case <-s.tickC():
			s.tick(ctx)
		case ev, ok := <-s.events:
			switch {
			case !ok || ev.kind == evClosed:
				failed = errStreamClosed
			case ev.kind == evStop:
				failed = errStreamEnded
			case ev.kind == evMark:
				s.acked(ev.name)
			case ev.kind == evKey:
				s.m.digits.WithLabelValues("dropped").Inc()
			}
		case <-ctx.Done():
			failed = context.Cause(ctx)
		}
	}
}

// drain waits until every mark sent has been echoed (the caller has heard
// everything queued), for at most markGrace after the last frame.
func (s *streamSession) drain(ctx context.Context) error {
	var t *time.Timer
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for s.playing() || s.unacked > 0 {
		if t == nil && !s.playing() {
			t = s.clock.NewTimer(markGrace)
		}
		var tc <-chan time.Time
		if t != nil {
			tc = t.C
		}
		select {
		case <-s.tickC():
			s.tick(ctx)
		case ev, ok := <-s.events:
			switch {
			case !ok || ev.kind == evClosed:
				return errStreamClosed
			case ev.kind == evStop:
				return errStreamEnded
			case ev.kind == evMark:
				s.acked(ev.name)
			}
		case <-tc:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	return nil
}

// segments looks up the audio of each prompt; each is followed by a mark
// named after it, so Twilio tells us when it has been heard.
func (s *streamSession) segments(says []dialog.Say, lang kba.Lang) []segment {
	out := make([]segment, 0, len(says))
	for _, say := range says {
		l := lang
		if say.Lang != "" {
			l = say.Lang
		}
		s.marks++
		out = append(out, segment{
			audio: s.g.audio.Clip(string(l), say.Prompt),
			mark:  string(say.Prompt) + "-" + strconv.Itoa(s.marks),
		})
	}
	return out
}

// play queues prompts and starts sending them in real time.
func (s *streamSession) play(segs []segment) {
	if len(segs) == 0 {
		return
	}
	s.queue = append(s.queue, segs...)
	if s.ticker == nil {
		s.ticker = s.clock.NewTicker(frameInterval)
		for i := 0; i < primeFrames && s.playing(); i++ {
			s.tick(context.Background())
		}
	}
}

func (s *streamSession) playing() bool { return len(s.queue) > 0 }

func (s *streamSession) tickC() <-chan time.Time {
	if s.ticker == nil {
		return nil
	}
	return s.ticker.C
}

// tick sends the next 20 ms frame, and the prompt's mark after its last
// frame. It reports whether that was the last frame queued.
func (s *streamSession) tick(ctx context.Context) bool {
	if len(s.queue) == 0 {
		return false
	}
	seg := &s.queue[0]
	if s.off < len(seg.audio) {
		n := min(frameBytes, len(seg.audio)-s.off)
		s.sendFrame(seg.audio[s.off : s.off+n])
		s.off += n
		if s.off < len(seg.audio) {
			return false
		}
	}
	s.sendMessage(ctx, &outMessage{Event: "mark", StreamSid: s.streamSid, Mark: seg.mark})
	s.unacked++
	s.lastMark = seg.mark
	s.queue, s.off = s.queue[1:], 0
	if len(s.queue) > 0 {
		return false
	}
	s.stopPlay(false)
	return true
}

// stopPlay drops what is still queued; with clear it also tells Twilio to
// drop what it has buffered (barge-in).
func (s *streamSession) stopPlay(clear bool) {
	if clear && s.playing() {
		s.sendMessage(context.Background(), &outMessage{Event: "clear", StreamSid: s.streamSid})
	}
	s.queue, s.off = nil, 0
	if s.ticker != nil {
		s.ticker.Stop()
		s.ticker = nil
	}
}

// acked records Twilio's echo of a mark and reports whether it was the
// last one sent.
func (s *streamSession) acked(name string) bool {
	if s.unacked > 0 {
		s.unacked--
	}
	return name == s.lastMark
}

// sendFrame queues one frame, padded with μ-law silence to 20 ms. When
// every buffer is still with the writer the connection is not keeping up:
// the frame is dropped and counted rather than delaying the session.
func (s *streamSession) sendFrame(audio []byte) {
	var b []byte
	select {
	case b = <-s.free:
	default:
		s.lostCount++
		s.m.framesLost.Inc()
		return
	}
	var frame [frameBytes]byte
	n := copy(frame[:], audio)
	for i := n; i < frameBytes; i++ {
		frame[i] = 0xFF
	}
	msg := outMessage{Event: "media", StreamSid: s.streamSid, Payload: frame[:]}
	s.out <- msg.MarshalTo(b[:0])
	s.sentCount++
	s.m.framesSent.Inc()
}

// sendMessage queues a mark or clear; these are never dropped.
func (s *streamSession) sendMessage(ctx context.Context, msg *outMessage) {
	select {
	case b := <-s.free:
		s.out <- msg.MarshalTo(b[:0])
	case <-ctx.Done():
	}
}

// write is the writer goroutine: the only one writing data frames (gorilla
// allows one concurrent writer). After a failed write it keeps returning
// buffers so the session never blocks, and cancels the session.
func (s *streamSession) write() {
	failed := false
	for b := range s.out {
		if !failed {
			s.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
			if err := s.conn.WriteMessage(websocket.TextMessage, b); err != nil {
				failed = true
				s.cancel(errStreamClosed)
			}
		}
		s.free <- b[:0]
	}
}

// read is the reader goroutine: it reads every frame (so control frames are
// answered), decodes it and forwards what the session needs.
func (s *streamSession) read() {
	defer close(s.events)
	in := newInbound(s.m, s.log, s.send)
	var buf []byte
	for {
		s.conn.SetReadDeadline(time.Now().Add(readIdle))
		mt, r, err := s.conn.NextReader()
		if err != nil {
			s.send(streamEvent{kind: evClosed, err: err})
			return
		}
		if mt != websocket.TextMessage {
			in.refuse("binary", "binary frame (Twilio sends text)")
			continue
		}
		buf, err = readFrame(r, buf[:0])
		if err != nil {
			s.send(streamEvent{kind: evClosed, err: err})
			return
		}
		in.handle(buf)
	}
}

// send hands an event to the session unless it has stopped listening.
func (s *streamSession) send(ev streamEvent) bool {
	select {
	case s.events <- ev:
		return true
	case <-s.quit:
		return false
	}
}

// readFrame reads one message into buf, growing it only when a message is
// larger than any before it.
func readFrame(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// inbound is the per-message path of one stream: decode, base64, in-band
// detector, key de-duplication. It allocates nothing per media message.
type inbound struct {
	m       *streamMetrics
	log     *slog.Logger
	deliver func(streamEvent) bool

	msg     mediaMessage
	frame   [frameBytes]byte
	det     dtmf.Detector
	started bool
	inband  bool  // the start message announced 8 kHz μ-law
	samples int64 // inbound samples so far: the stream's own clock
	recent  [8]keyPress
	next    int
	logged  map[string]bool

	feed     func([]byte)
	emitTone func(dtmf.Event)
}

// keyPress is one key recently delivered, for de-duplication.
type keyPress struct {
	digit  byte
	atMS   int64
	inband bool
	paired bool
}

func newInbound(m *streamMetrics, log *slog.Logger, deliver func(streamEvent) bool) *inbound {
	in := &inbound{m: m, log: log, deliver: deliver, logged: map[string]bool{}}
	in.feed = func(b []byte) {
		if in.inband {
			in.det.WriteMulaw(b, in.emitTone)
		}
		in.samples += int64(len(b))
	}
	in.emitTone = func(e dtmf.Event) { in.key(e.Digit, true) }
	return in
}

// refuse counts a message the stream cannot use; the first of each kind is
// logged (never its content), the rest only counted.
func (in *inbound) refuse(kind, why string) {
	in.m.errors.WithLabelValues(kind).Inc()
	if !in.logged[kind] {
		in.logged[kind] = true
		in.log.Warn("stream message refused", "kind", kind, "why", why)
	}
}

// handle processes one text frame.
func (in *inbound) handle(data []byte) {
	m := &in.msg
	if err := m.unmarshal(data); err != nil {
		in.m.errBadJSON.Inc()
		if !in.logged["malformed"] {
			in.logged["malformed"] = true
			in.log.Warn("stream message refused", "kind", "malformed", "err", err)
		}
		return
	}
	switch string(m.Event) {
	case "media":
		in.m.media.Inc()
		if !in.started {
			in.m.errEarly.Inc()
			if !in.logged["media_before_start"] {
				in.logged["media_before_start"] = true
				in.log.Warn("stream message refused", "kind", "media_before_start")
			}
			return
		}
		if string(m.Media.Track) == "outbound" {
			return
		}
		if _, err := decodePayload(&in.frame, m.Media.Payload, in.feed); err != nil {
			in.m.errBadAudio.Inc()
			if !in.logged["bad_payload"] {
				in.logged["bad_payload"] = true
				in.log.Warn("stream message refused", "kind", "bad_payload")
			}
		}
	case "dtmf":
		in.m.messages.WithLabelValues("dtmf").Inc()
		d := m.DTMF.Digit
		if !in.started || len(d) != 1 || !isKey(d[0]) {
			in.refuse("bad_dtmf", "dtmf event without one key, or before start")
			return
		}
		in.key(d[0], false)
	case "mark":
		in.m.messages.WithLabelValues("mark").Inc()
		in.deliver(streamEvent{kind: evMark, name: string(m.Mark.Name)})
	case "start":
		in.m.messages.WithLabelValues("start").Inc()
		if in.started {
			in.refuse("duplicate_start", "second start message")
			return
		}
		st, err := m.decodeStart()
		if err != nil {
			in.refuse("malformed", err.Error())
			return
		}
		in.started = true
		f := st.MediaFormat
		in.inband = f.Encoding == "audio/x-mulaw" && f.SampleRate == 8000 && f.Channels == 1
		if !in.inband {
			in.log.Warn("stream media format not 8 kHz μ-law: in-band keys off", "encoding", f.Encoding, "rate", f.SampleRate)
		}
		in.deliver(streamEvent{kind: evStart, start: st})
	case "stop":
		in.m.messages.WithLabelValues("stop").Inc()
		in.deliver(streamEvent{kind: evStop})
	case "connected":
		in.m.messages.WithLabelValues("connected").Inc()
	default:
		in.refuse("unknown_event", "unknown event")
	}
}

func isKey(c byte) bool {
	return '0' <= c && c <= '9' || c == '*' || c == '#' || 'A' <= c && c <= 'D'
}

// key delivers a key press once. Twilio's dtmf events and the in-band
// detector may both hear the same press: a key from one source that matches
// an unpaired key from the other within dedupWindow (stream time) is that
// key again, and is dropped. Two presses of one key from one source always
// count twice.
func (in *inbound) key(digit byte, inband bool) {
	now := in.samples / 8
	for i := range in.recent {
		p := &in.recent[i]
		if p.digit == digit && !p.paired && p.inband != inband && now-p.atMS <= dedupWindow.Milliseconds() {
			p.paired = true
			in.m.digits.WithLabelValues("duplicate").Inc()
			return
		}
	}
	in.recent[in.next%len(in.recent)] = keyPress{digit: digit, atMS: now, inband: inband}
	in.next++
	if inband {
		in.m.digits.WithLabelValues("inband").Inc()
	} else {
		in.m.digits.WithLabelValues("event").Inc()
	}
	in.deliver(streamEvent{kind: evKey, digit: digit})
}
