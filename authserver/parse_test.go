package authserver

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ivr-gateway/ivr/internal/redistest"
	"github.com/ivr-gateway/ivr/internal/testlog"
)

func TestLoadPatients(t *testing.T) {
	t.Parallel()
	ok := `{"id":"p1","given_name":"Maria","family_name":"Garcia","birthdate":"1980-01-05","ssn_last4":"1234","phone":"+15555550123"}`
	tests := []struct {
		name, in string
		wantN    int
		wantErr  string // substring; "" means success
	}{
		{"one", "[" + ok + "]", 1, ""},
		{"empty array", "[]", 0, ""},
		{"unknown member ignored", `[{"note":"x",` + ok[1:] + `]`, 1, ""},
		{"not an array", ok, 0, "not a JSON array"},
		{"syntax", "[{", 0, "not a JSON array"},
		{"trailing data", "[" + ok + "] []", 0, "data after the array"},
		{"duplicate id", "[" + ok + "," + ok + "]", 0, "entry 1: duplicate id"},
		{"bad date", "[" + strings.Replace(ok, "1980-01-05", "1980-13-05", 1) + "]", 0, "entry 0: birthdate"},
		{"bad ssn", "[" + strings.Replace(ok, `"1234"`, `"12a4"`, 1) + "]", 0, "entry 0: ssn_last4"},
		{"bad phone", "[" + strings.Replace(ok, "+15555550123", "5555550123", 1) + "]", 0, "entry 0: phone"},
		{"no id", "[" + strings.Replace(ok, `"p1"`, `""`, 1) + "]", 0, "entry 0: id"},
		{"no family name", "[" + strings.Replace(ok, `"Garcia"`, `"-"`, 1) + "]", 0, "entry 0: family_name"},
	}
	for _, tt := range tests {
		ps, err := LoadPatients(strings.NewReader(tt.in))
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalidPatients)):
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.wantErr)
		case err == nil && len(ps) != tt.wantN:
			t.Errorf("%s: %d patients", tt.name, len(ps))
		}
		// Errors name fields, never values.
		if err != nil && (strings.Contains(err.Error(), "1980") || strings.Contains(err.Error(), "5555") || strings.Contains(err.Error(), "12a4")) {
			t.Errorf("%s: error leaks a value: %v", tt.name, err)
		}
	}
}

func TestDemoPatients(t *testing.T) {
	t.Parallel()
	ps := mustPatients(t)
	otp := 0
	for _, p := range ps {
		if p.OTPRequired {
			otp++
		}
	}
	if len(ps) < 3 || otp != 1 {
		t.Errorf("demo file: %d patients, %d with otp_required", len(ps), otp)
	}
}

func TestParseClients(t *testing.T) {
	t.Parallel()
	sc, res := []string{"patient.read"}, []string{"https://mcp.example/mcp"}
	pair := func(id, sec string) Client { return Client{ID: id, Secret: sec, Scopes: sc, Resources: res} }
	tests := []struct {
		in      string
		want    []Client
		wantErr string // substring; "" means success
	}{
		{"a:x", []Client{pair("a", "x")}, ""},
		{"a:x, b:y:z ,", []Client{pair("a", "x"), pair("b", "y:z")}, ""},
		{"a:x\nb:y\n", []Client{pair("a", "x"), pair("b", "y")}, ""},
		{"", nil, "no clients"},
		{"a", nil, "entry 0: want id:secret"},
		{"a:", nil, "entry 0: empty id or secret"},
		{":x", nil, "entry 0: empty id or secret"},
		{"a:x,a:y", nil, "entry 1: duplicate client_id"},
		{"a b:x", nil, "entry 0: client_id"},
		// RFC 7591-style JSON.
		{`[{"client_id":"gw","client_secret":"x","scope":"patient.read  appointments.read","resources":["https://mcp.example/mcp"],"client_name":"the gateway"}]`,
			[]Client{{ID: "gw", Secret: "x", Scopes: []string{"patient.read", "appointments.read"}, Resources: []string{"https://mcp.example/mcp"}}}, ""},
		{` [{"client_id":"gw","client_secret":"x"}] `, []Client{{ID: "gw", Secret: "x"}}, ""},
		{`[{"client_id":"gw","client_secret":"x","token_endpoint_auth_method":"client_secret_basic"}]`, []Client{{ID: "gw", Secret: "x"}}, ""},
		{`[]`, nil, "no clients"},
		{`[{"client_id":"gw"}]`, nil, "entry 0: client_id and client_secret are required"},
		{`[{"client_secret":"x"}]`, nil, "entry 0: client_id and client_secret are required"},
		{`[{"client_id":"gw","client_secret":""}]`, nil, "entry 0: empty client_secret"},
		{`[{"client_id":"","client_secret":"x"}]`, nil, "entry 0: client_id"},
		{`[{"client_id":"gw","client_secret":"x","token_endpoint_auth_method":"none"}]`, nil, "token_endpoint_auth_method"},
		{`[{"client_id":"gw","client_secret":"x","scope":"a\"b"}]`, nil, "entry 0: scope"},
		{`[{"client_id":"gw","client_secret":"x","resources":["/mcp"]}]`, nil, "entry 0: resources"},
		{`[{"client_id":"gw","client_secret":"x","resources":["https://a.example/#f"]}]`, nil, "entry 0: resources"},
		{`[{"client_id":"gw","client_secret":"x"},{"client_id":"gw","client_secret":"y"}]`, nil, "entry 1: duplicate client_id"},
		{`[{"client_id":"gw","client_secret":"x","resources":"https://a.example/"}]`, nil, "not a JSON array of client objects"},
		{`[{"client_id":"gw","client_secret":"x"}] []`, nil, "data after the array"},
		{`[{"client_id":"gw","client_secret":"xsecretx",}]`, nil, "JSON syntax error"},
	}
	for _, tt := range tests {
		got, err := ParseClients(tt.in, sc, res)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("ParseClients(%q): %v", tt.in, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalidClients)):
			t.Errorf("ParseClients(%q) err = %v, want %q", tt.in, err, tt.wantErr)
		case err == nil:
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("ParseClients(%q) (-want +got):\n%s", tt.in, diff)
			}
		}
		// Errors name entries and fields, never a secret.
		if err != nil && strings.Contains(err.Error(), "secretx") {
			t.Errorf("ParseClients(%q): error leaks the secret: %v", tt.in, err)
		}
	}
	// Nothing prints a secret.
	c := Client{ID: "gw", Secret: "hunter2", Scopes: sc}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: testlog.NoTime})).Info("x", "client", c)
	for _, out := range []string{buf.String(), fmt.Sprint(c), fmt.Sprintf("%+v %#v %v", c, c, []Client{c})} {
		if strings.Contains(out, "hunter2") || !strings.Contains(out, "gw") {
			t.Errorf("%q: want the id and not the secret", out)
		}
	}
}

func TestParseBasicAuth(t *testing.T) {
	t.Parallel()
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		h, id, sec string
		ok         bool
	}{
		{"Basic " + b64("ivr:pw"), "ivr", "pw", true},
		{"basic " + b64("ivr:pw"), "ivr", "pw", true},
		{"Basic " + b64(url.QueryEscape("a:b")+":"+url.QueryEscape("p w:/")), "a:b", "p w:/", true},
		{"Basic " + b64("ivr:"), "ivr", "", true},
		{"Bearer x", "", "", false},
		{"Basic !!!", "", "", false},
		{"Basic " + b64("nocolon"), "", "", false},
		{"Basic " + b64(":pw"), "", "", false},
		{"Basic " + b64("%zz:pw"), "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		id, sec, ok := parseBasicAuth(tt.h)
		if id != tt.id || sec != tt.sec || ok != tt.ok {
			t.Errorf("parseBasicAuth(%q) = %q %q %v", tt.h, id, sec, ok)
		}
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	rdb, prefix := redistest.Client(t)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	base := func() Config {
		return Config{
			Issuer: "https://as.example.com", Patients: mustPatients(t),
			Clients: []Client{{ID: "a", Secret: "b"}}, Redis: rdb, Prefix: prefix,
			OTPSender: &ConsoleSender{W: &bytes.Buffer{}},
		}
	}
	tests := []struct {
		name string
		mod  func(*Config)
	}{
		{"relative issuer", func(c *Config) { c.Issuer = "/as" }},
		{"issuer with query", func(c *Config) { c.Issuer = "https://as.example.com?x=1" }},
		{"ftp issuer", func(c *Config) { c.Issuer = "ftp://as.example.com" }},
		{"no clients", func(c *Config) { c.Clients = nil }},
		{"client without secret", func(c *Config) { c.Clients = []Client{{ID: "a"}} }},
		{"duplicate client", func(c *Config) { c.Clients = append(c.Clients, c.Clients[0]) }},
		{"client with a bad resource", func(c *Config) { c.Clients[0].Resources = []string{"mcp"} }},
		{"no redis", func(c *Config) { c.Redis = nil }},
		{"no otp sender", func(c *Config) { c.OTPSender = nil }},
		{"P-224 key", func(c *Config) { c.SigningKey = p224 }},
		{"invalid patient", func(c *Config) { c.Patients = append(c.Patients, Patient{ID: "x"}) }},
		{"duplicate patient", func(c *Config) { c.Patients = append(c.Patients, c.Patients[0]) }},
	}
	for _, tt := range tests {
		cfg := base()
		tt.mod(&cfg)
		if _, err := New(cfg); err == nil || !strings.HasPrefix(err.Error(), "authserver: ") {
			t.Errorf("%s: err = %v", tt.name, err)
		}
	}
	if _, err := New(base()); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

func TestRedaction(t *testing.T) {
	t.Parallel()
	p := mustPatients(t)[0]
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: testlog.NoTime}))
	s := secret("1980-01-05")
	log.Info("x", "patient", p, "dob", s)
	for _, out := range []string{buf.String(), fmt.Sprint(p), fmt.Sprintf("%+v %#v %v %s %q", p, p, s, s, s)} {
		for _, v := range []string{p.GivenName, p.FamilyName, p.Birthdate, p.SSNLast4, p.Phone, "1980-01-05"} {
			if strings.Contains(out, v) {
				t.Errorf("%q leaks %q", out, v)
			}
		}
	}
}

// FuzzLoadPatients: the patient file parser never panics, and what it
// accepts passes its own validation and loads into a server record.
func FuzzLoadPatients(f *testing.F) {
	data, err := os.ReadFile("testdata/patients.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`[{"id":"x","given_name":"É","family_name":"-a-","birthdate":"2000-02-29","ssn_last4":"0000","phone":"+12"}]`))
	f.Add([]byte(`[{}]`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ps, err := LoadPatients(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, p := range ps {
			if err := p.validate(); err != nil {
				t.Fatalf("accepted an invalid patient: %v", err)
			}
			r := newRecord(p, []byte("k"))
			if len(r.given) == 0 || len(r.family) == 0 {
				t.Fatal("record without name keys")
			}
		}
	})
}

// FuzzParseClients: the client-file parser (both forms) never panics, what
// it accepts is a valid registration New takes, and no error quotes a
// secret.
func FuzzParseClients(f *testing.F) {
	for _, s := range []string{
		"a:b", "a:b,c:d:e", "a", ":,:", "a:b\n\nc:d",
		`[{"client_id":"gw","client_secret":"s3","scope":"patient.read","resources":["https://mcp.example/mcp"]}]`,
		`[{"client_id":"gw","client_secret":"s3"},{"client_id":"g2","client_secret":"s4","scope":" a  b "}]`,
		`[{"client_id":"gw","client_secret":"s3","token_endpoint_auth_method":"none"}]`,
		`[{}]`, `[null]`, `[`, `["a:b"]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cs, err := ParseClients(s, []string{"patient.read"}, []string{"https://mcp.example/mcp"})
		if err != nil {
			if !errors.Is(err, ErrInvalidClients) {
				t.Fatalf("error does not wrap ErrInvalidClients: %v", err)
			}
			return
		}
		if len(cs) == 0 {
			t.Fatal("accepted no clients")
		}
		for _, c := range cs {
			if err := c.validate(); err != nil {
				t.Fatalf("accepted an invalid client: %v", err)
			}
		}
		if _, err := newClientSet(cs); err != nil {
			t.Fatalf("accepted a list New refuses: %v", err)
		}
	})
}

// FuzzParseBasicAuth: never panics; a decoded header re-encodes to a header
// that decodes to the same credentials.
func FuzzParseBasicAuth(f *testing.F) {
	for _, s := range []string{"Basic aXZyOnB3", "Basic !!", "basic Og==", "Basic JXp6OnB3", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		id, sec, ok := parseBasicAuth(h)
		if !ok {
			return
		}
		again := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(sec)))
		id2, sec2, ok2 := parseBasicAuth(again)
		if !ok2 || id2 != id || sec2 != sec {
			t.Fatalf("round trip: %q %q -> %q %q %v", id, sec, id2, sec2, ok2)
		}
	})
}

// FuzzChallengeForm: the challenge form and KBA parsers never panic, and
// what they accept is well-formed.
func FuzzChallengeForm(f *testing.F) {
	_, ch := pkce(f)
	f.Add(mariaForm(ch).Encode())
	f.Add(stepUpForm(ch, "c2Vzc2lvbg", "123456").Encode())
	f.Add("response_type=code&code_challenge_method=S256&code_challenge=" + ch + "&given_name=%C3%A9&family_name=x&birthdate=2000-02-29&ssn_last4=0000")
	f.Add("a=%zz&&=&response_type=code&response_type=code")
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		req, oe := parseChallengeForm(form, testClient)
		if oe != nil {
			if oe.Code == "" || oe.status < 400 {
				t.Fatalf("bad error %+v", oe)
			}
			return
		}
		if req.responseType != "code" || req.codeChallengeMethod != "S256" || !validS256Challenge(req.codeChallenge) {
			t.Fatalf("accepted bad protocol parameters")
		}
		a, oe := parseKBA(req)
		if oe != nil {
			return
		}
		if len(a.given) == 0 || len(a.family) == 0 || !validDate(a.birthdate.reveal()) || len(a.ssnLast4) != 4 {
			t.Fatalf("accepted bad answers")
		}
		for _, k := range append(a.given, a.family...) {
			p, alt := doubleMetaphone(k.text)
			if len(p) > 4 || len(alt) > 4 {
				t.Fatalf("code too long")
			}
			if jw := jaroWinkler(k.text, "garcia"); jw < 0 || jw > 1 {
				t.Fatalf("jaroWinkler out of range: %v", jw)
			}
		}
	})
}
