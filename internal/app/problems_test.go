package app

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/ivr-gateway/ivr/internal/asdouble"
	"github.com/ivr-gateway/ivr/internal/testlog"
	"github.com/ivr-gateway/ivr/internal/twiliosim"
)

// TestEveryProblemAtOnce: a configuration with many problems is refused
// with all of them, one line each, in the order of the README's
// configuration table, instead of one per restart.
func TestEveryProblemAtOnce(t *testing.T) {
	_, err := New(context.Background(), Config{
		PublicURL: "ivr.example.org", RedisMode: "cluster", SessionKey: []byte("short"),
		Languages: []string{"fr-FR"}, Transport: "carrier-pigeon",
		Problems: []Problem{{"IVR_VOICES", "IVR_VOICES: \"x\" is not language=voice"}},
	}, nil)
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("New: %v, want a *ConfigError", err)
	}
	want := []string{"IVR_VOICES", "IVR_PUBLIC_URL", "TWILIO_AUTH_TOKEN", "REDIS_URL", "IVR_AUTH_ISSUER",
		"IVR_CLIENT_ID", "IVR_CLIENT_SECRET", "IVR_SESSION_KEY", "IVR_LANGUAGES", "IVR_TRANSPORT"}
	var got []string
	for _, p := range ce.Problems {
		got = append(got, p.Var)
		if !strings.HasPrefix(p.Msg, p.Var) {
			t.Errorf("problem %q does not start with %s", p.Msg, p.Var)
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("problems for\n  %s\nwant\n  %s", strings.Join(got, " "), strings.Join(want, " "))
	}
	if lines := strings.Split(err.Error(), "\n"); len(lines) != len(want)+1 {
		t.Errorf("error has %d lines, want a heading and one per problem:\n%s", len(lines), err)
	}
}

// TestPublicURLTrailingSlash: a trailing slash on IVR_PUBLIC_URL is
// dropped with a warning; the gateway's TwiML URLs and signature checks use
// the URL without it, as Twilio's console shows it.
func TestPublicURLTrailingSlash(t *testing.T) {
	cfg := testConfig(t, asIssuer(t, nil))
	cfg.PublicURL = "https://ivr.example.test/"
	var logs testlog.Buffer
	a, err := New(context.Background(), cfg, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if !strings.Contains(logs.String(), "IVR_PUBLIC_URL ends with a slash") {
		t.Errorf("no warning about the slash; logs:\n%s", logs.String())
	}
	form := url.Values{"CallSid": {"CA0123456789abcdef0123456789abcdef"}, "From": {"+15555550123"}, "To": {"+15555550100"},
		"AccountSid": {"AC0123456789abcdef0123456789abcdef"}, "CallStatus": {"ringing"}, "Direction": {"inbound"}}
	req := httptest.NewRequest("POST", "/twilio/voice", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", twiliosim.Sign(cfg.AuthToken, "https://ivr.example.test/twilio/voice", form))
	rec := httptest.NewRecorder()
	a.Handler.ServeHTTP(rec, req)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"https://ivr.example.test/twilio/gather?step=1"`) {
		t.Errorf("voice webhook signed for the URL without the slash: %d\n%s", rec.Code, rec.Body.String())
	}
}

// TestClientCredentialsChecked: with CheckClient (ivr serve, ivr demo) a
// wrong IVR_CLIENT_SECRET stops start-up, named as such, instead of making
// the first caller's verification look like an AS outage. An AS that
// cannot answer the probe only earns a warning.
func TestClientCredentialsChecked(t *testing.T) {
	tests := []struct {
		name, secret string
		failing      bool
		wantVar      string // "" = starts
		wantLog      string
	}{
		{"right secret", "s", false, "", ""},
		{"wrong secret", "not-s", false, "IVR_CLIENT_SECRET", ""},
		{"AS failing", "s", true, "", "could not check the client credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			as := asdouble.Serve(t, &asdouble.Server{ClientID: "c", ClientSecret: "s"})
			as.SetFailing(tt.failing)
			cfg := testConfig(t, as.Issuer)
			cfg.ClientSecret, cfg.CheckClient = tt.secret, true
			var logs testlog.Buffer
			a, err := New(context.Background(), cfg, slog.New(slog.NewJSONHandler(&logs, nil)))
			if tt.wantVar == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				a.Close()
			} else {
				var ce *ConfigError
				if !errors.As(err, &ce) || len(ce.Problems) != 1 || ce.Problems[0].Var != tt.wantVar {
					t.Fatalf("New: %v, want one problem with %s", err, tt.wantVar)
				}
				if strings.Contains(err.Error(), tt.secret) {
					t.Errorf("the error shows the secret: %v", err)
				}
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("logs lack %q:\n%s", tt.wantLog, logs.String())
			}
			if n := len(as.Forms(asdouble.Revoke)); n != 1 {
				t.Errorf("%d revocation requests, want the one probe", n)
			}
		})
	}
}
