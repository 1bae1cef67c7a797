package store

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// FuzzOpen feeds arbitrary bytes to the answer opener, as if the answers
// field in Redis had been overwritten: it must fail cleanly, never panic, and
// open only what it sealed itself.
func FuzzOpen(f *testing.F) {
	// New does no I/O, so the client never dials.
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	f.Cleanup(func() { rdb.Close() })
	s, err := New(rdb, Options{SessionKey: testKey})
	if err != nil {
		f.Fatal(err)
	}
	good, err := s.seal("CA1", []byte("answers"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, "CA1")
	f.Add(good, "CA2")
	f.Add([]byte{}, "CA1")
	f.Add([]byte{1}, "CA1")
	f.Add(bytes.Repeat([]byte{1}, 40), "CA1")
	f.Fuzz(func(t *testing.T, sealed []byte, sid string) {
		plain, err := s.open(sid, sealed)
		if err != nil {
			if !errors.Is(err, ErrSealBroken) {
				t.Fatalf("open: err = %v, want ErrSealBroken", err)
			}
			return
		}
		// Fuzz workers seal their own seed with another nonce, so any
		// value that opens must be one of ours: CA1's "answers".
		if sid != "CA1" || string(plain) != "answers" {
			t.Fatalf("opened %d bytes sealed by nobody", len(sealed))
		}
	})
}

// FuzzDecodeSession feeds arbitrary hash fields to the session decoder: it
// must reject or accept them without panicking, and what it accepts must be a
// valid session.
func FuzzDecodeSession(f *testing.F) {
	f.Add("3", "collecting", "1", "", "2026-01-05T10:00:00Z", "d")
	f.Add("1", "verified", "2", "2026-01-05T10:00:00.5Z", "", "")
	f.Add("x", "", "-1", "yesterday", "now", "")
	f.Fuzz(func(t *testing.T, step, phase, attempts, verifiedAt, createdAt, dialog string) {
		m := map[string]string{
			fStep: step, fPhase: phase, fAttempts: attempts,
			fVerifiedAt: verifiedAt, fCreatedAt: createdAt, fDialog: dialog,
		}
		sess, err := decodeSession("CA1", m)
		if err != nil {
			return
		}
		if sess.Step <= 0 || !sess.Phase.Valid() || sess.Attempts < 0 {
			t.Fatalf("accepted an invalid session: %v", sess)
		}
		if verifiedAt != "" && sess.VerifiedAt.Equal(time.Time{}) && verifiedAt != "0001-01-01T00:00:00Z" {
			t.Fatalf("verified_at %q accepted but lost", verifiedAt)
		}
	})
}

// FuzzDecodeToken does the same for the token hash: whatever the hash holds,
// the decoder rejects it or returns an unexpired token that this store
// sealed for this call (CA1's "at-secret"), never anything else.
func FuzzDecodeToken(f *testing.F) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	f.Cleanup(func() { rdb.Close() })
	s, err := New(rdb, Options{SessionKey: testKey, PreviousSessionKeys: [][]byte{bytes.Repeat([]byte{9}, 32)}})
	if err != nil {
		f.Fatal(err)
	}
	fields, err := s.tokenFields("CA1", Token{AccessToken: "at-secret", TokenType: "Bearer"})
	if err != nil {
		f.Fatal(err)
	}
	good := fields[1].([]byte)
	f.Add(good, "CA1", "Bearer", "2026-01-05T10:00:00Z")
	f.Add(good, "CA2", "Bearer", "2026-01-05T10:00:00Z")
	f.Add(good, "CA1", "Bearer", "2026-01-05T08:00:00Z")
	f.Add([]byte("at"), "CA1", "Bearer", "2026-01-05T10:00:00Z")
	f.Add([]byte{}, "", "", "")
	f.Add(good, "CA1", "", "not a time")
	now := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, access []byte, sid, typ, exp string) {
		tok, err := s.decodeToken(sid, map[string]string{fAccessToken: string(access), fTokenType: typ, fExpiresAt: exp}, now)
		if err != nil {
			return
		}
		if sid != "CA1" || tok.AccessToken != "at-secret" || !tok.ExpiresAt.After(now) {
			t.Fatalf("accepted a token this store did not seal for this call, or an expired one")
		}
	})
}
