package phone

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ivr-gateway/ivr/internal/twiliosim"
)

// Scripts of the demo's patients (authserver/testdata/patients.json).
var (
	verifiedScript = []string{`{"kind":"silence"}`, `{"kind":"say","value":"Maria Garcia","confidence":0.9}`,
		`{"kind":"dtmf","value":"01051980"}`, `{"kind":"dtmf","value":"1234"}`}
	wrongSSNScript = []string{`{"kind":"silence"}`,
		`{"kind":"say","value":"Maria Garcia"}`, `{"kind":"dtmf","value":"01051980"}`, `{"kind":"dtmf","value":"9999"}`,
		`{"kind":"say","value":"Maria Garcia"}`, `{"kind":"dtmf","value":"01051980"}`, `{"kind":"dtmf","value":"9999"}`,
		`{"kind":"say","value":"Maria Garcia"}`, `{"kind":"dtmf","value":"01051980"}`, `{"kind":"dtmf","value":"9999"}`}
)

// call dials through the API and plays script until the call ends; it
// returns every view, the dial's first.
func (d *demo) call(t *testing.T, script []string) []map[string]any {
	t.Helper()
	status, v, _ := d.post(t, callsPath, "{}")
	if status != http.StatusCreated {
		t.Fatalf("dial: %d %v", status, v)
	}
	views := []map[string]any{v}
	id := v["id"].(string)
	for i, step := range script {
		if v["ended"] == true {
			t.Fatalf("the call ended before step %d: %v", i, v)
		}
		status, v, _ = d.post(t, callsPath+"/"+id, step)
		if status != http.StatusOK {
			t.Fatalf("step %d: %d %v", i, status, v)
		}
		views = append(views, v)
	}
	return views
}

// transcript is everything the caller heard, one line each.
func transcript(views []map[string]any) string {
	var b strings.Builder
	for _, v := range views {
		hs, _ := v["heard"].([]any)
		for _, h := range hs {
			b.WriteString(h.(map[string]any)["text"].(string) + "\n")
		}
	}
	return b.String()
}

// TestCallsThroughTheAPI places a verified call and a failed one through
// the page's API on every transport the gateway runs with: the page sees
// what the caller hears, the gateway's state and, for the verified call,
// what the agent got from the MCP server; the call is hung up at its end
// (the status callback: the gateway's state is ended) and forgotten here.
func TestCallsThroughTheAPI(t *testing.T) {
	for _, transport := range []string{"gather", "stream", "relay"} {
		t.Run(transport, func(t *testing.T) {
			d := startDemo(t, transport, nil)
			tests := []struct {
				name                string
				script              []string
				outcome, state, end string
				heard               []string
				agent               bool
			}{
				{"verified", verifiedScript, "verified", "verified", "hangup", []string{"you are verified"}, true},
				{"wrong SSN three times", wrongSSNScript, "not verified", "failed", "hangup",
					[]string{"could not verify", "Goodbye"}, false},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					views := d.call(t, tt.script)
					last := views[len(views)-1]
					if last["ended"] != true || last["outcome"] != tt.outcome || last["state"] != tt.state {
						t.Errorf("last view: ended=%v outcome=%v state=%v, want ended, %s, %s", last["ended"], last["outcome"], last["state"], tt.outcome, tt.state)
					}
					if end, _ := last["end"].(string); !strings.HasPrefix(end, tt.end) && transport != "relay" {
						t.Errorf("end %q, want %s", end, tt.end)
					}
					heard := transcript(views)
					for _, want := range tt.heard {
						if !strings.Contains(strings.ToLower(heard), strings.ToLower(want)) {
							t.Errorf("the caller never heard %q:\n%s", want, heard)
						}
					}
					for _, v := range views[:len(views)-1] {
						if v["ended"] == true || v["waiting"] == "" || v["state"] == "" {
							t.Errorf("a view in the call: %v", v)
						}
					}
					agent, _ := json.Marshal(last["agent"])
					if got := strings.Contains(string(agent), `"tool":"whoami"`) && strings.Contains(string(agent), `"patient_id":"pat-0001"`) &&
						strings.Contains(string(agent), `"tool":"next_appointment"`); got != tt.agent {
						t.Errorf("agent result %s (error %v), want it: %v", agent, last["agent_error"], tt.agent)
					}
					sid := last["call_sid"].(string)
					if st := d.gatewayState(t, sid); st != "ended" {
						t.Errorf("after the call the gateway says %q, want ended (the status callback)", st)
					}
					if n := d.phone.Calls(); n != 0 {
						t.Errorf("%d calls still held after the end", n)
					}
					status, v, _ := d.post(t, callsPath+"/"+last["id"].(string), `{"kind":"silence"}`)
					if status != http.StatusNotFound {
						t.Errorf("a step after the end: %d %v", status, v)
					}
				})
			}
			d.scanLogs(t)
		})
	}
}

// TestHangUpMidCall: the caller hangs up; the gateway gets the status
// callback, and the page the end.
func TestHangUpMidCall(t *testing.T) {
	d := startDemo(t, "gather", nil)
	views := d.call(t, []string{`{"kind":"silence"}`, `{"kind":"hangup"}`})
	last := views[len(views)-1]
	if last["ended"] != true || last["end"] != "caller-hangup" || last["outcome"] != "not verified" || last["state"] != "collecting" {
		t.Errorf("after hanging up: %v", last)
	}
	if st := d.gatewayState(t, last["call_sid"].(string)); st != "ended" {
		t.Errorf("the gateway says %q, want ended", st)
	}
}

// TestDialRefused: a gateway that refuses the call (here: the phone
// signs with another auth token) ends it at the dial, and the page is told
// how, as Twilio would tell a caller.
func TestDialRefused(t *testing.T) {
	d := startDemo(t, "gather", func(c *Config) { c.AuthToken = "not-the-gateways" })
	status, v, _ := d.post(t, callsPath, "{}")
	if status != http.StatusCreated || v["ended"] != true || v["end"] != "error:11200 HTTP 403" || v["outcome"] != "not verified" {
		t.Errorf("dial: %d %v", status, v)
	}
	if n := d.phone.Calls(); n != 0 {
		t.Errorf("%d calls held after a refused dial", n)
	}
}

// TestAPIRefuses: what the API takes from outside is bounded and checked
// before any call is placed or stepped; errors never echo an answer.
func TestAPIRefuses(t *testing.T) {
	d := startDemo(t, "gather", nil)
	_, v, _ := d.post(t, callsPath, "{}")
	live := callsPath + "/" + v["id"].(string)
	tests := []struct {
		name, path, body string
		hdr              []string
		status           int
		msg              string
	}{
		{"form post (another site's form)", callsPath, "{}", []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "application/json"},
		{"text/plain (a no-preflight fetch)", live, `{"kind":"silence"}`, []string{"Content-Type", "text/plain"}, 415, "application/json"},
		{"another origin", callsPath, "{}", []string{"Origin", "http://evil.example"}, 403, "cross-origin"},
		{"cross-site fetch metadata", live, `{"kind":"silence"}`, []string{"Sec-Fetch-Site", "cross-site", "Origin", ""}, 403, "cross-site"},
		{"rebound name", callsPath, "{}", []string{"Host", "evil.example:80", "Origin", ""}, 421, "own address"},
		{"huge body", live, `{"kind":"say","value":"` + strings.Repeat("a", 5000) + `"}`, nil, 413, "too large"},
		{"dial with settings", callsPath, `{"from":"+15555550100"}`, nil, 400, "empty JSON object"},
		{"unknown call", callsPath + "/0123456789abcdef0123456789abcdef", `{"kind":"silence"}`, nil, 404, "no such call"},
		{"unknown kind", live, `{"kind":"dance"}`, nil, 400, "kind must be"},
		{"letters as keys", live, `{"kind":"dtmf","value":"12ab34"}`, nil, 400, "dtmf takes"},
		{"too many keys", live, `{"kind":"dtmf","value":"` + strings.Repeat("1", 33) + `"}`, nil, 400, "dtmf takes"},
		{"confidence above 1", live, `{"kind":"say","value":"Maria Garcia","confidence":1.5}`, nil, 400, "confidence"},
		{"speech too long", live, `{"kind":"say","value":"` + strings.Repeat("a", 301) + `"}`, nil, 400, "say takes"},
		{"unknown field", live, `{"kind":"silence","from":"+1555"}`, nil, 400, "not a JSON step"},
		{"wrong method", live, "", nil, 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var status int
			var body map[string]any
			if tt.name == "wrong method" {
				resp, err := http.Get(d.url + tt.path)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				status = resp.StatusCode
			} else {
				status, body, _ = d.post(t, tt.path, tt.body, tt.hdr...)
			}
			msg, _ := body["error"].(string)
			if status != tt.status || !strings.Contains(msg, tt.msg) {
				t.Errorf("%d %q, want %d %q", status, msg, tt.status, tt.msg)
			}
			for _, s := range []string{"Maria", "12ab34", "evil"} {
				if strings.Contains(msg, s) {
					t.Errorf("the error echoes %q: %q", s, msg)
				}
			}
		})
	}
	// The call the refusals aimed at is untouched, and still answers.
	if status, v, _ := d.post(t, live, `{"kind":"silence"}`); status != 200 || v["ended"] == true {
		t.Errorf("the live call after the refusals: %d %v", status, v)
	}
}

// TestPageAndAssets: the page and its two files, with headers that keep
// the page to itself; nothing else under /phone; every other path is the
// gateway's.
func TestPageAndAssets(t *testing.T) {
	d := startDemo(t, "gather", nil)
	tests := []struct {
		path, host string
		status     int
		ctype      string
		contains   string
	}{
		{"/phone", "", 200, "text/html", `<button type="button" id="dial"`},
		{"/phone/static/phone.js", "", 200, "text/javascript", "speechSynthesis"},
		{"/phone/static/phone.css", "", 200, "text/css", ".keypad"},
		{"/phone", "localhost", 200, "text/html", "id=\"transcript\""},
		{"/phone", "phone.evil.example", 421, "application/json", "own address"},
		{"/phone/static/index.html", "", 404, "", ""},
		{"/phone/static/", "", 404, "", ""},
		{"/phone/static/../phone.go", "", 404, "", ""},
		{"/phone/api/calls", "", 405, "", ""},
		{"/healthz", "", 200, "", "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.path+" "+tt.host, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, d.url+tt.path, nil)
			if tt.host != "" {
				req.Host = tt.host
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), tt.ctype) ||
				!strings.Contains(string(b), tt.contains) {
				t.Errorf("%d %q, want %d %q containing %q:\n%.300s", resp.StatusCode, resp.Header.Get("Content-Type"),
					tt.status, tt.ctype, tt.contains, b)
			}
			if tt.status == 200 && strings.HasPrefix(tt.path, "/phone") {
				if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") ||
					!strings.Contains(csp, "frame-ancestors 'none'") {
					t.Errorf("Content-Security-Policy %q", csp)
				}
			}
		})
	}
}

// TestCallCap: MaxCalls browser calls at once; the next dial is refused
// until one ends, and placed no call.
func TestCallCap(t *testing.T) {
	d := startDemo(t, "gather", func(c *Config) { c.MaxCalls = 2 })
	var ids []string
	for range 2 {
		status, v, _ := d.post(t, callsPath, "{}")
		if status != http.StatusCreated {
			t.Fatalf("dial: %d %v", status, v)
		}
		ids = append(ids, v["id"].(string))
	}
	placed := strings.Count(d.logs.String(), `"msg":"phone call placed"`)
	status, v, hdr := d.post(t, callsPath, "{}")
	if status != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" {
		t.Fatalf("a third dial: %d %v (Retry-After %q)", status, v, hdr.Get("Retry-After"))
	}
	if n := strings.Count(d.logs.String(), `"msg":"phone call placed"`); n != placed {
		t.Errorf("a refused dial placed a call")
	}
	if status, v, _ := d.post(t, callsPath+"/"+ids[0], `{"kind":"hangup"}`); status != 200 || v["ended"] != true {
		t.Fatalf("hang-up: %d %v", status, v)
	}
	if status, v, _ := d.post(t, callsPath, "{}"); status != http.StatusCreated {
		t.Errorf("a dial after a hang-up: %d %v", status, v)
	}
}

// TestIdleCallHungUp: a call the page leaves alone is hung up (the status
// callback: the gateway ends it too) and forgotten.
func TestIdleCallHungUp(t *testing.T) {
	d := startDemo(t, "gather", func(c *Config) { c.IdleTimeout = 300 * time.Millisecond })
	_, v, _ := d.post(t, callsPath, "{}")
	id, sid := v["id"].(string), v["call_sid"].(string)
	// A step keeps it alive.
	time.Sleep(200 * time.Millisecond)
	if status, _, _ := d.post(t, callsPath+"/"+id, `{"kind":"silence"}`); status != 200 {
		t.Fatalf("a step before the timeout: %d", status)
	}
	deadline := time.Now().Add(10 * time.Second)
	for d.phone.Calls() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := d.phone.Calls(); n != 0 {
		t.Fatalf("%d calls held after the idle timeout", n)
	}
	if st := d.gatewayState(t, sid); st != "ended" {
		t.Errorf("the gateway says %q, want ended", st)
	}
	if status, _, _ := d.post(t, callsPath+"/"+id, `{"kind":"silence"}`); status != http.StatusNotFound {
		t.Errorf("a step after the timeout: %d", status)
	}
	if !strings.Contains(d.logs.String(), `"why":"idle"`) {
		t.Errorf("no idle hang-up logged")
	}
}

// TestLongestCall: a call kept busy is still hung up once it has lasted
// MaxDuration; one neither idle nor too long is left alone.
func TestLongestCall(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	d := startDemo(t, "gather", func(c *Config) { c.Now, c.IdleTimeout, c.MaxDuration = clock, time.Hour, 15*time.Minute })
	_, v, _ := d.post(t, callsPath, "{}")
	id := v["id"].(string)
	c := d.phone.lookup(id)
	advance(14 * time.Minute)
	if status, _, _ := d.post(t, callsPath+"/"+id, `{"kind":"silence"}`); status != 200 {
		t.Fatalf("step: %d", status)
	}
	d.phone.expire(c)
	if d.phone.Calls() != 1 {
		t.Fatalf("a call 14 minutes long, stepped just now, was hung up")
	}
	advance(time.Minute)
	d.phone.expire(c)
	if d.phone.Calls() != 0 || !strings.Contains(d.logs.String(), `"why":"longest call"`) {
		t.Errorf("a busy call outlived MaxDuration (calls held: %d)", d.phone.Calls())
	}
}

// TestOneStepAtATime: a step while the previous one runs is refused, not
// queued.
func TestOneStepAtATime(t *testing.T) {
	d := startDemo(t, "gather", nil)
	_, v, _ := d.post(t, callsPath, "{}")
	id := v["id"].(string)
	c := d.phone.lookup(id)
	c.mu.Lock() // a step in progress
	status, v, _ := d.post(t, callsPath+"/"+id, `{"kind":"silence"}`)
	c.mu.Unlock()
	if status != http.StatusConflict {
		t.Errorf("a second step at once: %d %v", status, v)
	}
	if status, _, _ := d.post(t, callsPath+"/"+id, `{"kind":"silence"}`); status != 200 {
		t.Errorf("the next step: %d", status)
	}
}

// TestCloseHangsUp: shutting the demo down hangs every browser call up
// and refuses new ones.
func TestCloseHangsUp(t *testing.T) {
	d := startDemo(t, "gather", nil)
	_, v, _ := d.post(t, callsPath, "{}")
	d.phone.Close()
	if st := d.gatewayState(t, v["call_sid"].(string)); st != "ended" {
		t.Errorf("after Close the gateway says %q, want ended", st)
	}
	if status, v, _ := d.post(t, callsPath, "{}"); status != http.StatusServiceUnavailable {
		t.Errorf("a dial after Close: %d %v", status, v)
	}
}

func TestParseStep(t *testing.T) {
	tests := []struct {
		body              string
		kind, value, fail string
		conf              float64
	}{
		{`{"kind":"dtmf","value":"01051980"}`, "dtmf", "01051980", "", 0},
		{`{"kind":"dtmf","value":"*#"}`, "dtmf", "*#", "", 0},
		{`{"kind":"say","value":"  Maria Garcia "}`, "say", "Maria Garcia", "", 0.9},
		{`{"kind":"say","value":"María","confidence":0}`, "say", "María", "", 0},
		{`{"kind":"say","value":"x","confidence":1}`, "say", "x", "", 1},
		{`{"kind":"silence"}`, "silence", "", "", 0},
		{`{"kind":"hangup"}`, "hangup", "completed", "", 0},
		{`{"kind":"hangup","value":"busy"}`, "", "", "takes no value", 0},
		{`{"kind":"silence","confidence":0.5}`, "", "", "say only", 0},
		{`{"kind":"say","value":"   "}`, "", "", "say takes", 0},
		{`{"kind":"say","value":"a\u0000b"}`, "", "", "say takes", 0},
		{`{"kind":"say","value":"x","confidence":-0.1}`, "", "", "confidence", 0},
		{`{"kind":"dtmf"}`, "", "", "dtmf takes", 0},
		{`{"kind":"dtmf","value":"1 2"}`, "", "", "dtmf takes", 0},
		{`{"kind":"silence"}{"kind":"silence"}`, "", "", "one JSON object", 0},
		{`[]`, "", "", "not a JSON step", 0},
		{``, "", "", "not a JSON step", 0},
	}
	for _, tt := range tests {
		l, err := parseStep([]byte(tt.body))
		switch {
		case tt.fail != "":
			if !errors.Is(err, errBadStep) || !strings.Contains(err.Error(), tt.fail) {
				t.Errorf("%s: err %v, want %q", tt.body, err, tt.fail)
			}
		case err != nil || l.Kind != tt.kind || l.Value != tt.value || l.Confidence != tt.conf:
			t.Errorf("%s: %+v %v", tt.body, l, err)
		}
	}
}

// FuzzParseStep: whatever a page sends, a step is refused or is one the
// simulator takes, and an error never quotes the answer.
func FuzzParseStep(f *testing.F) {
	for _, s := range append(append([]string{}, verifiedScript...), `{"kind":"hangup"}`, `{"kind":"say","value":"x","confidence":1e309}`, `{`) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		l, err := parseStep(body)
		if err != nil {
			if !errors.Is(err, errBadStep) {
				t.Fatalf("error %v does not wrap errBadStep", err)
			}
			var r stepRequest
			if json.Unmarshal(body, &r) == nil && len(r.Value) >= 4 && strings.Contains(err.Error(), r.Value) {
				t.Fatalf("error %q quotes the answer", err)
			}
			return
		}
		switch l.Kind {
		case "dtmf":
			if l.Value == "" || strings.Trim(l.Value, "0123456789*#") != "" || len(l.Value) > maxKeys {
				t.Fatalf("keys %q", l.Value)
			}
		case "say":
			if l.Value == "" || !(l.Confidence >= 0 && l.Confidence <= 1) {
				t.Fatalf("speech %+v", l)
			}
		case "silence":
		case "hangup":
			if l.Value != "completed" {
				t.Fatalf("hangup %+v", l)
			}
		default:
			t.Fatalf("kind %q", l.Kind)
		}
	})
}

// TestRenderStreamPrompts: a Media Stream's prompt is heard by its mark,
// the prompt's ID; the page shows the catalogue's wording in the language
// last heard, with what only the audio says marked as such.
func TestRenderStreamPrompts(t *testing.T) {
	s, err := New(Config{GatewayURL: "http://127.0.0.1:1", AuthToken: "t", AgentKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	call, _, err := twiliosim.Dial(context.Background(), twiliosim.Config{BaseURL: "http://127.0.0.1:1", PublicURL: "http://127.0.0.1:1", AuthToken: "t"})
	if err != nil {
		t.Fatal(err)
	}
	c := &session{call: call, lang: "en-US"}
	v := s.render(c, &twiliosim.Turn{Session: twiliosim.SessionStream, Heard: []twiliosim.Utterance{
		{Text: "ask_dob", Voice: twiliosim.SessionStream},
		{Text: "Por favor", Language: "es-US", Voice: "Polly.Lupe-Neural"},
		{Text: "confirm_dob", Voice: twiliosim.SessionStream},
		{Text: "no_such_prompt", Voice: twiliosim.SessionStream},
	}})
	want := []heard{
		{Text: s.prompts.Text("en-US", "ask_dob"), Language: "en-US", Voice: "stream", Prompt: "ask_dob"},
		{Text: "Por favor", Language: "es-US", Voice: "Polly.Lupe-Neural"},
		{Text: strings.ReplaceAll(s.prompts.Text("es-US", "confirm_dob"), "{date}", "[date]"), Language: "es-US", Voice: "stream", Prompt: "confirm_dob"},
		{Text: "[no_such_prompt]", Language: "es-US", Voice: "stream", Prompt: "no_such_prompt"},
	}
	if !reflect.DeepEqual(v.Heard, want) || v.Waiting != "stream" || strings.Contains(v.Heard[2].Text, "{") {
		t.Errorf("heard %+v\nwant  %+v (waiting %q)", v.Heard, want, v.Waiting)
	}
}
