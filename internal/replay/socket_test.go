package replay

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestAdaptFrame: a session's opening message is sent with the replay's
// call SID and the parameters of the TwiML just received, changed as the
// fixture's tamper says; every other frame goes as recorded, byte for byte.
func TestAdaptFrame(t *testing.T) {
	live := map[string]string{"step": "0", "caller": "c4113r", "bind": "b1nd"}
	const sid = "CA11111111111111111111111111111111"
	setup := `{"type":"setup","callSid":"CA00000000000000000000000000000000","customParameters":{"step":"0","bind":"old"}}`
	start := `{"event":"start","sequenceNumber":"1","start":{"callSid":"CA0","customParameters":{}},"streamSid":"MZ1"}`
	tests := []struct {
		name, frame, tamper string
		wantSid             string
		wantParams          map[string]string // nil: the frame is sent as it is
	}{
		{"relay setup", setup, "", sid, live},
		{"stream start", start, "", sid, live},
		{"another call's SID", setup, "call_sid", "CA" + strings.Repeat("ab", 16), live},
		{"changed caller", setup, "caller", sid, map[string]string{"step": "0", "caller": strings.Repeat("0", 32), "bind": "b1nd"}},
		{"no binding", setup, "no_bind", sid, map[string]string{"step": "0", "caller": "c4113r"}},
		{"another step", setup, "step", sid, map[string]string{"step": "01", "caller": "c4113r", "bind": "b1nd"}},
		{"a second setup without parameters", `{"type":"setup","callSid":"CA0"}`, "", "", nil},
		{"a prompt", `{"type":"prompt","voicePrompt":"Maria Garcia","last":true}`, "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := adaptFrame(Frame{Send: json.RawMessage(tt.frame), Tamper: tt.tamper}, sid, live)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantParams == nil {
				if string(got) != tt.frame {
					t.Errorf("sent %s, want it as recorded", got)
				}
				return
			}
			var m struct {
				CallSid          string            `json:"callSid"`
				CustomParameters map[string]string `json:"customParameters"`
				Start            *struct {
					CallSid          string            `json:"callSid"`
					CustomParameters map[string]string `json:"customParameters"`
				} `json:"start"`
			}
			if err := json.Unmarshal(got, &m); err != nil {
				t.Fatal(err)
			}
			if m.Start != nil {
				m.CallSid, m.CustomParameters = m.Start.CallSid, m.Start.CustomParameters
			}
			if m.CallSid != tt.wantSid || mustJSON(m.CustomParameters) != mustJSON(tt.wantParams) {
				t.Errorf("sent %s", got)
			}
		})
	}
	if _, err := adaptFrame(Frame{Send: json.RawMessage(setup), Tamper: "sideways"}, sid, live); err == nil {
		t.Error("unknown tamper accepted")
	}
	// A frame that is not JSON is sent as it is.
	if got, _ := adaptFrame(Frame{Send: json.RawMessage(`{"type":`)}, sid, live); string(got) != `{"type":` {
		t.Errorf("malformed frame changed: %s", got)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestNormaliseTwiML: what differs between runs (the public URL, its wss
// form, the keyed session parameters) is written as a placeholder, in any
// attribute order.
func TestNormaliseTwiML(t *testing.T) {
	doc := `<?xml version="1.0" encoding="UTF-8"?><Response><Connect method="POST" action="https://ivr.example.test/twilio/relay-done?step=0">` +
		`<ConversationRelay url="wss://ivr.example.test/twilio/relay"><Parameter value="0" name="step"/>` +
		`<Parameter value="abc" name="caller"/><Parameter name="bind" value="xyz"/></ConversationRelay></Connect></Response>`
	want := `<Response><Connect action="{public}/twilio/relay-done?step=0" method="POST"><ConversationRelay url="{public_ws}/twilio/relay">` +
		`<Parameter name="step" value="0"></Parameter><Parameter name="caller" value="<caller>"></Parameter>` +
		`<Parameter name="bind" value="<bind>"></Parameter></ConversationRelay></Connect></Response>`
	if got := normaliseTwiML(doc, "https://ivr.example.test"); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := liveParams(doc); mustJSON(got) != `{"bind":"xyz","caller":"abc","step":"0"}` {
		t.Errorf("live parameters %v", got)
	}
	if got := liveParams(`<Response><Hangup/></Response>`); got != nil {
		t.Errorf("parameters of a document without a session: %v", got)
	}
}
