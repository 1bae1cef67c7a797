package telephony

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/url"
	"sort"
	"strings"

	"github.com/twilio/twilio-go/client"
)

// signatureChecker checks X-Twilio-Signature (Twilio "Webhooks security";
// HMAC-SHA1 over the full URL followed by the sorted POST parameters).
//
// twilio-go's RequestValidator does the work. It keeps only the first value
// of a repeated form key, while Twilio signs every value (sorted), so for the
// rare request that repeats a key we compute the signature over all values
// ourselves, the way twilio-python does.
type signatureChecker struct {
	token     string
	validator client.RequestValidator
}

func newSignatureChecker(authToken string) *signatureChecker {
	return &signatureChecker{token: authToken, validator: client.NewRequestValidator(authToken)}
}

// valid reports whether sig signs fullURL with the form parameters.
func (c *signatureChecker) valid(fullURL string, form url.Values, sig string) bool {
	if sig == "" || c.token == "" {
		return false
	}
	first := make(map[string]string, len(form))
	repeated := false
	for k, vs := range form {
		if len(vs) > 0 {
			first[k] = vs[0]
		}
		repeated = repeated || len(vs) > 1
	}
	if c.validator.Validate(fullURL, first, sig) {
		return true
	}
	if !repeated {
		return false
	}
	want := sign(c.token, fullURL, form)
	return hmac.Equal([]byte(want), []byte(sig))
}

// sign computes the X-Twilio-Signature Twilio would send for a POST to
// fullURL with form (every value of a repeated key, sorted).
func sign(authToken, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range keys {
		vs := append([]string(nil), form[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
