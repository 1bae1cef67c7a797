package authclient

import (
	"fmt"
	"log/slog"
	"strconv"

	"github.com/ivr-gateway/ivr"
)

const redacted = "[redacted]"

// Outcome is what one verification attempt came to; the dialog picks its
// next step from it.
type Outcome int

// Outcomes of [Client.Verify]. The zero value is Unavailable, so a forgotten
// assignment fails closed.
const (
	// Unavailable: the AS could not be used (5xx, timeout, bad JSON, missing
	// code, unknown or misconfiguration error); take the fallback path.
	Unavailable Outcome = iota
	// Verified: the answers matched and Result.Token holds the access token.
	Verified
	// OTPRequired: the AS sent a one-time code to the phone on file; ask for
	// it and call Verify again with Answers.OTP and Result.AuthSession.
	OTPRequired
	// Denied: the answers (or the OTP) did not match (access_denied).
	Denied
	// InvalidSession: the AS refused the auth_session; start over without it.
	InvalidSession
	// RedirectToWeb: the AS wants a browser (redirect_to_web); fallback path.
	RedirectToWeb
	// Locked: slow_down or HTTP 429; the identity or caller is locked out.
	Locked
)

var outcomeNames = [...]string{
	Unavailable:    "unavailable",
	Verified:       "verified",
	OTPRequired:    "otp_required",
	Denied:         "denied",
	InvalidSession: "invalid_session",
	RedirectToWeb:  "redirect_to_web",
	Locked:         "locked",
}

// String returns the outcome's snake_case name, fit for a metric label.
func (o Outcome) String() string {
	if o >= 0 && int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// Answers is what the caller gave, in the form of docs/as-profile.md: Birthdate is
// YYYY-MM-DD, SSNLast4 four digits. A step-up request sets OTP and
// AuthSession; the KBA answers are then not sent. All of it is personal data
// or a secret: String and LogValue only tell which fields are set.
type Answers struct {
	GivenName, FamilyName, Birthdate, SSNLast4, OTP, AuthSession string
}

func (a Answers) fields() []slog.Attr {
	set := func(k, v string) slog.Attr { return slog.Bool(k, v != "") }
	return []slog.Attr{
		set("given_name", a.GivenName),
		set("family_name", a.FamilyName),
		set("birthdate", a.Birthdate),
		set("ssn_last4", a.SSNLast4),
		set("otp", a.OTP),
		set("auth_session", a.AuthSession),
	}
}

// LogValue reports which answers are present, never their values.
func (a Answers) LogValue() slog.Value { return slog.GroupValue(a.fields()...) }

// String reports which answers are present, never their values.
func (a Answers) String() string { return "authclient.Answers" + attrsString(a.fields()) }

// Token is the access token of a verified call (the project's one token
// type). ExpiresAt is Now + expires_in at receipt; zero when the AS sent no
// expires_in (the store then applies its own cap). Every printed form
// redacts the access token.
type Token = ivr.Token

// Result is the outcome of one attempt and what the caller must carry to the
// next one.
type Result struct {
	Outcome Outcome
	// AuthSession is the newest auth_session seen; send it on the next
	// attempt (Answers.AuthSession). Empty after InvalidSession. A secret:
	// String and LogValue redact it.
	AuthSession string
	// AttemptsRemaining is the AS's attempts_remaining, -1 when it did not say.
	AttemptsRemaining int
	// Token is set when Outcome is Verified.
	Token *Token
	// Err says why, for logs (never personal data or secrets). It is set
	// for Unavailable, Locked, RedirectToWeb and InvalidSession, and nil for
	// Verified, OTPRequired and Denied. errors.Is(Err, ErrMisconfigured)
	// means the gateway's registration or configuration is wrong and should
	// be logged at error level; ErrInvalidAnswers means a caller bug.
	Err error
}

func (r Result) fields() []slog.Attr {
	as := ""
	if r.AuthSession != "" {
		as = redacted
	}
	attrs := []slog.Attr{
		slog.String("outcome", r.Outcome.String()),
		slog.String("auth_session", as),
		slog.Int("attempts_remaining", r.AttemptsRemaining),
	}
	if r.Token != nil {
		attrs = append(attrs, slog.Any("token", *r.Token))
	}
	if r.Err != nil {
		attrs = append(attrs, slog.String("err", r.Err.Error()))
	}
	return attrs
}

// LogValue logs the result with its auth_session and token redacted.
func (r Result) LogValue() slog.Value { return slog.GroupValue(r.fields()...) }

// String describes the result with its auth_session and token redacted.
func (r Result) String() string { return "authclient.Result" + attrsString(r.fields()) }

func attrsString(attrs []slog.Attr) string {
	s := "{"
	for i, a := range attrs {
		if i > 0 {
			s += " "
		}
		v := a.Value.Resolve()
		if v.Kind() == slog.KindGroup {
			s += a.Key + ":" + attrsString(v.Group())
			continue
		}
		s += fmt.Sprintf("%s:%v", a.Key, v)
	}
	return s + "}"
}
