package authserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	twclient "github.com/twilio/twilio-go/client"
	twapi "github.com/twilio/twilio-go/rest/api/v2010"
)

// OTPSender delivers a one-time code to a phone number. Implementations
// must not log or return the phone number or the code in errors.
type OTPSender interface {
	SendOTP(ctx context.Context, phone, code string) error
}

// ErrOTPSend is wrapped by TwilioSender errors.
var ErrOTPSend = errors.New("authserver: send OTP")

// TwilioSender sends the code by SMS through the Twilio Messages API
// (POST /2010-04-01/Accounts/{AccountSid}/Messages.json) with twilio-go's
// REST client.
type TwilioSender struct {
	// AccountSID and AuthToken authenticate to Twilio (HTTP Basic).
	AccountSID string
	AuthToken  string
	// From is the sending number (E.164) or a Messaging Service SID (MG...).
	From string
	// BaseURL replaces https://api.twilio.com, for tests against a double.
	BaseURL string
	// HTTPClient is used for the requests; nil means a client with a 10 s
	// timeout.
	HTTPClient *http.Client
}

// NewTwilioSender returns a TwilioSender; baseURL "" means Twilio itself.
func NewTwilioSender(accountSID, authToken, from, baseURL string) *TwilioSender {
	return &TwilioSender{AccountSID: accountSID, AuthToken: authToken, From: from, BaseURL: baseURL}
}

// twilioAPI is the base URL twilio-go builds its request URLs from.
const twilioAPI = "https://api.twilio.com"

// SendOTP sends "Your verification code is NNNNNN" to phone. Errors carry
// Twilio's numeric error code and HTTP status only: Twilio's messages may
// quote the destination number.
func (t *TwilioSender) SendOTP(ctx context.Context, phone, code string) error {
	hc := t.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	// twilio-go neither takes a context nor a base URL: a per-call
	// transport adds both, so the request is cancelled with ctx.
	rt := hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	var base *url.URL
	if t.BaseURL != "" {
		u, err := url.Parse(strings.TrimRight(t.BaseURL, "/"))
		if err != nil || u.Scheme == "" || u.Host == "" {
			return fmt.Errorf("%w: BaseURL is not an absolute URL", ErrOTPSend)
		}
		base = u
	}
	c := &twclient.Client{
		Credentials: twclient.NewCredentials(t.AccountSID, t.AuthToken),
		HTTPClient: &http.Client{
			Timeout:       hc.Timeout,
			Transport:     &ctxTransport{ctx: ctx, base: base, next: rt},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	c.SetAccountSid(t.AccountSID)
	// The v2010 API service is the Messages part of twilio-go's RestClient;
	// the root package would link every Twilio product API.
	api := twapi.NewApiServiceWithClient(c)
	params := &twapi.CreateMessageParams{}
	params.SetTo(phone)
	params.SetBody("Your verification code is " + code + ". It expires in 5 minutes.")
	if strings.HasPrefix(t.From, "MG") {
		params.SetMessagingServiceSid(t.From)
	} else {
		params.SetFrom(t.From)
	}
	if _, err := api.CreateMessage(params); err != nil {
		var te *twclient.TwilioRestError
		if errors.As(err, &te) {
			return fmt.Errorf("%w: twilio error %d (HTTP %d)", ErrOTPSend, te.Code, te.Status)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %w", ErrOTPSend, ctx.Err())
		}
		return fmt.Errorf("%w: request failed", ErrOTPSend)
	}
	return nil
}

// ctxTransport attaches a context to twilio-go's requests and, for tests,
// points them at another base URL.
type ctxTransport struct {
	ctx  context.Context
	base *url.URL
	next http.RoundTripper
}

func (t *ctxTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(t.ctx)
	if t.base != nil {
		r.URL.Scheme = t.base.Scheme
		r.URL.Host = t.base.Host
		r.URL.Path = t.base.Path + r.URL.Path
		r.Host = t.base.Host
	}
	return t.next.RoundTrip(r)
}

// ConsoleSender prints the code instead of sending it: for `ivr demo` only.
// It shows the last four digits of the phone number, as an SMS log would.
type ConsoleSender struct {
	W  io.Writer
	mu sync.Mutex
}

// SendOTP writes "OTP for ***1234: 123456".
func (c *ConsoleSender) SendOTP(_ context.Context, phone, code string) error {
	tail := phone
	if len(tail) > 4 {
		tail = tail[len(tail)-4:]
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := fmt.Fprintf(c.W, "OTP for ***%s: %s\n", tail, code); err != nil {
		return fmt.Errorf("authserver: console OTP: %w", err)
	}
	return nil
}
