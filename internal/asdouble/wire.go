package asdouble

import (
	"crypto/subtle"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// endpoint wraps the challenge, token and revocation handlers: it records
// the request, checks what every endpoint of the profile shares (POST, a
// form body, client_secret_basic and nothing else), then applies the slow
// and failing modes, client authentication and the script, in that order.
func (s *Server) endpoint(name string, h func(http.ResponseWriter, *http.Request, url.Values)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			s.deviation("%s: unreadable form: %v", name, err)
			writeJSON(w, 400, map[string]any{"error": "invalid_request"})
			return
		}
		// A body ParseForm left unread (another Content-Type) would keep the
		// server from noticing that the client gave up, and a hanging or
		// slow answer would then outlive the test.
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
		user, pass, hasBasic := r.BasicAuth()
		// RFC 6749 §2.3.1: the client form-encodes id and secret before Basic.
		id, err1 := url.QueryUnescape(user)
		secret, err2 := url.QueryUnescape(pass)
		s.mu.Lock()
		s.requests = append(s.requests, Request{Endpoint: name, Form: r.PostForm, Client: id})
		fail, delay := s.fail, s.delay
		s.mu.Unlock()
		s.checkCommon(name, r, hasBasic)

		if name == Challenge && delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		if fail {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		if !hasBasic || err1 != nil || err2 != nil ||
			subtle.ConstantTimeCompare([]byte(id), []byte(s.ClientID)) != 1 ||
			subtle.ConstantTimeCompare([]byte(secret), []byte(s.ClientSecret)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="as"`)
			oauthError(w, http.StatusUnauthorized, "invalid_client")
			return
		}
		if s.play(name, w, r) {
			return
		}
		h(w, r, r.PostForm)
	}
}

// checkCommon reports deviations every endpoint shares.
func (s *Server) checkCommon(name string, r *http.Request, hasBasic bool) {
	if s.Errorf == nil {
		return
	}
	if r.Method != http.MethodPost {
		s.deviation("%s: method %s, want POST", name, r.Method)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		s.deviation("%s: Content-Type %q, want application/x-www-form-urlencoded", name, ct)
	}
	if r.URL.RawQuery != "" {
		// Names only: the values may be a caller's answers.
		s.deviation("%s: parameters in the query string: %v", name, slices.Sorted(maps.Keys(r.URL.Query())))
	}
	if !hasBasic {
		s.deviation("%s: no client_secret_basic Authorization header", name)
	}
	for _, k := range []string{"client_secret", "client_id"} {
		if r.PostForm.Has(k) {
			s.deviation("%s: %s in the body, want client_secret_basic only", name, k)
		}
	}
}

// checkParam reports a parameter sent more than once or not as wanted
// ("" wants it absent).
func (s *Server) checkParam(endpoint string, form url.Values, key, want string) {
	if s.Errorf == nil {
		return
	}
	got, ok := form[key]
	switch {
	case want == "" && ok:
		s.deviation("%s: %s sent, want it absent", endpoint, key)
	case want != "" && !slices.Equal(got, []string{want}):
		s.deviation("%s: %s = %q, want %q", endpoint, key, got, want)
	}
}
