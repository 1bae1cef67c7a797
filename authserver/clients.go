package authserver

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Client is a registered client: its credentials and what it may ask for.
// The secret never prints (String, GoString, LogValue).
type Client struct {
	ID     string
	Secret string
	// Scopes are the scope values the client may request; a request for
	// any other gets invalid_scope (RFC 6749 §4.1.2.1, §5.2). A request
	// without scope is always allowed and yields a token without scope.
	Scopes []string
	// Resources are the RFC 8707 resource indicators the client may name;
	// any other gets invalid_target (RFC 8707 §2). A request without
	// resource is always allowed: its token's audience is the client itself.
	Resources []string
}

// String prints the client without its secret.
func (c Client) String() string {
	return fmt.Sprintf("Client(%s scopes=%q resources=%q)", c.ID, c.Scopes, c.Resources)
}

// GoString keeps %#v from printing the secret.
func (c Client) GoString() string { return c.String() }

// LogValue logs the client without its secret.
func (c Client) LogValue() slog.Value {
	return slog.GroupValue(slog.String("client_id", c.ID), slog.Any("scopes", c.Scopes), slog.Any("resources", c.Resources))
}

// validate checks one registration; the message names the field, never
// the secret.
func (c Client) validate() error {
	switch {
	case c.ID == "" || len(c.ID) > 200 || strings.ContainsFunc(c.ID, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return errors.New("client_id empty, too long, or with blanks or control characters")
	case c.Secret == "":
		return errors.New("empty client_secret")
	}
	for _, sc := range c.Scopes {
		if !validScopeToken(sc) {
			return errors.New("scope values must be non-empty RFC 6749 scope tokens")
		}
	}
	for _, r := range c.Resources {
		if !validResource(r) {
			return errors.New("resources must be absolute URIs without fragment")
		}
	}
	return nil
}

// ErrInvalidClients reports a malformed client list; the message names the
// entry and field, never a secret.
var ErrInvalidClients = errors.New("authserver: invalid client list")

// clientMetadata is one entry of the JSON client file: the RFC 7591 §2
// member names for the credentials and scope (space-separated), plus
// "resources", the RFC 8707 resource indicators the client may name.
// Other RFC 7591 members (client_name, ...) are ignored, as §2 asks.
type clientMetadata struct {
	ClientID     *string  `json:"client_id"`
	ClientSecret *string  `json:"client_secret"`
	Scope        string   `json:"scope"`
	Resources    []string `json:"resources"`
	// token_endpoint_auth_method, when given, must be the one method the
	// server supports, so a file written for another method fails loudly.
	AuthMethod *string `json:"token_endpoint_auth_method"`
}

// ParseClients parses a client list, in either of two forms:
//
//   - a JSON array of client metadata in RFC 7591 style,
//     [{"client_id":"…","client_secret":"…","scope":"patient.read","resources":["https://…/mcp"]}]
//     (scope space-separated; no scope or no resources: the client may ask
//     for none);
//   - "id:secret" pairs separated by commas or newlines (IVR_AS_CLIENTS, or a
//     --clients file of one pair a line); the secret is everything after the
//     first colon, and every such client may ask for pairScopes and
//     pairResources.
//
// Errors wrap ErrInvalidClients and name the entry, never a secret.
func ParseClients(s string, pairScopes, pairResources []string) ([]Client, error) {
	var (
		out []Client
		err error
	)
	if t := strings.TrimSpace(s); strings.HasPrefix(t, "[") {
		out, err = parseClientJSON([]byte(t))
	} else {
		out, err = parseClientPairs(t, pairScopes, pairResources)
	}
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no clients", ErrInvalidClients)
	}
	seen := make(map[string]bool, len(out))
	for i, c := range out {
		if err := c.validate(); err != nil {
			return nil, fmt.Errorf("%w: entry %d: %s", ErrInvalidClients, i, err)
		}
		if seen[c.ID] {
			return nil, fmt.Errorf("%w: entry %d: duplicate client_id", ErrInvalidClients, i)
		}
		seen[c.ID] = true
	}
	return out, nil
}

func parseClientPairs(s string, scopes, resources []string) ([]Client, error) {
	var out []Client
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
		}
		out = append(out, Client{ID: id, Secret: sec, Scopes: slices.Clone(scopes), Resources: slices.Clone(resources)})
	}
	return out, nil
}

func parseClientJSON(b []byte) ([]Client, error) {
	var ms []clientMetadata
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&ms); err != nil {
		// Syntax errors may quote the text around them, a secret perhaps:
		// keep only the offset.
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("%w: JSON syntax error at offset %d", ErrInvalidClients, se.Offset)
		}
		return nil, fmt.Errorf("%w: not a JSON array of client objects", ErrInvalidClients)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the array", ErrInvalidClients)
	}
	out := make([]Client, 0, len(ms))
	for i, m := range ms {
		switch {
		case m.ClientID == nil || m.ClientSecret == nil:
			return nil, fmt.Errorf("%w: entry %d: client_id and client_secret are required", ErrInvalidClients, i)
		case m.AuthMethod != nil && *m.AuthMethod != "client_secret_basic":
			return nil, fmt.Errorf("%w: entry %d: token_endpoint_auth_method must be client_secret_basic", ErrInvalidClients, i)
		}
		out = append(out, Client{ID: *m.ClientID, Secret: *m.ClientSecret, Scopes: strings.Fields(m.Scope), Resources: m.Resources})
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

// registration is a client as the server keeps it.
type registration struct {
	id        string
	secret    [32]byte // SHA-256, compared in constant time
	scopes    map[string]bool
	resources map[string]bool
}

// clientSet checks client credentials in constant time.
type clientSet map[string]*registration

func newClientSet(cs []Client) (clientSet, error) {
	set := make(clientSet, len(cs))
	for i, c := range cs {
		if err := c.validate(); err != nil {
			return nil, fmt.Errorf("%w: entry %d: %s", ErrInvalidClients, i, err)
		}
		if set[c.ID] != nil {
			return nil, fmt.Errorf("%w: entry %d: duplicate client_id", ErrInvalidClients, i)
		}
		r := &registration{id: c.ID, secret: sha256.Sum256([]byte(c.Secret)), scopes: map[string]bool{}, resources: map[string]bool{}}
		for _, sc := range c.Scopes {
			r.scopes[sc] = true
		}
		for _, res := range c.Resources {
			r.resources[res] = true
		}
		set[c.ID] = r
	}
	return set, nil
}

// unknownClient is compared against when the client ID is unknown, so
// timing does not tell which client IDs exist.
var unknownClient = registration{secret: sha256.Sum256([]byte("unknown client"))}

// authenticate returns the registration of a request that carries valid
// client_secret_basic credentials.
func (cs clientSet) authenticate(r *http.Request) (*registration, bool) {
	id, sec, ok := parseBasicAuth(r.Header.Get("Authorization"))
	if !ok {
		return nil, false
	}
	reg, known := cs[id]
	want := unknownClient.secret
	if known {
		want = reg.secret
	}
	got := sha256.Sum256([]byte(sec))
	match := subtle.ConstantTimeCompare(got[:], want[:]) == 1
	if !known || !match {
		return nil, false
	}
	return reg, true
}

// permits checks a request's scope and resource against the registration
// (RFC 6749 §3.3, RFC 8707 §2): nil, or the invalid_scope or
// invalid_target answer. scope is already normalised.
func (reg *registration) permits(scope, resource string) *oauthError {
	for sc := range strings.FieldsSeq(scope) {
		if !reg.scopes[sc] {
			return &oauthError{status: http.StatusBadRequest, Code: "invalid_scope", Description: "scope not allowed for this client"}
		}
	}
	if resource != "" && !reg.resources[resource] {
		return &oauthError{status: http.StatusBadRequest, Code: "invalid_target", Description: "resource not allowed for this client"}
	}
	return nil
}

// normalScope returns the scope's tokens once each, in order, separated by
// one space: what a code and its token carry.
func normalScope(s string) string {
	var toks []string
	for t := range strings.FieldsSeq(s) {
		if !slices.Contains(toks, t) {
			toks = append(toks, t)
		}
	}
	return strings.Join(toks, " ")
}

// validScopeToken: 1*NQCHAR (RFC 6749 §3.3): %x21 / %x23-5B / %x5D-7E.
func validScopeToken(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
