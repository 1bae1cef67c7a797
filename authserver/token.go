package authserver

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/redis/go-redis/v9"
)

// accessClaims are the RFC 9068 claims of an access token beyond the
// registered ones.
type accessClaims struct {
	Scope    string `json:"scope,omitempty"`
	ClientID string `json:"client_id"`
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope,omitempty"`
}

var tokenParams = []string{"grant_type", "code", "code_verifier", "resource", "redirect_uri", "client_id", "scope"}

// handleToken is the token endpoint for grant_type=authorization_code
// (RFC 6749 §4.1.3, FiPA §6, RFC 7636 §4.5, RFC 8707 §2.2).
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	reg, ok := s.clients.authenticate(r)
	if !ok {
		s.logOutcome(ctx, "token", "", "invalid_client", nil)
		writeError(w, errInvalidClient())
		return
	}
	res, outcome, err := s.token(ctx, reg.id, r)
	s.respond(ctx, w, "token", reg.id, res, outcome, err)
}

func invalidGrant(desc string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, Code: "invalid_grant", Description: desc}
}

func (s *Server) token(ctx context.Context, client string, r *http.Request) (any, string, error) {
	form := r.PostForm
	for _, p := range tokenParams {
		if len(form[p]) > 1 {
			return errRequest("parameter " + p + " repeated"), "invalid_request", nil
		}
	}
	if id := form.Get("client_id"); id != "" && id != client {
		return errRequest("client_id does not match the authenticated client"), "invalid_request", nil
	}
	gt := form.Get("grant_type")
	switch {
	case gt == "":
		return errRequest("grant_type is required"), "invalid_request", nil
	case gt != "authorization_code":
		return &oauthError{status: http.StatusBadRequest, Code: "unsupported_grant_type"}, "unsupported_grant_type", nil
	}
	code, verifier, resource := form.Get("code"), form.Get("code_verifier"), form.Get("resource")
	switch {
	case code == "":
		return errRequest("code is required"), "invalid_request", nil
	case verifier == "":
		return errRequest("code_verifier is required (PKCE)"), "invalid_request", nil
	case !validVerifier(verifier):
		return errRequest("code_verifier must be 43-128 unreserved characters"), "invalid_request", nil
	case resource != "" && !validResource(resource):
		return &oauthError{status: http.StatusBadRequest, Code: "invalid_target"}, "invalid_target", nil
	case form.Has("scope") && !validScope(form.Get("scope")):
		return &oauthError{status: http.StatusBadRequest, Code: "invalid_scope"}, "invalid_scope", nil
	}
	// redirect_uri is accepted and ignored: a challenge-endpoint code was
	// never issued to one (FiPA §6).

	// GETDEL makes the code single-use: any failure below burns it too,
	// so a PKCE verifier cannot be guessed twice against one code.
	if len(code) > 256 {
		return invalidGrant("unknown, used or expired code"), "invalid_grant", nil
	}
	raw, err := s.rdb.GetDel(ctx, s.key("code", mac(s.hashKey, macCode, code))).Bytes()
	if err == redis.Nil {
		return invalidGrant("unknown, used or expired code"), "invalid_grant", nil
	}
	if err != nil {
		return nil, "error", fmt.Errorf("authserver: redeem code: %w", err)
	}
	var g codeGrant
	if err := json.Unmarshal(raw, &g); err != nil {
		return nil, "error", fmt.Errorf("authserver: stored code: %w", err)
	}
	now := s.now()
	switch {
	case now.UnixMilli() >= g.Exp:
		return invalidGrant("unknown, used or expired code"), "invalid_grant", nil
	case subtle.ConstantTimeCompare([]byte(g.Client), []byte(client)) != 1:
		return invalidGrant("unknown, used or expired code"), "invalid_grant_client", nil
	case subtle.ConstantTimeCompare([]byte(pkceS256(verifier)), []byte(g.Challenge)) != 1:
		return invalidGrant("code_verifier does not match code_challenge"), "pkce_mismatch", nil
	case resource != "" && resource != g.Resource:
		return &oauthError{status: http.StatusBadRequest, Code: "invalid_target", Description: "resource differs from the authorization request"}, "invalid_target", nil
	}
	// The token never holds more than the code: a scope sent here may only
	// narrow it (the code is burnt either way).
	scope := g.Scope
	if form.Has("scope") {
		scope = normalScope(form.Get("scope"))
		granted := strings.Fields(g.Scope)
		for sc := range strings.FieldsSeq(scope) {
			if !slices.Contains(granted, sc) {
				return &oauthError{status: http.StatusBadRequest, Code: "invalid_scope", Description: "scope exceeds the authorization request"}, "invalid_scope", nil
			}
		}
	}
	aud := g.Resource
	if aud == "" {
		// No resource requested: the token names the client, so no
		// resource server accepts it by accident.
		aud = client
	}
	jti, err := s.randToken(16)
	if err != nil {
		return nil, "error", err
	}
	exp := now.Add(s.ttl)
	tok, err := jwt.Signed(s.signer).
		Claims(jwt.Claims{
			Issuer:   s.issuer,
			Subject:  g.Sub,
			Audience: jwt.Audience{aud},
			Expiry:   jwt.NewNumericDate(exp),
			IssuedAt: jwt.NewNumericDate(now),
			ID:       jti,
		}).
		Claims(accessClaims{Scope: scope, ClientID: client}).
		Serialize()
	if err != nil {
		return nil, "error", fmt.Errorf("authserver: sign token: %w", err)
	}
	s.issued.put(tok, issuedToken{id: jti, client: client, exp: jwt.NewNumericDate(exp).Time()})
	return tokenResponse{AccessToken: tok, TokenType: "Bearer", ExpiresIn: int64(s.ttl / time.Second), Scope: scope}, "token", nil
}

func pkceS256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// validVerifier: 43-128 characters of [A-Za-z0-9-._~] (RFC 7636 §4.1).
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := range len(v) {
		c := v[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// handleRevoke is the RFC 7009 revocation endpoint. It answers 200 for
// unknown, invalid, expired and other clients' tokens alike (§2.2), so it
// is no oracle for token validity.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	reg, ok := s.clients.authenticate(r)
	if !ok {
		s.logOutcome(ctx, "revoke", "", "invalid_client", nil)
		writeError(w, errInvalidClient())
		return
	}
	client := reg.id
	form := r.PostForm
	if len(form["token"]) != 1 || form.Get("token") == "" {
		s.logOutcome(ctx, "revoke", client, "invalid_request", nil)
		writeError(w, errRequest("exactly one token is required"))
		return
	}
	// token_type_hint is ignored: access tokens are the only kind (§2.1
	// says to search all types when the hint does not fit).
	outcome, err := s.revoke(ctx, client, form.Get("token"))
	s.logOutcome(ctx, "revoke", client, outcome, err)
	if err != nil {
		writeError(w, errUnavailable())
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) revoke(ctx context.Context, client, token string) (string, error) {
	it, ok := s.issued.get(token) // signed here: no signature to check
	if !ok {
		c, err := s.verify(token)
		if err != nil {
			return "not_ours", nil
		}
		it = issuedToken{id: c.ID, client: c.ClientID, exp: c.Expiry.Time()}
	}
	if it.client != client {
		return "other_client", nil
	}
	ttl := it.exp.Sub(s.now())
	if ttl <= 0 {
		return "expired", nil
	}
	if err := s.rdb.Set(ctx, s.prefix+"revoked:"+it.id, 1, ttl).Err(); err != nil {
		return "error", fmt.Errorf("authserver: revoke: %w", err)
	}
	return "revoked", nil
}

// tokenClaims are the verified claims of one of our access tokens.
type tokenClaims struct {
	jwt.Claims
	accessClaims
}

// verify checks the signature of one of our tokens (not its expiry).
func (s *Server) verify(token string) (tokenClaims, error) {
	var c tokenClaims
	if len(token) > 4096 {
		return c, fmt.Errorf("authserver: token too long")
	}
	t, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return c, fmt.Errorf("authserver: parse token: %w", err)
	}
	if err := t.Claims(s.pub.Key, &c.Claims, &c.accessClaims); err != nil {
		return c, fmt.Errorf("authserver: token signature: %w", err)
	}
	if c.ID == "" || c.Expiry == nil {
		return c, fmt.Errorf("authserver: token without jti or exp")
	}
	return c, nil
}

// Revoked reports whether the access token with this jti was revoked. The
// mark is kept until the token would have expired, so a resource server
// sharing the Redis checks it after validating the token.
func (s *Server) Revoked(ctx context.Context, jti string) (bool, error) {
	return RevocationList(s.rdb, s.prefix)(ctx, jti)
}

// RevocationList returns the revocation check of the AS whose state lives
// in rdb under prefix ("" means the default "ivras:"), for a resource server
// that runs in another process but shares the Redis.
func RevocationList(rdb redis.UniversalClient, prefix string) func(ctx context.Context, jti string) (bool, error) {
	if prefix == "" {
		prefix = "ivras:"
	}
	return func(ctx context.Context, jti string) (bool, error) {
		n, err := rdb.Exists(ctx, prefix+"revoked:"+jti).Result()
		if err != nil {
			return false, fmt.Errorf("authserver: revoked: %w", err)
		}
		return n > 0, nil
	}
}

// ErrInvalidToken is returned by VerifyAccessToken for any token that must
// not be accepted; the wrapped message says which check failed.
var ErrInvalidToken = errors.New("authserver: invalid access token")

// AccessToken holds the verified claims of an access token.
type AccessToken struct {
	ID       string // jti
	Subject  string // the patient id
	ClientID string
	Scope    string
	Audience []string
	IssuedAt time.Time
	Expiry   time.Time
}

// VerifyAccessToken checks an access token for a resource server that runs
// with this Server (the demo MCP server): ES256 signature with this server's
// key, issuer, audience (when audience is not empty), expiry by
// Config.Now, and revocation. Resource servers elsewhere use jwks_uri and
// Revoked instead.
func (s *Server) VerifyAccessToken(ctx context.Context, token, audience string) (AccessToken, error) {
	c, err := s.verify(token)
	if err != nil {
		return AccessToken{}, fmt.Errorf("%w: signature", ErrInvalidToken)
	}
	exp := jwt.Expected{Issuer: s.issuer, Time: s.now()}
	if audience != "" {
		exp.AnyAudience = jwt.Audience{audience}
	}
	if err := c.Claims.ValidateWithLeeway(exp, 0); err != nil {
		return AccessToken{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	// RFC 7519 §4.1.4: the current time MUST be before exp (go-jose
	// accepts the exp second itself).
	if !s.now().Before(c.Expiry.Time()) {
		return AccessToken{}, fmt.Errorf("%w: expired", ErrInvalidToken)
	}
	revoked, err := s.Revoked(ctx, c.ID)
	if err != nil {
		return AccessToken{}, err
	}
	if revoked {
		return AccessToken{}, fmt.Errorf("%w: revoked", ErrInvalidToken)
	}
	at := AccessToken{ID: c.ID, Subject: c.Subject, ClientID: c.ClientID, Scope: c.Scope, Audience: c.Audience, Expiry: c.Expiry.Time()}
	if c.IssuedAt != nil {
		at.IssuedAt = c.IssuedAt.Time()
	}
	return at, nil
}
