package authclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Well-known path suffixes of RFC 8414 §3 and RFC 9728 §3.
const (
	wellKnownAS       = "/.well-known/oauth-authorization-server"
	wellKnownResource = "/.well-known/oauth-protected-resource"
)

// ErrDiscovery is wrapped by every error of [Discover] and
// [DiscoverFromResource], so start-up code can tell discovery failures apart.
var ErrDiscovery = errors.New("authclient: discovery failed")

// Metadata is the part of the RFC 8414 authorization server metadata the
// gateway uses, plus the draft-ietf-oauth-first-party-apps §8
// authorization_challenge_endpoint.
type Metadata struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationChallengeEndpoint    string   `json:"authorization_challenge_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	RevocationEndpoint                string   `json:"revocation_endpoint,omitempty"`
	JWKSURI                           string   `json:"jwks_uri,omitempty"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported,omitempty"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported,omitempty"`
}

// resourceMetadata is the part of RFC 9728 protected resource metadata we use.
type resourceMetadata struct {
	Resource             string   `json:"resource"`
	AuthorizationServers []string `json:"authorization_servers"`
}

// discoveryError is a one-line start-up error that still matches ErrDiscovery
// and whatever caused it.
type discoveryError struct {
	msg string
	err error
}

func (e *discoveryError) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

func (e *discoveryError) Is(target error) bool { return target == ErrDiscovery }
func (e *discoveryError) Unwrap() error        { return e.err }

func discoveryErrorf(err error, format string, args ...any) error {
	return &discoveryError{msg: "authclient: " + fmt.Sprintf(format, args...), err: err}
}

// Discover fetches the RFC 8414 metadata of issuer from
// /.well-known/oauth-authorization-server inserted between the host and the
// path of the issuer (§3), and refuses it unless its issuer is identical to
// the one asked for (§3.3), it names an authorization_challenge_endpoint and
// a token_endpoint, code_challenge_methods_supported lists S256 (MCP
// authorization, "Authorization Code Protection") and
// token_endpoint_auth_methods_supported, when present, lists
// client_secret_basic. Endpoints and the issuer must be https, except on
// loopback hosts (tests, `ivr demo`). Redirects are not followed.
//
// A nil hc uses a client with the package's default timeout. Errors are one
// line, wrap [ErrDiscovery] and are meant to stop start-up.
func Discover(ctx context.Context, hc *http.Client, issuer string) (*Metadata, error) {
	u, err := wellKnownURL(issuer, wellKnownAS)
	if err != nil {
		return nil, discoveryErrorf(err, "issuer %q", issuer)
	}
	var md Metadata
	if err := fetchJSON(ctx, discoveryClient(hc), u, &md); err != nil {
		return nil, discoveryErrorf(err, "metadata at %s", u)
	}
	if err := md.validate(issuer); err != nil {
		return nil, discoveryErrorf(nil, "metadata at %s %s", u, err.Error())
	}
	return &md, nil
}

// validate applies the checks of Discover to metadata fetched for issuer. Its
// error text completes "metadata at URL ...".
func (md *Metadata) validate(issuer string) error {
	switch {
	case md.Issuer != issuer:
		return fmt.Errorf("has issuer %q, want %q (RFC 8414 §3.3)", md.Issuer, issuer)
	case md.AuthorizationChallengeEndpoint == "":
		return errors.New("has no authorization_challenge_endpoint")
	case md.TokenEndpoint == "":
		return errors.New("has no token_endpoint")
	case !slices.Contains(md.CodeChallengeMethodsSupported, "S256"):
		return errors.New("does not list S256 in code_challenge_methods_supported")
	case len(md.TokenEndpointAuthMethodsSupported) > 0 &&
		!slices.Contains(md.TokenEndpointAuthMethodsSupported, "client_secret_basic"):
		// Absent means client_secret_basic (RFC 8414 §2).
		return errors.New("does not list client_secret_basic in token_endpoint_auth_methods_supported")
	}
	for _, ep := range []struct{ name, url string }{
		{"authorization_challenge_endpoint", md.AuthorizationChallengeEndpoint},
		{"token_endpoint", md.TokenEndpoint},
		{"revocation_endpoint", md.RevocationEndpoint},
	} {
		if ep.url == "" {
			continue
		}
		if _, err := parseSecureURL(ep.url); err != nil {
			return fmt.Errorf("has an unusable %s: %w", ep.name, err)
		}
	}
	return nil
}

// DiscoverFromResource finds the authorization server of a protected resource
// (the MCP server's URL, IVR_RESOURCE): it fetches the RFC 9728 metadata from
// /.well-known/oauth-protected-resource inserted between the host and the
// path of resource, requires its resource member to equal resource (§3.3),
// and runs [Discover] on the first of its authorization_servers.
func DiscoverFromResource(ctx context.Context, hc *http.Client, resource string) (*Metadata, error) {
	u, err := wellKnownURL(resource, wellKnownResource)
	if err != nil {
		return nil, discoveryErrorf(err, "resource %q", resource)
	}
	var rm resourceMetadata
	if err := fetchJSON(ctx, discoveryClient(hc), u, &rm); err != nil {
		return nil, discoveryErrorf(err, "resource metadata at %s", u)
	}
	if rm.Resource != resource {
		return nil, discoveryErrorf(nil, "resource metadata at %s has resource %q, want %q (RFC 9728 §3.3)", u, rm.Resource, resource)
	}
	if len(rm.AuthorizationServers) == 0 || rm.AuthorizationServers[0] == "" {
		return nil, discoveryErrorf(nil, "resource metadata at %s has no authorization_servers", u)
	}
	return Discover(ctx, hc, rm.AuthorizationServers[0])
}

// wellKnownURL inserts suffix between the host and the path of id, after
// removing a terminating "/" from the path (RFC 8414 §3, RFC 9728 §3).
func wellKnownURL(id, suffix string) (string, error) {
	u, err := parseSecureURL(id)
	if err != nil {
		return "", err
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("has a query or fragment")
	}
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	w := url.URL{Scheme: u.Scheme, Host: u.Host}
	return w.String() + suffix + path, nil
}

// parseSecureURL parses an absolute URL that must be https, or http on a
// loopback host.
func parseSecureURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, errors.New("is not a URL")
	}
	if u.Host == "" {
		return nil, errors.New("is not an absolute URL")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	default:
		return nil, errors.New("is not https")
	}
	return u, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// fetchJSON GETs u and decodes a JSON object of at most maxBody bytes into v.
func fetchJSON(ctx context.Context, hc *http.Client, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return unwrapURLError(err)
	}
	defer resp.Body.Close()
	body, err := readBody(resp)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return decodeObject(body, v)
}

// decodeObject decodes a JSON object; unlike json.Unmarshal it refuses null
// and other non-objects instead of leaving v empty.
func decodeObject(body []byte, v any) error {
	if b := bytes.TrimLeft(body, " \t\r\n"); len(b) == 0 || b[0] != '{' {
		return errors.New("response is not a JSON object")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("bad JSON: %w", err)
	}
	return nil
}

// unwrapURLError drops the *url.Error wrapper, whose text repeats the URL our
// messages already name.
func unwrapURLError(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}
