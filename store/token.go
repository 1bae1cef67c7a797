package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ivr-gateway/ivr"
)

// Token is the access token stored for a verified call (docs/redis.md).
type Token = ivr.Token

// Hash fields of P token:{CallSid} (docs/redis.md).
const (
	fAccessToken = "access_token"
	fTokenType   = "token_type"
	fExpiresAt   = "expires_at"
	fScope       = "scope"
	fResource    = "resource"
)

// tokenFields is the token hash for callSid, its access token sealed
// (seal.go: AES-256-GCM under the session key, bound to the call and to
// this field), so that whoever reads Redis (a replica, a backup, MONITOR)
// cannot act as the patient, and a sealed token copied to another call does
// not open there.
func (s *Store) tokenFields(callSid string, t Token) ([]any, error) {
	sealed, err := s.sealAD(tokenAD(callSid), []byte(t.AccessToken))
	if err != nil {
		return nil, err
	}
	return []any{
		fAccessToken, sealed,
		fTokenType, t.TokenType,
		fExpiresAt, t.ExpiresAt.UTC().Format(time.RFC3339),
		fScope, t.Scope,
		fResource, t.Resource,
	}, nil
}

// errTokenUnopenable: the token hash exists but its access token does not
// open (another call's, another key's, tampered with): for the agent the
// token does not exist.
var errTokenUnopenable = fmt.Errorf("%w: %w", ErrNotFound, ErrSealBroken)

// decodeToken parses callSid's token hash and opens its access token. An
// empty or expired hash is ErrNotFound; one whose access token does not open
// is an error wrapping both ErrNotFound and ErrSealBroken.
func (s *Store) decodeToken(callSid string, m map[string]string, now time.Time) (Token, error) {
	if len(m) == 0 || m[fAccessToken] == "" {
		return Token{}, ErrNotFound
	}
	exp, err := time.Parse(time.RFC3339, m[fExpiresAt])
	if err != nil {
		return Token{}, errors.New("corrupt token: bad expires_at")
	}
	if !exp.After(now) {
		// Redis expiry is the rule; this covers clock skew between us and it.
		return Token{}, ErrNotFound
	}
	access, err := s.openAD(tokenAD(callSid), []byte(m[fAccessToken]))
	if err != nil || len(access) == 0 {
		return Token{}, errTokenUnopenable
	}
	return Token{
		AccessToken: string(access),
		TokenType:   m[fTokenType],
		Scope:       m[fScope],
		Resource:    m[fResource],
		ExpiresAt:   exp,
	}, nil
}

// Token returns the call's access token, unsealed, or ErrNotFound when there
// is none or it has expired. A token that does not open (sealed for another
// call, under a key that is neither the current nor a previous one, or
// tampered with) is not found either: the error wraps ErrNotFound and
// ErrSealBroken. Tokens are written by Save (SaveExtras.Token).
func (s *Store) Token(ctx context.Context, callSid string) (Token, error) {
	if err := checkSid(callSid); err != nil {
		return Token{}, err
	}
	m, err := s.rdb.HGetAll(ctx, s.tokenKey(callSid)).Result()
	if err != nil {
		return Token{}, fmt.Errorf("store: token %s: %w", callSid, err)
	}
	t, err := s.decodeToken(callSid, m, s.now())
	if err != nil {
		return Token{}, fmt.Errorf("store: token %s: %w", callSid, err)
	}
	return t, nil
}

// DeleteToken deletes the call's token; a missing token is not an error.
func (s *Store) DeleteToken(ctx context.Context, callSid string) error {
	if err := checkSid(callSid); err != nil {
		return err
	}
	if err := s.rdb.Del(ctx, s.tokenKey(callSid)).Err(); err != nil {
		return fmt.Errorf("store: delete token %s: %w", callSid, err)
	}
	return nil
}

// WaitToken blocks until the call's token exists or ctx ends (long-poll for
// the agent API), returning ctx's error wrapped, or ErrClosed after Close.
//
// Wake-ups come from Pub/Sub (notify.go): one subscription per Store to the
// classic channel P notify (single and Sentinel mode), or, on a Redis
// Cluster, sharded subscriptions to P notify:{CallSid} multiplexed over one
// connection per primary. The waiter is registered, and its subscription
// confirmed, before the key is checked, so a token written at any moment
// after that check wakes it. A wake-up is only a hint to look again: after a
// reconnect or a slot move every affected waiter re-checks the token key,
// since a notification may have been missed meanwhile.
func (s *Store) WaitToken(ctx context.Context, callSid string) (Token, error) {
	if err := checkSid(callSid); err != nil {
		return Token{}, err
	}
	wake, unregister, err := s.notify.register(ctx, callSid)
	if err != nil {
		return Token{}, fmt.Errorf("store: wait token %s: %w", callSid, err)
	}
	defer unregister()
	for {
		t, err := s.Token(ctx, callSid)
		if !errors.Is(err, ErrNotFound) {
			return t, err
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return Token{}, fmt.Errorf("store: wait token %s: %w", callSid, ctx.Err())
		case <-s.notify.done():
			return Token{}, fmt.Errorf("store: wait token %s: %w", callSid, ErrClosed)
		}
	}
}
