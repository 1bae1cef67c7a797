package twiliosim

import (
	"encoding/json"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/twilio/twilio-go/client"
)

// vectorFile mirrors shared/samples/signature-vectors.json.
type vectorFile struct {
	Vectors []struct {
		Name, URL, Expected string
		AuthToken           string            `json:"auth_token"`
		RawBody             string            `json:"raw_body"`
		Params              json.RawMessage   `json:"params"`
		PortVariants        map[string]string `json:"port_variants"`
	}
}

func TestSignVectors(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("testdata/signature-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var f vectorFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	named := map[string]url.Values{}
	for _, v := range f.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			var params url.Values
			var m map[string]string
			var ref string
			switch {
			case json.Unmarshal(v.Params, &m) == nil:
				params = url.Values{}
				for k, val := range m {
					params.Set(k, val)
				}
				named[v.Name] = params
			case json.Unmarshal(v.Params, &ref) == nil:
				// "same as <name>": vectors are listed after the one they reuse.
				params = named[strings.TrimPrefix(ref, "same as ")]
				if params == nil {
					t.Fatalf("unknown reference %q", ref)
				}
			case v.RawBody != "" && !strings.Contains(v.URL, "bodySHA256"):
				if params, err = url.ParseQuery(v.RawBody); err != nil {
					t.Fatal(err)
				}
			}
			// JSON bodies are signed as the URL (with bodySHA256) alone.
			if got := Sign(v.AuthToken, v.URL, params); got != v.Expected {
				t.Errorf("Sign = %s, want %s", got, v.Expected)
			}
			for variant, want := range v.PortVariants {
				u := strings.Replace(variant, "/...", "/myapp.php?foo=1&bar=2", 1)
				if got := Sign(v.AuthToken, u, params); got != want {
					t.Errorf("Sign(%s) = %s, want %s", u, got, want)
				}
			}
		})
	}
}

// TestSignAgreesWithTwilioGo checks Sign against the validator the gateway
// uses, on bodies like the ones the simulator sends.
func TestSignAgreesWithTwilioGo(t *testing.T) {
	t.Parallel()
	v := client.NewRequestValidator(testToken)
	cfg := Config{AccountSid: "AC1", CallSid: "CA1", From: "+15555550142", To: "+15555550100"}
	for _, u := range []string{
		"https://ivr.example.org/twilio/voice",
		"https://ivr.example.org/twilio/gather?step=2&next=a%2Fb+c",
		"http://127.0.0.1:8080/twilio/gather?step=2",
	} {
		p := standardParams(cfg)
		p.Set("SpeechResult", "José Ñúñez & co.")
		p.Set("msg", "Gather End")
		if !v.Validate(u, first(p), Sign(testToken, u, p)) {
			t.Errorf("POST %s: twilio-go rejects Sign", u)
		}
		if !v.ValidateBody(u, []byte(p.Encode()), Sign(testToken, u, p)) {
			t.Errorf("POST %s: twilio-go ValidateBody rejects Sign", u)
		}
		get := u + "&" + p.Encode()
		if !strings.Contains(u, "?") {
			get = u + "?" + p.Encode()
		}
		if !v.Validate(get, nil, Sign(testToken, get, nil)) {
			t.Errorf("GET %s: twilio-go rejects Sign", get)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	p := standardParams(Config{AccountSid: "AC00000000000000000000000000000001", CallSid: "CA00000000000000000000000000000001", From: "+15555550142", To: "+15555550100"})
	p.Set("Digits", "01051980")
	b.ReportAllocs()
	for b.Loop() {
		Sign(testToken, "https://ivr.example.org/twilio/gather?step=2", p)
	}
}
