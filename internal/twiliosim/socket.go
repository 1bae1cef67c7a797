package twiliosim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// What <Connect><Stream> and <Connect><ConversationRelay> share: Twilio
// opens a WebSocket to the gateway, signed like a webhook; the call stays
// in that session until one side ends it, and then Twilio requests the
// <Connect action> and runs the TwiML it returns.
//
// A session has no <Gather> to say when the gateway waits for an answer,
// so the simulator decides as a caller does: the gateway has said
// something the caller can answer (a question) and then gone quiet for
// Config.Quiet. "Please hold" is not a question: a relay text marked
// interruptible: false, or a stream prompt whose mark is named hold-N,
// keeps the caller waiting for what comes next.

// Session kinds, for Turn.Session.
const (
	SessionStream = "stream"
	SessionRelay  = "relay"
)

// Frame directions in a SocketLog.
const (
	FromTwilio  = "send" // Twilio (the simulator) to the gateway
	FromGateway = "recv" // the gateway to Twilio
)

const (
	// defaultQuiet is Config.Quiet's default.
	defaultQuiet = 250 * time.Millisecond
	// maxListen bounds a wait for the gateway to say anything: a question
	// times out long before (the gateway's own timers).
	maxListen = 2 * time.Minute
	// closeWait bounds the close handshake.
	closeWait = 2 * time.Second
)

// SocketLog is one WebSocket session as Twilio saw it: the upgrade's
// signed URL and answer, every text frame each way in order, and how the
// session closed. Frames hold the caller's answers and what the gateway
// said, so a SocketLog logs only its URL's path and status.
type SocketLog struct {
	Kind      string // SessionStream or SessionRelay
	URL       string // the public wss:// URL that was signed
	Signature string // "" when sent unsigned (Probe)
	Started   time.Time
	Status    int // the upgrade's HTTP status (101 when it succeeded)
	Frames    []Frame
	// CloseCode is the close status of the session's end: the gateway's
	// when it closed first (ClosedBy "gateway"), ours otherwise ("twilio");
	// 0 when the connection was lost.
	CloseCode int
	ClosedBy  string
}

// Frame is one text frame. Dir is FromTwilio or FromGateway. Tamper,
// for a frame a test forged on purpose, says how (see Call.OpenForged).
type Frame struct {
	Dir    string
	Data   string
	Tamper string
}

// wsMsg is what the socket reader passes on.
type wsMsg struct {
	data []byte
	err  error // set on the last message: the connection ended
	code int   // the close code, when err is a close
}

// socket is the plumbing of one session: the connection, a reader
// goroutine, and the frame log.
type socket struct {
	conn *websocket.Conn
	in   chan wsMsg
	done chan struct{}
	mu   sync.Mutex // guards log.Frames (the reader never writes it)
	log  SocketLog
}

// dialSocket opens the session's WebSocket the way Twilio does: to the
// URL in the TwiML (sent to BaseURL), with X-Twilio-Signature over that
// URL and no parameters. A refused upgrade returns the log with its
// status and an error.
func (c *Call) dialSocket(ctx context.Context, kind, wsURL string) (*socket, error) {
	return dialSocket(ctx, c.cfg, kind, wsURL, Sign(c.cfg.AuthToken, wsURL, nil))
}

func dialSocket(ctx context.Context, cfg Config, kind, wsURL, sig string) (*socket, error) {
	s := &socket{log: SocketLog{Kind: kind, URL: wsURL, Signature: sig, Started: cfg.Now()}}
	target, ok := localWS(cfg, wsURL)
	if !ok {
		return s, errors.New("twiliosim: WebSocket URL outside PublicURL")
	}
	h := http.Header{}
	if sig != "" {
		h.Set("X-Twilio-Signature", sig)
	}
	h.Set("User-Agent", userAgent)
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	conn, resp, err := d.DialContext(ctx, target, h)
	if resp != nil {
		s.log.Status = resp.StatusCode
		if resp.Body != nil {
			resp.Body.Close()
		}
	}
	if err != nil {
		return s, fmt.Errorf("twiliosim: open %s session: %w", kind, err)
	}
	s.conn = conn
	s.in = make(chan wsMsg, 1024)
	s.done = make(chan struct{})
	go s.read()
	return s, nil
}

// localWS maps a public wss:// (ws://) URL to where it is sent.
func localWS(cfg Config, u string) (string, bool) {
	pub, err := url.Parse(cfg.PublicURL)
	if err != nil {
		return "", false
	}
	scheme := "wss"
	if pub.Scheme == "http" {
		scheme = "ws"
	}
	rest, ok := strings.CutPrefix(u, scheme+"://"+pub.Host)
	if !ok || (rest != "" && rest[0] != '/') {
		return "", false
	}
	base := strings.TrimRight(cfg.BaseURL, "/")
	switch {
	case strings.HasPrefix(base, "https://"):
		base = "wss://" + strings.TrimPrefix(base, "https://")
	case strings.HasPrefix(base, "http://"):
		base = "ws://" + strings.TrimPrefix(base, "http://")
	}
	return base + rest, true
}

func (s *socket) read() {
	defer close(s.done)
	defer close(s.in)
	for {
		mt, b, err := s.conn.ReadMessage()
		if err != nil {
			m := wsMsg{err: err}
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				m.code = ce.Code
			}
			s.in <- m
			return
		}
		if mt != websocket.TextMessage {
			// Twilio refuses binary frames (error 31950); record them as
			// text so a test sees them.
			b = []byte("binary:" + strconv.Itoa(len(b)))
		}
		s.in <- wsMsg{data: b}
	}
}

// send writes one text frame and logs it.
func (s *socket) send(data []byte, tamper string) error {
	s.mu.Lock()
	s.log.Frames = append(s.log.Frames, Frame{Dir: FromTwilio, Data: string(data), Tamper: tamper})
	s.mu.Unlock()
	s.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return s.conn.WriteMessage(websocket.TextMessage, data)
}

// got logs a frame from the gateway.
func (s *socket) got(data []byte) {
	s.mu.Lock()
	s.log.Frames = append(s.log.Frames, Frame{Dir: FromGateway, Data: string(data)})
	s.mu.Unlock()
}

// gatewayClosed records that the gateway ended the connection.
func (s *socket) gatewayClosed(m wsMsg) {
	if s.log.ClosedBy == "" {
		s.log.ClosedBy, s.log.CloseCode = "gateway", m.code
	}
}

// close ends the session from Twilio's side (unless the gateway already
// did): a close frame, the gateway's answer, then TCP.
func (s *socket) close(code int) {
	if s.conn == nil {
		return
	}
	if s.log.ClosedBy == "" {
		s.log.ClosedBy, s.log.CloseCode = "twilio", code
		s.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(closeWait))
		t := time.NewTimer(closeWait)
		defer t.Stop()
	drain:
		for {
			select {
			case _, ok := <-s.in:
				if !ok {
					break drain
				}
			case <-t.C:
				break drain
			}
		}
	}
	s.conn.Close()
	for range s.in {
	}
	<-s.done
}

// snapshot returns a copy of the session's log so far.
func (s *socket) snapshot() SocketLog {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.log
	l.Frames = append([]Frame(nil), s.log.Frames...)
	return l
}

// errSilentGateway: the gateway said nothing for maxListen.
var errSilentGateway = errors.New("twiliosim: the gateway said nothing")

// listen runs handle on every frame until the gateway waits for input
// (handle reported an answerable frame and quiet passed with nothing
// more), handle says stop, or the connection ends (returned as ended).
func (s *socket) listen(ctx context.Context, quiet time.Duration, handle func([]byte) (answerable, stop bool, err error)) (ended *wsMsg, err error) {
	overall := time.NewTimer(maxListen)
	defer overall.Stop()
	var (
		q  *time.Timer
		qc <-chan time.Time
	)
	defer func() {
		if q != nil {
			q.Stop()
		}
	}()
	for {
		select {
		case m, ok := <-s.in:
			if !ok {
				return &wsMsg{err: errors.New("closed")}, nil
			}
			if m.err != nil {
				s.gatewayClosed(m)
				return &m, nil
			}
			s.got(m.data)
			answerable, stop, err := handle(m.data)
			if err != nil || stop {
				return nil, err
			}
			if q != nil {
				q.Stop()
				q, qc = nil, nil
			}
			if answerable {
				q = time.NewTimer(quiet)
				qc = q.C
			}
		case <-qc:
			return nil, nil
		case <-overall.C:
			return nil, errSilentGateway
		case <-ctx.Done():
			return nil, fmt.Errorf("twiliosim: session: %w", ctx.Err())
		}
	}
}

// Probe opens one WebSocket session outside any call's TwiML, as an
// attacker with a leaked upgrade signature (or none: "") would: it sends
// frames in order and reads until the gateway closes the connection (or
// for at most the quiet period after the last frame, Config.Quiet, plus
// two seconds, when the gateway keeps it open). The log records the
// upgrade's status and every frame each way. cfg needs BaseURL and
// PublicURL. Sign(token, wsURL, nil) is what Twilio would send.
func Probe(ctx context.Context, cfg Config, kind, wsURL, signature string, frames []Frame) (SocketLog, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s, err := dialSocket(ctx, cfg, kind, wsURL, signature)
	if err != nil {
		if s.log.Status != 0 {
			// Refused: the answer is the result.
			return s.log, nil
		}
		return s.log, err
	}
	for _, f := range frames {
		if err := s.send([]byte(f.Data), f.Tamper); err != nil {
			break
		}
	}
	quiet := cfg.Quiet
	if quiet <= 0 {
		quiet = defaultQuiet
	}
	t := time.NewTimer(quiet + closeWait)
	defer t.Stop()
wait:
	for {
		select {
		case m, ok := <-s.in:
			if !ok {
				break wait
			}
			if m.err != nil {
				s.gatewayClosed(m)
				break wait
			}
			s.got(m.data)
		case <-t.C:
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	s.close(1000)
	return s.snapshot(), nil
}
