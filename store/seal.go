package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
)

// Sealed values (the answers in P call:{CallSid}, the access token in
// P token:{CallSid}) are
//
//	version (1 byte) | nonce (12 bytes, random) | AES-256-GCM ciphertext and tag
//
// under IVR_SESSION_KEY. The associated data binds a value to its call and
// its use: the answers are sealed with the call SID alone, the access token
// with tokenLabel, a NUL and the call SID. A call SID holds no NUL
// (checkSid), so no value opens in another call or in the other field.
// Opening tries the current key, then each previous key (key rotation);
// sealing always uses the current key.

// sealVersion prefixes every sealed value so a later format change can
// tell old values apart.
const sealVersion = 1

// tokenLabel is the associated data's prefix for access tokens.
const tokenLabel = "ivr-gateway store access_token v1"

func answersAD(callSid string) []byte { return []byte(callSid) }

func tokenAD(callSid string) []byte { return []byte(tokenLabel + "\x00" + callSid) }

// newAEADs returns AES-256-GCM for the current key and then the previous
// ones, skipping repeats. Every key must be 32 bytes.
func newAEADs(current []byte, previous [][]byte) ([]cipher.AEAD, error) {
	var out []cipher.AEAD
	seen := map[string]bool{}
	for i, k := range append([][]byte{current}, previous...) {
		if len(k) != 32 {
			what := "session key"
			if i > 0 {
				what = fmt.Sprintf("previous session key %d", i)
			}
			return nil, fmt.Errorf("%w: %s must be 32 bytes, got %d", ErrInvalid, what, len(k))
		}
		if seen[string(k)] {
			continue
		}
		seen[string(k)] = true
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("store: session key: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("store: session key: %w", err)
		}
		out = append(out, aead)
	}
	return out, nil
}

// seal encrypts the answers of callSid with a random nonce.
func (s *Store) seal(callSid string, plain []byte) ([]byte, error) {
	return s.sealAD(answersAD(callSid), plain)
}

// open opens answers sealed by seal for callSid, under the current or a
// previous key; anything else is ErrSealBroken.
func (s *Store) open(callSid string, sealed []byte) ([]byte, error) {
	return s.openAD(answersAD(callSid), sealed)
}

func (s *Store) sealAD(ad, plain []byte) ([]byte, error) {
	aead := s.aeads[0]
	ns := aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plain)+aead.Overhead())
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("store: seal: %w", err)
	}
	return aead.Seal(out, out[1:], plain, ad), nil
}

func (s *Store) openAD(ad, sealed []byte) ([]byte, error) {
	for _, aead := range s.aeads {
		ns := aead.NonceSize()
		if len(sealed) < 1+ns+aead.Overhead() || sealed[0] != sealVersion {
			return nil, ErrSealBroken
		}
		if plain, err := aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], ad); err == nil {
			return plain, nil
		}
	}
	return nil, ErrSealBroken // the AEAD error says nothing more useful
}
