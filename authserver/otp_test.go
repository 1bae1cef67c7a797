package authserver

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

var otpInBody = regexp.MustCompile(`[0-9]{6}`)

const (
	twilioSID   = "AC0123456789abcdef0123456789abcdef"
	twilioToken = "0123456789abcdef0123456789abcdef"
)

// twilioDouble behaves like Twilio's Messages API for one account: it checks
// Basic auth and answers 201 with a message resource, or Twilio's error JSON.
type twilioDouble struct {
	*httptest.Server
	mu    sync.Mutex
	forms []url.Values
	fail  bool
}

func newTwilioDouble(t *testing.T) *twilioDouble {
	d := &twilioDouble{}
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		user, pass, ok := r.BasicAuth()
		if !ok || user != twilioSID || pass != twilioToken {
			w.WriteHeader(401)
			io.WriteString(w, `{"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401}`)
			return
		}
		if r.Method != http.MethodPost || r.URL.Path != "/2010-04-01/Accounts/"+twilioSID+"/Messages.json" {
			w.WriteHeader(404)
			io.WriteString(w, `{"code":20404,"message":"The requested resource was not found","status":404}`)
			return
		}
		if err := r.ParseForm(); err != nil {
			w.WriteHeader(400)
			return
		}
		d.mu.Lock()
		d.forms = append(d.forms, r.PostForm)
		fail := d.fail
		d.mu.Unlock()
		if fail {
			// Twilio's real messages quote the number.
			w.WriteHeader(400)
			io.WriteString(w, `{"code":21211,"message":"The 'To' number `+r.PostForm.Get("To")+` is not a valid phone number.","more_info":"https://www.twilio.com/docs/errors/21211","status":400}`)
			return
		}
		w.WriteHeader(201)
		io.WriteString(w, `{"sid":"SM0123456789abcdef0123456789abcdef","status":"queued","to":"`+r.PostForm.Get("To")+`","body":"x"}`)
	}))
	t.Cleanup(d.Close)
	return d
}

func (d *twilioDouble) last(t *testing.T) url.Values {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.forms) == 0 {
		t.Fatal("no message sent")
	}
	return d.forms[len(d.forms)-1]
}

func TestTwilioSender(t *testing.T) {
	t.Parallel()
	d := newTwilioDouble(t)
	ctx := context.Background()

	tests := []struct {
		name     string
		from     string
		wantFrom string
		wantMG   string
	}{
		{"from number", "+15555550100", "+15555550100", ""},
		{"messaging service", "MG0123456789abcdef0123456789abcdef", "", "MG0123456789abcdef0123456789abcdef"},
	}
	for _, tt := range tests {
		s := NewTwilioSender(twilioSID, twilioToken, tt.from, d.URL)
		if err := s.SendOTP(ctx, "+15555550123", "482913"); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		f := d.last(t)
		if f.Get("To") != "+15555550123" || f.Get("From") != tt.wantFrom || f.Get("MessagingServiceSid") != tt.wantMG {
			t.Errorf("%s: form %v", tt.name, f)
		}
		if !strings.Contains(f.Get("Body"), "482913") {
			t.Errorf("%s: body %q lacks the code", tt.name, f.Get("Body"))
		}
	}
}

func TestTwilioSenderErrors(t *testing.T) {
	t.Parallel()
	d := newTwilioDouble(t)
	d.fail = true
	ctx := context.Background()
	err := NewTwilioSender(twilioSID, twilioToken, "+15555550100", d.URL).SendOTP(ctx, "+15555550123", "482913")
	if !errors.Is(err, ErrOTPSend) || !strings.Contains(err.Error(), "21211") {
		t.Errorf("err = %v", err)
	}
	if strings.Contains(err.Error(), "5555550123") || strings.Contains(err.Error(), "482913") {
		t.Errorf("error leaks personal data: %v", err)
	}
	err = NewTwilioSender(twilioSID, "wrongtoken", "+15555550100", d.URL).SendOTP(ctx, "+15555550123", "482913")
	if !errors.Is(err, ErrOTPSend) || !strings.Contains(err.Error(), "20003") {
		t.Errorf("bad credentials: %v", err)
	}
	// A cancelled context stops the request.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	err = NewTwilioSender(twilioSID, twilioToken, "+15555550100", d.URL).SendOTP(cctx, "+15555550123", "482913")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if err := NewTwilioSender(twilioSID, twilioToken, "+1", "::bad").SendOTP(ctx, "+1", "1"); !errors.Is(err, ErrOTPSend) {
		t.Errorf("bad base URL: %v", err)
	}
}

// TestStepUpThroughTwilio runs the OTP step-up with the Twilio sender
// against the double: the code the patient gets by SMS works.
func TestStepUpThroughTwilio(t *testing.T) {
	t.Parallel()
	d := newTwilioDouble(t)
	as := newTestAS(t, "", func(c *Config) {
		c.OTPSender = &TwilioSender{AccountSID: twilioSID, AuthToken: twilioToken, From: "+15555550100", BaseURL: d.URL, HTTPClient: &http.Client{Timeout: 5 * time.Second}}
	})
	_, ch := pkce(t)
	a := as.challenge(t, kbaForm(ch, "Ana", "Lopez", "1990-07-22", "4321"))
	if a.status != 403 {
		t.Fatalf("challenge: %d %s", a.status, a.raw)
	}
	f := d.last(t)
	if f.Get("To") != "+15555550126" {
		t.Errorf("To = %q", f.Get("To"))
	}
	otp := otpInBody.FindString(f.Get("Body"))
	if a := as.challenge(t, stepUpForm(ch, a.str("auth_session"), otp)); a.status != 200 {
		t.Errorf("step-up: %d %s", a.status, a.raw)
	}

	// Twilio failing: 503, and the session is not left waiting for a code.
	d.mu.Lock()
	d.fail = true
	d.mu.Unlock()
	a = as.challenge(t, kbaForm(ch, "Ana", "Lopez", "1990-07-22", "4321"))
	if a.status != 503 || a.str("error") != "temporarily_unavailable" {
		t.Errorf("Twilio down: %d %s", a.status, a.raw)
	}
}

func TestConsoleSender(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	c := &ConsoleSender{W: &b}
	if err := c.SendOTP(context.Background(), "+15555550123", "012345"); err != nil {
		t.Fatal(err)
	}
	if got, want := b.String(), "OTP for ***0123: 012345\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestNewOTPUniform(t *testing.T) {
	t.Parallel()
	s := &Server{rand: strings.NewReader(strings.Repeat("\xff\xff\xff\xff", 3) + "\x00\x00\x00\x07")}
	// Three draws in the rejected top range, then 7.
	if got, err := s.newOTP(); err != nil || got != "000007" {
		t.Errorf("newOTP = %q, %v", got, err)
	}
}
