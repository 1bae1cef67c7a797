package telephony_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ivr-gateway/ivr/internal/redistest"
	"github.com/ivr-gateway/ivr/internal/replay"
)

// proxy sits between the gateway and Redis and can stall a reply midway,
// as a wedged Redis or a half-dead network path does.
type proxy struct {
	delayNext atomic.Int64 // ns delay applied to the next server->client chunk, after which hang
	hang      atomic.Bool
}

func (p *proxy) serve(t *testing.T, ln net.Listener, target string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", target)
		if err != nil {
			c.Close()
			continue
		}
		go io.Copy(s, c)
		go func() {
			b := make([]byte, 64<<10)
			for {
				n, err := s.Read(b)
				if err != nil {
					return
				}
				if d := p.delayNext.Swap(0); d > 0 {
					time.Sleep(time.Duration(d))
					c.Write(b[:n])
					p.hang.Store(true)
					continue
				}
				if p.hang.Load() {
					continue
				}
				c.Write(b[:n])
			}
		}()
	}
}

func TestWebhookDeadlineWhenRedisStalls(t *testing.T) {
	t.Parallel()
	_, prefix := redistest.Client(t)
	opt, err := redis.ParseURL(redistest.URL())
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	p := &proxy{}
	go p.serve(t, ln, opt.Addr)
	t.Cleanup(func() { ln.Close() })
	// As the gateway configures its own clients (internal/redisconn): reads
	// and writes end at the request's deadline.
	rdb := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), DB: opt.DB, ContextTimeoutEnabled: true})
	defer rdb.Close()
	h, err := replay.Start(context.Background(), replay.HarnessConfig{
		PublicURL: publicURL, AuthToken: authToken, Redis: rdb, Prefix: prefix, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	sid := "CA0123456789abcdef0123456789abcd99"
	form := url.Values{"CallSid": {sid}, "From": {"+15555550100"}}
	rec := post(h.App.Handler, "/twilio/voice", form, true)
	t.Logf("voice: %d", rec.Code)
	// Redis stalls mid-reply on the step's next command (the read, or the
	// save when this instance remembers the call) for longer than the
	// webhook may take, then hangs.
	p.delayNext.Store(int64(30 * time.Second))
	form2 := url.Values{"CallSid": {sid}, "From": {"+15555550100"}, "Digits": {"1"}}
	start := time.Now()
	rec = post(h.App.Handler, "/twilio/gather?step=1", form2, true)
	el := time.Since(start)
	t.Logf("gather answered %d after %v", rec.Code, el)
	// The contract's bound, not a speed claim: Twilio gets TwiML in time.
	// What it says depends on where the stall hit: the apology, or (when
	// the client retried on a fresh connection and found its own save
	// applied) the next question. Either is valid TwiML in time.
	if el > 10*time.Second || rec.Code != 200 {
		t.Errorf("webhook answered %d after %v (want TwiML within 10 s): %.200s", rec.Code, el, rec.Body.String())
	}
	validTwiML(t, rec.Body.String())
}
