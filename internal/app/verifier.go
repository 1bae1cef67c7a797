package app

import (
	"context"

	"github.com/ivr-gateway/ivr"
	"github.com/ivr-gateway/ivr/authclient"
	"github.com/ivr-gateway/ivr/callflow"
	"github.com/ivr-gateway/ivr/dialog"
)

// asVerifier adapts the challenge-endpoint client to the engine: the
// dialog's answers in, the dialog's verification result out.
type asVerifier struct{ c *authclient.Client }

// NewASVerifier returns the engine's view of an AS client (for tests that
// assemble an engine of their own).
func NewASVerifier(c *authclient.Client) callflow.Verifier { return asVerifier{c} }

var _ callflow.Verifier = asVerifier{}

func (v asVerifier) Verify(ctx context.Context, a dialog.Answers) (dialog.VerifyResult, *ivr.Token, error) {
	in := authclient.Answers{
		GivenName:   a.Name.Given,
		FamilyName:  a.Name.Family,
		SSNLast4:    a.SSN4,
		OTP:         a.OTP,
		AuthSession: a.AuthSession,
	}
	if !a.DOB.IsZero() {
		in.Birthdate = a.DOB.ISO()
	}
	r := v.c.Verify(ctx, in)
	res := dialog.VerifyResult{AuthSession: r.AuthSession, AttemptsRemaining: r.AttemptsRemaining}
	switch r.Outcome {
	case authclient.Verified:
		res.Outcome = dialog.OutcomeVerified
	case authclient.OTPRequired:
		res.Outcome = dialog.OutcomeOTPRequired
	case authclient.Denied:
		res.Outcome = dialog.OutcomeDenied
	case authclient.InvalidSession:
		res.Outcome = dialog.OutcomeInvalidSession
	case authclient.RedirectToWeb:
		res.Outcome = dialog.OutcomeRedirectToWeb
	case authclient.Locked:
		res.Outcome = dialog.OutcomeLocked
	default:
		res.Outcome = dialog.OutcomeUnavailable
	}
	return res, r.Token, r.Err
}

func (v asVerifier) Revoke(ctx context.Context, token string) error { return v.c.Revoke(ctx, token) }
