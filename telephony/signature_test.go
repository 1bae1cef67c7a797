package telephony

import (
	"encoding/json"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/ivr-gateway/ivr/internal/twiliosim"
)

type sigVector struct {
	Name         string            `json:"name"`
	AuthToken    string            `json:"auth_token"`
	URL          string            `json:"url"`
	Params       json.RawMessage   `json:"params"`
	RawBody      string            `json:"raw_body"`
	Expected     string            `json:"expected"`
	PortVariants map[string]string `json:"port_variants"`
}

// TestSignatureVectors checks the signature check against the vectors in
// ../shared/samples (Twilio's docs and SDK test suites).
func TestSignatureVectors(t *testing.T) {
	b, err := os.ReadFile("testdata/signature-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Vectors []sigVector `json:"vectors"`
	}
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	byName := map[string]sigVector{}
	for _, v := range file.Vectors {
		byName[v.Name] = v
	}
	params := func(v sigVector) url.Values {
		if v.RawBody != "" {
			f, err := url.ParseQuery(v.RawBody)
			if err != nil {
				t.Fatalf("%s: %v", v.Name, err)
			}
			return f
		}
		var m map[string]string
		if err := json.Unmarshal(v.Params, &m); err != nil {
			// "same as twilio-go-test-https"
			var ref string
			json.Unmarshal(v.Params, &ref)
			return params0(t, byName[strings.TrimPrefix(ref, "same as ")].Params)
		}
		f := url.Values{}
		for k, val := range m {
			f.Set(k, val)
		}
		return f
	}
	for _, v := range file.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			if strings.Contains(v.URL, "bodySHA256") {
				t.Skip("JSON-bodied webhooks are not used by Voice; the gateway accepts only form posts")
			}
			c := newSignatureChecker(v.AuthToken)
			form := params(v)
			if !c.validValues(v.URL, form, v.Expected) {
				t.Errorf("valid(%s) = false, want true", v.URL)
			}
			if c.validValues(v.URL, form, "AAAA"+v.Expected[4:]) {
				t.Error("a wrong signature was accepted")
			}
			if len(form) > 0 {
				tampered := url.Values{}
				for k, vs := range form {
					tampered[k] = append([]string(nil), vs...)
				}
				tampered.Set("Digits", "0000")
				if c.validValues(v.URL, tampered, v.Expected) {
					t.Error("a tampered form was accepted")
				}
			}
			for variant, sig := range v.PortVariants {
				u := strings.Replace(variant, "/...", "/myapp.php?foo=1&bar=2", 1)
				if !c.validValues(u, form, sig) {
					t.Errorf("port variant %s rejected", u)
				}
			}
		})
	}
}

func params0(t *testing.T, raw json.RawMessage) url.Values {
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	f := url.Values{}
	for k, v := range m {
		f.Set(k, v)
	}
	return f
}

func TestSignatureRejects(t *testing.T) {
	c := newSignatureChecker("12345")
	form := url.Values{"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+12349013030"}, "Digits": {"1234"}, "From": {"+12349013030"}, "To": {"+18005551212"}}
	const good = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
	tests := []struct {
		name string
		url  string
		sig  string
		want bool
	}{
		{"docs example", "https://mycompany.com/myapp.php?foo=1&bar=2", good, true},
		{"empty signature", "https://mycompany.com/myapp.php?foo=1&bar=2", "", false},
		{"scheme rewritten", "http://mycompany.com/myapp.php?foo=1&bar=2", good, false},
		{"query re-encoded", "https://mycompany.com/myapp.php?bar=2&foo=1", good, false},
		{"trailing slash", "https://mycompany.com/myapp.php/?foo=1&bar=2", good, false},
	}
	for _, tt := range tests {
		if got := c.validValues(tt.url, form, tt.sig); got != tt.want {
			t.Errorf("%s: valid=%v, want %v", tt.name, got, tt.want)
		}
	}
	if newSignatureChecker("").validValues("https://x", nil, good) {
		t.Error("an empty auth token validated a signature")
	}
}

// FuzzParseForm: the webhook body parser agrees with net/url on every body
// net/url accepts (values in order, repeated names kept), and never panics.
func FuzzParseForm(f *testing.F) {
	f.Add("AccountSid=AC1&CallSid=CA1&Digits=1234&From=%2B15555550123&SpeechResult=Maria+Garcia")
	f.Add("a=1&a=2&b=&c")
	f.Add("x=%zz")
	f.Add("a=1;b=2")
	f.Fuzz(func(t *testing.T, body string) {
		got, err := parseForm(body)
		want, werr := url.ParseQuery(body)
		if (err == nil) != (werr == nil) {
			t.Fatalf("%q: parseForm error %v, net/url %v", body, err, werr)
		}
		if err != nil {
			return
		}
		back := url.Values{}
		for _, p := range got {
			back[p.name] = append(back[p.name], p.value)
		}
		if len(back) != len(want) {
			t.Fatalf("%q: %v, net/url %v", body, back, want)
		}
		for k, vs := range want {
			if !slices.Equal(back[k], vs) {
				t.Fatalf("%q: %s=%v, net/url %v", body, k, back[k], vs)
			}
		}
	})
}

// BenchmarkSignature is one webhook's check: the body parsed, one HMAC.
func BenchmarkSignature(b *testing.B) {
	const token = "bench-auth-token-0123456789abcdef"
	body := "AccountSid=AC55555555555555555555555555555555&ApiVersion=2010-04-01&CallSid=CA0000000000000000000000000ca11000&CallStatus=in-progress&Called=%2B15555550100&CalledCity=&CalledCountry=US&CalledState=&CalledZip=&Caller=%2B15555550123&CallerCity=&CallerCountry=US&CallerState=&CallerZip=&Digits=01051980&Direction=inbound&FinishedOnKey=&From=%2B15555550123&FromCity=&FromCountry=US&FromState=&FromZip=&To=%2B15555550100&ToCity=&ToCountry=US&ToState=&ToZip=&msg=Gather+End"
	u := "http://127.0.0.1:8091/twilio/gather?step=4"
	v, _ := url.ParseQuery(body)
	c := newSignatureChecker(token)
	sig := twiliosim.Sign(token, u, v)
	b.ReportAllocs()
	for b.Loop() {
		f, _ := parseForm(body)
		if !c.valid(u, f, sig) {
			b.Fatal("invalid")
		}
	}
}
