package agentapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// agentKey is one accepted bearer key, kept only as its SHA-256 digest, and
// the name it is known by in logs and metrics.
type agentKey struct {
	name   string
	digest [32]byte
}

// maxNameLen bounds an agent's name: it becomes a log attribute and a
// metric label value.
const maxNameLen = 64

// parseKeys reads IVR_AGENT_KEYS entries. An entry is "name:key" or a bare
// "key"; a bare key is named "agent-N", N its 1-based position in entries,
// so no key material is ever logged. Because everything before the first
// colon is a name, a key that contains a colon must be given a name.
// Several keys may share a name (an agent's old and new key during a
// rotation); the same key twice is refused, since it could not tell which
// name to log.
func parseKeys(entries []string) ([]agentKey, error) {
	var keys []agentKey
	seen := map[[32]byte]bool{}
	for i, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		name, key, named := strings.Cut(e, ":")
		if !named {
			name, key = "agent-"+strconv.Itoa(i+1), e
		}
		name, key = strings.TrimSpace(name), strings.TrimSpace(key)
		// The entry itself is never quoted in these errors: it is a secret.
		switch {
		case key == "":
			return nil, fmt.Errorf("IVR_AGENT_KEYS entry %d: empty key after the name", i+1)
		case !validName(name):
			return nil, fmt.Errorf("IVR_AGENT_KEYS entry %d: the name before ':' must be 1 to %d letters, digits, '.', '_' or '-'", i+1, maxNameLen)
		}
		d := sha256.Sum256([]byte(key))
		if seen[d] {
			return nil, fmt.Errorf("IVR_AGENT_KEYS entry %d: the same key is listed twice", i+1)
		}
		seen[d] = true
		keys = append(keys, agentKey{name: name, digest: d})
	}
	return keys, nil
}

// CheckKeys reports what is wrong with IVR_AGENT_KEYS entries, as New
// would, so a configuration can be refused before anything starts. The
// error never quotes an entry.
func CheckKeys(entries []string) error {
	_, err := parseKeys(entries)
	return err
}

func validName(s string) bool {
	if s == "" || len(s) > maxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// authenticate returns the name of the agent whose key r carries. Keys are
// compared as SHA-256 digests in constant time, and every configured key is
// compared, so neither a key's length, its prefix nor its position in the
// list leaks through timing.
func (a *API) authenticate(r *http.Request) (string, bool) {
	// The auth scheme is case-insensitive (RFC 9110 §11.1).
	scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
	found := 0 // 1 + the index of the matching key, 0 for none
	for i := range a.keys {
		eq := subtle.ConstantTimeCompare(sum[:], a.keys[i].digest[:])
		found = subtle.ConstantTimeSelect(eq, i+1, found)
	}
	if found == 0 {
		return "", false
	}
	return a.keys[found-1].name, true
}
