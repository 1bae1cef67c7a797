package twiliosim

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseTwiML(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want *node // nil: parse error
	}{
		{"builder output", twiml(`<Say voice="Polly.Joanna">Hi &amp; bye</Say>`), &node{
			Name: "Response", Attrs: map[string]string{}, Text: "Hi & bye",
			Children: []*node{{Name: "Say", Attrs: map[string]string{"voice": "Polly.Joanna"}, Text: "Hi & bye"}},
		}},
		{"ssml keeps order and xml:lang", `<Response><Say>a <lang xml:lang="es-US">b</lang> c</Say></Response>`, &node{
			Name: "Response", Attrs: map[string]string{}, Text: "a b c",
			Children: []*node{{Name: "Say", Attrs: map[string]string{}, Text: "a b c", Children: []*node{
				{Name: "lang", Attrs: map[string]string{"xml:lang": "es-US"}, Text: "b"},
			}}},
		}},
		{"empty attribute kept", `<Response><Gather finishOnKey=""/></Response>`, &node{
			Name: "Response", Attrs: map[string]string{},
			Children: []*node{{Name: "Gather", Attrs: map[string]string{"finishOnKey": ""}}},
		}},
		{"lower-case root", `<response/>`, nil},
		{"two roots", `<Response/><Response/>`, nil},
		{"text outside", `<Response/>hello`, nil},
		{"unclosed", `<Response><Say>`, nil},
		{"plain text", `Hello there`, nil},
		{"empty", ``, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseTwiML([]byte(tt.in))
			if tt.want == nil {
				if !errors.Is(err, errNotTwiML) {
					t.Fatalf("err = %v, want errNotTwiML", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("tree (-got +want):\n%s", diff)
			}
		})
	}
}

// offline is an http.RoundTripper for a Twilio that cannot reach the
// gateway: the fuzz target must not touch the network.
type offline struct{}

func (offline) RoundTrip(*http.Request) (*http.Response, error) { return nil, errors.New("offline") }

// FuzzTwiML feeds arbitrary documents (outside input: the gateway's answer)
// to the parser and the executor. Whatever the document, a turn either
// waits in a <Gather> or ends with a reason.
func FuzzTwiML(f *testing.F) {
	for _, s := range []string{
		twiml(dobGather),
		twiml(`<Say loop="3">a</Say><Pause length="0"/><Dial><Number>+15555550100</Number></Dial>`),
		twiml(`<Gather input="speech" finishOnKey="" numDigits="0"/>`),
		twiml(`<Redirect method="PUT">x</Redirect><Redirect>https://elsewhere/</Redirect>`),
		`<Response><say/></Response>`, `<?xml version="1.0"?><Response/>`, `<a>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		root, err := parseTwiML(body)
		if err != nil {
			return
		}
		if root.Name != "Response" {
			t.Fatalf("root %q accepted", root.Name)
		}
		c, err := newCall(Config{
			BaseURL: "http://127.0.0.1:1", PublicURL: testPublic, AuthToken: testToken,
			HTTPClient: &http.Client{Transport: offline{}},
		})
		if err != nil {
			t.Fatal(err)
		}
		turn := &Turn{}
		if err := c.run(t.Context(), turn, &document{url: testPublic + "/twilio/voice", verbs: root.Children}); err != nil {
			t.Fatalf("run: %v", err)
		}
		if (turn.Gather == nil) == (turn.End == "") || turn.Ended != (turn.End != "") {
			t.Fatalf("turn neither waits nor ends cleanly: %+v", turn)
		}
		if turn.Gather != nil && !strings.HasPrefix(turn.Gather.Action, "http") {
			t.Fatalf("gather action not absolute: %q", turn.Gather.Action)
		}
	})
}

func BenchmarkParseTwiML(b *testing.B) {
	doc := []byte(twiml(dobGather))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseTwiML(doc); err != nil {
			b.Fatal(err)
		}
	}
}
