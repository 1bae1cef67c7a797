package authclient_test

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/ivr-gateway/ivr/authclient"
)

// Example shows the wiring in cmd/ivr and one turn of the dialog executor.
func Example() {
	ctx := context.Background()
	hc := &http.Client{Timeout: authclient.DefaultTimeout}

	// At start-up: refuse to start on any discovery error.
	md, err := authclient.Discover(ctx, hc, os.Getenv("IVR_AUTH_ISSUER"))
	if err != nil {
		slog.Error("auth server unusable", "err", err)
		return
	}
	c, err := authclient.New(authclient.Config{
		Metadata:     md,
		ClientID:     os.Getenv("IVR_CLIENT_ID"),
		ClientSecret: os.Getenv("IVR_CLIENT_SECRET"),
		Scope:        os.Getenv("IVR_SCOPE"),
		Resource:     os.Getenv("IVR_RESOURCE"),
		HTTPClient:   hc,
	})
	if err != nil {
		slog.Error("auth client", "err", err)
		return
	}

	// In a webhook: leave the handler time to answer TwiML within 10 s.
	vctx, cancel := context.WithTimeout(ctx, 8*time.Second)
	defer cancel()
	res := c.Verify(vctx, authclient.Answers{
		GivenName: "Maria", FamilyName: "Garcia", Birthdate: "1980-01-05", SSNLast4: "1234",
		AuthSession: "", // the previous Result.AuthSession, when there was one
	})
	slog.Info("verify", "result", res) // redacted
	switch res.Outcome {
	case authclient.Verified:
		// store res.Token under the call SID; revoke it at hang-up:
		_ = c.Revoke(ctx, res.Token.AccessToken)
	case authclient.OTPRequired:
		// ask for the code, then Verify(Answers{OTP: code, AuthSession: res.AuthSession})
	case authclient.Denied, authclient.InvalidSession:
		// ask again (InvalidSession: without auth_session), up to IVR_MAX_ATTEMPTS
	default: // RedirectToWeb, Locked, Unavailable
		// fallback number or goodbye
	}
}
