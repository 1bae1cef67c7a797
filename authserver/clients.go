package authserver

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// ErrInvalidClients reports a malformed client list; the message names the
// entry, never a secret.
var ErrInvalidClients = errors.New("authserver: invalid client list")

// ParseClients parses "id:secret,id2:secret2" (IVR_AS_CLIENTS). Spaces and
// newlines around entries are ignored, so a --clients file may hold one pair a
// line. The secret is everything after the first colon.
func ParseClients(s string) (map[string]string, error) {
	out := make(map[string]string)
	entries := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' })
	for i, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		id, sec, ok := strings.Cut(e, ":")
		switch {
		case !ok:
			return nil, fmt.Errorf("%w: entry %d: want id:secret", ErrInvalidClients, i)
		case id == "" || sec == "":
			return nil, fmt.Errorf("%w: entry %d: empty id or secret", ErrInvalidClients, i)
		case strings.ContainsAny(id, " \t"):
			return nil, fmt.Errorf("%w: entry %d: blank in id", ErrInvalidClients, i)
		}
		if _, dup := out[id]; dup {
			return nil, fmt.Errorf("%w: entry %d: duplicate id", ErrInvalidClients, i)
		}
		out[id] = sec
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no clients", ErrInvalidClients)
	}
	return out, nil
}

// parseBasicAuth decodes an RFC 6749 §2.3.1 client_secret_basic header:
// Basic base64(urlencode(id) ":" urlencode(secret)).
func parseBasicAuth(h string) (id, sec string, ok bool) {
	const prefix = "Basic "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(h[len(prefix):]))
	if err != nil {
		return "", "", false
	}
	rawID, rawSec, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", false
	}
	if id, err = url.QueryUnescape(rawID); err != nil {
		return "", "", false
	}
	if sec, err = url.QueryUnescape(rawSec); err != nil {
		return "", "", false
	}
	if id == "" {
		return "", "", false
	}
	return id, sec, true
}

// clientSet checks client credentials in constant time.
type clientSet map[string][32]byte

func newClientSet(m map[string]string) clientSet {
	cs := make(clientSet, len(m))
	for id, sec := range m {
		cs[id] = sha256.Sum256([]byte(sec))
	}
	return cs
}

// authenticate returns the client ID of a request that carries valid
// client_secret_basic credentials.
func (cs clientSet) authenticate(r *http.Request) (string, bool) {
	id, sec, ok := parseBasicAuth(r.Header.Get("Authorization"))
	if !ok {
		return "", false
	}
	want, known := cs[id]
	got := sha256.Sum256([]byte(sec))
	// Compare even for an unknown client, so timing does not tell
	// which client IDs exist.
	match := subtle.ConstantTimeCompare(got[:], want[:]) == 1
	return id, known && match
}
