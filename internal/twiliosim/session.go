package twiliosim

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"time"
)

// session is one transport's side of a live WebSocket session.
type session interface {
	kind() string
	socket() *socket
	setTurn(*Turn)
	// handle takes one frame from the gateway (see socket.listen).
	handle(data []byte) (answerable, stop bool, err error)
	// endSignal is the handoffData of an end message, once one arrived.
	endSignal() *string
	press(ctx context.Context, digits string) error
	say(ctx context.Context, text string) error
	// ended is what Twilio adds to the <Connect action> request.
	ended(hungUp bool, secs int) url.Values
	hangup(ctx context.Context)
}

// live is the session a call is in, and where the call goes after it.
type live struct {
	sess    session
	doc     *document // holds the <Connect>; without an action the TwiML goes on after it
	action  string    // the resolved <Connect action>, or ""
	method  string
	url     string
	params  map[string]string
	started time.Time
}

// connect runs <Connect><Stream> or <Connect><ConversationRelay>: it
// opens the session and listens until the gateway waits for the caller
// (waiting) or the session is over (next is the TwiML to go on with, or
// end says how the call ended).
func (c *Call) connect(ctx context.Context, t *Turn, d *document, v *node) (next *document, end string, waiting bool, err error) {
	var noun *node
	for _, n := range v.Children {
		if n.Name == "Stream" || n.Name == "ConversationRelay" {
			noun = n
			break
		}
	}
	if noun == nil {
		return nil, "error:12200 invalid <Connect>", false, nil
	}
	l := &live{doc: d, method: http.MethodPost, started: c.cfg.Now(), url: noun.Attrs["url"], params: map[string]string{}}
	for _, n := range noun.Children {
		if n.Name == "Parameter" {
			l.params[n.Attrs["name"]] = n.Attrs["value"]
		}
	}
	if a, ok := v.attr("action"); ok {
		r, err := resolve(d.url, a)
		if err != nil {
			return nil, "error:12200 invalid <Connect>", false, nil
		}
		l.action = r
	}
	if m, ok := v.attr("method"); ok && m != "" {
		l.method = m
	}
	var oerr error
	if noun.Name == "Stream" {
		l.sess, oerr = c.openStream(ctx, noun)
	} else {
		l.sess, oerr = c.openRelay(ctx, noun)
	}
	c.live, c.lastLive = l, l
	if oerr != nil {
		if ctx.Err() != nil {
			return nil, "", false, fmt.Errorf("twiliosim: %w", ctx.Err())
		}
		// The upgrade was refused or failed: Twilio gives up on the session.
		return c.sessionOver(ctx, false)
	}
	return c.listenLive(ctx, t)
}

// listenLive reads the live session until the gateway waits or the
// session is over.
func (c *Call) listenLive(ctx context.Context, t *Turn) (next *document, end string, waiting bool, err error) {
	l := c.live
	l.sess.setTurn(t)
	closed, err := l.sess.socket().listen(ctx, c.quiet(), l.sess.handle)
	if err != nil {
		return nil, "", false, err
	}
	if closed == nil && l.sess.endSignal() == nil {
		t.Session = l.sess.kind()
		return nil, "", true, nil
	}
	return c.sessionOver(ctx, false)
}

// sessionOver closes and records the session and requests the <Connect
// action> as Twilio does (or goes on after <Connect> without one).
func (c *Call) sessionOver(ctx context.Context, hungUp bool) (next *document, end string, waiting bool, err error) {
	l := c.live
	c.live = nil
	s := l.sess.socket()
	s.close(1000)
	c.recordSocket(s)
	secs := int(c.cfg.Now().Sub(l.started) / time.Second)
	extra := l.sess.ended(hungUp, secs)
	if l.action == "" {
		return l.doc, "", false, nil
	}
	next, end, err = c.fetch(ctx, l.method, l.action, extra)
	return next, end, false, err
}

func (c *Call) recordSocket(s *socket) {
	if c.cfg.Record == nil {
		return
	}
	log := s.snapshot()
	c.cfg.Record(Exchange{Method: http.MethodGet, URL: log.URL, Signature: log.Signature, Status: log.Status, Socket: &log})
}

func (c *Call) quiet() time.Duration {
	if c.cfg.Quiet > 0 {
		return c.cfg.Quiet
	}
	return defaultQuiet
}

// inSession sends the caller's input into the live session (nil: the
// caller says nothing) and listens for what follows.
func (c *Call) inSession(ctx context.Context, send func(session) error) (*Turn, error) {
	t := &Turn{}
	if send != nil {
		// A failed write means the gateway is gone: listening finds out.
		send(c.live.sess)
	}
	next, end, waiting, err := c.listenLive(ctx, t)
	switch {
	case err != nil:
		return nil, err
	case waiting:
		return t, nil
	case end != "":
		c.finish(t, end)
		return t, nil
	}
	if err := c.run(ctx, t, next); err != nil {
		return nil, err
	}
	return t, nil
}

// hangupSession ends the live session because the caller hung up: Twilio
// closes it and, for ConversationRelay, requests the <Connect action>
// with SessionStatus=completed (its TwiML is not executed: the call is
// over). A stream's <Connect action> is not requested.
func (c *Call) hangupSession(ctx context.Context, status string) {
	l := c.live
	c.live = nil
	l.sess.hangup(ctx)
	c.recordSocket(l.sess.socket())
	if l.sess.kind() != SessionRelay || l.action == "" {
		return
	}
	params := c.params(status)
	maps.Copy(params, l.sess.ended(true, int(c.cfg.Now().Sub(l.started)/time.Second)))
	c.send(ctx, l.method, l.action, params)
}

// SendRaw sends one text frame as it is into the live WebSocket session
// (a test's malformed or unexpected message) and returns without waiting
// for an answer.
func (c *Call) SendRaw(frame string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live == nil {
		return errNotInSession
	}
	return c.live.sess.socket().send([]byte(frame), "")
}

// Session describes the WebSocket session the call is in (or was in
// last): its kind, the wss:// URL of the TwiML and its <Parameter>s. ok
// is false when the call never had one.
func (c *Call) Session() (kind, wsURL string, params map[string]string, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.lastLive
	if l == nil {
		return "", "", nil, false
	}
	return l.sess.kind(), l.url, maps.Clone(l.params), true
}

// InSession reports whether the call waits for input in a WebSocket
// session.
func (c *Call) InSession() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.live != nil
}
