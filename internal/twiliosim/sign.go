package twiliosim

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/url"
	"sort"
	"strings"
)

// Sign returns the X-Twilio-Signature Twilio sends with a request to fullURL
// carrying the form params (Twilio "Webhooks security"): HMAC-SHA1 keyed with
// the auth token over fullURL followed by every name+value pair, names in
// byte order and the values of a repeated name sorted too, base64 encoded.
// fullURL is used exactly as given (query left encoded as written); for a GET
// request pass the URL with its query and nil params.
func Sign(authToken, fullURL string, params url.Values) string {
	var b strings.Builder
	b.WriteString(fullURL)
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vs := params[k]
		if len(vs) > 1 {
			vs = append([]string(nil), vs...)
			sort.Strings(vs)
		}
		for _, v := range vs {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
