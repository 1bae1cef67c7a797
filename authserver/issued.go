package authserver

import (
	"crypto/sha256"
	"time"

	"github.com/ivr-gateway/ivr/internal/genmap"
)

// issuedCap bounds how many tokens issuedTokens remembers (two generations
// of half each): enough for the calls of a busy quarter hour.
const issuedCap = 20000

// issuedTokens remembers the access tokens this process signed, by the
// SHA-256 of the token, with what revoking one needs. A token whose hash
// is here is byte for byte one this server signed, so its revocation
// skips the ES256 verification (about 50 µs, the most of a revocation's
// CPU). It is a cache only: a token signed by another instance, or one
// forgotten (internal/genmap bounds it), is verified as before, and
// nothing else reads it.
type issuedTokens struct {
	byHash *genmap.Map[[32]byte, issuedToken]
}

// issuedToken is what a revocation needs of a token.
type issuedToken struct {
	id, client string
	exp        time.Time
}

func newIssuedTokens(max int) *issuedTokens {
	return &issuedTokens{byHash: genmap.New[[32]byte, issuedToken](max)}
}

func (t *issuedTokens) put(token string, it issuedToken) {
	t.byHash.Put(sha256.Sum256([]byte(token)), it)
}

func (t *issuedTokens) get(token string) (issuedToken, bool) {
	return t.byHash.Get(sha256.Sum256([]byte(token)))
}
