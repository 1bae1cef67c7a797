package telephony_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/ivr-gateway/ivr/audio"
	"github.com/ivr-gateway/ivr/authclient"
	"github.com/ivr-gateway/ivr/callflow"
	"github.com/ivr-gateway/ivr/dialog"
	"github.com/ivr-gateway/ivr/internal/app"
	"github.com/ivr-gateway/ivr/internal/redistest"
	"github.com/ivr-gateway/ivr/internal/replay"
	"github.com/ivr-gateway/ivr/internal/testlog"
	"github.com/ivr-gateway/ivr/internal/twiliosim"
	"github.com/ivr-gateway/ivr/kba"
	"github.com/ivr-gateway/ivr/prompts"
	"github.com/ivr-gateway/ivr/telephony"
)

// streamSecret is the gateway secret of the stream tests: fixed, so the
// recorded streams' bindings and caller references stay the same.
const streamSecret = "stream-test-secret-0123456789abcdef"

// maxSockets is the stream tests' cap on live sessions.
const maxSockets = 64

// streamHandoffURL is where the stream tests' gateway hands verified calls.
const streamHandoffURL = "https://agent.example.test/twiml/handoff"

// fastClock runs the stream's timers k times faster than the wall clock:
// prompts are paced, timeouts expire, nothing in the test sleeps.
type fastClock struct{ k time.Duration }

func (c fastClock) Now() time.Time                         { return time.Now() }
func (c fastClock) NewTimer(d time.Duration) *time.Timer   { return time.NewTimer(d / c.k) }
func (c fastClock) NewTicker(d time.Duration) *time.Ticker { return time.NewTicker(d / c.k) }

// checkLeaks fails the test if goroutines started during it outlive it. It
// runs after every other cleanup (servers, Redis clients).
func checkLeaks(t *testing.T) {
	t.Helper()
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		if err := goleak.Find(opt); err != nil {
			t.Error(err)
		}
	})
}

// streamEnv is a stream-mode gateway on loopback with the replay harness's
// AS double and a real Redis.
type streamEnv struct {
	t    *testing.T
	gw   *telephony.Gateway
	srv  *httptest.Server
	reg  *prometheus.Registry
	logs *testlog.Buffer
	hc   *http.Client
	h    *replay.Harness
}

func newStreamEnv(t *testing.T, clock telephony.Clock) *streamEnv {
	t.Helper()
	return newStreamEnvWith(t, clock, replay.Env{})
}

func newStreamEnvWith(t *testing.T, clock telephony.Clock, env replay.Env) *streamEnv {
	t.Helper()
	logs := &testlog.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: testlog.NoTime}))
	rdb, prefix := redistest.Client(t)
	h, err := replay.Start(context.Background(), replay.HarnessConfig{
		PublicURL: publicURL, AuthToken: authToken, Redis: rdb, Prefix: prefix, Logger: log, Env: env,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	asHTTP := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	t.Cleanup(asHTTP.CloseIdleConnections)
	ac, err := authclient.New(authclient.Config{
		Metadata: h.App.Metadata, ClientID: replay.ClientID, ClientSecret: replay.ClientSecret,
		Scope: replay.Scope, Resource: replay.Resource, HTTPClient: asHTTP,
	})
	if err != nil {
		t.Fatal(err)
	}
	cat, err := prompts.Load("en-US")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	metrics := telephony.NewMetrics(reg)
	engine, err := callflow.New(callflow.Config{}, callflow.Deps{
		Machine: dialog.New(dialog.Config{Languages: []kba.Lang{kba.English, kba.Spanish}}),
		Store:   h.App.Store, Verifier: app.NewASVerifier(ac), Observer: metrics, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	gw, err := telephony.New(telephony.Config{
		PublicURL: publicURL, AuthToken: authToken, OrgName: "Example Health",
		HandoffURL: streamHandoffURL, Transport: telephony.TransportStream,
		Secret: []byte(streamSecret), MaxSockets: maxSockets,
	}, telephony.Deps{
		Engine: engine, Prompts: cat, Logger: log, Metrics: metrics, Clock: clock, Sockets: h.App.Store,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := gw.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := engine.Shutdown(ctx); err != nil {
			t.Errorf("engine Shutdown: %v", err)
		}
		srv.Close()
	})
	hc := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(hc.CloseIdleConnections)
	return &streamEnv{t: t, gw: gw, srv: srv, reg: reg, logs: logs, hc: hc, h: h}
}

// webhook posts a signed Twilio webhook; path may carry a query.
func (e *streamEnv) webhook(path string, form url.Values) string {
	e.t.Helper()
	req, err := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", twiliosim.Sign(authToken, publicURL+path, form))
	resp, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		e.t.Fatalf("%s: HTTP %d", path, resp.StatusCode)
	}
	return string(body)
}

func callForm(sid string, extra ...string) url.Values {
	v := url.Values{
		"AccountSid": {"AC18a481b27eec9373fcbef9368bbd7ae3"}, "CallSid": {sid}, "CallStatus": {"in-progress"},
		"From": {"+15555550123"}, "To": {"+15555550100"}, "Direction": {"inbound"},
	}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return v
}

// connectTwiML is the <Connect><Stream> a keypad question renders as.
type connectTwiML struct {
	Connect struct {
		Action string `xml:"action,attr"`
		Stream struct {
			URL    string `xml:"url,attr"`
			Params []struct {
				Name  string `xml:"name,attr"`
				Value string `xml:"value,attr"`
			} `xml:"Parameter"`
		} `xml:"Stream"`
	} `xml:"Connect"`
}

// toDOB runs the webhook part of a call (language menu, name by speech) and
// returns the <Connect><Stream> the date-of-birth question is asked with.
func (e *streamEnv) toDOB(sid string) connectTwiML {
	e.t.Helper()
	return e.toDOBAs(sid, "Maria Garcia")
}

func (e *streamEnv) toDOBAs(sid, name string) connectTwiML {
	e.t.Helper()
	e.webhook("/twilio/voice", callForm(sid, "CallStatus", "ringing"))
	e.webhook("/twilio/gather?step=1", callForm(sid))
	body := e.webhook("/twilio/gather?step=2", callForm(sid, "SpeechResult", name, "Confidence", "0.93"))
	var doc connectTwiML
	if err := xml.Unmarshal([]byte(body), &doc); err != nil || doc.Connect.Stream.URL == "" {
		e.t.Fatalf("name answered without <Connect><Stream> (%v): %s", err, body)
	}
	if doc.Connect.Stream.URL != "wss://ivr.example.test/twilio/stream" ||
		doc.Connect.Action != publicURL+"/twilio/stream-done?step=3" || strings.Contains(body, "<Say") {
		e.t.Fatalf("unexpected stream TwiML: %s", body)
	}
	if strings.Contains(body, "5555550123") {
		e.t.Fatalf("caller number in TwiML: %s", body)
	}
	return doc
}

func (c connectTwiML) params() map[string]string {
	m := map[string]string{}
	for _, p := range c.Connect.Stream.Params {
		m[p.Name] = p.Value
	}
	return m
}

// serverMsg is a message the gateway sent to "Twilio".
type serverMsg struct {
	Event     string `json:"event"`
	StreamSid string `json:"streamSid"`
	Media     struct {
		Payload string `json:"payload"`
	} `json:"media"`
	Mark struct {
		Name string `json:"name"`
	} `json:"mark"`
}

// twilioStream plays Twilio's side of a Media Stream: it echoes marks (as
// if the audio had been heard at once) and records everything received.
type twilioStream struct {
	t         *testing.T
	conn      *websocket.Conn
	streamSid string
	mu        sync.Mutex // one writer at a time
	got       chan serverMsg
	done      chan struct{}
	closeCode int
	badFrames int
	seq       int
	chunk     int
	marks     []string // every mark received, guarded by mu
	record    bool
	script    []scriptLine // what was sent and awaited, when recording
}

// scriptLine is one line of a stream fixture: a message Twilio sends, or
// what it waits for from the gateway before going on ("media", "clear",
// "close").
type scriptLine struct {
	Send  json.RawMessage `json:"send,omitempty"`
	Await string          `json:"await,omitempty"`
}

func (e *streamEnv) dial(sig string) (*twilioStream, *http.Response, error) {
	h := http.Header{}
	if sig != "" {
		h.Set("X-Twilio-Signature", sig)
	}
	conn, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(e.srv.URL, "http")+"/twilio/stream", h)
	if err != nil {
		return nil, resp, err
	}
	ts := &twilioStream{t: e.t, conn: conn, got: make(chan serverMsg, 1<<14), done: make(chan struct{}),
		streamSid: "MZ5174584e1127285e2b015e720b3d9e68"}
	go ts.read()
	e.t.Cleanup(func() { conn.Close(); <-ts.done })
	return ts, resp, nil
}

func (e *streamEnv) open(doc connectTwiML, sid string) *twilioStream {
	e.t.Helper()
	ts, _, err := e.dial(twiliosim.Sign(authToken, doc.Connect.Stream.URL, nil))
	if err != nil {
		e.t.Fatal(err)
	}
	ts.send(`{"event":"connected","protocol":"Call","version":"1.0.0"}`)
	ts.start(sid, doc.params())
	return ts
}

func (ts *twilioStream) read() {
	defer close(ts.done)
	for {
		mt, b, err := ts.conn.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				ts.closeCode = ce.Code
			}
			return
		}
		var m serverMsg
		if mt != websocket.TextMessage || json.Unmarshal(b, &m) != nil || m.StreamSid != ts.streamSid {
			ts.badFrames++
			continue
		}
		if m.Event == "mark" {
			ts.mu.Lock()
			ts.marks = append(ts.marks, m.Mark.Name)
			ts.mu.Unlock()
			ts.send(fmt.Sprintf(`{"event":"mark","sequenceNumber":"%d","streamSid":%q,"mark":{"name":%q}}`, ts.nextSeq(), ts.streamSid, m.Mark.Name))
		}
		select {
		case ts.got <- m:
		default:
			ts.badFrames++
		}
	}
}

func (ts *twilioStream) nextSeq() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.seq++
	return ts.seq
}

func (ts *twilioStream) send(msg string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.record && !strings.Contains(msg, `"event":"mark"`) { // marks are echoes, not script
		ts.script = append(ts.script, scriptLine{Send: json.RawMessage(msg)})
	}
	ts.conn.WriteMessage(websocket.TextMessage, []byte(msg))
}

func (ts *twilioStream) sendBinary(b []byte) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.conn.WriteMessage(websocket.BinaryMessage, b)
}

func (ts *twilioStream) start(callSid string, params map[string]string) {
	p, _ := json.Marshal(params)
	ts.send(fmt.Sprintf(`{"event":"start","sequenceNumber":"%d","start":{"accountSid":"AC18a481b27eec9373fcbef9368bbd7ae3","streamSid":%q,"callSid":%q,"tracks":["inbound"],"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1},"customParameters":%s},"streamSid":%q}`,
		ts.nextSeq(), ts.streamSid, callSid, p, ts.streamSid))
}

func (ts *twilioStream) dtmf(digits string) {
	for _, d := range digits {
		ts.send(fmt.Sprintf(`{"event":"dtmf","streamSid":%q,"sequenceNumber":"%d","dtmf":{"track":"inbound_track","digit":"%c"}}`, ts.streamSid, ts.nextSeq(), d))
	}
}

func (ts *twilioStream) media(frame []byte) {
	ts.chunk++
	ts.send(fmt.Sprintf(`{"event":"media","sequenceNumber":"%d","media":{"track":"inbound","chunk":"%d","timestamp":"%d","payload":%q},"streamSid":%q}`,
		ts.nextSeq(), ts.chunk, 20*ts.chunk, base64.StdEncoding.EncodeToString(frame), ts.streamSid))
}

// tones sends each key as 80 ms of DTMF (−10 dBm0 per tone) and 80 ms of
// silence, in 20 ms media frames; dtmfToo also sends Twilio's dtmf event
// for the key halfway through its tone.
func (ts *twilioStream) tones(digits string, dtmfToo bool) {
	for _, d := range digits {
		for i, f := range keyFrames(byte(d)) {
			ts.media(f)
			if dtmfToo && i == 2 {
				ts.dtmf(string(d))
			}
		}
	}
}

var dtmfFreqs = map[byte][2]float64{
	'1': {697, 1209}, '2': {697, 1336}, '3': {697, 1477}, '4': {770, 1209}, '5': {770, 1336},
	'6': {770, 1477}, '7': {852, 1209}, '8': {852, 1336}, '9': {852, 1477}, '0': {941, 1336},
	'*': {941, 1209}, '#': {941, 1477},
}

func keyFrames(d byte) [][]byte {
	f := dtmfFreqs[d]
	amp := 22300 * math.Pow(10, -10.0/20)
	pcm := make([]int16, 160*8)
	for i := range 160 * 4 {
		x := float64(i) / 8000
		pcm[i] = int16(amp * (math.Sin(2*math.Pi*f[0]*x) + math.Sin(2*math.Pi*f[1]*x)))
	}
	mu := audio.EncodeMulaw(nil, pcm)
	var out [][]byte
	for i := 0; i < len(mu); i += 160 {
		out = append(out, mu[i:i+160])
	}
	return out
}

// next waits for the next message with this event, skipping others.
func (ts *twilioStream) next(event string) serverMsg {
	ts.t.Helper()
	ts.awaiting(event)
	timeout := time.After(20 * time.Second)
	for {
		select {
		case m := <-ts.got:
			if m.Event == event {
				return m
			}
		case <-ts.done:
			ts.t.Fatalf("stream closed (code %d) while waiting for %q", ts.closeCode, event)
		case <-timeout:
			ts.t.Fatalf("no %q from the gateway", event)
		}
	}
}

func (ts *twilioStream) awaiting(what string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.record {
		ts.script = append(ts.script, scriptLine{Await: what})
	}
}

// replay plays a recorded stream fixture.
func (ts *twilioStream) replay(path string) {
	ts.t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		ts.t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		var l scriptLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			ts.t.Fatalf("%s: %v", path, err)
		}
		switch {
		case l.Send != nil:
			ts.send(string(l.Send))
		case l.Await == "close":
			ts.closed()
		default:
			ts.next(l.Await)
		}
	}
}

func (ts *twilioStream) writeScript(path string) {
	ts.t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, l := range ts.script {
		enc.Encode(l)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		ts.t.Fatal(err)
	}
}

// closed waits for the gateway to close the stream and returns its code.
func (ts *twilioStream) closed() int {
	ts.t.Helper()
	ts.awaiting("close")
	select {
	case <-ts.done:
		return ts.closeCode
	case <-time.After(20 * time.Second):
		ts.t.Fatal("the gateway did not close the stream")
	}
	return 0
}

// metric returns the value of a counter or gauge with the given labels.
func (e *streamEnv) metric(name string, labels ...string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

func (e *streamEnv) phase(sid string) string {
	e.t.Helper()
	sess, err := e.h.App.Store.Load(context.Background(), sid)
	if err != nil {
		e.t.Fatal(err)
	}
	return string(sess.Phase)
}

// finish posts the <Connect action> as Twilio does after the stream closed.
func (e *streamEnv) finish(doc connectTwiML, sid string) string {
	e.t.Helper()
	return e.webhook(strings.TrimPrefix(doc.Connect.Action, publicURL), callForm(sid))
}

// keyInput is how a test presses keys on the stream.
type keyInput func(ts *twilioStream, digits string)

var (
	byEvents keyInput = func(ts *twilioStream, d string) { ts.dtmf(d) }
	byTones  keyInput = func(ts *twilioStream, d string) { ts.tones(d, false) }
	byBoth   keyInput = func(ts *twilioStream, d string) { ts.tones(d, true) }
)

// TestStreamHappyPath: the keypad questions over the stream, keys by dtmf
// events, by in-band tones only, and by both at once (each key counts once).
// The caller barges in on each prompt; after verification the gateway
// closes the stream and the <Connect action> hands the call off.
//
// Each case replays its fixture, testdata/streams/happy_<name>.jsonl: what
// Twilio sends, and what it waits for between messages. -update-streams
// records them again from the scripted caller.
func TestStreamHappyPath(t *testing.T) {
	tests := []struct {
		name   string
		press  keyInput
		source string
	}{
		{"dtmf_events", byEvents, "event"},
		{"inband_tones", byTones, "inband"},
		{"events_and_tones", byBoth, ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLeaks(t)
			e := newStreamEnv(t, fastClock{20})
			sid := fmt.Sprintf("CA%032x", 0x57e3000+i)
			doc := e.toDOB(sid)
			if p := doc.params(); p["step"] != "3" || len(p["caller"]) != 32 {
				t.Fatalf("stream parameters %v", p)
			}
			fixture := filepath.Join("testdata", "streams", "happy_"+tt.name+".jsonl")
			ts, _, err := e.dial(twiliosim.Sign(authToken, doc.Connect.Stream.URL, nil))
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				ts.record = true
				ts.send(`{"event":"connected","protocol":"Call","version":"1.0.0"}`)
				ts.start(sid, doc.params())
				ts.next("media") // the date-of-birth prompt is playing
				tt.press(ts, "01051980")
				ts.next("clear") // barge-in
				ts.next("media") // the SSN prompt
				tt.press(ts, "1234")
				ts.next("clear")
				ts.closed()
				ts.writeScript(fixture)
			} else {
				ts.replay(fixture)
			}
			if ts.closeCode != websocket.CloseNormalClosure {
				t.Fatalf("close code %d, want 1000", ts.closeCode)
			}
			if ts.badFrames > 0 {
				t.Errorf("%d frames from the gateway were not Twilio text messages", ts.badFrames)
			}
			if got := e.phase(sid); got != "verified" {
				t.Fatalf("phase %q, want verified", got)
			}
			twiml := e.finish(doc, sid)
			if !strings.Contains(twiml, streamHandoffURL) || !strings.Contains(twiml, "verified") {
				t.Errorf("stream-done TwiML is not the hand-off: %s", twiml)
			}
			if tt.source != "" {
				if n := e.metric("ivr_stream_digits_total", "source", tt.source); n != 12 {
					t.Errorf("%s digits %v, want 12", tt.source, n)
				}
			} else if n := e.metric("ivr_stream_digits_total", "source", "duplicate"); n != 12 {
				t.Errorf("duplicates %v, want 12 (each key heard twice, counted once)", n)
			}
			if n := e.metric("ivr_streams_total", "outcome", "handback"); n != 1 {
				t.Errorf("handback streams %v, want 1", n)
			}
			assertNoPersonalData(t, e.logs.String())
		})
	}
}

// TestStreamSurvivesBadInput: messages the gateway cannot use are counted
// and dropped; the call goes on.
func TestStreamSurvivesBadInput(t *testing.T) {
	checkLeaks(t)
	e := newStreamEnv(t, fastClock{20})
	sid := "CA0000000000000000000000000badf00d"
	doc := e.toDOB(sid)
	ts, _, err := e.dial(twiliosim.Sign(authToken, doc.Connect.Stream.URL, nil))
	if err != nil {
		t.Fatal(err)
	}
	ts.media(make([]byte, 160))                       // media before start
	ts.send(`{"event":"connected","protocol":"Call"`) // malformed JSON
	ts.sendBinary([]byte{0xff, 0xfe, 0x00})           // binary frame
	ts.start(sid, doc.params())
	ts.send(`{"event":"transcription","streamSid":"MZ5174584e1127285e2b015e720b3d9e68"}`) // unknown event
	ts.send(`{"event":"media","media":{"payload":"no+JhoaJjpz..."}}`)                     // payload not base64
	ts.send(`{"event":"dtmf","dtmf":{"digit":"12"}}`)                                     // not one key
	ts.next("media")
	ts.dtmf("01051980")
	ts.next("clear")
	ts.next("media")
	ts.dtmf("1234")
	if code := ts.closed(); code != websocket.CloseNormalClosure {
		t.Fatalf("close code %d, want 1000", code)
	}
	if got := e.phase(sid); got != "verified" {
		t.Fatalf("phase %q, want verified", got)
	}
	for _, kind := range []string{"media_before_start", "malformed", "binary", "unknown_event", "bad_payload", "bad_dtmf"} {
		if n := e.metric("ivr_stream_errors_total", "kind", kind); n != 1 {
			t.Errorf("errors{kind=%q} = %v, want 1", kind, n)
		}
	}
	assertNoPersonalData(t, e.logs.String())
}

// TestStreamUpgradeSignature: the upgrade is refused (403, before any
// WebSocket) unless X-Twilio-Signature signs the wss URL, or that URL with
// the trailing slash Twilio's notes mention.
func TestStreamUpgradeSignature(t *testing.T) {
	checkLeaks(t)
	e := newStreamEnv(t, fastClock{20})
	tests := []struct {
		name string
		sig  string
		ok   bool
	}{
		{"wss URL", twiliosim.Sign(authToken, "wss://ivr.example.test/twilio/stream", nil), true},
		{"trailing slash", twiliosim.Sign(authToken, "wss://ivr.example.test/twilio/stream/", nil), true},
		{"unsigned", "", false},
		{"https URL", twiliosim.Sign(authToken, "https://ivr.example.test/twilio/stream", nil), false},
		{"other host", twiliosim.Sign(authToken, "wss://evil.example.test/twilio/stream", nil), false},
		{"other token", twiliosim.Sign("not-the-token", "wss://ivr.example.test/twilio/stream", nil), false},
		{"with params", twiliosim.Sign(authToken, "wss://ivr.example.test/twilio/stream", url.Values{"a": {"b"}}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, resp, err := e.dial(tt.sig)
			if tt.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				ts.conn.Close()
				return
			}
			if err == nil {
				t.Fatal("upgrade accepted")
			}
			if resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Fatalf("response %v, want 403", resp)
			}
		})
	}
	if n := e.metric("ivr_signature_failures_total"); n != 5 {
		t.Errorf("signature failures %v, want 5", n)
	}
}

// replayLog sends a recorded or documented message log verbatim.
// replayLog sends a recorded log's Twilio-side messages. With params, the
// start message carries them as its customParameters, as Twilio sends the
// <Parameter>s of the TwiML that opened the stream (the recording's own
// call had none).
func replayLog(t *testing.T, ts *twilioStream, name string, params map[string]string) {
	f, err := os.Open(filepath.Join("testdata", "streams", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		if bytes.Contains(line, []byte(`"_direction":"to-twilio"`)) {
			continue
		}
		if params != nil && bytes.Contains(line, []byte(`"event":"start"`)) {
			var msg map[string]any
			if err := json.Unmarshal(line, &msg); err != nil {
				t.Fatal(err)
			}
			msg["start"].(map[string]any)["customParameters"] = params
			line, _ = json.Marshal(msg)
		}
		ts.send(string(line))
	}
}

// TestStreamRecordedLog replays a Media Streams log recorded from Twilio
// (connected, start, two media, stop), with its SIDs, on a call at the
// date-of-birth question: the prompt plays, the stop ends the stream, the
// call is unchanged.
func TestStreamRecordedLog(t *testing.T) {
	checkLeaks(t)
	e := newStreamEnv(t, fastClock{1}) // wall clock: the stop must come before any timeout
	const sid = "CA45397943c1c7a49f7b7713c230107a39"
	doc := e.toDOB(sid)
	ts, _, err := e.dial(twiliosim.Sign(authToken, doc.Connect.Stream.URL, nil))
	if err != nil {
		t.Fatal(err)
	}
	replayLog(t, ts, "media-streams-recorded.jsonl", doc.params())
	ts.closed()
	if got := e.metric("ivr_stream_messages_total", "event", "media"); got != 2 {
		t.Errorf("media messages %v, want 2", got)
	}
	if got := e.metric("ivr_streams_total", "outcome", "stopped"); got != 1 {
		t.Errorf("stopped streams %v, want 1", got)
	}
	if got := e.metric("ivr_stream_errors_total"); got != 0 {
		t.Errorf("%v messages refused", got)
	}
	if got := e.phase(sid); got != "collecting" {
		t.Errorf("phase %q, want collecting", got)
	}
	// The call is where it was: the <Connect action> asks the same question.
	if twiml := e.finish(doc, sid); !strings.Contains(twiml, "stream-done?step=3") {
		t.Errorf("stream-done TwiML: %s", twiml)
	}
}

// TestStreamDocsLog replays the documentation's example messages. Their
// placeholder SIDs (CAXXX...) are not call SIDs, and their parameters no
// binding: the stream is refused with close 1008 and nothing touches Redis.
func TestStreamDocsLog(t *testing.T) {
	checkLeaks(t)
	e := newStreamEnv(t, fastClock{20})
	ts, _, err := e.dial(twiliosim.Sign(authToken, "wss://ivr.example.test/twilio/stream", nil))
	if err != nil {
		t.Fatal(err)
	}
	replayLog(t, ts, "media-streams-docs-examples.jsonl", nil)
	if code := ts.closed(); code != websocket.ClosePolicyViolation {
		t.Fatalf("close code %d, want 1008", code)
	}
	if got := e.metric("ivr_streams_total", "outcome", "unbound"); got != 1 {
		t.Errorf("unbound streams %v, want 1", got)
	}
}

// TestStreamShutdown: Gateway.Shutdown closes live streams with 1001 so
// Twilio continues with the <Connect action>.
func TestStreamShutdown(t *testing.T) {
	checkLeaks(t)
	e := newStreamEnv(t, fastClock{1})
	sid := "CA00000000000000000000000000000002"
	doc := e.toDOB(sid)
	ts := e.open(doc, sid)
	ts.next("media")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.gw.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if code := ts.closed(); code != websocket.CloseGoingAway {
		t.Fatalf("close code %d, want 1001", code)
	}
	if _, resp, err := e.dial(twiliosim.Sign(authToken, "wss://ivr.example.test/twilio/stream", nil)); err == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("stream accepted after Shutdown")
	}
}
