package authclient

import (
	"errors"
	"io"
	"net/http"
	"time"
)

const (
	// maxBody caps every response body the package reads: metadata,
	// challenge, token and revocation answers are all small JSON objects.
	maxBody = 64 << 10
	// DefaultTimeout bounds one Verify (challenge and token exchange) when
	// Config.Timeout is zero, and is the timeout of the default HTTP client.
	// It leaves a webhook room to answer within Twilio's 10 s even when the
	// AS is slow.
	DefaultTimeout = 8 * time.Second
)

// ErrBodyTooLarge is returned when a response body exceeds 64 KiB.
var ErrBodyTooLarge = errors.New("authclient: response body exceeds 64 KiB")

// discoveryClient returns a copy of hc (or of a client with DefaultTimeout
// when hc is nil) that caps bodies and refuses redirects: RFC 8414 §3.3 wants
// the metadata from the URL built from the issuer.
func discoveryClient(hc *http.Client) *http.Client {
	return guardedClient(hc, false)
}

// guardedClient copies hc (the caller's client is not modified), caps every
// response body at maxBody, and, unless followRedirects, refuses redirects:
// following one would re-send answers or codes to a URL the metadata did
// not name.
func guardedClient(hc *http.Client, followRedirects bool) *http.Client {
	var c http.Client
	if hc != nil {
		c = *hc
	} else {
		c.Timeout = DefaultTimeout
	}
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = capTransport{base: base}
	if !followRedirects {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return &c
}

// capTransport limits response bodies, so the token exchange inside
// x/oauth2 (which caps at 1 MiB) is held to the same 64 KiB as our reads.
type capTransport struct{ base http.RoundTripper }

func (t capTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &cappedBody{rc: resp.Body, left: maxBody}
	return resp, nil
}

type cappedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// Probe one byte: a body of exactly maxBody is fine.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, ErrBodyTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *cappedBody) Close() error { return b.rc.Close() }

// readBody reads a (capped) response body.
func readBody(resp *http.Response) ([]byte, error) {
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return body, nil
}
