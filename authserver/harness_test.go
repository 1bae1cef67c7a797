package authserver

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ivr-gateway/ivr/internal/testlog"
)

const (
	testClient   = "ivr-gateway"
	testSecret   = "s3cret:with/odd chars"
	otherClient  = "other"
	otherSecret  = "other-secret"
	testResource = "https://mcp.example.com/mcp"
	// testResource2 is another resource testClient may ask for.
	testResource2 = "https://records.example.com/api"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testAS is a running authorization server on loopback.
type testAS struct {
	*Server
	url    string
	clock  *clock
	sms    *testlog.Buffer // ConsoleSender output
	logs   *testlog.Buffer // slog JSON
	prefix string
}

type asOption func(*Config)

func mustPatients(tb testing.TB) []Patient {
	tb.Helper()
	f, err := os.Open("testdata/patients.json")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	ps, err := LoadPatients(f)
	if err != nil {
		tb.Fatal(err)
	}
	return ps
}

// newTestAS starts a server on the real Redis with the demo patients.
// issuerPath is appended to the loopback origin ("" or "/tenant1").
func newTestAS(tb testing.TB, issuerPath string, opts ...asOption) *testAS {
	tb.Helper()
	rdb, prefix := testRedis(tb)
	srv := httptest.NewUnstartedServer(nil)
	as := &testAS{
		url:    "http://" + srv.Listener.Addr().String() + issuerPath,
		clock:  &clock{t: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)},
		sms:    &testlog.Buffer{},
		logs:   &testlog.Buffer{},
		prefix: prefix,
	}
	cfg := Config{
		Issuer:   as.url,
		Patients: mustPatients(tb),
		Clients: []Client{
			{ID: testClient, Secret: testSecret, Scopes: []string{"patient.read", "appointments.read"}, Resources: []string{testResource, testResource2}},
			{ID: otherClient, Secret: otherSecret, Scopes: []string{"patient.read"}, Resources: []string{testResource}},
		},
		Redis:     rdb,
		Prefix:    prefix,
		OTPSender: &ConsoleSender{W: as.sms},
		Now:       as.clock.Now,
		// No time: its digits could spell a test identity's.
		Logger: slog.New(slog.NewJSONHandler(as.logs, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: testlog.NoTime})),
	}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	as.Server = s
	srv.Config.Handler = s.Handler()
	srv.Start()
	tb.Cleanup(srv.Close)
	return as
}

// answer is an HTTP answer with its JSON body decoded.
type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (a answer) str(k string) string { s, _ := a.body[k].(string); return s }

func (as *testAS) do(tb testing.TB, method, path string, form url.Values, id, sec string) answer {
	tb.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, as.url+path, body)
	if err != nil {
		tb.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(sec))
	}
	return doReq(tb, req)
}

func doReq(tb testing.TB, req *http.Request) answer {
	tb.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if len(raw) > 0 && resp.Header.Get("Content-Type") == "application/json" {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			tb.Fatalf("%s %s: body %q is not JSON: %v", req.Method, req.URL.Path, raw, err)
		}
	}
	return a
}

func (as *testAS) challenge(tb testing.TB, form url.Values) answer {
	tb.Helper()
	return as.do(tb, http.MethodPost, "/oauth/challenge", form, testClient, testSecret)
}

func (as *testAS) tokenReq(tb testing.TB, form url.Values) answer {
	tb.Helper()
	return as.do(tb, http.MethodPost, "/oauth/token", form, testClient, testSecret)
}

// pkce returns a fresh verifier and its S256 challenge.
func pkce(tb testing.TB) (verifier, challenge string) {
	tb.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	verifier = base64.RawURLEncoding.EncodeToString(b)
	return verifier, pkceS256(verifier)
}

// kbaForm is a first challenge request with the given answers.
func kbaForm(challenge, given, family, dob, ssn string) url.Values {
	return url.Values{
		"response_type":         {"code"},
		"scope":                 {"patient.read"},
		"resource":              {testResource},
		"code_challenge":        {challenge},
		"code_challenge_method": {"S256"},
		"given_name":            {given},
		"family_name":           {family},
		"birthdate":             {dob},
		"ssn_last4":             {ssn},
	}
}

// stepUpForm is a step-up request: auth_session and otp, no KBA answers.
func stepUpForm(challenge, session, otp string) url.Values {
	return url.Values{
		"response_type":         {"code"},
		"scope":                 {"patient.read"},
		"resource":              {testResource},
		"code_challenge":        {challenge},
		"code_challenge_method": {"S256"},
		"auth_session":          {session},
		"otp":                   {otp},
	}
}

var otpLine = regexp.MustCompile(`OTP for \*\*\*(\d{4}): (\d{6})\n`)

// lastOTP returns the last code the ConsoleSender printed and the phone tail.
func (as *testAS) lastOTP(tb testing.TB) (tail, code string) {
	tb.Helper()
	m := otpLine.FindAllStringSubmatch(as.sms.String(), -1)
	if len(m) == 0 {
		tb.Fatal("no OTP sent")
	}
	return m[len(m)-1][1], m[len(m)-1][2]
}

func (as *testAS) otpCount() int {
	return len(otpLine.FindAllString(as.sms.String(), -1))
}
