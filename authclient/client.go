// Package authclient is the gateway's OAuth client for an authorization
// server that speaks OAuth 2.0 for First-Party Applications
// (draft-ietf-oauth-first-party-apps-04) with the knowledge-based profile of
// the gateway's docs/as-profile.md.
//
// It discovers the AS (RFC 8414, or RFC 9728 from the protected resource),
// posts the caller's answers to the authorization challenge endpoint with
// client_secret_basic and a fresh PKCE S256 pair per attempt, exchanges the
// authorization code for an access token with golang.org/x/oauth2 (RFC 8707
// resource, no redirect_uri), and revokes tokens (RFC 7009). Every answer
// of the AS, including failures, becomes an [Outcome] the dialog can act on.
//
// The package keeps no state across calls: the caller carries auth_session
// from one [Result] to the next [Answers], and nothing holding personal data
// is cached.
package authclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// maxTokenLifetime clamps expires_in so a hostile value cannot overflow
// time arithmetic.
const maxTokenLifetime = 365 * 24 * time.Hour

// Config configures a [Client].
type Config struct {
	// Metadata is the AS metadata from [Discover] or [DiscoverFromResource].
	Metadata *Metadata
	// ClientID and ClientSecret authenticate the gateway with
	// client_secret_basic at every endpoint (IVR_CLIENT_ID, IVR_CLIENT_SECRET).
	ClientID, ClientSecret string
	// Scope is sent as scope when non-empty (IVR_SCOPE).
	Scope string
	// Resource is the RFC 8707 resource (IVR_RESOURCE, the MCP server's
	// URL), sent to the challenge and token endpoints when non-empty.
	Resource string
	// HTTPClient makes the requests; nil means a client with
	// DefaultTimeout. The Client works on a copy that refuses redirects and
	// caps response bodies at 64 KiB.
	HTTPClient *http.Client
	// Now is the clock for token expiry; nil means time.Now.
	Now func() time.Time
	// Timeout bounds one Verify, challenge and token exchange together, on
	// top of the caller's context; zero means DefaultTimeout.
	Timeout time.Duration
}

// Client talks to one authorization server. It is safe for concurrent use.
type Client struct {
	md       Metadata
	id, sec  string
	scope    string
	resource string
	hc       *http.Client
	now      func() time.Time
	timeout  time.Duration
	oauth    *oauth2.Config
}

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	switch {
	case cfg.Metadata == nil:
		return nil, errors.New("authclient: no metadata")
	case cfg.Metadata.AuthorizationChallengeEndpoint == "" || cfg.Metadata.TokenEndpoint == "":
		return nil, errors.New("authclient: metadata lacks the challenge or token endpoint")
	case cfg.ClientID == "" || cfg.ClientSecret == "":
		return nil, errors.New("authclient: client_secret_basic needs a client ID and a client secret")
	case cfg.Timeout < 0:
		return nil, errors.New("authclient: negative timeout")
	}
	for _, ep := range []string{cfg.Metadata.AuthorizationChallengeEndpoint, cfg.Metadata.TokenEndpoint, cfg.Metadata.RevocationEndpoint} {
		if _, err := parseSecureURL(ep); ep != "" && err != nil {
			return nil, fmt.Errorf("authclient: metadata endpoint %w", err)
		}
	}
	if cfg.Resource != "" {
		// RFC 8707 §2: an absolute URI without a fragment.
		u, err := url.Parse(cfg.Resource)
		if err != nil || !u.IsAbs() || u.Fragment != "" || strings.Contains(cfg.Resource, "#") {
			return nil, errors.New("authclient: resource must be an absolute URI without a fragment")
		}
	}
	c := &Client{
		md:       *cfg.Metadata,
		id:       cfg.ClientID,
		sec:      cfg.ClientSecret,
		scope:    cfg.Scope,
		resource: cfg.Resource,
		hc:       guardedClient(cfg.HTTPClient, false),
		now:      cfg.Now,
		timeout:  cfg.Timeout,
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	c.oauth = &oauth2.Config{
		ClientID:     c.id,
		ClientSecret: c.sec,
		// An explicit style: AutoDetect would re-send the one-time code with
		// body credentials after a failure.
		Endpoint: oauth2.Endpoint{TokenURL: c.md.TokenEndpoint, AuthStyle: oauth2.AuthStyleInHeader},
		// RedirectURL stays empty: FiPA §6 token requests carry no redirect_uri.
	}
	return c, nil
}

// Metadata returns a copy of the metadata the client uses.
func (c *Client) Metadata() Metadata {
	md := c.md
	md.CodeChallengeMethodsSupported = slices.Clone(md.CodeChallengeMethodsSupported)
	md.TokenEndpointAuthMethodsSupported = slices.Clone(md.TokenEndpointAuthMethodsSupported)
	return md
}

// Verify runs one attempt: a challenge request with a fresh PKCE verifier
// and, on an authorization code, the token exchange with that verifier. A
// step-up attempt (a.OTP set) sends auth_session and otp and leaves out the
// KBA answers. It maps every failure (5xx, timeout, bad JSON, unknown error)
// to an Outcome; Result.Err wraps ErrInvalidAnswers for programmer errors.
// ctx and Config.Timeout bound the whole attempt.
func (c *Client) Verify(ctx context.Context, a Answers) Result {
	res := Result{Outcome: Unavailable, AuthSession: a.AuthSession, AttemptsRemaining: -1}
	form, err := c.challengeForm(a)
	if err != nil {
		res.Err = err
		return res
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	// A fresh verifier per attempt: the AS binds the code to the
	// code_challenge of the request that issued it.
	verifier := oauth2.GenerateVerifier()
	form.Set("code_challenge", oauth2.S256ChallengeFromVerifier(verifier))
	form.Set("code_challenge_method", "S256")

	status, _, body, err := c.post(ctx, c.md.AuthorizationChallengeEndpoint, form)
	if err != nil {
		res.Err = fmt.Errorf("%w: challenge: %w", ErrUnavailable, err)
		return res
	}
	rep := parseReply("challenge", status, body)
	res.apply(rep)
	if rep.outcome != Verified {
		return res
	}
	return c.exchange(ctx, rep.code, verifier, res)
}

// apply copies a decoded reply into res, keeping the newest auth_session.
func (res *Result) apply(rep reply) {
	res.Outcome = rep.outcome
	res.Err = rep.err
	if rep.attempts >= 0 {
		res.AttemptsRemaining = rep.attempts
	}
	if rep.authSession != "" {
		res.AuthSession = rep.authSession
	}
	switch rep.outcome {
	case InvalidSession:
		// docs/as-profile.md: start over without auth_session.
		res.AuthSession = ""
	case OTPRequired:
		if res.AuthSession == "" {
			res.Outcome = Unavailable
			res.Err = fmt.Errorf("%w: challenge: otp_required without auth_session", ErrUnavailable)
		}
	case Verified:
		res.Err = nil
	}
}

// challengeForm builds the challenge request body of docs/as-profile.md, without
// the PKCE pair.
func (c *Client) challengeForm(a Answers) (url.Values, error) {
	form := url.Values{"response_type": {"code"}}
	if c.scope != "" {
		form.Set("scope", c.scope)
	}
	if c.resource != "" {
		form.Set("resource", c.resource)
	}
	if a.AuthSession != "" {
		form.Set("auth_session", a.AuthSession)
	}
	if a.OTP != "" {
		if a.AuthSession == "" {
			return nil, fmt.Errorf("%w: otp without auth_session", ErrInvalidAnswers)
		}
		form.Set("otp", a.OTP)
		return form, nil
	}
	if a.GivenName == "" && a.FamilyName == "" && a.Birthdate == "" && a.SSNLast4 == "" {
		return nil, fmt.Errorf("%w: nothing to send", ErrInvalidAnswers)
	}
	if a.Birthdate != "" {
		if _, err := time.Parse(time.DateOnly, a.Birthdate); err != nil {
			return nil, fmt.Errorf("%w: birthdate is not YYYY-MM-DD", ErrInvalidAnswers)
		}
	}
	if a.SSNLast4 != "" && !isDigits(a.SSNLast4, 4) {
		return nil, fmt.Errorf("%w: ssn_last4 is not four digits", ErrInvalidAnswers)
	}
	for _, f := range [...]struct{ k, v string }{
		{"given_name", a.GivenName},
		{"family_name", a.FamilyName},
		{"birthdate", a.Birthdate},
		{"ssn_last4", a.SSNLast4},
	} {
		if f.v != "" {
			form.Set(f.k, f.v)
		}
	}
	return form, nil
}

func isDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// post sends form to endpoint with client_secret_basic and returns the
// status, headers and capped body. Transport errors carry no form data.
func (c *Client) post(ctx context.Context, endpoint string, form url.Values) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 6749 §2.3.1: form-encode id and secret before Basic; the same
	// encoding x/oauth2 applies at the token endpoint.
	req.SetBasicAuth(url.QueryEscape(c.id), url.QueryEscape(c.sec))
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, nil, unwrapURLError(err)
	}
	defer resp.Body.Close()
	body, err := readBody(resp)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("HTTP %d: %w", resp.StatusCode, err)
	}
	return resp.StatusCode, resp.Header, body, nil
}

// exchange swaps code for a token (FiPA §6: grant_type=authorization_code,
// code, code_verifier, resource; no redirect_uri).
func (c *Client) exchange(ctx context.Context, code, verifier string, res Result) Result {
	opts := []oauth2.AuthCodeOption{oauth2.VerifierOption(verifier)}
	if c.resource != "" {
		opts = append(opts, oauth2.SetAuthURLParam("resource", c.resource))
	}
	tok, err := c.oauth.Exchange(context.WithValue(ctx, oauth2.HTTPClient, c.hc), code, opts...)
	if err != nil {
		res.Outcome = Unavailable
		if re, ok := errors.AsType[*oauth2.RetrieveError](err); ok && re.Response != nil {
			rep := parseReply("token", re.Response.StatusCode, re.Body)
			if rep.outcome == Verified { // an error answer cannot be success
				rep.outcome, rep.err = Unavailable, &ASError{Endpoint: "token", Status: re.Response.StatusCode, kind: ErrUnavailable}
			}
			res.apply(rep)
			return res
		}
		res.Err = fmt.Errorf("%w: token exchange: %w", ErrUnavailable, unwrapURLError(err))
		return res
	}
	t := &Token{
		AccessToken: tok.AccessToken,
		TokenType:   tok.Type(),
		Scope:       c.scope,
		Resource:    c.resource,
	}
	// RFC 6749 §5.1: scope is returned only when it differs from the request.
	if s, ok := tok.Extra("scope").(string); ok && s != "" {
		t.Scope = s
	}
	if tok.ExpiresIn > 0 {
		d := maxTokenLifetime
		if tok.ExpiresIn < int64(maxTokenLifetime/time.Second) {
			d = time.Duration(tok.ExpiresIn) * time.Second
		}
		t.ExpiresAt = c.now().Add(d)
	}
	// FiPA §6.1: the token response may carry a new auth_session.
	if as, ok := tok.Extra("auth_session").(string); ok && as != "" {
		res.AuthSession = as
	}
	res.Outcome = Verified
	res.Token = t
	res.Err = nil
	return res
}

// ErrRevocation is wrapped by the errors of [Client.Revoke].
var ErrRevocation = errors.New("authclient: revocation failed")

// Revoke revokes an access token at the revocation_endpoint (RFC 7009 §2.1,
// token_type_hint=access_token, client_secret_basic). It does nothing when
// the AS advertises no revocation_endpoint. A 503 with Retry-After is
// retried once, after the delay, if that fits in ctx and in DefaultTimeout.
// Errors wrap ErrRevocation and never contain the token.
func (c *Client) Revoke(ctx context.Context, token string) error {
	if c.md.RevocationEndpoint == "" {
		return nil
	}
	if token == "" {
		return fmt.Errorf("%w: empty token", ErrRevocation)
	}
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	for attempt := 0; ; attempt++ {
		status, hdr, body, err := c.post(ctx, c.md.RevocationEndpoint, form)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrRevocation, err)
		}
		if status == http.StatusOK { // §2.2: also for tokens already invalid
			return nil
		}
		if status == http.StatusServiceUnavailable && attempt == 0 {
			if wait, ok := c.retryAfter(ctx, hdr.Get("Retry-After")); ok {
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return fmt.Errorf("%w: waiting to retry: %w", ErrRevocation, ctx.Err())
				case <-t.C:
				}
				continue
			}
		}
		var w wireReply
		_ = decodeObject(body, &w) // best effort: the code only enriches the error
		return &ASError{Endpoint: "revocation", Status: status, Code: w.Error, kind: ErrRevocation}
	}
}

// retryAfter parses Retry-After (delay-seconds or an HTTP-date, RFC 9110
// §10.2.3) and reports whether waiting that long still leaves ctx time for
// the retry.
func (c *Client) retryAfter(ctx context.Context, h string) (time.Duration, bool) {
	if h == "" {
		return 0, false
	}
	now := c.now()
	var wait time.Duration
	if n, err := strconv.Atoi(h); err == nil {
		if n < 0 || n > int(DefaultTimeout/time.Second) {
			return 0, false
		}
		wait = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(h); err == nil {
		wait = max(t.Sub(now), 0)
	} else {
		return 0, false
	}
	if wait > DefaultTimeout {
		return 0, false
	}
	if dl, ok := ctx.Deadline(); ok && !now.Add(wait).Before(dl) {
		return 0, false
	}
	return wait, true
}
