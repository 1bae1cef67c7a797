// Package asdouble is an authorization server that follows the gateway's AS
// profile (contract §3) to the letter and nothing more: RFC 8414 metadata, a
// KBA authorization challenge endpoint (draft-ietf-oauth-first-party-apps-04),
// a PKCE token endpoint and RFC 7009 revocation, over a small in-memory patient
// list. It records every request it receives, and can be told to fail (HTTP
// 500) or to be slow, so gateway tests and `ivr replay` can check what the AS
// was sent and how the gateway copes. The full reference AS is package
// authserver; this double stays small so a test can read it at a glance.
package asdouble

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Patient is one identity the double knows. OTP, when set, is the code the
// double "texts" and then requires (a step-up).
type Patient struct {
	ID, Given, Family, Birthdate, SSN4, OTP string
}

// Request is what the double received on one endpoint.
type Request struct {
	Endpoint string     `json:"endpoint"` // challenge, token, revoke
	Form     url.Values `json:"form"`
	Client   string     `json:"client"` // the Basic client_id, "" when absent
}

// Server is the double. Configure the fields before serving.
type Server struct {
	Issuer       string // set once the listener is known
	ClientID     string
	ClientSecret string
	Patients     []Patient
	Scope        string
	TokenTTL     time.Duration

	mu       sync.Mutex
	fail     bool
	delay    time.Duration
	requests []Request
	sessions map[string]*session
	codes    map[string]grant
	revoked  map[string]bool
}

type session struct {
	patient  *Patient
	otpDue   bool
	failures int
}

type grant struct {
	patient   *Patient
	challenge string
	resource  string
}

// SetFailing makes every endpoint answer 500 (true) or behave (false).
func (s *Server) SetFailing(fail bool) { s.mu.Lock(); s.fail = fail; s.mu.Unlock() }

// SetDelay makes the challenge endpoint answer only after d.
func (s *Server) SetDelay(d time.Duration) { s.mu.Lock(); s.delay = d; s.mu.Unlock() }

// Requests returns a copy of everything received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Revoked reports whether token was revoked.
func (s *Server) Revoked(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.revoked[token]
}

// Handler serves the metadata and the three endpoints.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", s.metadata)
	mux.HandleFunc("POST /challenge", s.endpoint("challenge", s.challenge))
	mux.HandleFunc("POST /token", s.endpoint("token", s.token))
	mux.HandleFunc("POST /revoke", s.endpoint("revoke", s.revoke))
	return mux
}

func (s *Server) metadata(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, map[string]any{
		"issuer":                                s.Issuer,
		"authorization_challenge_endpoint":      s.Issuer + "/challenge",
		"token_endpoint":                        s.Issuer + "/token",
		"revocation_endpoint":                   s.Issuer + "/revoke",
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic"},
		"grant_types_supported":                 []string{"authorization_code"},
		"response_types_supported":              []string{"code"},
	})
}

func (s *Server) endpoint(name string, h func(http.ResponseWriter, *http.Request, url.Values)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			writeJSON(w, 400, map[string]any{"error": "invalid_request"})
			return
		}
		user, pass, hasBasic := r.BasicAuth()
		user, _ = url.QueryUnescape(user)
		pass, _ = url.QueryUnescape(pass)
		s.mu.Lock()
		s.requests = append(s.requests, Request{Endpoint: name, Form: r.PostForm, Client: user})
		fail, delay := s.fail, s.delay
		s.mu.Unlock()
		if name == "challenge" && delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		if fail {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		if !hasBasic || subtle.ConstantTimeCompare([]byte(user), []byte(s.ClientID)) != 1 ||
			subtle.ConstantTimeCompare([]byte(pass), []byte(s.ClientSecret)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="as"`)
			writeJSON(w, 401, map[string]any{"error": "invalid_client"})
			return
		}
		h(w, r, r.PostForm)
	}
}

func (s *Server) challenge(w http.ResponseWriter, r *http.Request, f url.Values) {
	if f.Get("response_type") != "code" || f.Get("code_challenge_method") != "S256" || len(f.Get("code_challenge")) != 43 {
		writeJSON(w, 400, map[string]any{"error": "invalid_request"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions == nil {
		s.sessions, s.codes, s.revoked = map[string]*session{}, map[string]grant{}, map[string]bool{}
	}
	id := f.Get("auth_session")
	var sess *session
	if id != "" {
		if sess = s.sessions[id]; sess == nil {
			writeJSON(w, 400, map[string]any{"error": "invalid_session"})
			return
		}
	} else {
		id = random()
		sess = &session{}
		s.sessions[id] = sess
	}
	if sess.otpDue && f.Get("otp") != "" {
		if f.Get("otp") != sess.patient.OTP {
			sess.failures++
			writeJSON(w, 400, map[string]any{"error": "access_denied", "auth_session": id, "attempts_remaining": max(0, 3-sess.failures)})
			return
		}
		s.issue(w, id, sess.patient, f)
		return
	}
	p := s.match(f)
	if p == nil {
		sess.failures++
		writeJSON(w, 400, map[string]any{"error": "access_denied", "auth_session": id, "attempts_remaining": max(0, 3-sess.failures)})
		return
	}
	sess.patient = p
	if p.OTP != "" {
		sess.otpDue = true
		writeJSON(w, 403, map[string]any{"error": "insufficient_authorization", "auth_session": id, "otp_required": true})
		return
	}
	s.issue(w, id, p, f)
}

func (s *Server) issue(w http.ResponseWriter, session string, p *Patient, f url.Values) {
	code := random()
	s.codes[code] = grant{patient: p, challenge: f.Get("code_challenge"), resource: f.Get("resource")}
	writeJSON(w, 200, map[string]any{"authorization_code": code, "auth_session": session})
}

func (s *Server) match(f url.Values) *Patient {
	for i := range s.Patients {
		p := &s.Patients[i]
		if strings.EqualFold(p.Given, f.Get("given_name")) && strings.EqualFold(p.Family, f.Get("family_name")) &&
			p.Birthdate == f.Get("birthdate") && p.SSN4 == f.Get("ssn_last4") {
			return p
		}
	}
	return nil
}

func (s *Server) token(w http.ResponseWriter, r *http.Request, f url.Values) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.codes[f.Get("code")]
	delete(s.codes, f.Get("code"))
	sum := sha256.Sum256([]byte(f.Get("code_verifier")))
	switch {
	case f.Get("grant_type") != "authorization_code" || f.Has("redirect_uri"):
		writeJSON(w, 400, map[string]any{"error": "invalid_request"})
	case !ok || base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge:
		writeJSON(w, 400, map[string]any{"error": "invalid_grant"})
	case f.Get("resource") != g.resource:
		writeJSON(w, 400, map[string]any{"error": "invalid_target"})
	default:
		ttl := s.TokenTTL
		if ttl <= 0 {
			ttl = 15 * time.Minute
		}
		w.Header().Set("Pragma", "no-cache")
		writeJSON(w, 200, map[string]any{"access_token": "at-" + g.patient.ID + "-" + random()[:16], "token_type": "Bearer",
			"expires_in": int(ttl.Seconds()), "scope": s.Scope})
	}
}

func (s *Server) revoke(w http.ResponseWriter, r *http.Request, f url.Values) {
	s.mu.Lock()
	if s.revoked == nil {
		s.revoked = map[string]bool{}
	}
	s.revoked[f.Get("token")] = true
	s.mu.Unlock()
	w.WriteHeader(200)
}

func random() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
