package twiliosim

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// standardKeys are the parameters of every request (sample [D] without
// CallToken and StirVerstat, which only the incoming-call webhook carries).
var standardKeys = []string{
	"AccountSid", "ApiVersion", "CallSid", "CallStatus", "Called", "CalledCity", "CalledCountry",
	"CalledState", "CalledZip", "Caller", "CallerCity", "CallerCountry", "CallerState", "CallerZip",
	"Direction", "From", "FromCity", "FromCountry", "FromState", "FromZip", "To", "ToCity",
	"ToCountry", "ToState", "ToZip",
}

func keys(v url.Values) []string {
	var out []string
	for k := range v {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func withKeys(extra ...string) []string {
	out := append(append([]string(nil), standardKeys...), extra...)
	slices.Sort(out)
	return out
}

const dobGather = `<Gather input="dtmf" numDigits="8" timeout="8" action="/twilio/gather?step=2" method="POST">` +
	`<Say voice="Polly.Joanna">Please enter your date of birth.</Say></Gather>` +
	`<Redirect method="POST">/twilio/gather?step=2&amp;timeout=1</Redirect>`

func TestDial(t *testing.T) {
	t.Parallel()
	g := newGateway(t, map[string][]reply{"/twilio/voice": {{Body: twiml(
		`<Say voice="Polly.Joanna" language="en-US">Welcome to
		  Example Health.</Say><Pause length="2"/>` +
			`<Gather input="speech dtmf" language="es-US" hints="Maria, José" speechModel="phone_call" speechTimeout="3" action="gather?step=1" finishOnKey="" actionOnEmptyResult="false">` +
			`<Say>Say your name, <say-as interpret-as="characters">or</say-as> spell it.</Say><Play>https://x/a.mp3</Play></Gather>` +
			`<Redirect>https://ivr.example.org/twilio/gather?step=1&amp;timeout=1</Redirect>`)}}})
	c, turn, err := Dial(t.Context(), g.config())
	if err != nil {
		t.Fatal(err)
	}
	want := &Turn{
		Heard: []Utterance{
			{Text: "Welcome to Example Health.", Voice: "Polly.Joanna", Language: "en-US"},
			{Text: "Say your name, or spell it."},
		},
		Gather: &Gather{
			Action: "https://ivr.example.org/twilio/gather?step=1", Method: "POST", Input: "speech dtmf",
			Language: "es-US", Hints: "Maria, José", SpeechModel: "phone_call", SpeechTimeout: "3",
			Timeout: 5, AfterRedirect: "https://ivr.example.org/twilio/gather?step=1&timeout=1",
		},
	}
	if diff := cmp.Diff(turn, want); diff != "" {
		t.Errorf("turn (-got +want):\n%s", diff)
	}
	if got, want := c.Sid(), "CA00000000000000000000000000000001"; got != want {
		t.Errorf("Sid() = %q, want %q", got, want)
	}
	r := g.last()
	if r.Method != "POST" || r.URI != "/twilio/voice" {
		t.Errorf("request = %s %s, want POST /twilio/voice", r.Method, r.URI)
	}
	if diff := cmp.Diff(keys(r.Form), withKeys("CallToken", "StirVerstat")); diff != "" {
		t.Errorf("incoming-call keys (-got +want):\n%s", diff)
	}
	for k, want := range map[string]string{
		"CallStatus": "ringing", "Direction": "inbound", "ApiVersion": "2010-04-01",
		"From": "+15555550142", "Caller": "+15555550142", "To": "+15555550100", "Called": "+15555550100",
		"StirVerstat": "TN-Validation-Passed-A", "FromCountry": "US", "FromCity": "",
	} {
		if got := r.Form.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	// Keys in byte order, spaces as '+', like recorded body [A].
	if got, want := r.Body, r.Form.Encode(); got != want {
		t.Errorf("body not in byte order:\n got %s\nwant %s", got, want)
	}
}

func TestGeneratedIdentifiers(t *testing.T) {
	t.Parallel()
	g := newGateway(t, map[string][]reply{"/twilio/voice": {{Body: twiml(`<Hangup/>`)}}})
	cfg := g.config()
	cfg.AccountSid, cfg.CallSid, cfg.From, cfg.To = "", "", "", ""
	c, _, err := Dial(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	f := g.last().Form
	for k, prefix := range map[string]string{"AccountSid": "AC", "CallSid": "CA"} {
		v := f.Get(k)
		if len(v) != 34 || !strings.HasPrefix(v, prefix) || strings.Trim(v[2:], "0123456789abcdef") != "" {
			t.Errorf("%s = %q, want %s + 32 lowercase hex", k, v, prefix)
		}
	}
	if c.Sid() != f.Get("CallSid") {
		t.Errorf("Sid() = %q, sent %q", c.Sid(), f.Get("CallSid"))
	}
	for _, k := range []string{"From", "To"} {
		if v := f.Get(k); len(v) != 12 || !strings.HasPrefix(v, "+1555555") {
			t.Errorf("%s = %q, want a +1555555xxxx number", k, v)
		}
	}
}

// TestInputs drives one <Gather> with each kind of input and checks what
// reaches the action (or the <Redirect> after the gather) and the next turn.
func TestInputs(t *testing.T) {
	t.Parallel()
	const next = `<Say>Thanks.</Say><Hangup/>`
	tests := []struct {
		name     string
		gather   string // the voice document
		input    func(*Call, context.Context) (*Turn, error)
		wantURI  string
		wantKeys []string          // nil: not checked
		want     map[string]string // params; "-" means absent
		wantGet  bool
		polls    int
	}{
		{
			name:     "press/numDigits truncates",
			gather:   dobGather,
			input:    func(c *Call, ctx context.Context) (*Turn, error) { return c.Press(ctx, "0105198077") },
			wantURI:  "/twilio/gather?step=2",
			wantKeys: withKeys("Digits", "FinishedOnKey", "msg"),
			want:     map[string]string{"Digits": "01051980", "FinishedOnKey": "", "msg": "Gather End", "CallStatus": "in-progress", "CallToken": "-", "StirVerstat": "-"},
		},
		{
			name:    "press/finishOnKey ends input",
			gather:  `<Gather action="/twilio/gather"><Say>Code?</Say></Gather>`,
			input:   func(c *Call, ctx context.Context) (*Turn, error) { return c.Press(ctx, "12#34") },
			wantURI: "/twilio/gather",
			want:    map[string]string{"Digits": "12", "FinishedOnKey": "#"},
		},
		{
			name:    "press/custom finishOnKey",
			gather:  `<Gather action="/twilio/gather" finishOnKey="*"/>`,
			input:   func(c *Call, ctx context.Context) (*Turn, error) { return c.Press(ctx, "9#8*7") },
			wantURI: "/twilio/gather",
			want:    map[string]string{"Digits": "9#8", "FinishedOnKey": "*"},
		},
		{
			name:    "press/empty finishOnKey keeps #",
			gather:  `<Gather action="/twilio/gather" finishOnKey=""/>`,
			input:   func(c *Call, ctx context.Context) (*Turn, error) { return c.Press(ctx, "12#") },
			wantURI: "/twilio/gather",
			want:    map[string]string{"Digits": "12#", "FinishedOnKey": ""},
		},
		{
			name:    "press/only finishOnKey is no input",
			gather:  dobGather,
			input:   func(c *Call, ctx context.Context) (*Turn, error) { return c.Press(ctx, "#") },
			wantURI: "/twilio/gather?step=2&timeout=1",
			want:    map[string]string{"Digits": "-", "msg": "-"},
			polls:   1,
		},
		{
			name:    "press/speech-only gather does not hear keys",
			gather:  `<Gather input="speech" action="/twilio/gather"/><Redirect>/twilio/gather?timeout=1</Redirect>`,
			input:   func(c *Call, ctx context.Context) (*Turn, error) { return c.Press(ctx, "1") },
			wantURI: "/twilio/gather?timeout=1",
			want:    map[string]string{"Digits": "-"},
			polls:   1,
		},
		{
			name:     "say/speech result",
			gather:   `<Gather input="speech" language="es-US" action="/twilio/gather?step=1"/>`,
			input:    func(c *Call, ctx context.Context) (*Turn, error) { return c.Say(ctx, " María García ", 0.9128386) },
			wantURI:  "/twilio/gather?step=1",
			wantKeys: withKeys("Confidence", "Language", "SpeechResult"),
			want:     map[string]string{"SpeechResult": "María García", "Confidence": "0.9128386", "Language": "es-US"},
		},
		{
			name:    "say/negative confidence omitted",
			gather:  `<Gather input="dtmf speech" action="/twilio/gather"/>`,
			input:   func(c *Call, ctx context.Context) (*Turn, error) { return c.Say(ctx, "one two", -1) },
			wantURI: "/twilio/gather",
			want:    map[string]string{"SpeechResult": "one two", "Confidence": "-", "Language": "en-US"},
		},
		{
			name:    "say/dtmf-only gather does not hear speech",
			gather:  dobGather,
			input:   func(c *Call, ctx context.Context) (*Turn, error) { return c.Say(ctx, "hello", 0.5) },
			wantURI: "/twilio/gather?step=2&timeout=1",
			want:    map[string]string{"SpeechResult": "-"},
			polls:   1,
		},
		{
			name:     "silence/falls through to redirect",
			gather:   dobGather,
			input:    func(c *Call, ctx context.Context) (*Turn, error) { return c.Silence(ctx) },
			wantURI:  "/twilio/gather?step=2&timeout=1",
			wantKeys: standardKeys,
			want:     map[string]string{"CallStatus": "in-progress"},
			polls:    1,
		},
		{
			name:    "silence/actionOnEmptyResult posts the action",
			gather:  `<Gather actionOnEmptyResult="true" action="/twilio/gather?step=3"/><Say>unreachable</Say>`,
			input:   func(c *Call, ctx context.Context) (*Turn, error) { return c.Silence(ctx) },
			wantURI: "/twilio/gather?step=3",
			want:    map[string]string{"Digits": "", "msg": "Gather End"},
		},
		{
			name:     "get/params in the query",
			gather:   `<Gather method="GET" numDigits="4" action="/twilio/gather?step=4&amp;q=a%2Fb"/>`,
			input:    func(c *Call, ctx context.Context) (*Turn, error) { return c.Press(ctx, "1234") },
			wantURI:  "/twilio/gather?step=4&q=a%2Fb&AccountSid=",
			wantKeys: withKeys("Digits", "FinishedOnKey", "msg", "q", "step"),
			want:     map[string]string{"Digits": "1234", "msg": "Gather End"},
			wantGet:  true,
		},
		{
			name:    "action/default is the current document",
			gather:  `<Gather numDigits="1"/>`,
			input:   func(c *Call, ctx context.Context) (*Turn, error) { return c.Press(ctx, "5") },
			wantURI: "/twilio/voice",
			want:    map[string]string{"Digits": "5", "CallStatus": "in-progress"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := newGateway(t, map[string][]reply{
				"/twilio/voice":  {{Body: twiml(tt.gather)}, {Body: twiml(next)}},
				"/twilio/gather": {{Body: twiml(next)}},
			})
			c, turn, err := Dial(t.Context(), g.config())
			if err != nil {
				t.Fatal(err)
			}
			if turn.Gather == nil {
				t.Fatalf("first turn did not gather: %+v", turn)
			}
			turn, err = tt.input(c, t.Context())
			if err != nil {
				t.Fatal(err)
			}
			wantTurn := &Turn{Heard: []Utterance{{Text: "Thanks."}}, Ended: true, End: "hangup", Polls: tt.polls}
			if diff := cmp.Diff(turn, wantTurn); diff != "" {
				t.Errorf("turn (-got +want):\n%s", diff)
			}
			r := g.last()
			if !strings.HasPrefix(r.URI, tt.wantURI) {
				t.Errorf("URI = %s, want %s", r.URI, tt.wantURI)
			}
			if tt.wantGet != (r.Method == "GET") || (tt.wantGet && r.Body != "") {
				t.Errorf("method %s body %q, want GET=%v", r.Method, r.Body, tt.wantGet)
			}
			if tt.wantKeys != nil {
				if diff := cmp.Diff(keys(r.Form), tt.wantKeys); diff != "" {
					t.Errorf("keys (-got +want):\n%s", diff)
				}
			}
			for k, want := range tt.want {
				got, ok := r.Form[k]
				switch {
				case want == "-" && ok:
					t.Errorf("%s = %q, want absent", k, got)
				case want != "-" && (!ok || got[0] != want):
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestEndings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		voice  []reply
		routes map[string][]reply
		max    int
		want   *Turn
	}{
		{"hangup", []reply{{Body: twiml(`<Say>Goodbye.</Say><Hangup/><Say>never</Say>`)}}, nil, 0,
			&Turn{Heard: []Utterance{{Text: "Goodbye."}}, Ended: true, End: "hangup"}},
		{"dial number text", []reply{{Body: twiml(`<Dial> +15555550199 </Dial>`)}}, nil, 0,
			&Turn{Ended: true, End: "dial:+15555550199"}},
		{"dial noun", []reply{{Body: twiml(`<Dial callerId="+15555550100"><Number>+15555550198</Number></Dial>`)}}, nil, 0,
			&Turn{Ended: true, End: "dial:+15555550198"}},
		{"hand-off elsewhere", []reply{{Body: twiml(`<Say>Transferring.</Say><Redirect>https://agent.example.com/voice?x=1%20y</Redirect>`)}}, nil, 0,
			&Turn{Heard: []Utterance{{Text: "Transferring."}}, Ended: true, End: "redirect:https://agent.example.com/voice?x=1%20y"}},
		{"hand-off outside /twilio/", []reply{{Body: twiml(`<Redirect>/agent</Redirect>`)}}, nil, 0,
			&Turn{Ended: true, End: "redirect:https://ivr.example.org/agent"}},
		{"no-twiml", []reply{{Body: twiml(`<Say>Hello.</Say>`)}}, nil, 0,
			&Turn{Heard: []Utterance{{Text: "Hello."}}, Ended: true, End: "no-twiml"}},
		{"empty response", []reply{{Body: `<Response/>`}}, nil, 0, &Turn{Ended: true, End: "no-twiml"}},
		// A stream that cannot be opened ends; with no <Connect action> the
		// TwiML goes on after <Connect>.
		{"connect fails, no action", []reply{{Body: twiml(`<Connect><Stream url="wss://elsewhere.example.org/media"/></Connect><Say>Fallback.</Say>`)}}, nil, 0,
			&Turn{Heard: []Utterance{{Text: "Fallback."}}, Ended: true, End: "no-twiml"}},
		{"connect without a noun", []reply{{Body: twiml(`<Connect/>`)}}, nil, 0,
			&Turn{Ended: true, End: "error:12200 invalid <Connect>"}},
		{"reject", []reply{{Body: twiml(`<Reject reason="busy"/>`)}}, nil, 0, &Turn{Ended: true, End: "reject"}},
		{"500", []reply{{Status: 500, Body: "oops"}}, nil, 0, &Turn{Ended: true, End: "error:11200 HTTP 500"}},
		{"404", []reply{{Status: 404}}, nil, 0, &Turn{Ended: true, End: "error:11200 HTTP 404"}},
		{"not XML", []reply{{Type: "text/plain", Body: "hello there"}}, nil, 0,
			&Turn{Ended: true, End: "error:12100 document parse failure"}},
		{"wrong root", []reply{{Body: `<response><Hangup/></response>`}}, nil, 0,
			&Turn{Ended: true, End: "error:12100 document parse failure"}},
		{"lower-case verb", []reply{{Body: twiml(`<say>hi</say>`)}}, nil, 0,
			&Turn{Ended: true, End: "error:12200 unsupported verb <say>"}},
		{"bad numDigits", []reply{{Body: twiml(`<Gather numDigits="x"/>`)}}, nil, 0,
			&Turn{Ended: true, End: "error:12200 invalid <Gather>"}},
		{"redirect loop", []reply{{Body: twiml(`<Redirect>/twilio/voice</Redirect>`)}}, nil, 3,
			&Turn{Ended: true, End: "error:redirect-loop", Polls: 3}},
		{"http redirect followed", []reply{{Status: http.StatusFound, Location: "/twilio/moved"}},
			map[string][]reply{"/twilio/moved": {{Body: twiml(`<Hangup/>`)}}}, 0, &Turn{Ended: true, End: "hangup"}},
		{"http redirect loop", []reply{{Status: http.StatusFound, Location: "/twilio/voice"}}, nil, 0,
			&Turn{Ended: true, End: "error:11215 too many HTTP redirects"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			routes := map[string][]reply{"/twilio/voice": tt.voice}
			for k, v := range tt.routes {
				routes[k] = v
			}
			g := newGateway(t, routes)
			cfg := g.config()
			cfg.MaxRedirects = tt.max
			c, turn, err := Dial(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(turn, tt.want); diff != "" {
				t.Errorf("turn (-got +want):\n%s", diff)
			}
			if _, err := c.Press(t.Context(), "1"); !errors.Is(err, ErrCallEnded) {
				t.Errorf("Press after the end: %v, want ErrCallEnded", err)
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	cfg := g.config()
	g.srv.Close()
	_, turn, err := Dial(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := (&Turn{Ended: true, End: "error:11205 connection failure"}); !cmp.Equal(turn, want) {
		t.Errorf("turn = %+v, want %+v", turn, want)
	}
}

// TestHTTPRedirectDropsDigits: Twilio follows a 3xx from the action but does
// not resend Digits (twilio-voice.md §1.1).
func TestHTTPRedirectDropsDigits(t *testing.T) {
	t.Parallel()
	g := newGateway(t, map[string][]reply{
		"/twilio/voice":  {{Body: twiml(`<Gather numDigits="2" action="/twilio/gather"/>`)}},
		"/twilio/gather": {{Status: http.StatusMovedPermanently, Location: "https://ivr.example.org/twilio/next?a=1"}},
		"/twilio/next":   {{Body: twiml(`<Hangup/>`)}},
	})
	c, _, err := Dial(t.Context(), g.config())
	if err != nil {
		t.Fatal(err)
	}
	turn, err := c.Press(t.Context(), "42")
	if err != nil {
		t.Fatal(err)
	}
	if turn.End != "hangup" {
		t.Fatalf("End = %q, want hangup", turn.End)
	}
	r := g.last()
	if r.URI != "/twilio/next?a=1" || r.Method != "POST" {
		t.Errorf("followed %s %s, want POST /twilio/next?a=1", r.Method, r.URI)
	}
	if diff := cmp.Diff(keys(r.Form), standardKeys); diff != "" {
		t.Errorf("keys after redirect (-got +want):\n%s", diff)
	}
}

// TestPolls: a gateway that is still working answers <Say>, <Pause> and a
// <Redirect> to itself; the simulator follows until the next question.
func TestPolls(t *testing.T) {
	t.Parallel()
	wait := reply{Body: twiml(`<Pause length="2"/><Redirect method="GET">/twilio/poll?step=5</Redirect>`)}
	g := newGateway(t, map[string][]reply{
		"/twilio/voice": {{Body: twiml(`<Say>One moment.</Say><Redirect>poll?step=5</Redirect>`)}},
		"/twilio/poll":  {wait, wait, {Body: twiml(`<Gather numDigits="6" action="/twilio/gather"><Say>Enter the code.</Say></Gather>`)}},
	})
	cfg := g.config()
	cfg.PauseScale = 0.001
	_, turn, err := Dial(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if turn.Polls != 3 || turn.Gather == nil || turn.Ended {
		t.Fatalf("turn = %+v, want 3 polls then a gather", turn)
	}
	if diff := cmp.Diff(turn.Heard, []Utterance{{Text: "One moment."}, {Text: "Enter the code."}}); diff != "" {
		t.Errorf("heard (-got +want):\n%s", diff)
	}
	var methods []string
	for _, r := range g.requests() {
		methods = append(methods, r.Method+" "+strings.SplitN(r.URI, "&", 2)[0])
	}
	want := []string{"POST /twilio/voice", "POST /twilio/poll?step=5", "GET /twilio/poll?step=5", "GET /twilio/poll?step=5"}
	if diff := cmp.Diff(methods, want); diff != "" {
		t.Errorf("requests (-got +want):\n%s", diff)
	}
}

func TestPauseHonoursContext(t *testing.T) {
	t.Parallel()
	g := newGateway(t, map[string][]reply{"/twilio/voice": {{Body: twiml(`<Pause length="600"/><Hangup/>`)}}})
	cfg := g.config()
	cfg.PauseScale = 1
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := Dial(ctx, cfg); !errors.Is(err, context.Canceled) {
		t.Errorf("Dial with a cancelled ctx: %v, want context.Canceled", err)
	}
}

func TestHangup(t *testing.T) {
	t.Parallel()
	start := time.Date(2018, 3, 25, 9, 52, 30, 0, time.UTC)
	tests := []struct {
		status  string
		elapsed time.Duration
		want    map[string]string // "-" = absent
	}{
		{"completed", 49 * time.Second, map[string]string{"CallDuration": "49", "Duration": "1", "SipResponseCode": "-", "Timestamp": "Sun, 25 Mar 2018 09:53:19 +0000"}},
		{"completed", 121 * time.Second, map[string]string{"CallDuration": "121", "Duration": "3"}},
		{"busy", 5 * time.Second, map[string]string{"CallDuration": "0", "Duration": "-", "SipResponseCode": "486"}},
		{"no-answer", 0, map[string]string{"CallDuration": "0", "SipResponseCode": "487"}},
		{"canceled", 0, map[string]string{"CallDuration": "0", "SipResponseCode": "-"}},
	}
	for _, tt := range tests {
		t.Run(tt.status, func(t *testing.T) {
			t.Parallel()
			g := newGateway(t, map[string][]reply{
				"/twilio/voice":  {{Body: twiml(dobGather)}},
				"/twilio/status": {{Status: http.StatusNoContent}},
			})
			now := start
			cfg := g.config()
			cfg.Now = func() time.Time { return now }
			c, _, err := Dial(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			now = now.Add(tt.elapsed)
			if err := c.Hangup(t.Context(), tt.status); err != nil {
				t.Fatal(err)
			}
			r := g.last()
			if r.URI != "/twilio/status" {
				t.Fatalf("URI = %s, want /twilio/status", r.URI)
			}
			want := map[string]string{"CallStatus": tt.status, "CallbackSource": "call-progress-events", "SequenceNumber": "0", "CallToken": "-"}
			for k, v := range tt.want {
				want[k] = v
			}
			for k, w := range want {
				got, ok := r.Form[k]
				if w == "-" && ok || w != "-" && (!ok || got[0] != w) {
					t.Errorf("%s = %q, want %q", k, got, w)
				}
			}
			if err := c.Hangup(t.Context(), "completed"); !errors.Is(err, ErrCallEnded) {
				t.Errorf("second Hangup: %v, want ErrCallEnded", err)
			}
			if _, err := c.Silence(t.Context()); !errors.Is(err, ErrCallEnded) {
				t.Errorf("Silence after Hangup: %v, want ErrCallEnded", err)
			}
		})
	}
}

func TestHangupErrors(t *testing.T) {
	t.Parallel()
	g := newGateway(t, map[string][]reply{
		"/twilio/voice":  {{Body: twiml(`<Hangup/>`)}},
		"/twilio/status": {{Status: http.StatusForbidden}},
	})
	c, turn, err := Dial(t.Context(), g.config())
	if err != nil {
		t.Fatal(err)
	}
	if !turn.Ended {
		t.Fatal("call did not end")
	}
	if err := c.Hangup(t.Context(), "in-progress"); !errors.Is(err, ErrBadStatus) {
		t.Errorf("Hangup(in-progress): %v, want ErrBadStatus", err)
	}
	// After <Hangup/> Twilio still reports the end of the call.
	if err := c.Hangup(t.Context(), "completed"); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("Hangup answered 403: %v, want an error naming it", err)
	}
}

func TestMisuse(t *testing.T) {
	t.Parallel()
	g := newGateway(t, map[string][]reply{
		"/twilio/voice": {{Body: twiml(`<Gather numDigits="1"/>`)}, {Body: twiml(`<Gather numDigits="1"/>`)}},
	})
	c, _, err := Dial(t.Context(), g.config())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Press(t.Context(), "1a"); !errors.Is(err, ErrBadDigits) {
		t.Errorf("Press(1a): %v, want ErrBadDigits", err)
	}
	// A rejected key press leaves the gather waiting.
	if _, err := c.Press(t.Context(), "1"); err != nil {
		t.Errorf("Press(1): %v", err)
	}
	for _, cfg := range []Config{{}, {BaseURL: "x", PublicURL: "y", AuthToken: "z"}, {BaseURL: "http://a", PublicURL: "http://b"}} {
		if _, _, err := Dial(t.Context(), cfg); err == nil {
			t.Errorf("Dial(%+v) succeeded, want a configuration error", cfg)
		}
	}
}

func TestNotGathering(t *testing.T) {
	t.Parallel()
	g := newGateway(t, map[string][]reply{"/twilio/voice": {{Body: twiml(`<Gather numDigits="1"/>`)}, {Status: 500}}})
	c, _, err := Dial(t.Context(), g.config())
	if err != nil {
		t.Fatal(err)
	}
	turn, err := c.Press(t.Context(), "1")
	if err != nil || turn.End != "error:11200 HTTP 500" {
		t.Fatalf("Press = %+v, %v; want an error ending", turn, err)
	}
	if _, err := c.Say(t.Context(), "x", 1); !errors.Is(err, ErrCallEnded) {
		t.Errorf("Say after the end: %v, want ErrCallEnded", err)
	}
}

func TestRecord(t *testing.T) {
	t.Parallel()
	g := newGateway(t, map[string][]reply{"/twilio/voice": {{Body: twiml(`<Hangup/>`)}}})
	var got []Exchange
	cfg := g.config()
	cfg.Record = func(e Exchange) { got = append(got, e) }
	if _, _, err := Dial(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("recorded %d exchanges, want 1", len(got))
	}
	e := got[0]
	if e.Method != "POST" || e.URL != testPublic+"/twilio/voice" || e.Status != 200 ||
		e.ContentType != "text/xml" || e.Response != twiml(`<Hangup/>`) || e.Body != g.last().Body ||
		e.Signature != g.last().Signature {
		t.Errorf("exchange = %+v", e)
	}
	if s := e.LogValue().String(); strings.Contains(s, "+1555") {
		t.Errorf("Exchange.LogValue leaks the body: %s", s)
	}
}

func TestActionOutsidePublicURL(t *testing.T) {
	t.Parallel()
	g := newGateway(t, map[string][]reply{"/twilio/voice": {{Body: twiml(`<Gather timeout="auto" action="https://other.example.com/g"/>`)}}})
	c, turn, err := Dial(t.Context(), g.config())
	if err != nil {
		t.Fatal(err)
	}
	wantGather := &Gather{Action: "https://other.example.com/g", Method: "POST", Input: "dtmf", Language: "en-US", Timeout: 5, FinishOnKey: "#"}
	if diff := cmp.Diff(turn.Gather, wantGather); diff != "" {
		t.Errorf("gather (-got +want):\n%s", diff)
	}
	turn, err = c.Press(t.Context(), "1")
	if err != nil || turn.End != "error:11200 URL outside PublicURL" {
		t.Errorf("Press = %+v, %v; want an error ending", turn, err)
	}
	if n := len(g.requests()); n != 1 {
		t.Errorf("gateway got %d requests, want 1", n)
	}
}

func TestExtraParams(t *testing.T) {
	t.Parallel()
	g := newGateway(t, map[string][]reply{
		"/twilio/voice":  {{Body: twiml(`<Gather numDigits="1" action="/twilio/gather"/>`)}},
		"/twilio/gather": {{Body: twiml(`<Hangup/>`)}},
	})
	cfg := g.config()
	cfg.Extra = url.Values{"ForwardedFrom": {"+15555550104"}, "FromState": {"Köln"}, "CallStatus": {"queued"}}
	c, _, err := Dial(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Press(t.Context(), "1"); err != nil {
		t.Fatal(err)
	}
	for i, r := range g.requests() {
		if r.Form.Get("ForwardedFrom") != "+15555550104" || r.Form.Get("FromState") != "Köln" {
			t.Errorf("request %d: extra parameters missing: %v", i, r.Form)
		}
		if got := r.Form.Get("CallStatus"); got == "queued" {
			t.Errorf("request %d: Extra replaced CallStatus", i)
		}
	}
	if b := g.last().Body; !strings.Contains(b, "FromState=K%C3%B6ln&") {
		t.Errorf("body does not percent-encode UTF-8 like sample [C]: %s", b)
	}
}
