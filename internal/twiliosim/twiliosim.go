// Package twiliosim is a Twilio Programmable Voice simulator: an HTTP and
// WebSocket client of the gateway that places a call the way Twilio does.
// It sends the form parameters Twilio sends (incoming call, <Gather>
// action, <Redirect>, <Connect action>, status callback), signs every
// request with X-Twilio-Signature, and executes the TwiML it gets back as
// Twilio would, turn by turn: a turn runs until the call waits for input
// (a <Gather>, or a question in a WebSocket session) or ends. It executes
// <Connect><Stream> (Media Streams: stream.go) and
// <Connect><ConversationRelay> (relay.go) too, so every transport of the
// gateway can be called.
//
// Tests, recorded call fixtures and the terminal phone (ivr call) drive the
// gateway through it, because Twilio itself cannot run here. The wire facts
// it reproduces are in shared/reference/twilio-voice.md §1-§3.
package twiliosim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults Twilio applies (twilio-voice.md §1.6, §2.1).
const (
	defaultMaxRedirects = 20
	// maxHTTPRedirects is Twilio's bound on followed HTTP 3xx (error 11215).
	maxHTTPRedirects = 10
	// requestTimeout is Twilio's total wait for a webhook response (error 11205).
	requestTimeout = 15 * time.Second
	// maxDocument bounds a TwiML response read into memory.
	maxDocument = 1 << 20
	// stirVerstat is the STIR/SHAKEN verdict of a fully attested caller.
	stirVerstat = "TN-Validation-Passed-A"
	userAgent   = "TwilioProxy/1.1"
)

// Errors returned by Call methods.
var (
	// ErrCallEnded is returned by Press, Say, Silence and Do once the call has
	// ended, and by Hangup once the status callback has been sent.
	ErrCallEnded = errors.New("twiliosim: call has ended")
	// ErrNotGathering is returned by Press, Say and Silence when the call is
	// not waiting in a <Gather>.
	ErrNotGathering = errors.New("twiliosim: call is not waiting for input")
	// ErrBadDigits is returned by Press for keys other than 0-9, * and #.
	ErrBadDigits = errors.New("twiliosim: not a keypad key")
	// ErrBadStatus is returned by Hangup for a CallStatus that does not end a call.
	ErrBadStatus = errors.New("twiliosim: not a terminal call status")
	// errNotInSession is returned by SendRaw outside a WebSocket session.
	errNotInSession = errors.New("twiliosim: call is not in a WebSocket session")
)

// Config describes the simulated call and where it is sent.
type Config struct {
	// BaseURL is where requests are sent, e.g. http://127.0.0.1:8080.
	BaseURL string
	// PublicURL is the gateway's IVR_PUBLIC_URL: what Twilio signs. Absolute
	// URLs in TwiML under PublicURL are sent to BaseURL.
	PublicURL string
	// AuthToken signs every request (see Sign).
	AuthToken string
	// AccountSid, CallSid, From and To describe the call. Zero values are
	// generated: AC/CA and 32 lowercase hex digits, 555-01xx numbers.
	AccountSid, CallSid, From, To string
	// Extra parameters are sent on every request of the call, replacing the
	// simulator's values for the same names: geo data (FromCity, ToState…),
	// ForwardedFrom and CalledVia for a forwarded call (sample [C]),
	// CallerName. CallStatus and the per-request parameters are not affected.
	Extra url.Values
	// HTTPClient sends the requests; nil means a default client. HTTP
	// redirects are followed by the simulator (as Twilio does), never by it.
	HTTPClient *http.Client
	// PauseScale scales <Pause length=N>: the call sleeps N*PauseScale
	// seconds (0 = no sleep).
	PauseScale float64
	// MaxRedirects bounds the <Redirect>s to the gateway followed in one
	// turn (default 20); beyond it the turn ends "error:redirect-loop".
	MaxRedirects int
	// Record, if set, is called for every request and its response.
	Record func(Exchange)
	// Now is the clock for call duration and status callback timestamps;
	// nil means time.Now.
	Now func() time.Time
	// Quiet is how long the gateway must stay silent in a WebSocket
	// session, after saying something the caller can answer, before the
	// simulated caller answers (socket.go); default 250 ms. A gateway whose
	// own timers run faster than the wall clock needs it well under its
	// shortest question timeout.
	Quiet time.Duration
	// StreamKeys is how keys are pressed on a Media Stream: KeysEvents
	// (dtmf messages, the default), KeysTones (in-band audio only) or
	// KeysBoth.
	StreamKeys string
}

// Exchange is one request Twilio made and the gateway's answer. URL is the
// public URL that was signed (with the query for GET requests); Status is 0
// when no response arrived. Body and URL may carry caller answers, so an
// Exchange logs only its method, path and status.
type Exchange struct {
	Method, URL, Signature, Body string
	Status                       int
	ContentType, Response        string
	// Socket is set for a WebSocket session (Method GET, URL the wss://
	// URL, Status the upgrade's): every frame each way.
	Socket *SocketLog
}

// LogValue implements slog.LogValuer without the body or query, which can
// hold a caller's answers.
func (e Exchange) LogValue() slog.Value {
	path := e.URL
	if u, err := url.Parse(e.URL); err == nil {
		path = u.Path
	}
	return slog.GroupValue(slog.String("method", e.Method), slog.String("path", path), slog.Int("status", e.Status))
}

// Utterance is one <Say> the caller heard.
type Utterance struct{ Text, Voice, Language string }

// Gather is the <Gather> a call waits in, with Twilio's defaults applied.
// Action is resolved to an absolute URL (the current document's URL when the
// attribute is missing). FinishOnKey is "#" unless the attribute says
// otherwise ("" = none). NumDigits 0 means unlimited.
type Gather struct {
	Action, Method, Input, Language, Hints, SpeechModel, SpeechTimeout string
	NumDigits, Timeout                                                 int
	FinishOnKey                                                        string
	ActionOnEmptyResult                                                bool
	// AfterRedirect is the resolved URL of the <Redirect> right after
	// </Gather>, if any: where a silent caller goes next.
	AfterRedirect string
}

// accepts reports whether the gather listens for kind ("dtmf" or "speech").
func (g *Gather) accepts(kind string) bool {
	for _, f := range strings.Fields(g.Input) {
		if f == kind {
			return true
		}
	}
	return false
}

// Turn is what happened between two caller inputs.
type Turn struct {
	// Heard is every <Say> executed this turn, nested in <Gather> or not,
	// every utterance a ConversationRelay session spoke (Voice is its
	// "Provider.voice"), and every prompt a Media Stream played, named by
	// its mark (Text is the prompt ID, Voice "stream").
	Heard []Utterance
	// Gather is non-nil when the call waits for input.
	Gather *Gather
	// Ended reports that the call is over; End says how: "hangup",
	// "caller-hangup", "reject", "dial:NUMBER", "redirect:URL" (a
	// <Redirect> outside PublicURL/twilio/, a hand-off), "no-twiml" (TwiML ran
	// out), or "error:..." (what a caller hears as "an application error").
	Ended bool
	End   string
	// Polls counts the <Redirect>s to the gateway followed this turn.
	Polls int
	// Session is SessionStream or SessionRelay when the call waits for
	// input in a WebSocket session rather than a <Gather>.
	Session string
}

// Call is one simulated call. Its methods are safe for concurrent use but
// serialised: a call does one thing at a time.
type Call struct {
	cfg    Config
	client *http.Client
	base   url.Values // the parameters Twilio sends on every request of the call
	start  time.Time

	mu       sync.Mutex
	first    bool // the next request is the incoming-call webhook
	pending  *pending
	live     *live // the WebSocket session the call is in
	lastLive *live // the last one it was in, for Session
	ended    bool  // TwiML ended the call
	hungUp   bool  // the status callback was sent
	sequence int   // next status callback SequenceNumber
}

// pending is a <Gather> waiting for input and the verbs that follow it.
type pending struct {
	gather Gather
	doc    *document
}

// document is a TwiML document being executed: its public URL (relative
// URLs resolve against it) and the next verb to run.
type document struct {
	url   string
	verbs []*node
	pos   int
}

// Dial places an incoming call: it POSTs PublicURL+"/twilio/voice" with
// CallStatus=ringing, Direction=inbound and the rest of Twilio's parameters,
// then runs the TwiML until the call waits for input or ends. A gateway that
// fails (non-200, not TwiML, unreachable) yields a Turn ending "error:...",
// not an error; errors are for bad configuration and a done ctx.
func Dial(ctx context.Context, cfg Config) (*Call, *Turn, error) {
	c, err := newCall(cfg)
	if err != nil {
		return nil, nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &Turn{}
	voice := c.cfg.PublicURL + "/twilio/voice"
	d, end, err := c.fetch(ctx, http.MethodPost, voice, nil)
	if err != nil {
		return nil, nil, err
	}
	if end != "" {
		c.finish(t, end)
		return c, t, nil
	}
	if err := c.run(ctx, t, d); err != nil {
		return nil, nil, err
	}
	return c, t, nil
}

func newCall(cfg Config) (*Call, error) {
	if cfg.BaseURL == "" || cfg.PublicURL == "" {
		return nil, errors.New("twiliosim: BaseURL and PublicURL are required")
	}
	if cfg.AuthToken == "" {
		return nil, errors.New("twiliosim: AuthToken is required")
	}
	for _, s := range []string{cfg.BaseURL, cfg.PublicURL} {
		u, err := url.Parse(s)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return nil, errors.New("twiliosim: BaseURL and PublicURL must be absolute URLs")
		}
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxRedirects <= 0 {
		cfg.MaxRedirects = defaultMaxRedirects
	}
	var err error
	gen := func(dst *string, f func() (string, error)) {
		if *dst == "" && err == nil {
			*dst, err = f()
		}
	}
	gen(&cfg.AccountSid, func() (string, error) { return sid("AC") })
	gen(&cfg.CallSid, func() (string, error) { return sid("CA") })
	gen(&cfg.From, fictionalNumber)
	gen(&cfg.To, func() (string, error) { return "+15555550100", nil })
	if err != nil {
		return nil, fmt.Errorf("twiliosim: generate call identifiers: %w", err)
	}
	// A private copy: Twilio's own 3xx rules (drop Digits, max 10) need the
	// redirects surfaced, and the caller's client must not be modified.
	hc := &http.Client{}
	if cfg.HTTPClient != nil {
		*hc = *cfg.HTTPClient
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Call{
		cfg:    cfg,
		client: hc,
		base:   standardParams(cfg),
		start:  cfg.Now(),
		first:  true,
	}, nil
}

// Sid returns the call's CallSid.
func (c *Call) Sid() string { return c.cfg.CallSid }

// Press enters digits on the keypad. In a WebSocket session each key is
// sent as the transport sends it (a dtmf message; on a stream also or only
// in-band tones, Config.StreamKeys) and the gateway collects them. In a
// <Gather> they are reported as Twilio reports them: input stops at the gather's finishOnKey (not included in
// Digits; FinishedOnKey names it) or when numDigits keys have been entered
// (FinishedOnKey empty; later keys are lost). The action is requested with
// Digits, FinishedOnKey and msg=Gather End. No digit before the finish key,
// or a gather that does not listen for dtmf, counts as no input (Silence).
func (c *Call) Press(ctx context.Context, digits string) (*Turn, error) {
	for _, r := range digits {
		if !strings.ContainsRune("0123456789*#", r) {
			return nil, ErrBadDigits
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live != nil {
		return c.inSession(ctx, func(s session) error { return s.press(ctx, digits) })
	}
	p, err := c.waiting()
	if err != nil {
		return nil, err
	}
	g := &p.gather
	if !g.accepts("dtmf") {
		return c.silence(ctx, p)
	}
	var got strings.Builder
	finished := ""
	for _, r := range digits {
		if g.FinishOnKey != "" && string(r) == g.FinishOnKey {
			finished = g.FinishOnKey
			break
		}
		got.WriteRune(r)
		if g.NumDigits > 0 && got.Len() == g.NumDigits {
			break
		}
	}
	if got.Len() == 0 {
		return c.silence(ctx, p)
	}
	return c.answer(ctx, p, url.Values{
		"Digits":        {got.String()},
		"FinishedOnKey": {finished},
		"msg":           {"Gather End"},
	})
}

// Say speaks text. In a ConversationRelay session it is the final
// transcript of a prompt message (no confidence: ConversationRelay sends
// none); on a Media Stream it is only sound, which the gateway does not
// recognise (silence). In a <Gather> the action is requested with
// SpeechResult, Confidence (left out when confidence < 0; Twilio does not
// guarantee it) and Language (the gather's). Empty text, or a gather that
// does not listen for speech, counts as no input (Silence).
func (c *Call) Say(ctx context.Context, text string, confidence float64) (*Turn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	text = strings.TrimSpace(text)
	if c.live != nil {
		if text == "" {
			return c.inSession(ctx, nil)
		}
		return c.inSession(ctx, func(s session) error { return s.say(ctx, text) })
	}
	p, err := c.waiting()
	if err != nil {
		return nil, err
	}
	if !p.gather.accepts("speech") || text == "" {
		return c.silence(ctx, p)
	}
	params := url.Values{
		"SpeechResult": {text},
		"Language":     {p.gather.Language},
	}
	if confidence >= 0 {
		params.Set("Confidence", strconv.FormatFloat(confidence, 'f', -1, 64))
	}
	return c.answer(ctx, p, params)
}

// Silence lets the current <Gather> time out. Twilio then continues with the
// verb after </Gather> (typically a <Redirect>), or, with
// actionOnEmptyResult="true", requests the action with empty Digits. In a
// WebSocket session the caller sends nothing and waits until the gateway,
// whose timers these are, speaks again or ends the session.
func (c *Call) Silence(ctx context.Context) (*Turn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live != nil {
		return c.inSession(ctx, nil)
	}
	p, err := c.waiting()
	if err != nil {
		return nil, err
	}
	return c.silence(ctx, p)
}

// Hangup ends the call from the caller's side, or reports the end of a
// call the TwiML already ended. A live WebSocket session is closed first
// (see hangupSession). Then Twilio POSTs the status callback
// PublicURL+"/twilio/status" with CallStatus=status (completed, busy,
// failed, no-answer or canceled), CallDuration (seconds), Duration (billed
// minutes, completed only), Timestamp (RFC 2822), CallbackSource and
// SequenceNumber. A non-2xx answer is returned as an error (Twilio ignores
// it, but a test wants to know).
func (c *Call) Hangup(ctx context.Context, status string) error {
	if !terminal(status) {
		return ErrBadStatus
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hungUp {
		return ErrCallEnded
	}
	if c.live != nil {
		c.hangupSession(ctx, status)
	}
	c.hungUp, c.ended, c.pending = true, true, nil
	now := c.cfg.Now()
	secs := 0
	if status == "completed" {
		secs = int(now.Sub(c.start) / time.Second)
	}
	params := c.params(status)
	params.Set("CallDuration", strconv.Itoa(secs))
	if status == "completed" {
		params.Set("Duration", strconv.Itoa(max(1, (secs+59)/60)))
	}
	if code := sipResponse[status]; code != "" {
		params.Set("SipResponseCode", code)
	}
	params.Set("Timestamp", now.UTC().Format(rfc2822))
	params.Set("CallbackSource", "call-progress-events")
	params.Set("SequenceNumber", strconv.Itoa(c.sequence))
	c.sequence++
	res, err := c.send(ctx, http.MethodPost, c.cfg.PublicURL+"/twilio/status", params)
	if err != nil {
		return fmt.Errorf("twiliosim: status callback: %w", err)
	}
	if res.status < 200 || res.status > 299 {
		return fmt.Errorf("twiliosim: status callback: HTTP %d", res.status)
	}
	return nil
}

// rfc2822 is the date format of Twilio's Timestamp parameter
// ("Sun, 25 Mar 2018 09:53:19 +0000").
const rfc2822 = "Mon, 02 Jan 2006 15:04:05 -0700"

// sipResponse is the SipResponseCode Twilio reports for unanswered calls
// (twilio-voice.md §1.4, observed values).
var sipResponse = map[string]string{"busy": "486", "no-answer": "487", "failed": "404"}

func (c *Call) waiting() (*pending, error) {
	if c.ended {
		return nil, ErrCallEnded
	}
	if c.pending == nil {
		return nil, ErrNotGathering
	}
	p := c.pending
	c.pending = nil
	return p, nil
}

// silence is a gather timing out with no input.
func (c *Call) silence(ctx context.Context, p *pending) (*Turn, error) {
	if p.gather.ActionOnEmptyResult {
		// What Twilio posts here is undocumented; empty Digits is the guess
		// of twilio-voice.md §1.3.
		return c.answer(ctx, p, url.Values{"Digits": {""}, "FinishedOnKey": {""}, "msg": {"Gather End"}})
	}
	t := &Turn{}
	if err := c.run(ctx, t, p.doc); err != nil {
		return nil, err
	}
	return t, nil
}

// answer requests the gather's action with the input and runs the result.
func (c *Call) answer(ctx context.Context, p *pending, input url.Values) (*Turn, error) {
	t := &Turn{}
	d, end, err := c.fetch(ctx, p.gather.Method, p.gather.Action, input)
	if err != nil {
		return nil, err
	}
	if end != "" {
		c.finish(t, end)
		return t, nil
	}
	if err := c.run(ctx, t, d); err != nil {
		return nil, err
	}
	return t, nil
}

func (c *Call) finish(t *Turn, end string) {
	t.Ended, t.End = true, end
	t.Gather = nil
	c.ended, c.pending = true, nil
}
