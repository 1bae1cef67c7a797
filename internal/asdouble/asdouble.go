// Package asdouble is the tests' one authorization server: it follows the
// gateway's AS profile (docs/as-profile.md) to the letter and nothing more. It serves
// RFC 8414 metadata (with issuer-path insertion), optionally RFC 9728
// protected-resource metadata, a KBA authorization challenge endpoint
// (draft-ietf-oauth-first-party-apps-04) with an OTP step-up and a lockout, a
// PKCE token endpoint and RFC 7009 revocation, over a small in-memory patient
// list.
//
// Tests steer it: canned answers per endpoint ([Server.Script]), edited
// metadata documents ([Server.EditMetadata]), a failing or slow mode, no
// revocation endpoint, the code alias. It records every request, and, when
// [Server.Errorf] is set ([Serve] sets it to the test's Errorf), reports
// every way a request deviates from the profile, so a client test fails when
// the client misbehaves on the wire even if the answer it got looked fine.
//
// The full reference AS is package authserver; this double stays small so a
// test can read it at a glance. It is also linked into `ivr replay`, so it
// does not import package testing.
package asdouble

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"time"
)

// Endpoint names, as recorded in [Request.Endpoint] and accepted by
// [Server.Script].
const (
	Challenge        = "challenge"
	Token            = "token"
	Revoke           = "revoke"
	Metadata         = "metadata"          // RFC 8414 authorization server metadata
	ResourceMetadata = "resource_metadata" // RFC 9728 protected resource metadata
)

// Patient is one identity the double knows. OTP, when set, is the code the
// double "texts" and then requires (a step-up).
type Patient struct {
	ID, Given, Family, Birthdate, SSN4, OTP string
}

// Request is what the double received on the challenge, token or
// revocation endpoint.
type Request struct {
	Endpoint string     `json:"endpoint"` // Challenge, Token or Revoke
	Form     url.Values `json:"form"`
	Client   string     `json:"client"` // the Basic client_id, "" when absent
}

// Canned is a scripted answer that replaces the double's own logic once, for
// what a faithful AS says only under failure (5xx, 429, bad JSON, hangs).
type Canned struct {
	Status int
	Body   string
	Header map[string]string
	Hang   bool // answer nothing until the client gives up
}

// TB is the part of testing.TB that [Serve] uses.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
	Cleanup(func())
}

// Server is the double. Set the fields before it serves its first request;
// [Serve] fills in the URLs.
type Server struct {
	// Issuer is the issuer URL: the server's URL followed by IssuerPath.
	// Serve sets it; a caller serving Handler itself sets it once the
	// listener's address is known, before the first request.
	Issuer string
	// IssuerPath is the issuer's path ("" or like "/tenant1"): the metadata
	// is served at /.well-known/oauth-authorization-server + IssuerPath
	// (RFC 8414 §3.1) and the endpoints under IssuerPath.
	IssuerPath string
	// ResourcePath, when set, makes the double also publish the RFC 9728
	// metadata of a protected resource at its own URL + ResourcePath, naming
	// Issuer as its authorization server.
	ResourcePath string

	ClientID, ClientSecret string
	Patients               []Patient
	// Scope is the scope the client must request ("" wants none, checked
	// when Errorf is set) and the scope granted unless GrantedScope is set.
	Scope, GrantedScope string
	// Resource is the RFC 8707 resource the client must send ("" wants none;
	// checked when Errorf is set). Codes are bound to the resource of the
	// challenge that issued them either way.
	Resource string
	// TokenTTL is the expires_in of issued tokens; zero means 15 minutes.
	TokenTTL time.Duration
	// MaxAttempts is how many wrong answers (KBA or OTP) an auth_session
	// takes before it is locked (429 slow_down); zero means 3.
	MaxAttempts int
	// CodeAlias answers "code" instead of "authorization_code".
	CodeAlias bool
	// NoRevocation leaves revocation_endpoint out of the metadata; a
	// revocation request is then a deviation, answered 404.
	NoRevocation bool
	// EditMetadata and EditResourceMetadata, when set, change the documents
	// before they are served: the metadata variants of discovery tests.
	EditMetadata, EditResourceMetadata func(doc map[string]any)
	// Errorf, when set, receives every deviation of a request from the AS
	// profile. Serve sets it to the test's Errorf unless it is already set.
	Errorf func(format string, args ...any)

	mu       sync.Mutex
	fail     bool
	delay    time.Duration
	requests []Request
	fetches  []string // metadata paths, in order
	scripts  map[string][]Canned
	sessions map[string]*session
	codes    map[string]grant
	tokens   map[string]bool // issued access token -> revoked
	base     string          // the server's URL, set by Serve
	client   *http.Client
}

// Serve starts s on a loopback server closed at the end of the test, sets
// Issuer (and the resource URL when ResourcePath is set and Resource is
// empty), and turns on the wire checks, reported through tb.Errorf.
func Serve(tb TB, s *Server) *Server {
	tb.Helper()
	srv := httptest.NewServer(s.Handler())
	tb.Cleanup(srv.Close)
	s.base, s.client = srv.URL, srv.Client()
	s.Issuer = srv.URL + s.IssuerPath
	if s.ResourcePath != "" && s.Resource == "" {
		s.Resource = srv.URL + s.ResourcePath
	}
	if s.Errorf == nil {
		s.Errorf = tb.Errorf
	}
	return s
}

// URL is the server's base URL; "" unless started by Serve.
func (s *Server) URL() string { return s.base }

// Client is an HTTP client for the server; nil unless started by Serve.
func (s *Server) Client() *http.Client { return s.client }

// Handler serves the metadata and the three endpoints.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/oauth-authorization-server"+s.IssuerPath, s.metadata)
	if s.ResourcePath != "" {
		mux.HandleFunc("/.well-known/oauth-protected-resource"+s.ResourcePath, s.resourceMetadata)
	}
	mux.HandleFunc(s.IssuerPath+"/challenge", s.endpoint(Challenge, s.challenge))
	mux.HandleFunc(s.IssuerPath+"/token", s.endpoint(Token, s.token))
	mux.HandleFunc(s.IssuerPath+"/revoke", s.endpoint(Revoke, s.revoke))
	return mux
}

// SetFailing makes the challenge, token and revocation endpoints answer 500
// (true) or behave (false).
func (s *Server) SetFailing(fail bool) { s.mu.Lock(); s.fail = fail; s.mu.Unlock() }

// SetDelay makes the challenge endpoint answer only after d.
func (s *Server) SetDelay(d time.Duration) { s.mu.Lock(); s.delay = d; s.mu.Unlock() }

// Script queues canned answers for one endpoint (Challenge, Token, Revoke,
// Metadata, ResourceMetadata); each replaces the double's logic once, in
// order. They are played after the wire checks and client authentication.
func (s *Server) Script(endpoint string, answers ...Canned) {
	if !slices.Contains([]string{Challenge, Token, Revoke, Metadata, ResourceMetadata}, endpoint) {
		panic("asdouble: Script for unknown endpoint " + endpoint)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.scripts == nil {
		s.scripts = map[string][]Canned{}
	}
	s.scripts[endpoint] = append(s.scripts[endpoint], answers...)
}

// Requests returns a copy of everything received so far on the challenge,
// token and revocation endpoints.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Forms returns the request bodies received on one endpoint, in order.
func (s *Server) Forms(endpoint string) []url.Values {
	var out []url.Values
	for _, r := range s.Requests() {
		if r.Endpoint == endpoint {
			out = append(out, r.Form)
		}
	}
	return out
}

// MetadataRequests returns the paths of the metadata documents fetched, in
// order.
func (s *Server) MetadataRequests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.fetches)
}

// Revoked reports whether token, issued by this double, was revoked.
func (s *Server) Revoked(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens[token]
}

// deviation reports a request that breaks the AS profile.
func (s *Server) deviation(format string, args ...any) {
	if s.Errorf != nil {
		s.Errorf("asdouble: "+format, args...)
	}
}

// play answers with the next canned answer for endpoint, if one is queued.
func (s *Server) play(endpoint string, w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	q := s.scripts[endpoint]
	if len(q) == 0 {
		s.mu.Unlock()
		return false
	}
	c := q[0]
	s.scripts[endpoint] = q[1:]
	s.mu.Unlock()
	if c.Hang {
		<-r.Context().Done()
		return true
	}
	for k, v := range c.Header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(c.Status)
	_, _ = w.Write([]byte(c.Body))
	return true
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
	_ = json.NewEncoder(w).Encode(v)
}

// oauthError writes an OAuth error object with extra members.
func oauthError(w http.ResponseWriter, status int, code string, extra ...any) {
	body := map[string]any{"error": code}
	for i := 0; i+1 < len(extra); i += 2 {
		body[fmt.Sprint(extra[i])] = extra[i+1]
	}
	writeJSON(w, status, body)
}
