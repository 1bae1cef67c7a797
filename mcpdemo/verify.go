package mcpdemo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/modelcontextprotocol/go-sdk/auth"
)

const (
	// leeway absorbs clock skew between the AS and this server on exp,
	// nbf and iat.
	leeway = 30 * time.Second
	// jwksMaxAge bounds how long a fetched key set is trusted without a
	// refetch, so keys the AS retired stop being accepted.
	jwksMaxAge = time.Hour
	// jwksMinRefetch rate-limits refetches caused by unknown kids, so a
	// stream of forged kids cannot turn into a stream of JWKS requests.
	jwksMinRefetch = 10 * time.Second
	// maxJWKSBytes bounds the JWKS response body.
	maxJWKSBytes = 1 << 20
	// maxTokenBytes bounds the token before it is parsed.
	maxTokenBytes = 8 << 10
)

// Rejection kinds. Each wraps auth.ErrInvalidToken, which makes the SDK
// middleware answer 401; test with errors.Is.
var (
	ErrMalformedToken = fmt.Errorf("mcpdemo: malformed token: %w", auth.ErrInvalidToken)
	ErrUnknownKey     = fmt.Errorf("mcpdemo: unknown signing key: %w", auth.ErrInvalidToken)
	ErrBadSignature   = fmt.Errorf("mcpdemo: bad signature: %w", auth.ErrInvalidToken)
	ErrWrongIssuer    = fmt.Errorf("mcpdemo: wrong issuer: %w", auth.ErrInvalidToken)
	ErrWrongAudience  = fmt.Errorf("mcpdemo: token not issued for this resource: %w", auth.ErrInvalidToken)
	ErrExpired        = fmt.Errorf("mcpdemo: token expired or not yet valid: %w", auth.ErrInvalidToken)
	ErrMissingClaim   = fmt.Errorf("mcpdemo: required claim missing: %w", auth.ErrInvalidToken)
	ErrRevoked        = fmt.Errorf("mcpdemo: token revoked: %w", auth.ErrInvalidToken)
)

// reasonOf names a rejection for logs, without any token content.
func reasonOf(err error) string {
	for _, k := range []struct {
		err  error
		name string
	}{
		{ErrMalformedToken, "malformed"},
		{ErrUnknownKey, "unknown_kid"},
		{ErrBadSignature, "bad_signature"},
		{ErrWrongIssuer, "wrong_issuer"},
		{ErrWrongAudience, "wrong_audience"},
		{ErrExpired, "expired"},
		{ErrMissingClaim, "missing_claim"},
		{ErrRevoked, "revoked"},
	} {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	return "error"
}

// accessClaims are the JWT claims this server reads (RFC 9068 §2.2).
type accessClaims struct {
	jwt.Claims
	Scope    string `json:"scope"`
	ClientID string `json:"client_id"`
}

// verifier validates ES256 access tokens against the AS's JWKS.
type verifier struct {
	resource string
	issuer   string
	revoked  func(ctx context.Context, jti string) (bool, error)
	now      func() time.Time
	keys     *jwksCache
}

// verify returns the token's info or an error: one of the Err* kinds above
// for a token that is not acceptable, or a wrapped infrastructure error
// (JWKS or revocation store unreachable) that the middleware answers 500.
func (v *verifier) verify(ctx context.Context, raw string) (*auth.TokenInfo, error) {
	if len(raw) > maxTokenBytes {
		return nil, ErrMalformedToken
	}
	// Only ES256 is accepted: "none", HS256 (key confusion with the public
	// key) and everything else fail here, before any key is looked up.
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil || len(tok.Headers) != 1 {
		return nil, ErrMalformedToken
	}
	kid := tok.Headers[0].KeyID
	if kid == "" {
		return nil, ErrUnknownKey
	}
	key, err := v.keys.key(ctx, kid)
	if err != nil {
		return nil, err
	}
	var c accessClaims
	if err := tok.Claims(key, &c); err != nil {
		return nil, ErrBadSignature
	}

	if c.Expiry == nil || c.Subject == "" || c.ID == "" {
		return nil, ErrMissingClaim
	}
	err = c.ValidateWithLeeway(jwt.Expected{
		Issuer:      v.issuer,
		AnyAudience: jwt.Audience{v.resource},
		Time:        v.now(),
	}, leeway)
	switch {
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return nil, ErrWrongIssuer
	case errors.Is(err, jwt.ErrInvalidAudience):
		return nil, ErrWrongAudience
	case err != nil:
		return nil, ErrExpired
	}

	revoked, err := v.revoked(ctx, c.ID)
	if err != nil {
		return nil, fmt.Errorf("mcpdemo: revocation check: %w", err)
	}
	if revoked {
		return nil, ErrRevoked
	}
	return &auth.TokenInfo{
		Scopes: strings.Fields(c.Scope),
		// Expiration stays zero on purpose: see Server.routes.
		// UserID binds the MCP session to the patient: the SDK refuses a
		// session id presented with another subject's token.
		UserID: c.Subject,
		Extra:  map[string]any{"jti": c.ID, "client_id": c.ClientID, "exp": c.Expiry.Time()},
	}, nil
}

// jwksCache holds the AS's public keys, fetched lazily and refetched when a
// token names a kid it does not know (key rotation) or the set is old.
type jwksCache struct {
	url    string
	client *http.Client
	now    func() time.Time

	fetchMu sync.Mutex // one fetch at a time

	mu        sync.Mutex
	set       jose.JSONWebKeySet
	fetchedAt time.Time
}

// key returns the ES256 verification key with this kid, or ErrUnknownKey.
func (c *jwksCache) key(ctx context.Context, kid string) (any, error) {
	if k, ok := c.cached(kid); ok {
		return k, nil
	}
	c.fetchMu.Lock()
	defer c.fetchMu.Unlock()
	// Another request may have fetched while this one waited.
	if k, ok := c.cached(kid); ok {
		return k, nil
	}
	c.mu.Lock()
	recent := !c.fetchedAt.IsZero() && c.now().Sub(c.fetchedAt) < jwksMinRefetch
	c.mu.Unlock()
	if recent {
		return nil, ErrUnknownKey
	}
	set, err := c.fetch(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.set, c.fetchedAt = set, c.now()
	c.mu.Unlock()
	if k, ok := c.cached(kid); ok {
		return k, nil
	}
	return nil, ErrUnknownKey
}

// cached looks kid up in a fresh-enough set. Keys of another type or
// algorithm are ignored, so an RSA or symmetric key cannot be confused with
// the ES256 one.
func (c *jwksCache) cached(kid string) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fetchedAt.IsZero() || c.now().Sub(c.fetchedAt) >= jwksMaxAge {
		return nil, false
	}
	for _, k := range c.set.Key(kid) {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != string(jose.ES256) {
			continue
		}
		if !k.IsPublic() || !k.Valid() {
			continue
		}
		return k.Key, true
	}
	return nil, false
}

func (c *jwksCache) fetch(ctx context.Context) (jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return set, fmt.Errorf("mcpdemo: jwks request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return set, fmt.Errorf("mcpdemo: jwks fetch: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return set, fmt.Errorf("mcpdemo: jwks fetch: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes))
	if err != nil {
		return set, fmt.Errorf("mcpdemo: jwks read: %w", err)
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return set, fmt.Errorf("mcpdemo: jwks decode: %w", err)
	}
	return set, nil
}
