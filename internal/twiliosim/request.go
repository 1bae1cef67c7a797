package twiliosim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// response is what came back from one HTTP request.
type response struct {
	status   int
	location string
	body     []byte
}

// send makes one signed request to the public URL u (sent to BaseURL).
// POST carries params form-encoded with keys in byte order (sample [A]);
// GET appends them to the query and signs the resulting URL alone.
func (c *Call) send(ctx context.Context, method, u string, params url.Values) (*response, error) {
	target, ok := c.local(u)
	if !ok {
		return nil, errors.New("twiliosim: URL outside PublicURL")
	}
	body := params.Encode()
	signed, sig := u, ""
	if method == http.MethodGet {
		if body != "" {
			sep := "?"
			if strings.Contains(u, "?") {
				sep = "&"
			}
			signed += sep + body
			target += sep + body
		}
		body = ""
		sig = Sign(c.cfg.AuthToken, signed, nil)
	} else {
		sig = Sign(c.cfg.AuthToken, signed, params)
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	var rd io.Reader
	if method != http.MethodGet {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, fmt.Errorf("twiliosim: build request: %w", err)
	}
	if method != http.MethodGet {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("X-Twilio-Signature", sig)
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "*/*")
	ex := Exchange{Method: method, URL: signed, Signature: sig, Body: body}
	resp, err := c.client.Do(req)
	if err != nil {
		c.record(ex)
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDocument))
	ex.Status, ex.ContentType, ex.Response = resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	c.record(ex)
	if err != nil {
		return nil, err
	}
	return &response{status: resp.StatusCode, location: resp.Header.Get("Location"), body: b}, nil
}

func (c *Call) record(ex Exchange) {
	if c.cfg.Record != nil {
		c.cfg.Record(ex)
	}
}

// local maps a public URL to the URL it is sent to.
func (c *Call) local(u string) (string, bool) {
	rest, ok := strings.CutPrefix(u, c.cfg.PublicURL)
	if !ok || (rest != "" && rest[0] != '/' && rest[0] != '?') {
		return "", false
	}
	return c.cfg.BaseURL + rest, true
}

// fetch requests a TwiML document the way Twilio does: HTTP 3xx are followed
// (at most 10, error 11215) with the standard parameters only, since Twilio
// does not resend Digits after a redirect. It returns the parsed document,
// or a non-empty end reason when the caller would hear "an application
// error". The error result is reserved for a done ctx.
func (c *Call) fetch(ctx context.Context, method, u string, input url.Values) (*document, string, error) {
	status := "in-progress"
	if c.first {
		status = "ringing"
	}
	params := c.params(status)
	for k, vs := range input {
		params[k] = vs
	}
	for hops := 0; ; hops++ {
		if _, ok := c.local(u); !ok {
			// Twilio would request it, but the simulator only reaches the gateway.
			return nil, "error:11200 URL outside PublicURL", nil
		}
		res, err := c.send(ctx, method, u, params)
		if err != nil {
			if ctx.Err() != nil {
				return nil, "", fmt.Errorf("twiliosim: request: %w", ctx.Err())
			}
			return nil, "error:11205 connection failure", nil
		}
		switch {
		case res.status >= 300 && res.status <= 399 && res.location != "":
			if hops+1 >= maxHTTPRedirects {
				return nil, "error:11215 too many HTTP redirects", nil
			}
			next, err := resolve(u, res.location)
			if err != nil {
				return nil, "error:11200 bad redirect location", nil
			}
			for k := range input {
				params.Del(k)
			}
			if res.status == http.StatusSeeOther {
				method = http.MethodGet
			}
			u = next
			continue
		case res.status != http.StatusOK:
			return nil, fmt.Sprintf("error:11200 HTTP %d", res.status), nil
		}
		root, err := parseTwiML(res.body)
		if err != nil {
			return nil, "error:12100 document parse failure", nil
		}
		return &document{url: u, verbs: root.Children}, "", nil
	}
}

// resolve resolves ref against the document URL base. An absolute ref is
// kept exactly as written, because Twilio signs the URL as written.
func resolve(base, ref string) (string, error) {
	ref = strings.TrimSpace(ref)
	r, err := url.Parse(ref)
	if err != nil {
		return "", err
	}
	if r.IsAbs() {
		return ref, nil
	}
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	return b.ResolveReference(r).String(), nil
}
