package twiliosim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/twilio/twilio-go/client"

	"github.com/ivr-gateway/ivr/telephony/conversationrelay"
	"github.com/ivr-gateway/ivr/telephony/mediastream"
)

// wsGateway is a fake gateway with one WebSocket route: /twilio/voice
// answers voiceTwiML, the socket runs script (after checking the upgrade's
// signature as the real gateway does), and every other POST answers
// doneTwiML and is recorded.
type wsGateway struct {
	t   *testing.T
	srv *httptest.Server
	mu  sync.Mutex
	got []request
}

func newWSGateway(t *testing.T, voiceTwiML, doneTwiML string, script func(t *testing.T, c *websocket.Conn)) *wsGateway {
	g := &wsGateway{t: t}
	v := client.NewRequestValidator(testToken)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /twilio/ws", func(w http.ResponseWriter, r *http.Request) {
		if !v.Validate("wss://ivr.example.org"+r.RequestURI, nil, r.Header.Get("X-Twilio-Signature")) {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		script(t, c)
	})
	mux.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(b))
		if !v.Validate(testPublic+r.RequestURI, first(form), r.Header.Get("X-Twilio-Signature")) {
			t.Errorf("%s: signature rejected", r.URL.Path)
		}
		g.mu.Lock()
		g.got = append(g.got, request{Method: r.Method, URI: r.RequestURI, Body: string(b), Form: form})
		g.mu.Unlock()
		body := doneTwiML
		if r.URL.Path == "/twilio/voice" {
			body = voiceTwiML
		}
		w.Header().Set("Content-Type", "text/xml")
		io.WriteString(w, twiml(body))
	})
	g.srv = httptest.NewServer(mux)
	t.Cleanup(g.srv.Close)
	return g
}

func (g *wsGateway) requests() []request {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]request(nil), g.got...)
}

func (g *wsGateway) config() Config {
	return Config{BaseURL: g.srv.URL, PublicURL: testPublic, AuthToken: testToken, CallSid: "CA" + strings.Repeat("1", 32),
		AccountSid: "AC" + strings.Repeat("2", 32), From: "+15555550123", To: "+15555550100", Quiet: 50 * time.Millisecond}
}

// readJSON reads one text frame into a map.
func readJSON(t *testing.T, c *websocket.Conn) map[string]any {
	t.Helper()
	_, b, err := c.ReadMessage()
	if err != nil {
		t.Errorf("read: %v", err)
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Errorf("not JSON: %s", b)
	}
	return m
}

func send(t *testing.T, c *websocket.Conn, m conversationrelay.Message) {
	b, err := conversationrelay.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	c.WriteMessage(websocket.TextMessage, b)
}

const relayTwiML = `<Connect action="/twilio/relay-done?step=0"><ConversationRelay url="wss://ivr.example.org/twilio/ws" language="en-US">` +
	`<Language code="en-US" ttsProvider="Amazon" voice="Joanna-Neural"/><Language code="es-US" ttsProvider="Amazon" voice="Lupe-Neural"/>` +
	`<Parameter name="step" value="0"/><Parameter name="bind" value="b1nd"/></ConversationRelay></Connect><Say>unreachable</Say>`

// TestRelaySession: the simulator plays Twilio's side of a
// ConversationRelay session: setup, prompts and keys, the text it hears,
// language switches, "please hold", and end with its handoffData.
func TestRelaySession(t *testing.T) {
	no := false
	var sessionID string
	g := newWSGateway(t, relayTwiML, `<Say>Connecting you.</Say><Hangup/>`, func(t *testing.T, c *websocket.Conn) {
		setup := readJSON(t, c)
		sessionID, _ = setup["sessionId"].(string)
		want := map[string]any{"type": "setup", "callSid": "CA" + strings.Repeat("1", 32), "accountSid": "AC" + strings.Repeat("2", 32),
			"from": "+15555550123", "to": "+15555550100", "direction": "inbound", "callType": "PSTN",
			"customParameters": map[string]any{"step": "0", "bind": "b1nd"}}
		for k, v := range want {
			if b1, b2 := mustJSON(setup[k]), mustJSON(v); b1 != b2 {
				t.Errorf("setup %s = %s, want %s", k, b1, b2)
			}
		}
		if !strings.HasPrefix(sessionID, "VX") || len(sessionID) != 34 {
			t.Errorf("sessionId %q", sessionID)
		}
		send(t, c, conversationrelay.Text{Token: "Press or ", Lang: "en-US"})
		send(t, c, conversationrelay.Text{Token: "say one.", Last: true, Lang: "en-US"})
		for _, d := range "12#" {
			if m := readJSON(t, c); m["type"] != "dtmf" || m["digit"] != string(d) {
				t.Errorf("key %c: got %v", d, m)
			}
		}
		c.WriteMessage(websocket.TextMessage, []byte(`{"type":"whatever"}`))
		if m := readJSON(t, c); m["type"] != "error" {
			t.Errorf("answer to a bad message: %v", m)
		}
		send(t, c, conversationrelay.Language{TTSLanguage: "es-US", TranscriptionLanguage: "es-US"})
		send(t, c, conversationrelay.Text{Token: "Diga su nombre.", Last: true})
		if m := readJSON(t, c); m["type"] != "prompt" || m["voicePrompt"] != "José" || m["lang"] != "es-US" || m["last"] != true {
			t.Errorf("prompt: %v", m)
		}
		send(t, c, conversationrelay.Text{Token: "Espere.", Last: true, Interruptible: &no})
		time.Sleep(150 * time.Millisecond) // longer than Quiet: "please hold" asks for no answer
		send(t, c, conversationrelay.End{HandoffData: `{"outcome":"verified","step":6}`})
		c.ReadMessage() // the close
	})
	call, turn, err := Dial(t.Context(), g.config())
	if err != nil {
		t.Fatal(err)
	}
	if turn.Session != SessionRelay || len(turn.Heard) != 1 || turn.Heard[0] != (Utterance{"Press or say one.", "Amazon.Joanna-Neural", "en-US"}) {
		t.Fatalf("first turn %+v", turn)
	}
	if turn, err = call.Press(t.Context(), "12#"); err != nil {
		t.Fatal(err)
	}
	if turn.Session != SessionRelay || len(turn.Heard) != 1 || turn.Heard[0] != (Utterance{"Diga su nombre.", "Amazon.Lupe-Neural", "es-US"}) {
		t.Fatalf("after the keys %+v", turn)
	}
	if turn, err = call.Say(t.Context(), "José", 0.2); err != nil {
		t.Fatal(err)
	}
	if !turn.Ended || turn.End != "hangup" || len(turn.Heard) != 2 || turn.Heard[0].Text != "Espere." || turn.Heard[1].Text != "Connecting you." {
		t.Fatalf("after the name %+v", turn)
	}
	reqs := g.requests()
	if len(reqs) != 2 || reqs[1].URI != "/twilio/relay-done?step=0" {
		t.Fatalf("requests %+v", reqs)
	}
	f := reqs[1].Form
	if f.Get("SessionStatus") != "ended" || f.Get("HandoffData") != `{"outcome":"verified","step":6}` ||
		f.Get("SessionId") != sessionID || f.Get("SessionDuration") == "" || f.Get("CallStatus") != "in-progress" {
		t.Errorf("<Connect action> form %v", f)
	}
	if err := call.Hangup(t.Context(), "completed"); err != nil {
		t.Fatal(err)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestRelaySessionEnds: a session the gateway drops without end fails
// (39001); one the caller leaves completes, and its <Connect action> is
// still requested before the status callback.
func TestRelaySessionEnds(t *testing.T) {
	t.Run("dropped", func(t *testing.T) {
		g := newWSGateway(t, relayTwiML, `<Hangup/>`, func(t *testing.T, c *websocket.Conn) {
			readJSON(t, c)
			c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseInternalServerErr, ""), time.Now().Add(time.Second))
		})
		var logs []SocketLog
		cfg := g.config()
		cfg.Record = func(ex Exchange) {
			if ex.Socket != nil {
				logs = append(logs, *ex.Socket)
			}
		}
		_, turn, err := Dial(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if !turn.Ended || turn.End != "hangup" {
			t.Errorf("turn %+v", turn)
		}
		f := g.requests()[1].Form
		if f.Get("SessionStatus") != "failed" || f.Get("ErrorCode") != "39001" || f.Get("HandoffData") != "" {
			t.Errorf("<Connect action> form %v", f)
		}
		if len(logs) != 1 || logs[0].ClosedBy != "gateway" || logs[0].CloseCode != websocket.CloseInternalServerErr || logs[0].Status != 101 {
			t.Errorf("session log %+v", logs)
		}
	})
	t.Run("caller hangs up", func(t *testing.T) {
		g := newWSGateway(t, relayTwiML, `<Say>never</Say>`, func(t *testing.T, c *websocket.Conn) {
			readJSON(t, c)
			send(t, c, conversationrelay.Text{Token: "Hello.", Last: true})
			c.ReadMessage()
		})
		call, _, err := Dial(t.Context(), g.config())
		if err != nil {
			t.Fatal(err)
		}
		if err := call.Hangup(t.Context(), "completed"); err != nil {
			t.Fatal(err)
		}
		reqs := g.requests()
		if len(reqs) != 3 || reqs[1].Form.Get("SessionStatus") != "completed" || reqs[1].Form.Get("CallStatus") != "completed" ||
			reqs[2].URI != "/twilio/status" {
			t.Errorf("requests %+v", reqs)
		}
	})
	t.Run("refused", func(t *testing.T) {
		g := newWSGateway(t, strings.Replace(relayTwiML, "/twilio/ws", "/twilio/nowhere", 1), `<Hangup/>`, nil)
		_, turn, err := Dial(t.Context(), g.config())
		if err != nil || !turn.Ended {
			t.Fatalf("%v %+v", err, turn)
		}
		if f := g.requests()[1].Form; f.Get("SessionStatus") != "failed" {
			t.Errorf("<Connect action> form %v", f)
		}
	})
}

// TestStreamSession: the simulator plays Twilio's side of a bidirectional
// Media Stream: connected, start with the <Parameter>s, marks echoed and
// heard as prompt IDs, keys as dtmf messages or in-band tones, and the
// <Connect action> when the gateway closes.
func TestStreamSession(t *testing.T) {
	const streamTwiML = `<Connect action="/twilio/stream-done?step=3"><Stream url="wss://ivr.example.org/twilio/ws">` +
		`<Parameter name="step" value="3"/></Stream></Connect>`
	for _, keys := range []string{KeysEvents, KeysTones, KeysBoth} {
		t.Run(keys, func(t *testing.T) {
			g := newWSGateway(t, streamTwiML, `<Hangup/>`, func(t *testing.T, c *websocket.Conn) {
				var m mediastream.Message
				read := func() string {
					_, b, err := c.ReadMessage()
					if err != nil || m.Unmarshal(b) != nil {
						t.Errorf("read: %v %s", err, b)
						return ""
					}
					return string(m.Event)
				}
				if ev := read(); ev != "connected" {
					t.Errorf("first message %q", ev)
				}
				if ev := read(); ev != "start" {
					t.Fatalf("second message %q", ev)
				}
				st, _ := m.DecodeStart()
				if st.CallSid != "CA"+strings.Repeat("1", 32) || st.CustomParameters["step"] != "3" || !strings.HasPrefix(st.StreamSid, "MZ") {
					t.Errorf("start %+v", st)
				}
				out := func(o mediastream.Outbound) {
					o.StreamSid = st.StreamSid
					c.WriteMessage(websocket.TextMessage, o.MarshalTo(nil))
				}
				out(mediastream.Outbound{Event: "media", Payload: make([]byte, 160)})
				out(mediastream.Outbound{Event: "mark", Mark: "ask_dob-1"})
				if ev := read(); ev != "mark" || string(m.Mark.Name) != "ask_dob-1" {
					t.Errorf("mark echo: %q %q", ev, m.Mark.Name)
				}
				wantEvents, wantMedia := map[string]int{KeysEvents: 2, KeysTones: 0, KeysBoth: 2}[keys], map[string]int{KeysEvents: 0, KeysTones: 16, KeysBoth: 16}[keys]
				events, media := 0, 0
				for events < wantEvents || media < wantMedia {
					switch read() {
					case "dtmf":
						events++
					case "media":
						media++
					default:
						t.Fatalf("after %d dtmf and %d media messages, something else", events, media)
					}
				}
				if events != wantEvents || media != wantMedia {
					t.Errorf("keys sent as %d dtmf and %d media messages, want %d and %d", events, media, wantEvents, wantMedia)
				}
				c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
				c.ReadMessage()
			})
			cfg := g.config()
			cfg.StreamKeys = keys
			call, turn, err := Dial(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if turn.Session != SessionStream || len(turn.Heard) != 1 || turn.Heard[0] != (Utterance{Text: "ask_dob", Voice: SessionStream}) {
				t.Fatalf("first turn %+v", turn)
			}
			if turn, err = call.Press(t.Context(), "12"); err != nil {
				t.Fatal(err)
			}
			if !turn.Ended || turn.End != "hangup" {
				t.Errorf("turn %+v", turn)
			}
			reqs := g.requests()
			if len(reqs) != 2 || reqs[1].URI != "/twilio/stream-done?step=3" || reqs[1].Form.Get("SessionStatus") != "" {
				t.Errorf("requests %+v", reqs)
			}
		})
	}
}
