package authclient

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// ErrBadCredentials is wrapped by [Client.CheckCredentials] when the AS
// refuses the client: HTTP 401, or error=invalid_client (RFC 6749 §5.2).
var ErrBadCredentials = errors.New("authclient: the AS refused the client credentials")

// CheckCredentials makes one harmless authenticated request, so that a wrong
// client ID or secret is found when the gateway starts rather than at the
// first caller's verification (where it would only look like an AS outage).
//
// When the AS advertises a revocation endpoint, the request is an RFC 7009
// revocation of a random token: §2.2 answers 200 for any token, valid or
// not, once the client is authenticated, and 401 invalid_client otherwise.
// Without one it is a token request for a random authorization code, which
// a good client gets refused with invalid_grant and a bad one with
// invalid_client. Neither changes anything at the AS.
//
// It returns nil when the AS accepted the client; an error wrapping
// ErrBadCredentials when it refused it; an [*ASError] wrapping
// ErrMisconfigured when it accepted the client but refused the request for
// another reason of configuration (unauthorized_client,
// unsupported_grant_type, ...); and an error wrapping ErrUnavailable when
// the answer decides nothing (unreachable, 5xx, an unexpected answer).
// Errors never contain the secret.
func (c *Client) CheckCredentials(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	endpoint, name, form := c.md.RevocationEndpoint, "revocation", url.Values{
		"token": {rand.Text()}, "token_type_hint": {"access_token"},
	}
	if endpoint == "" {
		endpoint, name, form = c.md.TokenEndpoint, "token", url.Values{
			"grant_type":    {"authorization_code"},
			"code":          {rand.Text()},
			"code_verifier": {rand.Text() + rand.Text()},
		}
		if c.resource != "" {
			form.Set("resource", c.resource)
		}
	}
	status, _, body, err := c.post(ctx, endpoint, form)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, name, err)
	}
	var w wireReply
	_ = decodeObject(body, &w) // a 200 revocation answer has no body
	asErr := func(kind error) error { return &ASError{Endpoint: name, Status: status, Code: w.Error, kind: kind} }
	switch {
	case status == http.StatusUnauthorized || w.Error == "invalid_client":
		return asErr(ErrBadCredentials)
	case name == "revocation" && status == http.StatusOK:
		return nil
	case name == "token" && status == http.StatusBadRequest && w.Error == "invalid_grant":
		return nil
	case status == http.StatusBadRequest && w.Error != "" && w.Error != "invalid_request":
		// Authenticated, yet refused: the client may not do what the
		// gateway needs of it (unauthorized_client, unsupported_grant_type,
		// invalid_target, ...).
		return asErr(ErrMisconfigured)
	}
	return asErr(ErrUnavailable)
}
