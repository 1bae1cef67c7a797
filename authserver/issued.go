package authserver

import (
	"crypto/sha256"
	"sync"
	"time"
)

// issuedCap bounds how many tokens issuedTokens remembers (two generations
// of half each): enough for the calls of a busy quarter hour.
const issuedCap = 20000

// issuedTokens remembers the access tokens this process signed, by the
// SHA-256 of the token, with what revoking one needs. A token whose hash
// is here is byte for byte one this server signed, so its revocation
// skips the ES256 verification (about 50 µs, the most of a revocation's
// CPU). It is a cache only: a token signed by another instance, or one
// forgotten, is verified as before, and nothing else reads it.
type issuedTokens struct {
	mu       sync.Mutex
	cur, old map[[32]byte]issuedToken
	max      int
}

// issuedToken is what a revocation needs of a token.
type issuedToken struct {
	id, client string
	exp        time.Time
}

func newIssuedTokens(max int) *issuedTokens {
	return &issuedTokens{cur: make(map[[32]byte]issuedToken), old: make(map[[32]byte]issuedToken), max: max}
}

func (t *issuedTokens) put(token string, it issuedToken) {
	h := sha256.Sum256([]byte(token))
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.cur) >= t.max/2 {
		t.old, t.cur = t.cur, make(map[[32]byte]issuedToken, t.max/2)
	}
	t.cur[h] = it
}

func (t *issuedTokens) get(token string) (issuedToken, bool) {
	h := sha256.Sum256([]byte(token))
	t.mu.Lock()
	defer t.mu.Unlock()
	if it, ok := t.cur[h]; ok {
		return it, true
	}
	it, ok := t.old[h]
	return it, ok
}
