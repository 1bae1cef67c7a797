package telephony

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"hash"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/twilio/twilio-go/client"
)

// signatureChecker checks X-Twilio-Signature (Twilio "Webhooks security":
// HMAC-SHA1 over the full URL followed by the POST parameters sorted by
// name, every value of a repeated name sorted too).
//
// The common case is one HMAC over the URL exactly as configured
// (IVR_PUBLIC_URL + the request URI), computed here without building the
// signed string. Only when that does not match does twilio-go's
// RequestValidator get its turn, for the variants it knows (the URL with
// the default port added, or any port removed, which Twilio applies
// inconsistently): it computes two more HMACs and keeps only the first
// value of a repeated name, so it is the fallback, not the hot path.
type signatureChecker struct {
	token     string
	validator client.RequestValidator
	macs      sync.Pool // of *macState: HMAC-SHA1 keyed with the token, and a buffer
}

// macState is one HMAC and the buffer the signed string is built in: the
// string goes to the hash in one write (a write per parameter through the
// hash.Hash interface would copy each to the heap).
type macState struct {
	h   hash.Hash
	buf []byte
}

func newSignatureChecker(authToken string) *signatureChecker {
	c := &signatureChecker{token: authToken, validator: client.NewRequestValidator(authToken)}
	c.macs.New = func() any { return &macState{h: hmac.New(sha1.New, []byte(authToken)), buf: make([]byte, 0, 2048)} }
	return c
}

// field is one form parameter, decoded.
type field struct{ name, value string }

// form is a webhook's parameters in the order they came, repeated names
// kept.
type form []field

var errForm = errors.New("telephony: malformed form body")

// parseForm decodes an application/x-www-form-urlencoded body. Names and
// values without escapes are not copied.
func parseForm(body string) (form, error) {
	f := make(form, 0, 48)
	for body != "" {
		var pair string
		pair, body, _ = strings.Cut(body, "&")
		if pair == "" {
			continue
		}
		if strings.Contains(pair, ";") {
			return nil, errForm // as net/url: a semicolon is not a separator
		}
		k, v, _ := strings.Cut(pair, "=")
		k, err := url.QueryUnescape(k)
		if err != nil {
			return nil, errForm
		}
		v, err = url.QueryUnescape(v)
		if err != nil {
			return nil, errForm
		}
		f = append(f, field{k, v})
	}
	return f, nil
}

// get returns the first value of name, or "".
func (f form) get(name string) string {
	for _, p := range f {
		if p.name == name {
			return p.value
		}
	}
	return ""
}

// valid reports whether sig signs fullURL with the form's parameters. f is
// sorted in place.
func (c *signatureChecker) valid(fullURL string, f form, sig string) bool {
	if sig == "" || c.token == "" {
		return false
	}
	slices.SortFunc(f, func(a, b field) int {
		if n := cmp.Compare(a.name, b.name); n != 0 {
			return n
		}
		return cmp.Compare(a.value, b.value)
	})
	m := c.macs.Get().(*macState)
	b := append(m.buf[:0], fullURL...)
	for _, p := range f {
		b = append(b, p.name...)
		b = append(b, p.value...)
	}
	m.h.Reset()
	m.h.Write(b)
	var sum [sha1.Size]byte
	var enc [28]byte // base64 of 20 bytes
	base64.StdEncoding.Encode(enc[:], m.h.Sum(sum[:0]))
	if cap(b) <= 64<<10 {
		m.buf = b
	}
	c.macs.Put(m)
	if subtle.ConstantTimeCompare(enc[:], []byte(sig)) == 1 {
		return true
	}
	first := make(map[string]string, len(f))
	for _, p := range f {
		if _, seen := first[p.name]; !seen {
			first[p.name] = p.value
		}
	}
	return c.validator.Validate(fullURL, first, sig)
}

// validValues is valid for url.Values.
func (c *signatureChecker) validValues(fullURL string, v url.Values, sig string) bool {
	var f form
	for k, vs := range v {
		for _, x := range vs {
			f = append(f, field{k, x})
		}
	}
	return c.valid(fullURL, f, sig)
}
